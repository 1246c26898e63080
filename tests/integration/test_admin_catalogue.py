"""`python -m admin import-catalogue` and `list-orders` against moto, and the local stack's seed catalogues."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

from admin.__main__ import main
from atende.domain.catalogue import OrderLine, TicketDraft
from atende.store.business import BusinessStore
from local.business_seed import CATALOGUES, PET_SHOP, seed_business
from local.seed import DEMO

SAMPLE = Path(__file__).parents[2] / "docs" / "samples" / "catalogo-pet-shop.csv"
TENANT = DEMO.tenant_id  # seeded by the fixture; the sample is a pet shop's, any tenant may import it
NOW = 1_760_000_000


def test_import_catalogue_writes_the_sample_spreadsheet_and_a_second_run_changes_nothing(stack, capsys):
    table = stack.resources["AtendeTable"].ref
    # When the sample is imported
    code = main(["import-catalogue", "--table-name", table, "--tenant", TENANT, str(SAMPLE)])

    # Then every row is a product and the report says so
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert {k: report[k] for k in ("dry_run", "written", "rows", "created", "updated", "unchanged", "errors", "version")} == {
        "dry_run": False,
        "written": True,
        "rows": 12,
        "created": 12,
        "updated": 0,
        "unchanged": 0,
        "errors": [],
        "version": 1,
    }
    store = BusinessStore(table, cache_seconds=0)
    golden = store.product(TENANT, "RAC-GOLD-AD-15")
    assert golden is not None and (golden.price, golden.stock, golden.category) == (Decimal("189.90"), 12, "Rações")
    assert [h.product.product_id for h in store.search_products(TENANT, "racao golden 15kg", limit=1)] == ["RAC-GOLD-AD-15"]

    # When it is imported again / Then nothing is written
    assert main(["import-catalogue", "--table-name", table, "--tenant", TENANT, str(SAMPLE)]) == 0
    again = json.loads(capsys.readouterr().out)
    assert (again["written"], again["created"], again["updated"], again["unchanged"]) == (False, 0, 0, 12)


def test_a_dry_run_writes_nothing(stack, capsys):
    table = stack.resources["AtendeTable"].ref
    assert main(["import-catalogue", "--table-name", table, "--tenant", TENANT, str(SAMPLE), "--dry-run"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["dry_run"], report["written"], report["created"]) == (True, False, 12)
    assert BusinessStore(table, cache_seconds=0).list_products(TENANT) == []


def test_a_file_with_bad_rows_is_refused_whole_with_each_row_named(stack, capsys, tmp_path):
    table = stack.resources["AtendeTable"].ref
    path = tmp_path / "catalogo.csv"
    path.write_text("nome;preço;estoque\nBolo de Cenoura;38,00;\nTorta;caro;\nSonho;6,50;meia dúzia\n", encoding="utf-8-sig")
    code = main(["import-catalogue", "--table-name", table, "--tenant", TENANT, str(path)])
    captured = capsys.readouterr()
    assert code == 2
    assert json.loads(captured.out)["errors"] == [
        {"row": 3, "reason": "price: 'caro' is not a price (not a price; write 189,90 or 189.90)"},
        {"row": 4, "reason": "stock: 'meia dúzia' is not a whole number (empty = not tracked)"},
    ]
    assert "2 row(s) with problems, nothing was written" in captured.err
    assert "  - row 3: price" in captured.err
    assert BusinessStore(table, cache_seconds=0).list_products(TENANT) == []


def test_import_catalogue_refuses_an_unknown_tenant_and_an_empty_file(stack, capsys, tmp_path):
    table = stack.resources["AtendeTable"].ref
    assert main(["import-catalogue", "--table-name", table, "--tenant", "ninguem", str(SAMPLE)]) == 2
    assert "no tenant 'ninguem'" in capsys.readouterr().err
    empty = tmp_path / "vazio.csv"
    empty.write_bytes(b"")
    assert main(["import-catalogue", "--table-name", table, "--tenant", TENANT, str(empty)]) == 2
    assert "the file is empty; nothing was written" in capsys.readouterr().err


def test_list_orders_prints_a_contacts_orders_and_tickets_in_the_tenants_time(stack, capsys):
    table = stack.resources["AtendeTable"].ref
    store = BusinessStore(table, cache_seconds=0)
    seed_business(stack, {TENANT: CATALOGUES[TENANT]}, now=NOW)
    store.create_order(TENANT, "c_mariana", [OrderLine("bolo-cenoura", 1), OrderLine("coxinha", 4)], idempotency_key="wamid.1", now=NOW)
    store.open_ticket(TENANT, "c_mariana", TicketDraft.create("Atraso", "O bolo não chegou.", "high"), idempotency_key="wamid.2", now=NOW)
    store.create_order(TENANT, "c_joao", [OrderLine("sonho", 1)], idempotency_key="wamid.3", now=NOW)

    assert main(["list-orders", "--table-name", table, "--tenant", TENANT, "--contact", "c_mariana"]) == 0
    assert json.loads(capsys.readouterr().out) == {
        "tenant_id": TENANT,
        "contact_id": "c_mariana",
        "orders": [
            {
                "number": 1001,
                "status": "received",
                "created_at": "2025-10-09T05:53:20-03:00",
                "total": "R$ 66,00",
                "total_brl": "66.00",
                "items": [
                    {"product_id": "bolo-cenoura", "name": "Bolo de Cenoura", "quantity": 1, "unit_price_brl": "38.00"},
                    {"product_id": "coxinha", "name": "Coxinha de Frango", "quantity": 4, "unit_price_brl": "7.00"},
                ],
                "history": [{"status": "received", "at": "2025-10-09T05:53:20-03:00"}],
            }
        ],
        "tickets": [
            {
                "number": 1001,
                "status": "open",
                "priority": "high",
                "created_at": "2025-10-09T05:53:20-03:00",
                "subject": "Atraso",
                "description": "O bolo não chegou.",
            }
        ],
    }


def test_seed_business_writes_every_seeded_catalogue_through_the_adapter(stack):
    written = seed_business(stack, now=NOW)
    assert written == {tenant: len(products) for tenant, products in CATALOGUES.items()}
    store = BusinessStore(stack.resources["AtendeTable"].ref, cache_seconds=0)
    assert [h.product.name for h in store.search_products(DEMO.tenant_id, "bolo de cenora", limit=2)] == [
        "Bolo de Cenoura",
        "Fatia de Bolo de Cenoura",
    ]
    assert store.search_products(PET_SHOP, "racao golden 15kg", limit=1)[0].product.name == "Ração Golden Adulto 15 kg"
    assert seed_business(stack, now=NOW) == written  # idempotent
    assert len(store.list_products(PET_SHOP)) == len(CATALOGUES[PET_SHOP])
