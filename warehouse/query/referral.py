"""相談つなぎ: organisations across the four cities that fit a resident's need, nearest first.

Nothing here stores or returns anything about the resident: the need and the resident's point are
query parameters only, and the results hold public organisation data (mart_referral_directory).
"""

from __future__ import annotations

import datetime as dt
import math
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass

import duckdb
import polars as pl

from common.roles import PUBLIC, Viewer
from warehouse import macros
from warehouse.query import NAME_COLUMN, directory, fetch, fetch_one, sort_towns, where

# Facets a need can ask for (attribute.link_type values): the allow-list, and the order of "why".
FACETS = ("form", "content", "target")
# A service for 誰でも (anyone) fits whatever target group is asked for.
ANYONE = "target:anyone"
EARTH_RADIUS_KM = macros.EARTH_RADIUS_KM  # km: _box's angles agree with the SQL haversine_km
DEFAULT_RADIUS_KM = 5.0
FALLBACK_LIMIT = 10  # partial matches listed when nothing fits fully within the radius
STALE_AFTER_DAYS = 365  # a map pin checked longer ago than this is flagged for a phone check first
NEAREST_TOWN_KM = 3.0  # a clicked point further than this from every 町丁目 gets no town/city guess
# Above this many mapped organisations the map draws density hexagons aggregated in the warehouse instead of
# one pin each (the resource map's budget: directory.PIN_LIMIT keeps the Deck JSON near 3 MB); results stay pins.
PIN_LIMIT = directory.PIN_LIMIT
# directory_points as mart_org_directory rows (for its density cells): answering organisations (survey_status
# answered) with a pin, the same organisations as mart_referral_directory's pins (one service per answer).
_ANSWERING = directory.DirectoryFilter(survey=("answered",))
# Age → target groups (a soft preference that ranks fitting organisations first, never a filter).
# Inclusive age bounds; None = no upper bound. 15–17 belong to both こども and 若者.
AGE_RULES: tuple[tuple[int, int | None, str], ...] = (
    (0, 17, "target:children"),
    (15, 39, "target:youth"),
    (65, None, "target:elderly"),
)
# Identifier allow-lists: label columns per UI language.
TERM_NAME = {"ja": "name", "en": "name_en"}
AREA_NAMES = {"ja": "area_names_ja", "en": "area_names_en"}
# How "why" joins terms within one facet (ja: 居場所づくり・相談窓口).
TERM_JOIN = {"ja": "・", "en": ", "}
# Term mask column of mart_referral_directory per facet (identifier allow-list), in FACETS order.
MASKS = {"form": "form_mask", "content": "content_mask", "target": "target_mask"}
# Where the rows of mart_referral_point (alias d) come from: near = the pins within the box ($south … $east, holding
# every point within $radius, see _box) as plain range filters (the scan skips row groups), then the rows without a
# pin; every = all of them (the fallback).
_SOURCE = {
    "near": "(select * from mart_referral_point where latitude between $south and $north "
    "and longitude between $west and $east union all select * from mart_referral_point where cell_q is null)",
    "every": "mart_referral_point",
}
# Full matches per density hexagon (the null hexagon: full matches without a pin), with those fitting the age
# and those within the radius, each hexagon's centre distance from the origin (haversine_km, as the pins are
# measured) and its reach: the rings a search ranks by. {fits}, {fit}: see _need_sql.
_CELLS = (
    "select d.cell_q, d.cell_r, haversine_km($lat, $lng, any_value(d.cell_latitude), any_value(d.cell_longitude)) "
    "as centre_km, any_value(d.cell_reach_km) as reach_km, count(*) as n, {fit} as n_fit, "
    "count(*) filter (where haversine_km($lat, $lng, d.latitude, d.longitude) <= $radius) as n_within "
    "from " + _SOURCE["near"] + " as d where {fits} group by d.cell_q, d.cell_r"
)
_REACH_MARGIN_KM = 1e-6  # km (1 mm): rounding in the distance bounds never misplaces a pin
# Full matches the page lists, nearest first (the total is shown; the sheet is made from ticked rows).
RESULT_ROWS = 200
# Which rows are ranked: full matches within the radius or without a pin (distance unknown, listed last), in
# the order age fit, distance, name; or, for the fallback, matches of at least one facet, full matches first,
# then more facets matched, then as the full matches.
_RANK_WHERE = {"full": "m.distance_km <= $radius or m.distance_km is null", "any": "m.facets_matched >= 1"}
_RANK_ORDER = "{age}m.distance_km asc nulls last, m.name_rank, m.organization_id"
_RANK_FIRST = {"full": "", "any": "m.facets_matched = $facets desc, m.facets_matched desc, "}
# The ranked rows of mart_referral_point in the result's order, read without the wide display columns (_LABEL):
# each row's matched terms per asked facet (hits, for "why"), its pin and name rank come along.
_RANK = (
    "select m.organization_id, round(m.distance_km, 2) as distance_km, m.facets_matched, "
    "$facets::bigint as facets_requested, m.facets_matched = $facets as full_match, m.age_fit{hit_columns}, "
    "m.latitude, m.longitude, m.name_rank from (select d.organization_id, d.latitude, d.longitude, d.name_rank, "
    "haversine_km($lat, $lng, d.latitude, d.longitude) as distance_km, {matched} as facets_matched{hits}, "
    "{age} as age_fit from {source} as d where {fits}) as m where {within} order by {order}{limit}"
)
# Display columns of the ranked rows, read from mart_referral_directory only where they lie: the pins within the
# ranked pins' own bounds, the rows without a pin within the ranked ones' name ranks. Those plain range filters
# let the scan skip what is not shown, so only about the shown rows' wide columns are read.
_LABEL_ROWS = {
    "pins": "latitude between $south and $north and longitude between $west and $east",
    "no_latitude": "latitude is null and name_rank between $rank_low and $rank_high",
    "no_longitude": "latitude is not null and longitude is null and name_rank between $rank_low and $rank_high",
}
_LABEL_COLUMNS = (
    "organization_id, name, city_code, address, phone, fax, hours, languages, accessibility, last_verified, "
    "area_city_codes, {areas}"
)
# covers_city: null when the resident's city is unknown.
_COVERS = {True: "list_contains(d.area_city_codes, $city)", False: "null::boolean"}
_LABEL = (
    "select d.organization_id, d.name, d.city_code, c.{city} as city, {covers} as covers_city, "
    "d.{areas} as service_area, d.address, d.phone, d.fax, d.hours, d.languages, d.accessibility, d.last_verified, "
    "date_diff('day', d.last_verified, $today) > $stale_days as stale "
    "from ({rows}) as d join city as c on c.code = d.city_code"
)
# The result's columns, in order.
COLUMNS = (
    "organization_id", "name", "city_code", "city", "distance_km", "covers_city", "service_area", "facets_matched",
    "facets_requested", "full_match", "age_fit", "why", "matched_term_ids", "address", "phone", "fax", "hours",
    "languages", "accessibility", "latitude", "longitude", "last_verified", "stale",
)  # fmt: skip
_HITS = {facet: f"{facet}_hit" for facet in FACETS}  # a row's mask & the need's bits, per facet
_BOX_MARGIN_DEG = 1e-6  # widens the box by ~0.1 m so floating-point rounding never drops an edge point


