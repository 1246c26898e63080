"""How a trial is judged, and τ-bench's pass^k over trials.

A trial's outcome is its ``FinalState`` (what the business data and the conversation look like
after the last customer message, and every text the assistant sent); ``score`` compares it with
the task's ``Expected``. Facts are matched on normalised text: accents and case folded, all
whitespace removed, so "R$ 189,90", "r$189,90" and "*R$ 189,90*" are the same fact.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from math import comb

# One fact the assistant must have said: a text, or a tuple of alternatives (any one will do).
Fact = str | tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Expected:
    """The task's success criteria.

    ``orders``: the orders this contact must have *created* during the trial, each as
    {product_id: quantity} (exactly these, no more; () = no order may be created).
    ``tickets``: the priorities of the tickets this contact must have opened ("low", "normal",
    "high"), exactly these. ``conversation``: the conversation state at the end ("bot" = the
    assistant still answers, "queued" = handed to a person). ``must_say``: facts that must appear
    in the assistant's texts; ``must_not_say``: texts that must not (another customer's data).
    Nobody else's orders or tickets may change.
    """

    orders: tuple[Mapping[str, int], ...] = ()
    tickets: tuple[str, ...] = ()
    conversation: str = "bot"
    must_say: tuple[Fact, ...] = ()
    must_not_say: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class FinalState:
    """What a trial left behind (``harness.capture`` reads it from the in-memory ports)."""

    orders: tuple[Mapping[str, int], ...]  # orders created for this contact during the trial
    tickets: tuple[str, ...]  # priorities of the tickets this contact opened
    conversation: str  # the conversation state: bot, queued, assigned, resolved
    texts: tuple[str, ...]  # every text the assistant sent, in order
    other_orders: int = 0  # orders created during the trial for any other contact
    other_tickets: int = 0  # tickets opened during the trial for any other contact


@dataclass(frozen=True, slots=True)
class Score:
    success: bool
    failures: tuple[str, ...] = field(default=())  # one line per criterion missed, "kind: detail"


def normalise(text: str) -> str:
    """Accents off, case folded, whitespace gone: how facts are compared."""
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return "".join(plain.casefold().split())


def said(fact: Fact, texts: Iterable[str]) -> bool:
    corpus = normalise("\n".join(texts))
    alternatives = (fact,) if isinstance(fact, str) else fact
    return any(normalise(option) in corpus for option in alternatives)


def _order_key(order: Mapping[str, int]) -> tuple[tuple[str, int], ...]:
    return tuple(sorted((str(p), int(q)) for p, q in order.items()))


def _orders_text(orders: Sequence[Mapping[str, int]]) -> str:
    if not orders:
        return "none"
    return "; ".join(", ".join(f"{q}× {p}" for p, q in _order_key(o)) for o in orders)


def score(expected: Expected, state: FinalState) -> Score:
    """Success = every criterion met. Failures name each one missed (all of them, not the first)."""
    failures: list[str] = []
    if sorted(map(_order_key, state.orders)) != sorted(map(_order_key, expected.orders)):
        failures.append(f"orders: expected {_orders_text(expected.orders)}, got {_orders_text(state.orders)}")
    if sorted(state.tickets) != sorted(expected.tickets):
        failures.append(f"tickets: expected {list(expected.tickets) or 'none'}, got {list(state.tickets) or 'none'}")
    if state.conversation != expected.conversation:
        failures.append(f"conversation: expected {expected.conversation}, got {state.conversation}")
    if state.other_orders or state.other_tickets:
        failures.append(f"other contact: {state.other_orders} order(s) and {state.other_tickets} ticket(s) created for someone else")
    for fact in expected.must_say:
        if not said(fact, state.texts):
            shown = fact if isinstance(fact, str) else " | ".join(fact)
            failures.append(f"must_say: never said {shown!r}")
    for text in expected.must_not_say:
        if said(text, state.texts):
            failures.append(f"must_not_say: said {text!r}")
    return Score(not failures, tuple(failures))


# --- pass^k ----------------------------------------------------------------------------------------


def pass_hat_k(trials: int, successes: int, k: int) -> float:
    """τ-bench's unbiased estimate of the chance that k i.i.d. trials of a task all succeed,
    from ``successes`` out of ``trials``: C(c, k) / C(n, k). Needs k ≤ n."""
    if not 0 <= successes <= trials:
        raise ValueError(f"successes must be between 0 and trials ({trials}), not {successes}")
    if not 1 <= k <= trials:
        raise ValueError(f"k must be between 1 and the number of trials ({trials}), not {k}")
    return comb(successes, k) / comb(trials, k)


def pass_hat(per_task: Mapping[str, tuple[int, int]], k: int) -> dict[int, float]:
    """pass^1..pass^k averaged over tasks; ``per_task`` maps a task to (trials, successes)."""
    if not per_task:
        return {}
    return {j: sum(pass_hat_k(n, c, j) for n, c in per_task.values()) / len(per_task) for j in range(1, k + 1)}
