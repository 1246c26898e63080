"""Catalogue import: a business's spreadsheet (CSV) or JSON list of products into its catalogue.

Reachable from the admin CLI (``python -m admin import-catalogue``) and, later, the operator API.

**What is accepted.** CSV with ``;``, ``,`` or tab separators (told by the header line), UTF-8
with or without a BOM (a file that is not UTF-8 is read as Windows-1252, what Excel in Brazil
saves), header names in pt-BR or English in any case and accents (``nome``/``name``/``produto``,
``descrição``, ``preço``/``price``/``valor``, ``estoque``/``stock``, ``categoria``, ``ativo``,
``id``/``sku``/``código``); prices as people write them (``R$ 189,90``, ``189.90``, ``1.234,50``);
``ativo`` as sim/não, yes/no, true/false, 1/0. JSON: a list of objects with the same keys, or
``{"products": [...]}``. Only a name and a price are required: a row without an id gets one from
its name (``ração-golden-adulto-15-kg`` folded to ``racao-golden-adulto-15-kg``); an empty stock
means "not tracked" (always available).

**Validation is all-or-nothing.** Every row is checked first; one bad row and nothing is written,
and the report lists every bad row with its number (the spreadsheet's row number: the header is
row 1; for JSON, the item's position from 1) and the reason.

**Writing is an upsert by product id.** Products in the file are created or updated; a column the
file lacks keeps each existing product's stored value (no stock column: the stock the orders left
is kept, never overwritten); products not in the file are left alone, or taken off sale with
``deactivate_missing``. Unchanged products are not written. The catalogue's version is bumped
once at the end, so every container's search cache reloads it. An import is not one transaction
(5,000 products are 200 batch writes): a failure midway leaves the rows written so far, and
running the same import again is safe and completes it.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any, Protocol

from atende.domain.catalogue import (
    MAX_CATEGORY_CHARS,
    MAX_DESCRIPTION_CHARS,
    MAX_NAME_CHARS,
    MAX_STOCK,
    Product,
    fold,
    parse_brl,
    valid_product_id,
)

MAX_IMPORT_BYTES = 10 * 1024 * 1024
MAX_IMPORT_ROWS = 10_000
MAX_REPORTED_ERRORS = 200  # a file that is wrong everywhere is reported in its first 200 problems

FIELDS = ("product_id", "name", "description", "price", "stock", "category", "active")
OPTIONAL_FIELDS = frozenset({"description", "stock", "category", "active"})
# Header names, folded (lower case, no accents, punctuation as spaces): "Preço (R$)" → "preco r".
_ALIASES: dict[str, str] = {
    **dict.fromkeys(
        ("id", "sku", "codigo", "cod", "code", "ref", "referencia", "product id", "codigo do produto", "id do produto"), "product_id"
    ),
    **dict.fromkeys(("nome", "name", "produto", "product", "titulo", "title", "nome do produto", "product name", "item"), "name"),
    **dict.fromkeys(("descricao", "description", "desc", "detalhes", "details", "descricao do produto"), "description"),
    **dict.fromkeys(
        ("preco", "price", "valor", "preco r", "valor r", "preco rs", "price brl", "preco de venda", "preco unitario", "valor unitario"),
        "price",
    ),
    **dict.fromkeys(("estoque", "stock", "quantidade", "qtd", "qtde", "quantity", "inventory", "saldo", "estoque atual"), "stock"),
    **dict.fromkeys(("categoria", "category", "departamento", "secao", "grupo", "tipo"), "category"),
    **dict.fromkeys(("ativo", "active", "disponivel", "available", "enabled", "status", "a venda", "situacao"), "active"),
}
_TRUE = frozenset({"sim", "s", "yes", "y", "true", "verdadeiro", "1", "x", "ativo", "active", "disponivel"})
_FALSE = frozenset({"nao", "n", "no", "false", "falso", "0", "inativo", "inactive", "indisponivel"})
_THOUSANDS_INT = re.compile(r"\d{1,3}(?:\.\d{3})+")


@dataclass(frozen=True, slots=True)
class RowError:
    row: int  # the spreadsheet's row number (header = 1), or the JSON item's position from 1; 0 = the file
    reason: str

    def text(self) -> str:
        return f"row {self.row}: {self.reason}" if self.row else self.reason


@dataclass(frozen=True, slots=True)
class ParsedCatalogue:
    products: tuple[Product, ...]
    errors: tuple[RowError, ...]
    columns: frozenset[str]  # the fields the file has a column (key) for
    rows: int  # data rows read (blank rows not counted)
    encoding: str = "utf-8"
    ignored_columns: tuple[str, ...] = ()


class ImportRejected(ValueError):
    """Not a catalogue file at all (empty, too large, not CSV/JSON): nothing was read."""


def parse_catalogue(data: bytes, *, kind: str | None = None) -> ParsedCatalogue:
    """Read and check every row of a CSV or JSON catalogue (``kind`` "csv"/"json"; None = told by content)."""
    if len(data) > MAX_IMPORT_BYTES:
        raise ImportRejected(f"the file is larger than {MAX_IMPORT_BYTES // (1024 * 1024)} MB")
    text, encoding = _decode(data)
    if not text.strip():
        raise ImportRejected("the file is empty")
    if kind is None:
        kind = "json" if text.lstrip()[:1] in ("[", "{") else "csv"
    if kind == "json":
        rows, columns, ignored, file_errors = _json_rows(text)
    elif kind == "csv":
        rows, columns, ignored, file_errors = _csv_rows(text)
    else:
        raise ImportRejected(f"unknown format {kind!r}: csv or json")
    if file_errors:
        return ParsedCatalogue((), tuple(file_errors), columns, 0, encoding, ignored)
    products: list[Product] = []
    errors: list[RowError] = []
    first_row_of: dict[str, int] = {}
    count = 0
    for row_number, values in rows:
        count += 1
        if count > MAX_IMPORT_ROWS:
            errors.append(RowError(row_number, f"more than {MAX_IMPORT_ROWS} products: split the file"))
            break
        try:
            product = product_from_row(values)
        except ValueError as exc:
            errors.append(RowError(row_number, str(exc)))
        else:
            earlier = first_row_of.get(product.product_id)
            if earlier is not None:
                source = "" if "product_id" in values else " (made from the name: add an id column)"
                errors.append(RowError(row_number, f"id {product.product_id!r}{source} repeats row {earlier}"))
            else:
                first_row_of[product.product_id] = row_number
                products.append(product)
        if len(errors) >= MAX_REPORTED_ERRORS:
            break
    return ParsedCatalogue(tuple(products), tuple(errors), columns, count, encoding, ignored)


def product_from_row(values: Mapping[str, Any]) -> Product:
    """One row's fields (canonical names, raw values) as a Product; ValueError names the field."""
    name = _text(values.get("name"))
    if not name:
        raise ValueError("name: empty")
    if len(name) > MAX_NAME_CHARS:
        raise ValueError(f"name: longer than {MAX_NAME_CHARS} characters")
    given_id = _text(values.get("product_id"))
    product_id = given_id or slug(name)
    if not valid_product_id(product_id):
        raise ValueError(f"id: {product_id!r} is not an id (1-64 letters, digits, '.', '_' or '-')")
    price_value = values.get("price")
    if price_value is None or _text(price_value) == "":
        raise ValueError("price: empty")
    try:
        price = parse_brl(price_value if isinstance(price_value, (int, float, Decimal)) else _text(price_value))
    except ValueError as exc:
        raise ValueError(f"price: {_shown(price_value)} is not a price ({exc}; write 189,90 or 189.90)") from None
    description = _text(values.get("description"), keep_lines=True)
    if len(description) > MAX_DESCRIPTION_CHARS:
        raise ValueError(f"description: longer than {MAX_DESCRIPTION_CHARS} characters")
    category = _text(values.get("category"))
    if len(category) > MAX_CATEGORY_CHARS:
        raise ValueError(f"category: longer than {MAX_CATEGORY_CHARS} characters")
    return Product(
        product_id=product_id,
        name=name,
        price=price,
        description=description,
        stock=_stock(values.get("stock")),
        category=category,
        active=_active(values.get("active")),
    )