@dataclass(frozen=True)
class Need:
    """What the resident asks for: taxonomy_term ids per facet (any term of a facet fits), age if known."""

    contents: tuple[str, ...] = ()
    forms: tuple[str, ...] = ()
    targets: tuple[str, ...] = ()
    age: int | None = None

    def facets(self) -> int:
        """How many facets are asked for (a full match has to match each of them)."""
        return sum(1 for terms in (self.contents, self.forms, self.targets) if terms)


@dataclass(frozen=True)
class Origin:
    """Where the resident lives: a point (WGS84 degrees) and, when known, the city code for coverage."""

    latitude: float
    longitude: float
    city_code: str | None = None


@dataclass(frozen=True)
class Referrals:
    """Ranked organisations; fallback=True when nothing fits fully within the radius (frame = nearest partial matches)."""

    frame: pl.DataFrame
    fallback: bool
    # Full matches in all (the frame may hold only the first `limit` of them); the frame's height on fallback.
    total: int = 0


def age_targets(age: int | None) -> tuple[str, ...]:
    """Target-group term ids an age suggests (AGE_RULES); empty for no age or 40–64."""
    if age is None:
        return ()
    return tuple(term for low, high, term in AGE_RULES if age >= low and (high is None or age <= high))


def need_terms(con: duckdb.DuckDBPyConnection, taxonomy: str, lang: str, viewer: Viewer = PUBLIC) -> pl.DataFrame:
    """Terms a need can ask for in one facet (id, label, group_label), in taxonomy order; content = categories."""
    if taxonomy not in FACETS:
        raise ValueError(f"unknown facet: {taxonomy!r}")
    name = TERM_NAME[lang]
    return fetch(
        con,
        "select t.id, t." + name + " as label, g." + name + " as group_label "
        "from taxonomy_term as t left join taxonomy_term as g on g.id = t.parent_id "
        "where t.taxonomy_id = $taxonomy and (t.taxonomy_id <> 'content' or t.parent_id is not null) "
        "order by g.sort_order nulls first, t.sort_order",
        {"taxonomy": taxonomy},
    )


