"""The processor's use case: the reply pipeline, as named steps over typed values.

    dispatch (envelope kind) → route → hold (burst) → snapshot + claim → gates → understand (media)
    → compose → deliver → commit

- **route**: the channel's tenant (cached registry); after it a message's tenant is a ``str``.
- **hold**: a message younger than the tenant's burst pause, with nothing after it in this batch,
  waits (its record comes back after the pause with whatever the customer wrote meanwhile).
- **snapshot**: one BatchGetItem gives the claim and the profile (conversation state, session,
  flood window, memory, the burst's pending turns).
- **gates** decide before any model call: silent types and edits, the 24-hour window, a human in
  charge, the flood limit, a burst (merged into the next message's answer), business hours, and
  what the assistant cannot read. Later issues add gates (consent, privacy commands) by adding
  a function to ``GATES``.
- **understand**: media is read once; the reading is checkpointed on the claim.
- **compose**: the tenant's model, or the checkpointed reply of an earlier attempt.
- **deliver**: the claim is written *with the reply* before the first send (a text message's
  only claim write), so a retry never regenerates it; each send names itself (claim + part) so
  a status webhook can confirm a send whose HTTP answer was lost, and a retry reconciles before
  sending again.
- **commit**: one idempotent transaction (claim done, messages, profile, session).

Exactly once rests on the claim (store.conversations): a redelivery or a redrive of an answered
message is a no-op; an attempt that crashed or lost its own write's answer resumes (the claim
recognises its SQS message). See docs/data-model.md for the window each provider leaves.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from functools import cache
from typing import TYPE_CHECKING, Any

from atende.channels.outbound import Messenger, OutboundInvalid
from atende.domain.content import assistant_text, user_turn_text
from atende.domain.conversation import (
    MAX_PENDING_TURNS,
    Conversation,
    ConversationState,
    FloodWindow,
    ModelUsage,
    Session,
    Turn,
    advance_session,
    count_in_session,
    remember,
    split_text,
    within_service_window,
)
from atende.domain.messages import (
    SILENT_TYPES,
    EnvelopeKind,
    InboundMessage,
    MessageType,
    Provider,
    RoutedMessage,
    StatusUpdate,
    read_envelope,
)
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
    SendOutcomeUnknown,
)
from atende.llm import ChatModel
from atende.observability import count, logger, milliseconds
from atende.service.ports import ConversationPort, Directory, MediaReaderPort, MediaSourceFactory, MessengerFactory, ModelFactory
from atende.store.conversations import Claim, ClaimState, Completion, OutboundRecord, PartKind, Profile, StatusWrite, read_claim

if TYPE_CHECKING:
    from atende.service.agent import AgentResult
    from atende.service.media import MediaReading
    from atende.tools import Tool
    from atende.tools.registry import ToolDeps

# Media types read by the media pipeline (service.media) when the service has one.
MEDIA_TYPES = frozenset({MessageType.AUDIO, MessageType.IMAGE, MessageType.DOCUMENT, MessageType.VIDEO})
# Types that reach the model (a burst is made of these).
ANSWERABLE_TYPES = frozenset(
    {
        MessageType.TEXT,
        MessageType.INTERACTIVE,
        MessageType.BUTTON,
        MessageType.LOCATION,
        MessageType.CONTACTS,
        MessageType.ORDER,
        *MEDIA_TYPES,
    }
)
# A send whose answer was lost: wait this long for Meta's status webhook before sending again.
RECONCILE_SECONDS = 60
# A status that arrived before the commit it belongs to comes back this often, for as long as the
# message's reply can still be committed (its lease and visibility), then it is dropped.


class Outcome(StrEnum):
    REPLIED = "replied"
    APOLOGY = "apology"
    UNSUPPORTED = "unsupported"
    SILENT = "silent"
    OUTSIDE_WINDOW = "outside_window"
    REJECTED = "rejected"
    HUMAN = "human"  # a human is in charge: recorded, the bot stays silent
    FLOOD_LIMITED = "flood_limited"  # over the per-minute limit: notice once, then recorded only
    MERGED = "merged"  # part of a burst: answered together with the burst's last message
    OUT_OF_HOURS = "out_of_hours"  # closed: the out-of-hours message (once per session) or silence
    EDITED = "edited"  # a Meta edit: the stored message it edits is updated, no answer
    DUPLICATE = "duplicate"
    UNKNOWN_CHANNEL = "unknown_channel"
    ORPHANED = "orphaned"
    STATUS_RECORDED = "status_recorded"
    STATUS_IGNORED = "status_ignored"
    SEND_CONFIRMED = "send_confirmed"


class Deferred(AtendeError):
    """Not attempted yet: the record comes back after ``retry_after_seconds`` (never counted as an attempt)."""

    is_transient = True
    attempted = False

    def __init__(self, message: str, *, retry_after_seconds: int) -> None:
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds


class SendUnconfirmed(AtendeError):
    """A send's answer was lost: retry after Meta's status webhook had time to confirm it."""

    is_transient = True
    retry_after_seconds = RECONCILE_SECONDS


# How many deliveries of a message may end a full batch and wait for its followers (see _hold_for_burst).
BATCH_END_HOLDS = 2


@dataclass(frozen=True, slots=True)
class Attempt:
    """What SQS tells us about this delivery of the record (and about the batch it came in)."""

    receive_count: int
    max_receive_count: int
    sqs_message_id: str = ""
    # Timestamps of this conversation's later answerable messages in the same batch.
    later_in_batch: tuple[int, ...] = ()
    max_attempts: int = 5
    # The last record of a batch that was full: its conversation's next messages may be waiting in
    # the queue behind it (FIFO hands out a group's messages together, in order, as far as they fit).
    ends_full_batch: bool = False
    # Timestamps of this conversation's earlier answerable messages in the same batch.
    earlier_in_batch: tuple[int, ...] = ()

    @property
    def attempt_id(self) -> str:
        return f"{self.sqs_message_id or 'local'}:{self.receive_count}"

    @property
    def near_redrive(self) -> bool:
        """Failing this delivery unattempted could dead-letter the record: do the work now."""
        return self.receive_count >= self.max_receive_count - 1

    def is_last(self, attempts_before: int = 0) -> bool:
        """The delivery after which the record would be dead-lettered: SQS's count, or our real attempts."""
        return self.receive_count >= self.max_receive_count or attempts_before + 1 >= self.max_attempts


@dataclass(frozen=True, slots=True)
class ReplyPolicy:
    claim_lease_seconds: int
    dedup_ttl_days: int


@dataclass(frozen=True, slots=True)
class Routed:
    """A message whose channel was routed to its tenant: from here on the tenant is known."""

    message: RoutedMessage
    tenant: Tenant
    channel: Channel

    @property
    def tenant_id(self) -> str:
        return self.tenant.tenant_id


