"""Every step of the reply pipeline (service.replies) against in-memory fakes of its ports.

The messages are the named provider payloads of tests/fixtures, normalised by the real parsers
and queued as the webhook queues them (``InboundMessage.to_json``). The store is
``tests.fakes_ports.InMemoryConversations``, which keeps the DynamoDB adapter's conditions; the
clock stands still unless a test moves it. Tests marked ``xfail(strict=True)`` pin a bug found in
replies.py / store/conversations.py: each states the expected behaviour and flips once fixed.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import replace
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from atende.channels.evolution import parse_evolution_webhook
from atende.channels.meta import parse_meta_webhook
from atende.domain.conversation import (
    Conversation,
    ConversationState,
    ModelUsage,
    Session,
    SessionOutcome,
    Turn,
    split_text,
)
from atende.domain.hours import BusinessHours
from atende.domain.messages import EnvelopeError, EnvelopeKind, InboundMessage, Provider, StatusUpdate
from atende.domain.pricing import PriceTable, Usage
from atende.domain.tenants import DEFAULT_SYSTEM_PROMPT, Channel, MediaSettings, Tenant
from atende.domain.texts import bot_text
from atende.errors import (
    ConcurrentUpdate,
    InboundInFlight,
    LlmAuthError,
    LlmUnavailable,
    OutsideServiceWindow,
    ProviderAuthError,
    ProviderRejected,
    ProviderUnavailable,
    SendOutcomeUnknown,
    StoreError,
)
from atende.media.store import StoredMedia
from atende.service.media import MediaReading
from atende.service.replies import Attempt, Deferred, SendUnconfirmed, burst_followers, burst_neighbours
from atende.store.conversations import Claim, ClaimState
from tests.conftest import fixture_json
from tests.fakes_ports import (
    DEFAULT_ANSWER,
    FakeDirectory,
    FakeMediaReader,
    FakeMediaSources,
    FakeMessenger,
    FixedClock,
    InMemoryConversations,
    MediaRead,
    ScriptedChatModel,
    wire_reply_service,
)

TENANT_ID = "padaria-do-joao"
TENANT = Tenant(tenant_id=TENANT_ID, name="Padaria do João")
META_CHANNEL = Channel(TENANT_ID, Provider.META, "100000000000001", display_phone_number="551140028922")
EVOLUTION_CHANNEL = Channel(TENANT_ID, Provider.EVOLUTION, "padaria-evolution", base_url="https://evo.padariadojoao.com.br")
CONTACT_ID = "c:5511987654321"  # the parsers' contact id below: Mariana Souza
SYSTEM_PROMPT = DEFAULT_SYSTEM_PROMPT.replace("{business_name}", "Padaria do João")
USAGE_KEY = "openai/gpt-4.1-mini"

T0 = 1763722800  # meta/text.json: Friday 2025-11-21, 08:00 in São Paulo
NOW = T0 + 10  # the processor sees it ten seconds later (past the 3-second burst pause)
FRIDAY_EVENING = T0 + 12 * 3600  # 20:00 in São Paulo: the bakery is closed until Saturday 08:00
# SQS message ids (the queue's own ids: a redelivery of one queue message keeps its id).
FIRST_SQS = "5f3c9a2e-1b7d-4c8e-9f60-2a4b6c8d0e1f"
OTHER_SQS = "0b1e7d44-92aa-4f0c-8e35-7c6d5b4a3f21"
STATUS_SQS = "c7a1e9f0-3d2b-4a5c-b6e8-1f0d9c8b7a65"
# 1,200 prompt tokens + 80 answer tokens of gpt-4.1-mini: US$ 0.40 / 1.60 per 1M (llm_prices.json)
# = US$ 0.000608, at R$ 5.40 (in force from 2025-08-01) = R$ 0.0032832 → 6 places.
CALL_COST_BRL = Decimal("0.003283")
CALL_USAGE = ModelUsage(input_tokens=1200, cached_input_tokens=0, output_tokens=80, cost_brl=CALL_COST_BRL, calls=1)
OPENING_HOURS = {
    "timezone": "America/Sao_Paulo",
    "weekly": {day: ["08:00-18:00"] for day in ("mon", "tue", "wed", "thu", "fri")} | {"sat": ["08:00-12:00"]},
}


def contact_id(sender_id: str) -> str:
    """Deterministic stand-in for the keyed pseudonym (as in the parser tests)."""
    return f"c:{sender_id}"


def meta(name: str, **changes: Any) -> InboundMessage:
    """The one message of tests/fixtures/meta/<name>.json, as the webhook queues it."""
    delivery = parse_meta_webhook(fixture_json(f"meta/{name}.json"), lambda pnid: Channel.unrouted(Provider.META, pnid), contact_id)
    [message] = delivery.messages
    return replace(message, **changes)


def evolution(name: str) -> InboundMessage:
    [message] = parse_evolution_webhook(fixture_json(f"evolution/{name}.json"), contact_id, now=T0).messages
    return message


def text(body: str, *, at: int, n: int) -> InboundMessage:
    """Another text of Mariana's, at ``at``, with its own Meta message id."""
    return meta("text", text=body, timestamp=at, provider_message_id=f"wamid.HBgNNTUxMTk4NzY1NDMyMRUCABIYFDNFQjBUWFQ{n:04d}AA==")


def status(name: str, provider_message_id: str, *, callback_data: str | None = None) -> StatusUpdate:
    """A Meta status webhook (tests/fixtures/meta/<name>.json) for one of our sends."""
    doc = fixture_json(f"meta/{name}.json")
    raw = doc["entry"][0]["changes"][0]["value"]["statuses"][0]
    raw["id"] = provider_message_id
    if callback_data is not None:
        raw["biz_opaque_callback_data"] = callback_data
    [update] = parse_meta_webhook(doc, lambda pnid: Channel.unrouted(Provider.META, pnid), contact_id).statuses
    return update


def attempt(
    receive_count: int = 1,
    *,
    sqs: str = FIRST_SQS,
    later: tuple[int, ...] = (),
    max_receive_count: int = 10,
    ends_full_batch: bool = False,
    earlier: tuple[int, ...] = (),
) -> Attempt:
    return Attempt(
        receive_count,
        max_receive_count,
        sqs_message_id=sqs,
        later_in_batch=later,
        max_attempts=5,
        ends_full_batch=ends_full_batch,
        earlier_in_batch=earlier,
    )


class World:
    """The reply service wired to fakes of every port."""

    def __init__(self, tenant: Tenant = TENANT, *, media: FakeMediaReader | None = None, now: int = NOW) -> None:
        self.tenant = tenant
        self.store = InMemoryConversations()
        self.messenger = FakeMessenger()
        self.chat = ScriptedChatModel()
        self.directory = FakeDirectory(tenant, META_CHANNEL, EVOLUTION_CHANNEL)
        self.clock = FixedClock(now)
        self.media = media
        self.sources = FakeMediaSources()
        self.service = wire_reply_service(
            directory=self.directory,
            store=self.store,
            messenger=self.messenger,
            chat=self.chat,
            clock=self.clock,
            media=media,
            media_sources=self.sources,
        )

    def handle(self, message: InboundMessage | StatusUpdate, delivery: Attempt | None = None) -> str:
        return self.service.handle(message.to_json(), delivery or attempt())

    def profile(self) -> Any:
        return self.store.profile(TENANT_ID, CONTACT_ID)

    def inbound(self, message: InboundMessage) -> dict[str, Any]:
        item = self.store.inbound_item(TENANT_ID, CONTACT_ID, message.provider_message_id)
        assert item is not None, "no inbound item"
        return item

    def claim(self, message: InboundMessage) -> dict[str, Any] | None:
        return self.store.claim_item(TENANT_ID, message.provider.value, message.provider_message_id)

    def outbound(self) -> list[dict[str, Any]]:
        return self.store.outbound_items(TENANT_ID, CONTACT_ID)

    def sessions(self) -> list[Session]:
        return self.store.sessions(TENANT_ID, CONTACT_ID)


@pytest.fixture
def world() -> World:
    return World()


def answered_once(world: World, message: InboundMessage) -> tuple[Turn, Turn]:
    """The memory one answered exchange leaves: the customer's turn and the assistant's."""
    return (Turn("user", str(message.text), message.timestamp), Turn("assistant", DEFAULT_ANSWER, int(world.clock())))