def towns(con: duckdb.DuckDBPyConnection, lang: str, viewer: Viewer = PUBLIC) -> pl.DataFrame:
    """Every 町丁目 of the reference geography (id, city_code, city, name, latitude, longitude), by city then
    name in numeric order (一丁目, 二丁目 … 十丁目, 十一丁目)."""
    frame = fetch(
        con,
        "select t.id, t.city_code, c." + NAME_COLUMN[lang] + " as city, t.name, t.latitude, t.longitude, "
        "c.sort_order as city_order "
        "from ref_town as t join city as c on c.code = t.city_code order by c.sort_order, t.name",
    )
    return sort_towns(frame, "city_order", "name").drop("city_order")


def town(con: duckdb.DuckDBPyConnection, town_id: str, viewer: Viewer = PUBLIC) -> dict | None:
    """One 町丁目 by id (city_code, name, point), or None."""
    return fetch_one(
        con, "select id, city_code, name, latitude, longitude from ref_town where id = $id", {"id": town_id}
    )


def reference_sources(con: duckdb.DuckDBPyConnection, viewer: Viewer = PUBLIC) -> pl.DataFrame:
    """Loaded reference datasets with their required credit lines (empty without reference geography)."""
    return fetch(con, "select dataset, licence, credit from ref_source order by dataset")


def nearest_town(
    con: duckdb.DuckDBPyConnection, latitude: float, longitude: float, viewer: Viewer = PUBLIC
) -> dict | None:
    """The 町丁目 nearest to a point within NEAREST_TOWN_KM (id, city_code, name, distance_km), or None."""
    return fetch_one(
        con,
        "select * from (select id, city_code, name, haversine_km($lat, $lng, latitude, longitude) as distance_km "
        "from ref_town) where distance_km <= $max_km order by distance_km, id limit 1",
        {"lat": latitude, "lng": longitude, "max_km": NEAREST_TOWN_KM},
    )


def city_outlines(con: duckdb.DuckDBPyConnection, viewer: Viewer = PUBLIC) -> pl.DataFrame:
    """City outlines of the reference geography (city_code, name, geometry_geojson); empty without it."""
    return fetch(
        con,
        "select b.city_code, b.name, b.geometry_geojson from ref_city_boundary as b "
        "join city as c on c.code = b.city_code order by c.sort_order",
    )


