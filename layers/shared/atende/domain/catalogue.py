"""A business's own data kept in Atende: its catalogue, its customers' orders and support tickets.

Pure rules, no I/O: what a product, an order and a ticket are, how an order is priced and checked
against the catalogue (``quote_order``), how money reads in pt-BR (``format_brl`` / ``parse_brl``)
and how a customer's words find products (``CatalogueIndex``). The store adapter
(``atende.store.business``) and the tools (``atende.tools.business``) build on these.

Money is ``Decimal`` in BRL, always at cent precision; items store whole cents (DynamoDB numbers
would come back as floats through ``store.dynamo.from_attrs``).
"""

from __future__ import annotations

import hashlib
import heapq
import math
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

from atende.errors import AtendeError

# --- limits -----------------------------------------------------------------------------------

# Product ids become part of DynamoDB sort keys: no '#', no spaces, bounded.
PRODUCT_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
MAX_NAME_CHARS = 200
MAX_DESCRIPTION_CHARS = 2_000
MAX_CATEGORY_CHARS = 80
MAX_PRICE = Decimal("1000000.00")  # per unit; a complete solar kit is ~R$ 30.000, beyond is a typo
MAX_STOCK = 10_000_000
MAX_QUANTITY = 50  # per product in one order, as the create_order tool tells the model
MAX_ORDER_LINES = 20  # distinct products per order (one DynamoDB transaction holds ≤ 100 items)
MAX_SUBJECT_CHARS = 120
MAX_TICKET_DESCRIPTION_CHARS = 2_000
CENT = Decimal("0.01")


# --- errors: business outcomes the model can explain ------------------------------------------


class OrderRejected(AtendeError):
    """An order the catalogue cannot fulfil as asked. ``code`` is what the tool reports."""

    code = "invalid_order"

    def __init__(self, message: str, *, product_id: str = "") -> None:
        super().__init__(message)
        self.product_id = product_id


class ProductUnavailable(OrderRejected):
    """No such product in this catalogue, or it is not for sale (inactive)."""

    code = "not_found"


class OutOfStock(OrderRejected):
    code = "out_of_stock"

    def __init__(self, message: str, *, product_id: str, name: str, available: int) -> None:
        super().__init__(message, product_id=product_id)
        self.name = name
        self.available = available


class InvalidQuantity(OrderRejected):
    code = "invalid_quantity"


class TooManyLines(OrderRejected):
    code = "too_many_items"


class EmptyOrder(OrderRejected):
    code = "empty_order"


class InvalidTicket(AtendeError):
    code = "invalid_ticket"


# --- money ------------------------------------------------------------------------------------


def to_cents(value: Decimal) -> int:
    return int((value * 100).to_integral_value(rounding=ROUND_HALF_UP))


def from_cents(cents: int) -> Decimal:
    return (Decimal(cents) / 100).quantize(CENT)


def format_brl(value: Decimal) -> str:
    """``Decimal("1234.5")`` → ``"R$ 1.234,50"`` (pt-BR: '.' groups thousands, ',' marks cents)."""
    amount = value.quantize(CENT, rounding=ROUND_HALF_UP)
    grouped = f"{abs(amount):,.2f}".translate(str.maketrans(",.", ".,"))
    return f"-R$ {grouped}" if amount < 0 else f"R$ {grouped}"


_MONEY_TEXT = re.compile(r"\d[\d.,]*")


