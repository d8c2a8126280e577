"""広域カバレッジ: city × support-form matrix with gaps, town coverage, cross-city reach and platform candidates."""

from __future__ import annotations

import duckdb
import polars as pl

from common.roles import PUBLIC, Viewer
from warehouse.query import NAME_COLUMN, city_filter, directory, fetch, fetch_one, sort_towns, where

# Identifier allow-list: the only taxonomy label columns a query may select.
TERM_NAME = {"ja": "name", "en": "name_en"}
# Label of the area outside the four cities (service_area.city_code null) and its code in flow frames.
OUTSIDE = "outside"
OUTSIDE_LABEL = {"ja": "4市以外", "en": "Outside the four cities"}
PER_RESIDENTS = 10_000  # per-capita figures are organisations per 10,000 residents
# Gap rule: a cell is "thin" when its per-capita rate is below GAP_RATIO × the four cities' rate for the form.
GAP_RATIO = 0.5
RADIUS_KM = 2.0  # default town-coverage radius, km
# PF参画意向 codes that make an organisation a platform candidate ('join' always; 'interested' on request).
INTENTS = ("join", "interested")
KNOWN_BY = ("one_city", "survey_only")  # single-source organisations (mart_coverage_source.known_by)
# Organisation lists on the page show their first LIST_ROWS rows (rows, not bytes); the CSV carries every row.
# A list's first rows are found from its rank and filter columns alone (a `head` CTE), and only those rows'
# columns are read and labelled: ranking every row's labels first cost 15–30 ms per list at 1M organisations.
LIST_ROWS = 1_000
# mart_coverage_cell_head keeps each drill-down cell's first CELL_HEAD_ROWS rows (its `cell_rank <= 1000`).
CELL_HEAD_ROWS = 1_000

# Per-organisation label columns of mart_coverage_summary_org per UI language (identifier allow-list).
FORMS = {"ja": "forms_ja", "en": "forms_en"}
AREAS = {"ja": "areas_ja", "en": "areas_en"}
UNAWARE = {"ja": "unaware_ja", "en": "unaware_en"}
# Which organisations count for a city: one fixed statement per basis, giving (organization_id, city_code, form_code).
BASES = {
    # 所在市: the city where the organisation is located
    "located": "select organization_id, city_code, form_code from mart_coverage_org_form",
    # 活動している市: every one of the four cities its service area includes
    "served": (
        "select f.organization_id, r.to_city_code as city_code, f.form_code from mart_coverage_org_form as f "
        "join mart_coverage_reach as r on r.organization_id = f.organization_id where r.to_city_code is not null"
    ),
}


def forms(con: duckdb.DuckDBPyConnection, lang: str, viewer: Viewer = PUBLIC) -> pl.DataFrame:
    """Support forms (code, label, colour) in the report's order."""
    return fetch(
        con,
        "select code, " + TERM_NAME[lang] + " as label, color_hex from taxonomy_term "
        "where taxonomy_id = 'form' order by sort_order",
    )


