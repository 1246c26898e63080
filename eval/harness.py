"""One trial: the real reply pipeline on in-memory ports, a simulated customer, the final state.

The world is ``tests.unit.test_agent_turns.AgentWorld``'s idea: the real ``ReplyService`` wired
on the in-memory fakes of its ports (conversations, messenger, directory, clock) and of the tools'
business data, seeded with the task's catalogue, orders and last bill. Each customer message is a
Meta text ``InboundMessage`` queued as the webhook queues it and handled as SQS would deliver it
(a transient failure is delivered again, at most ``MAX_DELIVERIES`` times; the last delivery
apologises instead of failing, as in production). The clock moves ``TURN_SECONDS`` per message,
and the tenants have no burst pause, so no message is ever held.

The customer is a ``Customer``: ``LlmCustomer`` plays the task's instructions with a chat model
(one WhatsApp message per call, ``END`` when done); ``ScriptedCustomer`` replays fixed messages.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol

from atende.domain.catalogue import OrderLine, OrderStatus
from atende.domain.messages import ContactRef, InboundMessage, MessageType, Provider
from atende.domain.tenants import Channel
from atende.errors import AtendeError, LlmAuthError
from atende.observability import metrics
from atende.service.replies import Attempt
from atende.store.keys import PROFILE_SK, contact_pk, inbound_sk
from atende.tools.registry import ToolDeps
from eval.scoring import FinalState, Score, score
from eval.tasks import CUSTOMER, Task
from tests.fakes_business import InMemoryBusinessData
from tests.fakes_ports import FakeDirectory, FakeMessenger, FixedClock, InMemoryConversations, wire_reply_service

if TYPE_CHECKING:
    from atende.llm import ToolCallingModel

END = "###FIM###"
MAX_TURNS = 10  # customer messages per trial
TURN_SECONDS = 45  # the clock between two customer messages
MAX_DELIVERIES = 3  # SQS deliveries of one message (the last one apologises rather than fails)
CUSTOMER_MAX_TOKENS = 300
DAY = 86_400
# How a seeded order got to its status (each step a few hours after the last).
_STATUS_PATH = {
    OrderStatus.RECEIVED: (),
    OrderStatus.CONFIRMED: (OrderStatus.CONFIRMED,),
    OrderStatus.PREPARING: (OrderStatus.CONFIRMED, OrderStatus.PREPARING),
    OrderStatus.READY: (OrderStatus.CONFIRMED, OrderStatus.PREPARING, OrderStatus.READY),
    OrderStatus.SHIPPED: (OrderStatus.CONFIRMED, OrderStatus.PREPARING, OrderStatus.SHIPPED),
    OrderStatus.DELIVERED: (OrderStatus.CONFIRMED, OrderStatus.PREPARING, OrderStatus.SHIPPED, OrderStatus.DELIVERED),
    OrderStatus.CANCELLED: (OrderStatus.CANCELLED,),
}
_CHANNEL_NUMBERS = {"pet": "100000000000101", "optical": "100000000000102", "solar": "100000000000103"}


# --- the customer ------------------------------------------------------------------------------


@dataclass
class CustomerUsage:
    input_tokens: int = 0
    cached_input_tokens: int = 0
    output_tokens: int = 0
    calls: int = 0


class Customer(Protocol):
    usage: CustomerUsage

    def next_message(self, shop: Sequence[str]) -> str:
        """The customer's next WhatsApp message, having read ``shop`` (what the business sent since
        the customer's last message; empty before the first). Contains ``END`` when done."""
        ...


@dataclass
class ScriptedCustomer:
    """Fixed messages, then ``END``; keeps what it was shown (tests, smoke runs)."""

    messages: Sequence[str]
    seen: list[list[str]] = field(default_factory=list)
    usage: CustomerUsage = field(default_factory=CustomerUsage)

    def next_message(self, shop: Sequence[str]) -> str:
        self.seen.append(list(shop))
        index = len(self.seen) - 1
        return self.messages[index] if index < len(self.messages) else END


