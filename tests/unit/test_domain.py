"""Pure domain rules: reply splitting, memory, the 24-hour window, pseudonyms, texts, tenants, statuses."""

from __future__ import annotations

import re

import pytest

from atende.domain.conversation import Turn, remember, split_text, within_service_window
from atende.domain.messages import DeliveryStatus
from atende.domain.privacy import pseudonymous_contact_id
from atende.domain.tenants import Tenant
from atende.domain.texts import bot_text

# --- split_text ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "limit", "parts"),
    [
        # paragraph beats a later sentence break that also fits
        ("Pão de queijo: R$ 5.\n\nBolo: R$ 30. Torta: R$ 45.", 40, ["Pão de queijo: R$ 5.", "Bolo: R$ 30. Torta: R$ 45."]),
        # line beats sentence
        ("Cardápio de domingo:\nPão. Sonho. Croissant. Broa.", 40, ["Cardápio de domingo:", "Pão. Sonho. Croissant. Broa."]),
        # sentence beats a later word break
        ("Abrimos todo dia às 7h. Até mais tarde.", 30, ["Abrimos todo dia às 7h.", "Até mais tarde."]),
        # word beats a mid-word cut
        ("Croissant de chocolate quentinho", 20, ["Croissant de", "chocolate quentinho"]),
        # a boundary in the first half is skipped rather than sending a tiny fragment
        ("Oi.\n\nEste parágrafo é bem mais longo que o limite", 30, ["Oi.\n\nEste parágrafo é bem mais", "longo que o limite"]),
        ("  Pode deixar!  ", 4096, ["Pode deixar!"]),
        ("", 4096, []),
        (" \n\n\t ", 4096, []),
    ],
    ids=["paragraph", "line", "sentence", "word", "no-tiny-fragment", "short-trimmed", "empty", "blank"],
)
def test_split_text_prefers_the_widest_boundary(text: str, limit: int, parts: list[str]) -> None:
    # Given a reply and a limit / When / Then
    assert split_text(text, limit) == parts


def test_a_single_5000_char_word_is_hard_cut() -> None:
    # Given a "word" longer than Meta's 4096-character limit (e.g. a pasted URL or base64 blob)
    word = "ab" * 2500

    # When
    parts = split_text(word)

    # Then it is cut exactly at the limit and nothing is lost
    assert [len(p) for p in parts] == [4096, 904]
    assert "".join(parts) == word


def test_long_answer_splits_on_paragraphs_within_meta_limit() -> None:
    # Given an LLM answer of three ~2.5k-character paragraphs
    paragraphs = [(f"Parágrafo {n}: nossos pães saem do forno às 7h e às 16h. " * 45).strip() for n in (1, 2, 3)]
    assert all(2048 <= len(p) <= 4096 for p in paragraphs)

    # When
    parts = split_text("\n\n".join(paragraphs))

    # Then each paragraph becomes one message
    assert parts == paragraphs


def test_split_text_rejects_a_non_positive_limit() -> None:
    with pytest.raises(ValueError, match=r"^limit must be positive$"):
        split_text("Oi", 0)


# --- remember --------------------------------------------------------------------------------


def test_remember_keeps_the_newest_turns() -> None:
    # Given three remembered turns and a new exchange
    memory = [Turn("user", "Oi", 1), Turn("assistant", "Olá!", 2), Turn("user", "Tem sonho?", 3)]
    new = [Turn("assistant", "Tem sim!", 4), Turn("user", "Reserva dois?", 5)]

    # When memory is bounded to 4 turns
    kept = remember(memory, new, 4)

    # Then the oldest turn is dropped
    assert kept == [
        Turn("assistant", "Olá!", 2),
        Turn("user", "Tem sonho?", 3),
        Turn("assistant", "Tem sim!", 4),
        Turn("user", "Reserva dois?", 5),
    ]


def test_remember_truncates_each_new_turn_to_2000_chars() -> None:
    # Given a 2500-character message
    long_text = "ç" * 2500

    # When
    kept = remember([], [Turn("user", long_text, 10), Turn("assistant", "Ok", 11)], 12)

    # Then
    assert kept == [Turn("user", "ç" * 2000, 10), Turn("assistant", "Ok", 11)]


def test_turn_item_round_trip() -> None:
    turn = Turn("assistant", "Abrimos às 7h.", 1763722805)
    assert turn.to_item() == {"r": "assistant", "t": "Abrimos às 7h.", "at": 1763722805}
    assert Turn.from_item(turn.to_item()) == turn


# --- 24-hour service window -------------------------------------------------------------------

NOW = 1763722800


@pytest.mark.parametrize(
    ("last_inbound_at", "inside"),
    [(None, False), (NOW, True), (NOW - 86_399, True), (NOW - 86_400, False), (NOW - 200_000, False)],
    ids=["never", "just-now", "one-second-left", "exactly-24h", "days-ago"],
)
def test_within_service_window(last_inbound_at: int | None, inside: bool) -> None:
    assert within_service_window(last_inbound_at, NOW) is inside


