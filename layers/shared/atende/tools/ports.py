"""What the tools need from the world: small ports, one adapter each in production.

``BusinessData`` is served by ``atende.store.business.BusinessStore`` (DynamoDB) and, in unit
tests, by ``tests.fakes_business.InMemoryBusinessData`` with the same semantics: one order per
idempotency key, stock taken only when it covers the quantity, orders and tickets visible only
in their contact's scope, inactive products never found.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from atende.domain.catalogue import Order, OrderLine, OrderPlacement, Product, SearchHit, TicketDraft, TicketPlacement


class BusinessData(Protocol):
    """A business's catalogue, orders and tickets, always read and written within one tenant and,
    for orders and tickets, one contact."""

    def search_products(self, tenant_id: str, query: str, *, limit: int = 5) -> list[SearchHit]:
        """Active products matching the customer's words, best first (may be up to a cache period stale)."""
        ...

    def product(self, tenant_id: str, product_id: str) -> Product | None:
        """One product read fresh, inactive included; None when there is no such product."""
        ...

    def products(self, tenant_id: str, product_ids: Iterable[str]) -> dict[str, Product]:
        """Products by id read fresh; unknown ids are absent."""
        ...

    def order(self, tenant_id: str, contact_id: str, number: int) -> Order | None:
        """This contact's order with that number; another contact's order is None."""
        ...

    def recent_orders(self, tenant_id: str, contact_id: str, *, limit: int = 5) -> list[Order]:
        """This contact's newest orders, newest first."""
        ...

    def create_order(
        self, tenant_id: str, contact_id: str, lines: Sequence[OrderLine], *, idempotency_key: str, now: int
    ) -> OrderPlacement:
        """Place an order once per key (a repeated key returns the first order), taking tracked
        stock atomically; raises the domain's ``OrderRejected`` errors with nothing written."""
        ...

    def open_ticket(self, tenant_id: str, contact_id: str, draft: TicketDraft, *, idempotency_key: str, now: int) -> TicketPlacement:
        """Open a ticket once per key (a repeated key returns the first ticket)."""
        ...