# --- dispatch and route ----------------------------------------------------------------------------


def test_the_dispatcher_has_one_handler_per_envelope_kind(world: World) -> None:
    # Given the service as wired
    # Then messages go to on_message and statuses to on_status
    assert world.service.handlers == {EnvelopeKind.MESSAGE: world.service.on_message, EnvelopeKind.STATUS: world.service.on_status}


def test_handle_dispatches_through_the_handlers_table(world: World) -> None:
    # Given a handler registered for statuses (as a later issue registers its own kinds)
    seen: list[tuple[Any, Attempt]] = []
    world.service.handlers[EnvelopeKind.STATUS] = lambda item, delivery: seen.append((item, delivery)) or "custom"
    update = status("status_sent", "wamid.HBgNNTUxMTQwMDI4OTIyFQIAERgSOUT001AA==")
    # When a status body is handled
    outcome = world.handle(update, attempt(sqs=STATUS_SQS))
    # Then that handler got the parsed status and the attempt, and its outcome is returned
    assert (outcome, seen) == ("custom", [(update, attempt(sqs=STATUS_SQS))])


def test_a_body_that_is_no_envelope_propagates_as_poison(world: World) -> None:
    # Given a queue body of another format
    # When it is handled, Then EnvelopeError reaches the handler (which dead-letters it)
    with pytest.raises(EnvelopeError):
        world.service.handle('{"v": 2, "kind": "message"}', attempt())


def test_a_message_for_an_unknown_channel_is_dropped_before_any_store_call(world: World) -> None:
    # Given a message for a phone number no tenant owns
    message = meta("text", channel_id="meta:999999999999999")
    # When it is handled
    outcome = world.handle(message)
    # Then it is dropped without a read, a send or a model call
    assert (outcome, world.store.calls, world.messenger.sends, world.chat.calls) == ("unknown_channel", Counter(), [], [])


def test_a_status_for_an_unknown_channel_is_dropped(world: World) -> None:
    # Given a status for a number no tenant owns; Then it is dropped before any store call
    update = replace(status("status_delivered", "wamid.OUTBOUND"), channel_id="meta:999999999999999")
    assert (world.handle(update, attempt(sqs=STATUS_SQS)), world.store.calls) == ("unknown_channel", Counter())


def test_a_channel_whose_tenant_was_removed_is_orphaned(world: World) -> None:
    # Given a channel still pointing at a tenant that no longer exists
    world.directory.add(Channel("padaria-fechada", Provider.META, "100000000000002"))
    message = meta("text", channel_id="meta:100000000000002")
    # When its message is handled
    outcome = world.handle(message)
    # Then it is dropped without touching the store
    assert (outcome, world.store.calls, world.messenger.sends) == ("orphaned", Counter(), [])


# --- the plain answer --------------------------------------------------------------------------------


def test_a_text_is_answered_once_in_three_store_round_trips(world: World) -> None:
    # Given Mariana's question, ten seconds old
    message = meta("text")
    # When the processor handles its queue body
    outcome = world.handle(message)
    # Then one reply goes to her number naming its send; one read, the claim (with the reply), the commit
    assert outcome == "replied"
    assert [(s.to, s.body, s.callback_data) for s in world.messenger.sends] == [
        ("5511987654321", DEFAULT_ANSWER, f"{message.provider_message_id}|0")
    ]
    assert world.store.calls == Counter(snapshot=1, claim=1, complete_inbound=1)


def test_the_model_reads_the_tenant_prompt_and_the_customer_text(world: World) -> None:
    # Given a tenant without hours; When a text is answered; Then the model gets the rendered prompt and the one user turn
    message = meta("text")
    world.handle(message)
    assert [(c.system, c.turns) for c in world.chat.calls] == [(SYSTEM_PROMPT, (Turn("user", "Olá! Vocês abrem no domingo? 🥐", T0),))]


def test_the_answer_is_remembered_and_the_claim_completed_without_content(world: World) -> None:
    # Given a message answered
    message = meta("text")
    world.handle(message)
    # Then memory holds the exchange, the message is marked read and the claim is done with no reply text
    claim = world.claim(message)
    assert claim is not None
    assert world.profile().memory == answered_once(world, message)
    assert world.messenger.acknowledged == [message.provider_message_id]
    assert (claim["status"], sorted(set(claim) & {"reply_parts", "sent_ids", "llm_usage", "lease_until", "confirmed"})) == ("done", [])


def test_the_inbound_and_outbound_items_record_the_exchange(world: World) -> None:
    # Given a text answered; Then the inbound item names the reply and the outbound item awaits its statuses
    message = meta("text")
    world.handle(message)
    [sent] = world.messenger.sends
    inbound = world.inbound(message)
    [outbound] = world.outbound()
    assert (inbound["outcome"], inbound["replied_with"], inbound["text"], "understood" in inbound) == (
        "replied",
        [sent.message_id],
        "Olá! Vocês abrem no domingo? 🥐",
        False,  # a plain text is read as written: no second copy
    )
    assert {k: outbound[k] for k in ("SK", "kind", "text", "in_reply_to", "status", "status_rank")} == {
        "SK": f"MSG#OUT#{sent.message_id}",
        "kind": "reply",
        "text": DEFAULT_ANSWER,
        "in_reply_to": message.provider_message_id,
        "status": "accepted",
        "status_rank": 0,
    }


def test_a_new_contact_starts_with_the_bot(world: World) -> None:
    # Given a contact never seen; When answered; Then the profile's conversation is the bot's, since now
    world.handle(meta("text"))
    assert world.profile().conversation == Conversation(ConversationState.BOT, changed_at=NOW)


# --- gate: silent types and edits ----------------------------------------------------------------


@pytest.mark.parametrize("fixture", ["reaction", "sticker", "revoke", "system_number_changed"])
def test_silent_types_are_recorded_without_a_read_receipt_or_an_answer(fixture: str) -> None:
    # Given a reaction, a sticker, a deleted message or a number-change notice
    message = meta(fixture)
    world = World(now=message.timestamp + 10)
    # When it is handled
    outcome = world.handle(message)
    # Then it is recorded as silent: no model, no read receipt, no send, the claim done by the commit
    assert (outcome, world.inbound(message)["outcome"]) == ("silent", "silent")
    assert (world.chat.calls, world.messenger.acknowledged, world.messenger.sends) == ([], [], [])
    assert (world.claim(message) or {}).get("status") == "done"


def test_a_young_reaction_is_not_held_for_a_burst() -> None:
    # Given a reaction one second old (reactions are not answerable: nothing to wait for)
    message = meta("reaction")
    world = World(now=message.timestamp + 1)
    # Then it is recorded at once
    assert world.handle(message) == "silent"


def test_an_edit_updates_the_message_it_edits_and_gets_no_answer() -> None:
    # Given Mariana's question, answered, then her edit of it 45 seconds later
    original, edit = meta("text"), meta("edit_text")
    world = World()
    world.handle(original)
    world.clock.set(edit.timestamp + 10)
    # When the edit is handled
    outcome = world.handle(edit, attempt(sqs=OTHER_SQS))
    # Then the stored question carries the new text, and nobody is answered twice
    stored = world.inbound(original)
    assert (outcome, world.inbound(edit)["outcome"]) == ("edited", "edited")
    assert (stored["edited_text"], stored["edited_at"], stored["edits"]) == ("Olá! Vocês abrem no domingo de manhã? 🥐", edit.timestamp, 1)
    assert (len(world.messenger.sends), len(world.chat.calls)) == (1, 1)


def test_an_edit_of_a_message_no_longer_stored_is_recorded_only() -> None:
    # Given an edit of a message past retention; Then it is recorded and nothing else is written
    edit = meta("edit_text")
    world = World(now=edit.timestamp + 10)
    assert (world.handle(edit), world.store.inbound_item(TENANT_ID, CONTACT_ID, str(edit.extra["edited_message_id"]))) == ("edited", None)


# --- gate: the 24-hour window ------------------------------------------------------------------------


@pytest.mark.parametrize(("age", "outcome"), [(24 * 3600 - 1, "replied"), (24 * 3600, "outside_window"), (3 * 24 * 3600, "outside_window")])
def test_a_message_older_than_the_service_window_is_recorded_but_not_answered(age: int, outcome: str) -> None:
    # Given a message Meta redelivers ``age`` seconds after Mariana sent it
    message = meta("text")
    world = World(now=T0 + age)
    # When it is handled, Then it is answered only within 24 hours
    assert (world.handle(message), world.inbound(message)["outcome"]) == (outcome, outcome)
    assert len(world.chat.calls) == (1 if outcome == "replied" else 0)


