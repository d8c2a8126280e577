"""Cross-year views: the answers' mix between two 年度 (活動分布), coverage gaps closed or opened (広域カバレッジ) and
the organisations new in a year (地域資源マップ), read from the all-year marts and tables."""

from __future__ import annotations

import duckdb
import polars as pl

from common.roles import PUBLIC, Viewer
from warehouse.query import NAME_COLUMN, city_filter, fetch, fetch_one, where
from warehouse.query.coverage import BASES, GAP_RATIO

# Identifier allow-lists: label columns per language, and the mix's taxonomies (mart_year_mix.taxonomy_id).
TERM_NAME = {"ja": "name", "en": "name_en"}
MIX_TAXONOMIES = ("form", "group", "content")
# How a city × form cell's gap changed between the two years (closed: a gap before, none after; opened: the reverse;
# remaining: a gap in both years).
GAP_CHANGES = ("closed", "opened", "remaining")


def fiscal_years(con: duckdb.DuckDBPyConnection, viewer: Viewer = PUBLIC) -> list[int]:
    """The 年度 the warehouse holds, oldest first (one for a single-year bundle)."""
    return fetch(con, "select fiscal_year from fiscal_year_bundle order by fiscal_year")["fiscal_year"].to_list()


def _two_years(earlier: int, later: int) -> None:
    """Refuse a comparison of a year with itself or backwards (the page offers only earlier < later)."""
    if earlier >= later:
        raise ValueError(f"compare an earlier year with a later one: {earlier} → {later}")


def mix_comparison(
    con: duckdb.DuckDBPyConnection,
    earlier: int,
    later: int,
    taxonomy: str,
    city_code: str | None,
    lang: str,
    viewer: Viewer = PUBLIC,
) -> pl.DataFrame:
    """Each term of a taxonomy (form, group or content) in two years: answering organisations, share and change.

    Columns: term_code, term_label, group_label (content categories: their field; else null), earlier_n and later_n
    (answering organisations in scope), earlier_orgs, later_orgs, earlier_share_pct, later_share_pct (% of that
    year's N, one decimal; null when N is 0), change_orgs (later − earlier) and change_pts (share points, one
    decimal). Terms in taxonomy order (content: field order, then category order); zeros kept.
    """
    if taxonomy not in MIX_TAXONOMIES:
        raise ValueError(f"unknown taxonomy: {taxonomy!r}")
    _two_years(earlier, later)
    name = TERM_NAME[lang]
    sql = (
        "with mix as (select * from mart_year_mix where taxonomy_id = ? and city_code is not distinct from ?), "
        "a as (select * from mix where fiscal_year = ?), b as (select * from mix where fiscal_year = ?), "
        "shares as (select t.code as term_code, t." + name + " as term_label, g." + name + " as group_label, "
        "coalesce(g.sort_order, 0) as group_order, t.sort_order, "
        "a.respondents as earlier_n, b.respondents as later_n, a.orgs as earlier_orgs, b.orgs as later_orgs, "
        "case when a.respondents > 0 then round(100.0 * a.orgs / a.respondents, 1) end as earlier_share_pct, "
        "case when b.respondents > 0 then round(100.0 * b.orgs / b.respondents, 1) end as later_share_pct "
        "from a join b on b.term_id = a.term_id join taxonomy_term as t on t.id = a.term_id "
        "left join taxonomy_term as g on g.id = t.parent_id) "
        "select term_code, term_label, group_label, earlier_n, later_n, earlier_orgs, later_orgs, "
        "earlier_share_pct, later_share_pct, later_orgs - earlier_orgs as change_orgs, "
        "round(later_share_pct - earlier_share_pct, 1) as change_pts "
        "from shares order by group_order, sort_order"
    )
    return fetch(con, sql, [taxonomy, city_code, earlier, later])


# The coverage page's gap rule (warehouse/query/coverage.form_matrix) on one year's counts (alias x: a city's cell,
# t: the four cities' count of the form, p: the four cities' population, c: the city); parameter GAP_RATIO.
_GAP = "case when x.orgs = 0 then 'none' when x.orgs * p.population < ? * t.orgs * c.population then 'thin' end"