def slug(name: str) -> str:
    """An id made from a name: ``"Ração Golden Adulto 15 kg"`` → ``"racao-golden-adulto-15-kg"``."""
    return re.sub(r"[^a-z0-9]+", "-", fold(name)).strip("-")[:64].strip("-")


# --- the use case ---------------------------------------------------------------------------------


class CatalogueWriter(Protocol):
    """What an import needs of the store (``store.business.BusinessStore``)."""

    def list_products(self, tenant_id: str) -> list[Product]: ...

    def put_products(self, tenant_id: str, products: Sequence[Product], *, now: int) -> None: ...

    def update_products_keeping_stock(self, tenant_id: str, products: Sequence[Product], *, now: int) -> None: ...

    def deactivate_products(self, tenant_id: str, product_ids: Iterable[str], *, now: int) -> None: ...

    def bump_catalogue_version(self, tenant_id: str, *, now: int) -> int: ...


@dataclass(frozen=True, slots=True)
class ImportReport:
    tenant_id: str
    dry_run: bool
    written: bool
    rows: int
    created: tuple[str, ...] = ()
    updated: tuple[str, ...] = ()
    unchanged: int = 0
    deactivated: tuple[str, ...] = ()
    errors: tuple[RowError, ...] = ()
    encoding: str = "utf-8"
    ignored_columns: tuple[str, ...] = ()
    version: int | None = None  # the catalogue version after the write
    notes: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.errors

    def to_dict(self) -> dict[str, Any]:
        return {
            "tenant_id": self.tenant_id,
            "dry_run": self.dry_run,
            "written": self.written,
            "rows": self.rows,
            "created": len(self.created),
            "updated": len(self.updated),
            "unchanged": self.unchanged,
            "deactivated": list(self.deactivated),
            "created_ids": list(self.created),
            "updated_ids": list(self.updated),
            "errors": [{"row": e.row, "reason": e.reason} for e in self.errors],
            "encoding": self.encoding,
            "ignored_columns": list(self.ignored_columns),
            "version": self.version,
            "notes": list(self.notes),
        }