# --- gate: a human in charge ---------------------------------------------------------------------------


@pytest.mark.parametrize("state", [ConversationState.QUEUED, ConversationState.ASSIGNED])
def test_a_human_in_charge_keeps_the_bot_silent(world: World, state: ConversationState) -> None:
    # Given a conversation waiting for, or taken by, an attendant
    handed_over = Conversation(state, assignee="ana" if state is ConversationState.ASSIGNED else None, changed_at=T0 - 600)
    world.store.set_conversation(TENANT_ID, CONTACT_ID, handed_over)
    # When Mariana writes
    outcome = world.handle(meta("text"))
    # Then the bot records it and stays silent; the session says a human took part
    assert (outcome, world.chat.calls, world.messenger.sends, world.messenger.acknowledged) == ("human", [], [], [])
    assert (world.profile().conversation, [s.human for s in world.sessions()]) == (handed_over, [True])


@pytest.mark.parametrize(
    ("state", "woken"), [(ConversationState.BOT, ConversationState.QUEUED), (ConversationState.ASSIGNED, ConversationState.ASSIGNED)]
)
def test_a_customer_message_wakes_a_snoozed_conversation(world: World, state: ConversationState, woken: ConversationState) -> None:
    # Given an attendant snoozed the conversation for an hour
    world.store.set_conversation(TENANT_ID, CONTACT_ID, Conversation(state, snoozed_until=NOW + 3600, changed_at=T0 - 60))
    # When Mariana writes
    outcome = world.handle(meta("text"))
    # Then the bot stays silent and the conversation is back with people, snooze cleared
    assert (outcome, world.chat.calls) == ("human", [])
    assert world.profile().conversation == Conversation(woken, snoozed_until=None, changed_at=NOW)


def test_an_expired_snooze_leaves_the_bot_answering(world: World) -> None:
    # Given a snooze that ended a second ago; Then the bot answers
    world.store.set_conversation(TENANT_ID, CONTACT_ID, Conversation(ConversationState.BOT, snoozed_until=NOW - 1, changed_at=T0 - 7200))
    assert world.handle(meta("text")) == "replied"


def test_a_resolved_conversation_goes_back_to_the_bot_once_it_answers(world: World) -> None:
    # Given an attendant resolved the conversation
    world.store.set_conversation(TENANT_ID, CONTACT_ID, Conversation(ConversationState.RESOLVED, assignee="ana", changed_at=T0 - 3600))
    # When Mariana writes again
    outcome = world.handle(meta("text"))
    # Then the bot answers and the conversation is the bot's again
    assert (outcome, world.profile().conversation) == ("replied", Conversation(ConversationState.BOT, changed_at=NOW))


# --- gate: the flood limit ----------------------------------------------------------------------------


def test_a_flood_gets_one_notice_in_the_minute_then_silence_without_model_calls() -> None:
    # Given a tenant allowing 3 messages a minute, and Mariana sending 5 within one minute
    world = World(replace(TENANT, flood_limit_per_minute=3), now=T0 + 30)
    burst = [text(f"mensagem {n}", at=T0 + n, n=n) for n in range(5)]
    # When each is handled
    outcomes = [world.handle(m, attempt(sqs=f"{FIRST_SQS[:-2]}{n:02d}")) for n, m in enumerate(burst)]
    # Then three answers, one notice, then silence; the model was asked three times
    assert outcomes == ["replied", "replied", "replied", "flood_limited", "flood_limited"]
    assert world.messenger.texts == [DEFAULT_ANSWER] * 3 + [bot_text("flood_notice")]
    assert (len(world.chat.calls), [o["kind"] for o in world.outbound()].count("flood")) == (3, 1)


def test_the_next_minute_is_answered_again_after_a_flood() -> None:
    # Given a flood already notified in the minute of T0
    world = World(replace(TENANT, flood_limit_per_minute=3), now=T0 + 30)
    for n in range(5):
        world.handle(text(f"mensagem {n}", at=T0 + n, n=n), attempt(sqs=f"{FIRST_SQS[:-2]}{n:02d}"))
    # When Mariana writes in the next clock minute
    world.clock.set(T0 + 70)
    outcome = world.handle(text("Agora sim: tem sonho de creme?", at=T0 + 60, n=9), attempt(sqs=OTHER_SQS))
    # Then she is answered by the model again
    assert (outcome, len(world.chat.calls), world.messenger.texts[-1]) == ("replied", 4, DEFAULT_ANSWER)


# --- gate: bursts, and the hold step ----------------------------------------------------------------


def _burst_batch() -> tuple[InboundMessage, InboundMessage, dict[str, tuple[int, ...]]]:
    first = text("Oi, bom dia!", at=T0, n=1)
    second = text("Vocês têm pão de queijo hoje?", at=T0 + 2, n=2)
    group = first.group_id
    followers = burst_followers([(FIRST_SQS, group, first.to_json()), (OTHER_SQS, group, second.to_json())])
    return first, second, followers


def test_a_message_followed_within_the_pause_is_merged_and_waits_as_a_pending_turn(world: World) -> None:
    # Given "Oi, bom dia!" and, two seconds later, the question, in one batch
    first, _, followers = _burst_batch()
    # When the first is handled
    outcome = world.handle(first, attempt(later=followers[FIRST_SQS]))
    # Then it is recorded as merged, unanswered, its text pending on the profile
    assert (outcome, world.messenger.sends, world.chat.calls, world.messenger.acknowledged) == ("merged", [], [], [])
    assert world.profile().pending == (Turn("user", "Oi, bom dia!", T0),)


def test_the_burst_is_answered_once_with_all_its_texts_in_one_user_turn(world: World) -> None:
    # Given the first message of the burst merged
    first, second, followers = _burst_batch()
    world.handle(first, attempt(later=followers[FIRST_SQS]))
    # When the last one is handled
    outcome = world.handle(second, attempt(sqs=OTHER_SQS, later=followers[OTHER_SQS]))
    # Then the model reads both texts as one turn, one answer goes out, and nothing stays pending
    combined = Turn("user", "Oi, bom dia!\nVocês têm pão de queijo hoje?", T0 + 2)
    assert (outcome, [c.turns for c in world.chat.calls], world.messenger.texts) == ("replied", [(combined,)], [DEFAULT_ANSWER])
    assert (world.profile().pending, world.profile().memory) == ((), (combined, Turn("assistant", DEFAULT_ANSWER, NOW)))


def test_a_follower_beyond_the_pause_does_not_merge(world: World) -> None:
    # Given a later message of the batch 10 seconds after this one (the pause is 3)
    assert world.handle(meta("text"), attempt(later=(T0 + 10,))) == "replied"


@pytest.mark.parametrize(("age", "retry_after"), [(0, 3), (1, 2), (2, 1), (-5, 3)])
def test_a_young_last_message_is_held_for_the_rest_of_the_pause(age: int, retry_after: int) -> None:
    # Given the last message of its conversation in the batch, ``age`` seconds old (negative: clock skew)
    world = World(now=T0 + age)
    # When it is handled
    with pytest.raises(Deferred) as held:
        world.handle(meta("text"))
    # Then it comes back when the pause is over, unattempted, before any round trip
    assert (held.value.retry_after_seconds, held.value.attempted, world.store.calls) == (retry_after, False, Counter())


def test_a_message_as_old_as_the_pause_is_not_held() -> None:
    # Given a last message exactly as old as the 3-second pause; Then it is answered at once
    assert World(now=T0 + 3).handle(meta("text")) == "replied"


def test_a_young_message_is_not_held_on_the_delivery_that_could_dead_letter_it() -> None:
    # Given a young message on its 9th receive of 10
    world = World(now=T0 + 1)
    # Then it is answered now rather than risk the DLQ
    assert world.handle(meta("text"), attempt(9)) == "replied"


def test_a_young_message_with_followers_in_the_batch_is_not_held() -> None:
    # Given a young message followed within the pause by another in the same batch
    world = World(now=T0 + 1)
    # Then it is not deferred: it merges into the follower's answer
    assert world.handle(meta("text"), attempt(later=(T0 + 1,))) == "merged"