def parse_brl(value: str | int | Decimal | float) -> Decimal:
    """A price as people write it in a spreadsheet: ``"R$ 189,90"``, ``"189.90"``, ``"1.234,50"``,
    ``"1,234.50"``, ``"189"``, or a number. Raises ``ValueError`` for anything else, for more than
    two decimals and for negative amounts.

    With both separators the last one marks the cents. With only one kind: followed by exactly
    three digits (``"1.234"``, ``"2,500"``) it groups thousands — no price has three decimals —,
    otherwise it marks the cents (``"189,9"``, ``"189.90"``).
    """
    if isinstance(value, bool):
        raise ValueError("not a price")
    if isinstance(value, (int, Decimal, float)):
        try:
            amount = Decimal(str(value))
        except InvalidOperation as exc:
            raise ValueError("not a price") from exc
        return _checked_amount(amount)
    text = value.replace("\u00a0", " ").strip()
    if text.upper().startswith("R$"):
        text = text[2:]
    text = text.replace(" ", "")
    if not text or not _MONEY_TEXT.fullmatch(text):
        raise ValueError("not a price")
    last_dot, last_comma = text.rfind("."), text.rfind(",")
    if last_dot >= 0 and last_comma >= 0:
        decimal_mark = "." if last_dot > last_comma else ","
        integer, _, cents = text.rpartition(decimal_mark)
        thousands = "," if decimal_mark == "." else "."
        if decimal_mark in integer or not _grouped(integer, thousands):
            raise ValueError("not a price")
        digits = integer.replace(thousands, "") + "." + cents
    elif last_dot >= 0 or last_comma >= 0:
        mark = "." if last_dot >= 0 else ","
        parts = text.split(mark)
        if len(parts) > 2 or len(parts[-1]) == 3:
            if not _grouped(text, mark):
                raise ValueError("not a price")
            digits = text.replace(mark, "")
        else:
            digits = parts[0] + "." + parts[1]
    else:
        digits = text
    if digits.startswith(".") or digits.endswith("."):
        raise ValueError("not a price")
    return _checked_amount(Decimal(digits))


def _grouped(text: str, separator: str) -> bool:
    """``1.234.567`` — groups of exactly three digits after the first."""
    groups = text.split(separator)
    return 1 <= len(groups[0]) <= 3 and all(len(g) == 3 and g.isdigit() for g in groups[1:]) and groups[0].isdigit()


def _checked_amount(amount: Decimal) -> Decimal:
    if not amount.is_finite() or amount < 0:
        raise ValueError("not a price")
    if amount > MAX_PRICE:
        raise ValueError(f"above {format_brl(MAX_PRICE)}")
    if amount != amount.quantize(CENT, rounding=ROUND_HALF_UP):
        raise ValueError("more than two decimals")
    return amount.quantize(CENT)


# --- products ---------------------------------------------------------------------------------


def valid_product_id(product_id: str) -> bool:
    return bool(PRODUCT_ID_PATTERN.fullmatch(product_id))


@dataclass(frozen=True, slots=True)
class Product:
    """One catalogue item. ``stock`` None = not tracked (always available: made to order, a service)."""

    product_id: str  # the business's SKU / code; unique in its catalogue
    name: str
    price: Decimal  # BRL per unit
    description: str = ""  # written by the business: data for the model, never instructions
    stock: int | None = None
    category: str = ""
    active: bool = True  # inactive products are never offered, found or sold

    def __post_init__(self) -> None:
        if not valid_product_id(self.product_id):
            raise ValueError("product_id: 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit")
        if not self.name.strip() or len(self.name) > MAX_NAME_CHARS:
            raise ValueError(f"name: 1-{MAX_NAME_CHARS} characters")
        if len(self.description) > MAX_DESCRIPTION_CHARS:
            raise ValueError(f"description: at most {MAX_DESCRIPTION_CHARS} characters")
        if len(self.category) > MAX_CATEGORY_CHARS:
            raise ValueError(f"category: at most {MAX_CATEGORY_CHARS} characters")
        object.__setattr__(self, "price", _checked_amount(self.price))
        if self.stock is not None and not 0 <= self.stock <= MAX_STOCK:
            raise ValueError(f"stock: 0-{MAX_STOCK}, or empty when not tracked")

    @property
    def tracks_stock(self) -> bool:
        return self.stock is not None

    def available(self, quantity: int = 1) -> bool:
        return self.active and (self.stock is None or self.stock >= quantity)

    def to_item(self) -> dict[str, Any]:
        item: dict[str, Any] = {
            "product_id": self.product_id,
            "name": self.name,
            "price_cents": to_cents(self.price),
            "active": self.active,
        }
        if self.description:
            item["description"] = self.description
        if self.category:
            item["category"] = self.category
        if self.stock is not None:
            item["stock"] = self.stock
        return item

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> Product:
        stock = item.get("stock")
        return cls(
            product_id=str(item["product_id"]),
            name=str(item["name"]),
            price=from_cents(int(item["price_cents"])),
            description=str(item.get("description") or ""),
            stock=None if stock is None else int(stock),
            category=str(item.get("category") or ""),
            active=bool(item.get("active", True)),
        )