@dataclass(frozen=True, slots=True)
class Context:
    """What every step after the snapshot reads."""

    routed: Routed
    attempt: Attempt
    profile: Profile
    now: int
    session: Session  # the session this message belongs to (opened by it after a silence)
    closed_session: Session | None  # the previous session, closed by that silence
    flood: FloodWindow  # the flood window with this message counted
    readable: str | None  # what the assistant would read (None for media until understood)
    picked: str | None = None  # the option this message picked, when the last answer offered choices

    @property
    def message(self) -> RoutedMessage:
        return self.routed.message

    @property
    def tenant(self) -> Tenant:
        return self.routed.tenant

    @property
    def local_now(self) -> datetime:
        return datetime.fromtimestamp(self.now, UTC)


@dataclass(frozen=True, slots=True)
class Verdict:
    """A gate's decision: this outcome instead of an answer, maybe with one fixed text."""

    outcome: Outcome
    notice: str | None = None  # bot text key sent instead of an answer
    notice_params: dict[str, str] = field(default_factory=dict)
    kind: PartKind = PartKind.NOTICE
    session: Session | None = None  # the session as the gate leaves it (None = ctx.session)
    flood: FloodWindow | None = None
    conversation: Conversation | None = None
    pending: tuple[Turn, ...] | None = None
    edit_of: str | None = None


@dataclass(frozen=True, slots=True)
class Composed:
    parts: list[str]
    kind: PartKind
    lead: int = 0
    lead_kind: PartKind = PartKind.ECHO
    usage: dict[str, ModelUsage] = field(default_factory=dict)
    user_turn: Turn | None = None  # what the assistant read, as remembered
    # What the turn changes besides sending (checkpointed with the reply, applied by the commit):
    # "action" (a PendingAction item to wait for, or {} to drop the one waiting), "handoff" (the
    # reason a person was asked for), "tools" (names used), "calls" (memory's tool records).
    effects: dict[str, Any] = field(default_factory=dict)


# --- gates: (ctx) → Verdict | None, in order; the first verdict wins ---------------------------


def gate_silent(ctx: Context) -> Verdict | None:
    message = ctx.message
    if message.type is MessageType.EDIT:
        count("InboundEdited")
        return Verdict(Outcome.EDITED, edit_of=str(message.extra.get("edited_message_id") or "") or None)
    if message.type in SILENT_TYPES:
        count("InboundSilent")
        return Verdict(Outcome.SILENT)
    return None


def gate_service_window(ctx: Context) -> Verdict | None:
    if within_service_window(ctx.message.timestamp, ctx.now):
        return None
    # A redelivery days later (Meta retries for 7 days): Meta would refuse a free-form reply
    # (131047), and a day-old answer would confuse the customer anyway.
    count("ReplySkippedOutsideWindow")
    return Verdict(Outcome.OUTSIDE_WINDOW)


def gate_human_in_charge(ctx: Context) -> Verdict | None:
    conversation = ctx.profile.conversation
    if not conversation.human_in_charge(ctx.now):
        return None
    count("InboundWhileHuman")
    woken = None
    if conversation.snoozed_until is not None and conversation.snoozed_until > ctx.now:
        # A customer message wakes a snoozed conversation: back to the queue for a person.
        state = conversation.state if conversation.state is ConversationState.ASSIGNED else ConversationState.QUEUED
        woken = replace(conversation, state=state, snoozed_until=None, changed_at=ctx.now)
    return Verdict(Outcome.HUMAN, session=replace(ctx.session, human=True), conversation=woken)


def gate_flood(ctx: Context) -> Verdict | None:
    limit = ctx.tenant.flood_limit_per_minute
    if not ctx.flood.over(limit):
        return None
    count("InboundFloodLimited")
    if ctx.flood.notified:
        return Verdict(Outcome.FLOOD_LIMITED)
    return Verdict(Outcome.FLOOD_LIMITED, notice="flood_notice", kind=PartKind.FLOOD, flood=replace(ctx.flood, notified=True))


def gate_burst(ctx: Context) -> Verdict | None:
    """A message followed within the pause by another of the same customer is answered with it."""
    pause = ctx.tenant.burst_pause_seconds
    message = ctx.message
    if pause <= 0 or message.type in MEDIA_TYPES or not ctx.readable:
        return None
    # Only a message the customer wrote after this one counts: a redelivery of an earlier message
    # queued behind it is no follower (it is a duplicate and would answer nothing).
    later = [stamp for stamp in ctx.attempt.later_in_batch if stamp >= message.timestamp]
    if not later or later[0] - message.timestamp > pause:
        return None
    count("InboundMerged")
    pending = (*ctx.profile.pending, Turn("user", ctx.readable, message.timestamp))[-MAX_PENDING_TURNS:]
    return Verdict(Outcome.MERGED, pending=pending)


def gate_business_hours(ctx: Context) -> Verdict | None:
    tenant = ctx.tenant
    if tenant.out_of_hours != "notice" or tenant.hours.is_open(ctx.local_now):
        return None  # open, or the assistant keeps answering (it is told when people are back)
    count("InboundOutOfHours")
    if ctx.session.out_of_hours_notified:
        return Verdict(Outcome.OUT_OF_HOURS)
    opening = tenant.hours.next_opening_phrase(ctx.local_now) or "em breve"
    return Verdict(
        Outcome.OUT_OF_HOURS,
        notice="out_of_hours",
        notice_params={"opening": opening},
        kind=PartKind.OUT_OF_HOURS,
        session=replace(ctx.session, out_of_hours_notified=True),
    )


def gate_unreadable(ctx: Context) -> Verdict | None:
    if ctx.readable or ctx.message.type in MEDIA_TYPES:
        return None
    count("InboundUnsupported")
    return Verdict(Outcome.UNSUPPORTED, notice="unsupported_type")


GATES: tuple[Callable[[Context], Verdict | None], ...] = (
    gate_silent,
    gate_service_window,
    gate_human_in_charge,
    gate_flood,
    gate_burst,
    gate_business_hours,
    gate_unreadable,
)


# Our own compact envelopes put a message's timestamp and type side by side; a customer's text
# cannot fake the patterns (its quotes are escaped).
_STAMP_AND_TYPE = re.compile(r'"timestamp":(\d+),"type":"([a-z_]+)"')
_MESSAGE_ID = re.compile(r'"provider_message_id":"((?:[^"\\]|\\.)*)"')


