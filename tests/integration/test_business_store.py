"""store.business.BusinessStore against moto, with AtendeTable built from template.yaml: keys,
idempotent orders and tickets under lost answers, the stock condition under a race, the cached
catalogue index and the contact's partition holding everything LGPD needs."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import boto3
import pytest
from botocore.exceptions import ReadTimeoutError

from atende.domain.catalogue import OrderLine, OrderStatus, OutOfStock, Product, ProductUnavailable, TicketDraft, TooManyLines
from atende.errors import StoreError
from atende.store.business import BusinessStore
from atende.store.conversations import ConversationStore
from atende.store.dynamo import from_attrs

TENANT = "pet-shop-amigo-fiel"
MARIANA = "c_mariana0000000000000000000"
JOAO = "c_joao000000000000000000000"
NOW = 1_760_000_000

CATALOGUE = [
    Product("RAC-GOLD-AD-15", "Ração Golden Adulto 15 kg", Decimal("189.90"), "Cães adultos.", stock=3, category="Rações"),
    Product("PET-BIF-500", "Bifinho de Frango 500 g", Decimal("24.90"), stock=40, category="Petiscos"),
    Product("BANHO-P", "Banho e Tosa — Porte Pequeno", Decimal("65.00"), category="Serviços"),
    Product("RAC-ANTIGA", "Ração Golden Antiga 15 kg", Decimal("99.00"), stock=10, active=False),
]


class Client:
    """The real (moto) DynamoDB client, counting calls; ``before``/``after`` run a hook around the
    next call of an operation (``after`` may raise: an answer lost after the write was applied)."""

    def __init__(self) -> None:
        self._client = boto3.client("dynamodb")
        self.calls: Counter[str] = Counter()
        self.before: dict[str, Callable[[dict[str, Any]], None]] = {}
        self.after: dict[str, Callable[[dict[str, Any], Any], Any]] = {}

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._client, name)

        def call(**kwargs: Any) -> Any:
            self.calls[name] += 1
            if name in self.before:
                self.before.pop(name)(kwargs)
            result = method(**kwargs)
            if name in self.after:
                return self.after.pop(name)(kwargs, result)
            return result

        return call


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def table(stack) -> str:
    return stack.resources["AtendeTable"].ref


@pytest.fixture
def client(stack) -> Client:
    return Client()


@pytest.fixture
def store(table, client) -> BusinessStore:
    store = BusinessStore(table, client=client, cache_seconds=30, clock=Clock(), sleep=lambda _: None)
    store.put_products(TENANT, CATALOGUE, now=NOW)
    store.bump_catalogue_version(TENANT, now=NOW)
    client.calls.clear()
    return store


def raw_item(table: str, pk: str, sk: str) -> dict[str, Any]:
    return from_attrs(boto3.client("dynamodb").get_item(TableName=table, Key={"PK": {"S": pk}, "SK": {"S": sk}}).get("Item"))


def stock(store: BusinessStore, product_id: str = "RAC-GOLD-AD-15") -> int | None:
    product = store.product(TENANT, product_id)
    assert product is not None
    return product.stock


def lost_answer(kwargs: dict[str, Any], result: Any) -> Any:
    raise ReadTimeoutError(endpoint_url="https://dynamodb.us-east-1.amazonaws.com")


# --- orders ---------------------------------------------------------------------------------------


def test_an_order_is_one_transaction_in_the_contacts_partition(store, table, client):
    # When Mariana orders 2 bags and a service whose stock is not tracked
    placement = store.create_order(
        TENANT, MARIANA, [OrderLine("RAC-GOLD-AD-15", 2), OrderLine("BANHO-P", 1)], idempotency_key="wamid.sim", now=NOW
    )

    # Then three round trips: the read (marker + products), the counter, the transaction
    assert placement.created
    assert dict(client.calls) == {"batch_get_item": 1, "update_item": 1, "transact_write_items": 1}
    order = placement.order
    assert (order.number, order.total, order.status) == (1001, Decimal("444.80"), OrderStatus.RECEIVED)
    # The order item is in her partition, keyed so the newest sorts last, in whole cents
    pk = f"TENANT#{TENANT}#CONTACT#{MARIANA}"
    item = raw_item(table, pk, "ORDER#0000001001")
    assert item == {
        "PK": pk,
        "SK": "ORDER#0000001001",
        "entity": "order",
        "number": 1001,
        "contact_id": MARIANA,
        "items": [
            {"product_id": "RAC-GOLD-AD-15", "name": "Ração Golden Adulto 15 kg", "unit_price_cents": 18990, "quantity": 2},
            {"product_id": "BANHO-P", "name": "Banho e Tosa — Porte Pequeno", "unit_price_cents": 6500, "quantity": 1},
        ],
        "total_cents": 44480,
        "status": "received",
        "history": [{"status": "received", "at": NOW}],
        "created_at": NOW,
        "idempotency_key": order.idempotency_key,
    }
    assert "wamid" not in order.idempotency_key  # a digest, never the message id
    # The tracked stock was taken, the untracked one left untracked
    assert (stock(store), stock(store, "BANHO-P")) == (1, None)
    # The counter lives in the tenant's counters partition
    assert raw_item(table, f"TENANT#{TENANT}#COUNTERS", "ORDER")["last"] == 1


def test_the_same_key_returns_the_first_order(store, client):
    first = store.create_order(TENANT, MARIANA, [OrderLine("RAC-GOLD-AD-15", 1)], idempotency_key="wamid.sim", now=NOW)
    client.calls.clear()
    again = store.create_order(TENANT, MARIANA, [OrderLine("PET-BIF-500", 5)], idempotency_key="wamid.sim", now=NOW + 60)
    assert (again.created, again.order) == (False, first.order)
    assert dict(client.calls) == {"batch_get_item": 1, "get_item": 1}  # the marker, then the first order
    assert store.recent_orders(TENANT, MARIANA) == [first.order]
    assert (stock(store), stock(store, "PET-BIF-500")) == (2, 40)


def test_an_applied_order_whose_answer_was_lost_is_found_by_the_retry(store, client):
    # Given the transaction is applied but its answer is lost after botocore's retries
    client.after["transact_write_items"] = lost_answer
    with pytest.raises(StoreError):
        store.create_order(TENANT, MARIANA, [OrderLine("RAC-GOLD-AD-15", 1)], idempotency_key="wamid.sim", now=NOW)

    # When the record is retried and the tool runs again with the same confirming message
    retry = store.create_order(TENANT, MARIANA, [OrderLine("RAC-GOLD-AD-15", 1)], idempotency_key="wamid.sim", now=NOW + 5)

    # Then it is the order the lost write placed: one order, the stock taken once
    assert (retry.created, retry.order.number, retry.order.created_at) == (False, 1001, NOW)
    assert [o.number for o in store.orders(TENANT, MARIANA)] == [1001]
    assert stock(store) == 2


def test_botocores_own_retry_of_an_applied_transaction_is_recognised_as_this_write(store, client):
    # Given the first attempt is applied, its answer lost, and botocore sends the same request again
    # (DynamoDB answers that from the ClientRequestToken; moto has no token memory and cancels it)
    def resend(kwargs: dict[str, Any], result: Any) -> Any:
        return client._client.transact_write_items(**kwargs)

    client.after["transact_write_items"] = resend

    # When / Then the adapter reads its own marker in the cancellation: created by this call, once
    placement = store.create_order(TENANT, MARIANA, [OrderLine("RAC-GOLD-AD-15", 1)], idempotency_key="wamid.sim", now=NOW)
    assert (placement.created, placement.order.number) == (True, 1001)
    assert [o.number for o in store.orders(TENANT, MARIANA)] == [1001]
    assert stock(store) == 2


def test_two_workers_with_the_same_key_place_one_order(store, table, client):
    # Given another worker places the order for the same message between this one's read and write
    other = BusinessStore(table, cache_seconds=0)
    client.before["transact_write_items"] = lambda _: other.create_order(
        TENANT, MARIANA, [OrderLine("RAC-GOLD-AD-15", 1)], idempotency_key="wamid.sim", now=NOW
    )
    placement = store.create_order(TENANT, MARIANA, [OrderLine("RAC-GOLD-AD-15", 1)], idempotency_key="wamid.sim", now=NOW)
    # Then this one answers with the other's order (it drew 1002 after this one's 1001, which stays unused)
    assert (placement.created, placement.order.number) == (False, 1002)
    assert [o.number for o in store.orders(TENANT, MARIANA)] == [1002]
    assert stock(store) == 2


def test_not_enough_stock_writes_nothing(store, table):
    with pytest.raises(OutOfStock) as caught:
        store.create_order(TENANT, MARIANA, [OrderLine("RAC-GOLD-AD-15", 4)], idempotency_key="wamid.sim", now=NOW)
    assert caught.value.available == 3
    assert ConversationStore(table, "unused").contact_items(TENANT, MARIANA) == []
    assert stock(store) == 3


def test_the_stock_race_lets_one_customer_have_the_last_units(store, table, client):
    # Given João takes 2 of the 3 bags between Mariana's read and her transaction
    other = BusinessStore(table, cache_seconds=0)
    client.before["transact_write_items"] = lambda _: other.create_order(
        TENANT, JOAO, [OrderLine("RAC-GOLD-AD-15", 2)], idempotency_key="wamid.joao", now=NOW
    )

    # When Mariana's order for 2 is written / Then its condition fails, the re-read finds 1 left
    with pytest.raises(OutOfStock) as caught:
        store.create_order(TENANT, MARIANA, [OrderLine("RAC-GOLD-AD-15", 2)], idempotency_key="wamid.mariana", now=NOW)
    assert caught.value.available == 1
    assert client.calls["transact_write_items"] == 1 and client.calls["batch_get_item"] == 2

    # And only João's order exists, the stock never went below zero
    assert store.orders(TENANT, MARIANA) == []
    assert [o.number for o in store.orders(TENANT, JOAO)] == [1002]  # Mariana had drawn 1001
    assert stock(store) == 1


def test_a_price_changed_before_the_write_is_priced_again(store, table, client):
    other = BusinessStore(table, cache_seconds=0)
    cheaper = Product("PET-BIF-500", "Bifinho de Frango 500 g", Decimal("19.90"), stock=40, category="Petiscos")
    client.before["transact_write_items"] = lambda _: other.put_products(TENANT, [cheaper], now=NOW)
    placement = store.create_order(TENANT, MARIANA, [OrderLine("PET-BIF-500", 2)], idempotency_key="wamid.sim", now=NOW)
    assert placement.order.total == Decimal("39.80")
    assert placement.order.number == 1002  # the first attempt's number stays unused
    assert stock(store, "PET-BIF-500") == 38


def test_inactive_unknown_and_impossible_products_cannot_be_ordered(store):
    for product_id in ("RAC-ANTIGA", "NADA", "x#y"):
        with pytest.raises(ProductUnavailable):
            store.create_order(TENANT, MARIANA, [OrderLine(product_id, 1)], idempotency_key=f"wamid.{product_id}", now=NOW)


def test_orders_are_found_only_in_their_contacts_partition(store):
    mine = store.create_order(TENANT, MARIANA, [OrderLine("BANHO-P", 1)], idempotency_key="wamid.m", now=NOW).order
    joaos = store.create_order(TENANT, JOAO, [OrderLine("BANHO-P", 1)], idempotency_key="wamid.j", now=NOW).order
    assert store.order(TENANT, MARIANA, mine.number) == mine
    assert store.order(TENANT, MARIANA, joaos.number) is None
    assert store.order("outra-loja", MARIANA, mine.number) is None
    assert store.order(TENANT, MARIANA, 0) is None


def test_recent_orders_are_the_newest_five_in_one_query(store, client):
    for i in range(7):
        store.create_order(TENANT, MARIANA, [OrderLine("BANHO-P", 1)], idempotency_key=f"wamid.{i}", now=NOW + i)
    client.calls.clear()
    assert [o.number for o in store.recent_orders(TENANT, MARIANA)] == [1007, 1006, 1005, 1004, 1003]
    assert dict(client.calls) == {"query": 1}


def test_an_order_status_change_is_appended_to_its_history(store):
    number = store.create_order(TENANT, MARIANA, [OrderLine("BANHO-P", 1)], idempotency_key="wamid.m", now=NOW).order.number
    changed = store.set_order_status(TENANT, MARIANA, number, OrderStatus.CONFIRMED, now=NOW + 60)
    assert changed is not None and [(c.status, c.at) for c in changed.history] == [
        (OrderStatus.RECEIVED, NOW),
        (OrderStatus.CONFIRMED, NOW + 60),
    ]
    assert store.order(TENANT, MARIANA, number) == changed
    assert store.set_order_status(TENANT, JOAO, number, OrderStatus.CANCELLED, now=NOW) is None


# --- tickets --------------------------------------------------------------------------------------


def test_a_ticket_is_opened_once_per_key_in_two_round_trips(store, client):
    draft = TicketDraft.create("Saco rasgado", "A ração do pedido 1001 chegou com o saco rasgado.", "high")
    first = store.open_ticket(TENANT, MARIANA, draft, idempotency_key="wamid.sim", now=NOW)
    assert (first.created, first.ticket.number) == (True, 1001)
    assert dict(client.calls) == {"update_item": 1, "transact_write_items": 1}
    again = store.open_ticket(TENANT, MARIANA, draft, idempotency_key="wamid.sim", now=NOW + 9)
    assert (again.created, again.ticket) == (False, first.ticket)
    assert store.tickets(TENANT, MARIANA) == [first.ticket]
    assert store.ticket(TENANT, JOAO, 1001) is None


def test_an_applied_ticket_whose_answer_was_lost_is_found_by_the_retry(store, client):
    draft = TicketDraft.create("Troca", "Quero trocar.", "normal")
    client.after["transact_write_items"] = lost_answer
    with pytest.raises(StoreError):
        store.open_ticket(TENANT, MARIANA, draft, idempotency_key="wamid.sim", now=NOW)
    retry = store.open_ticket(TENANT, MARIANA, draft, idempotency_key="wamid.sim", now=NOW + 5)
    assert (retry.created, retry.ticket.number) == (False, 1001)
    assert len(store.tickets(TENANT, MARIANA)) == 1


# --- LGPD: everything of a contact in one Query -------------------------------------------------------


def test_the_contacts_partition_holds_their_orders_tickets_and_request_markers(store, table):
    store.create_order(TENANT, MARIANA, [OrderLine("BANHO-P", 1)], idempotency_key="wamid.o", now=NOW)
    store.open_ticket(TENANT, MARIANA, TicketDraft.create("s", "d", "low"), idempotency_key="wamid.t", now=NOW)
    items = ConversationStore(table, "unused").contact_items(TENANT, MARIANA)
    assert sorted(i["entity"] for i in items) == ["order", "request", "request", "ticket"]
    markers = [i for i in items if i["entity"] == "request"]
    assert all(m["SK"].startswith(("REQUEST#ORDER#", "REQUEST#TICKET#")) and m["ttl"] == NOW + 8 * 86400 for m in markers)
    assert all("wamid" not in i["SK"] for i in items)


# --- the catalogue and its cache ------------------------------------------------------------------


def test_search_reads_the_catalogue_once_then_checks_its_version_only(store, client):
    clock = store._clock
    # Cold: the version, then the catalogue's Query
    assert [h.product.product_id for h in store.search_products(TENANT, "racao golden 15kg")] == ["RAC-GOLD-AD-15"]
    assert dict(client.calls) == {"get_item": 1, "query": 1}
    # Warm, within the cache period: no round trip
    client.calls.clear()
    store.search_products(TENANT, "bifinho")
    assert dict(client.calls) == {}
    # After the period, unchanged: one GetItem of the version
    clock.now += 31
    store.search_products(TENANT, "bifinho")
    assert dict(client.calls) == {"get_item": 1}


def test_a_catalogue_write_elsewhere_is_seen_at_the_next_version_check(store, table, client):
    clock = store._clock
    assert store.search_products(TENANT, "coleira") == []
    # Another container imports a product and bumps the version
    other = BusinessStore(table, cache_seconds=0)
    other.put_products(TENANT, [Product("COL-ANT-M", "Coleira Antipulgas Cães Médios", Decimal("139.00"), stock=7)], now=NOW)
    other.bump_catalogue_version(TENANT, now=NOW)
    assert store.search_products(TENANT, "coleira") == []  # still within the cache period
    clock.now += 31
    client.calls.clear()
    assert [h.product.product_id for h in store.search_products(TENANT, "coleira")] == ["COL-ANT-M"]
    assert dict(client.calls) == {"get_item": 1, "query": 1}


def test_the_catalogue_index_leaves_inactive_products_out(store):
    index = store.catalogue(TENANT)
    assert sorted(p.product_id for p in index.products) == ["BANHO-P", "PET-BIF-500", "RAC-GOLD-AD-15"]
    assert store.search_products(TENANT, "antiga") == []


def test_products_are_read_fresh_by_id(store):
    assert store.products(TENANT, ["RAC-GOLD-AD-15", "NADA", "RAC-ANTIGA", "x#y"]).keys() == {"RAC-GOLD-AD-15", "RAC-ANTIGA"}
    assert store.product(TENANT, "RAC-ANTIGA") == CATALOGUE[3]
    assert store.product(TENANT, "x#y") is None
    assert sorted(p.product_id for p in store.list_products(TENANT)) == sorted(p.product_id for p in CATALOGUE)


def test_an_update_that_keeps_stock_leaves_the_orders_decrement(store):
    store.create_order(TENANT, MARIANA, [OrderLine("RAC-GOLD-AD-15", 1)], idempotency_key="wamid.m", now=NOW)
    renamed = Product("RAC-GOLD-AD-15", "Ração Golden Adulto Frango 15 kg", Decimal("199.90"), stock=99, category="Rações")
    store.update_products_keeping_stock(TENANT, [renamed], now=NOW)
    assert store.product(TENANT, "RAC-GOLD-AD-15") == Product(
        "RAC-GOLD-AD-15", "Ração Golden Adulto Frango 15 kg", Decimal("199.90"), stock=2, category="Rações"
    )


def test_deactivated_products_stay_for_their_orders_but_leave_the_search(store):
    store.deactivate_products(TENANT, ["PET-BIF-500", "NADA"], now=NOW)
    store.bump_catalogue_version(TENANT, now=NOW)
    product = store.product(TENANT, "PET-BIF-500")
    assert product is not None and not product.active
    assert store.search_products(TENANT, "bifinho") == []


def test_a_catalogue_larger_than_one_query_page_is_read_whole(table, client):
    store = BusinessStore(table, client=client, cache_seconds=0)
    filler = "Descrição longa do produto para ocupar espaço na página de resultados. " * 25  # ~1.8 KB an item
    products = [Product(f"P{i:04d}", f"Produto {i}", Decimal("1.00"), filler[:1800]) for i in range(700)]  # ~1.3 MB
    store.put_products("grande", products, now=NOW)
    client.calls.clear()
    assert len(store.list_products("grande")) == 700
    assert client.calls["query"] == 2  # 1 MB pages
    assert len(store.catalogue("grande")) == 700


def test_an_oversized_order_costs_no_round_trip(store, client):
    with pytest.raises(TooManyLines):
        store.create_order(TENANT, MARIANA, [OrderLine(f"P{i}", 1) for i in range(500)], idempotency_key="wamid.x", now=NOW)
    assert dict(client.calls) == {}