# --- orders -----------------------------------------------------------------------------------


class OrderStatus(StrEnum):
    RECEIVED = "received"
    CONFIRMED = "confirmed"
    PREPARING = "preparing"
    READY = "ready"  # ready for pick-up
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    CANCELLED = "cancelled"
    UNKNOWN = "unknown"  # a status this version does not know (a newer writer's)

    @classmethod
    def _missing_(cls, value: object) -> OrderStatus:
        return cls.UNKNOWN

    @property
    def label(self) -> str:
        """What the customer reads (pt-BR)."""
        return _ORDER_STATUS_LABELS[self]


_ORDER_STATUS_LABELS = {
    OrderStatus.RECEIVED: "recebido",
    OrderStatus.CONFIRMED: "confirmado",
    OrderStatus.PREPARING: "em preparação",
    OrderStatus.READY: "pronto para retirada",
    OrderStatus.SHIPPED: "a caminho",
    OrderStatus.DELIVERED: "entregue",
    OrderStatus.CANCELLED: "cancelado",
    OrderStatus.UNKNOWN: "em andamento",
}


@dataclass(frozen=True, slots=True)
class OrderLine:
    """What the customer asks for: a product and how many."""

    product_id: str
    quantity: int


@dataclass(frozen=True, slots=True)
class OrderItem:
    """One line of an order, with the name and unit price the product had when it was ordered."""

    product_id: str
    name: str
    unit_price: Decimal
    quantity: int

    @property
    def line_total(self) -> Decimal:
        return (self.unit_price * self.quantity).quantize(CENT)

    def text(self) -> str:
        """``2× Ração Golden Adulto 15 kg — R$ 379,80``"""
        return f"{self.quantity}× {self.name} — {format_brl(self.line_total)}"

    def to_item(self) -> dict[str, Any]:
        return {"product_id": self.product_id, "name": self.name, "unit_price_cents": to_cents(self.unit_price), "quantity": self.quantity}

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> OrderItem:
        return cls(str(item["product_id"]), str(item["name"]), from_cents(int(item["unit_price_cents"])), int(item["quantity"]))


@dataclass(frozen=True, slots=True)
class StatusChange:
    status: OrderStatus
    at: int  # unix seconds

    def to_item(self) -> dict[str, Any]:
        return {"status": self.status.value, "at": self.at}

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> StatusChange:
        return cls(OrderStatus(str(item["status"])), int(item["at"]))


@dataclass(frozen=True, slots=True)
class OrderQuote:
    """An order priced and checked against the catalogue, not yet placed."""

    items: tuple[OrderItem, ...]

    @property
    def total(self) -> Decimal:
        return sum((item.line_total for item in self.items), start=Decimal("0.00"))

    def summary(self) -> str:
        """The pt-BR lines a customer confirms: one line per product, then the total when there are several."""
        lines = [item.text() for item in self.items]
        if len(lines) > 1:
            lines.append(f"Total: {format_brl(self.total)}")
        return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class Order:
    number: int
    contact_id: str
    items: tuple[OrderItem, ...]
    total: Decimal
    status: OrderStatus
    history: tuple[StatusChange, ...]  # oldest first; the last one is ``status``
    created_at: int
    idempotency_key: str  # ``idempotency_digest`` of the inbound message id that placed it

    @classmethod
    def place(cls, number: int, contact_id: str, quote: OrderQuote, *, now: int, idempotency_key: str) -> Order:
        return cls(
            number=number,
            contact_id=contact_id,
            items=quote.items,
            total=quote.total,
            status=OrderStatus.RECEIVED,
            history=(StatusChange(OrderStatus.RECEIVED, now),),
            created_at=now,
            idempotency_key=idempotency_key,
        )

    def with_status(self, status: OrderStatus, at: int) -> Order:
        return replace(self, status=status, history=(*self.history, StatusChange(status, at)))

    def summary(self) -> str:
        return OrderQuote(self.items).summary()

    def to_item(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "contact_id": self.contact_id,
            "items": [item.to_item() for item in self.items],
            "total_cents": to_cents(self.total),
            "status": self.status.value,
            "history": [change.to_item() for change in self.history],
            "created_at": self.created_at,
            "idempotency_key": self.idempotency_key,
        }

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> Order:
        return cls(
            number=int(item["number"]),
            contact_id=str(item["contact_id"]),
            items=tuple(OrderItem.from_item(i) for i in item.get("items") or ()),
            total=from_cents(int(item["total_cents"])),
            status=OrderStatus(str(item["status"])),
            history=tuple(StatusChange.from_item(c) for c in item.get("history") or ()),
            created_at=int(item["created_at"]),
            idempotency_key=str(item.get("idempotency_key") or ""),
        )