def form_matrix(con: duckdb.DuckDBPyConnection, basis: str, lang: str, viewer: Viewer = PUBLIC) -> pl.DataFrame:
    """City × support form: answering organisations per cell and per 10,000 residents, with the gap rule applied.

    basis "located" counts an organisation in the city where it is located, "served" in every one of the
    four cities its service area includes. per_10k = orgs × 10,000 ÷ city.population (two decimals);
    four_city_per_10k = organisations with the form in the four cities ÷ their summed population.
    index_pct = the cell's rate as % of the four cities' rate (one decimal). gap = "none" when the cell
    has no organisation, "thin" when its rate is below GAP_RATIO × the four cities' rate, else null.
    """
    if basis not in BASES:
        raise ValueError(f"unknown basis: {basis!r}")
    # mart_coverage_tally counts per PF参画意向; each organisation has one, so the sums are distinct counts.
    sql = (
        "with counts as (select city_code, form_code, sum(orgs)::bigint as orgs from mart_coverage_tally "
        "where basis = ? and not all_cities group by all), "
        "totals as (select form_code, sum(orgs)::bigint as orgs from mart_coverage_tally "
        "where basis = ? and all_cities group by all), "
        "people as (select sum(population) as population from city) "
        "select c.code as city_code, c." + NAME_COLUMN[lang] + " as city_label, c.sort_order as city_order, "
        "c.population, f.code as form_code, f." + TERM_NAME[lang] + " as form_label, f.sort_order as form_order, "
        "f.color_hex, coalesce(x.orgs, 0) as orgs, "
        "round(coalesce(x.orgs, 0) * ? / c.population, 2) as per_10k, "
        "coalesce(t.orgs, 0) as four_city_orgs, "
        "round(coalesce(t.orgs, 0) * ? / p.population, 2) as four_city_per_10k, "
        "case when coalesce(t.orgs, 0) > 0 then "
        "round(100.0 * (coalesce(x.orgs, 0) / c.population) / (t.orgs / p.population), 1) end as index_pct, "
        "case when coalesce(x.orgs, 0) = 0 then 'none' "
        "when x.orgs * p.population < ? * t.orgs * c.population then 'thin' end as gap "
        "from city as c cross join taxonomy_term as f cross join people as p "
        "left join counts as x on x.city_code = c.code and x.form_code = f.code "
        "left join totals as t on t.form_code = f.code "
        "where f.taxonomy_id = 'form' order by c.sort_order, f.sort_order"
    )
    return fetch(con, sql, [basis, basis, float(PER_RESIDENTS), float(PER_RESIDENTS), GAP_RATIO])


def answering_with_forms(con: duckdb.DuckDBPyConnection, viewer: Viewer = PUBLIC) -> int:
    """Answering organisations that chose at least one support form (the matrix's organisations)."""
    row = fetch_one(con, "select count(*) as n from mart_coverage_summary_org where form_codes is not null")
    return row["n"] if row else 0


def _limit(limit: int | None) -> tuple[str, list]:
    """A bound LIMIT clause (empty for None: every row) and its parameter."""
    if limit is None:
        return "", []
    if limit < 0:
        raise ValueError(f"limit must be ≥ 0: {limit}")
    return " limit ?", [limit]


def _head(rows: str, table: str, alias: str, rank: str, columns: str, joins: str) -> str:
    """The first `limit ?` rows of a listing by its rank: found from rows' rank column alone, then only those
    read from table (as alias) with their labels (joins), in rank order."""
    key = f"{alias}.{rank}"
    head = rows.format(columns=key, labels="")
    return (
        f"with head as ({head} order by {key} limit ?) select {columns} from head as h "
        f"join {table} as {alias} on {key} = h.{rank} {joins} order by {key}"
    )


def _cell_rows(city_code: str, form_code: str, basis: str) -> tuple[str, list]:
    """The rows of cell_organisations before its labels: a WITH clause and FROM, and their parameters."""
    if basis not in BASES:
        raise ValueError(f"unknown basis: {basis!r}")
    sql = (
        "with cells as (" + BASES[basis] + "), "
        "chosen as (select distinct organization_id from cells where city_code = ? and form_code = ?) "
        "select {columns} from chosen as k "
        "join mart_coverage_summary_org as o on o.organization_id = k.organization_id "
        "join city as c on c.code = o.city_code"
    )
    return sql, [city_code, form_code]


def cell_organisations(
    con: duckdb.DuckDBPyConnection,
    city_code: str,
    form_code: str,
    basis: str,
    lang: str,
    limit: int | None = None,
    viewer: Viewer = PUBLIC,
) -> pl.DataFrame:
    """The organisations counted in one matrix cell: public contact, forms and the areas they serve
    (the first `limit` rows when given, in the same order)."""
    name = NAME_COLUMN[lang]
    rows, params = _cell_rows(city_code, form_code, basis)
    cut, more = _limit(limit)
    if limit is not None and limit <= CELL_HEAD_ROWS:
        # The list's head, built with the warehouse: reading it skips joining the cell to every organisation.
        sql = (
            "select o.name, c." + name + " as city, l." + name + " as legal_form, o.phone, "
            "o." + FORMS[lang] + " as forms, o." + AREAS[lang] + " as areas, o.has_pin "
            "from mart_coverage_cell_head as o join city as c on c.code = o.from_city_code "
            "left join legal_form as l on l.code = o.legal_form_code "
            "where o.basis = ? and o.city_code = ? and o.form_code = ? and o.cell_rank <= ? order by o.cell_rank"
        )
        return fetch(con, sql, [basis, *params, limit])
    columns = (
        "o.name, c." + name + " as city, l." + name + " as legal_form, o.phone, "
        "o." + FORMS[lang] + " as forms, o." + AREAS[lang] + " as areas, o.has_pin"
    )
    sql = (
        rows.format(columns=columns)
        + " left join legal_form as l on l.code = o.legal_form_code order by o.city_rank"
        + cut
    )
    return fetch(con, sql, [*params, *more])