def test_an_old_message_ending_a_full_batch_mid_burst_waits_for_the_followers_queued_behind_it() -> None:
    # Given a two-minute-old message, the last record of a full batch, a second after the previous
    # message of its conversation in that batch (a backlog: the rest of its burst may be queued behind it)
    world = World(now=T0 + 120)
    # When it is handled
    with pytest.raises(Deferred) as held:
        world.handle(meta("text"), attempt(ends_full_batch=True, earlier=(T0 - 1,)))
    # Then it comes back in a second, leading the next batch, unattempted and before any round trip
    assert (held.value.retry_after_seconds, held.value.attempted, world.store.calls) == (1, False, Counter())


@pytest.mark.parametrize(
    ("receive_count", "later", "earlier", "pause"),
    [
        (3, (), (T0 - 1,), 3),
        (9, (), (T0 - 1,), 3),
        (1, (T0 + 1,), (T0 - 1,), 3),
        (1, (), (T0 - 1,), 0),
        (1, (), (), 3),
        (1, (), (T0 - 60,), 3),
    ],
    ids=["waited-twice-already", "could-dead-letter", "has-a-follower-in-the-batch", "bursts-off", "alone-in-the-batch", "no-burst"],
)
def test_an_old_message_ending_a_full_batch_is_answered_at_once(
    receive_count: int, later: tuple[int, ...], earlier: tuple[int, ...], pause: int
) -> None:
    # Given the last record of a full batch that waited twice already, or is on the delivery that could
    # dead-letter it, or merges into a follower of the same batch, or a tenant with bursts off, or
    # no earlier message of its conversation within the pause came in the batch (no burst in progress)
    world = World(replace(TENANT, burst_pause_seconds=pause), now=T0 + 120)
    # Then it is not held
    outcome = world.handle(meta("text"), attempt(receive_count, later=later, ends_full_batch=True, earlier=earlier))
    assert outcome == ("merged" if later and pause else "replied")


def test_no_hold_when_the_tenant_turned_bursts_off() -> None:
    # Given a tenant with burst_pause_seconds 0; Then a brand-new message with a follower is answered alone
    world = World(replace(TENANT, burst_pause_seconds=0), now=T0)
    assert (world.handle(meta("text"), attempt(later=(T0 + 1,))), len(world.chat.calls)) == ("replied", 1)


def test_burst_followers_are_the_later_answerable_messages_of_each_group() -> None:
    # Given a batch of two conversations, with a reaction, a status and a poison body among the texts
    first, second, _ = _burst_batch()
    reaction = meta("reaction", timestamp=T0 + 3)
    joao = meta("text", contact=replace(first.contact, contact_id="c:553188887766", wa_id="553188887766"), timestamp=T0 + 1)
    update = status("status_sent", "wamid.OUTBOUND")
    records = [
        ("r1", first.group_id, first.to_json()),
        ("r2", joao.group_id, joao.to_json()),
        ("r3", first.group_id, reaction.to_json()),
        ("r4", update.group_id, update.to_json()),
        ("r5", first.group_id, "not json"),
        ("r6", first.group_id, second.to_json()),
        ("r7", None, text("sem grupo", at=T0 + 9, n=7).to_json()),
    ]
    # When the followers are computed
    followers = burst_followers(records)
    # Then each record sees only its own group's later answerable timestamps (a status without
    # callback data shares the customer's group)
    assert followers == {"r1": (T0 + 2,), "r2": (), "r3": (T0 + 2,), "r4": (T0 + 2,), "r5": (T0 + 2,), "r6": (), "r7": ()}


# --- gate: business hours ------------------------------------------------------------------------------


def _closed_world(policy: str) -> World:
    tenant = replace(TENANT, hours=BusinessHours.from_item(OPENING_HOURS), out_of_hours=policy)
    return World(tenant, now=FRIDAY_EVENING + 10)


def test_out_of_hours_the_first_message_of_a_session_gets_the_notice() -> None:
    # Given a bakery closed on Friday evening, whose policy is to say so
    world = _closed_world("notice")
    # When Mariana writes at 20:00
    outcome = world.handle(text("Ainda dá tempo de encomendar?", at=FRIDAY_EVENING, n=1))
    # Then she is told when people are back, and the model is not asked
    assert (outcome, world.messenger.texts, world.chat.calls) == ("out_of_hours", [bot_text("out_of_hours", opening="amanhã às 08:00")], [])
    assert "Voltamos amanhã às 08:00." in world.messenger.texts[0]
    assert [s.out_of_hours_notified for s in world.sessions()] == [True]


def test_out_of_hours_later_messages_of_the_session_are_recorded_silently() -> None:
    # Given the notice already sent in this session
    world = _closed_world("notice")
    world.handle(text("Ainda dá tempo de encomendar?", at=FRIDAY_EVENING, n=1))
    world.clock.advance(60)
    # When she writes again a minute later
    second = text("Para amanhã cedo", at=FRIDAY_EVENING + 60, n=2)
    outcome = world.handle(second, attempt(sqs=OTHER_SQS))
    # Then nothing more is sent
    assert (outcome, len(world.messenger.sends), world.inbound(second)["outcome"]) == ("out_of_hours", 1, "out_of_hours")


def test_out_of_hours_a_new_session_gets_the_notice_again() -> None:
    # Given the notice sent, then two hours of silence (a new session); Then the notice is sent again
    world = _closed_world("notice")
    world.handle(text("Ainda dá tempo de encomendar?", at=FRIDAY_EVENING, n=1))
    world.clock.advance(2 * 3600)
    world.handle(text("Oi? Alguém aí?", at=FRIDAY_EVENING + 2 * 3600, n=2), attempt(sqs=OTHER_SQS))
    assert (len(world.messenger.sends), [s.outcome for s in world.sessions()]) == (2, [SessionOutcome.IDLE, SessionOutcome.OPEN])


def test_out_of_hours_with_the_answer_policy_the_model_is_told_when_people_are_back() -> None:
    # Given a closed bakery whose assistant keeps answering
    world = _closed_world("answer")
    # When Mariana writes
    outcome = world.handle(text("Ainda dá tempo de encomendar?", at=FRIDAY_EVENING, n=1))
    # Then the model answers, its system prompt ending with the out-of-hours hint
    [call] = world.chat.calls
    assert outcome == "replied"
    assert call.system == SYSTEM_PROMPT + "\n\n" + bot_text("out_of_hours_hint", opening="amanhã às 08:00")


# --- gate: what the assistant cannot read ---------------------------------------------------------------


def test_an_unreadable_type_gets_the_unsupported_notice_without_a_model_call() -> None:
    # Given a poll (Meta: unsupported)
    poll = meta("unsupported_poll")
    world = World(now=poll.timestamp + 10)
    # When it is handled
    outcome = world.handle(poll)
    # Then one polite notice goes out, no model call
    assert (outcome, world.messenger.texts, world.chat.calls) == ("unsupported", [bot_text("unsupported_type")], [])
    assert [o["kind"] for o in world.outbound()] == ["notice"]


def test_a_location_reaches_the_model_as_text() -> None:
    # Given a shared location; Then the model reads it as one structured line
    location = meta("location")
    world = World(now=location.timestamp + 10)
    world.handle(location)
    assert world.chat.calls[0].turns[-1].text == (
        "[localização] MASP - Museu de Arte de São Paulo — Av. Paulista, 1578 - Bela Vista, São Paulo - SP, 01310-200 "
        "(-23.561414, -46.655882)"
    )


# --- the claim protocol -----------------------------------------------------------------------------------


@pytest.mark.parametrize("sqs", [FIRST_SQS, OTHER_SQS], ids=["sqs-duplicate", "meta-redelivery-or-redrive"])
def test_an_answered_message_delivered_again_is_a_no_op(world: World, sqs: str) -> None:
    # Given a message answered
    message = meta("text")
    world.handle(message)
    world.clock.advance(3600)
    # When it comes again (the same queue message, or a new one: Meta's redelivery, a DLQ redrive)
    outcome = world.handle(message, attempt(1 if sqs == OTHER_SQS else 2, sqs=sqs))
    # Then nothing is done after the one read
    assert (outcome, len(world.messenger.sends), len(world.chat.calls)) == ("duplicate", 1, 1)
    assert world.store.calls == Counter(snapshot=2, claim=1, complete_inbound=1)