@dataclass(frozen=True, slots=True)
class OrderPlacement:
    """What placing an order gave: the order, and whether this call created it (False: the same
    idempotency key had placed it before, and this is that first order)."""

    order: Order
    created: bool


def merge_lines(lines: Iterable[OrderLine]) -> list[OrderLine]:
    """The same product asked twice is one line with the quantities added, in first-seen order."""
    merged: dict[str, int] = {}
    for line in lines:
        merged[line.product_id] = merged.get(line.product_id, 0) + line.quantity
    return [OrderLine(product_id, quantity) for product_id, quantity in merged.items()]


def checked_lines(lines: Sequence[OrderLine]) -> list[OrderLine]:
    """The lines merged by product, checked for what needs no catalogue: at least one line,
    quantities 1..MAX_QUANTITY as asked and once merged, at most MAX_ORDER_LINES products. Run
    before reading anything, so an oversized request costs no round trip."""
    if not lines:
        raise EmptyOrder("the order has no items")
    for line in lines:
        if not 1 <= line.quantity <= MAX_QUANTITY:
            raise InvalidQuantity(f"quantity must be 1 to {MAX_QUANTITY}", product_id=line.product_id)
    merged = merge_lines(lines)
    if len(merged) > MAX_ORDER_LINES:
        raise TooManyLines(f"at most {MAX_ORDER_LINES} different products per order")
    for line in merged:
        if line.quantity > MAX_QUANTITY:
            raise InvalidQuantity(f"quantity must be 1 to {MAX_QUANTITY}", product_id=line.product_id)
    return merged


def quote_order(lines: Sequence[OrderLine], products: Mapping[str, Product]) -> OrderQuote:
    """Price ``lines`` with ``products`` (by id, as just read) or raise why not.

    ``checked_lines`` first, then each product exists and is active, and its tracked stock covers
    the quantity. The first problem found is raised.
    """
    items = []
    for line in checked_lines(lines):
        product = products.get(line.product_id)
        if product is None or not product.active:
            raise ProductUnavailable("no such product for sale", product_id=line.product_id)
        if not product.available(line.quantity):
            raise OutOfStock("not enough stock", product_id=product.product_id, name=product.name, available=max(product.stock or 0, 0))
        items.append(OrderItem(product.product_id, product.name, product.price, line.quantity))
    return OrderQuote(tuple(items))


def idempotency_digest(key: str) -> str:
    """What is stored of an idempotency key (an inbound provider message id, which may embed a
    phone number): a digest, enough to recognise the same key again."""
    return hashlib.sha256(key.encode()).hexdigest()[:32]


# --- tickets ----------------------------------------------------------------------------------


class TicketPriority(StrEnum):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"

    @property
    def label(self) -> str:
        return {"low": "baixa", "normal": "normal", "high": "alta"}[self.value]


class TicketStatus(StrEnum):
    OPEN = "open"
    PENDING = "pending"  # waiting for the customer
    SOLVED = "solved"
    UNKNOWN = "unknown"

    @classmethod
    def _missing_(cls, value: object) -> TicketStatus:
        return cls.UNKNOWN

    @property
    def label(self) -> str:
        return {"open": "aberto", "pending": "aguardando retorno", "solved": "resolvido", "unknown": "em andamento"}[self.value]


