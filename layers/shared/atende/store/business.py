"""Business data kept in Atende for businesses without a system of their own: the catalogue, and
the orders and support tickets of each customer (see docs/business-data.md).

Keys (AtendeTable):

| item | PK | SK |
|---|---|---|
| product | ``TENANT#{t}#CATALOGUE`` | ``PRODUCT#{product_id}`` |
| catalogue version | ``TENANT#{t}#CATALOGUE`` | ``VERSION`` |
| order / ticket number counter | ``TENANT#{t}#COUNTERS`` | ``ORDER`` / ``TICKET`` |
| order | ``TENANT#{t}#CONTACT#{c}`` (the contact's partition) | ``ORDER#{number:010d}`` |
| ticket | the contact's partition | ``TICKET#{number:010d}`` |
| request marker (idempotency) | the contact's partition | ``REQUEST#ORDER#{digest}`` / ``REQUEST#TICKET#{digest}`` |

Orders and tickets live in the contact's partition: "my orders" is one Query there, an order
number of someone else's order is simply not found, and the contact's LGPD export/erasure finds
them with the Query it already makes. Numbers are zero-padded so the newest sort last.

**Idempotency.** Placing an order or opening a ticket is keyed on the inbound message id that
asked for it (stored as a digest). One transaction writes the request marker (condition: absent)
with the order or ticket: a second call with the same key — a retry after the first answer was
lost, a redelivery, a concurrent worker — finds the marker (in its read, or as the reason its own
transaction was cancelled) and returns the first order, never a second. The transaction also
carries a ClientRequestToken, so botocore's own retry of an applied-but-unacknowledged write is a
no-op in DynamoDB; if such a retry meets the marker instead (no token memory, as under moto), the
marker's ``token`` tells it was this very call's write.

**Stock.** The same transaction decrements each tracked product's stock on the condition that it
still covers the quantity and the product is still active at the price read; a cancelled
condition re-reads and prices again (a real shortage then raises ``OutOfStock``, nothing written).

**Catalogue reads for search** are cached per container: the index of a tenant's active products
is rebuilt only when the catalogue's ``VERSION`` item changes (every import or catalogue write
bumps it), and the version is checked at most every ``cache_seconds``. Stock changes made by
orders do not bump the version: stock in search results is as of the last catalogue read; the
stock check and the order itself read the product fresh.
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from atende.domain.catalogue import (
    CatalogueIndex,
    Order,
    OrderLine,
    OrderPlacement,
    OrderStatus,
    Product,
    ProductUnavailable,
    SearchHit,
    StatusChange,
    Ticket,
    TicketDraft,
    TicketPlacement,
    checked_lines,
    idempotency_digest,
    quote_order,
    to_cents,
    valid_product_id,
)
from atende.errors import ConcurrentUpdate, StoreError
from atende.store import aws
from atende.store.dynamo import error_code, from_attrs, store_error, to_attrs
from atende.store.keys import contact_pk

DAY = 86400
NUMBER_BASE = 1000  # the first order (ticket) of a tenant is nº 1001: customers read these numbers
# Request markers outlive every redelivery of the message that placed the order: the inbound
# claim's 8 days (Meta redelivers for up to 7).
REQUEST_TTL_DAYS = 8
CATALOGUE_CACHE_SECONDS = 30.0
MAX_CACHED_CATALOGUES = 32  # tenants per container; an index of 5,000 products is a few MB
CREATE_ATTEMPTS = 3  # re-reads after a stock/price condition or a transaction conflict

PRODUCT_PREFIX = "PRODUCT#"
ORDER_PREFIX = "ORDER#"
TICKET_PREFIX = "TICKET#"
VERSION_SK = "VERSION"


# --- keys ---------------------------------------------------------------------------------------


def catalogue_pk(tenant_id: str) -> str:
    return f"TENANT#{tenant_id}#CATALOGUE"


def product_key(tenant_id: str, product_id: str) -> dict[str, str]:
    return {"PK": catalogue_pk(tenant_id), "SK": f"{PRODUCT_PREFIX}{product_id}"}


def catalogue_version_key(tenant_id: str) -> dict[str, str]:
    return {"PK": catalogue_pk(tenant_id), "SK": VERSION_SK}


def counter_key(tenant_id: str, kind: str) -> dict[str, str]:
    return {"PK": f"TENANT#{tenant_id}#COUNTERS", "SK": kind}


def order_sk(number: int) -> str:
    return f"{ORDER_PREFIX}{number:010d}"


def ticket_sk(number: int) -> str:
    return f"{TICKET_PREFIX}{number:010d}"


def request_sk(kind: str, digest: str) -> str:
    return f"REQUEST#{kind}#{digest}"


# --- the adapter ----------------------------------------------------------------------------------


@dataclass(slots=True)
class _CachedCatalogue:
    index: CatalogueIndex
    version: int
    checked_at: float


class BusinessStore:
    """The ``tools.ports.BusinessData`` port over DynamoDB, plus the catalogue writes of imports."""

    def __init__(
        self,
        table_name: str,
        *,
        client: Any | None = None,
        cache_seconds: float = CATALOGUE_CACHE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        max_cached: int = MAX_CACHED_CATALOGUES,
    ) -> None:
        self._table = table_name
        self._client = client
        self._ttl = cache_seconds
        self._clock = clock
        self._sleep = sleep
        self._max_cached = max_cached
        self._cache: OrderedDict[str, _CachedCatalogue] = OrderedDict()

    @property
    def _ddb(self) -> Any:
        return self._client or aws.client("dynamodb")

    # --- catalogue reads ---------------------------------------------------------------------

    def search_products(self, tenant_id: str, query: str, *, limit: int = 5) -> list[SearchHit]:
        """The best active products for ``query``. Round trips: none while the cached index is
        younger than ``cache_seconds``; then one GetItem (the version); when the catalogue changed
        (or on a cold container) also its Query, one page per MB (a 5,000-product catalogue is 1–2)."""
        return self.catalogue(tenant_id).search(query, limit=limit)

    def catalogue(self, tenant_id: str) -> CatalogueIndex:
        """The tenant's search index, cached per container (see ``search_products`` for round trips)."""
        now = self._clock()
        cached = self._cache.get(tenant_id)
        if cached is not None and now - cached.checked_at < self._ttl:
            self._cache.move_to_end(tenant_id)
            return cached.index
        # The version is read before the products: a write that lands in between bumps it again
        # afterwards, so whatever this read sees is replaced at the next check.
        version = self.catalogue_version(tenant_id)
        if cached is not None and cached.version == version:
            cached.checked_at = now
            self._cache.move_to_end(tenant_id)
            return cached.index
        index = CatalogueIndex.build(self._query_products(tenant_id, active_only=True))
        self._cache[tenant_id] = _CachedCatalogue(index, version, now)
        self._cache.move_to_end(tenant_id)
        while len(self._cache) > self._max_cached:
            self._cache.popitem(last=False)
        return index

    def catalogue_version(self, tenant_id: str) -> int:
        """One GetItem (consistent: it decides whether the cached index is still the catalogue)."""
        item = self._get(catalogue_version_key(tenant_id))
        return int(item.get("version", 0))

    def product(self, tenant_id: str, product_id: str) -> Product | None:
        """One product, fresh (consistent GetItem; none for an id that cannot exist), inactive included."""
        if not valid_product_id(product_id):
            return None
        item = self._get(product_key(tenant_id, product_id))
        return Product.from_item(item) if item else None

    def products(self, tenant_id: str, product_ids: Iterable[str]) -> dict[str, Product]:
        """Products by id, fresh: one BatchGetItem (consistent) for up to 100 ids. Unknown and
        impossible ids are absent from the answer; inactive products are present."""
        ids = [p for p in dict.fromkeys(product_ids) if valid_product_id(p)]
        found = self._batch_get([product_key(tenant_id, p) for p in ids])
        return {item["product_id"]: Product.from_item(item) for item in found if item["SK"].startswith(PRODUCT_PREFIX)}

    def list_products(self, tenant_id: str) -> list[Product]:
        """The whole catalogue, inactive products included (imports, the admin CLI): one Query, paginated."""
        return self._query_products(tenant_id, active_only=False)

    # --- catalogue writes --------------------------------------------------------------------

    def put_products(self, tenant_id: str, products: Sequence[Product], *, now: int) -> None:
        """Create or replace products whole (stock included: None = not tracked). BatchWriteItem,
        25 per call; bump the version afterwards (``bump_catalogue_version``) so caches reload."""
        requests = [{"PutRequest": {"Item": to_attrs(_product_item(tenant_id, p, now))}} for p in products]
        for start in range(0, len(requests), 25):
            self._batch_write(requests[start : start + 25])

    def update_products_keeping_stock(self, tenant_id: str, products: Sequence[Product], *, now: int) -> None:
        """Change existing products but leave their stock as the orders left it (an import without a
        stock column): one UpdateItem per product, so a concurrent order's decrement is never undone."""
        for product in products:
            item = _product_item(tenant_id, product, now)
            item.pop("stock", None)
            for attr in ("PK", "SK"):
                item.pop(attr)
            names = {f"#a{i}": name for i, name in enumerate(item)}
            values = {f":a{i}": value for i, value in enumerate(item.values())}
            removes = [attr for attr in ("description", "category") if attr not in item]
            update = "SET " + ", ".join(f"#a{i} = :a{i}" for i in range(len(item)))
            if removes:
                update += " REMOVE " + ", ".join(removes)
            try:
                self._ddb.update_item(
                    TableName=self._table,
                    Key=to_attrs(product_key(tenant_id, product.product_id)),
                    UpdateExpression=update,
                    ExpressionAttributeNames=names,
                    ExpressionAttributeValues=to_attrs(values),
                )
            except (ClientError, BotoCoreError) as exc:
                raise store_error(exc, "UpdateItem") from exc

    def deactivate_products(self, tenant_id: str, product_ids: Iterable[str], *, now: int) -> None:
        """Take products off sale (kept for the orders that name them): one UpdateItem each."""
        for product_id in product_ids:
            try:
                self._ddb.update_item(
                    TableName=self._table,
                    Key=to_attrs(product_key(tenant_id, product_id)),
                    UpdateExpression="SET active = :false, updated_at = :now",
                    ConditionExpression="attribute_exists(PK)",
                    ExpressionAttributeValues=to_attrs({":false": False, ":now": now}),
                )
            except ClientError as exc:
                if error_code(exc) != "ConditionalCheckFailedException":
                    raise store_error(exc, "UpdateItem") from exc
            except BotoCoreError as exc:
                raise store_error(exc, "UpdateItem") from exc

    def bump_catalogue_version(self, tenant_id: str, *, now: int) -> int:
        """Tell every container's cache the catalogue changed (one UpdateItem); the new version."""
        try:
            response = self._ddb.update_item(
                TableName=self._table,
                Key=to_attrs(catalogue_version_key(tenant_id)),
                UpdateExpression="ADD version :one SET entity = :entity, updated_at = :now",
                ExpressionAttributeValues=to_attrs({":one": 1, ":entity": "catalogue_version", ":now": now}),
                ReturnValues="UPDATED_NEW",
            )
        except (ClientError, BotoCoreError) as exc:
            raise store_error(exc, "UpdateItem") from exc
        self._cache.pop(tenant_id, None)
        return int(from_attrs(response.get("Attributes"))["version"])

    # --- orders --------------------------------------------------------------------------------

    def order(self, tenant_id: str, contact_id: str, number: int) -> Order | None:
        """This contact's order with that number (one consistent GetItem in the contact's
        partition: another contact's number is simply not there)."""
        if number < 1:
            return None
        item = self._get({"PK": contact_pk(tenant_id, contact_id), "SK": order_sk(number)})
        return Order.from_item(item) if item else None

    def recent_orders(self, tenant_id: str, contact_id: str, *, limit: int = 5) -> list[Order]:
        """This contact's newest orders, newest first: one Query (descending, ``Limit``)."""
        items = self._query_prefix(contact_pk(tenant_id, contact_id), ORDER_PREFIX, newest_first=True, limit=limit)
        return [Order.from_item(i) for i in items]

    def orders(self, tenant_id: str, contact_id: str) -> list[Order]:
        """All of this contact's orders, oldest first (admin CLI, exports): one Query, paginated."""
        return [Order.from_item(i) for i in self._query_prefix(contact_pk(tenant_id, contact_id), ORDER_PREFIX)]

    def create_order(
        self, tenant_id: str, contact_id: str, lines: Sequence[OrderLine], *, idempotency_key: str, now: int
    ) -> OrderPlacement:
        """Place an order, exactly once per ``idempotency_key``, taking the stock with it.

        Round trips: 3 — one BatchGetItem (the request marker and the products, consistent), one
        UpdateItem (the tenant's order counter), one TransactWriteItems (marker + order + each
        product's stock decrement or condition check). A repeated key: the BatchGetItem finds the
        marker, then one GetItem reads the first order (2). A stock or price change between the
        read and the write costs one more round of the three (at most ``CREATE_ATTEMPTS``).

        Raises the domain's ``OrderRejected`` errors (``OutOfStock``, ``ProductUnavailable``,
        ``InvalidQuantity``…) with nothing written; ``StoreError`` when DynamoDB fails — if the
        write was applied anyway, calling again with the same key returns that order.
        """
        pk = contact_pk(tenant_id, contact_id)
        digest = idempotency_digest(idempotency_key)
        marker_key = {"PK": pk, "SK": request_sk("ORDER", digest)}
        product_ids = [line.product_id for line in checked_lines(lines)]
        for product_id in product_ids:
            if not valid_product_id(product_id):
                raise ProductUnavailable("no such product for sale", product_id=product_id)
        for _ in range(CREATE_ATTEMPTS):
            found = self._batch_get([marker_key, *(product_key(tenant_id, p) for p in product_ids)])
            marker = next((i for i in found if i["SK"] == marker_key["SK"]), None)
            if marker is not None:
                return OrderPlacement(self._placed_order(pk, int(marker["number"])), created=False)
            products = {i["product_id"]: Product.from_item(i) for i in found if i["SK"].startswith(PRODUCT_PREFIX)}
            quote = quote_order(lines, products)
            number = self._next_number(tenant_id, "ORDER")
            order = Order.place(number, contact_id, quote, now=now, idempotency_key=digest)
            token = _request_token(pk, digest, number)
            writes = [
                _marker_put(self._table, marker_key, "order", number, token, now),
                _new_item_put(self._table, {"PK": pk, "SK": order_sk(number), "entity": "order", **order.to_item()}),
            ]
            writes += [_stock_write(self._table, tenant_id, products[item.product_id], item.quantity) for item in quote.items]
            outcome = self._transact(writes, token)
            if outcome is None:
                return OrderPlacement(order, created=True)
            if outcome.marker is not None:  # the key placed an order first: this call's own write, or another's
                placed = self._placed_order(pk, int(outcome.marker["number"]))
                return OrderPlacement(placed, created=outcome.marker.get("token") == token)
            # A product's stock, price or state changed since the read (or a conflicting
            # transaction): read again and price again; a real shortage now raises OutOfStock.
        raise ConcurrentUpdate("the catalogue kept changing under the order")

    def set_order_status(self, tenant_id: str, contact_id: str, number: int, status: OrderStatus, *, now: int) -> Order | None:
        """Move an order to ``status`` and append it to its history (one UpdateItem); None if no such order."""
        change = StatusChange(status, now).to_item()
        try:
            response = self._ddb.update_item(
                TableName=self._table,
                Key=to_attrs({"PK": contact_pk(tenant_id, contact_id), "SK": order_sk(number)}),
                UpdateExpression="SET #status = :status, history = list_append(history, :change)",
                ConditionExpression="attribute_exists(PK)",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues=to_attrs({":status": status.value, ":change": [change]}),
                ReturnValues="ALL_NEW",
            )
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return None
            raise store_error(exc, "UpdateItem") from exc
        except BotoCoreError as exc:
            raise store_error(exc, "UpdateItem") from exc
        return Order.from_item(from_attrs(response.get("Attributes")))

    # --- tickets -------------------------------------------------------------------------------

    def open_ticket(self, tenant_id: str, contact_id: str, draft: TicketDraft, *, idempotency_key: str, now: int) -> TicketPlacement:
        """Open a support ticket, exactly once per ``idempotency_key``.

        Round trips: 2 — one UpdateItem (the tenant's ticket counter), one TransactWriteItems
        (marker + ticket). A repeated key is told by the marker's condition (the transaction is
        cancelled and returns the marker), then one GetItem reads the first ticket (3; the number
        drawn for it stays unused: ticket numbers may have gaps).
        """
        pk = contact_pk(tenant_id, contact_id)
        digest = idempotency_digest(idempotency_key)
        marker_key = {"PK": pk, "SK": request_sk("TICKET", digest)}
        for _ in range(CREATE_ATTEMPTS):
            number = self._next_number(tenant_id, "TICKET")
            ticket = Ticket.open(number, contact_id, draft, now=now, idempotency_key=digest)
            token = _request_token(pk, digest, number)
            writes = [
                _marker_put(self._table, marker_key, "ticket", number, token, now),
                _new_item_put(self._table, {"PK": pk, "SK": ticket_sk(number), "entity": "ticket", **ticket.to_item()}),
            ]
            outcome = self._transact(writes, token)
            if outcome is None:
                return TicketPlacement(ticket, created=True)
            if outcome.marker is not None:
                first = self._get({"PK": pk, "SK": ticket_sk(int(outcome.marker["number"]))})
                if not first:
                    raise StoreError("a ticket request marker names no ticket")
                return TicketPlacement(Ticket.from_item(first), created=outcome.marker.get("token") == token)
        raise ConcurrentUpdate("ticket numbers kept colliding")

    def ticket(self, tenant_id: str, contact_id: str, number: int) -> Ticket | None:
        """One consistent GetItem in the contact's partition."""
        if number < 1:
            return None
        item = self._get({"PK": contact_pk(tenant_id, contact_id), "SK": ticket_sk(number)})
        return Ticket.from_item(item) if item else None

    def tickets(self, tenant_id: str, contact_id: str) -> list[Ticket]:
        """All of this contact's tickets, oldest first: one Query, paginated."""
        return [Ticket.from_item(i) for i in self._query_prefix(contact_pk(tenant_id, contact_id), TICKET_PREFIX)]

    # --- plumbing ------------------------------------------------------------------------------

    def _placed_order(self, pk: str, number: int) -> Order:
        item = self._get({"PK": pk, "SK": order_sk(number)})
        if not item:
            raise StoreError("an order request marker names no order")
        return Order.from_item(item)

    def _next_number(self, tenant_id: str, kind: str) -> int:
        """The tenant's next order/ticket number (UpdateItem ADD: atomic across containers). A
        retried increment whose first answer was lost skips a number; numbers never repeat."""
        try:
            response = self._ddb.update_item(
                TableName=self._table,
                Key=to_attrs(counter_key(tenant_id, kind)),
                UpdateExpression="ADD #n :one SET entity = :entity",
                ExpressionAttributeNames={"#n": "last"},
                ExpressionAttributeValues=to_attrs({":one": 1, ":entity": "counter"}),
                ReturnValues="UPDATED_NEW",
            )
        except (ClientError, BotoCoreError) as exc:
            raise store_error(exc, "UpdateItem") from exc
        return NUMBER_BASE + int(from_attrs(response.get("Attributes"))["last"])

    def _transact(self, writes: list[dict[str, Any]], token: str) -> _Cancelled | None:
        """Run the transaction; None when applied. A cancellation by conditions is returned (the
        first write is always the request marker: its old item when that condition failed);
        anything else is a StoreError."""
        try:
            self._ddb.transact_write_items(TransactItems=writes, ClientRequestToken=token)
        except ClientError as exc:
            if error_code(exc) != "TransactionCanceledException":
                raise store_error(exc, "TransactWriteItems") from exc
            reasons: list[dict[str, Any]] = exc.response.get("CancellationReasons") or []  # type: ignore[assignment]
            codes = [str(r.get("Code") or "None") for r in reasons]
            if any(code not in ("None", "ConditionalCheckFailed", "TransactionConflict") for code in codes):
                raise store_error(exc, "TransactWriteItems") from exc
            if codes and codes[0] == "ConditionalCheckFailed":
                marker = from_attrs(reasons[0].get("Item")) or self._get(_key_of(writes[0]["Put"]["Item"]))
                return _Cancelled(marker=marker or None)
            return _Cancelled(marker=None)
        except BotoCoreError as exc:
            raise store_error(exc, "TransactWriteItems") from exc
        return None

    def _get(self, key: Mapping[str, str]) -> dict[str, Any]:
        try:
            response = self._ddb.get_item(TableName=self._table, Key=to_attrs(key), ConsistentRead=True)
        except (ClientError, BotoCoreError) as exc:
            raise store_error(exc, "GetItem") from exc
        return from_attrs(response.get("Item"))

    def _batch_get(self, keys: Sequence[Mapping[str, str]]) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        for start in range(0, len(keys), 100):
            request: dict[str, Any] = {self._table: {"Keys": [to_attrs(k) for k in keys[start : start + 100]], "ConsistentRead": True}}
            for attempt in range(5):  # unprocessed keys (throttling): a few more tries, then it is transient
                try:
                    response = self._ddb.batch_get_item(RequestItems=request)
                except (ClientError, BotoCoreError) as exc:
                    raise store_error(exc, "BatchGetItem") from exc
                found.extend(from_attrs(i) for i in response.get("Responses", {}).get(self._table, []))
                request = response.get("UnprocessedKeys") or {}
                if not request:
                    break
                self._sleep(0.05 * 2**attempt)
            else:
                raise StoreError("DynamoDB BatchGetItem left keys unprocessed")
        return found

    def _batch_write(self, requests: list[dict[str, Any]]) -> None:
        pending: dict[str, Any] = {self._table: requests}
        for attempt in range(8):
            try:
                response = self._ddb.batch_write_item(RequestItems=pending)
            except (ClientError, BotoCoreError) as exc:
                raise store_error(exc, "BatchWriteItem") from exc
            pending = response.get("UnprocessedItems") or {}
            if not pending:
                return
            self._sleep(0.05 * 2**attempt)
        raise StoreError("DynamoDB BatchWriteItem left items unprocessed")

    def _query_products(self, tenant_id: str, *, active_only: bool) -> list[Product]:
        items = self._query_prefix(catalogue_pk(tenant_id), PRODUCT_PREFIX, active_only=active_only)
        return [Product.from_item(i) for i in items]

    def _query_prefix(
        self, pk: str, prefix: str, *, newest_first: bool = False, limit: int | None = None, active_only: bool = False
    ) -> list[dict[str, Any]]:
        values: dict[str, Any] = {":pk": pk, ":prefix": prefix}
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "PK = :pk AND begins_with(SK, :prefix)",
            "ConsistentRead": True,
            "ScanIndexForward": not newest_first,
        }
        if active_only:
            kwargs["FilterExpression"] = "active = :true"
            values[":true"] = True
        if limit is not None:
            kwargs["Limit"] = limit
        kwargs["ExpressionAttributeValues"] = to_attrs(values)
        items: list[dict[str, Any]] = []
        while True:
            try:
                page = self._ddb.query(**kwargs)
            except (ClientError, BotoCoreError) as exc:
                raise store_error(exc, "Query") from exc
            items.extend(from_attrs(i) for i in page.get("Items", []))
            if "LastEvaluatedKey" not in page or (limit is not None and len(items) >= limit):
                return items[:limit] if limit is not None else items
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