def reference_status(con: duckdb.DuckDBPyConnection, viewer: Viewer = PUBLIC) -> dict:
    """Reference geography loaded: towns, city outlines and the credit lines they require (None when absent)."""
    return fetch_one(
        con,
        "select (select count(*) from ref_town) as towns, (select count(*) from ref_city_boundary) as boundaries, "
        "(select credit from ref_source where dataset = 'towns') as town_credit, "
        "(select credit from ref_source where dataset = 'boundaries') as boundary_credit",
    )


def town_nearest(
    con: duckdb.DuckDBPyConnection,
    form_code: str,
    radius_km: float,
    city_code: str | None,
    lang: str,
    viewer: Viewer = PUBLIC,
) -> pl.DataFrame:
    """Every town (of one city, or all) with the distance to the nearest organisation offering the form.

    nearest_km is rounded to 0.001 km; covered = the unrounded distance ≤ radius_km (false when no
    organisation with a pin offers the form). The nearest organisation may be in another city.
    """
    name = NAME_COLUMN[lang]
    fragments, params = city_filter("m.city_code", city_code)
    sql = (
        "select m.town_id, m.city_code, c." + name + " as city, m.town_name, m.latitude, m.longitude, "
        "round(m.nearest_km, 3) as nearest_km, coalesce(m.nearest_km <= ?, false) as covered, "
        "m.nearest_name, n." + name + " as nearest_city, c.sort_order as city_order "
        "from mart_coverage_town_form as m join city as c on c.code = m.city_code "
        "left join city as n on n.code = m.nearest_city_code"
        + where(["m.form_code = ?", *fragments])
        + " order by c.sort_order, m.town_id"
    )
    frame = fetch(con, sql, [float(radius_km), form_code, *params])
    return sort_towns(frame, "city_order", "town_name").drop("city_order")


def town_coverage(con: duckdb.DuckDBPyConnection, radius_km: float, lang: str, viewer: Viewer = PUBLIC) -> pl.DataFrame:
    """Share of towns within radius_km of an organisation offering each form, per city and for the four
    cities together (city_code null, last); share_pct one decimal."""
    name = NAME_COLUMN[lang]
    sql = (
        "with counts as (select city_code, form_code, count(*) as towns, "
        "count(*) filter (where nearest_km <= ?) as covered from mart_coverage_town_form "
        "group by grouping sets ((city_code, form_code), (form_code))) "
        "select x.city_code, coalesce(c." + name + ", ?) as city_label, f.code as form_code, "
        "f." + TERM_NAME[lang] + " as form_label, x.towns, x.covered, "
        "round(100.0 * x.covered / x.towns, 1) as share_pct "
        "from counts as x join taxonomy_term as f on f.taxonomy_id = 'form' and f.code = x.form_code "
        "left join city as c on c.code = x.city_code "
        "order by c.sort_order nulls last, f.sort_order"
    )
    everyone = "4市全体" if lang == "ja" else "All four cities"
    return fetch(con, sql, [float(radius_km), everyone])


def form_pins(con: duckdb.DuckDBPyConnection, form_code: str, lang: str, viewer: Viewer = PUBLIC) -> pl.DataFrame:
    """Organisations with a map pin that offer the form (any of the four cities), for the coverage map."""
    return fetch(
        con,
        "select m.organization_id, m.name, m.city_code, c." + NAME_COLUMN[lang] + " as city, m.latitude, m.longitude "
        "from mart_coverage_org_form as m join city as c on c.code = m.city_code "
        "where m.form_code = ? and m.latitude is not null and m.longitude is not null order by m.city_rank",
        [form_code],
    )


