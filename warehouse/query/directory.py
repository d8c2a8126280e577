"""地域資源マップ: mapped organisations under facet filters, facet counts, the legend, city outlines and detail."""

from __future__ import annotations

import datetime as dt
import unicodedata
from dataclasses import dataclass, fields

import duckdb
import polars as pl

from common.roles import PUBLIC, Viewer
from warehouse import macros
from warehouse.query import NAME_COLUMN, fetch, fetch_one, where

# A pin whose 最終確認日 is more than this many days before today is flagged for re-checking.
STALE_DAYS = 180
# Radius of the density hexagons the mart assigns each pin to (mart_org_directory cell_q / cell_r), metres.
HEX_METRES = macros.HEX_METRES
# Above this many organisations in the filtered set the map shows density hexagons, not one pin each: a pin
# costs about 650 bytes of Deck JSON (its tooltip text included), so 5,000 pins stay near 3.2 MB for the browser.
PIN_LIMIT = 5_000
# A density hexagon's centre (WGS84 degrees) from the mart's axial cell_q, cell_r (alias m).
CELL_CENTRE = "hex_centre_longitude(m.cell_q) as longitude, hex_centre_latitude(m.cell_q, m.cell_r) as latitude"
# At most this many organisations answer a search by name (the pick list stays short).
SEARCH_LIMIT = 50
SURVEY_STATUSES = ("answered", "not_answered")
# Identifier allow-lists: label columns per language (taxonomy terms; the mart's label lists).
TERM_NAME = {"ja": "name", "en": "name_en"}
LABEL_LISTS = {
    "ja": {"contents": "contents_ja", "forms": "forms_ja", "targets": "targets_ja", "area": "area_ja"},
    "en": {"contents": "contents_en", "forms": "forms_en", "targets": "targets_en", "area": "area_en"},
}

# Facet → the predicate it adds on a mart row (alias m); its one parameter is the list of chosen codes.
# Content is one facet with two levels: chosen categories decide, else chosen groups (see content_fragment).
_PREDICATE = {
    "content_group": "list_has_any(m.content_group_codes, ?::varchar[])",
    "content_category": "list_has_any(m.content_codes, ?::varchar[])",
    "form": "list_has_any(m.form_codes, ?::varchar[])",
    "target": "list_has_any(m.target_codes, ?::varchar[])",
    "city": "list_contains(?::varchar[], m.city_code)",
    "legal_form": "list_contains(?::varchar[], m.legal_form_code)",
    "pf_intent": "list_contains(?::varchar[], m.pf_intent_code)",
    "survey": "list_contains(?::varchar[], m.survey_status)",
}
# Facet → its values per mart row (one select each, alias m; list columns are unnested).
_VALUES = {
    "content_group": "unnest(m.content_group_codes)",
    "content_category": "unnest(m.content_codes)",
    "form": "unnest(m.form_codes)",
    "target": "unnest(m.target_codes)",
    "city": "m.city_code",
    "legal_form": "m.legal_form_code",
    "pf_intent": "m.pf_intent_code",
    "survey": "m.survey_status",
}
FACETS = tuple(_PREDICATE)
# The filter group a facet belongs to: counting a facet's options ignores its own group's filter.
_GROUP = {facet: facet for facet in FACETS} | {"content_group": "content", "content_category": "content"}
# Facet options (code, label, parent, order) from the vocabularies; {name} is a column from TERM_NAME or
# NAME_COLUMN, never a value.
_OPTIONS = (
    "select 'content_group' as facet, 1 as facet_order, code, {term} as label, null as parent_code, sort_order "
    "from taxonomy_term where taxonomy_id = 'content' and parent_id is null "
    "union all select 'content_category', 2, t.code, t.{term}, p.code, t.sort_order from taxonomy_term as t "
    "join taxonomy_term as p on p.id = t.parent_id where t.taxonomy_id = 'content' "
    "union all select 'form', 3, code, {term}, null, sort_order from taxonomy_term where taxonomy_id = 'form' "
    "union all select 'target', 4, code, {term}, null, sort_order from taxonomy_term where taxonomy_id = 'target' "
    "union all select 'city', 5, code, {name}, null, sort_order from city "
    "union all select 'legal_form', 6, code, {name}, null, sort_order from legal_form "
    "union all select 'pf_intent', 7, code, {name}, null, sort_order from pf_intent "
    "union all select 'survey', 8, code, null, null, sort_order "
    "from (values ('answered', 1), ('not_answered', 2)) as s(code, sort_order)"
)
# Only organisations with a pin are on the map.
_MAPPED = "select * from mart_org_directory where latitude is not null"


