"""In-memory fake of the tools' ``BusinessData`` port (``atende.tools.ports``): no moto, no sockets.

``InMemoryBusinessData`` follows ``store.business.BusinessStore`` write by write: one request
marker per idempotency key (digest), written in the same all-or-nothing step as the order or
ticket, so a repeated key returns the first order or ticket; numbers from a per-tenant counter
starting after ``NUMBER_BASE`` (a ticket request that meets its marker still draws a number, as
the adapter does); an order priced from a read of its products, then written only if each
product is still active at that price and its tracked stock still covers the quantity — else
read and priced again (at most ``CREATE_ATTEMPTS``), so a real shortage raises ``OutOfStock``
with nothing written; orders and tickets keyed by (tenant, contact); inactive products never
found by search. It also takes the catalogue writes of an import (``service.catalogue.CatalogueWriter``):
whole-product puts, updates that keep the stored stock, deactivation and the version bump.

Fault hooks, like ``tests.fakes_ports``:
- ``fail_next("create_order", applied=True)``: the write is applied but raises ``StoreError``, as if
  its answer was lost after botocore's retries; ``applied=False`` fails before anything changes.
- ``before_next("create_order", hook)``: run ``hook`` between the read and the write (a concurrent
  customer taking the stock).
- ``calls``: a Counter of calls per port operation.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace

from atende.domain.catalogue import (
    CatalogueIndex,
    Order,
    OrderLine,
    OrderPlacement,
    OrderStatus,
    Product,
    ProductUnavailable,
    SearchHit,
    Ticket,
    TicketDraft,
    TicketPlacement,
    checked_lines,
    idempotency_digest,
    merge_lines,
    quote_order,
    valid_product_id,
)
from atende.errors import ConcurrentUpdate, StoreError
from atende.store.business import CREATE_ATTEMPTS, NUMBER_BASE


@dataclass
class InMemoryBusinessData:
    catalogues: dict[str, dict[str, Product]] = field(default_factory=lambda: defaultdict(dict))
    orders_by_contact: dict[tuple[str, str], dict[int, Order]] = field(default_factory=lambda: defaultdict(dict))
    tickets_by_contact: dict[tuple[str, str], dict[int, Ticket]] = field(default_factory=lambda: defaultdict(dict))
    markers: dict[tuple[str, str, str, str], int] = field(default_factory=dict)  # (tenant, contact, kind, digest) → number
    counters: Counter[tuple[str, str]] = field(default_factory=Counter)
    versions: Counter[str] = field(default_factory=Counter)  # catalogue versions, bumped by imports
    calls: Counter[str] = field(default_factory=Counter)
    _faults: dict[str, bool] = field(default_factory=dict)
    _hooks: dict[str, Callable[[], None]] = field(default_factory=dict)

    # --- test set-up -------------------------------------------------------------------------

    def add_products(self, tenant_id: str, products: Iterable[Product]) -> None:
        for product in products:
            self.catalogues[tenant_id][product.product_id] = product

    def fail_next(self, operation: str, *, applied: bool) -> None:
        self._faults[operation] = applied

    def before_next(self, operation: str, hook: Callable[[], None]) -> None:
        self._hooks[operation] = hook

    def set_order_status(self, tenant_id: str, contact_id: str, number: int, status: OrderStatus, *, now: int) -> Order | None:
        orders = self.orders_by_contact[(tenant_id, contact_id)]
        if number not in orders:
            return None
        orders[number] = orders[number].with_status(status, now)
        return orders[number]

    # --- the catalogue writes of imports (service.catalogue.CatalogueWriter) ---------------------

    def list_products(self, tenant_id: str) -> list[Product]:
        self.calls["list_products"] += 1
        return [self.catalogues[tenant_id][p] for p in sorted(self.catalogues[tenant_id])]

    def put_products(self, tenant_id: str, products: Sequence[Product], *, now: int) -> None:
        self.calls["put_products"] += 1
        self.add_products(tenant_id, products)

    def update_products_keeping_stock(self, tenant_id: str, products: Sequence[Product], *, now: int) -> None:
        self.calls["update_products_keeping_stock"] += 1
        catalogue = self.catalogues[tenant_id]
        for product in products:
            stored = catalogue.get(product.product_id)
            catalogue[product.product_id] = replace(product, stock=stored.stock if stored else None)

    def deactivate_products(self, tenant_id: str, product_ids: Iterable[str], *, now: int) -> None:
        self.calls["deactivate_products"] += 1
        catalogue = self.catalogues[tenant_id]
        for product_id in product_ids:
            if product_id in catalogue:
                catalogue[product_id] = replace(catalogue[product_id], active=False)

    def bump_catalogue_version(self, tenant_id: str, *, now: int) -> int:
        self.calls["bump_catalogue_version"] += 1
        self.versions[tenant_id] += 1
        return self.versions[tenant_id]

    # --- the port ----------------------------------------------------------------------------

    def search_products(self, tenant_id: str, query: str, *, limit: int = 5) -> list[SearchHit]:
        self.calls["search_products"] += 1
        return CatalogueIndex.build(self.catalogues[tenant_id].values()).search(query, limit=limit)

    def product(self, tenant_id: str, product_id: str) -> Product | None:
        self.calls["product"] += 1
        return self.catalogues[tenant_id].get(product_id) if valid_product_id(product_id) else None

    def products(self, tenant_id: str, product_ids: Iterable[str]) -> dict[str, Product]:
        self.calls["products"] += 1
        catalogue = self.catalogues[tenant_id]
        return {p: catalogue[p] for p in product_ids if p in catalogue}

    def order(self, tenant_id: str, contact_id: str, number: int) -> Order | None:
        self.calls["order"] += 1
        return self.orders_by_contact[(tenant_id, contact_id)].get(number)

    def recent_orders(self, tenant_id: str, contact_id: str, *, limit: int = 5) -> list[Order]:
        self.calls["recent_orders"] += 1
        orders = self.orders_by_contact[(tenant_id, contact_id)]
        return [orders[n] for n in sorted(orders, reverse=True)[:limit]]

    def create_order(
        self, tenant_id: str, contact_id: str, lines: Sequence[OrderLine], *, idempotency_key: str, now: int
    ) -> OrderPlacement:
        self.calls["create_order"] += 1
        for line in checked_lines(lines):
            if not valid_product_id(line.product_id):
                raise ProductUnavailable("no such product for sale", product_id=line.product_id)
        digest = idempotency_digest(idempotency_key)
        marker = (tenant_id, contact_id, "ORDER", digest)
        catalogue = self.catalogues[tenant_id]
        for _ in range(CREATE_ATTEMPTS):
            # The read (the adapter's BatchGetItem): the marker and the products as they are now.
            if marker in self.markers:
                return OrderPlacement(self.orders_by_contact[(tenant_id, contact_id)][self.markers[marker]], created=False)
            read = {line.product_id: catalogue[line.product_id] for line in merge_lines(lines) if line.product_id in catalogue}
            quote = quote_order(lines, read)
            number = self._next_number(tenant_id, "ORDER")
            order = Order.place(number, contact_id, quote, now=now, idempotency_key=digest)
            self._hook("create_order")
            # The transaction: every condition first, then every write, or nothing.
            if marker in self.markers:
                return OrderPlacement(self.orders_by_contact[(tenant_id, contact_id)][self.markers[marker]], created=False)
            if not all(_still_as_read(catalogue.get(item.product_id), read[item.product_id], item.quantity) for item in quote.items):
                continue
            self._fault_before("create_order")
            self.markers[marker] = number
            self.orders_by_contact[(tenant_id, contact_id)][number] = order
            for item in quote.items:
                product = catalogue[item.product_id]
                if product.stock is not None:
                    catalogue[item.product_id] = replace(product, stock=product.stock - item.quantity)
            self._fault_after("create_order")
            return OrderPlacement(order, created=True)
        raise ConcurrentUpdate("the catalogue kept changing under the order")

    def open_ticket(self, tenant_id: str, contact_id: str, draft: TicketDraft, *, idempotency_key: str, now: int) -> TicketPlacement:
        self.calls["open_ticket"] += 1
        digest = idempotency_digest(idempotency_key)
        marker = (tenant_id, contact_id, "TICKET", digest)
        tickets = self.tickets_by_contact[(tenant_id, contact_id)]
        number = self._next_number(tenant_id, "TICKET")  # drawn before the write, as the adapter does
        if marker in self.markers:
            return TicketPlacement(tickets[self.markers[marker]], created=False)
        self._fault_before("open_ticket")
        ticket = Ticket.open(number, contact_id, draft, now=now, idempotency_key=digest)
        self.markers[marker] = number
        tickets[number] = ticket
        self._fault_after("open_ticket")
        return TicketPlacement(ticket, created=True)

    # --- plumbing ------------------------------------------------------------------------------

    def _next_number(self, tenant_id: str, kind: str) -> int:
        self.counters[(tenant_id, kind)] += 1
        return NUMBER_BASE + self.counters[(tenant_id, kind)]

    def _hook(self, operation: str) -> None:
        hook = self._hooks.pop(operation, None)
        if hook is not None:
            hook()

    def _fault_before(self, operation: str) -> None:
        if operation in self._faults and not self._faults[operation]:
            del self._faults[operation]
            raise StoreError(f"fake {operation} failed before writing")

    def _fault_after(self, operation: str) -> None:
        if self._faults.pop(operation, False):
            raise StoreError(f"fake {operation} applied, answer lost")


def _still_as_read(current: Product | None, read: Product, quantity: int) -> bool:
    """The adapter's stock/condition check: active, same price, same tracking, stock covers it."""
    if current is None or not current.active or current.price != read.price:
        return False
    if (current.stock is None) != (read.stock is None):
        return False
    return current.stock is None or current.stock >= quantity