def _claim_by_another_worker(world: World, message: InboundMessage, *, now: int = NOW) -> None:
    world.store.claim(
        message.routed_to(TENANT_ID),
        now=now,
        lease_seconds=300,
        ttl_days=8,
        sqs_message_id=OTHER_SQS,
        attempt_id=f"{OTHER_SQS}:1",
        previous=Claim(ClaimState.NEW),
    )


def test_a_message_claimed_by_another_queue_message_is_in_flight_until_its_lease_ends(world: World) -> None:
    # Given another delivery (another SQS message: Meta sent the webhook twice) holds a live lease
    message = meta("text")
    _claim_by_another_worker(world, message)
    world.clock.advance(10)
    # When this delivery sees it
    with pytest.raises(InboundInFlight) as caught:
        world.handle(message)
    # Then it comes back when that lease ends, not counted as an attempt, with nothing done
    assert (getattr(caught.value, "retry_after_seconds", None), getattr(caught.value, "attempted", True)) == (291, False)
    assert (world.chat.calls, world.messenger.sends) == ([], [])


def test_a_claim_whose_lease_expired_is_taken_over_and_answered(world: World) -> None:
    # Given another delivery claimed the message and died (its lease is over)
    message = meta("text")
    _claim_by_another_worker(world, message, now=NOW - 400)
    # When this delivery handles it
    outcome = world.handle(message)
    # Then it is answered once
    assert (outcome, world.messenger.texts) == ("replied", [DEFAULT_ANSWER])


def test_a_claim_won_by_another_worker_while_composing_is_in_flight(world: World) -> None:
    # Given another worker claims the message between this one's snapshot and its claim write
    message = meta("text")
    world.store.before_next("claim", lambda: _claim_by_another_worker(world, message))
    # When this worker tries to claim with its reply
    with pytest.raises(InboundInFlight) as caught:
        world.handle(message)
    # Then it backs off for the other's lease and sends nothing; its model call counts as an attempt
    assert (getattr(caught.value, "retry_after_seconds", None), world.messenger.sends) == (301, [])
    assert (world.claim(message) or {})["attempt_ids"] == {f"{OTHER_SQS}:1", f"{FIRST_SQS}:1"}


def test_a_concurrent_worker_that_answered_first_makes_this_one_a_duplicate(world: World) -> None:
    # Given another worker answers the same message (another queue message) while this one composes
    message = meta("text")
    world.store.before_next("claim", lambda: world.handle(message, attempt(sqs=OTHER_SQS)))
    # When this worker tries to claim
    outcome = world.handle(message)
    # Then it stands down: the customer gets one answer
    assert (outcome, world.messenger.texts) == ("duplicate", [DEFAULT_ANSWER])


def test_the_same_queue_message_whose_claim_write_was_applied_but_unacknowledged_resumes(world: World) -> None:
    # Given the claim (with the reply) was written, but its answer was lost: the delivery failed
    message = meta("text")
    world.store.fail_next("claim", applied=True)
    with pytest.raises(StoreError):
        world.handle(message)
    # When SQS delivers the same queue message again, its claim still live
    world.clock.advance(30)
    outcome = world.handle(message, attempt(2))
    # Then the claim recognises its own queue message: the checkpointed reply is sent, once, no new model call
    assert (outcome, world.messenger.texts, len(world.chat.calls)) == ("replied", [DEFAULT_ANSWER], 1)
    assert (world.claim(message) or {})["attempt_ids"] == {f"{FIRST_SQS}:1", f"{FIRST_SQS}:2"}


def test_a_snapshot_failure_is_retried_before_anything_happens(world: World) -> None:
    # Given the snapshot read fails; Then nothing was claimed, asked or sent, and the retry answers
    message = meta("text")
    world.store.fail_next("snapshot")
    with pytest.raises(StoreError):
        world.handle(message)
    assert (world.chat.calls, world.messenger.sends, world.claim(message)) == ([], [], None)
    assert world.handle(message, attempt(2)) == "replied"


# --- ambiguous sends -----------------------------------------------------------------------------------


def _lost_send(world: World, message: InboundMessage) -> str:
    """The first delivery: the reply went out but its HTTP answer was lost. Returns its provider id."""
    world.messenger.fail_next(SendOutcomeUnknown("read timeout after the request was sent"), went_out=True)
    with pytest.raises(SendUnconfirmed):
        world.handle(message)
    lost = world.messenger.sends[0].message_id
    assert lost is not None
    return lost


def test_a_send_whose_answer_was_lost_is_unconfirmed_with_the_reply_checkpointed(world: World) -> None:
    # Given the provider took the reply but its answer was lost
    message = meta("text")
    world.messenger.fail_next(SendOutcomeUnknown("read timeout after the request was sent"), went_out=True)
    # When the delivery fails
    with pytest.raises(SendUnconfirmed) as caught:
        world.handle(message)
    # Then it retries after Meta had time to confirm; the reply stays on the claim, its lease handed back
    claim = world.claim(message) or {}
    assert caught.value.retry_after_seconds == 60
    assert (claim["status"], claim["reply_parts"], claim["sent_ids"], claim["lease_until"]) == ("replying", [DEFAULT_ANSWER], [], 0)


def test_a_status_that_names_an_uncommitted_send_confirms_it_on_the_claim_and_waits_on_the_message(world: World) -> None:
    # Given a lost send, and Meta's "sent" status naming it through our callback data
    message = meta("text")
    lost = _lost_send(world, message)
    update = status("status_sent", lost, callback_data=f"{message.provider_message_id}|0")
    # When the status arrives before the message's retry committed
    outcome = world.handle(update, attempt(sqs=STATUS_SQS))
    # Then the part is confirmed on the open claim, and the status is kept on a stub of the message,
    # done at once (no deferral, no second delivery)
    [stub] = world.outbound()
    assert (outcome, (world.claim(message) or {})["confirmed"]) == ("send_confirmed", {"0": lost})
    assert (stub["status"], stub["status_rank"], "sent_at" in stub) == ("sent", update.status.rank, False)


def test_a_retry_after_a_confirmed_send_commits_it_without_sending_again_and_keeps_its_status(world: World) -> None:
    # Given a lost send confirmed by its "delivered" status webhook
    message = meta("text")
    lost = _lost_send(world, message)
    world.handle(status("status_delivered", lost, callback_data=f"{message.provider_message_id}|0"), attempt(sqs=STATUS_SQS))
    # When the message is retried
    world.clock.advance(60)
    outcome = world.handle(message, attempt(2))
    # Then it is committed with the confirmed id: one send, one model call, and the status Meta reported
    assert (outcome, len(world.messenger.sends), len(world.chat.calls)) == ("replied", 1, 1)
    assert (world.inbound(message)["replied_with"], [o["SK"] for o in world.outbound()]) == ([lost], [f"MSG#OUT#{lost}"])
    [outbound] = world.outbound()
    assert (outbound["status"], outbound["text"], outbound["in_reply_to"]) == ("delivered", DEFAULT_ANSWER, message.provider_message_id)


@pytest.mark.parametrize("late_hours", [0, 2, 30], ids=["at-once", "two-hours", "thirty-hours"])
def test_a_status_ahead_of_its_commit_is_on_the_message_however_late_the_commit_comes(world: World, late_hours: int) -> None:
    # Given Meta's "read" status for a lost send, then its message retried hours later
    message = meta("text")
    lost = _lost_send(world, message)
    world.handle(status("status_read", lost, callback_data=f"{message.provider_message_id}|0"), attempt(sqs=STATUS_SQS))
    world.clock.advance(60 + late_hours * 3_600)
    world.handle(message, attempt(2))
    # When a lower status ("sent") arrives after the commit
    outcome = world.handle(status("status_sent", lost, callback_data=f"{message.provider_message_id}|0"), attempt(sqs=OTHER_SQS))
    # Then the message holds "read": the commit did not reset it, the lower rank did not overwrite it
    assert (outcome, [o["status"] for o in world.outbound()]) == ("status_ignored", ["read"])


def test_a_status_after_the_commit_is_recorded_on_the_message(world: World) -> None:
    # Given an answered message
    message = meta("text")
    world.handle(message)
    [sent] = world.messenger.sends
    # When Meta's "delivered" status for it arrives, with our callback data
    outcome = world.handle(status("status_delivered", str(sent.message_id), callback_data=f"{message.provider_message_id}|0"))
    # Then it is recorded on the committed message; the done claim is not touched
    assert (outcome, [o["status"] for o in world.outbound()]) == ("status_recorded", ["delivered"])
    assert "confirmed" not in (world.claim(message) or {})