def directory_points(con: duckdb.DuckDBPyConnection, lang: str, viewer: Viewer = PUBLIC) -> pl.DataFrame:
    """Answering organisations that have a map pin (organization_id, name, city, latitude, longitude)."""
    return fetch(
        con,
        "select d.organization_id, d.name, c." + NAME_COLUMN[lang] + " as city, d.latitude, d.longitude "
        "from mart_referral_directory as d join city as c on c.code = d.city_code "
        "where d.latitude is not null order by d.list_rank",
    )


def mapped_count(con: duckdb.DuckDBPyConnection, viewer: Viewer = PUBLIC) -> int:
    """How many organisations directory_points (and directory_density's hexagons) hold, from the few facet profiles."""
    fragments, params = directory.profile_filter(_ANSWERING)
    row = fetch_one(
        con, "select coalesce(sum(m.orgs), 0)::bigint as n from mart_directory_profile as m" + where(fragments), params
    )
    return row["n"] if row else 0


def directory_density(con: duckdb.DuckDBPyConnection, viewer: Viewer = PUBLIC) -> pl.DataFrame:
    """directory_points per density hexagon of the resource map's grid, busiest first.

    Columns: cell_q, cell_r, longitude, latitude (the hexagon's centre, WGS84 degrees), orgs; see directory.density.
    """
    return directory.density(con, _ANSWERING, viewer)


def _box(latitude: float, longitude: float, radius_km: float) -> dict[str, float]:
    """Latitude/longitude bounds (degrees) holding every point within radius_km (haversine) of the point.

    A point at great-circle distance d ≤ r has |Δφ| ≤ r/R, and sin²(Δλ/2)·cos φ1·cos φ2 ≤ sin²(r/2R) with
    cos φ2 ≥ cos(|φ1| + r/R); so the box is exact up to _BOX_MARGIN_DEG. Near a pole or the antimeridian
    the longitude bounds are dropped (the whole circle of longitudes).
    """
    span = radius_km / EARTH_RADIUS_KM  # radians
    south = latitude - math.degrees(span) - _BOX_MARGIN_DEG
    north = latitude + math.degrees(span) + _BOX_MARGIN_DEG
    west, east = -180.0, 180.0
    far = math.radians(abs(latitude)) + span
    if far < math.pi / 2:
        ratio = math.sin(span / 2) / math.sqrt(math.cos(math.radians(latitude)) * math.cos(far))
        if ratio < 1:
            reach = math.degrees(2 * math.asin(ratio)) + _BOX_MARGIN_DEG
            if longitude - reach >= -180 and longitude + reach <= 180:
                west, east = longitude - reach, longitude + reach
    return {"south": south, "north": north, "west": west, "east": east}


@dataclass(frozen=True)
class _Term:
    """A term a need names, as _terms reads it: its facet, its bit there, and what "why" shows of it."""

    taxonomy: str
    bit: int
    label: str | None  # null when taxonomy_term lacks it ("why" leaves it out)
    sort_order: int | None
    facet_label: str | None  # the taxonomy's name; null when taxonomy lacks it ("why" leaves the facet out)


def _terms(con: duckdb.DuckDBPyConnection, term_ids: list[str], lang: str) -> dict[str, _Term]:
    """Term id → _Term from mart_referral_bit (labels in lang), for the given terms that exist."""
    name = TERM_NAME[lang]
    frame = fetch(
        con,
        "select b.term_id, b.taxonomy_id, b.bit, t." + name + " as label, t.sort_order, x." + name + " as facet_label "
        "from mart_referral_bit as b left join taxonomy_term as t on t.id = b.term_id "
        "left join taxonomy as x on x.id = b.taxonomy_id where list_contains($ids::varchar[], b.term_id)",
        {"ids": term_ids},
    )
    return {row[0]: _Term(*row[1:]) for row in frame.iter_rows()}