def import_catalogue(
    store: CatalogueWriter,
    tenant_id: str,
    data: bytes,
    *,
    now: int,
    kind: str | None = None,
    dry_run: bool = False,
    deactivate_missing: bool = False,
) -> ImportReport:
    """Check every row, then upsert the products by id (see the module docstring).

    Round trips: one Query (the current catalogue) — nothing more for a dry run or a file with
    errors —, then a BatchWriteItem per 25 new products (and per 25 changed ones when the file has
    a stock column; without one, one UpdateItem per changed product), one UpdateItem per product
    taken off sale, and one UpdateItem for the catalogue version.
    """
    parsed = parse_catalogue(data, kind=kind)
    base = ImportReport(
        tenant_id=tenant_id,
        dry_run=dry_run,
        written=False,
        rows=parsed.rows,
        encoding=parsed.encoding,
        ignored_columns=parsed.ignored_columns,
    )
    if parsed.errors:
        return replace(base, errors=parsed.errors)
    existing = {p.product_id: p for p in store.list_products(tenant_id)}
    absent = [f for f in OPTIONAL_FIELDS if f not in parsed.columns]
    created: list[Product] = []
    changed: list[Product] = []
    unchanged = 0
    for product in parsed.products:
        stored = existing.get(product.product_id)
        if stored is None:
            created.append(product)
            continue
        merged = replace(product, **{f: getattr(stored, f) for f in absent})
        if merged == stored:
            unchanged += 1
        else:
            changed.append(merged)
    in_file = {p.product_id for p in parsed.products}
    missing = sorted(p for p, stored in existing.items() if p not in in_file and stored.active) if deactivate_missing else []
    notes = []
    if "stock" not in parsed.columns:
        notes.append("no stock column: new products do not track stock, existing ones keep theirs")
    if "product_id" not in parsed.columns:
        notes.append("no id column: ids were made from the names (renaming a product in the file makes a new one)")
    report = replace(
        base,
        created=tuple(p.product_id for p in created),
        updated=tuple(p.product_id for p in changed),
        unchanged=unchanged,
        deactivated=tuple(missing),
        notes=tuple(notes),
    )
    if dry_run or not (created or changed or missing):
        return report
    store.put_products(tenant_id, created, now=now)
    if "stock" in parsed.columns:
        store.put_products(tenant_id, changed, now=now)
    else:
        store.update_products_keeping_stock(tenant_id, changed, now=now)
    store.deactivate_products(tenant_id, missing, now=now)
    version = store.bump_catalogue_version(tenant_id, now=now)
    return replace(report, written=True, version=version)


# --- reading the file -------------------------------------------------------------------------------

Rows = list[tuple[int, dict[str, Any]]]


def _decode(data: bytes) -> tuple[str, str]:
    try:
        return data.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError:
        # Excel's "CSV (separado por vírgulas)" on a Brazilian Windows is Windows-1252.
        return data.decode("cp1252", errors="replace"), "cp1252"