@dataclass(frozen=True, slots=True)
class TicketDraft:
    """A ticket as asked for, bounded: blank text refused, long text truncated."""

    subject: str
    description: str
    priority: TicketPriority = TicketPriority.NORMAL

    @classmethod
    def create(cls, subject: str, description: str, priority: str) -> TicketDraft:
        subject = " ".join(subject.split())[:MAX_SUBJECT_CHARS]
        description = description.strip()[:MAX_TICKET_DESCRIPTION_CHARS]
        if not subject:
            raise InvalidTicket("the subject is empty")
        if not description:
            raise InvalidTicket("the description is empty")
        try:
            level = TicketPriority(priority)
        except ValueError as exc:
            raise InvalidTicket("priority must be low, normal or high") from exc
        return cls(subject, description, level)

    def summary(self) -> str:
        return f"Chamado: {self.subject} (prioridade {self.priority.label})"


@dataclass(frozen=True, slots=True)
class Ticket:
    number: int
    contact_id: str
    subject: str
    description: str
    priority: TicketPriority
    status: TicketStatus
    created_at: int
    idempotency_key: str

    @classmethod
    def open(cls, number: int, contact_id: str, draft: TicketDraft, *, now: int, idempotency_key: str) -> Ticket:
        return cls(number, contact_id, draft.subject, draft.description, draft.priority, TicketStatus.OPEN, now, idempotency_key)

    def to_item(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "contact_id": self.contact_id,
            "subject": self.subject,
            "description": self.description,
            "priority": self.priority.value,
            "status": self.status.value,
            "created_at": self.created_at,
            "idempotency_key": self.idempotency_key,
        }

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> Ticket:
        return cls(
            number=int(item["number"]),
            contact_id=str(item["contact_id"]),
            subject=str(item["subject"]),
            description=str(item.get("description") or ""),
            priority=TicketPriority(str(item.get("priority") or "normal")),
            status=TicketStatus(str(item["status"])),
            created_at=int(item["created_at"]),
            idempotency_key=str(item.get("idempotency_key") or ""),
        )


@dataclass(frozen=True, slots=True)
class TicketPlacement:
    ticket: Ticket
    created: bool  # False: the same idempotency key had opened it before


# --- search -----------------------------------------------------------------------------------
#
# Customers write "racao golden 15kg", "rações", "bolo de cenora". Text is folded (accents off,
# case-insensitive), cut into words and numbers ("15kg" → "15", "kg"), units take one spelling
# ("quilos" → "kg"), filler words go, and each word stands for itself and its singular forms, so a
# plural on either side meets the singular. A word of ≥ 5 letters that matches nothing exactly may
# match a catalogue word one edit away (insert, delete, replace or swap two neighbours). Products
# rank by how many query words they match, then by where (name above category above description)
# and how rare the word is in the catalogue. Numbers and units refine: they never find a product
# alone when the query has a real word.

MAX_QUERY_CHARS = 200
MAX_QUERY_WORDS = 8
INDEXED_DESCRIPTION_CHARS = 600  # words deep in a long description say little about the product
MIN_TYPO_LETTERS = 5
MAX_TYPO_CANDIDATES = 16  # per query word: bounds the work for a short, common word
FIELD_WEIGHTS = {"name": 1.0, "category": 0.5, "description": 0.3}  # in this order: falling
TYPO_FACTOR = 0.7

_WORD = re.compile(r"\d+(?:[.,]\d+)?|[a-z]+")
_UNITS = {
    "kg": "kg", "kgs": "kg", "quilo": "kg", "quilos": "kg", "kilo": "kg", "kilos": "kg", "quilograma": "kg", "quilogramas": "kg",
    "g": "g", "gr": "g", "grs": "g", "grama": "g", "gramas": "g",
    "mg": "mg", "miligrama": "mg", "miligramas": "mg",
    "l": "l", "lt": "l", "lts": "l", "litro": "l", "litros": "l",
    "ml": "ml", "mililitro": "ml", "mililitros": "ml",
    "m": "m", "metro": "m", "metros": "m", "cm": "cm", "centimetro": "cm", "centimetros": "cm", "mm": "mm",
    "w": "w", "watt": "w", "watts": "w", "kw": "kw", "kwp": "kwp", "kwh": "kwh",
    "un": "un", "und": "un", "unid": "un", "unidade": "un", "unidades": "un",
}  # fmt: skip
_UNIT_WORDS = frozenset(_UNITS.values())
# Articles, prepositions and the filler of a question ("quanto custa", "vocês têm"): never a product.
_STOPWORDS = frozenset({
    "a", "o", "e", "as", "os", "um", "uma", "uns", "umas", "de", "da", "do", "das", "dos", "d", "em", "no", "na", "nos", "nas",
    "num", "numa", "com", "para", "pra", "pro", "p", "por", "pelo", "pela", "pelos", "pelas", "ao", "aos", "ou", "que", "se",
    "me", "te", "tem", "teem", "ter", "voces", "vcs", "vc", "voce", "quero", "queria", "gostaria", "preciso", "qual", "quais",
    "quanto", "quanta", "quantos", "custa", "custam", "preco", "precos", "valor", "vende", "vendem",
})  # fmt: skip