def _mask(terms: dict[str, _Term], facet: str, term_ids: list[str]) -> int:
    """Bitwise or of the facet's bits of the given terms (terms of another taxonomy or unknown add nothing)."""
    mask = 0
    for term_id in term_ids:
        term = terms.get(term_id)
        if term is not None and term.taxonomy == facet:
            mask |= term.bit
    return mask


def _need_sql(bits: dict[str, int], facets: int, age_bits: int) -> dict[str, str]:
    """A need's SQL over alias d (a row of mart_referral_point), naming only the facets it asks with known terms
    (each bit test is an expression DuckDB plans): fits (a full match), matched (facets matched), hits (per
    facet, mask & bits, for "why"), age (fits the age; null without one) and fit (count of those)."""
    active = [facet for facet in FACETS if bits[facet]]
    tests = [f"d.{MASKS[facet]} & ${facet}_bits <> 0" for facet in active]
    return {
        # A facet asked only with unknown terms (bits 0) matches nothing, so nothing matches fully.
        "fits": " and ".join(tests) if len(active) == facets else "false",
        "matched": " + ".join(f"({test})::bigint" for test in tests) or "0::bigint",
        "hits": "".join(f", d.{MASKS[facet]} & ${facet}_bits as {_HITS[facet]}" for facet in active),
        "hit_columns": "".join(f", m.{_HITS[facet]}" for facet in active),
        "age": "d.target_mask & $age_bits <> 0" if age_bits else "null::boolean",
        "fit": "count(*) filter (where d.target_mask & $age_bits <> 0)" if age_bits else "count(*)",
        "rank_order": _RANK_ORDER.format(age="m.age_fit desc nulls last, " if age_bits else ""),
    }


def _bound(params: dict, names: list[str]) -> dict:
    """The need's parameters a statement names: its asked facets' bits and the age bits when it has them."""
    masks = [f"{facet}_bits" for facet in FACETS if params[f"{facet}_bits"]]
    return {name: params[name] for name in [*names, *masks] + (["age_bits"] if params["age_bits"] else [])}


def _why(ranked: pl.DataFrame, terms: dict[str, _Term], lang: str) -> pl.DataFrame:
    """The "why" of each combination of matched terms among the ranked rows (few): their hits, why, matched_term_ids.

    Per facet in FACETS order, the facet's name, ": ", then its matched terms by sort order and id joined with
    TERM_JOIN; the facets joined with " / ". A combination matching no labelled term has no row (nor do its rows).
    The hits hold bits of the asked terms only (the need's masks), all of them in terms.
    """
    present = [facet for facet in FACETS if _HITS[facet] in ranked.columns]
    rows = []
    for hits in ranked.select(_HITS[facet] for facet in present).unique(maintain_order=True).iter_rows():
        parts: list[str] = []
        ids: list[str] = []
        for facet, hit in zip(present, hits, strict=True):
            chosen = sorted(
                (term.sort_order, term_id, term)
                for term_id, term in terms.items()
                if term.taxonomy == facet and term.bit & hit and term.label is not None
            )
            if chosen and chosen[0][2].facet_label is not None:
                parts.append(chosen[0][2].facet_label + ": " + TERM_JOIN[lang].join(term.label for *_, term in chosen))
                ids.extend(term_id for _, term_id, _ in chosen)
        if parts:
            rows.append((*hits, " / ".join(parts), ids))
    schema = {_HITS[facet]: pl.Int64 for facet in present} | {"why": pl.String, "matched_term_ids": pl.List(pl.String)}
    return pl.DataFrame(rows, schema=schema, orient="row")