def test_a_status_of_a_message_atende_never_sent_is_ignored_and_stores_nothing(world: World) -> None:
    # Given a status with no callback data of ours (the business wrote from its phone app)
    outcome = world.handle(status("status_delivered", "wamid.FROM-THE-APP"))
    # Then nothing is stored
    assert (outcome, world.outbound()) == ("status_ignored", [])


def test_a_retry_without_any_confirmation_sends_once_more_without_a_new_model_call(world: World) -> None:
    # Given a lost send no status ever confirmed
    message = meta("text")
    _lost_send(world, message)
    # When the message is retried after the reconcile wait
    world.clock.advance(60)
    outcome = world.handle(message, attempt(2))
    # Then the checkpointed reply is sent again (the second send is the one committed)
    second = world.messenger.sends[1]
    assert (outcome, world.messenger.texts, len(world.chat.calls)) == ("replied", [DEFAULT_ANSWER, DEFAULT_ANSWER], 1)
    assert (second.callback_data, world.inbound(message)["replied_with"]) == (f"{message.provider_message_id}|0", [second.message_id])


# --- delivery failures, multi-part replies, the commit ---------------------------------------------------


def _two_part_answer() -> tuple[str, str]:
    first = ("O pão de queijo sai do forno às 7h e às 16h, todos os dias. " * 50).strip()
    second = ("Encomendas para festas pedem 48 horas de antecedência e um sinal de 30%. " * 45).strip()
    assert split_text(f"{first}\n\n{second}") == [first, second]
    return first, second


def test_a_multi_part_reply_is_resent_only_from_the_missing_part(world: World) -> None:
    # Given a two-part answer whose second part failed (Graph 503)
    message = meta("text")
    first, second = _two_part_answer()
    world.chat.answer(f"{first}\n\n{second}")
    world.messenger.fail_next(ProviderUnavailable("Graph API 503", http_status=503), after=1)
    with pytest.raises(ProviderUnavailable):
        world.handle(message)
    # When SQS retries
    outcome = world.handle(message, attempt(2))
    # Then only the second part is sent again; both are committed; no second read receipt
    delivered = world.messenger.delivered
    assert (outcome, [s.body for s in delivered], [s.callback_data for s in delivered]) == (
        "replied",
        [first, second],
        [f"{message.provider_message_id}|0", f"{message.provider_message_id}|1"],
    )
    assert (world.inbound(message)["replied_with"], world.messenger.acknowledged, len(world.chat.calls)) == (
        [s.message_id for s in delivered],
        [message.provider_message_id],
        1,
    )


def test_the_reply_is_checkpointed_before_the_next_part(world: World) -> None:
    # Given part 2 of 2 failed; Then the claim holds both parts, part 1's id, and a released lease
    message = meta("text")
    first, second = _two_part_answer()
    world.chat.answer(f"{first}\n\n{second}")
    world.messenger.fail_next(ProviderUnavailable("Graph API 503", http_status=503), after=1)
    with pytest.raises(ProviderUnavailable):
        world.handle(message)
    claim = world.claim(message) or {}
    assert (claim["reply_parts"], claim["sent_ids"], claim["lease_until"]) == ([first, second], [world.messenger.sends[0].message_id], 0)


def test_a_rejected_reply_is_recorded_and_not_retried(world: World) -> None:
    # Given Meta refuses the reply for good (an invalid parameter)
    message = meta("text")
    world.messenger.fail_next(ProviderRejected("(#100) Invalid parameter", code=100, http_status=400))
    # Then the message is committed as rejected, with nothing sent
    assert (world.handle(message), world.inbound(message)["replied_with"]) == ("rejected", [])


def test_a_commit_whose_answer_was_lost_never_sends_twice(world: World) -> None:
    # Given the commit transaction was applied but its answer lost
    message = meta("text")
    world.store.fail_next("commit", applied=True)
    with pytest.raises(StoreError):
        world.handle(message)
    # When SQS retries
    world.handle(message, attempt(2))
    # Then the customer got one answer and memory holds the exchange once
    assert (world.messenger.texts, world.profile().memory) == ([DEFAULT_ANSWER], answered_once(world, message))


def test_a_commit_whose_answer_was_lost_makes_the_retry_a_duplicate_no_op(world: World) -> None:
    # Given the commit transaction was applied but its answer lost
    message = meta("text")
    world.store.fail_next("commit", applied=True)
    with pytest.raises(StoreError):
        world.handle(message)
    # When SQS retries
    outcome = world.handle(message, attempt(2))
    # Then the retry is a no-op: the claim stays done, the session counts the message once
    [session] = world.sessions()
    assert (outcome, (world.claim(message) or {}).get("status"), session.messages_in, session.messages_out) == ("duplicate", "done", 1, 1)


def test_a_recorded_delivery_status_survives_the_retry_of_a_lost_commit(world: World) -> None:
    # Given a lost commit answer, then a 'delivered' status recorded; When SQS retries; Then the status stays
    message = meta("text")
    world.store.fail_next("commit", applied=True)
    with pytest.raises(StoreError):
        world.handle(message)
    sent = world.messenger.sends[0].message_id
    assert world.handle(status("status_delivered", str(sent)), attempt(sqs=STATUS_SQS)) == "status_recorded"
    world.handle(message, attempt(2))
    assert [o["status"] for o in world.outbound()] == ["delivered"]


def test_a_profile_changed_under_the_commit_is_retried_without_a_second_send(world: World) -> None:
    # Given an operator reprioritises the conversation between this delivery's snapshot and its commit
    message = meta("text")
    reprioritised = Conversation(ConversationState.BOT, priority=2, changed_at=NOW)
    world.store.before_next("commit", lambda: world.store.set_conversation(TENANT_ID, CONTACT_ID, reprioritised))
    # When the commit's version check fails
    with pytest.raises(ConcurrentUpdate):
        world.handle(message)
    # Then the retry re-reads the profile and commits what was sent, without sending again
    outcome = world.handle(message, attempt(2))
    assert (outcome, world.messenger.texts, world.profile().conversation) == ("replied", [DEFAULT_ANSWER], reprioritised)


def test_the_provider_refusing_outside_the_window_is_recorded_not_retried(world: World) -> None:
    # Given Meta answers 131047; Then the message is committed as outside the window
    message = meta("text")
    world.messenger.fail_next(OutsideServiceWindow("(#131047) Re-engagement message", code=131047, http_status=400))
    assert (world.handle(message), world.inbound(message)["outcome"]) == ("outside_window", "outside_window")


def test_a_failed_read_receipt_does_not_delay_the_answer(world: World) -> None:
    # Given the read receipt fails (Graph 503); Then the answer still goes out
    world.messenger.fail_acknowledge(ProviderUnavailable("Graph API 503", http_status=503))
    assert (world.handle(meta("text")), world.messenger.texts) == ("replied", [DEFAULT_ANSWER])


def test_rejected_credentials_on_the_read_receipt_fail_the_record(world: World) -> None:
    # Given Meta rejects the token on the read receipt; Then the record fails before any model call
    world.messenger.fail_acknowledge(ProviderAuthError("(#190) Error validating access token", code=190, http_status=401))
    with pytest.raises(ProviderAuthError):
        world.handle(meta("text"))
    assert (world.chat.calls, world.messenger.sends) == ([], [])


# --- the last attempt --------------------------------------------------------------------------------------


def test_the_last_real_attempt_apologises_counting_attempts_from_the_claim(world: World) -> None:
    # Given the model down on four earlier real attempts (receives 3 and 5 were deferrals or drags)
    message = meta("text")
    world.chat.fail_always(LlmUnavailable("OpenAI 503 after the SDK's retries"))
    for receive_count in (1, 2, 4, 6):
        with pytest.raises(LlmUnavailable):
            world.handle(message, attempt(receive_count))
    # When the 7th receive (of 10) is the 5th real attempt, and the model still fails
    outcome = world.handle(message, attempt(7))
    # Then the customer gets one apology, and the claim counted every real attempt
    assert (outcome, world.messenger.texts) == ("apology", [bot_text("apology")])
    assert (world.claim(message) or {})["attempt_ids"] == {f"{FIRST_SQS}:{n}" for n in (1, 2, 4, 6, 7)}
    assert (world.profile().memory, [o["kind"] for o in world.outbound()]) == ((), ["apology"])


