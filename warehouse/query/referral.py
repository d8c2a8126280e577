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
# Where full matches end: within the radius, or without a pin (distance unknown, listed last). The box
# ($south … $east) holds every point within the radius (see _box), so it only skips rows early.
_FULL = (
    "m.facets_matched = $facets and (m.distance_km <= $radius or m.distance_km is null)",
    (
        "(d.form_mask & $form_bits <> 0 or $form_bits = 0) "
        "and (d.content_mask & $content_bits <> 0 or $content_bits = 0) "
        "and (d.target_mask & $target_bits <> 0 or $target_bits = 0) and (d.latitude is null or d.longitude is null or "
        "(d.latitude between $south and $north and d.longitude between $west and $east))"
    ),
)
_ANY = ("m.facets_matched >= 1", "true")
_DIRECTORY = "mart_referral_directory"
# The ring search's rows: pins within the box as plain range filters (the scan skips row groups and skips
# measuring rows outside it), then the rows without a pin (each branch a plain column filter); with _NEAR (the masks as _FULL) on top.
_NEAR_SOURCE = (
    "(select * from mart_referral_directory where latitude between $south and $north "
    "and longitude between $west and $east union all "
    "select * from mart_referral_directory where latitude is null union all "
    "select * from mart_referral_directory where latitude is not null and longitude is null)"
)
_NEAR = (
    "(d.form_mask & $form_bits <> 0 or $form_bits = 0) and (d.content_mask & $content_bits <> 0 or $content_bits = 0) "
    "and (d.target_mask & $target_bits <> 0 or $target_bits = 0)"
)
_LIMIT = {"full": "", "fallback": " limit $limit"}
# A full match on mart_referral_point (alias d): every requested facet matched (the masks' and, as _FULL and m).
_FITS = (
    "(d.form_mask & $form_bits <> 0 or $form_bits = 0) and (d.content_mask & $content_bits <> 0 or $content_bits = 0) "
    "and (d.target_mask & $target_bits <> 0 or $target_bits = 0) and (d.form_mask & $form_bits <> 0)::bigint "
    "+ (d.content_mask & $content_bits <> 0)::bigint + (d.target_mask & $target_bits <> 0)::bigint = $facets"
)
# Full matches per density hexagon within the box (the null hexagon: full matches without a pin), with those
# fitting the age, each hexagon's centre distance from the origin (haversine_km, as the pins are measured)
# and its reach: the rings a search counts and ranks by.
_CELLS = (
    "select d.cell_q, d.cell_r, haversine_km($lat, $lng, any_value(d.cell_latitude), any_value(d.cell_longitude)) "
    "as centre_km, any_value(d.cell_reach_km) as reach_km, count(*) as n, "
    "count(*) filter (where d.target_mask & $age_bits <> 0) as n_fit from mart_referral_point as d "
    "where " + _FITS + " and (d.cell_q is null or (d.latitude between $south and $north "
    "and d.longitude between $west and $east)) group by d.cell_q, d.cell_r"
)
# Full matches within the radius among the pins of the hexagons the circle cuts (keys as _CELL_KEY).
_EDGE = (
    "select count(*) as n from mart_referral_point as d where " + _FITS + " "
    "and d.cell_q between $q_low and $q_high and list_contains($cells::bigint[], d.cell_q::bigint * $key + d.cell_r) "
    "and haversine_km($lat, $lng, d.latitude, d.longitude) <= $radius"
)
# One integer per hexagon, q × _CELL_KEY + r: |r| stays far below it (about 4,000 in the four cities).
_CELL_KEY = 1_000_000
_REACH_MARGIN_KM = 1e-6  # km (1 mm): rounding in the distance bounds never misplaces a pin
# Full matches the page lists, nearest first (the total is shown; the sheet is made from ticked rows).
RESULT_ROWS = 200
# The fallback keeps only its best rows in m (in the result's order), so only those are labelled and joined.
_BEST = {
    "full": "",
    "fallback": " order by m.facets_matched = $facets desc, m.facets_matched desc, "
    "case when $age_bits = 0 then null else m.target_mask & $age_bits <> 0 end desc nulls last, "
    "m.distance_km asc nulls last, m.name_rank, m.organization_id limit $limit",
}
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


