"""The dashboard's only door to the warehouse: read-only connections and bound parameters."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb
import polars as pl

from common.calendar import fiscal_year_option
from common.roles import PUBLIC, Viewer
from common.text import town_sort_key
from warehouse import macros, masking, years

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_WAREHOUSE = ROOT / "var" / "warehouse.duckdb"
# Identifier allow-list: the only city-name columns a query may select.
NAME_COLUMN = {"ja": "name_ja", "en": "name_en"}


class WarehouseMissing(RuntimeError):
    """The published warehouse file does not exist yet."""


def warehouse_path() -> Path:
    """Published warehouse file: $TSUNAGARI_WAREHOUSE or var/warehouse.duckdb."""
    return Path(os.environ.get("TSUNAGARI_WAREHOUSE", DEFAULT_WAREHOUSE))


def file_identity(path: Path) -> tuple[int, int]:
    """(inode, mtime_ns) of the published file; changes when a build swaps a new file in."""
    try:
        stat = path.stat()
    except FileNotFoundError as error:
        raise WarehouseMissing(str(path)) from error
    return stat.st_ino, stat.st_mtime_ns


WAREHOUSE_CATALOG = "warehouse"
# Names resolve in the warehouse, then in the connection's own in-memory catalog. Both hold the SQL macros
# (warehouse/macros.sql): the warehouse's copy, stored by its build, wins, so queries use the grid its marts
# were built with; the in-memory copy serves a warehouse built before macros were stored. Set per cursor, like USE.
SEARCH_PATH = f"set search_path = '{WAREHOUSE_CATALOG}.main,memory.main'"
# An earlier year's reader resolves names in its scope's views first (warehouse/years.py), then as above.
YEAR_SEARCH_PATH = f"set search_path = '{years.SCOPE_CATALOG}.main,{WAREHOUSE_CATALOG}.main,memory.main'"


class UnknownYear(LookupError):
    """A fiscal year the published warehouse does not hold."""


class AttachedWarehouse:
    """A read-only connection to the published file, ATTACHed to a private in-memory database.

    duckdb.connect(path) hands back the database instance that another live connection of this
    process already holds for that path (DuckDB's instance cache, duckdb/duckdb#15912): after a
    publish swapped the file, that is the OLD file, so the dashboard would never see a new build.
    ATTACH opens the file itself. DuckDB's default catalog is per connection, so every cursor is
    pointed at the warehouse with SEARCH_PATH; everything else is the in-memory connection's own API.
    A reader of an earlier year (fiscal_year) is pointed at that year's scope first (YEAR_SEARCH_PATH).
    """

    def __init__(self, con: duckdb.DuckDBPyConnection, search_path: str = SEARCH_PATH, fiscal_year=None) -> None:
        self._con = con
        self._search_path = search_path
        self.fiscal_year = fiscal_year

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A cursor reading the warehouse (the catalog alias comes from this module)."""
        cursor = self._con.cursor()
        cursor.execute(self._search_path)
        return cursor

    def __getattr__(self, name: str):
        """Everything else (execute, sql, close, …) is the underlying connection's."""
        return getattr(self._con, name)


def connect(path: Path | None = None, fiscal_year: int | None = None) -> duckdb.DuckDBPyConnection:
    """Open the published warehouse read-only (an open reader keeps its snapshot across a swap).

    fiscal_year None or the latest year: the warehouse as stored. An earlier year: every name reads that year
    (its rows, its marts, pii included; warehouse/years.py), so each query's SQL answers for it unchanged.
    UnknownYear when the warehouse does not hold the year.
    """
    path = path or warehouse_path()
    file_identity(path)
    con = duckdb.connect(":memory:")
    search_path = SEARCH_PATH
    try:
        macros.install(con)
        con.execute("attach ? as " + WAREHOUSE_CATALOG + " (read_only)", [str(path)])
        con.execute(SEARCH_PATH)
        if fiscal_year is not None:
            held = years.bundle_years(con, WAREHOUSE_CATALOG)
            if fiscal_year not in held:
                raise UnknownYear(f"{path}: no fiscal year {fiscal_year!r} (holds {held})")
            if fiscal_year != held[-1]:
                years.install_year_scope(con, WAREHOUSE_CATALOG, fiscal_year, with_marts=True)
                search_path = YEAR_SEARCH_PATH
                con.execute(search_path)
    except (duckdb.Error, UnknownYear):
        con.close()
        raise
    return AttachedWarehouse(con, search_path, fiscal_year)


def fiscal_years(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """The warehouse's 年度, newest first: fiscal_year, is_latest, and the selector's labels label_ja, label_en."""
    frame = fetch(con, "select fiscal_year, is_latest from fiscal_year_bundle order by fiscal_year desc")
    return frame.with_columns(
        pl.Series("label_ja", [fiscal_year_option(year, "ja") for year in frame["fiscal_year"]], pl.String),
        pl.Series("label_en", [fiscal_year_option(year, "en") for year in frame["fiscal_year"]], pl.String),
    )


def fetch(con: duckdb.DuckDBPyConnection, sql: str, params: list | dict | None = None) -> pl.DataFrame:
    """Run one bound query on its own cursor (a shared connection refuses concurrent calls)."""
    cursor = con.cursor()
    try:
        return cursor.sql(sql, params=params).pl()
    finally:
        cursor.close()


def fetch_one(con: duckdb.DuckDBPyConnection, sql: str, params: list | dict | None = None) -> dict | None:
    """First row of a bound query as a dict, or None."""
    frame = fetch(con, sql, params)
    return frame.row(0, named=True) if frame.height else None


def city_filter(column: str, city_code: str | None) -> tuple[list[str], list]:
    """Filter fragment for one city (None = all four); the column name comes from the caller's code."""
    if city_code is None:
        return [], []
    return [f"{column} = ?"], [city_code]


def where(fragments: list[str]) -> str:
    """Join filter fragments into a WHERE clause."""
    return (" where " + " and ".join(fragments)) if fragments else ""


def cities(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """The four cities in display order, with populations."""
    return fetch(con, "select code, name_ja, name_en, population from city order by sort_order")


def may_see_consultees(viewer: Viewer, city_code: str | None) -> bool:
    """Whether the viewer may see a city's consultee figures (None = the four cities): masking.may_see's rule.

    The cities publish these counts in their report, so today everyone may; the queries still ask, so a
    change of the rule in warehouse/masking.py reaches every page and export.
    """
    return masking.may_see("consultee_counts", viewer.role, viewer.city_code, city_code)


@dataclass(frozen=True)
class ConsulteeScope:
    """may_see_consultees for a whole query: the cities it allows, and whether the four-city total is allowed."""

    cities: tuple[str, ...]
    everyone: bool

    @property
    def any(self) -> bool:
        """True when some row may show consultee figures (else the query must not read them at all)."""
        return bool(self.cities) or self.everyone

    def condition(self, column: str) -> tuple[str, list]:
        """SQL condition true where the city column (null = the four cities) may show them, and its bound values."""
        return (
            f"(({column} is not null and list_contains(?::varchar[], {column})) or ({column} is null and ?))",
            [list(self.cities), self.everyone],
        )


def consultee_scope(con: duckdb.DuckDBPyConnection, viewer: Viewer) -> ConsulteeScope:
    """Apply may_see_consultees to every city and to the four cities together."""
    codes = fetch(con, "select code from city order by sort_order")["code"].to_list()
    return ConsulteeScope(
        cities=tuple(code for code in codes if may_see_consultees(viewer, code)),
        everyone=may_see_consultees(viewer, None),
    )


@dataclass(frozen=True)
class ConsulteeJoin:
    """A query's consultee figures for the rows the viewer may see: what to select and join, with bound values.

    shown is the SQL condition true on those rows (scope.condition); a viewer allowed none gets the hidden
    figures and no join, so the query never reads the pii schema.
    """

    shown: str
    shown_params: list
    figures: str
    joined: str
    join_params: list

    def fetch(
        self,
        con: duckdb.DuckDBPyConnection,
        sql: str,
        fragments: list[str],
        params: list,
        order: str,
        first: tuple = (),
    ) -> pl.DataFrame:
        """sql (its select list using shown once) with this join, the filter and order; values bound in text order.

        first: values of placeholders sql's select list has before shown.
        """
        return fetch(
            con, sql + self.joined + where(fragments) + order, [*first, *self.shown_params, *self.join_params, *params]
        )


def consultee_join(
    con: duckdb.DuckDBPyConnection, viewer: Viewer, city_column: str, table: str, on: str, figures: str, hidden: str
) -> ConsulteeJoin:
    """Left join the pii table (as k) on `on` where the row's city_column may show consultees; names from code."""
    scope = consultee_scope(con, viewer)
    shown, shown_params = scope.condition(city_column)
    if not scope.any:
        return ConsulteeJoin(shown, shown_params, hidden, "", [])
    return ConsulteeJoin(shown, shown_params, figures, f" left join {table} as k on {on} and {shown}", shown_params)


def city_figures(con: duckdb.DuckDBPyConnection, mart: str, city_code: str | None) -> dict:
    """One scope's row of a per-city mart (city_code None = the four cities together); mart named by code."""
    row = fetch_one(con, f"select * from {mart} where city_code is not distinct from ?", [city_code])
    if row is None:
        raise LookupError(f"no figures in {mart} for city {city_code!r}")
    return row


def city_consultees(
    con: duckdb.DuckDBPyConnection, viewer: Viewer, city_code: str | None, columns: Sequence[str]
) -> dict | None:
    """Columns of pii.mart_city_consultees for one scope ({} when it has no row); None unless may_see_consultees."""
    if not may_see_consultees(viewer, city_code):
        return None
    found = fetch_one(
        con,
        "select " + ", ".join(columns) + " from pii.mart_city_consultees where city_code is not distinct from ?",
        [city_code],
    )
    return found or {}


def home_kpis(con: duckdb.DuckDBPyConnection, city_code: str | None, viewer: Viewer = PUBLIC) -> dict:
    """Joint figures for Home: one city, or the four together when city_code is None.

    workshop_consultee_participations is null and consultees_hidden true unless may_see_consultees.
    """
    row = city_figures(con, "mart_city_kpis", city_code)
    found = city_consultees(con, viewer, city_code, ["workshop_consultee_participations"])
    consultees = None if found is None else found.get("workshop_consultee_participations") or 0
    return row | {"workshop_consultee_participations": consultees, "consultees_hidden": found is None}


def city_kpis_table(con: duckdb.DuckDBPyConnection, lang: str, viewer: Viewer = PUBLIC) -> pl.DataFrame:
    """Home's figures for each city and for the four together, city names in the UI language.

    workshop_consultee_participations is filled only on rows may_see_consultees allows (consultees_hidden
    marks the others); a viewer allowed none never reads the pii schema.
    """
    name = NAME_COLUMN[lang]
    everyone = "4市全体" if lang == "ja" else "All four cities"
    k = consultee_join(
        con,
        viewer,
        "m.city_code",
        "pii.mart_city_consultees",
        "k.city_code is not distinct from m.city_code",
        figures="coalesce(k.workshop_consultee_participations, 0)",
        hidden="null::bigint",
    )
    frame = fetch(
        con,
        "select coalesce(c." + name + ", ?) as city, m.* exclude (city_code), "
        f"case when {k.shown} then {k.figures} end as workshop_consultee_participations, "
        f"not {k.shown} as consultees_hidden "
        "from mart_city_kpis as m left join city as c on c.code = m.city_code"
        + k.joined
        + " order by c.sort_order nulls last",
        [everyone, *k.shown_params, *k.shown_params, *k.join_params],
    )
    # The CSV keeps its column order: the consultee figure follows the unique participants.
    columns = [c for c in frame.columns if c != "workshop_consultee_participations"]
    at = columns.index("workshop_unique_participants") + 1
    return frame.select([*columns[:at], "workshop_consultee_participations", *columns[at:]])


def city_phases(con: duckdb.DuckDBPyConnection, viewer: Viewer = PUBLIC) -> pl.DataFrame:
    """Phase reached and step counts per city, with city names."""
    return fetch(
        con,
        "select c.code as city_code, c.name_ja, c.name_en, m.phase_code, m.phase_label, "
        "m.phase_name_ja, m.phase_name_en, m.steps_total, m.steps_done, m.steps_in_progress, "
        "m.last_recorded_on, (select count(*) from pf_phase) as phases_total, "
        "coalesce(p.sort_order, 0) as phase_order "
        "from city as c join mart_pf_city_phase as m on m.city_code = c.code "
        "left join pf_phase as p on p.code = m.phase_code order by c.sort_order",
    )


def latest_run(con: duckdb.DuckDBPyConnection, viewer: Viewer = PUBLIC) -> dict | None:
    """The run that published this warehouse, with its validation and quarantine counts."""
    return fetch_one(
        con,
        "with r as (select * from etl_run where status = 'published' order by started_at desc limit 1) "
        "select r.run_id, r.started_at, r.finished_at, r.status, r.message, "
        "(select count(*) from etl_source_file f where f.run_id = r.run_id) as files, "
        "(select max(f.size_bytes) from etl_source_file f where f.run_id = r.run_id) as largest_file, "
        "(select count(*) from etl_validation v where v.run_id = r.run_id) as expectations, "
        "(select count(*) from etl_validation v where v.run_id = r.run_id and not v.success) as expectations_failed, "
        "(select count(*) from quarantine q where q.run_id = r.run_id) as quarantined "
        "from r",
    )


def sort_towns(frame: pl.DataFrame, city_order: str, town: str) -> pl.DataFrame:
    """Rows ordered by city, then 町丁目 in numeric order (一, 二 … 十, 十一), then as they came.

    The key is computed in plain Python on the caller's thread (no polars callback) and dropped again.
    """
    key = pl.Series("_town_key", [town_sort_key(name) for name in frame[town].to_list()], dtype=pl.String)
    return frame.with_columns(key).sort(city_order, "_town_key", maintain_order=True).drop("_town_key")