def test_a_late_receive_with_few_real_attempts_is_retried_not_apologised(world: World) -> None:
    # Given one earlier real attempt, and a 7th receive (the others were deferrals)
    message = meta("text")
    world.chat.fail_always(LlmUnavailable("OpenAI 503 after the SDK's retries"))
    with pytest.raises(LlmUnavailable):
        world.handle(message, attempt(1))
    # Then the model failure is raised for SQS to retry, and nothing is sent
    with pytest.raises(LlmUnavailable):
        world.handle(message, attempt(7))
    assert world.messenger.sends == []


def test_the_receive_that_would_dead_letter_apologises(world: World) -> None:
    # Given the model fails on the 10th receive of 10 (no earlier real attempt recorded)
    world.chat.fail_next(LlmUnavailable("OpenAI 503 after the SDK's retries"))
    assert (world.handle(meta("text"), attempt(10)), world.messenger.texts) == ("apology", [bot_text("apology")])


def test_a_rejected_api_key_is_retried_until_the_last_attempt(world: World) -> None:
    # Given the LLM rejects the API key on a first attempt; Then the error is raised and nothing sent
    world.chat.fail_next(LlmAuthError("401 invalid api key"))
    with pytest.raises(LlmAuthError):
        world.handle(meta("text"))
    assert world.messenger.sends == []


# --- media --------------------------------------------------------------------------------------------------

VOICE_NOTE = StoredMedia(
    key="padaria-do-joao/c:5511987654321/wamid.HBgNNTUxMTk4NzY1NDMyMRUCABIYFDNFQjBBMUY0QzJEOThCN0U2QTUxAA==.ogg",
    size=15873,
    sha256="62ade95e4d82f6691eb4d2dc9b5bd4c9f60f8cf4018f7b9e52cfa0e34ea6d3f7",
    mime_type="audio/ogg",
)
TRANSCRIBED = MediaReading(
    turn="[mensagem de voz transcrita] Vocês entregam no Morumbi?", result="transcribed", stored=VOICE_NOTE, seconds=5
)


def _media_world(*readings: MediaReading) -> tuple[World, InboundMessage]:
    voice = meta("audio_voice")
    return World(media=FakeMediaReader(*readings), now=voice.timestamp + 10), voice


def test_a_voice_note_is_read_once_and_answered(world: World) -> None:
    # Given Mariana's voice note and a reader that transcribes it
    world, voice = _media_world(TRANSCRIBED)
    # When it is handled
    outcome = world.handle(voice)
    # Then the model reads the transcript; the media was claimed, read, checkpointed before the reply
    assert (outcome, world.chat.calls[0].turns[-1].text) == ("replied", "[mensagem de voz transcrita] Vocês entregam no Morumbi?")
    assert world.media is not None and world.media.reads == [MediaRead(voice.provider_message_id, TENANT_ID, world.sources.source)]
    assert world.store.calls == Counter(snapshot=1, claim=1, checkpoint_media=1, checkpoint_reply=1, complete_inbound=1)


def test_what_a_voice_note_said_is_recorded_on_its_inbound_item() -> None:
    # Given a voice note read and answered; Then its inbound item says where the file is and what it said
    world, voice = _media_world(TRANSCRIBED)
    world.handle(voice)
    inbound = world.inbound(voice)
    assert {k: inbound.get(k) for k in ("media_result", "media_key", "media_size", "media_seconds", "understood")} == {
        "media_result": "transcribed",
        "media_key": VOICE_NOTE.key,
        "media_size": 15873,
        "media_seconds": 5,
        "understood": "[mensagem de voz transcrita] Vocês entregam no Morumbi?",
    }


def test_a_retry_reuses_the_checkpointed_reading() -> None:
    # Given the voice note was read, then the model failed
    world, voice = _media_world(TRANSCRIBED)
    world.chat.fail_next(LlmUnavailable("OpenAI 503 after the SDK's retries"))
    with pytest.raises(LlmUnavailable):
        world.handle(voice)
    # When SQS retries
    outcome = world.handle(voice, attempt(2))
    # Then the reading is not redone: one read, the transcript answered
    assert world.media is not None
    assert (outcome, len(world.media.reads), world.chat.calls[-1].turns[-1].text) == ("replied", 1, TRANSCRIBED.turn)


def test_a_provider_transcript_is_used_without_calling_the_reader() -> None:
    # Given an Evolution voice note that carries WhatsApp's own transcript
    voice = evolution("audio_speech_to_text_data")
    world = World(media=FakeMediaReader(), now=voice.timestamp + 10)
    # When it is handled
    outcome = world.handle(voice)
    # Then the model reads that transcript; nothing is downloaded or read; the reply goes to the JID
    assert world.media is not None
    assert (outcome, world.chat.calls[0].turns[-1].text) == ("replied", "[mensagem de voz transcrita] Vocês fazem bolo sem lactose?")
    assert (world.media.reads, world.sources.asked, world.messenger.sends[0].to) == ([], [], "5511987654321@s.whatsapp.net")


def test_a_file_that_cannot_be_read_gets_its_notice_without_a_model_call() -> None:
    # Given a document the reader refuses (too large), without a caption to answer
    pdf = meta("document")
    assert pdf.media is not None
    document = replace(pdf, text=None, media=replace(pdf.media, caption=None))
    refused = MediaReading(turn=None, result="too_large", notice="media_too_large", notice_params={"limit": "16 MB"})
    world = World(media=FakeMediaReader(refused), now=document.timestamp + 10)
    # When it is handled
    outcome = world.handle(document)
    # Then the customer is told why, and the model is not asked
    assert (outcome, world.messenger.texts, world.chat.calls) == ("unsupported", [bot_text("media_too_large", limit="16 MB")], [])


def test_a_transcript_echo_leads_the_answer() -> None:
    # Given a tenant echoing transcripts; Then the echo goes first, then the answer, each recorded with its kind
    world, voice = _media_world(replace(TRANSCRIBED, echo="Vocês entregam no Morumbi?"))
    world.handle(voice)
    assert world.messenger.texts == [bot_text("transcript_echo", transcript="Vocês entregam no Morumbi?"), DEFAULT_ANSWER]
    assert [o["kind"] for o in sorted(world.outbound(), key=lambda o: o["SK"])] == ["echo", "reply"]


# --- sessions and cost ----------------------------------------------------------------------------------


def test_a_message_after_the_idle_time_opens_a_new_session_and_closes_the_old_one(world: World) -> None:
    # Given one message answered at T0
    world.handle(meta("text"))
    # When the next comes 31 minutes later (the tenant's idle time is 30)
    later = T0 + 31 * 60
    world.clock.set(later + 10)
    world.handle(text("Vocês aceitam Pix?", at=later, n=2), attempt(sqs=OTHER_SQS))
    # Then the first session is closed as idle when its last message was, and a new one is open
    assert world.sessions() == [
        Session(T0, T0, 1, 1, {USAGE_KEY: CALL_USAGE}, outcome=SessionOutcome.IDLE, ended_at=T0),
        Session(later, later, 1, 1, {USAGE_KEY: CALL_USAGE}),
    ]


def test_messages_within_the_idle_time_share_a_session_with_their_usage_summed(world: World) -> None:
    # Given two answers 29 minutes apart; Then one session counts both, with their usage and cost summed
    world.handle(meta("text"))
    later = T0 + 29 * 60
    world.clock.set(later + 10)
    world.handle(text("Vocês aceitam Pix?", at=later, n=2), attempt(sqs=OTHER_SQS))
    assert world.sessions() == [Session(T0, later, 2, 2, {USAGE_KEY: ModelUsage(2400, 0, 160, Decimal("0.006566"), 2)})]


def test_the_cost_of_a_gpt_4_1_mini_call_is_recorded_on_the_inbound_item(world: World) -> None:
    # Given the shipped price table's gpt-4.1-mini price and dollar rate on 2025-11-21
    shipped = PriceTable.shipped().cost_brl("openai", "gpt-4.1-mini", Usage(input_tokens=1200, output_tokens=80), date(2025, 11, 21))
    # When a message is answered with 1,200 prompt and 80 answer tokens
    message = meta("text")
    world.handle(message)
    # Then the inbound item carries the call's usage and its cost in BRL
    inbound = world.inbound(message)
    assert (shipped, Decimal(str(inbound["cost_brl"]))) == (CALL_COST_BRL, CALL_COST_BRL)
    assert inbound["llm"] == {USAGE_KEY: {"in": 1200, "cached": 0, "out": 80, "cost_brl": float(CALL_COST_BRL), "calls": 1}}