@dataclass(frozen=True)
class DirectoryFilter:
    """The map's facet filters: each a tuple of chosen codes (empty = no filter); options OR, facets AND."""

    content_group: tuple[str, ...] = ()
    content_category: tuple[str, ...] = ()
    form: tuple[str, ...] = ()
    target: tuple[str, ...] = ()
    city: tuple[str, ...] = ()
    legal_form: tuple[str, ...] = ()
    pf_intent: tuple[str, ...] = ()
    survey: tuple[str, ...] = ()


def profile_filter(filters: DirectoryFilter, *, ignore: str | None = None) -> tuple[list[str], list]:
    """Fragments on a profile or mart row (alias m) for every set facet, skipping the facet group `ignore`."""
    fragments: list[str] = []
    params: list = []
    for facet in (f.name for f in fields(DirectoryFilter)):
        chosen = getattr(filters, facet)
        if not chosen or _GROUP[facet] == ignore or facet == "content_group":
            continue
        fragments.append(_PREDICATE[facet])
        params.append(list(chosen))
    # Two-level content: chosen categories decide; chosen groups apply only when no category is chosen.
    if filters.content_group and not filters.content_category and ignore != "content":
        fragments.append(_PREDICATE["content_group"])
        params.append(list(filters.content_group))
    return fragments, params


def directory_filter(filters: DirectoryFilter) -> tuple[list[str], list]:
    """Fragments on a mart_org_directory row (alias m): its profile passes every set facet.

    The facet predicates run on the few thousand profiles (mart_directory_profile), and the organisations are
    matched by the integer profile_id, instead of testing every organisation's lists.
    """
    fragments, params = profile_filter(filters)
    if not fragments:
        return [], []
    return ["m.profile_id in (select m.profile_id from mart_directory_profile as m" + where(fragments) + ")"], params


def _profiles(only: tuple[str, ...] | None) -> tuple[str, list]:
    """The profiles to count over (alias m) and their parameters: every mapped organisation's, or only some.

    only: organisation ids (the map's organisations new in a year); each profile's orgs then counts just those.
    """
    if only is None:
        return "mart_directory_profile as m", []
    return (
        "(select p.* replace (n.orgs::bigint as orgs) from mart_directory_profile as p join (select profile_id, "
        "count(*) as orgs from mart_org_directory where latitude is not null "
        "and list_contains(?::varchar[], organization_id) group by profile_id) as n on n.profile_id = p.profile_id) as m",
        [list(only)],
    )