CUSTOMER_PROMPT = (
    "Você está fazendo o papel de um CLIENTE que conversa pelo WhatsApp com o atendimento da empresa “{business}”. "
    "Quem responde é o assistente da empresa; você é só o cliente.\n\n"
    "{instructions}\n\n"
    "Regras:\n"
    "- Escreva uma mensagem de WhatsApp por vez: curta e natural, em português do Brasil, no jeito da pessoa descrita.\n"
    "- Conte o que precisa aos poucos, como um cliente de verdade, respondendo ao que o atendente perguntar.\n"
    "- Use só as informações acima; se perguntarem algo que você não sabe, diga que não sabe. Nunca invente números ou dados.\n"
    "- Não mude de objetivo e não peça nada além dele.\n"
    f"- Quando o seu objetivo estiver cumprido, quando ficar claro que não vai ser, ou quando disserem que uma pessoa "
    f"da equipe vai assumir a conversa, escreva {END} (pode vir depois de um agradecimento curto).\n"
    "- Nunca diga que é uma simulação nem repita estas instruções."
)
KICKOFF = "[A conversa começa agora. Escreva a sua primeira mensagem para a empresa.]"
NO_ANSWER = "[A empresa não respondeu.]"


class LlmCustomer:
    """The simulated customer: a chat completion playing the task's instructions (OpenAI SDK)."""

    def __init__(self, client: Any, model: str, business: str, instructions: str) -> None:
        self._client = client
        self.model = model
        self.usage = CustomerUsage()
        system = CUSTOMER_PROMPT.format(business=business, instructions=instructions)
        self._messages: list[dict[str, str]] = [{"role": "system", "content": system}]

    def next_message(self, shop: Sequence[str]) -> str:
        from atende.errors import LlmUnavailable
        from atende.llm.openai import openai_errors

        first = len(self._messages) == 1
        self._messages.append({"role": "user", "content": KICKOFF if first else "\n\n".join(shop) or NO_ANSWER})
        with openai_errors():
            response = self._client.chat.completions.create(
                model=self.model, messages=self._messages, max_completion_tokens=CUSTOMER_MAX_TOKENS
            )
        choice = response.choices[0] if response.choices else None
        text = (choice.message.content or "").strip() if choice else ""
        usage = response.usage
        if usage is not None:
            details = usage.prompt_tokens_details
            self.usage.input_tokens += usage.prompt_tokens or 0
            self.usage.cached_input_tokens += (details.cached_tokens or 0) if details else 0
            self.usage.output_tokens += usage.completion_tokens or 0
        self.usage.calls += 1
        if not text:
            raise LlmUnavailable("the simulated customer returned an empty message")
        self._messages.append({"role": "assistant", "content": text})
        return text


def split_end(message: str) -> tuple[str, bool]:
    """(what to send, whether the customer is done): the text before ``END``, and whether it was there."""
    if END not in message:
        return message.strip(), False
    return message.split(END, 1)[0].strip(), True


# --- the world ---------------------------------------------------------------------------------


class _ModelFactory:
    """The service's ``model_for``: the same assistant model for every tenant."""

    def __init__(self, model: ToolCallingModel) -> None:
        self.model = model

    def for_tenant(self, tenant: Any) -> ToolCallingModel:
        return self.model


@dataclass(frozen=True, slots=True)
class AssistantUsage:
    input_tokens: int = 0
    cached_input_tokens: int = 0
    output_tokens: int = 0
    calls: int = 0
    cost_brl: Decimal = Decimal(0)

    def plus(self, other: AssistantUsage) -> AssistantUsage:
        return AssistantUsage(
            self.input_tokens + other.input_tokens,
            self.cached_input_tokens + other.cached_input_tokens,
            self.output_tokens + other.output_tokens,
            self.calls + other.calls,
            self.cost_brl + other.cost_brl,
        )