# --- statuses -------------------------------------------------------------------------------------------


def _answered(world: World) -> str:
    world.handle(meta("text"))
    sent = world.messenger.sends[0].message_id
    assert sent is not None
    return sent


def test_a_delivery_status_is_recorded_on_the_outbound_message(world: World) -> None:
    # Given a reply sent; When Meta says delivered; Then the outbound item moves to rank 2
    sent = _answered(world)
    outcome = world.handle(status("status_delivered", sent), attempt(sqs=STATUS_SQS))
    assert (outcome, [(o["status"], o["status_rank"]) for o in world.outbound()]) == ("status_recorded", [("delivered", 2)])


def test_a_late_lower_status_never_overwrites_a_higher_one(world: World) -> None:
    # Given "read" recorded, then Meta's "sent" arriving late
    sent = _answered(world)
    world.handle(status("status_read", sent), attempt(sqs=STATUS_SQS))
    outcome = world.handle(status("status_sent", sent), attempt(sqs=OTHER_SQS))
    # Then the stale status is ignored
    assert (outcome, [o["status"] for o in world.outbound()]) == ("status_ignored", ["read"])


def test_a_failed_status_records_its_error_code(world: World) -> None:
    # Given a reply sent; When Meta says it failed (131047); Then the code is on the outbound item
    sent = _answered(world)
    assert world.handle(status("status_failed_131047", sent), attempt(sqs=STATUS_SQS)) == "status_recorded"
    assert [(o["status"], o["error_code"]) for o in world.outbound()] == [("failed", 131047)]


def test_a_status_for_a_message_atende_did_not_send_is_ignored(world: World) -> None:
    # Given a status for a message that is not ours (no callback data); Then it is ignored
    assert world.handle(status("status_delivered", "wamid.OUTBOUND"), attempt(sqs=STATUS_SQS)) == "status_ignored"


# --- bugs found: resumed replies --------------------------------------------------------------------------


def _resumed_after_a_transient_send_failure(world: World, message: InboundMessage) -> str:
    world.messenger.fail_next(ProviderUnavailable("Graph API 503", http_status=503))
    with pytest.raises(ProviderUnavailable):
        world.handle(message)
    return world.handle(message, attempt(2))


def test_a_reply_resumed_after_a_failed_send_is_remembered(world: World) -> None:
    # Given the reply's send failed once (Graph 503) and the retry sent the checkpointed reply
    message = meta("text")
    assert _resumed_after_a_transient_send_failure(world, message) == "replied"
    # Then memory holds the exchange, as for a reply sent at the first attempt
    assert world.profile().memory == answered_once(world, message)


def test_a_burst_answer_resumed_after_a_failed_send_clears_the_pending_turns(world: World) -> None:
    first, second, followers = _burst_batch()
    world.handle(first, attempt(later=followers[FIRST_SQS]))
    world.messenger.fail_next(ProviderUnavailable("Graph API 503", http_status=503))
    with pytest.raises(ProviderUnavailable):
        world.handle(second, attempt(sqs=OTHER_SQS))
    world.handle(second, attempt(2, sqs=OTHER_SQS))
    # Then "Oi, bom dia!" is not read again with the customer's next message
    assert world.profile().pending == ()


def test_a_resolved_conversation_answered_by_a_resumed_reply_goes_back_to_the_bot(world: World) -> None:
    # Given a resolved conversation whose answer went out on the retry; Then it is the bot's again
    world.store.set_conversation(TENANT_ID, CONTACT_ID, Conversation(ConversationState.RESOLVED, changed_at=T0 - 3600))
    assert _resumed_after_a_transient_send_failure(world, meta("text")) == "replied"
    assert world.profile().conversation.state is ConversationState.BOT


def test_a_media_reply_resumed_after_a_failed_send_keeps_what_the_file_said() -> None:
    # Given a voice note read and answered, whose send failed once
    world, voice = _media_world(TRANSCRIBED)
    assert _resumed_after_a_transient_send_failure(world, voice) == "replied"
    # Then its inbound item still says where the file is and what it said
    inbound = world.inbound(voice)
    assert (inbound.get("media_key"), inbound.get("understood")) == (VOICE_NOTE.key, TRANSCRIBED.turn)


def test_a_provider_transcript_is_echoed_when_the_tenant_wants_echoes() -> None:
    # Given an Evolution transcript and a tenant echoing transcripts; Then the echo leads the answer
    voice = evolution("audio_speech_to_text_data")
    tenant = replace(TENANT, media=MediaSettings(transcript_echo=True))
    world = World(tenant, media=FakeMediaReader(), now=voice.timestamp + 10)
    world.handle(voice)
    assert world.messenger.texts[0] == bot_text("transcript_echo", transcript="Vocês fazem bolo sem lactose?")


def test_fixture_payloads_round_trip_through_the_queue_body() -> None:
    # The bodies the tests queue are what the webhook queues: the envelope parses back to the message
    message = meta("text")
    assert json.loads(message.to_json())["message"]["provider_message_id"] == message.provider_message_id


# --- bugs found: gates re-run over a half-sent reply ----------------------------------------------------


def _first_part_sent(world: World, message: InboundMessage) -> str:
    """The first delivery: a two-part answer whose second part failed (Graph 503). Returns part 0's id."""
    first, second = _two_part_answer()
    world.chat.answer(f"{first}\n\n{second}")
    world.messenger.fail_next(ProviderUnavailable("Graph API 503", http_status=503), after=1)
    with pytest.raises(ProviderUnavailable):
        world.handle(message)
    sent = world.messenger.sends[0].message_id
    assert sent is not None
    return sent


def test_a_part_already_sent_is_recorded_when_a_human_takes_over_before_the_retry(world: World) -> None:
    # Given the first half of an answer went out, then an attendant took the conversation
    message = meta("text")
    sent = _first_part_sent(world, message)
    world.store.set_conversation(TENANT_ID, CONTACT_ID, Conversation(ConversationState.ASSIGNED, assignee="ana", changed_at=NOW))
    # When SQS retries
    outcome = world.handle(message, attempt(2))
    # Then the bot stops, but what the customer did receive is on record
    assert (outcome, world.inbound(message)["replied_with"], [o["SK"] for o in world.outbound()]) == ("human", [sent], [f"MSG#OUT#{sent}"])


def test_a_retry_across_closing_time_does_not_relabel_a_sent_answer_as_the_out_of_hours_notice() -> None:
    # Given a bakery closing at 18:00 that sends the out-of-hours notice; at 17:59:50 half an answer went out
    tenant = replace(TENANT, hours=BusinessHours.from_item(OPENING_HOURS), out_of_hours="notice")
    closing = T0 + 10 * 3600  # 18:00 in São Paulo
    message = text("Até que horas vocês ficam abertos hoje?", at=closing - 20, n=1)
    world = World(tenant, now=closing - 10)
    sent = _first_part_sent(world, message)
    # When SQS retries after closing time
    world.clock.set(closing + 20)
    world.handle(message, attempt(2))
    # Then the answer decided while open is finished, each outbound record holding what the
    # customer received (never relabelled as the out-of-hours notice)
    first, second = _two_part_answer()
    records = sorted((o["SK"], o["text"], o["kind"]) for o in world.outbound())
    assert (f"MSG#OUT#{sent}", first, "reply") in records and [r[1:] for r in records if r[0] != f"MSG#OUT#{sent}"] == [(second, "reply")]


def test_burst_neighbours_are_the_earlier_and_later_answerable_messages_of_each_group() -> None:
    # Given two messages of Mariana's and one of João's in a batch
    first, second, _ = _burst_batch()
    joao = meta("text", contact=replace(first.contact, contact_id="c:553188887766", wa_id="553188887766"), timestamp=T0 + 1)
    records = [("r1", first.group_id, first.to_json()), ("r2", joao.group_id, joao.to_json()), ("r3", first.group_id, second.to_json())]
    # Then each record knows its own conversation's earlier and later timestamps, and no other's
    assert burst_neighbours(records) == {"r1": ((), (T0 + 2,)), "r2": ((), ()), "r3": ((T0,), ())}