def burst_neighbours(records: Sequence[tuple[str, str | None, str]]) -> dict[str, tuple[tuple[int, ...], tuple[int, ...]]]:
    """For each record: (earlier, later) timestamps of the answerable messages of its group in the batch."""
    followers = burst_followers(records)
    earlier: dict[str, tuple[int, ...]] = {}
    seen: dict[str, list[int]] = {}
    for record_id, group, body in records:
        earlier[record_id] = tuple(seen.get(group or "", ()))
        match = _STAMP_AND_TYPE.search(body) if '"kind":"message"' in body else None
        if match is not None and MessageType(match.group(2)) in ANSWERABLE_TYPES:
            seen.setdefault(group or "", []).append(int(match.group(1)))
    return {record_id: (earlier[record_id], followers[record_id]) for record_id, _, _ in records}


def burst_followers(records: Sequence[tuple[str, str | None, str]]) -> dict[str, tuple[int, ...]]:
    """For each record (id, group, body) of a batch: timestamps of later answerable messages in its group.

    Cheap on purpose (it runs before any record, without parsing the JSON): a record it cannot
    read counts as no follower, and the record handler deals with it. A redelivery of the same
    provider message is no follower of itself.
    """
    by_group: dict[str, list[tuple[str, str, int]]] = {}
    for record_id, group, body in records:
        match = _STAMP_AND_TYPE.search(body) if '"kind":"message"' in body else None
        answerable = match is not None and MessageType(match.group(2)) in ANSWERABLE_TYPES
        found = _MESSAGE_ID.search(body) if answerable else None
        message_id = found.group(1) if found else record_id
        by_group.setdefault(group or "", []).append((record_id, message_id, int(match.group(1)) if match and answerable else -1))
    followers: dict[str, tuple[int, ...]] = {}
    for entries in by_group.values():
        for index, (record_id, message_id, _) in enumerate(entries):
            followers[record_id] = tuple(stamp for _, other, stamp in entries[index + 1 :] if stamp >= 0 and other != message_id)
    return followers