def _label(
    con: duckdb.DuckDBPyConnection, ranked: pl.DataFrame, params: dict, terms: dict[str, _Term], lang: str
) -> pl.DataFrame:
    """The ranked rows with their display columns and "why", in the ranked order (the result's frame).

    Rows whose city or "why" is unknown are left out, as an inner join would.
    """
    pinned = ranked.filter(pl.col("latitude").is_not_null() & pl.col("longitude").is_not_null())
    pinless = ranked.filter(pl.col("latitude").is_null() | pl.col("longitude").is_null())
    bounds: dict = {
        "ids": ranked["organization_id"].to_list(),
        "today": params["today"],
        "stale_days": STALE_AFTER_DAYS,
    }
    where = []
    if pinned.height or not pinless.height:
        # No rows at all: the same statement with empty bounds gives the empty frame its columns.
        where.append(_LABEL_ROWS["pins"])
        bounds |= {
            "south": pinned["latitude"].min(),
            "north": pinned["latitude"].max(),
            "west": pinned["longitude"].min(),
            "east": pinned["longitude"].max(),
        }
    if pinless.height:
        where += [_LABEL_ROWS["no_latitude"], _LABEL_ROWS["no_longitude"]]
        bounds |= {"rank_low": pinless["name_rank"].min(), "rank_high": pinless["name_rank"].max()}
    columns = _LABEL_COLUMNS.format(areas=AREA_NAMES[lang])
    rows = " union all ".join(
        "select " + columns + " from mart_referral_directory where " + condition + " "
        "and organization_id in (select unnest($ids::varchar[]))"
        for condition in where
    )
    covers = params["city"] is not None
    sql = _LABEL.format(city=NAME_COLUMN[lang], covers=_COVERS[covers], areas=AREA_NAMES[lang], rows=rows)
    labels = fetch(con, sql, bounds | ({"city": params["city"]} if covers else {}))
    why = _why(ranked, terms, lang)
    hits = [column for column in why.columns if column in _HITS.values()]
    frame = ranked.join(labels, on="organization_id", how="inner", maintain_order="left")
    # No asked facet with a known term: nothing is ranked, and "why" only gives the columns.
    matched = frame.join(why, on=hits, how="inner", maintain_order="left") if hits else frame.join(why, how="cross")
    return matched.select(COLUMNS)


def _rank(
    con: duckdb.DuckDBPyConnection, source: str, where: str, need: dict[str, str], params: dict, limit: int | None
) -> pl.DataFrame:
    """Rows of mart_referral_point in the result's order (_RANK), the first `limit` when given."""
    order = _RANK_FIRST[where] + need["rank_order"]
    fits = need["fits"] if where == "full" else "true"
    sql = _RANK.format(
        source=_SOURCE[source],
        within=_RANK_WHERE[where],
        order=order,
        limit="" if limit is None else " limit $limit",
        **(need | {"fits": fits}),
    )
    names = ["lat", "lng", "facets"] + (["south", "north", "west", "east"] if source == "near" else [])
    names += ["radius"] if where == "full" else []
    return fetch(con, sql, _bound(params, names) | ({} if limit is None else {"limit": limit}))


def _rings(con: duckdb.DuckDBPyConnection, need: dict[str, str], params: dict, limit: int) -> tuple[int, float]:
    """Full matches within the radius (pins) or without a pin, and a distance (km) within which the first `limit`
    of them in the result's order certainly lie.

    Each pin of a hexagon lies within its reach of the centre, so (great-circle distance being a metric) a
    hexagon at centre distance c holds pins between c - reach and c + reach. The nearest `limit` (age fits
    first when an age is given) lie within the smallest outer bound whose hexagons, wholly inside the radius,
    hold `limit` of them.
    """
    radius_km = params["radius"]
    names = ["lat", "lng", "radius", "south", "north", "west", "east"]
    cells = fetch(con, _CELLS.format(fits=need["fits"], fit=need["fit"]), _bound(params, names))
    total = 0
    inside: list[tuple[float, int]] = []
    for q, _, centre, reach_km, n, n_fit, n_within in cells.iter_rows():
        if q is None:
            total += n
            continue
        total += n_within
        outer = centre + reach_km + _REACH_MARGIN_KM
        if outer <= radius_km:
            inside.append((outer, n_fit))
    covered = 0
    for outer, n in sorted(inside):
        covered += n
        if covered >= limit:
            return total, outer
    return total, radius_km


