"""The processor's use case: one queued item in, at most one answer out.

Exactly-once per inbound message rests on the claim (store.conversations): a redelivery of an
answered message is a no-op; a crashed attempt's lease expires and the retry resumes. The one
window left is a crash between the provider accepting a part and the commit — WhatsApp has no
idempotency key to close it — and checkpoints keep it to a single part.

Media messages are read first (``service.media``: download, S3, transcription or vision) and the
reading is checkpointed on the claim, so a retry reuses it instead of downloading, transcribing
or echoing again; the transcript echo, when the tenant wants one, is the reply's leading part.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Protocol

from atende.channels.outbound import Messenger, OutboundInvalid
from atende.domain.content import assistant_text
from atende.domain.conversation import Turn, remember, split_text, within_service_window
from atende.domain.messages import SILENT_TYPES, InboundMessage, MessageType, StatusUpdate, parse_envelope
from atende.domain.tenants import Channel, Tenant
from atende.domain.texts import bot_text
from atende.errors import (
    AtendeError,
    InboundInFlight,
    LlmAuthError,
    LlmError,
    OutsideServiceWindow,
    ProviderAuthError,
    ProviderRateLimited,
    ProviderRejected,
)
from atende.llm import ChatModel
from atende.observability import count, logger, milliseconds
from atende.store.conversations import Claim, ClaimState, Completion, ConversationStore, OutboundRecord, Profile

if TYPE_CHECKING:
    from atende.media.sources import MediaSource
    from atende.service.media import MediaReader, MediaReading

# Media types read by the media pipeline (service.media) when the service has one.
_MEDIA_TYPES = frozenset({MessageType.AUDIO, MessageType.IMAGE, MessageType.DOCUMENT, MessageType.VIDEO})


class Directory(Protocol):
    def tenant(self, tenant_id: str) -> Tenant | None: ...

    def channel_by_id(self, channel_id: str) -> Channel | None: ...


@dataclass(frozen=True, slots=True)
class Attempt:
    """What SQS tells us about this delivery of the record."""

    receive_count: int
    max_receive_count: int

    @property
    def is_last(self) -> bool:
        return self.receive_count >= self.max_receive_count


@dataclass(frozen=True, slots=True)
class ReplyPolicy:
    claim_lease_seconds: int
    dedup_ttl_days: int


class ReplyService:
    def __init__(
        self,
        *,
        directory: Directory,
        conversations: ConversationStore,
        messenger_for: Callable[[Channel], Messenger],
        model_for: Callable[[Tenant], ChatModel],
        policy: ReplyPolicy,
        media: MediaReader | None = None,
        media_source_for: Callable[[Channel, Messenger], MediaSource | None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._directory = directory
        self._conversations = conversations
        self._messenger_for = messenger_for
        self._model_for = model_for
        self._policy = policy
        self._media = media
        self._media_source_for = media_source_for
        self._clock = clock

    def handle(self, body: str, attempt: Attempt) -> str:
        """Process one queue body; returns the outcome. Raises to have SQS retry the record."""
        item = parse_envelope(body)  # EnvelopeError propagates: a poison message ends in the DLQ
        # Routing happens here, not in the webhook: only the processor reads (and caches) the
        # channel registry.
        channel = self._directory.channel_by_id(item.channel_id)
        if channel is None or channel.tenant_id is None:
            count("InboundUnknownChannel")
            logger.info("no tenant owns this channel; dropping", extra={"channel_id": item.channel_id})
            return "unknown_channel"
        if isinstance(item, StatusUpdate):
            return self._record_status(item.routed_to(channel.tenant_id))
        return self._answer(item.routed_to(channel.tenant_id), channel, attempt)

    # --- statuses ------------------------------------------------------------------------

    def _record_status(self, status: StatusUpdate) -> str:
        updated = self._conversations.record_status(status)
        count("StatusRecorded" if updated else "StatusIgnored")
        if status.status.value == "failed":
            count("ReplyFailedOutsideWindow" if status.error_code == 131047 else "ReplyDeliveryFailed")
            logger.warning(
                "outbound message failed",
                extra={
                    "provider_message_id": status.provider_message_id,
                    "contact_id": status.contact.contact_id,
                    "code": status.error_code,
                },
            )
        return "status_recorded" if updated else "status_ignored"

    # --- messages ------------------------------------------------------------------------

    def _answer(self, message: InboundMessage, channel: Channel, attempt: Attempt) -> str:
        logger.append_keys(
            provider_message_id=message.provider_message_id, contact_id=message.contact.contact_id, tenant_id=message.tenant_id
        )
        tenant = self._directory.tenant(str(message.tenant_id))
        if tenant is None:
            count("InboundOrphaned")  # the channel points at a tenant that was removed
            logger.warning("channel's tenant no longer exists; dropping")
            return "orphaned"

        now = int(self._clock())
        # The claim only guards against redelivery (Meta retries for 7 days); the messages
        # themselves follow the tenant's retention.
        claim = self._conversations.claim_inbound(
            message, now=now, lease_seconds=self._policy.claim_lease_seconds, ttl_days=self._policy.dedup_ttl_days
        )
        ttl_days = tenant.retention_days
        if claim.state is ClaimState.DUPLICATE:
            count("InboundDuplicate")
            logger.info("already answered; skipping redelivery")
            return "duplicate"
        if claim.state is ClaimState.IN_FLIGHT:
            raise InboundInFlight("another invocation is answering this message")

        try:
            return self._answer_claimed(message, tenant, channel, claim, attempt, now, ttl_days)
        except Exception as exc:
            if isinstance(exc, ProviderAuthError):
                # Retrying cannot fix a bad token, but dead-lettering keeps the message for a
                # redrive once an operator replaces it (the alarm on this metric tells them).
                count("ProviderAuthFailed")
                logger.error("provider rejected our credentials", extra={"code": exc.code, "channel_id": channel.channel_id})
            # Hand the lease back so SQS's retry is not turned away as "in flight".
            self._conversations.release_claim(message, claim)
            raise

    def _answer_claimed(
        self, message: InboundMessage, tenant: Tenant, channel: Channel, claim: Claim, attempt: Attempt, now: int, ttl_days: int
    ) -> str:
        def complete(profile: Profile | None, completion: Completion) -> str:
            self._conversations.complete_inbound(message, claim, profile, completion, now=int(self._clock()), ttl_days=ttl_days)
            return completion.outcome

        if message.type in SILENT_TYPES:
            count("InboundSilent")
            return complete(None, Completion("silent"))
        if not within_service_window(message.timestamp, now):
            # A redelivery days later (Meta retries for 7 days): Meta would refuse a free-form
            # reply (131047), and a day-old answer would confuse the customer anyway.
            count("ReplySkippedOutsideWindow")
            return complete(None, Completion("outside_window"))

        profile = self._conversations.load_profile(message.tenant_id, message.contact.contact_id)
        messenger = self._messenger_for(channel)
        if not claim.sent_ids:
            # Blue ticks + typing indicator while the model thinks (Meta hides it on our reply).
            self._mark_read(messenger, message)
        # The tenant's chat model, built on first use: a media notice never pays for an SDK client.
        model = cache(lambda: self._model_for(tenant))
        parts, kind, lead = list(claim.reply_parts), claim.reply_kind, claim.reply_lead

        reading: MediaReading | None = None
        if message.type in _MEDIA_TYPES and self._media is not None:
            reading, claim = self._read_media(message, tenant, channel, messenger, model, claim, attempt)
            if reading is None:  # the model failed on the last attempt: apologise once
                parts, kind = [bot_text("apology", tenant.language, tenant.texts)], "apology"
        readable = reading.turn if reading is not None else assistant_text(message)
        user_turn = Turn("user", readable or f"[{message.type.value}]", message.timestamp)
        if not parts:
            notice = (reading.notice, reading.notice_params) if reading is not None and reading.notice else None
            answer_only = notice if notice is not None and not readable else None
            parts, kind = self._compose(message, tenant, profile, user_turn if readable else None, attempt, model, answer_only)
            if kind == "reply" and reading is not None and (reading.echo or notice):
                # What leads the answer: the transcript echo, or why the file itself was not read.
                if reading.echo:
                    first = bot_text("transcript_echo", tenant.language, tenant.texts, transcript=reading.echo)
                else:
                    assert notice is not None
                    first = bot_text(notice[0], tenant.language, tenant.texts, **notice[1])
                parts, lead = [first, *parts], 1
        if len(parts) > 1 and not claim.reply_parts:
            claim = self._conversations.checkpoint_reply(message, claim, parts, (), kind, lead)

        sent: list[str] = list(claim.sent_ids)
        lead_kind = "echo" if reading is not None and reading.echo else "notice"
        try:
            outcome = self._deliver(messenger, message, parts, kind, lead, sent, claim, lead_kind)
            records = [OutboundRecord(pid, parts[i], lead_kind if i < lead else kind) for i, pid in enumerate(sent)]
            memory = None
            if kind == "reply" and len(sent) > lead:
                reply_turn = Turn("assistant", "\n".join(parts[lead : len(sent)]), int(self._clock()))
                memory = remember(profile.memory, [user_turn, reply_turn], tenant.memory_turns)
            facts = reading.facts() if reading is not None else None
            bill = reading.bill if reading is not None else None
            return complete(profile, Completion(outcome, records, memory, facts, bill))
        except Exception:
            if len(sent) > len(claim.sent_ids):
                # Parts went out but the commit (or a later part) failed: record what was sent
                # before the claim is released, so the retry commits instead of answering twice.
                with contextlib.suppress(Exception):
                    self._conversations.checkpoint_reply(message, claim, parts, sent, kind, lead)
            raise

    def _read_media(
        self,
        message: InboundMessage,
        tenant: Tenant,
        channel: Channel,
        messenger: Messenger,
        model: Callable[[], ChatModel],
        claim: Claim,
        attempt: Attempt,
    ) -> tuple[MediaReading | None, Claim]:
        """The message's media, read once: a retry reuses the reading checkpointed on the claim."""
        from atende.service.media import MediaReading

        if claim.media:
            return MediaReading.from_item(claim.media), claim
        assert self._media is not None
        source = self._media_source_for(channel, messenger) if self._media_source_for else None
        try:
            reading = self._media.read(message, tenant, source, model)
        except LlmError as exc:
            count("LlmFailed")
            if isinstance(exc, LlmAuthError):
                count("LlmAuthFailed")
            logger.warning("media model failed", extra={"error": type(exc).__name__, "attempt": attempt.receive_count})
            if not attempt.is_last:
                raise
            return None, claim
        return reading, self._conversations.checkpoint_media(message, claim, reading.to_item())

    def _deliver(
        self,
        messenger: Messenger,
        message: InboundMessage,
        parts: list[str],
        kind: str,
        lead: int,
        sent: list[str],
        claim: Claim,
        lead_kind: str = "echo",
    ) -> str:
        """Send the parts not sent yet, appending their ids to ``sent``; returns the outcome.

        The first ``lead`` parts (the transcript echo, or why a file was not read) precede the answer.
        """
        outcome = {"reply": "replied", "apology": "apology", "notice": "unsupported"}[kind]
        for index in range(len(sent), len(parts)):
            try:
                result = messenger.send_text(message.contact.reply_address, parts[index])
            except OutsideServiceWindow:
                count("ReplyFailedOutsideWindow")
                return "outside_window"
            except ProviderAuthError:
                raise
            except OutboundInvalid:
                # Our own output broke the provider's limits: a bug to fix, not a reason to retry.
                count("ReplyInvalid")
                logger.error("reply broke the provider's limits", extra={"kind": kind})
                return "rejected"
            except ProviderRejected as exc:
                count("ReplyRejected")
                logger.warning("provider rejected the reply", extra={"code": exc.code})
                return "rejected"
            except AtendeError as exc:
                if exc.is_transient:
                    count("ProviderRateLimited" if isinstance(exc, ProviderRateLimited) else "ProviderUnavailable")
                raise
            sent.append(str(result.message_id))
            if index < lead:
                count("TranscriptEchoSent" if lead_kind == "echo" else "MediaNoticeSent")
            else:
                count("ReplySent" if index == lead else "ReplyExtraPart")
            if kind == "apology":
                count("ReplyApologySent")
            if index < len(parts) - 1:
                # Before the next part: a crash from here on re-sends at most that part.
                self._conversations.checkpoint_reply(message, claim, parts, sent, kind, lead)
        return outcome

    def _compose(
        self,
        message: InboundMessage,
        tenant: Tenant,
        profile: Profile,
        user_turn: Turn | None,
        attempt: Attempt,
        chat: Callable[[], ChatModel],
        notice: tuple[str, dict[str, str]] | None = None,
    ) -> tuple[list[str], str]:
        if notice is not None:
            # Media that could not be had or read: its own polite notice, never an LLM call.
            key, params = notice
            return [bot_text(key, tenant.language, tenant.texts, **params)], "notice"
        if user_turn is None:
            # Nothing the assistant can read: one polite notice (the claim makes it one per
            # message, whatever the retries), never an LLM call.
            count("InboundUnsupportedType")
            return [bot_text("unsupported_type", tenant.language, tenant.texts)], "notice"
        model = chat()
        started = time.perf_counter()
        try:
            completion = model.complete(tenant.render_system_prompt(), [*profile.memory, user_turn])
        except LlmError as exc:
            count("LlmFailed")
            if isinstance(exc, LlmAuthError):
                count("LlmAuthFailed")
            logger.warning(
                "llm failed", extra={"error": type(exc).__name__, "attempt": attempt.receive_count, "llm_provider": model.provider}
            )
            if not attempt.is_last:
                raise
            # The record would dead-letter next: answer once, politely, instead of staying silent.
            return [bot_text("apology", tenant.language, tenant.texts)], "apology"
        milliseconds("LlmLatencyMs", (time.perf_counter() - started) * 1000)
        count("LlmInputTokens", completion.input_tokens)
        count("LlmOutputTokens", completion.output_tokens)
        logger.info(
            "llm answered",
            extra={
                "llm_provider": completion.provider,
                "model": completion.model,
                "in_tokens": completion.input_tokens,
                "out_tokens": completion.output_tokens,
            },
        )
        return split_text(completion.text), "reply"

    @staticmethod
    def _mark_read(messenger: Messenger, message: InboundMessage) -> None:
        try:
            messenger.acknowledge(message)
        except ProviderAuthError:
            raise
        except AtendeError as exc:
            # Cosmetic (blue ticks + typing): never worth failing or delaying the answer.
            count("MarkReadFailed")
            logger.info("mark-as-read failed", extra={"error": type(exc).__name__})