class ReplyService:
    def __init__(
        self,
        *,
        directory: Directory,
        conversations: ConversationPort,
        messenger_for: MessengerFactory,
        model_for: ModelFactory,
        policy: ReplyPolicy,
        media: MediaReaderPort | None = None,
        media_source_for: MediaSourceFactory | None = None,
        clock: Callable[[], float] = time.time,
        prices: Any = None,
        tools: ToolDeps | None = None,
    ) -> None:
        self._directory = directory
        self._store = conversations
        self._messenger_for = messenger_for
        self._model_for = model_for
        self._policy = policy
        self._media = media
        self._media_source_for = media_source_for
        self._clock = clock
        self._prices = prices
        self._tools = tools
        # The dispatcher: one handler per envelope kind (later issues register theirs).
        self.handlers: dict[EnvelopeKind, Callable[[Any, Attempt], str]] = {
            EnvelopeKind.MESSAGE: self.on_message,
            EnvelopeKind.STATUS: self.on_status,
        }

    def handle(self, body: str, attempt: Attempt) -> str:
        """Process one queue body; returns the outcome. Raises to have SQS retry the record."""
        kind, payload = read_envelope(body)  # EnvelopeError propagates: a poison message ends in the DLQ
        return self.handlers[kind](payload, attempt)

    # --- route -----------------------------------------------------------------------------

    def _route(self, channel_id: str) -> tuple[Channel, str] | Outcome:
        # Routing happens here, not in the webhook: only the processor reads (and caches) the
        # channel registry.
        channel = self._directory.channel_by_id(channel_id)
        if channel is None or channel.tenant_id is None:
            count("InboundUnknownChannel")
            logger.info("no tenant owns this channel; dropping", extra={"channel_id": channel_id})
            return Outcome.UNKNOWN_CHANNEL
        return channel, channel.tenant_id

    # --- statuses --------------------------------------------------------------------------

    def on_status(self, item: StatusUpdate, attempt: Attempt) -> str:
        routed = self._route(item.channel_id)
        if isinstance(routed, Outcome):
            return routed.value
        status = item.routed_to(routed[1])
        named = status.names_send()
        written = self._store.record_status(status, ours=named is not None, now=int(self._clock()), ttl_days=self._policy.dedup_ttl_days)
        # A send whose commit has not landed (its HTTP answer may have been lost): the status waits
        # on the message's stub for the commit, and the claim learns the part went out, so a
        # retry reconciles instead of sending it again.
        if written is StatusWrite.AHEAD_OF_COMMIT and named is not None and self._store.confirm_send(routed[1], status, *named):
            count("SendConfirmedByStatus")
            return Outcome.SEND_CONFIRMED.value
        updated = written is not StatusWrite.NOT_RECORDED
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
        return (Outcome.STATUS_RECORDED if updated else Outcome.STATUS_IGNORED).value

    # --- messages --------------------------------------------------------------------------

    def on_message(self, item: InboundMessage, attempt: Attempt) -> str:
        routed = self._route(item.channel_id)
        if isinstance(routed, Outcome):
            return routed.value
        channel, tenant_id = routed
        message = item.routed_to(tenant_id)
        logger.append_keys(provider_message_id=message.provider_message_id, contact_id=message.contact.contact_id, tenant_id=tenant_id)
        tenant = self._directory.tenant(tenant_id)
        if tenant is None:
            count("InboundOrphaned")  # the channel points at a tenant that was removed
            logger.warning("channel's tenant no longer exists; dropping")
            return Outcome.ORPHANED.value
        return self._answer(Routed(message, tenant, channel), attempt).value

    def _answer(self, routed: Routed, attempt: Attempt) -> Outcome:
        now = int(self._clock())
        self._hold_for_burst(routed, attempt, now)
        message = routed.message
        snapshot = self._store.snapshot(message)
        claim = read_claim(snapshot.claim, now=now, sqs_message_id=attempt.sqs_message_id)
        if claim.state is ClaimState.DUPLICATE:
            count("InboundDuplicate")
            logger.info("already answered; skipping redelivery")
            return Outcome.DUPLICATE
        if claim.state is ClaimState.IN_FLIGHT:
            # Not an attempt of ours: come back when that lease ends, not before.
            raise InboundInFlight(
                "another invocation is answering this message", retry_after_seconds=max(1, claim.lease_until - now + 1), attempted=False
            )
        profile = snapshot.profile
        session, closed = advance_session(profile.session, message.timestamp, routed.tenant.session_idle_minutes * 60)
        ctx = Context(
            routed=routed,
            attempt=attempt,
            profile=profile,
            now=now,
            session=session,
            closed_session=closed,
            flood=profile.flood.counted(message.timestamp),
            readable=None if message.type in MEDIA_TYPES else assistant_text(message),
        )
        holder = _ClaimHolder(claim, attempts_before=claim.attempts)
        try:
            return self._run(ctx, holder)
        except _AlreadyDone:
            count("InboundDuplicate")  # a concurrent delivery answered it while we were composing
            return Outcome.DUPLICATE
        except Exception as exc:
            if isinstance(exc, ProviderAuthError):
                # Retrying cannot fix a bad token, but dead-lettering keeps the message for a
                # redrive once an operator replaces it (the alarm on this metric tells them).
                count("ProviderAuthFailed")
                logger.error("provider rejected our credentials", extra={"code": exc.code, "channel_id": routed.channel.channel_id})
            if holder.claim.written:
                # Hand the lease back so SQS's retry is not turned away as "in flight".
                self._store.release_claim(message, holder.claim)
            elif holder.model_called:
                self._store.note_attempt(message, attempt_id=attempt.attempt_id, now=now, ttl_days=self._policy.dedup_ttl_days)
            raise

    def _hold_for_burst(self, routed: Routed, attempt: Attempt, now: int) -> None:
        """The hold step: the last message of its conversation in this batch waits when the rest of
        a burst may still come: it is younger than the pause (the customer may still be typing), or
        it ends a full batch (a backlog: its followers are queued behind it, and FIFO hands them
        out with it, first, on the next receive).

        Before any round trip. Each message waits at most once for its age (after the pause it is
        old enough) and at most twice at a batch's end (after one wait it leads the next batch with
        its followers), and never on the delivery that could dead-letter it.
        """
        pause = routed.tenant.burst_pause_seconds
        message = routed.message
        if pause <= 0 or attempt.later_in_batch or attempt.near_redrive or message.type not in ANSWERABLE_TYPES:
            return
        age = max(0, now - message.timestamp)
        if age < pause:
            count("InboundHeldForBurst")
            raise Deferred("waiting for the rest of a burst", retry_after_seconds=max(1, min(pause, pause - age)))
        # A burst in progress at the end of a full batch: its previous message is within the pause.
        in_burst = bool(attempt.earlier_in_batch) and message.timestamp - attempt.earlier_in_batch[-1] <= pause
        if attempt.ends_full_batch and in_burst and attempt.receive_count <= BATCH_END_HOLDS:
            count("InboundHeldForBurst")
            raise Deferred("a full batch may have cut a burst", retry_after_seconds=1)

    def _run(self, ctx: Context, holder: _ClaimHolder) -> Outcome:
        if holder.claim.has_reply:
            # An earlier attempt decided this reply (and may have sent part of it): finish and
            # record it as decided; of the gates only a human taking over still stops it.
            return self._resume(ctx, holder)
        verdict = next((v for gate in GATES if (v := gate(ctx)) is not None), None)
        if verdict is not None and verdict.notice is None:
            return self._commit(ctx, holder, verdict.outcome, verdict=verdict)
        messenger = self._messenger_for(ctx.routed.channel)
        # Blue ticks + typing indicator while the model thinks (Meta hides it on our reply).
        self._mark_read(messenger, ctx.message)
        if verdict is not None:
            assert verdict.notice is not None
            composed = Composed([bot_text(verdict.notice, ctx.tenant.language, ctx.tenant.texts, **verdict.notice_params)], verdict.kind)
            return self._deliver_and_commit(ctx, holder, messenger, composed, verdict.outcome, verdict=verdict)
        # A write waiting for this customer's yes: this message decides it (or drops it).
        drop_action = False
        if ctx.profile.action:
            settled = self._settle_action(ctx, holder, messenger)
            if settled is not None:
                return settled
            drop_action = True
        # The last answer offered choices: this message may be the pick (a tap, or the option's number).
        drop_choices = bool(ctx.profile.choices)
        if drop_choices:
            ctx = replace(ctx, picked=picked_option(ctx.message, ctx.profile.choices))
        # The tenant's chat model, built on first use: a media notice never pays for an SDK client.
        model = cache(lambda: self._model_for(ctx.tenant))
        reading: MediaReading | None = None
        if ctx.message.type in MEDIA_TYPES and self._media is not None:
            reading = self._understand(ctx, holder, messenger, model)
        composed = self._compose(ctx, holder, model, reading)
        if drop_action and "action" not in composed.effects:
            composed = replace(composed, effects={**composed.effects, "action": {}})
        if drop_choices and "choices" not in composed.effects:
            composed = replace(composed, effects={**composed.effects, "choices": []})
        return self._deliver_and_commit(ctx, holder, messenger, composed, _OUTCOME_OF[composed.kind], reading=reading)

    # --- confirm ---------------------------------------------------------------------------

    def _settle_action(self, ctx: Context, holder: _ClaimHolder, messenger: Messenger) -> Outcome | None:
        """The customer's answer to a pending write: yes runs it once, no cancels it; None = this
        message is about something else (the action is dropped and the message answered as usual)."""
        from atende.domain.actions import Decision, PendingAction, decide
        from atende.tools import ToolContext

        action = PendingAction.from_item(ctx.profile.action)
        message = ctx.message
        if action is None or action.expired(ctx.now) or message.type not in (MessageType.TEXT, MessageType.INTERACTIVE, MessageType.BUTTON):
            return None
        choice = message.extra.get("reply_id") or message.extra.get("payload")
        decision = decide(ctx.readable, choice_id=str(choice) if choice else None, pending=action)
        if decision is Decision.OTHER:
            return None
        tenant = ctx.tenant
        user_turn = Turn("user", ctx.readable or "", message.timestamp)
        if decision is Decision.NO:
            count("ToolConfirmationDeclined")
            text = bot_text("action_cancelled", tenant.language, tenant.texts)
            effects: dict[str, Any] = {"action": {}}
        else:
            tool = self._tools_for(ctx).get(action.tool)
            if tool is None:
                text = bot_text("action_unavailable", tenant.language, tenant.texts)
                effects = {"action": {}}
            else:
                # Idempotent on this message's id: a retry (or a concurrent delivery) gets the same order back.
                tool_ctx = ToolContext(
                    tenant_id=ctx.routed.tenant_id,
                    contact_id=message.contact.contact_id,
                    inbound_id=message.provider_message_id,
                    now=ctx.now,
                    session_id=ctx.session.session_id,
                )
                from atende.service.agent import AgentLoop

                result = AgentLoop.run_confirmed(tool, tool_ctx, action.arguments)
                count("ToolConfirmedAndRun" if result.ok else "ToolConfirmedAndFailed")
                if result.ok:
                    text = bot_text("action_done", tenant.language, tenant.texts, summary=result.summary or action.summary)
                else:
                    reason = result.message or "o sistema recusou o pedido."
                    text = bot_text("action_failed", tenant.language, tenant.texts, reason=reason)
                effects = {"action": {}, "tools": [action.tool]}
        composed = Composed(split_text(text), PartKind.REPLY, user_turn=user_turn, effects=effects)
        return self._deliver_and_commit(ctx, holder, messenger, composed, Outcome.REPLIED)

    def _tools_for(self, ctx: Context) -> dict[str, Tool]:
        if self._tools is None or not ctx.tenant.tools.enabled:
            return {}
        from atende.tools.registry import tools_for

        return tools_for(ctx.tenant, self._tools, last_bill=ctx.profile.last_bill)

    def _resume(self, ctx: Context, holder: _ClaimHolder) -> Outcome:
        """Deliver what an earlier attempt checkpointed (only the parts not sent yet) and commit it."""
        from atende.service.media import MediaReading

        claim = holder.claim
        reading = MediaReading.from_item(claim.media) if claim.media else None
        user_turn = None
        if claim.reply_kind is PartKind.REPLY:
            media_turn = reading.turn if reading is not None else None
            user_turn = Turn("user", user_turn_text(ctx.message, media_turn, [t.text for t in ctx.profile.pending]), ctx.message.timestamp)
        usage = {k: ModelUsage.from_item(v) for k, v in (claim.usage or {}).items()}
        composed = Composed(
            list(claim.reply_parts), claim.reply_kind, claim.reply_lead, claim.lead_kind, usage, user_turn, _effects_of(claim)
        )
        # The flags a notice's gate set (it went out once per session / minute) follow the notice.
        verdict = None
        if composed.kind is PartKind.OUT_OF_HOURS:
            verdict = Verdict(Outcome.OUT_OF_HOURS, notice="out_of_hours", session=replace(ctx.session, out_of_hours_notified=True))
        elif composed.kind is PartKind.FLOOD:
            verdict = Verdict(Outcome.FLOOD_LIMITED, notice="flood_notice", flood=replace(ctx.flood, notified=True))
        human = gate_human_in_charge(ctx)
        if human is not None:
            # A person took over meanwhile: the bot stops here; what already went out is recorded.
            return self._commit(ctx, holder, Outcome.HUMAN, verdict=human, composed=composed, sent=claim.sent_ids, reading=reading)
        messenger = self._messenger_for(ctx.routed.channel)
        return self._deliver_and_commit(ctx, holder, messenger, composed, _OUTCOME_OF[composed.kind], verdict=verdict, reading=reading)

    # --- understand --------------------------------------------------------------------------

    def _understand(self, ctx: Context, holder: _ClaimHolder, messenger: Messenger, model: Callable[[], ChatModel]) -> MediaReading | None:
        """The message's media, read once: a retry reuses the reading checkpointed on the claim."""
        from atende.service.media import ECHO_MAX_CHARS, MediaReading

        if holder.claim.media:
            return MediaReading.from_item(holder.claim.media)
        # Media is expensive (download, S3, transcription): claim before doing any of it.
        self._claim(ctx, holder)
        assert self._media is not None
        speech = ctx.message.extra.get("speech_to_text")
        if ctx.message.type is MessageType.AUDIO and isinstance(speech, str) and speech.strip():
            # Evolution transcribed it already: no download, no transcription call.
            count("MediaTranscriptFromProvider")
            heard = speech.strip()
            voice = bool(ctx.message.media and ctx.message.media.voice)
            label = "[mensagem de voz transcrita]" if voice else "[áudio transcrito]"
            echo = heard[:ECHO_MAX_CHARS] if ctx.tenant.media.transcript_echo else None
            reading = MediaReading(turn=f"{label} {heard}", result="transcribed", echo=echo)
        else:
            source = self._media_source_for(ctx.routed.channel, messenger) if self._media_source_for else None
            holder.model_called = True
            try:
                reading = self._media.read(ctx.message, ctx.tenant, source, model)
            except LlmError as exc:
                self._llm_failed(exc, ctx, holder)
                return None  # the last attempt: apologise once
        holder.claim = self._store.checkpoint_media(ctx.message, holder.claim, reading.to_item())
        return reading

    # --- compose -----------------------------------------------------------------------------

    def _compose(self, ctx: Context, holder: _ClaimHolder, model: Callable[[], ChatModel], reading: MediaReading | None) -> Composed:
        tenant = ctx.tenant
        if ctx.message.type in MEDIA_TYPES and self._media is not None and reading is None:
            return Composed([bot_text("apology", tenant.language, tenant.texts)], PartKind.APOLOGY)
        readable = reading.turn if reading is not None else ctx.readable
        notice = (reading.notice, reading.notice_params) if reading is not None and reading.notice else None
        if notice is not None and not readable:
            return Composed([bot_text(notice[0], tenant.language, tenant.texts, **notice[1])], PartKind.NOTICE)
        # A burst's earlier messages are read together with this one: one turn, one answer.
        text = user_turn_text(ctx.message, reading.turn if reading is not None else None, [t.text for t in ctx.profile.pending])
        if ctx.picked:
            text += f"\n[opção escolhida: {ctx.picked}]"
        user_turn = Turn("user", text, ctx.message.timestamp)
        holder.model_called = True
        tools = self._tools_for(ctx)
        effects: dict[str, Any] = {}
        if tools:
            agent = self._ask_agent(ctx, holder, model, user_turn, tools)
            if agent is None:
                return Composed([bot_text("apology", tenant.language, tenant.texts)], PartKind.APOLOGY, user_turn=user_turn)
            parts, usage, effects = agent
        else:
            answer = self._ask_model(ctx, holder, model, user_turn)
            if answer is None:
                return Composed([bot_text("apology", tenant.language, tenant.texts)], PartKind.APOLOGY, user_turn=user_turn)
            parts, usage = answer
        if reading is not None and (reading.echo or notice):
            # What leads the answer: the transcript echo, or why the file itself was not read.
            if reading.echo:
                first = bot_text("transcript_echo", tenant.language, tenant.texts, transcript=reading.echo)
                return Composed([first, *parts], PartKind.REPLY, 1, PartKind.ECHO, usage, user_turn, effects)
            assert notice is not None
            first = bot_text(notice[0], tenant.language, tenant.texts, **notice[1])
            return Composed([first, *parts], PartKind.REPLY, 1, PartKind.NOTICE, usage, user_turn, effects)
        return Composed(parts, PartKind.REPLY, usage=usage, user_turn=user_turn, effects=effects)

    def _ask_model(
        self, ctx: Context, holder: _ClaimHolder, model: Callable[[], ChatModel], user_turn: Turn
    ) -> tuple[list[str], dict[str, ModelUsage]] | None:
        system = self._system_prompt(ctx)
        started = time.perf_counter()
        chat = model()
        try:
            completion = chat.complete(system, [*ctx.profile.memory, user_turn])
        except LlmError as exc:
            self._llm_failed(exc, ctx, holder)
            return None
        milliseconds("LlmLatencyMs", (time.perf_counter() - started) * 1000)
        count("LlmInputTokens", completion.input_tokens)
        count("LlmOutputTokens", completion.output_tokens)
        usage = self._usage(completion.provider, completion.model, completion.input_tokens, completion.output_tokens, ctx.now)
        logger.info(
            "llm answered",
            extra={
                "llm_provider": completion.provider,
                "model": completion.model,
                "in_tokens": completion.input_tokens,
                "out_tokens": completion.output_tokens,
            },
        )
        return split_text(completion.text), usage

    def _ask_agent(
        self, ctx: Context, holder: _ClaimHolder, model: Callable[[], ChatModel], user_turn: Turn, tools: dict[str, Tool]
    ) -> tuple[list[str], dict[str, ModelUsage], dict[str, Any]] | None:
        """The compose step with tools: the agent loop, its steps checkpointed on the claim."""
        from atende.service.agent import AgentLoop, foreign_identifiers, items_from_claim, items_to_claim, memory_transcript
        from atende.tools import ToolContext

        tenant = ctx.tenant
        message = ctx.message
        system = self._system_prompt(ctx)
        tool_ctx = ToolContext(
            tenant_id=ctx.routed.tenant_id,
            contact_id=message.contact.contact_id,
            inbound_id=message.provider_message_id,
            now=ctx.now,
            session_id=ctx.session.session_id,
        )
        resumed = items_from_claim([i for i in holder.claim.agent if i.get("k") in ("step", "tool")])
        if resumed:
            count("AgentResumed")

        def checkpoint(items: Sequence[Any]) -> None:
            if not holder.claim.written:
                self._claim(ctx, holder, agent=items_to_claim(items))
            else:
                holder.claim = self._store.checkpoint_agent(message, holder.claim, items_to_claim(items))

        started = time.perf_counter()
        chat = model()
        loop = AgentLoop(max_steps=tenant.tools.max_steps, clock=self._clock)
        try:
            result = loop.run(
                chat,
                system,
                [*memory_transcript(ctx.profile.memory), user_turn],
                tools,
                tool_ctx,
                resumed=resumed,
                checkpoint=checkpoint,
            )
        except LlmError as exc:
            self._llm_failed(exc, ctx, holder)
            return None
        milliseconds("LlmLatencyMs", (time.perf_counter() - started) * 1000)
        usage: dict[str, ModelUsage] = {}
        for step in result.steps:
            for key, used in self._usage(
                step.provider, step.model, step.input_tokens, step.output_tokens, ctx.now, step.cached_tokens
            ).items():
                usage[key] = usage[key].plus(used) if key in usage else used
        count("LlmInputTokens", sum(s.input_tokens for s in result.steps))
        count("LlmOutputTokens", sum(s.output_tokens for s in result.steps))
        logger.info("agent answered", extra={"steps": len(result.steps), "tools": list(result.tools_used), "refused": len(result.refused)})
        effects = self._agent_effects(ctx, result)
        if result.pending is not None:
            from atende.domain.actions import CANCEL_BUTTON_PREFIX, CONFIRM_BUTTON_PREFIX

            key = {"create_order": "confirm_order", "open_ticket": "confirm_ticket"}.get(result.pending.tool, "confirm_action")
            text = bot_text(key, tenant.language, tenant.texts, summary=result.pending.summary)
            # Where the channel has reply buttons the question carries two; elsewhere the words say it.
            effects["buttons"] = [
                [CONFIRM_BUTTON_PREFIX + result.pending.asked_in, bot_text("confirm_yes_button", tenant.language, tenant.texts)[:20]],
                [CANCEL_BUTTON_PREFIX + result.pending.asked_in, bot_text("confirm_no_button", tenant.language, tenant.texts)[:20]],
            ]
        elif result.handoff_reason is not None:
            count("HandoffRequested")
            text = bot_text("handoff_requested", tenant.language, tenant.texts)
        elif result.choices is not None:
            count("ChoicesOffered")
            question, titles = result.choices
            effects["choices"] = list(titles)
            ids = [f"{CHOICE_PREFIX}{n}" for n in range(1, len(titles) + 1)]
            if ctx.routed.channel.provider is not Provider.META:
                # No interactive messages on this channel: a numbered text, answered with the number.
                text = question + "\n" + "\n".join(f"{n}. {t}" for n, t in enumerate(titles, start=1))
            elif len(titles) <= 3 and len({_shown(t, 20) for t in titles}) == len(titles):
                text, effects["buttons"] = question, [[i, _shown(t, 20)] for i, t in zip(ids, titles, strict=True)]
            else:
                text, effects["list"] = question, [[i, _shown(t, 24), t] for i, t in zip(ids, titles, strict=True)]
        else:
            text = result.text
            # What may be quoted: the customer's own words, what was said before (checked when it was
            # sent), and the tenant's own settings. Not tool outputs: their free text (a product
            # description, an endpoint's message) is data anyone may have planted an identifier in.
            known = [user_turn.text, *(t.text for t in ctx.profile.memory)]
            known += [tenant.name, tenant.system_prompt, *tenant.texts.values(), ctx.routed.channel.display_phone_number or ""]
            if foreign_identifiers(text, known):
                # Never send what could be another person's data, however the model got it.
                count("ReplyWithheld")
                logger.warning("reply withheld: it named an identifier from outside this conversation")
                text = bot_text("reply_withheld", tenant.language, tenant.texts)
            elif not text:
                text = bot_text("apology", tenant.language, tenant.texts)
        return split_text(text), usage, effects

    @staticmethod
    def _agent_effects(ctx: Context, result: AgentResult) -> dict[str, Any]:
        from atende.service.agent import memory_calls

        effects: dict[str, Any] = {}
        if result.tools_used:
            effects["tools"] = list(dict.fromkeys(result.tools_used))
        calls = memory_calls(result.items)
        if calls:
            effects["calls"] = [list(c) for c in calls]
        if result.pending is not None:
            effects["action"] = result.pending.to_item()
        elif ctx.profile.action:
            effects["action"] = {}  # a new request replaces the one that was waiting
        if result.handoff_reason is not None:
            effects["handoff"] = result.handoff_reason[:200]
        return effects

    def _system_prompt(self, ctx: Context) -> str:
        tenant = ctx.tenant
        system = tenant.render_system_prompt(ctx.local_now)
        if tenant.hours.configured and not tenant.hours.is_open(ctx.local_now):
            opening = tenant.hours.next_opening_phrase(ctx.local_now) or "em breve"
            system += "\n\n" + bot_text("out_of_hours_hint", tenant.language, tenant.texts, opening=opening)
        return system

    def _usage(
        self, provider: str, model: str, input_tokens: int, output_tokens: int, now: int, cached_tokens: int = 0
    ) -> dict[str, ModelUsage]:
        from atende.domain.pricing import PriceTable, Usage

        prices = self._prices or PriceTable.shipped()
        cost = prices.cost(
            provider,
            model,
            Usage(input_tokens=input_tokens, cached_input_tokens=cached_tokens, output_tokens=output_tokens),
            datetime.fromtimestamp(now, UTC).date(),
        )
        if not cost.known:
            count("LlmPriceUnknown")
        return {f"{provider}/{model}": ModelUsage(input_tokens, cached_tokens, output_tokens, cost.brl, 1)}

    def _llm_failed(self, exc: LlmError, ctx: Context, holder: _ClaimHolder) -> None:
        """Raise to retry, unless this is the last attempt (then the caller apologises once)."""
        count("LlmFailed")
        if isinstance(exc, LlmAuthError):
            count("LlmAuthFailed")
        logger.warning("llm failed", extra={"error": type(exc).__name__, "attempt": ctx.attempt.receive_count})
        if not ctx.attempt.is_last(holder.attempts_before):
            raise exc

    # --- deliver + commit ------------------------------------------------------------------

    def _claim(
        self, ctx: Context, holder: _ClaimHolder, composed: Composed | None = None, *, agent: list[dict[str, Any]] | None = None
    ) -> None:
        """Write the claim (with the reply, when given): the conditional write that makes us the one answering."""
        reply = None
        if composed is not None and not holder.claim.has_reply:  # a resumed reply is already checkpointed
            usage = {k: u.to_item() for k, u in composed.usage.items()} or None
            reply = (composed.parts, composed.kind, composed.lead, composed.lead_kind, usage)
            agent = _with_effects(holder.claim.agent, composed.effects)
        claim = self._store.claim(
            ctx.message,
            now=ctx.now,
            lease_seconds=self._policy.claim_lease_seconds,
            ttl_days=self._policy.dedup_ttl_days,
            sqs_message_id=ctx.attempt.sqs_message_id,
            attempt_id=ctx.attempt.attempt_id,
            previous=holder.claim,
            reply=reply,
            agent=agent or None,
        )
        if claim.state is ClaimState.DUPLICATE:
            raise _AlreadyDone()
        if claim.state is ClaimState.IN_FLIGHT:
            raise InboundInFlight(
                "another invocation claimed this message first", retry_after_seconds=max(1, claim.lease_until - ctx.now + 1)
            )
        holder.claim = claim

    def _deliver_and_commit(
        self,
        ctx: Context,
        holder: _ClaimHolder,
        messenger: Messenger,
        composed: Composed,
        outcome: Outcome,
        *,
        verdict: Verdict | None = None,
        reading: MediaReading | None = None,
    ) -> Outcome:
        if not holder.claim.written:
            self._claim(ctx, holder, composed)
        elif not holder.claim.has_reply:
            usage = {k: u.to_item() for k, u in composed.usage.items()} or None
            holder.claim = self._store.checkpoint_reply(
                ctx.message,
                holder.claim,
                composed.parts,
                (),
                composed.kind,
                composed.lead,
                composed.lead_kind,
                usage,
                agent=_with_effects(holder.claim.agent, composed.effects) or None,
            )
        sent: list[str] = list(holder.claim.sent_ids)
        try:
            failure = self._deliver(ctx, holder, messenger, composed, sent)
            return self._commit(ctx, holder, failure or outcome, verdict=verdict, composed=composed, sent=sent, reading=reading)
        except Exception:
            if len(sent) > len(holder.claim.sent_ids):
                # Parts went out but the commit (or a later part) failed: record what was sent
                # before the claim is released, so the retry commits instead of answering twice.
                with contextlib.suppress(Exception):
                    holder.claim = self._store.checkpoint_reply(
                        ctx.message,
                        holder.claim,
                        composed.parts,
                        sent,
                        composed.kind,
                        composed.lead,
                        composed.lead_kind,
                        holder.claim.usage,
                    )
            raise

    def _deliver(self, ctx: Context, holder: _ClaimHolder, messenger: Messenger, composed: Composed, sent: list[str]) -> Outcome | None:
        """Send the parts not sent yet, appending their ids to ``sent``; a failure outcome, or None."""
        message = ctx.message
        parts = composed.parts
        for index in range(len(sent), len(parts)):
            confirmed = holder.claim.confirmed.get(index)
            if confirmed:
                # An earlier attempt's send whose answer was lost, confirmed by its status webhook.
                count("SendReconciled")
                sent.append(confirmed)
                continue
            callback = f"{message.provider_message_id}|{index}"
            last = index == len(parts) - 1
            buttons: list[list[str]] = composed.effects.get("buttons") or [] if last else []
            rows: list[list[str]] = composed.effects.get("list") or [] if last else []  # [id, shown, whole]
            send_buttons = getattr(messenger, "send_buttons", None) if buttons else None
            send_list = getattr(messenger, "send_list", None) if rows else None
            try:
                if send_list is not None:
                    label = bot_text("choices_button", ctx.tenant.language, ctx.tenant.texts)[:20]
                    # A row shows the option cut to 24 characters; its description, the whole option when it was cut.
                    sections = [(None, [(str(i), str(t), str(full)[:72] if full != t else None) for i, t, full in rows])]
                    result = send_list(message.contact.reply_address, parts[index], label, sections, callback_data=callback)
                elif send_buttons is not None:
                    # The channel has reply buttons (Meta): the customer's tap comes back with its id.
                    result = send_buttons(
                        message.contact.reply_address, parts[index], [(str(i), str(t)) for i, t in buttons], callback_data=callback
                    )
                else:
                    body = parts[index]
                    if (rows or buttons) and composed.effects.get("choices"):
                        # Choices meant for buttons or a list, on a messenger without them: numbered.
                        body += "\n" + "\n".join(f"{n}. {t}" for n, t in enumerate(composed.effects["choices"], start=1))
                    result = messenger.send_text(message.contact.reply_address, body, callback_data=callback)
            except OutsideServiceWindow:
                count("ReplyFailedOutsideWindow")
                return Outcome.OUTSIDE_WINDOW
            except ProviderAuthError:
                raise
            except OutboundInvalid:
                # Our own output broke the provider's limits: a bug to fix, not a reason to retry.
                count("ReplyInvalid")
                logger.error("reply broke the provider's limits", extra={"kind": composed.kind.value})
                return Outcome.REJECTED
            except ProviderRejected as exc:
                count("ReplyRejected")
                logger.warning("provider rejected the reply", extra={"code": exc.code})
                return Outcome.REJECTED
            except SendOutcomeUnknown as exc:
                # The provider may have accepted it: the retry waits for a status that confirms it.
                count("SendOutcomeUnknown")
                raise SendUnconfirmed("a send's answer was lost") from exc
            except AtendeError as exc:
                if exc.is_transient:
                    count("ProviderRateLimited" if isinstance(exc, ProviderRateLimited) else "ProviderUnavailable")
                raise
            sent.append(str(result.message_id))
            self._count_part(composed, index)
            if index < len(parts) - 1:
                # Before the next part: a crash from here on re-sends at most that part.
                holder.claim = self._checkpoint(ctx, holder, composed, sent)
        return None

    def _checkpoint(self, ctx: Context, holder: _ClaimHolder, composed: Composed, sent: Sequence[str]) -> Claim:
        claim = holder.claim
        return self._store.checkpoint_reply(
            ctx.message, claim, composed.parts, sent, composed.kind, composed.lead, composed.lead_kind, claim.usage
        )

    @staticmethod
    def _count_part(composed: Composed, index: int) -> None:
        if index < composed.lead:
            count("TranscriptEchoSent" if composed.lead_kind is PartKind.ECHO else "MediaNoticeSent")
        elif composed.kind is PartKind.REPLY:
            count("ReplySent" if index == composed.lead else "ReplyExtraPart")
        elif composed.kind is PartKind.APOLOGY:
            count("ReplyApologySent")
        else:
            count("NoticeSent")

    def _commit(
        self,
        ctx: Context,
        holder: _ClaimHolder,
        outcome: Outcome,
        *,
        verdict: Verdict | None = None,
        composed: Composed | None = None,
        sent: Sequence[str] = (),
        reading: MediaReading | None = None,
    ) -> Outcome:
        profile = ctx.profile
        session = verdict.session if verdict is not None and verdict.session is not None else ctx.session
        usage = composed.usage if composed is not None else {}
        session = count_in_session(session, at=ctx.message.timestamp, messages_out=len(sent), usage=usage)
        records: list[OutboundRecord] = []
        if composed is not None:
            for i, pid in enumerate(sent):
                records.append(OutboundRecord(pid, composed.parts[i], composed.lead_kind if i < composed.lead else composed.kind))
        memory = None
        pending = verdict.pending if verdict is not None else None
        conversation = verdict.conversation if verdict is not None else None
        effects = composed.effects if composed is not None else {}
        if composed is not None and composed.kind is PartKind.REPLY and len(sent) > composed.lead and composed.user_turn is not None:
            calls = tuple((str(n), str(a), str(o)) for n, a, o in effects.get("calls") or ())
            reply_turn = Turn("assistant", "\n".join(composed.parts[composed.lead : len(sent)]), int(self._clock()), calls)
            memory = remember(profile.memory, [composed.user_turn, reply_turn], ctx.tenant.memory_turns)
            pending = () if profile.pending else None  # the burst was answered
            if profile.conversation.state is ConversationState.RESOLVED:
                conversation = Conversation(state=ConversationState.BOT, changed_at=ctx.now)
        elif composed is not None and composed.kind is PartKind.APOLOGY and profile.pending:
            pending = ()
        if effects.get("handoff") is not None and sent:
            # The assistant asked for a person: the conversation waits in the queue, the bot silent.
            conversation = Conversation(state=ConversationState.QUEUED, changed_at=ctx.now, reason=str(effects["handoff"]) or None)
        # A pending action is kept only once its confirmation question went out; dropping one ({}) always applies.
        action = effects.get("action")
        if action and not sent:
            action = None
        choices = effects.get("choices")
        if choices and not sent:
            choices = None
        if conversation is None and profile.version == 0:
            conversation = Conversation(changed_at=ctx.now)  # a new contact starts with the bot
        understood = reading.turn if reading is not None else ctx.readable
        completion = Completion(
            outcome.value,
            records,
            memory,
            reading.facts() if reading is not None else None,
            reading.bill if reading is not None else None,
            understood=understood,
            usage=usage,
            pending=pending,
            session=session,
            closed_session=ctx.closed_session,
            conversation=conversation,
            flood=verdict.flood if verdict is not None and verdict.flood is not None else ctx.flood,
            edit_of=verdict.edit_of if verdict is not None else None,
            action=action,
            choices=choices,
            tools=tuple(effects.get("tools") or ()),
        )
        self._store.complete_inbound(
            ctx.message,
            holder.claim,
            profile,
            completion,
            now=int(self._clock()),
            ttl_days=ctx.tenant.retention_days,
            sqs_message_id=ctx.attempt.sqs_message_id,
        )
        return outcome

    @staticmethod
    def _mark_read(messenger: Messenger, message: RoutedMessage) -> None:
        try:
            messenger.acknowledge(message)
        except ProviderAuthError:
            raise
        except AtendeError as exc:
            # Cosmetic (blue ticks + typing): never worth failing or delaying the answer.
            count("MarkReadFailed")
            logger.info("mark-as-read failed", extra={"error": type(exc).__name__})