# --- pseudonymous ids ----------------------------------------------------------------------------

KEY = b"chave-pseudonimo-de-teste-0123456789"
PHONE = "5511987654321"


def test_pseudonym_is_stable_across_releases() -> None:
    # Given the same key and sender / When / Then: the exact id stored in every key so far
    # (changing the derivation would orphan every existing conversation).
    assert pseudonymous_contact_id(KEY, PHONE) == "c_uthis3lcxixs266xrblw3zq7vb"
    assert pseudonymous_contact_id(KEY, PHONE) == pseudonymous_contact_id(KEY, PHONE)


def test_pseudonym_differs_per_key_and_sender() -> None:
    ids = {
        pseudonymous_contact_id(KEY, PHONE),
        pseudonymous_contact_id(b"outra-chave", PHONE),
        pseudonymous_contact_id(KEY, "BR.1029384756102938"),
        pseudonymous_contact_id(KEY, "553188887766"),
    }
    assert len(ids) == 4


@pytest.mark.parametrize("sender", [PHONE, "553188887766", "BR.1029384756102938"])
def test_pseudonym_format_reveals_nothing(sender: str) -> None:
    # When
    contact_id = pseudonymous_contact_id(KEY, sender)

    # Then "c_" + 26 lowercase base32 chars, with no 4-digit run of the sender id in it
    assert re.fullmatch(r"c_[a-z2-7]{26}", contact_id)
    digits = re.sub(r"\D", "", sender)
    assert not any(digits[i : i + 4] in contact_id for i in range(len(digits) - 3))


def test_pseudonym_refuses_an_empty_key() -> None:
    with pytest.raises(ValueError, match=r"^pseudonym key must not be empty$"):
        pseudonymous_contact_id(b"", PHONE)


# --- bot texts ---------------------------------------------------------------------------------

APOLOGY_PT = "Desculpe, tive um problema para responder agora. 🙏 Já registramos o ocorrido; por favor, tente de novo em alguns minutos."


@pytest.mark.parametrize(
    ("args", "text"),
    [
        (("apology",), APOLOGY_PT),
        (("apology", "pt-BR"), APOLOGY_PT),
        (("apology", "en"), "Sorry, I had a problem answering just now. 🙏 Please try again in a few minutes."),
        (("apology", "es"), APOLOGY_PT),
        (("apology", "en", {"apology": "Ops! Já volto. 🥐"}), "Ops! Já volto. 🥐"),
        (("apology", "pt-BR", {"unsupported_type": "Só leio texto."}), APOLOGY_PT),
        (
            ("unsupported_type",),
            "Recebi sua mensagem, mas ainda não consigo entender esse tipo de conteúdo. Pode me escrever em texto, por favor?",
        ),
    ],
    ids=["default", "pt-BR", "en", "unknown-language", "override-wins", "override-other-key", "unsupported"],
)
def test_bot_text(args: tuple, text: str) -> None:
    assert bot_text(*args) == text


# --- tenants -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"tenant_id": "Padaria"}, "tenant_id must be 2-63 chars of a-z, 0-9 and '-'"),
        ({"tenant_id": "p"}, "tenant_id must be 2-63 chars of a-z, 0-9 and '-'"),
        ({"tenant_id": "-padaria"}, "tenant_id must be 2-63 chars of a-z, 0-9 and '-'"),
        ({"tenant_id": "padaria_pao"}, "tenant_id must be 2-63 chars of a-z, 0-9 and '-'"),
        ({"tenant_id": "padaria#1"}, "tenant_id must be 2-63 chars of a-z, 0-9 and '-'"),
        ({"tenant_id": "p" * 64}, "tenant_id must be 2-63 chars of a-z, 0-9 and '-'"),
        ({"llm_provider": "anthropic"}, "llm_provider must be one of ['auto', 'gemini', 'local', 'openai']"),
        ({"memory_turns": 1}, "memory_turns must be between 2 and 50"),
        ({"memory_turns": 51}, "memory_turns must be between 2 and 50"),
        ({"retention_days": 7}, "retention_days must be at least 8"),
    ],
    ids=["uppercase", "too-short", "leading-dash", "underscore", "hash", "too-long", "provider", "turns-1", "turns-51", "retention-7"],
)
def test_invalid_tenant_is_refused(fields: dict, message: str) -> None:
    # Given a valid tenant with one field made invalid / When / Then
    with pytest.raises(ValueError) as caught:
        Tenant(**{"tenant_id": "padaria-pao-quente", "name": "Padaria Pão Quente", **fields})
    assert str(caught.value) == message


def test_tenant_id_with_trailing_newline_is_refused() -> None:
    with pytest.raises(ValueError):
        Tenant(tenant_id="padaria-pao-quente\n", name="Padaria Pão Quente")