def facets(
    con: duckdb.DuckDBPyConnection,
    filters: DirectoryFilter,
    lang: str,
    viewer: Viewer = PUBLIC,
    only: tuple[str, ...] | None = None,
) -> pl.DataFrame:
    """Every facet option with the mapped organisations it would give under the other facets' filters.

    Columns: facet, code, label (null for the survey facet: the page words it), parent_code (content
    categories: their group), orgs. Zeros are kept; facets and options in display order. only: count just
    these organisations (ids), as _profiles.
    """
    # Counted over mart_directory_profile: every mapped organisation is in exactly one profile (weight orgs), and
    # a profile's lists hold each code once, so sums of orgs count organisations.
    branches: list[str] = []
    params: list = []
    source, source_params = _profiles(only)
    for facet in FACETS:
        fragments, values = profile_filter(filters, ignore=_GROUP[facet])
        branches.append(
            "select ? as facet, code, sum(orgs)::bigint as orgs from ("
            "select m.orgs, " + _VALUES[facet] + " as code from " + source + where(fragments) + ") group by code"
        )
        params += [facet, *source_params, *values]
    if only is None and not any(getattr(filters, facet) for facet in FACETS):
        # No filter chosen (the page's first view): the same sums, made at build time.
        branches, params = ["select facet, code, orgs from mart_directory_profile_facets"], []
    sql = (
        "with options as (" + _OPTIONS.format(term=TERM_NAME[lang], name=NAME_COLUMN[lang]) + "), "
        "counts as (" + " union all ".join(branches) + ") "
        "select o.facet, o.code, o.label, o.parent_code, coalesce(c.orgs, 0) as orgs "
        "from options as o left join counts as c on c.facet = o.facet and c.code = o.code "
        "order by o.facet_order, o.sort_order"
    )
    return fetch(con, sql, params)


def summary(con: duckdb.DuckDBPyConnection, filters: DirectoryFilter, today: dt.date, viewer: Viewer = PUBLIC) -> dict:
    """Mapped organisations within the filters: shown, answered (survey) and stale (as organisations counts them)."""
    fragments, params = directory_filter(filters)
    if not fragments:
        # No filter chosen (the page's first view): the same counts from mart_directory_pins, made at build time.
        row = fetch_one(
            con,
            "select coalesce(sum(m.orgs), 0)::bigint as shown, "
            "coalesce(sum(m.orgs) filter (where m.survey_answered), 0)::bigint as answered, "
            "coalesce(sum(m.orgs) filter (where date_diff('day', m.last_verified, ?::date) > ?), 0)::bigint as stale "
            "from mart_directory_pins as m",
            [today, STALE_DAYS],
        )
        return row or {"shown": 0, "answered": 0, "stale": 0}
    row = fetch_one(
        con,
        "select count(*) as shown, count(*) filter (where m.survey_answered) as answered, "
        "count(*) filter (where date_diff('day', m.last_verified, ?::date) > ?) as stale "
        "from (" + _MAPPED + ") as m" + where(fragments),
        [today, STALE_DAYS, *params],
    )
    return row or {"shown": 0, "answered": 0, "stale": 0}


def density(con: duckdb.DuckDBPyConnection, filters: DirectoryFilter, viewer: Viewer = PUBLIC) -> pl.DataFrame:
    """Mapped organisations within the filters per density hexagon (the mart's cell_q, cell_r), busiest first.

    Columns: cell_q, cell_r, longitude, latitude (the hexagon's centre, WGS84 degrees), orgs. The centre
    inverts the mart's projection (warehouse/macros.sql hex_cell).
    """
    if filters == DirectoryFilter(survey=filters.survey):
        # No filter but the survey's (the map's first view, 相談つなぎ's answering organisations): the hexagons
        # from mart_directory_cells, counted at build time.
        chosen = list(filters.survey or SURVEY_STATUSES)
        return fetch(
            con,
            "select m.cell_q, m.cell_r, "
            + CELL_CENTRE
            + ", sum(m.orgs)::bigint as orgs from mart_directory_cells as m "
            "where list_contains(?::varchar[], m.survey_status) group by m.cell_q, m.cell_r "
            "order by orgs desc, m.cell_q, m.cell_r",
            [chosen],
        )
    fragments, params = directory_filter(filters)
    return fetch(
        con,
        "select m.cell_q, m.cell_r, " + CELL_CENTRE + ", count(*) as orgs "
        "from (" + _MAPPED + ") as m" + where(fragments) + " group by m.cell_q, m.cell_r "
        "order by orgs desc, m.cell_q, m.cell_r",
        params,
    )