@dataclass(frozen=True, slots=True)
class _Cancelled:
    marker: dict[str, Any] | None  # the request marker already there, when that was the reason


def _request_token(pk: str, digest: str, number: int) -> str:
    """ClientRequestToken (≤ 36 chars): the same for botocore's retries of one write, different for
    each number this request draws (a new attempt changes the transaction's parameters)."""
    return hashlib.sha256(f"{pk}|{digest}|{number}".encode()).hexdigest()[:36]


def _product_item(tenant_id: str, product: Product, now: int) -> dict[str, Any]:
    return {**product_key(tenant_id, product.product_id), "entity": "product", **product.to_item(), "updated_at": now}


def _marker_put(table: str, key: Mapping[str, str], kind: str, number: int, token: str, now: int) -> dict[str, Any]:
    item = {
        **key,
        "entity": "request",
        "kind": kind,
        "number": number,
        "token": token,
        "created_at": now,
        "ttl": now + REQUEST_TTL_DAYS * DAY,
    }
    return {
        "Put": {
            "TableName": table,
            "Item": to_attrs(item),
            "ConditionExpression": "attribute_not_exists(PK)",
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
    }


def _new_item_put(table: str, item: dict[str, Any]) -> dict[str, Any]:
    return {"Put": {"TableName": table, "Item": to_attrs(item), "ConditionExpression": "attribute_not_exists(PK)"}}


def _stock_write(table: str, tenant_id: str, product: Product, quantity: int) -> dict[str, Any]:
    """Take ``quantity`` from a tracked stock, or check an untracked product is still as read.

    Either way the product must still be active at the price the order was priced with, and
    still (un)tracked as read: otherwise the order is priced again from a fresh read.
    """
    key = to_attrs(product_key(tenant_id, product.product_id))
    values: dict[str, Any] = {":true": True, ":price": to_cents(product.price)}
    if product.stock is None:
        return {
            "ConditionCheck": {
                "TableName": table,
                "Key": key,
                "ConditionExpression": "active = :true AND price_cents = :price AND attribute_not_exists(stock)",
                "ExpressionAttributeValues": to_attrs(values),
            }
        }
    values[":q"] = quantity
    return {
        "Update": {
            "TableName": table,
            "Key": key,
            "UpdateExpression": "SET stock = stock - :q",
            "ConditionExpression": "active = :true AND price_cents = :price AND stock >= :q",
            "ExpressionAttributeValues": to_attrs(values),
        }
    }


def _key_of(item: Mapping[str, Any]) -> dict[str, str]:
    return {"PK": item["PK"]["S"], "SK": item["SK"]["S"]}