def gap_changes(
    con: duckdb.DuckDBPyConnection,
    earlier: int,
    later: int,
    basis: str,
    city_code: str | None,
    lang: str,
    viewer: Viewer = PUBLIC,
) -> pl.DataFrame:
    """City × support form cells that were a gap (none or thin, by the coverage page's rule) in either year.

    Columns: city_code, city_label, form_code, form_label, earlier_orgs, later_orgs, earlier_gap, later_gap
    (none, thin or null = no gap) and change (closed: a gap in the earlier year only; opened: in the later year only;
    remaining: in both). basis is the coverage page's counting basis; city_code None = the four cities.
    Cities and forms in display order, closed first.
    """
    if basis not in BASES:
        raise ValueError(f"unknown basis: {basis!r}")
    _two_years(earlier, later)
    cities, params = city_filter("c.code", city_code)
    year_gap = (
        "select x.fiscal_year, x.city_code, x.form_code, x.orgs, " + _GAP + " as gap "
        "from mart_year_coverage as x join city as c on c.code = x.city_code "
        "join mart_year_coverage as t on t.fiscal_year = x.fiscal_year and t.basis = x.basis "
        "and t.city_code is null and t.form_code = x.form_code "
        "cross join (select sum(population) as population from city) as p "
        "where x.basis = ? and x.fiscal_year in (?, ?)"
    )
    name = NAME_COLUMN[lang]
    sql = (
        "with gaps as (" + year_gap + "), "
        "a as (select * from gaps where fiscal_year = ?), b as (select * from gaps where fiscal_year = ?), "
        "cells as (select c.code as city_code, c." + name + " as city_label, c.sort_order as city_order, "
        "f.code as form_code, f." + TERM_NAME[lang] + " as form_label, f.sort_order as form_order, "
        "a.orgs as earlier_orgs, b.orgs as later_orgs, a.gap as earlier_gap, b.gap as later_gap, "
        "case when a.gap is not null and b.gap is null then 'closed' "
        "when a.gap is null and b.gap is not null then 'opened' "
        "when a.gap is not null then 'remaining' end as change "
        "from a join b on b.city_code = a.city_code and b.form_code = a.form_code "
        "join city as c on c.code = a.city_code "
        "join taxonomy_term as f on f.taxonomy_id = 'form' and f.code = a.form_code" + where(cities) + ") "
        "select city_code, city_label, form_code, form_label, earlier_orgs, later_orgs, earlier_gap, later_gap, change "
        "from cells where change is not null "
        "order by city_order, list_position(?::varchar[], change), form_order"
    )
    return fetch(con, sql, [GAP_RATIO, basis, earlier, later, earlier, later, *params, list(GAP_CHANGES)])


def gap_change_counts(
    con: duckdb.DuckDBPyConnection, earlier: int, later: int, basis: str, lang: str, viewer: Viewer = PUBLIC
) -> pl.DataFrame:
    """Per city (display order) and change (GAP_CHANGES): how many city × form gaps closed, opened or remained.

    Columns: city_code, city_label, change, cells; every city and change, zeros kept.
    """
    cells = gap_changes(con, earlier, later, basis, None, lang, viewer)
    cities = fetch(
        con, "select code as city_code, " + NAME_COLUMN[lang] + " as city_label from city order by sort_order"
    )
    grid = cities.join(pl.DataFrame({"change": list(GAP_CHANGES)}), how="cross")
    counted = cells.group_by("city_code", "change").agg(pl.len().cast(pl.Int64).alias("cells"))
    return grid.join(counted, on=["city_code", "change"], how="left", maintain_order="left").with_columns(
        pl.col("cells").fill_null(0)
    )


def new_organisation_count(con: duckdb.DuckDBPyConnection, fiscal_year: int, viewer: Viewer = PUBLIC) -> dict:
    """Organisations first listed in fiscal_year (organization.first_fiscal_year): listed, and of those on the map."""
    row = fetch_one(
        con,
        "select count(*) as listed, count(m.organization_id) as mapped from organization as o "
        "left join mart_org_directory as m on m.organization_id = o.id and m.latitude is not null "
        "where o.first_fiscal_year = ?",
        [fiscal_year],
    )
    return row or {"listed": 0, "mapped": 0}


def new_organisation_ids(con: duckdb.DuckDBPyConnection, fiscal_year: int, viewer: Viewer = PUBLIC) -> list[str]:
    """ids of the mapped organisations first listed in fiscal_year (the map's 'new this year' option)."""
    return fetch(
        con,
        "select m.organization_id from mart_org_directory as m join organization as o on o.id = m.organization_id "
        "where m.latitude is not null and o.first_fiscal_year = ? order by m.organization_id",
        [fiscal_year],
    )["organization_id"].to_list()