@pytest.mark.parametrize(
    "fields",
    [
        {"tenant_id": "pq"},
        {"tenant_id": "p" * 63},
        {"tenant_id": "9-padaria"},
        {"memory_turns": 2},
        {"memory_turns": 50},
        {"retention_days": 8},
        {"llm_provider": "gemini"},
    ],
    ids=["id-2-chars", "id-63-chars", "id-leading-digit", "turns-2", "turns-50", "retention-8", "gemini"],
)
def test_boundary_tenant_is_accepted(fields: dict) -> None:
    # Given boundary values / When
    tenant = Tenant(**{"tenant_id": "padaria-pao-quente", "name": "Padaria Pão Quente", **fields})

    # Then they are kept as given
    assert {key: getattr(tenant, key) for key in fields} == fields


def test_system_prompt_names_the_business() -> None:
    tenant = Tenant(tenant_id="padaria-pao-quente", name="Padaria Pão Quente", system_prompt="Você atende a {business_name}.")
    assert tenant.render_system_prompt() == "Você atende a Padaria Pão Quente."


# --- delivery status ranking --------------------------------------------------------------------


def test_delivery_status_rank_orders_progress() -> None:
    # Given every status, shuffled / When sorted by rank / Then progress order, failed last
    shuffled = [
        DeliveryStatus.READ,
        DeliveryStatus.FAILED,
        DeliveryStatus.SENT,
        DeliveryStatus.UNKNOWN,
        DeliveryStatus.PLAYED,
        DeliveryStatus.DELIVERED,
    ]
    assert sorted(shuffled, key=lambda s: s.rank) == [
        DeliveryStatus.UNKNOWN,
        DeliveryStatus.SENT,
        DeliveryStatus.DELIVERED,
        DeliveryStatus.READ,
        DeliveryStatus.PLAYED,
        DeliveryStatus.FAILED,
    ]
    assert [s.rank for s in DeliveryStatus] == [1, 2, 3, 4, 5, 0]


def test_unknown_delivery_status_value_maps_to_unknown() -> None:
    assert DeliveryStatus("deleted") is DeliveryStatus.UNKNOWN


# --- bounded messages and batches ---------------------------------------------------------


def _message(**fields):
    from atende.domain.messages import ContactRef, InboundMessage, MessageType, Provider

    base = {
        "tenant_id": None,
        "channel_id": "evolution:padaria-evolution",
        "provider": Provider.EVOLUTION,
        "provider_message_id": "3EB0A1B2C3D4E5F6A7B8",
        "contact": ContactRef(contact_id="c_x", wa_id="5511987654321"),
        "timestamp": 1_763_726_400,
        "type": MessageType.TEXT,
    }
    return InboundMessage(**{**base, **fields})


def test_an_ordinary_message_is_kept_as_is():
    message = _message(text="Vocês abrem no domingo?")
    assert message.bounded() is message


def test_oversized_text_and_contact_lists_are_truncated_and_flagged():
    from atende.domain.messages import MAX_LIST_ITEMS, MAX_TEXT_CHARS, MessageType, parse_envelope

    cards = [{"name": f"Cliente {i}" * 100, "phones": ["+55 11 98888-7777"] * 50} for i in range(5000)]
    long_text = _message(text="🥐" * 65_536).bounded()
    assert long_text.text == "🥐" * MAX_TEXT_CHARS and long_text.extra == {"truncated": True}
    shared = _message(type=MessageType.CONTACTS, extra={"contacts": cards}).bounded()
    assert len(shared.extra["contacts"]) == MAX_LIST_ITEMS
    assert all(len(c["phones"]) == MAX_LIST_ITEMS and len(c["name"]) == 500 for c in shared.extra["contacts"])
    assert shared.extra["truncated"] is True
    for message in (long_text, shared):  # what is queued stays under SQS's 256 KiB, and round-trips
        body = message.to_json()
        assert len(body.encode()) < 200 * 1024
        assert parse_envelope(body) == message


def test_queue_batches_respect_ten_entries_and_256_kib_of_bodies():
    from atende.store.queue import SQS_BATCH_BYTES, QueueItem, _batches

    small = [QueueItem("x" * 1000, "g", str(i)) for i in range(25)]
    assert [len(b) for b in _batches(small)] == [10, 10, 5]
    big = [QueueItem("x" * 100_000, "g", str(i)) for i in range(5)]
    batches = _batches(big)
    assert [len(b) for b in batches] == [2, 2, 1]
    assert all(sum(len(i.body) for i in b) <= SQS_BATCH_BYTES for b in batches)
    assert _batches([]) == []


def test_the_replay_prefix_is_not_a_tenant_id():
    with pytest.raises(ValueError, match="reserved"):
        Tenant(tenant_id="replay", name="Replay Ltda")
