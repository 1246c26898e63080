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


# Baileys DisconnectReason codes after which the number must be paired again (QR code):
# 401 logged out (on the phone), 403 forbidden (banned / access revoked). Others (408 timed out,
# 428 connection closed, 440 replaced, 500 bad session, 515 restart required) usually recover
# by themselves when Evolution reconnects.
NEEDS_PAIRING = frozenset({401, 403})


class MetricAlerts:
    """The default hook: metrics and a structured ERROR log (ids and codes only).

    ``ChannelDisconnected`` counts every close (dashboards); ``ChannelLoggedOut`` only the ones
    a human must fix, and that is the one template.yaml alarms on, so routine reconnects page
    no one.
    """

    def channel_disconnected(self, channel_id: str, *, state: str, status_reason: int | None) -> None:
        count("ChannelDisconnected")
        logged_out = status_reason in NEEDS_PAIRING
        if logged_out:
            count("ChannelLoggedOut")
        logger.error(
            "whatsapp connection closed",
            extra={"channel_id": channel_id, "state": state, "status_reason": status_reason, "logged_out": logged_out},
        )