def find_referrals(
    con: duckdb.DuckDBPyConnection,
    need: Need,
    origin: Origin,
    radius_km: float,
    today: dt.date,
    lang: str = "ja",
    limit: int | None = None,
    viewer: Viewer = PUBLIC,
) -> Referrals:
    """Organisations fitting the need, ranked across the four cities (the first `limit` full matches when given).

    Full matches (every requested facet matched; within a facet any requested term, 誰でも fits any
    target) within radius_km are listed, then full matches without a map pin (distance null). Order:
    age fit first (soft preference from AGE_RULES), then distance, then name. When no full match with
    a pin lies within the radius, the FALLBACK_LIMIT best matches of at least one facet are returned
    instead with fallback=True: full matches at any distance first, then more facets matched, then age
    fit, then distance. covers_city is null when the resident's city is unknown.
    """
    if need.facets() == 0:
        raise ValueError("a need asks for at least one content, support form or target group")
    if limit is not None and limit < 1:
        raise ValueError("limit must be at least 1")
    # The need as bit masks per facet (mart_referral_bit); 誰でも (ANYONE) fits whenever target groups are asked for.
    asked = {"form": list(need.forms), "content": list(need.contents), "target": list(need.targets)}
    age = list(age_targets(need.age))
    terms = _terms(con, [*need.forms, *need.contents, *need.targets, *age, ANYONE], lang)
    bits = {
        facet: _mask(terms, facet, ids + ([ANYONE] if facet == "target" else [])) if ids else 0
        for facet, ids in asked.items()
    }
    params = {f"{facet}_bits": bits[facet] for facet in FACETS} | {
        "facets": need.facets(),
        "age_bits": _mask(terms, "target", [*age, ANYONE]) if age else 0,
        "lat": origin.latitude,
        "lng": origin.longitude,
        "city": origin.city_code,
        "today": today,
    }
    sql = _need_sql(bits, need.facets(), params["age_bits"])
    nearby = params | {"radius": radius_km} | _box(origin.latitude, origin.longitude, radius_km)
    if limit is None:
        full = _label(con, _rank(con, "near", "full", sql, nearby, None), params, terms, lang)
        total = full.height
    else:
        # The hexagon counts give the total and the distance `reach` within which the first `limit` rows certainly
        # lie, so only rows up to `reach` are measured and ranked (_rings), and only the first `limit` labelled.
        total, reach = _rings(con, sql, nearby, limit)
        near = params | {"radius": reach} | _box(origin.latitude, origin.longitude, reach)
        full = _label(con, _rank(con, "near", "full", sql, near, limit), params, terms, lang)
    # Full matches without a pin are listed, but alone they do not count as "something fits nearby".
    if full["distance_km"].is_not_null().any():
        return Referrals(full, fallback=False, total=total)
    nearest = _label(con, _rank(con, "every", "any", sql, params, FALLBACK_LIMIT), params, terms, lang)
    return Referrals(nearest, fallback=True, total=nearest.height)


def contacts(
    con: duckdb.DuckDBPyConnection, organization_ids: list[str], lang: str, viewer: Viewer = PUBLIC
) -> pl.DataFrame:
    """Public contact details of the given organisations, in the given order: all a referral sheet may print."""
    return fetch(
        con,
        "select organization_id, name, address, phone, fax, hours, languages, accessibility, "
        + AREA_NAMES[lang]
        + " as service_area from mart_referral_directory where list_contains($ids::varchar[], organization_id) "
        "order by list_position($ids::varchar[], organization_id)",
        {"ids": list(organization_ids)},
    )


# --- address → 町丁目 (pure) -----------------------------------------------------------------------

