"""The catalogue's pure rules: Portuguese search, pt-BR money, order quotes, and reading a
business's spreadsheet (CSV/JSON) into products with a per-row error report."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from atende.domain.catalogue import (
    CatalogueIndex,
    EmptyOrder,
    InvalidQuantity,
    InvalidTicket,
    OrderLine,
    OutOfStock,
    Product,
    ProductUnavailable,
    TicketDraft,
    TicketPriority,
    TooManyLines,
    format_brl,
    parse_brl,
    quote_order,
    singulars,
    within_one_edit,
    words,
)
from atende.service.catalogue import ImportRejected, RowError, import_catalogue, parse_catalogue
from tests.fakes_business import InMemoryBusinessData

SAMPLE_CSV = Path(__file__).parents[2] / "docs" / "samples" / "catalogo-pet-shop.csv"


def product(product_id: str, name: str, price: str = "10.00", description: str = "", **kwargs: object) -> Product:
    return Product(product_id, name, Decimal(price), description, **kwargs)  # type: ignore[arg-type]


PET_SHOP = [
    product("rac-gold-ad-15", "Ração Golden Adulto 15 kg", "189.90", "Cães adultos; frango e arroz.", stock=12, category="Rações"),
    product("rac-gold-fi-3", "Ração Golden Filhote 3 kg", "62.90", stock=20, category="Rações"),
    product("rac-prem-ad-15", "Ração Premier Adulto 15 kg", "229.90", category="Rações"),
    product("rac-gold-antiga", "Ração Golden Antiga 15 kg", "99.00", active=False),
    product("coleira-15", "Coleira Nylon 15 cm", "19.90", category="Acessórios"),
    product("petisco", "Bifinho de Frango 500 g", "24.90", "Petisco para cães, sabor frango.", category="Petiscos"),
    product("tapete", "Tapete Higiênico 30 unidades", "54.90"),
]
BAKERY = [
    product("bolo-cenoura", "Bolo de Cenoura", "38.00", "Com cobertura de chocolate.", category="Bolos"),
    product("bolo-chocolate", "Bolo de Chocolate", "45.00", category="Bolos"),
    product("pao-queijo", "Pão de Queijo", "2.50", category="Salgados"),
    product("pastel", "Pastel de Carne", "8.00", category="Salgados"),
]


def names(hits: list) -> list[str]:
    return [hit.product.name for hit in hits]


@pytest.fixture(scope="module")
def pets() -> CatalogueIndex:
    return CatalogueIndex.build(PET_SHOP)


@pytest.fixture(scope="module")
def bakery() -> CatalogueIndex:
    return CatalogueIndex.build(BAKERY)


# --- search -----------------------------------------------------------------------------------


def test_the_customers_words_with_a_unit_glued_to_the_number_find_the_exact_product_first(pets):
    # Given the pet shop's catalogue / When the customer writes without accents and "15kg" glued
    hits = pets.search("racao golden 15kg")

    # Then the product matching every word comes first, then those matching fewer (never the inactive one)
    assert names(hits) == ["Ração Golden Adulto 15 kg", "Ração Golden Filhote 3 kg", "Ração Premier Adulto 15 kg"]
    assert (hits[0].matched_words, hits[0].query_words, hits[0].all_words) == (4, 4, True)
    assert not hits[1].all_words


@pytest.mark.parametrize(
    "query", ["RAÇÃO GOLDEN ADULTO 15 KG", "ração golden adulto 15 kg", "racao golden adulto 15 quilos", "Ração Golden Adulto 15kgs"]
)
def test_case_accents_and_unit_spellings_do_not_matter(pets, query):
    assert names(pets.search(query, limit=1)) == ["Ração Golden Adulto 15 kg"]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("rações", {"Ração Golden Adulto 15 kg", "Ração Golden Filhote 3 kg", "Ração Premier Adulto 15 kg"}),
        ("tapetes higiênicos", {"Tapete Higiênico 30 unidades"}),
        ("coleiras", {"Coleira Nylon 15 cm"}),
    ],
)
def test_a_plural_finds_the_singular(pets, query, expected):
    assert set(names(pets.search(query))) == expected


@pytest.mark.parametrize(
    ("query", "first"),
    [
        ("bolos", "Bolo de Cenoura"),
        ("pães de queijo", "Pão de Queijo"),
        ("pastéis", "Pastel de Carne"),
        ("bolo de cenora", "Bolo de Cenoura"),
    ],
)
def test_bakery_plurals_and_a_missing_letter(bakery, query, first):
    assert names(bakery.search(query))[0] == first


def test_a_typo_of_one_edit_in_a_long_word_still_finds_the_product(bakery):
    # Given "cenoura" in the catalogue / When one letter is missing, wrong, extra or swapped
    for typo in ("cenora", "cenoira", "cenouura", "cenuora"):
        # Then the carrot cake is found, ranked above the cake that matches only "bolo"
        assert names(bakery.search(f"bolo de {typo}")) == ["Bolo de Cenoura", "Bolo de Chocolate"], typo


def test_short_words_and_two_edits_are_not_typo_matched(bakery):
    assert bakery.search("pau") == []  # 3 letters: no typo tolerance
    assert bakery.search("cenra") == []  # two letters missing
    assert bakery.search("ceboura")[0].product.name == "Bolo de Cenoura"  # one substitution


def test_an_exact_match_beats_a_typo_match():
    index = CatalogueIndex.build([product("a", "Bolo Gelado"), product("b", "Bolo Geladu")])
    assert names(index.search("gelado")) == ["Bolo Gelado"]  # an exact hit: no typo search at all


def test_a_word_in_the_name_ranks_above_the_same_word_in_the_description(bakery):
    # Given "chocolate" in one name and in another product's description
    hits = bakery.search("chocolate")
    # Then both are found, the one named so first
    assert names(hits) == ["Bolo de Chocolate", "Bolo de Cenoura"]
    assert hits[0].score > hits[1].score


def test_more_matched_words_rank_first_whatever_the_field():
    index = CatalogueIndex.build(
        [product("a", "Petisco Frango"), product("b", "Petisco", description="sabor frango para cães"), product("c", "Frango")]
    )
    assert names(index.search("petisco frango")) == ["Petisco Frango", "Petisco", "Frango"]


def test_inactive_products_are_never_returned(pets):
    assert "Ração Golden Antiga 15 kg" not in names(pets.search("ração golden antiga 15 kg"))
    assert pets.search("antiga") == []
    assert len(pets) == 6


def test_numbers_and_units_refine_but_never_find_alone_when_the_query_has_a_word(pets):
    # "15" and "kg" are in several products, "xyz" in none: nothing is a match
    assert pets.search("xyz 15 kg") == []
    # A query of only numbers and units does search by them
    assert set(names(pets.search("15 kg"))) >= {"Ração Golden Adulto 15 kg", "Ração Premier Adulto 15 kg"}


def test_filler_words_of_a_question_are_ignored(bakery):
    assert names(bakery.search("Quanto custa o bolo de cenoura?"))[0] == "Bolo de Cenoura"
    assert bakery.search("quanto custa?") == []


def test_the_limit_caps_the_results(pets):
    assert len(pets.search("ração", limit=2)) == 2
    assert pets.search("ração", limit=0) == []


def test_decimal_numbers_are_one_word_whatever_the_separator():
    index = CatalogueIndex.build([product("a", "Água Mineral 1,5 L"), product("b", "Água Mineral 500 ml")])
    assert names(index.search("agua 1.5l")) == ["Água Mineral 1,5 L", "Água Mineral 500 ml"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Ração Golden 15kg", ["racao", "golden", "15", "kg"]),
        ("2 litros de água", ["2", "l", "agua"]),
        ("Painel 550W", ["painel", "550", "w"]),
        ("vocês têm pão?", ["pao"]),
    ],
)
def test_words(text, expected):
    assert words(text) == expected


@pytest.mark.parametrize(
    ("word", "includes"),
    [("racoes", "racao"), ("paes", "pao"), ("bolos", "bolo"), ("animais", "animal"), ("pasteis", "pastel"), ("bombons", "bombom"),
     ("flores", "flor"), ("doces", "doce"), ("lencois", "lencol")],
)  # fmt: skip
def test_singulars(word, includes):
    assert word in singulars(word) and includes in singulars(word)


@pytest.mark.parametrize(
    ("a", "b", "near"),
    [("cenora", "cenoura", True), ("cenoura", "cenoira", True), ("cenuora", "cenoura", True), ("cenoura", "cenoura", True),
     ("cenra", "cenoura", False), ("xcenour", "cenoura", False), ("abcd", "badc", False)],
)  # fmt: skip
def test_within_one_edit(a, b, near):
    assert within_one_edit(a, b) is near
    assert within_one_edit(b, a) is near


# --- money -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "text"),
    [("1234.5", "R$ 1.234,50"), ("0", "R$ 0,00"), ("379.80", "R$ 379,80"), ("1000000", "R$ 1.000.000,00"), ("0.005", "R$ 0,01")],
)
def test_format_brl(value, text):
    assert format_brl(Decimal(value)) == text


@pytest.mark.parametrize(
    ("text", "value"),
    [("R$ 189,90", "189.90"), ("189.90", "189.90"), ("189,9", "189.90"), ("1.234,50", "1234.50"), ("1,234.50", "1234.50"),
     ("1.234", "1234.00"), ("189", "189.00"), ("R$\u00a02.500,00", "2500.00"), (" r$ 7,5 ", "7.50"), (12, "12.00"),
     (Decimal("9.9"), "9.90")],
)  # fmt: skip
def test_parse_brl(text, value):
    assert parse_brl(text) == Decimal(value)


@pytest.mark.parametrize("text", ["", "abc", "R$", "-5", "1,2,3", "1.2.3", "1,2345", "1.23.456", "12,", ",5", "1e3", True, 1.005])
def test_parse_brl_refuses_what_is_no_price(text):
    with pytest.raises(ValueError):
        parse_brl(text)


# --- orders and tickets -----------------------------------------------------------------------


def test_an_order_quote_prices_from_the_catalogue_and_reads_like_the_confirmation():
    catalogue = {p.product_id: p for p in PET_SHOP}
    quote = quote_order([OrderLine("rac-gold-ad-15", 2)], catalogue)
    assert quote.summary() == "2× Ração Golden Adulto 15 kg — R$ 379,80"
    assert quote.total == Decimal("379.80")

    several = quote_order([OrderLine("rac-gold-ad-15", 1), OrderLine("petisco", 2), OrderLine("rac-gold-ad-15", 1)], catalogue)
    assert several.summary() == "2× Ração Golden Adulto 15 kg — R$ 379,80\n2× Bifinho de Frango 500 g — R$ 49,80\nTotal: R$ 429,60"


@pytest.mark.parametrize(
    ("lines", "error"),
    [
        ([], EmptyOrder),
        ([OrderLine("petisco", 0)], InvalidQuantity),
        ([OrderLine("petisco", 51)], InvalidQuantity),
        ([OrderLine("petisco", 30), OrderLine("petisco", 30)], InvalidQuantity),  # 60 once merged
        ([OrderLine("nada", 1)], ProductUnavailable),
        ([OrderLine("rac-gold-antiga", 1)], ProductUnavailable),
        ([OrderLine("rac-gold-ad-15", 13)], OutOfStock),
        ([OrderLine(f"p{i}", 1) for i in range(21)], TooManyLines),
    ],
)
def test_an_order_quote_refuses(lines, error):
    with pytest.raises(error):
        quote_order(lines, {p.product_id: p for p in PET_SHOP})


def test_out_of_stock_says_how_many_are_left():
    with pytest.raises(OutOfStock) as caught:
        quote_order([OrderLine("rac-gold-ad-15", 13)], {p.product_id: p for p in PET_SHOP})
    assert (caught.value.code, caught.value.available, caught.value.name) == ("out_of_stock", 12, "Ração Golden Adulto 15 kg")


def test_a_ticket_draft_is_bounded_and_needs_text():
    draft = TicketDraft.create("  Ração   veio rasgada ", "x" * 5000, "high")
    assert (draft.subject, len(draft.description), draft.priority) == ("Ração veio rasgada", 2000, TicketPriority.HIGH)
    assert draft.summary() == "Chamado: Ração veio rasgada (prioridade alta)"
    for subject, description, priority in (("", "d", "normal"), ("s", "  ", "normal"), ("s", "d", "urgent")):
        with pytest.raises(InvalidTicket):
            TicketDraft.create(subject, description, priority)


def test_products_round_trip_through_their_item_in_whole_cents():
    original = product("x", "Ração", "189.90", "desc", stock=3, category="Rações")
    assert original.to_item()["price_cents"] == 18990
    assert Product.from_item(original.to_item()) == original
    untracked = product("y", "Bolo", "38")
    assert "stock" not in untracked.to_item() and Product.from_item(untracked.to_item()).stock is None


# --- reading a spreadsheet --------------------------------------------------------------------


def test_the_sample_pet_shop_spreadsheet_reads_whole():
    # Given the sample: UTF-8 with a BOM, ';' separators, pt-BR headers, "R$ 189,90" prices
    parsed = parse_catalogue(SAMPLE_CSV.read_bytes())
    assert parsed.errors == ()
    assert parsed.rows == 12
    assert parsed.columns == frozenset({"product_id", "name", "description", "price", "stock", "category", "active"})
    assert parsed.products[0] == Product(
        "RAC-GOLD-AD-15",
        "Ração Golden Adulto 15 kg",
        Decimal("189.90"),
        "Ração premium especial para cães adultos de porte médio e grande; sabor frango e arroz.",
        stock=12,
        category="Rações",
    )
    by_id = {p.product_id: p for p in parsed.products}
    assert by_id["TAP-HIG-30"].stock is None  # empty stock: not tracked
    assert by_id["BRINQ-CORDA"].active is False  # ativo "não"


def test_english_headers_commas_and_dotted_prices():
    data = b'SKU,Name,Description,Price,Stock,Category,Active\nBOLO-1,Carrot cake,"With chocolate, serves 10",38.00,,Cakes,yes\n'
    [cake] = parse_catalogue(data).products
    assert cake == Product("BOLO-1", "Carrot cake", Decimal("38.00"), "With chocolate, serves 10", stock=None, category="Cakes")


def test_a_windows_1252_file_is_read_too():
    data = "nome;preço\nPão de Queijo;2,50\n".encode("cp1252")
    parsed = parse_catalogue(data)
    assert (parsed.encoding, parsed.products[0].name, parsed.products[0].price) == ("cp1252", "Pão de Queijo", Decimal("2.50"))


def test_without_an_id_column_ids_come_from_the_names():
    parsed = parse_catalogue("Produto;Valor (R$)\nRação Golden Adulto 15 kg;189,90\n".encode())
    assert parsed.products[0].product_id == "racao-golden-adulto-15-kg"
    assert parsed.columns == frozenset({"name", "price"})


def test_every_bad_row_is_reported_with_its_row_number_and_no_product_from_a_bad_file_is_lost_silently():
    data = (
        "id;nome;preço;estoque;ativo\n"  # row 1
        "a;Ração A;R$ 10,00;5;sim\n"  # row 2: fine
        "b;Ração B;dez reais;;sim\n"  # row 3: price
        ";;12,00;;\n"  # row 4: no name
        "c;Ração C;12,00;-1;sim\n"  # row 5: stock
        "\n"  # row 6: blank, skipped
        "d;Ração D;12,00;2,5;sim\n"  # row 7: stock not whole
        "e;Ração E;12,00;;talvez\n"  # row 8: active
        "a;Ração A de novo;12,00;;\n"  # row 9: repeated id
        "f g;Ração F;1,00;;\n"  # row 10: bad id
    ).encode()
    parsed = parse_catalogue(data)
    assert [(e.row, e.reason.split(":")[0]) for e in parsed.errors] == [
        (3, "price"),
        (4, "name"),
        (5, "stock"),
        (7, "stock"),
        (8, "active"),
        (9, "id 'a' repeats row 2"),
        (10, "id"),
    ]
    assert parsed.errors[0] == RowError(3, "price: 'dez reais' is not a price (not a price; write 189,90 or 189.90)")
    assert parsed.errors[0].text() == "row 3: price: 'dez reais' is not a price (not a price; write 189,90 or 189.90)"


def test_a_file_without_the_required_columns_is_one_error_on_the_header_row():
    parsed = parse_catalogue(b"nome;estoque\nBolo;3\n")
    assert parsed.errors == (RowError(1, "no price column (headers: nome, estoque)"),)
    assert parsed.products == ()


def test_unknown_columns_are_ignored_and_reported():
    parsed = parse_catalogue("nome;preço;fornecedor\nBolo;38\n".encode())
    assert parsed.ignored_columns == ("fornecedor",)
    assert parsed.errors == ()


def test_json_lists_and_objects_with_the_same_aliases():
    listed = json.dumps([{"nome": "Bolo de Cenoura", "preco": 38.0, "estoque": 3, "ativo": True}, {"name": "Coxinha", "price": "7,00"}])
    parsed = parse_catalogue(listed.encode())
    assert [(p.product_id, p.price, p.stock) for p in parsed.products] == [
        ("bolo-de-cenoura", Decimal("38.00"), 3),
        ("coxinha", Decimal("7.00"), None),
    ]
    wrapped = parse_catalogue(json.dumps({"products": [{"name": "Bolo", "price": "abc"}, "x"]}).encode())
    assert wrapped.errors == (RowError(2, "not an object"),)
    assert parse_catalogue(b'{"products": 3}').errors == (RowError(0, 'JSON must be a list of products or {"products": [...]}'),)


def test_files_that_are_no_catalogue_are_refused():
    for data in (b"", b"   \n"):
        with pytest.raises(ImportRejected):
            parse_catalogue(data)
    with pytest.raises(ImportRejected):
        parse_catalogue(b"nome;preco\n", kind="xml")


# --- the import use case ----------------------------------------------------------------------

NOW = 1_760_000_000


def test_an_import_creates_then_updates_by_id_and_leaves_unchanged_products_alone():
    store = InMemoryBusinessData()
    first = import_catalogue(store, "pet", b"id;nome;preco;estoque\na;Ra\xc3\xa7\xc3\xa3o A;10,00;5\nb;B;20,00;\n", now=NOW)
    assert (first.written, first.created, first.updated, first.unchanged, first.version) == (True, ("a", "b"), (), 0, 1)

    second = import_catalogue(store, "pet", "id;nome;preco;estoque\na;Ração A;12,00;5\nb;B;20,00;\n".encode(), now=NOW)
    assert (second.created, second.updated, second.unchanged, second.version) == ((), ("a",), 1, 2)
    assert store.catalogues["pet"]["a"].price == Decimal("12.00")


def test_an_import_without_a_stock_column_keeps_the_stock_the_orders_left():
    store = InMemoryBusinessData()
    store.add_products("pet", [product("a", "Ração A", "10.00", stock=3, category="Rações")])
    report = import_catalogue(store, "pet", b"id;nome;preco\na;Ra\xc3\xa7\xc3\xa3o A;11,00\n", now=NOW)
    assert report.updated == ("a",)
    assert store.catalogues["pet"]["a"] == product("a", "Ração A", "11.00", stock=3, category="Rações")  # category kept too
    assert store.calls["update_products_keeping_stock"] == 1


def test_a_file_with_errors_writes_nothing():
    store = InMemoryBusinessData()
    report = import_catalogue(store, "pet", b"nome;preco\nBolo;38\nTorta;caro\n", now=NOW)
    assert (report.ok, report.written, [e.row for e in report.errors]) == (False, False, [3])
    assert store.catalogues["pet"] == {} and store.calls["list_products"] == 0


def test_a_dry_run_reports_without_writing():
    store = InMemoryBusinessData()
    report = import_catalogue(store, "pet", b"nome;preco\nBolo;38\n", now=NOW, dry_run=True)
    assert (report.written, report.created, report.to_dict()["created"]) == (False, ("bolo",), 1)
    assert store.catalogues["pet"] == {} and store.versions["pet"] == 0


def test_deactivate_missing_takes_products_not_in_the_file_off_sale():
    store = InMemoryBusinessData()
    store.add_products("pet", [product("a", "A"), product("b", "B"), product("c", "C", active=False)])
    report = import_catalogue(store, "pet", b"id;nome;preco\na;A;10\n", now=NOW, deactivate_missing=True)
    assert report.deactivated == ("b",)
    assert [p.active for p in store.list_products("pet")] == [True, False, False]