def mapped_total(con: duckdb.DuckDBPyConnection, viewer: Viewer = PUBLIC) -> int:
    """Organisations with a pin on the map (no filters)."""
    row = fetch_one(con, "select coalesce(sum(orgs), 0)::bigint as n from mart_directory_profile")
    return row["n"] if row else 0


def _records(lang: str, fragments: list[str]) -> str:
    """SELECT of mapped organisations with labels in lang; parameters: today, today, STALE_DAYS, then the fragments'."""
    labels = LABEL_LISTS[lang]
    name = NAME_COLUMN[lang]
    return (
        "select m.organization_id, m.name, m.city_code, c." + name + " as city, "
        "l." + name + " as legal_form, i." + name + " as pf_intent, m.survey_answered, "
        "m.address, m.phone, m.fax, m.hours, m.pin_hours, m.languages, m.accessibility, "
        "m.latitude, m.longitude, m.last_verified, "
        "date_diff('day', m.last_verified, ?::date) as verified_days_ago, "
        "coalesce(date_diff('day', m.last_verified, ?::date) > ?, false) as stale, "
        "m.legend_group, m.primary_form_code, p." + TERM_NAME[lang] + " as primary_form, m.gradient_rank, "
        "m.colour_hex, m." + labels["forms"] + " as forms, m." + labels["contents"] + " as contents, "
        "m." + labels["targets"] + " as targets, m." + labels["area"] + " as area "
        "from (" + _MAPPED + ") as m "
        "join city as c on c.code = m.city_code "
        "left join legal_form as l on l.code = m.legal_form_code "
        "left join pf_intent as i on i.code = m.pf_intent_code "
        "left join taxonomy_term as p on p.taxonomy_id = 'form' and p.code = m.primary_form_code"
        + where(fragments)
        + " order by c.sort_order, m.name_key"
    )


def organisations(
    con: duckdb.DuckDBPyConnection, filters: DirectoryFilter, lang: str, today: dt.date, viewer: Viewer = PUBLIC
) -> pl.DataFrame:
    """Mapped organisations within the filters, cities in display order then by name.

    stale = 最終確認日 more than STALE_DAYS days before `today`; verified_days_ago counts days from it.
    Labels are in `lang`; contents, forms, targets and area are lists (empty without a survey answer).
    """
    fragments, params = directory_filter(filters)
    return fetch(con, _records(lang, fragments), [today, today, STALE_DAYS, *params])


def search(
    con: duckdb.DuckDBPyConnection,
    text: str,
    filters: DirectoryFilter,
    lang: str,
    today: dt.date,
    viewer: Viewer = PUBLIC,
    limit: int = SEARCH_LIMIT,
) -> pl.DataFrame:
    """Mapped organisations within the filters whose name holds text (the columns of organisations), at most limit.

    The text, NFKC-folded and without spaces, is looked for in the matching key (name_key: NFKC, casefold, no
    legal-form words, spaces or punctuation) and in the lower-cased name without spaces; empty text finds nothing.
    """
    folded = "".join(unicodedata.normalize("NFKC", text).casefold().split())
    if not folded:
        return organisations(con, filters, lang, today, viewer).clear()
    fragments, params = directory_filter(filters)
    sql = (
        _records(
            lang,
            [
                "(strpos(m.name_key, ?) > 0 or strpos(replace(replace(lower(m.name), ' ', ''), '　', ''), ?) > 0)",
                *fragments,
            ],
        )
        + " limit ?"
    )
    return fetch(con, sql, [today, today, STALE_DAYS, folded, folded, *params, limit])


def within(
    con: duckdb.DuckDBPyConnection, organization_id: str, filters: DirectoryFilter, viewer: Viewer = PUBLIC
) -> bool:
    """Whether one organisation is on the map and within the filters."""
    fragments, params = directory_filter(filters)
    row = fetch_one(
        con,
        "select count(*) as n from (" + _MAPPED + ") as m" + where(["m.organization_id = ?", *fragments]),
        [organization_id, *params],
    )
    return bool(row and row["n"])