def form_pin_count(con: duckdb.DuckDBPyConnection, form_code: str, viewer: Viewer = PUBLIC) -> int:
    """How many organisations offering the form have a map pin (form_pins' height, without fetching them)."""
    row = fetch_one(
        con,
        "select count(*) as n from mart_coverage_org_form as m "
        "where m.form_code = ? and m.latitude is not null and m.longitude is not null",
        [form_code],
    )
    return row["n"] if row else 0


def form_cells(con: duckdb.DuckDBPyConnection, form_code: str, viewer: Viewer = PUBLIC) -> pl.DataFrame:
    """The form's pinned organisations per density hexagon (the 地域資源マップ's grid), busiest first.

    Columns: cell_q, cell_r, longitude, latitude (the hexagon's centre), orgs. Drawn instead of form_pins when
    there are more than directory.PIN_LIMIT of them, so the browser gets one record per hexagon.
    """
    return fetch(
        con,
        "select m.cell_q, m.cell_r, " + directory.CELL_CENTRE + ", m.orgs "
        "from mart_org_form_cells as m where m.form_code = ? order by m.orgs desc, m.cell_q, m.cell_r",
        [form_code],
    )


def boundaries(con: duckdb.DuckDBPyConnection, viewer: Viewer = PUBLIC) -> pl.DataFrame:
    """City outlines (GeoJSON text) from the reference geography; empty when none is loaded."""
    return fetch(con, "select city_code, name, geometry_geojson from ref_city_boundary order by city_code")


def reach_summary(con: duckdb.DuckDBPyConnection, lang: str, viewer: Viewer = PUBLIC) -> pl.DataFrame:
    """Per city: answering organisations located there with a service area, how many reach beyond the city
    (share in %, one decimal), and how many located in another city serve it (inbound)."""
    sql = (
        "select c.code as city_code, c." + NAME_COLUMN[lang] + " as city_label, t.orgs, t.reaching_beyond, "
        "case when t.orgs > 0 then round(100.0 * t.reaching_beyond / t.orgs, 1) end as share_pct, t.inbound "
        "from city as c join mart_coverage_tally_city as t on t.city_code = c.code order by c.sort_order"
    )
    return fetch(con, sql)


# The rows of reach_organisations before its labels (no parameters).
_REACH_ROWS = (
    "select {columns} from mart_coverage_summary_org as o join city as c on c.code = o.city_code "
    "{labels}where o.reaches_beyond"
)


def reach_organisations(
    con: duckdb.DuckDBPyConnection, lang: str, limit: int | None = None, viewer: Viewer = PUBLIC
) -> pl.DataFrame:
    """Organisations whose service area goes beyond their own city, widest reach first (the first `limit`
    rows when given).

    unaware = cities it serves (other than its own) whose distribution list did not carry it: the city
    halls there did not know it (organization_source).
    """
    name = NAME_COLUMN[lang]
    _, params = _limit(limit)
    columns = (
        "o.name, c." + name + " as city, l." + name + " as legal_form, o.phone, o." + AREAS[lang] + " as areas, "
        "o.areas_served, o.cities_served, o.serves_outside, o." + FORMS[lang] + " as forms, "
        "o.unaware_cities, o." + UNAWARE[lang] + " as unaware"
    )
    if limit is not None:
        joins = "join city as c on c.code = o.city_code left join legal_form as l on l.code = o.legal_form_code"
        return fetch(con, _head(_REACH_ROWS, "mart_coverage_summary_org", "o", "reach_rank", columns, joins), params)
    sql = _REACH_ROWS.format(columns=columns, labels="left join legal_form as l on l.code = o.legal_form_code ")
    return fetch(con, sql + " order by o.reach_rank")


def reach_organisation_count(con: duckdb.DuckDBPyConnection, viewer: Viewer = PUBLIC) -> int:
    """How many rows reach_organisations lists (all of them)."""
    row = fetch_one(con, _REACH_ROWS.format(columns="count(*) as n", labels=""))
    return row["n"] if row else 0