class World:
    """The task's business on in-memory ports, with the real ``ReplyService`` answering."""

    def __init__(self, task: Task, assistant: ToolCallingModel, *, start: float, label: str = "") -> None:
        business = task.business
        self.task = task
        self.tenant = business.tenant
        self.tenant_id = business.tenant.tenant_id
        self.channel = Channel(
            self.tenant_id, Provider.META, _CHANNEL_NUMBERS.get(business.key, "100000000000199"), display_phone_number="551140028922"
        )
        self.contact = ContactRef(f"c:{business.customer_wa_id}", wa_id=business.customer_wa_id, name=task.customer_name)
        self.other_contact_id = f"c:{business.other_wa_id}"
        self.store = InMemoryConversations()
        self.messenger = FakeMessenger()
        self.business = InMemoryBusinessData()
        self.clock = FixedClock(start)
        self.numbers = self._seed(task, int(start))
        self.service = wire_reply_service(
            directory=FakeDirectory(self.tenant, self.channel),
            store=self.store,
            messenger=self.messenger,
            chat=_ModelFactory(assistant),
            clock=self.clock,
            tools=ToolDeps(business=self.business, sessions=self.store.sessions),
        )
        self._label = label or task.task_id
        self._sent = 0

    def _seed(self, task: Task, now: int) -> dict[str, int]:
        business = task.business
        self.business.add_products(self.tenant_id, business.products)
        numbers: dict[str, int] = {}
        for seed in business.orders:
            owner = self.contact.contact_id if seed.owner == CUSTOMER else self.other_contact_id
            placed_at = now - seed.days_ago * DAY
            lines = [OrderLine(product_id, quantity) for product_id, quantity in seed.items]
            placement = self.business.create_order(self.tenant_id, owner, lines, idempotency_key=f"seed-{seed.key}", now=placed_at)
            number = placement.order.number
            for step, status in enumerate(_STATUS_PATH.get(seed.status, (seed.status,)), start=1):
                self.business.set_order_status(self.tenant_id, owner, number, status, now=min(now - 60, placed_at + step * 4 * 3600))
            numbers[seed.key] = number
        self.business.calls.clear()
        if task.last_bill is not None:
            pk = contact_pk(self.tenant_id, self.contact.contact_id)
            self.store.items[(pk, PROFILE_SK)] = {
                "PK": pk,
                "SK": PROFILE_SK,
                "entity": "profile",
                "contact_id": self.contact.contact_id,
                "version": 1,
                "last_bill": dict(task.last_bill),
            }
        return numbers

    def say(self, text: str) -> tuple[str, list[str]]:
        """The customer sends ``text``: (the pipeline's outcome, what the business sent back)."""
        self._sent += 1
        self.clock.advance(TURN_SECONDS)
        message = InboundMessage(
            tenant_id=None,
            channel_id=self.channel.channel_id,
            provider=Provider.META,
            provider_message_id=f"wamid.EVAL.{self._label}.{self._sent:03d}",
            contact=self.contact,
            timestamp=int(self.clock()) - 2,
            type=MessageType.TEXT,
            text=text,
        )
        before = len(self.messenger.texts)
        body = message.to_json()
        outcome = ""
        try:
            for receive in range(1, MAX_DELIVERIES + 1):
                try:
                    outcome = self.service.handle(body, Attempt(receive, MAX_DELIVERIES, sqs_message_id=f"sqs-{self._sent}"))
                    break
                except LlmAuthError:
                    raise
                except AtendeError as exc:
                    if not exc.is_transient or receive == MAX_DELIVERIES:
                        raise
                    self.clock.advance(5)
        finally:
            metrics.clear_metrics()  # the pipeline's counters are not this run's report
        return outcome, self.messenger.texts[before:]

    def orders_of_customer(self) -> int:
        return len(self.business.orders_by_contact.get((self.tenant_id, self.contact.contact_id), {}))

    def capture(self) -> FinalState:
        seeded = set(self.numbers.values())
        mine_key = (self.tenant_id, self.contact.contact_id)
        orders: list[dict[str, int]] = []
        other_orders = 0
        for key, placed in self.business.orders_by_contact.items():
            new = [placed[n] for n in sorted(placed) if n not in seeded]
            if key == mine_key:
                orders += [{item.product_id: item.quantity for item in order.items} for order in new]
            else:
                other_orders += len(new)
        tickets = self.business.tickets_by_contact.get(mine_key, {})
        other_tickets = sum(len(t) for key, t in self.business.tickets_by_contact.items() if key != mine_key)
        profile = self.store.profile(self.tenant_id, self.contact.contact_id)
        return FinalState(
            orders=tuple(orders),
            tickets=tuple(tickets[n].priority.value for n in sorted(tickets)),
            conversation=profile.conversation.state.value,
            texts=tuple(self.messenger.texts),
            other_orders=other_orders,
            other_tickets=other_tickets,
        )

    def assistant_usage(self) -> AssistantUsage:
        """Tokens and cost as the pipeline recorded them on the inbound items (the ``llm`` map)."""
        total = AssistantUsage()
        for item in self.store.contact_items(self.tenant_id, self.contact.contact_id):
            if not item["SK"].startswith(inbound_sk("")):
                continue
            for used in (item.get("llm") or {}).values():
                total = total.plus(
                    AssistantUsage(
                        int(used.get("in", 0)),
                        int(used.get("cached", 0)),
                        int(used.get("out", 0)),
                        int(used.get("calls", 0)),
                        Decimal(str(used.get("cost_brl", 0))),
                    )
                )
        return total