def fold(text: str) -> str:
    """Lower case without accents: ``"Ração"`` → ``"racao"``."""
    # NFKD splits "ç" into "c" + a combining cedilla; the ASCII encoding then drops every mark (and
    # whatever has no ASCII letter in it, which no search word is made of anyway).
    return unicodedata.normalize("NFKD", text.casefold()).encode("ascii", "ignore").decode("ascii")


def words(text: str) -> list[str]:
    """The searchable words of ``text``: folded, numbers apart from letters, units canonical,
    decimal commas as points ("1,5" → "1.5"), filler dropped."""
    return [word for word in map(_canonical, _WORD.findall(fold(text))) if word]


def _canonical(token: str) -> str:
    """One token as a search word; empty for filler."""
    if token[0].isdigit():
        return _number(token)
    if token in _STOPWORDS:
        return ""
    return _UNITS.get(token, token)


def _number(token: str) -> str:
    value = Decimal(token.replace(",", "."))
    return format(value.normalize(), "f")


def singulars(word: str) -> tuple[str, ...]:
    """``word`` and the singular forms it may be the plural of (Portuguese rules, on folded text).

    Ambiguous endings yield every reading ("flores" → flore, flor); matching needs only one
    reading in common, so an extra reading that is no real word costs nothing.
    """
    if len(word) < 4 or not word.isalpha() or word in _UNIT_WORDS:
        return (word,)
    forms = [word]
    if word.endswith(("oes", "aes", "aos")):  # rações, pães, mãos
        forms.append(word[:-3] + "ao")
    elif word.endswith("ais"):  # animais
        forms += [word[:-2] + "l", word[:-1]]
    elif word.endswith("eis"):  # pastéis, fáceis
        forms += [word[:-2] + "l", word[:-3] + "il", word[:-1]]
    elif word.endswith(("ois", "uis")):  # lençóis, azuis
        forms += [word[:-2] + "l", word[:-1]]
    elif word.endswith("ns"):  # bombons, pudins
        forms.append(word[:-2] + "m")
    elif word.endswith("es") and len(word) >= 5:  # flores, luzes; bases, doces
        forms += [word[:-2], word[:-1]]
    elif word.endswith("s") and not word.endswith("ss"):  # bolos, tortas
        forms.append(word[:-1])
    return tuple(dict.fromkeys(forms))


def within_one_edit(a: str, b: str) -> bool:
    """Levenshtein distance ≤ 1, or two neighbouring letters swapped ("cenuora" / "cenoura")."""
    if a == b:
        return True
    la, lb = len(a), len(b)
    if abs(la - lb) > 1:
        return False
    if la > lb:
        a, b, la, lb = b, a, lb, la
    i = 0
    while i < la and a[i] == b[i]:
        i += 1
    if la == lb:
        return a[i + 1 :] == b[i + 1 :] or (i + 1 < la and a[i] == b[i + 1] and a[i + 1] == b[i] and a[i + 2 :] == b[i + 2 :])
    return a[i:] == b[i + 1 :]


@dataclass(frozen=True, slots=True)
class SearchHit:
    product: Product
    score: float
    matched_words: int
    query_words: int

    @property
    def all_words(self) -> bool:
        return self.matched_words == self.query_words