def flow(con: duckdb.DuckDBPyConnection, lang: str, viewer: Viewer = PUBLIC) -> pl.DataFrame:
    """City of location × area served (the four cities, then 4市以外 as OUTSIDE): organisations per pair, zeros kept."""
    name = NAME_COLUMN[lang]
    sql = (
        "with areas as (select code, " + name + " as label, sort_order from city "
        "union all select ?, ?, (select max(sort_order) + 1 from city)), "
        "pairs as (select from_city_code, coalesce(to_city_code, ?) as to_code, orgs from mart_coverage_tally_flow) "
        "select f.code as from_code, f." + name + " as from_label, f.sort_order as from_order, "
        "t.code as to_code, t.label as to_label, t.sort_order as to_order, coalesce(p.orgs, 0) as orgs, "
        "f.code = t.code as is_home "
        "from city as f cross join areas as t "
        "left join pairs as p on p.from_city_code = f.code and p.to_code = t.code "
        "order by f.sort_order, t.sort_order"
    )
    return fetch(con, sql, [OUTSIDE, OUTSIDE_LABEL[lang], OUTSIDE])


def single_source_summary(con: duckdb.DuckDBPyConnection, lang: str, viewer: Viewer = PUBLIC) -> pl.DataFrame:
    """Per city: organisations on its distribution list, those only its list carried (one_city; of them, located
    in another city), and organisations located there that only 自主調査 found (survey_only)."""
    sql = (
        "select c.code as city_code, c." + NAME_COLUMN[lang] + " as city_label, t.listed, t.only_this_list, "
        "t.only_this_list_elsewhere, t.survey_only "
        "from city as c join mart_coverage_tally_city as t on t.city_code = c.code order by c.sort_order"
    )
    return fetch(con, sql)


def _listed_rows(
    source: str, column: str, values: list[str], city_column: str, city_code: str | None
) -> tuple[str, list]:
    """A listing's rows before its labels and their parameters: `select {columns} from source {labels}` where
    column is one of values and city_column is the city (None = the four cities)."""
    fragments, params = city_filter(city_column, city_code)
    sql = (
        "select {columns} from " + source + " {labels}" + where([f"list_contains(?::varchar[], {column})", *fragments])
    )
    return sql, [values, *params]


def _single_rows(city_code: str | None) -> tuple[str, list]:
    """The rows of single_source before its labels (FROM with the city joins, and WHERE) and their parameters."""
    source = (
        "mart_coverage_source as s join city as c on c.code = s.city_code join city as g on g.code = s.list_city_code"
    )
    return _listed_rows(source, "s.known_by", list(KNOWN_BY), "s.list_city_code", city_code)


def single_source(
    con: duckdb.DuckDBPyConnection,
    city_code: str | None,
    lang: str,
    limit: int | None = None,
    viewer: Viewer = PUBLIC,
) -> pl.DataFrame:
    """Organisations only one city knew (one city's list alone carried it) or none did (自主調査 only); the
    first `limit` rows when given.

    known_city is the city whose list carried it (null for survey_only); list_city_code is the city the row
    belongs to on the page: the knowing city, or for survey_only the city where the organisation is located.
    city_code filters on list_city_code (None = the four cities).
    """
    name = NAME_COLUMN[lang]
    rows, params = _single_rows(city_code)
    _, more = _limit(limit)
    columns = (
        "s.list_city_code, s.known_by, "
        "k." + name + " as known_city, s.name, c." + name + " as city, l." + name + " as legal_form, s.phone, "
        "s.in_own_survey, s.survey_answered"
    )
    labels = (
        "left join city as k on k.code = s.known_by_city_code left join legal_form as l on l.code = s.legal_form_code"
    )
    if limit is not None:
        joins = "join city as c on c.code = s.city_code " + labels
        return fetch(con, _head(rows, "mart_coverage_source", "s", "single_rank", columns, joins), [*params, *more])
    return fetch(con, rows.format(columns=columns, labels=labels) + " order by s.single_rank", params)