def _bits(con: duckdb.DuckDBPyConnection, term_ids: list[str]) -> dict[str, tuple[str, int]]:
    """Term id → (taxonomy, bit) from mart_referral_bit, for the given terms that exist."""
    frame = fetch(
        con,
        "select term_id, taxonomy_id, bit from mart_referral_bit where list_contains($ids::varchar[], term_id)",
        {"ids": term_ids},
    )
    return {term: (taxonomy, bit) for term, taxonomy, bit in frame.iter_rows()}


def _mask(bits: dict[str, tuple[str, int]], facet: str, term_ids: list[str]) -> int:
    """Bitwise or of the facet's bits of the given terms (terms of another taxonomy or unknown add nothing)."""
    mask = 0
    for term in term_ids:
        taxonomy, bit = bits.get(term, (None, 0))
        if taxonomy == facet:
            mask |= bit
    return mask


def _rings(con: duckdb.DuckDBPyConnection, params: dict, radius_km: float, limit: int) -> tuple[int, float]:
    """Full matches within radius_km (pins) or without a pin, and a distance (km) within which the first `limit`
    of them in the result's order certainly lie.

    Each pin of a hexagon lies within its reach of the centre, so (great-circle distance being a metric) a
    hexagon at centre distance c holds pins between c - reach and c + reach: hexagons wholly inside the radius
    are counted whole, only the pins of those the circle cuts are measured. The nearest `limit` (age fits
    first when an age is given) lie within the smallest outer bound whose hexagons hold `limit` of them.
    """
    latitude, longitude = params["lat"], params["lng"]
    box = _box(latitude, longitude, radius_km)
    fits = {name: params[name] for name in ("form_bits", "content_bits", "target_bits", "facets")}
    origin = {"lat": latitude, "lng": longitude, "age_bits": params["age_bits"]}
    cells = fetch(con, _CELLS, fits | box | origin)
    total = 0
    inside: list[tuple[float, int]] = []
    edge: list[tuple[int, int]] = []
    for q, r, centre, reach_km, n, n_fit in cells.iter_rows():
        if q is None:
            total += n
            continue
        if centre - reach_km - _REACH_MARGIN_KM > radius_km:
            continue
        outer = centre + reach_km + _REACH_MARGIN_KM
        if outer <= radius_km:
            total += n
            inside.append((outer, n_fit if params["age_bits"] else n))
        else:
            edge.append((q, r))
    if edge:
        counted = fetch_one(
            con,
            _EDGE,
            fits
            | {
                "cells": [q * _CELL_KEY + r for q, r in edge],
                "key": _CELL_KEY,
                "q_low": min(q for q, _ in edge),
                "q_high": max(q for q, _ in edge),
                "lat": latitude,
                "lng": longitude,
                "radius": radius_km,
            },
        )
        total += counted["n"] if counted else 0
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
    name, areas = TERM_NAME[lang], AREA_NAMES[lang]
    city_name = NAME_COLUMN[lang]
    # The need as bit masks per facet (mart_referral_bit); 誰でも (ANYONE) fits whenever target groups are asked for.
    asked = {"form": list(need.forms), "content": list(need.contents), "target": list(need.targets)}
    age = list(age_targets(need.age))
    known = _bits(con, [*need.forms, *need.contents, *need.targets, *age, ANYONE])
    bits = {
        facet: _mask(known, facet, terms + ([ANYONE] if facet == "target" else [])) if terms else 0
        for facet, terms in asked.items()
    }
    age_bits = _mask(known, "target", [*age, ANYONE]) if age else 0
    hit = {facet: f"m.{MASKS[facet]} & ${facet}_bits" for facet in FACETS}
    matched = " + ".join(f"(d.{MASKS[facet]} & ${facet}_bits <> 0)::bigint" for facet in FACETS)
    # "why" per distinct combination of matched terms (few), then joined to the rows by that combination.
    combo = ", ".join(f"{hit[facet]} as {facet}_hit" for facet in FACETS)
    on_combo = " and ".join(f"w.{facet}_hit = {hit[facet]}" for facet in FACETS)
    picks = " or ".join(
        f"(b.taxonomy_id = ($facet_order::varchar[])[{position}] and k.{facet}_hit & b.bit <> 0)"
        for position, facet in enumerate(FACETS, start=1)
    )
    measured = "haversine_km($lat, $lng, d.latitude, d.longitude) as distance_km, " + matched + " as facets_matched"
    sql = (
        "with h as (select d.*, " + measured + " from {source} as d where {area}), "
        "m as materialized (select * from h as m where {matches}{best}), "
        "combos as (select distinct " + combo + " from m), "
        "terms as (select k.form_hit, k.content_hit, k.target_hit, b.taxonomy_id as facet, t.id as term_id, "
        "t." + name + " as label, t.sort_order from combos as k join mart_referral_bit as b on " + picks + " "
        "join taxonomy_term as t on t.id = b.term_id), "
        "parts as (select form_hit, content_hit, target_hit, facet, "
        "x." + name + " || ': ' || string_agg(label, $term_join order by sort_order, term_id) as part, "
        "list(term_id order by sort_order, term_id) as terms "
        "from terms join taxonomy as x on x.id = facet group by form_hit, content_hit, target_hit, facet, x."
        + name
        + "), "
        "w as (select form_hit, content_hit, target_hit, "
        "string_agg(part, ' / ' order by list_position($facet_order::varchar[], facet)) as why, "
        "flatten(list(terms order by list_position($facet_order::varchar[], facet))) as matched_term_ids "
        "from parts group by form_hit, content_hit, target_hit) "
        "select m.organization_id, m.name, m.city_code, c." + city_name + " as city, "
        "round(m.distance_km, 2) as distance_km, "
        "case when $city::varchar is null then null else list_contains(m.area_city_codes, $city) end as covers_city, "
        "m." + areas + " as service_area, "
        "m.facets_matched, $facets::bigint as facets_requested, m.facets_matched = $facets as full_match, "
        "case when $age_bits = 0 then null else m.target_mask & $age_bits <> 0 end as age_fit, "
        "w.why, w.matched_term_ids, "
        "m.address, m.phone, m.fax, m.hours, m.languages, m.accessibility, m.latitude, m.longitude, "
        "m.last_verified, date_diff('day', m.last_verified, $today) > $stale_days as stale "
        "from m join city as c on c.code = m.city_code "
        "join w on " + on_combo + " "
        "order by full_match desc, m.facets_matched desc, age_fit desc nulls last, "
        "m.distance_km asc nulls last, m.name_rank, m.organization_id{limit}"
    )
    params = {
        "form_bits": bits["form"],
        "content_bits": bits["content"],
        "target_bits": bits["target"],
        "facets": need.facets(),
        "term_join": TERM_JOIN[lang],
        "facet_order": list(FACETS),
        "age_bits": age_bits,
        "lat": origin.latitude,
        "lng": origin.longitude,
        "city": origin.city_code,
        "today": today,
        "stale_days": STALE_AFTER_DAYS,
    }
    matches, area = _FULL
    if limit is None:
        nearby = params | {"radius": radius_km} | _box(origin.latitude, origin.longitude, radius_km)
        full = fetch(
            con,
            sql.format(source=_DIRECTORY, matches=matches, area=area, best=_BEST["full"], limit=_LIMIT["full"]),
            nearby,
        )
        total = full.height
    else:
        # Only the first `limit` rows are labelled and returned (the fallback's ordering is the full matches' order
        # too: every row of m matches fully). The hexagon counts give the total and the distance `reach` within
        # which those rows certainly lie, so only rows up to `reach` are measured and ranked (_rings).
        total, reach = _rings(con, params, radius_km, limit)
        near = params | {"radius": reach, "limit": limit} | _box(origin.latitude, origin.longitude, reach)
        ring = sql.format(
            source=_NEAR_SOURCE, matches=matches, area=_NEAR, best=_BEST["fallback"], limit=_LIMIT["fallback"]
        )
        full = fetch(con, ring, near)
    # Full matches without a pin are listed, but alone they do not count as "something fits nearby".
    if full["distance_km"].is_not_null().any():
        return Referrals(full, fallback=False, total=total)
    matches, area = _ANY
    nearest = fetch(
        con,
        sql.format(source=_DIRECTORY, matches=matches, area=area, best=_BEST["fallback"], limit=_LIMIT["fallback"]),
        params | {"limit": FALLBACK_LIMIT},
    )
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