def organisation_detail(
    con: duckdb.DuckDBPyConnection, organization_id: str, lang: str, today: dt.date, viewer: Viewer = PUBLIC
) -> dict | None:
    """One mapped organisation's public record (the columns of organisations), or None."""
    return fetch_one(con, _records(lang, ["m.organization_id = ?"]), [today, today, STALE_DAYS, organization_id])


def legend(
    con: duckdb.DuckDBPyConnection,
    filters: DirectoryFilter,
    lang: str,
    viewer: Viewer = PUBLIC,
    only: tuple[str, ...] | None = None,
) -> pl.DataFrame:
    """Map colours: the seven gradient forms in gradient order, then off_gradient and no_answer when present.

    Columns: legend_group, label (null for the two grey groups: the page words them), colour_hex,
    gradient_rank, orgs (mapped organisations of that colour within the filters; only: just these ids).
    """
    # Pins per colour from the profiles within the filters; the grey groups are listed when the mart has them.
    fragments, params = profile_filter(filters)
    source, source_params = _profiles(only)
    params = [*source_params, *params]
    sql = (
        "with shown as (select m.legend_group, sum(m.orgs)::bigint as orgs from "
        + source
        + where(fragments)
        + " group by m.legend_group), "
        "greys as (select * from (select 'off_gradient' as legend_group, (select m.colour_hex from mart_org_directory "
        "as m where m.legend_group = 'off_gradient' limit 1) as colour_hex union all select 'no_answer', "
        "(select m.colour_hex from mart_org_directory as m where m.legend_group = 'no_answer' limit 1)) "
        "where colour_hex is not null) "
        "select t.code as legend_group, t." + TERM_NAME[lang] + " as label, t.color_hex as colour_hex, "
        "t.gradient_rank, coalesce(s.orgs, 0) as orgs "
        "from taxonomy_term as t left join shown as s on s.legend_group = t.code "
        "where t.taxonomy_id = 'form' and t.gradient_rank is not null "
        "union all select g.legend_group, null, g.colour_hex, "
        "case g.legend_group when 'off_gradient' then 100 else 101 end, coalesce(s.orgs, 0) "
        "from greys as g left join shown as s on s.legend_group = g.legend_group "
        "order by gradient_rank"
    )
    return fetch(con, sql, params)


def boundaries(con: duckdb.DuckDBPyConnection, viewer: Viewer = PUBLIC) -> pl.DataFrame:
    """City outlines (city_code, name, geometry_geojson) in display order; empty without reference geography."""
    return fetch(
        con,
        "select b.city_code, b.name, b.geometry_geojson from ref_city_boundary as b "
        "left join city as c on c.code = b.city_code order by c.sort_order nulls last, b.city_code",
    )


def boundary_credit(con: duckdb.DuckDBPyConnection, viewer: Viewer = PUBLIC) -> str | None:
    """The credit line the loaded city outlines require, or None when none are loaded."""
    row = fetch_one(con, "select credit from ref_source where dataset = 'boundaries'")
    return row["credit"] if row else None


def extent(con: duckdb.DuckDBPyConnection, city_code: str | None, viewer: Viewer = PUBLIC) -> dict | None:
    """Bounding box (min/max latitude and longitude) of the pins of one city, or of all when None."""
    # From mart_directory_pins (per city, answer and 最終確認日, made at build time), not every organisation.
    fragments = ["m.city_code = ?"] if city_code else []
    row = fetch_one(
        con,
        "select min(m.min_latitude) as min_lat, max(m.max_latitude) as max_lat, "
        "min(m.min_longitude) as min_lng, max(m.max_longitude) as max_lng, coalesce(sum(m.orgs), 0)::bigint as pins "
        "from mart_directory_pins as m" + where(fragments),
        [city_code] if city_code else [],
    )
    return row if row and row["pins"] else None