CHOICE_PREFIX = "choice:"


def _shown(title: str, limit: int) -> str:
    return title if len(title) <= limit else title[: limit - 1].rstrip() + "…"


def picked_option(message: RoutedMessage, choices: Sequence[str]) -> str | None:
    """The option a message picks from ``choices``: a tapped button or list row (its id), or the
    option's number written alone ("2", "2.", "opção 2"), or its exact title."""
    reply_id = str(message.extra.get("reply_id") or "")
    if reply_id.startswith(CHOICE_PREFIX) and reply_id[len(CHOICE_PREFIX) :].isdigit():
        n = int(reply_id[len(CHOICE_PREFIX) :])
        return choices[n - 1] if 1 <= n <= len(choices) else None
    said = " ".join((message.text or "").split()).strip(" .!)").casefold()
    found = re.fullmatch(r"(?:op[cç][aã]o\s*|n[ºo°]?\s*)?(\d{1,2})", said)
    if found and 1 <= int(found.group(1)) <= len(choices):
        return choices[int(found.group(1)) - 1]
    return next((c for c in choices if c.casefold() == said), None)


def _with_effects(agent: Sequence[dict[str, Any]], effects: dict[str, Any]) -> list[dict[str, Any]]:
    """The claim's agent checkpoint with the turn's effects as its last entry (replacing any earlier one)."""
    kept = [dict(i) for i in agent if i.get("k") != "effects"]
    return [*kept, {"k": "effects", **effects}] if effects else kept


def _effects_of(claim: Claim) -> dict[str, Any]:
    found = next((i for i in claim.agent if i.get("k") == "effects"), None)
    return {k: v for k, v in found.items() if k != "k"} if found else {}


_OUTCOME_OF = {
    PartKind.REPLY: Outcome.REPLIED,
    PartKind.APOLOGY: Outcome.APOLOGY,
    PartKind.NOTICE: Outcome.UNSUPPORTED,
    PartKind.OUT_OF_HOURS: Outcome.OUT_OF_HOURS,
    PartKind.FLOOD: Outcome.FLOOD_LIMITED,
    PartKind.ECHO: Outcome.REPLIED,
}


class _AlreadyDone(Exception):
    """The claim write found the message answered (a concurrent duplicate finished first)."""


@dataclass(slots=True)
class _ClaimHolder:
    """The claim as the steps move it along (written, checkpointed), for the failure path to release."""

    claim: Claim
    model_called: bool = False
    attempts_before: int = 0  # real attempts of earlier deliveries (from the snapshot)
