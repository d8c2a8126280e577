"""データ・ダウンロード: the catalogue of published tables, composed filters, paging, facet counts, streamed export.

Identifiers (table and column names) come only from the catalogue, read from the warehouse's own catalog
(schema main, minus EXCLUDED): a name a user sends is looked up there and refused when absent. Every
value a user types is bound. Filters compose as (fragments, params).
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

import duckdb
import polars as pl
import pyarrow as pa

from common.calendar import parse_date
from common.roles import PUBLIC, Viewer
from warehouse import masking, models
from warehouse.query import city_filter, fetch, fetch_one, where

MARTS_DIR = Path(__file__).resolve().parent.parent / "marts"
# Bookkeeping tables that can hold personal values: quarantine keeps the offending cell of a rejected row,
# etl_validation.details lists failing values (emails, phone numbers of pii tables included).
EXCLUDED = frozenset({"quarantine", "etl_validation"})
PAGE_SIZE = 100  # rows per preview page
BATCH_ROWS = 50_000  # rows per Arrow batch when exporting (a batch of ~20 text columns is a few MB)
FACET_MAX = 20  # a text column with at most this many distinct values is filtered by a value set
CITY_COLUMN = "city_code"  # the column the sidebar's city choice filters, when a dataset has it
_NUMBER_TYPES = re.compile(r"^(U?(TINY|SMALL|BIG|HUGE)?INT(EGER)?|FLOAT|DOUBLE|REAL|DECIMAL.*)$")
_DATE_TYPES = re.compile(r"^(DATE|TIMESTAMP.*)$")


class UnknownName(LookupError):
    """A table or column name that is not in the catalogue (never reaches SQL)."""


@dataclass(frozen=True)
class Column:
    """One published column: name, DuckDB type and meaning."""

    name: str
    data_type: str
    comment: str | None

    @property
    def kind(self) -> str:
        """Filter family from the type: text, bool, number, date, or other (not filterable)."""
        if self.data_type == "VARCHAR":
            return "text"
        if self.data_type == "BOOLEAN":
            return "bool"
        if _NUMBER_TYPES.match(self.data_type):
            return "number"
        if _DATE_TYPES.match(self.data_type):
            return "date"
        return "other"


@dataclass(frozen=True)
class Dataset:
    """A published table or mart with its description, columns and row count."""

    name: str
    kind: str  # "table" or "mart"
    description: str | None
    columns: tuple[Column, ...]
    rows: int
    # An earlier year's reader shows each dataset as a view (warehouse/years.py): a view has no rowid.
    view: bool = False

    def column(self, name: str) -> Column:
        """The named column, or UnknownName."""
        for column in self.columns:
            if column.name == name:
                return column
        raise UnknownName(f"{self.name} has no column {name!r}")

    @property
    def column_names(self) -> tuple[str, ...]:
        """Column names in table order."""
        return tuple(column.name for column in self.columns)


@dataclass(frozen=True)
class Contains:
    """Text filter: the column contains this text (case-insensitive, % and _ taken literally)."""

    text: str


@dataclass(frozen=True)
class OneOf:
    """Value-set filter: the column equals one of these values (None matches NULL)."""

    values: tuple


@dataclass(frozen=True)
class Between:
    """Range filter on a number or date column; either end may be open (None). Timestamps compare by date."""

    low: object = None
    high: object = None


Filter = Contains | OneOf | Between


@dataclass(frozen=True)
class View:
    """What the analyst is looking at: a dataset, its filters, the columns shown and the sort."""

    dataset: Dataset
    filters: tuple[tuple[str, Filter], ...] = ()
    columns: tuple[str, ...] = ()  # empty = every column
    sort: str | None = None
    descending: bool = False
    city_code: str | None = None  # the sidebar's city; applied when the dataset has CITY_COLUMN

    def without(self, column: str) -> View:
        """The same view without the filter on one column (facet counts ignore their own selection)."""
        return replace(self, filters=tuple((name, f) for name, f in self.filters if name != column))


def ident(name: str) -> str:
    """Quote an identifier taken from the catalogue (never a user's text)."""
    return '"' + name.replace('"', '""') + '"'


def mart_header(path: Path) -> tuple[str | None, dict[str, str]]:
    """Purpose (first header line) and column meanings (`--   name   meaning` lines) of a mart's SQL file."""
    header = models.header(path)
    return header.purpose, header.columns


def catalogue(con: duckdb.DuckDBPyConnection, viewer: Viewer = PUBLIC) -> dict[str, Dataset]:
    """Published tables and marts of schema main (minus EXCLUDED and the work lists the viewer may not see), tables first, each with row count.

    A work list (masking.WORK_LIST_DATASETS) has no per-city scope here, so only roles that may see it for
    every city (masking.may_see_everywhere) find it; a city manager reads their own city's on 活動分布.
    """
    tables = fetch(
        con,
        # Views too: an earlier year's reader shows the year's tables as views of the same names (warehouse/years.py).
        "select table_name, comment, false as is_view from duckdb_tables() where database_name = current_database() "
        "and schema_name = 'main' and not temporary union all "
        "select view_name, comment, true from duckdb_views() where database_name = current_database() "
        "and schema_name = 'main' and not temporary and not internal order by table_name",
    )
    columns = fetch(
        con,
        "select table_name, column_name, data_type, comment from duckdb_columns() "
        "where database_name = current_database() and schema_name = 'main' order by table_name, column_index",
    )
    names = [
        name
        for name in tables["table_name"]
        if name not in EXCLUDED
        and (
            name not in masking.WORK_LIST_DATASETS
            or masking.may_see_everywhere(masking.WORK_LIST_DATASETS[name], viewer.role)
        )
    ]
    if not names:
        return {}
    counts = dict(
        fetch(
            con,
            " union all ".join(f"select ? as name, count(*) as n from {ident(name)}" for name in names),
            names,
        ).iter_rows()
    )
    by_table: dict[str, list[tuple[str, str, str | None]]] = {}
    for table, name, data_type, comment in columns.iter_rows():
        by_table.setdefault(table, []).append((name, data_type, comment))
    comments = dict(zip(tables["table_name"], tables["comment"], strict=True))
    views = set(tables.filter(pl.col("is_view"))["table_name"])
    datasets: list[Dataset] = []
    for name in names:
        header = MARTS_DIR / f"{name}.sql"
        kind = "mart" if name.startswith("mart_") else "table"
        description, meanings = comments[name], {}
        if kind == "mart" and header.is_file():
            purpose, meanings = mart_header(header)
            description = purpose or description
        datasets.append(
            Dataset(
                name=name,
                kind=kind,
                description=description,
                columns=tuple(
                    Column(column, data_type, meanings.get(column, comment))
                    for column, data_type, comment in by_table.get(name, [])
                ),
                rows=counts[name],
                view=name in views,
            )
        )
    datasets.sort(key=lambda d: (d.kind == "mart", d.name))
    return {d.name: d for d in datasets}


def dataset(datasets: Mapping[str, Dataset], name: str) -> Dataset:
    """The named dataset from the catalogue, or UnknownName (pii.*, quarantine and typos all land here)."""
    try:
        return datasets[name]
    except KeyError:
        raise UnknownName(f"no published dataset {name!r}") from None


def last_refresh(con: duckdb.DuckDBPyConnection, viewer: Viewer = PUBLIC) -> dt.datetime | None:
    """When the published warehouse was built (finish of the latest published run, UTC), or None."""
    known = fetch_one(
        con,
        "select (select count(*) from duckdb_tables() where database_name = current_database() "
        "and schema_name = 'main' and table_name = 'etl_run') + (select count(*) from duckdb_views() "
        "where database_name = current_database() and schema_name = 'main' and view_name = 'etl_run') as n",
    )
    if not known or not known["n"]:
        return None
    row = fetch_one(con, "select max(finished_at) as at from etl_run where status = 'published'")
    return row["at"] if row else None


def like_pattern(text: str) -> str:
    """ILIKE pattern for "contains text": NFKC like the data, with \\ % _ escaped by a backslash."""
    needle = unicodedata.normalize("NFKC", text)
    escaped = needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def compose(
    data: Dataset, filters: Mapping[str, Filter] | tuple, city_code: str | None = None
) -> tuple[list[str], list]:
    """WHERE fragments and bound parameters for the filters; names must be columns of the dataset."""
    items = filters.items() if isinstance(filters, Mapping) else filters
    fragments: list[str] = []
    params: list = []
    for name, rule in items:
        column = data.column(name)
        quoted = ident(column.name)
        if isinstance(rule, Contains):
            if column.kind != "text":
                raise ValueError(f"{name}: text search needs a text column")
            if rule.text.strip():
                fragments.append(f"{quoted} ilike ? escape '\\'")
                params.append(like_pattern(rule.text.strip()))
        elif isinstance(rule, OneOf):
            if not rule.values:
                continue
            present = [value for value in rule.values if value is not None]
            parts = []
            if present:
                parts.append(f"{quoted} in ({', '.join('?' for _ in present)})")
                params.extend(present)
            if len(present) < len(rule.values):
                parts.append(f"{quoted} is null")
            fragments.append("(" + " or ".join(parts) + ")")
        elif isinstance(rule, Between):
            if column.kind not in ("number", "date"):
                raise ValueError(f"{name}: a range needs a number or date column")
            target = f"cast({quoted} as date)" if column.data_type.startswith("TIMESTAMP") else quoted
            if rule.low is not None:
                fragments.append(f"{target} >= ?")
                params.append(rule.low)
            if rule.high is not None:
                fragments.append(f"{target} <= ?")
                params.append(rule.high)
        else:
            raise TypeError(f"{name}: unknown filter {rule!r}")
    if city_code is not None and CITY_COLUMN in data.column_names:
        more, values = city_filter(ident(CITY_COLUMN), city_code)
        fragments += more
        params += values
    return fragments, params


def _from_where(view: View) -> tuple[str, list]:
    """`from <table> where …` of a view, with its parameters."""
    fragments, params = compose(view.dataset, view.filters, view.city_code)
    return f" from {ident(view.dataset.name)}" + where(fragments), params


def select_sql(view: View) -> tuple[str, list]:
    """The view's full select (shown columns, filters, sort with rowid as a stable tie-break)."""
    shown = view.columns or view.dataset.column_names
    select = ", ".join(ident(view.dataset.column(name).name) for name in shown)
    body, params = _from_where(view)
    return f"select {select}{body} order by {_order(view)}", params


def _tie_break(data: Dataset) -> str:
    """A stable last sort key: rowid of a table; every column, in order, of a year's view (which has no rowid)."""
    if not data.view:
        return "rowid"
    return ", ".join(f"{ident(column.name)} nulls last" for column in data.columns)


def _order(view: View) -> str:
    """ORDER BY list of a view: its sort column (if any), then a stable tie-break (_tie_break)."""
    if not view.sort:
        return _tie_break(view.dataset)
    direction = "desc" if view.descending else "asc"
    return f"{ident(view.dataset.column(view.sort).name)} {direction} nulls last, {_tie_break(view.dataset)}"


def count_rows(con: duckdb.DuckDBPyConnection, view: View, viewer: Viewer = PUBLIC) -> int:
    """Rows matching the view's filters."""
    body, params = _from_where(view)
    return fetch_one(con, "select count(*) as n" + body, params)["n"]


def fetch_page(
    con: duckdb.DuckDBPyConnection, view: View, page: int, page_size: int = PAGE_SIZE, viewer: Viewer = PUBLIC
) -> pl.DataFrame:
    """One page (1-based) of the view: LIMIT/OFFSET are bound, so only page_size rows leave DuckDB."""
    # The page's rows are picked by rowid first (reading only the filter and sort columns), then only those rows'
    # shown columns are read: a deep page no longer sorts every column of the table. Same rows, same order.
    shown = view.columns or view.dataset.column_names
    select = ", ".join(ident(view.dataset.column(name).name) for name in shown)
    body, params = _from_where(view)
    order = _order(view)
    table = ident(view.dataset.name)
    if view.dataset.view:
        # No rowid to pick the page's rows by: the page straight from the ordered select.
        return fetch(
            con,
            f"select {select}{body} order by {order} limit ? offset ?",
            [*params, page_size, (max(page, 1) - 1) * page_size],
        )
    sql = (
        f"select {select} from {table} where rowid in (select rowid{body} order by {order} limit ? offset ?) "
        f"order by {order}"
    )
    return fetch(con, sql, [*params, page_size, (max(page, 1) - 1) * page_size])


def pages(rows: int, page_size: int = PAGE_SIZE) -> int:
    """Number of pages for a row count (at least 1, so an empty view still has page 1)."""
    return max(1, -(-rows // page_size))


def distinct_counts(con: duckdb.DuckDBPyConnection, data: Dataset, viewer: Viewer = PUBLIC) -> dict[str, int]:
    """Approximate distinct values of each text and boolean column (decides which get a value-set facet)."""
    names = [c.name for c in data.columns if c.kind in ("text", "bool")]
    if not names:
        return {}
    select = ", ".join(f"approx_count_distinct({ident(name)}) as {ident(name)}" for name in names)
    row = fetch_one(con, f"select {select} from {ident(data.name)}")
    return {name: int(row[name]) for name in names}


def facet_columns(data: Dataset, distinct: Mapping[str, int]) -> tuple[str, ...]:
    """Columns filtered by a value set: booleans, and text columns with at most FACET_MAX distinct values."""
    return tuple(
        c.name
        for c in data.columns
        if c.kind == "bool" or (c.kind == "text" and distinct.get(c.name, FACET_MAX + 1) <= FACET_MAX)
    )


def facet_counts(con: duckdb.DuckDBPyConnection, view: View, column: str, viewer: Viewer = PUBLIC) -> pl.DataFrame:
    """(value, rows) of one column under every other filter of the view, most frequent first."""
    quoted = ident(view.dataset.column(column).name)
    body, params = _from_where(view.without(column))
    return fetch(
        con,
        f"select {quoted} as value, count(*) as rows{body} group by all order by rows desc, value nulls last",
        params,
    )


def facet_totals(
    con: duckdb.DuckDBPyConnection, data: Dataset, columns: tuple[str, ...], viewer: Viewer = PUBLIC
) -> dict[str, pl.DataFrame]:
    """facet_counts of each column over the whole dataset (no filter, no city): what a view starts from.

    The page keeps these with the dataset's profile, once per published warehouse, so its first view of a
    table runs no facet query; a filtered view counts afresh.
    """
    return {column: facet_counts(con, View(dataset=data), column) for column in columns}


def unfiltered(view: View, column: str) -> bool:
    """True when a facet's counts ignore nothing but their own column: no other filter and no city applies."""
    applies_city = view.city_code is not None and CITY_COLUMN in view.dataset.column_names
    return not view.without(column).filters and not applies_city


def stream(
    con: duckdb.DuckDBPyConnection, view: View, batch_rows: int = BATCH_ROWS, viewer: Viewer = PUBLIC
) -> Iterator[pa.RecordBatch]:
    """The whole filtered view as Arrow batches of at most batch_rows rows (at least one batch, maybe empty).

    DuckDB hands the result over batch by batch, so a writer holds one batch at a time, never the whole view.
    """
    sql, params = select_sql(view)
    cursor = con.cursor()
    try:
        reader = cursor.sql(sql, params=params).to_arrow_reader(batch_rows)
        sent = False
        for batch in reader:
            if batch.num_rows:
                sent = True
                yield batch
        if not sent:
            yield pa.RecordBatch.from_pylist([], schema=reader.schema)
    finally:
        cursor.close()


def parse_date_input(text: str | None) -> dt.date | None:
    """A typed date: 和暦 (令和7年2月1日, R7.2.1, 令和元年…) or 西暦 (2025-02-01, 2025/2/1); blank = None."""
    if text is None or not text.strip():
        return None
    return parse_date(text.strip())


def encode_filter(column: Column, rule: Filter) -> list[str]:
    """A filter as query-string values (empty list = no filter): text, each value, or [low, high]."""
    if isinstance(rule, Contains):
        return [rule.text] if rule.text.strip() else []
    if isinstance(rule, OneOf):
        return [_encode_value(value) for value in rule.values]
    if isinstance(rule, Between) and (rule.low is not None or rule.high is not None):
        return [_encode_value(rule.low), _encode_value(rule.high)]
    return []


def _encode_value(value: object) -> str:
    """One value as query-string text (None → empty, booleans → true/false, dates ISO)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def decode_filter(column: Column, values: list[str], facet: bool) -> Filter | None:
    """A filter back from query-string values; unreadable values are dropped rather than guessed."""
    if not values:
        return None
    if facet:
        decoded = []
        for text in values:
            if text == "":
                decoded.append(None)
            elif column.kind == "bool":
                if text in ("true", "false"):
                    decoded.append(text == "true")
            else:
                decoded.append(text)
        return OneOf(tuple(decoded)) if decoded else None
    if column.kind == "text":
        return Contains(values[0])
    if column.kind in ("number", "date") and len(values) == 2:
        try:
            low, high = (_decode_bound(column, text) for text in values)
        except ValueError:
            return None
        return Between(low, high) if low is not None or high is not None else None
    return None


def _decode_bound(column: Column, text: str) -> object:
    """One end of a range from text: a date (和暦 accepted) or a number; blank = open."""
    if not text.strip():
        return None
    if column.kind == "date":
        return parse_date_input(text)
    number = float(text)
    return int(number) if number.is_integer() and not column.data_type.startswith(("FLOAT", "DOUBLE")) else number


_RANGE_SEPARATOR = re.compile(r"\s*(?:〜|～|~|から)\s*")


def parse_date_range_input(text: str | None) -> tuple[dt.date | None, dt.date | None]:
    """A typed date range: "A〜B", "A〜" (from A), "〜B" (up to B) or one date "A" (that day); 和暦 accepted."""
    if text is None or not text.strip():
        return None, None
    parts = _RANGE_SEPARATOR.split(text.strip().removesuffix("まで"), maxsplit=1)
    if len(parts) == 1:
        day = parse_date_input(parts[0])
        return day, day
    low, high = (parse_date_input(part) for part in parts)
    if low is not None and high is not None and low > high:
        raise ValueError(f"開始日が終了日より後です「{text}」 (start after end)")
    return low, high


def bounds(con: duckdb.DuckDBPyConnection, data: Dataset, viewer: Viewer = PUBLIC) -> dict[str, tuple]:
    """(min, max) of each number and date column over the whole table (timestamps as dates)."""
    wanted = [c for c in data.columns if c.kind in ("number", "date")]
    if not wanted:
        return {}
    parts = []
    for column in wanted:
        quoted = ident(column.name)
        target = f"cast({quoted} as date)" if column.data_type.startswith("TIMESTAMP") else quoted
        parts.append(f"min({target}), max({target})")
    cursor = con.cursor()
    try:
        row = cursor.execute(f"select {', '.join(parts)} from {ident(data.name)}").fetchone()
    finally:
        cursor.close()
    return {column.name: (row[2 * i], row[2 * i + 1]) for i, column in enumerate(wanted)}


# Coded columns of the published tables and the vocabulary their values come from: the explorer shows a
# value's label in the viewer's language (downloads keep the codes). Vocabularies built from the seeds are
# read from the warehouse (seed_labels); the others are labelled in the dashboard's message catalogue.
VOCAB_COLUMNS: dict[str, str] = {
    "city_code": "city",
    "from_city_code": "city",
    "to_city_code": "city",
    "known_by_city_code": "city",
    "list_city_code": "city",
    "nearest_city_code": "city",
    "legal_form_code": "legal_form",
    "distribution_channel_code": "channel",
    "pf_intent_code": "pf_intent",
    "phase_code": "pf_phase",
    "step_code": "pf_step",
    "status_code": "pf_status",
    "form_code": "form",
    "primary_form_code": "form",
    "legend_group": "legend_group",
    "term_id": "term",
    "taxonomy_term_id": "term",
    "group_id": "term",
    "parent_id": "term",
    "taxonomy_id": "taxonomy",
    "link_type": "taxonomy",
    "basis": "basis",
    "known_by": "known_by",
    "polarity": "polarity",
    "survey_status": "survey_status",
    "start_precision": "precision",
    "kind": "kind",
    "facet": "facet",
    "kpi_code": "kpi",
    "status": "run_status",
}
SEED_VOCABULARIES = ("city", "legal_form", "channel", "pf_intent", "pf_phase", "pf_step", "pf_status", "form", "term")
_SEED_LABELS = """
select 'city' as vocabulary, code, name_ja, name_en from city
union all select 'legal_form', code, name_ja, name_en from legal_form
union all select 'channel', code, name_ja, name_en from channel
union all select 'pf_intent', code, name_ja, name_en from pf_intent
union all select 'pf_phase', code, name_ja, name_en from pf_phase
union all select 'pf_step', code, label || ' ' || name_ja, label || ' ' || name_en from pf_step
union all select 'pf_status', code, name_ja, name_en from pf_status
union all select 'form', code, name, name_en from taxonomy_term where taxonomy_id = 'form'
union all select 'term', id, name, name_en from taxonomy_term
union all select 'legend_group', code, name, name_en from taxonomy_term where taxonomy_id = 'form'
union all select 'taxonomy', id, name, name_en from taxonomy
"""


def seed_labels(con: duckdb.DuckDBPyConnection) -> dict[str, dict[str, tuple[str, str]]]:
    """Japanese and English label of every code of the seeded vocabularies, by vocabulary (VOCAB_COLUMNS' names)."""
    labels: dict[str, dict[str, tuple[str, str]]] = {}
    for vocabulary, code, ja, en in fetch(con, _SEED_LABELS).iter_rows():
        labels.setdefault(vocabulary, {})[code] = (ja, en)
    return labels