# --- a trial -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TurnRecord:
    customer: str
    shop: tuple[str, ...]
    outcome: str
    orders: int  # this contact's orders after the turn (seeded ones included)


@dataclass(frozen=True, slots=True)
class Trial:
    task_id: str
    trial: int
    score: Score
    end: str  # customer_done, max_turns, handed_off, error
    turns: tuple[TurnRecord, ...]
    state: FinalState
    assistant: AssistantUsage
    customer: CustomerUsage
    seconds: float
    error: str = ""

    @property
    def success(self) -> bool:
        return self.score.success

    def to_json(self) -> dict[str, Any]:
        return {
            "trial": self.trial,
            "success": self.success,
            "failures": list(self.score.failures),
            "end": self.end,
            "error": self.error or None,
            "seconds": round(self.seconds, 2),
            "turns": [{"customer": t.customer, "shop": list(t.shop), "outcome": t.outcome, "orders": t.orders} for t in self.turns],
            "final_state": {
                "orders": [dict(o) for o in self.state.orders],
                "tickets": list(self.state.tickets),
                "conversation": self.state.conversation,
                "other_orders": self.state.other_orders,
                "other_tickets": self.state.other_tickets,
            },
            "assistant_usage": {
                "input_tokens": self.assistant.input_tokens,
                "cached_input_tokens": self.assistant.cached_input_tokens,
                "output_tokens": self.assistant.output_tokens,
                "calls": self.assistant.calls,
                "cost_brl": str(self.assistant.cost_brl),
            },
            "customer_usage": {
                "input_tokens": self.customer.input_tokens,
                "cached_input_tokens": self.customer.cached_input_tokens,
                "output_tokens": self.customer.output_tokens,
                "calls": self.customer.calls,
            },
        }


def run_trial(
    task: Task,
    *,
    assistant: ToolCallingModel,
    customer: Callable[[str], Customer],
    trial: int = 1,
    start: float | None = None,
    max_turns: int = MAX_TURNS,
) -> Trial:
    """Play one conversation of ``task`` and score it. ``customer`` builds the customer from the
    rendered instructions (they name the order numbers this trial seeded).

    Raises ``LlmAuthError`` (a bad key fails every trial alike); any other failure ends the
    trial as an error, scored on the state it left."""
    started = time.perf_counter()
    world = World(task, assistant, start=time.time() if start is None else start, label=f"{task.task_id}.{trial}")
    player = customer(task.instructions.render(world.numbers))
    turns: list[TurnRecord] = []
    shop: list[str] = []
    end, error = "max_turns", ""
    try:
        for _ in range(max_turns):
            text, done = split_end(player.next_message(shop))
            if text:
                outcome, shop = world.say(text)
                turns.append(TurnRecord(text, tuple(shop), outcome, world.orders_of_customer()))
                if outcome == "human":
                    end = "handed_off"  # a person is in charge: the assistant stays silent from here on
                    break
            if done or not text:
                end = "customer_done"
                break
    except LlmAuthError:
        raise
    except Exception as exc:
        end, error = "error", f"{type(exc).__name__}: {str(exc)[:200]}"
    state = world.capture()
    verdict = score(task.expected, state)
    if error:
        verdict = Score(False, (f"error: {error}", *verdict.failures))
    return Trial(
        task.task_id,
        trial,
        verdict,
        end,
        tuple(turns),
        state,
        world.assistant_usage(),
        player.usage,
        time.perf_counter() - started,
        error,
    )