def single_source_count(con: duckdb.DuckDBPyConnection, city_code: str | None, viewer: Viewer = PUBLIC) -> int:
    """How many rows single_source lists for the city (None = the four cities)."""
    # Its rows per city are those only that city's list carried and those only 自主調査 found located there, which
    # mart_coverage_tally_city counts at build time (counting mart_coverage_source here read 1M rows at 1M).
    fragments, params = city_filter("t.city_code", city_code)
    row = fetch_one(
        con,
        "select coalesce(sum(t.only_this_list + t.survey_only), 0)::bigint as n from mart_coverage_tally_city as t"
        + where(fragments),
        params,
    )
    return row["n"] if row else 0


def _intents(intents: tuple[str, ...]) -> list[str]:
    """The chosen PF intents, refused when outside INTENTS."""
    unknown = set(intents) - set(INTENTS)
    if unknown:
        raise ValueError(f"not a candidate intent: {sorted(unknown)}")
    return list(intents)


def _candidate_rows(intents: tuple[str, ...], city_code: str | None) -> tuple[str, list]:
    """The rows of candidates before its labels (FROM with the city and intent joins, WHERE) and their parameters."""
    source = (
        "mart_coverage_summary_org as o join city as c on c.code = o.city_code "
        "join pf_intent as i on i.code = o.pf_intent_code"
    )
    return _listed_rows(source, "o.pf_intent_code", _intents(intents), "o.city_code", city_code)


def candidates(
    con: duckdb.DuckDBPyConnection,
    intents: tuple[str, ...],
    city_code: str | None,
    lang: str,
    limit: int | None = None,
    viewer: Viewer = PUBLIC,
) -> pl.DataFrame:
    """Platform candidates: organisations whose PF参画意向 is one of intents, with public contact only
    (name, city, legal form, the organisation's phone) and their support forms; the first `limit` rows when given."""
    name = NAME_COLUMN[lang]
    rows, params = _candidate_rows(intents, city_code)
    _, more = _limit(limit)
    columns = (
        "o.name, c." + name + " as city, l." + name + " as legal_form, o.phone, o." + FORMS[lang] + " as forms, "
        "i." + name + " as pf_intent"
    )
    labels = "left join legal_form as l on l.code = o.legal_form_code"
    if limit is not None:
        joins = "join city as c on c.code = o.city_code join pf_intent as i on i.code = o.pf_intent_code " + labels
        sql = _head(rows, "mart_coverage_summary_org", "o", "candidate_rank", columns, joins)
        return fetch(con, sql, [*params, *more])
    return fetch(con, rows.format(columns=columns, labels=labels) + " order by o.candidate_rank", params)


def candidate_count(
    con: duckdb.DuckDBPyConnection, intents: tuple[str, ...], city_code: str | None, viewer: Viewer = PUBLIC
) -> int:
    """How many rows candidates lists for the intents and city (None = the four cities)."""
    rows, params = _candidate_rows(intents, city_code)
    row = fetch_one(con, rows.format(columns="count(*) as n", labels=""), params)
    return row["n"] if row else 0


def candidate_matrix(
    con: duckdb.DuckDBPyConnection, intents: tuple[str, ...], lang: str, viewer: Viewer = PUBLIC
) -> pl.DataFrame:
    """Platform candidates per city (where located) and support form, zeros kept."""
    sql = (
        "with counts as (select city_code, form_code, sum(orgs)::bigint as orgs from mart_coverage_tally "
        "where basis = 'located' and not all_cities and list_contains(?::varchar[], pf_intent_code) group by all) "
        "select c.code as city_code, c." + NAME_COLUMN[lang] + " as city_label, c.sort_order as city_order, "
        "f.code as form_code, f." + TERM_NAME[lang] + " as form_label, f.sort_order as form_order, "
        "coalesce(x.orgs, 0) as orgs "
        "from city as c cross join taxonomy_term as f "
        "left join counts as x on x.city_code = c.code and x.form_code = f.code "
        "where f.taxonomy_id = 'form' order by c.sort_order, f.sort_order"
    )
    return fetch(con, sql, [_intents(intents)])