PREFECTURE = "神奈川県"
_KANJI_DIGITS = "一二三四五六七八九"
_CHOME = re.compile(r"^(?P<base>.+?)(?P<number>[一二三四五六七八九十]+)丁目$")
# Dash-like characters people type between block numbers (NFKC leaves these as they are).
_DASH = re.compile(r"(?<=\d)[‐‑‒–—―−ーｰ－](?=\d)")
_POSTCODE = re.compile(r"^〒?\d{3}-?\d{4}")
# What may follow a town name in an address: nothing, a block number, or 番地 / 字 forms.
_AFTER_TOWN = re.compile(r"^($|[\d\-番字号(（])")


@dataclass(frozen=True)
class AddressMatch:
    """Result of resolving an address: the town, or reason ∈ {empty, no_towns, no_city, no_town}."""

    town_id: str | None = None
    city_code: str | None = None
    town_name: str | None = None
    reason: str | None = None


def kanji_number(number: int) -> str:
    """1–99 as kanji numerals the way 丁目 are written (十一, 二十)."""
    if not 1 <= number <= 99:
        raise ValueError(f"丁目 numbers are 1–99: {number}")
    tens, ones = divmod(number, 10)
    head = "" if tens == 0 else ("十" if tens == 1 else _KANJI_DIGITS[tens - 1] + "十")
    return head + ("" if ones == 0 else _KANJI_DIGITS[ones - 1])


def _kanji_value(text: str) -> int:
    """Kanji numeral (一…九十九) to int."""
    if "十" not in text:
        return _KANJI_DIGITS.index(text) + 1
    tens, _, ones = text.partition("十")
    return (_KANJI_DIGITS.index(tens) + 1 if tens else 1) * 10 + (_KANJI_DIGITS.index(ones) + 1 if ones else 0)


def normalise_address(text: str) -> str:
    """NFKC, no spaces, ヶ → ケ, dashes between digits → "-", postcode and 神奈川県 removed."""
    text = unicodedata.normalize("NFKC", text or "")
    text = re.sub(r"\s+", "", text).replace("ヶ", "ケ").replace("ヵ", "カ")
    text = _DASH.sub("-", text)
    text = _POSTCODE.sub("", text)
    return text.removeprefix("日本").removeprefix(PREFECTURE)


def _spellings(name: str) -> list[tuple[str, bool]]:
    """Ways an address spells a town: (prefix, whole) — whole=True means it must end the address there."""
    key = normalise_address(name)
    chome = _CHOME.match(key)
    if not chome:
        return [(key, False)]
    digits = str(_kanji_value(chome["number"]))
    base = chome["base"]
    return [(key, False), (base + digits + "丁目", False), (base + digits + "-", False), (base + digits, True)]


def resolve_address(address: str, towns: pl.DataFrame, cities: Mapping[str, str]) -> AddressMatch:
    """Resolve a typed address to a 町丁目 of the four cities (towns: id, city_code, name; cities: code → 市名).

    NFKC, strip 神奈川県, find the city name at the start, then the longest town name that prefixes
    the rest; 1丁目 / 1- written with digits match 一丁目. Unresolved → reason, never an exception.
    """
    text = normalise_address(address)
    if not text:
        return AddressMatch(reason="empty")
    if towns.is_empty():
        return AddressMatch(reason="no_towns")
    city_code = next((code for code, name in cities.items() if text.startswith(normalise_address(name))), None)
    if city_code is None:
        return AddressMatch(reason="no_city")
    rest = text[len(normalise_address(cities[city_code])) :]
    rest = rest.removeprefix("大字").removeprefix("字")
    best: tuple[int, str, str] | None = None
    for town_id, name in towns.filter(pl.col("city_code") == city_code).select("id", "name").iter_rows():
        for spelling, whole in _spellings(name):
            fits = rest == spelling if whole else rest.startswith(spelling) and _AFTER_TOWN.match(rest[len(spelling) :])
            if fits and (best is None or len(spelling) > best[0]):
                best = (len(spelling), town_id, name)
    if best is None:
        return AddressMatch(city_code=city_code, reason="no_town")
    return AddressMatch(town_id=best[1], city_code=city_code, town_name=best[2])