def _header(name: str) -> str:
    return " ".join(re.sub(r"[^a-z0-9]+", " ", fold(name)).split())


def _columns(names: Sequence[str]) -> tuple[dict[int, str], frozenset[str], tuple[str, ...], list[RowError]]:
    """Header cells → {position: field}; the fields found; the ignored headers; file-level errors."""
    mapping: dict[int, str] = {}
    ignored: list[str] = []
    errors: list[RowError] = []
    for position, raw in enumerate(names):
        canonical = _ALIASES.get(_header(raw))
        if canonical is None:
            if raw.strip():
                ignored.append(raw.strip())
            continue
        if canonical in mapping.values():
            errors.append(RowError(1, f"two columns mean {canonical}: {raw.strip()!r} and an earlier one"))
            continue
        mapping[position] = canonical
    found = frozenset(mapping.values())
    for required in ("name", "price"):
        if required not in found:
            errors.append(RowError(1, f"no {required} column (headers: {', '.join(n.strip() for n in names) or 'none'})"))
    return mapping, found, tuple(ignored), errors


def _csv_rows(text: str) -> tuple[Rows, frozenset[str], tuple[str, ...], list[RowError]]:
    first_line = text.split("\n", 1)[0]
    delimiter = max((";", ",", "\t"), key=first_line.count)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = next(reader)
    except (StopIteration, csv.Error) as exc:
        return [], frozenset(), (), [RowError(1, f"no header row ({exc})" if str(exc) else "no header row")]
    mapping, columns, ignored, errors = _columns(header)
    if errors:
        return [], columns, ignored, errors
    rows: Rows = []
    try:
        for index, cells in enumerate(reader, start=2):
            if not any(cell.strip() for cell in cells):
                continue
            rows.append((index, {name: cells[position] for position, name in mapping.items() if position < len(cells)}))
    except csv.Error as exc:
        return [], columns, ignored, [RowError(len(rows) + 2, f"not readable as CSV: {exc}")]
    return rows, columns, ignored, []


def _json_rows(text: str) -> tuple[Rows, frozenset[str], tuple[str, ...], list[RowError]]:
    try:
        document = json.loads(text, parse_float=Decimal)
    except (ValueError, RecursionError) as exc:
        return [], frozenset(), (), [RowError(0, f"not JSON: {exc}")]
    items = document.get("products") if isinstance(document, dict) else document
    if not isinstance(items, list):
        return [], frozenset(), (), [RowError(0, 'JSON must be a list of products or {"products": [...]}')]
    rows: Rows = []
    columns: set[str] = set()
    ignored: dict[str, None] = {}
    errors: list[RowError] = []
    for position, item in enumerate(items, start=1):
        if not isinstance(item, dict):
            errors.append(RowError(position, "not an object"))
            continue
        values: dict[str, Any] = {}
        for key, value in item.items():
            canonical = _ALIASES.get(_header(str(key)))
            if canonical is None:
                ignored[str(key)] = None
            else:
                values[canonical] = value
                columns.add(canonical)
        rows.append((position, values))
    if errors:
        return [], frozenset(columns), tuple(ignored), errors
    return rows, frozenset(columns), tuple(ignored), []


def _text(value: Any, *, keep_lines: bool = False) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "sim" if value else "não"
    text = str(value)
    if keep_lines:
        return "\n".join(" ".join(line.split()) for line in text.strip().splitlines()).strip()
    return " ".join(text.split())


def _shown(value: Any) -> str:
    text = _text(value)
    return repr(text if len(text) <= 40 else text[:39] + "…")


def _stock(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError("stock: a yes/no is not a quantity")
    if isinstance(value, int):
        number = value
    elif isinstance(value, (float, Decimal)):
        if value != int(value):
            raise ValueError(f"stock: {value} is not a whole number")
        number = int(value)
    else:
        text = _text(value)
        if not text:
            return None
        if text.isdigit():
            number = int(text)
        elif _THOUSANDS_INT.fullmatch(text):
            number = int(text.replace(".", ""))
        else:
            raise ValueError(f"stock: {_shown(value)} is not a whole number (empty = not tracked)")
    if not 0 <= number <= MAX_STOCK:
        raise ValueError(f"stock: {number} is not between 0 and {MAX_STOCK}")
    return number


def _active(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, bool):
        return value
    text = _header(str(value))
    if not text:
        return True
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"active: {_shown(value)} is not sim/não (yes/no)")
