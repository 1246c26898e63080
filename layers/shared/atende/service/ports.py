"""What the reply pipeline needs from the world: small ports, one adapter each in production.

Unit tests give each step in-memory fakes of these (``tests/fakes_ports.py``); moto stays for
the store adapter and the end-to-end pipeline tests.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from atende.channels.outbound import Messenger
    from atende.domain.conversation import Conversation, Session
    from atende.domain.messages import RoutedMessage, StatusUpdate
    from atende.domain.tenants import Channel, Tenant
    from atende.llm import ChatModel
    from atende.media.sources import MediaSource
    from atende.service.media import MediaReading
    from atende.store.conversations import Claim, Completion, PartKind, Profile, Snapshot, StatusWrite


class Directory(Protocol):
    def tenant(self, tenant_id: str) -> Tenant | None: ...

    def channel_by_id(self, channel_id: str) -> Channel | None: ...


class ConversationPort(Protocol):
    """The contact's state: claims (idempotency table), profile, messages, sessions."""

    def snapshot(self, message: RoutedMessage) -> Snapshot: ...

    def claim(
        self,
        message: RoutedMessage,
        *,
        now: int,
        lease_seconds: int,
        ttl_days: int,
        sqs_message_id: str,
        attempt_id: str,
        previous: Claim,
        reply: tuple[Sequence[str], PartKind, int, PartKind, dict[str, Any] | None] | None = None,
        agent: Sequence[dict[str, Any]] | None = None,
    ) -> Claim: ...

    def note_attempt(self, message: RoutedMessage, *, attempt_id: str, now: int, ttl_days: int) -> None: ...

    def release_claim(self, message: RoutedMessage, claim: Claim) -> None: ...

    def checkpoint_reply(
        self,
        message: RoutedMessage,
        claim: Claim,
        parts: Sequence[str],
        sent_ids: Sequence[str],
        kind: PartKind = ...,
        lead: int = 0,
        lead_kind: PartKind = ...,
        usage: dict[str, Any] | None = None,
        *,
        agent: Sequence[dict[str, Any]] | None = None,
    ) -> Claim: ...

    def checkpoint_agent(self, message: RoutedMessage, claim: Claim, agent: Sequence[dict[str, Any]]) -> Claim: ...

    def checkpoint_media(self, message: RoutedMessage, claim: Claim, media: dict[str, Any]) -> Claim: ...

    def complete_inbound(
        self,
        message: RoutedMessage,
        claim: Claim,
        profile: Profile | None,
        completion: Completion,
        *,
        now: int,
        ttl_days: int,
        sqs_message_id: str = "",
    ) -> None: ...

    def record_status(self, status: StatusUpdate, *, ours: bool = False, now: int = 0, ttl_days: int = 0) -> StatusWrite: ...

    def confirm_send(self, tenant_id: str, status: StatusUpdate, inbound_id: str, part: int) -> bool: ...

    def set_conversation(self, tenant_id: str, contact_id: str, conversation: Conversation) -> None: ...

    def sessions(self, tenant_id: str, contact_id: str) -> list[Session]: ...


class MediaReaderPort(Protocol):
    def read(self, message: RoutedMessage, tenant: Tenant, source: MediaSource | None, chat: Callable[[], ChatModel]) -> MediaReading: ...


MessengerFactory = Callable[["Channel"], "Messenger"]
ModelFactory = Callable[["Tenant"], "ChatModel"]
MediaSourceFactory = Callable[["Channel", "Messenger"], "MediaSource | None"]
