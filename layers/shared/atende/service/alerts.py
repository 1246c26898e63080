"""Operator alerts: the one hook through which the system tells a human something is wrong.

Today an alert is a metric (alarmed in template.yaml, notifying the alarm topic) plus an ERROR
log line with ids only. Later issues (handoff, weekly reports) can pass another ``OperatorAlerts``
— e.g. one that also messages the business owner — without touching the callers.
"""

from __future__ import annotations

from typing import Protocol

from atende.observability import count, logger


class OperatorAlerts(Protocol):
    def channel_disconnected(self, channel_id: str, *, state: str, status_reason: int | None) -> None: ...


class MetricAlerts:
    """The default hook: metric ``ChannelDisconnected`` (alarmed) and a structured ERROR log."""

    def channel_disconnected(self, channel_id: str, *, state: str, status_reason: int | None) -> None:
        count("ChannelDisconnected")
        # 401 = logged out on the phone: the number must be paired again (QR code); other
        # reasons usually recover by themselves when Evolution reconnects.
        logger.error(
            "whatsapp connection closed",
            extra={"channel_id": channel_id, "state": state, "status_reason": status_reason, "logged_out": status_reason == 401},
        )