@dataclass(slots=True)
class CatalogueIndex:
    """An inverted index over the active products of one catalogue: built once per catalogue read
    (``build``), then searched per message without touching the products again."""

    products: tuple[Product, ...]
    _postings: dict[str, dict[int, float]]  # word form → {product position: best field weight}
    _deletions: dict[str, list[str]] | None = field(default=None)  # built on the first typo

    @classmethod
    def build(cls, products: Iterable[Product]) -> CatalogueIndex:
        active = tuple(p for p in products if p.active)
        postings: dict[str, dict[int, float]] = {}
        readings: dict[str, tuple[str, ...]] = {}  # tokens repeat across products: read each once
        for position, product in enumerate(active):
            seen: set[str] = set()  # fields go by falling weight: a form keeps its first (best) one
            fields = (product.name, product.category, product.description[:INDEXED_DESCRIPTION_CHARS])
            for weight, text in zip(FIELD_WEIGHTS.values(), fields, strict=True):
                for token in set(_WORD.findall(fold(text))):
                    forms = readings.get(token)
                    if forms is None:
                        word = _canonical(token)
                        forms = readings[token] = singulars(word) if word else ()
                    for form in forms:
                        if form not in seen:
                            seen.add(form)
                            postings.setdefault(form, {})[position] = weight
        return cls(active, postings)

    def __len__(self) -> int:
        return len(self.products)

    def search(self, query: str, *, limit: int = 5) -> list[SearchHit]:
        """The best ``limit`` active products for ``query``, best first (empty when nothing matches)."""
        query_words = list(dict.fromkeys(words(query[:MAX_QUERY_CHARS])))[:MAX_QUERY_WORDS]
        if not query_words or limit < 1:
            return []
        scores: dict[int, float] = {}
        matched: dict[int, int] = {}
        found_by_word: set[int] = set()  # products matched by at least one real word (not a number or unit)
        total = len(self.products)
        for word in query_words:
            hits = self._hits(word)
            if not hits:
                continue
            rarity = math.log(1 + total / len(hits))
            refines = word[0].isdigit() or word in _UNIT_WORDS
            for position, weight in hits.items():
                scores[position] = scores.get(position, 0.0) + rarity * weight
                matched[position] = matched.get(position, 0) + 1
                if not refines:
                    found_by_word.add(position)
        if any(not (w[0].isdigit() or w in _UNIT_WORDS) for w in query_words):
            candidates: Iterable[int] = found_by_word
        else:
            candidates = scores
        best = heapq.nsmallest(
            limit,
            candidates,
            key=lambda p: (-matched[p], -scores[p], len(self.products[p].name), self.products[p].name, p),
        )
        return [SearchHit(self.products[p], round(scores[p], 4), matched[p], len(query_words)) for p in best]

    def _hits(self, word: str) -> dict[int, float]:
        """Products matching ``word`` (or one of its singulars) with their best field weight; when
        none does exactly, those matching a catalogue word one edit away, at TYPO_FACTOR."""
        hits: dict[int, float] = {}
        for form in singulars(word):
            for position, weight in self._postings.get(form, {}).items():
                if hits.get(position, 0.0) < weight:
                    hits[position] = weight
        if hits or len(word) < MIN_TYPO_LETTERS or not word.isalpha():
            return hits
        for near in self._near(word):
            for position, weight in self._postings[near].items():
                if hits.get(position, 0.0) < weight * TYPO_FACTOR:
                    hits[position] = weight * TYPO_FACTOR
        return hits

    def _near(self, word: str) -> list[str]:
        """Catalogue words one edit from ``word`` or one of its singulars: a deletion index (each
        word under itself and every one-letter deletion) gives candidates, ``within_one_edit`` keeps
        the true ones."""
        if self._deletions is None:
            self._deletions = {}
            for form in self._postings:
                if len(form) >= MIN_TYPO_LETTERS - 1 and form.isalpha():
                    for key in {form, *_deletes(form)}:
                        self._deletions.setdefault(key, []).append(form)
        found: dict[str, None] = {}
        for reading in singulars(word):
            for key in (reading, *_deletes(reading)):
                for candidate in self._deletions.get(key, ()):
                    if candidate not in found and within_one_edit(reading, candidate):
                        found[candidate] = None
                        if len(found) >= MAX_TYPO_CANDIDATES:
                            return list(found)
        return list(found)


def _deletes(word: str) -> set[str]:
    return {word[:i] + word[i + 1 :] for i in range(len(word))}
