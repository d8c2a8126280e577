"""相談つなぎ: a resident's need and where they live → fitting organisations across the four cities, and a printable sheet.

Nothing about the resident is stored or written anywhere: the inputs live only in this browser session,
and the sheet prints organisations' public contacts (and the staff's notes) only.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import polars as pl
import streamlit as st

from common.calendar import date_label
from dashboard import auth, data, state
from dashboard.charts import referral as charts
from dashboard.downloads import html_download
from dashboard.format import MISSING, number
from dashboard.provenance import admin_pointer, show_provenance
from dashboard.referral_sheet import build_sheet
from warehouse import query
from warehouse.query import referral

MAP_KEY = "referral_map"
POINT_KEY = "referral_point"  # the lattice point last clicked (this session only)
RESULTS_KEY = "referral_results"
RESULTS_IDS_KEY = "referral_results_ids"  # the listed organisations; ticks are cleared when they change
UNKNOWN_CITY = "unknown"
METHOD_KEY = "referral_method"
TOWN_KEY = "referral_town"
SEARCH_KEY = "referral_search"  # the last search and its answer (this session only)
NAME_WIDTH_PX = (160, 420)  # the results' name column: narrowest, widest

t = state.t
con = data.connection()
city = state.city()
lang = state.lang()
viewer = auth.viewer()
today = dt.date.today()

cities = data.cached(query.cities)
city_names = dict(zip(cities["code"], cities[query.NAME_COLUMN[lang]], strict=True))
city_names_ja = dict(zip(cities["code"], cities["name_ja"], strict=True))

st.title(t("referral.title"))
st.caption(t("referral.subtitle", scope=t("app.all_cities") if city is None else city_names[city]))
st.info(t("referral.privacy"), icon=":material/lock:")

# 1. 相談内容: facets of the need (any chosen term of a facet fits; every facet chosen has to fit)
st.subheader(t("referral.need_title"))
contents = data.cached(referral.need_terms, "content", lang, viewer)
forms = data.cached(referral.need_terms, "form", lang, viewer)
targets = data.cached(referral.need_terms, "target", lang, viewer)
content_labels = {row["id"]: f"{row['group_label']} › {row['label']}" for row in contents.iter_rows(named=True)}
form_labels = dict(zip(forms["id"], forms["label"], strict=True))
target_labels = dict(zip(targets["id"], targets["label"], strict=True))


def facet(name: str, labels: dict[Any, str], container: Any) -> None:
    """A multiselect of one facet's terms (referral.<name>), the chosen ids kept under referral_<name>."""
    # The terms' labels follow the language: localized widgets keep the chosen ids across a switch.
    state.localized_multiselect(
        t(f"referral.{name}"),
        list(labels),
        labels.__getitem__,
        f"referral_{name}",
        container=container,
        placeholder=t("referral.choose"),
    )


left, right = st.columns(2)
facet("contents", content_labels, left)
facet("forms", form_labels, right)
left, right = st.columns([3, 1])
facet("targets", target_labels, left)
age = right.number_input(
    t("referral.age"), min_value=0, max_value=120, value=None, step=1, key="referral_age", help=t("referral.age_help")
)
need = referral.Need(
    contents=tuple(st.session_state["referral_contents"]),
    forms=tuple(st.session_state["referral_forms"]),
    targets=tuple(st.session_state["referral_targets"]),
    age=None if age is None else int(age),
)
suggested = referral.age_targets(need.age)
if need.age is not None:
    groups = "・".join(target_labels[term] for term in suggested) if suggested else t("referral.age_none")
    st.caption(t("referral.age_hint", age=need.age, groups=groups))

# 2. お住まい: a 町丁目, an address resolved to its 町丁目, or a point clicked on the map
st.subheader(t("referral.where_title"))
towns = data.cached(referral.towns, lang, viewer)
if towns.is_empty():
    st.info(t("referral.user.no_reference"), icon=":material/info:")
    admin_pointer("README.md")
    method = "map"
else:
    # Streamlit keeps a radio's value by its shown label too: one widget key per language, as
    # state.localized_selectbox does, seeded from the language-neutral value.
    methods = {code: t(f"referral.method.{code}") for code in ("town", "address", "map")}
    if st.session_state.get(f"{METHOD_KEY}__{lang}") not in methods:
        st.session_state[f"{METHOD_KEY}__{lang}"] = st.session_state.get(METHOD_KEY, "town")
    method = st.radio(
        t("referral.method_label"),
        options=list(methods),
        format_func=methods.__getitem__,
        key=f"{METHOD_KEY}__{lang}",
        horizontal=True,
    )
    st.session_state[METHOD_KEY] = method
# The sidebar's city comes first in the town list; the search itself always covers all four cities.
ordered = towns.with_columns(own=pl.col("city_code") == (city or "")).sort("own", descending=True, maintain_order=True)
town_labels = {row["id"]: f"{row['city']}　{row['name']}" for row in ordered.iter_rows(named=True)}
origin: referral.Origin | None = None
origin_label = ""
if method == "town":
    # The labels carry the city's name in the UI language: one widget key per language (None = not chosen yet).
    if st.session_state.get(f"{TOWN_KEY}__{lang}") not in town_labels:
        chosen_town = st.session_state.get(TOWN_KEY)
        st.session_state[f"{TOWN_KEY}__{lang}"] = chosen_town if chosen_town in town_labels else None
    town_id = st.selectbox(
        t("referral.town"),
        options=list(town_labels),
        format_func=town_labels.__getitem__,
        key=f"{TOWN_KEY}__{lang}",
        placeholder=t("referral.town_placeholder"),
    )
    st.session_state[TOWN_KEY] = town_id
    if town_id is not None:
        row = referral.town(con, town_id, viewer)
        origin = referral.Origin(row["latitude"], row["longitude"], row["city_code"])
        origin_label = town_labels[town_id]
elif method == "address":
    address = st.text_input(
        t("referral.address"), key="referral_address", placeholder=t("referral.address_placeholder")
    )
    if address.strip():
        match = referral.resolve_address(address, towns, city_names_ja)
        if match.town_id is None:
            st.warning(t(f"referral.resolve.{match.reason}", city=city_names.get(match.city_code or "", "")))
        else:
            row = referral.town(con, match.town_id, viewer)
            origin = referral.Origin(row["latitude"], row["longitude"], row["city_code"])
            origin_label = town_labels[match.town_id]
            st.success(t("referral.resolved", town=origin_label))
else:
    st.caption(t("referral.map_hint"))
    # The map below reports the click in session state before it is drawn again on this run. The last
    # lattice point is kept, so a click on an organisation (or on nothing) does not lose the place.
    clicked = charts.selected_point(st.session_state.get(MAP_KEY))
    if clicked is not None:
        st.session_state[POINT_KEY] = clicked
    point = st.session_state.get(POINT_KEY)
    if point is not None:
        near = referral.nearest_town(con, point["latitude"], point["longitude"], viewer)
        guess = near["city_code"] if near else (city or UNKNOWN_CITY)
        resident_labels = {UNKNOWN_CITY: t("referral.city_unknown"), **city_names}
        click_city_key = f"referral_click_city_{point['id']}"
        st.session_state.setdefault(click_city_key, guess)
        resident_city = state.localized_selectbox(
            t("referral.resident_city"),
            list(resident_labels),
            resident_labels.__getitem__,
            click_city_key,
            help=t("referral.resident_city_help"),
        )
        origin = referral.Origin(
            point["latitude"], point["longitude"], None if resident_city == UNKNOWN_CITY else resident_city
        )
        origin_label = t("referral.point", lat=f"{point['latitude']:.4f}", lng=f"{point['longitude']:.4f}")
        if near:
            origin_label += t("referral.point_near", town=town_labels[near["id"]])
        st.caption(t("referral.point_chosen", point=origin_label))

# The radius slider sits under the map (its ring is drawn there); its value is read first, for the search.
radius = float(st.session_state.get("referral_radius", referral.DEFAULT_RADIUS_KM))
found: referral.Referrals | None = None
if need.facets() and origin is not None:
    # A rerun that changes none of the search (a ticked row, a note, the sheet's language) reuses its answer; it is
    # kept in this session only, like the inputs themselves.
    asked = (need, origin, radius, today, lang, viewer)
    last = st.session_state.get(SEARCH_KEY)
    if last is None or last[0] != asked:
        last = (asked, referral.find_referrals(con, need, origin, radius, today, lang, referral.RESULT_ROWS, viewer))
        st.session_state[SEARCH_KEY] = last
    found = last[1]

tiles = charts.tile_url()
# The organisations reach the browser one by one only up to PIN_LIMIT; more are drawn as density hexagons
# aggregated in the warehouse. The results are always pins, and the lattice (the click) is the same either way.
mapped = data.cached(referral.mapped_count, viewer)
many = mapped > referral.PIN_LIMIT
if many:
    st.caption(t("referral.map_many", n=number(mapped), limit=number(referral.PIN_LIMIT)))
deck = charts.referral_map(
    None if many else data.cached(referral.directory_points, lang, viewer),
    found.frame if found else None,
    {"latitude": origin.latitude, "longitude": origin.longitude} if origin else None,
    lang,
    candidates=charts.lattice() if method == "map" else None,
    outlines=data.cached(referral.city_outlines, viewer),
    tiles=tiles,
    fallback=bool(found and found.fallback),
    cells=data.cached(referral.directory_density, viewer) if many else None,
    radius_km=radius,
)
st.pydeck_chart(deck, on_select="rerun", selection_mode="single-object", key=MAP_KEY, height=480)
legend = t("referral.map_legend_density" if many else "referral.map_legend")
st.caption(legend + (" " + t("referral.tile_credit") if tiles else ""))
st.slider(
    t("referral.radius"),
    min_value=1.0,
    max_value=20.0,
    value=referral.DEFAULT_RADIUS_KM,
    step=0.5,
    format="%.1f km",
    key="referral_radius",
    help=t("referral.radius_help"),
)


# 3. 紹介先: ranked organisations, ticked for the sheet
st.subheader(t("referral.results_title"))
picked: list[str] = []
if need.facets() == 0:
    st.info(t("referral.need_missing"))
elif origin is None:
    st.info(t(f"referral.origin_missing.{method}"))
elif found is None or found.frame.is_empty():
    st.info(t("referral.none"))
else:
    frame = found.frame
    located = frame.filter(pl.col("distance_km").is_not_null())
    if found.fallback:
        st.warning(t("referral.fallback", radius=number(radius, 1), n=frame.height))
    else:
        unlocated = frame.height - located.height
        cities_found = frame["city_code"].n_unique()
        if found.total > frame.height:
            message = t(
                "referral.found_head",
                total=number(found.total),
                n=number(frame.height),
                radius=number(radius, 1),
                cities=cities_found,
            )
        else:
            message = t("referral.found", n=frame.height, radius=number(radius, 1), cities=cities_found)
        st.success(message + (t("referral.found_unlocated", n=unlocated) if unlocated else ""))
    st.caption(t("referral.origin_caption", point=origin_label))
    ids = frame["organization_id"].to_list()
    if st.session_state.get(RESULTS_IDS_KEY) != ids:
        st.session_state.pop(RESULTS_KEY, None)
        st.session_state[RESULTS_IDS_KEY] = ids
    # What a referral needs first (rank, name, distance, phone, last checked) fits the screen's width; the
    # reasons follow.
    shown = frame.select(
        pl.int_range(1, frame.height + 1).alias("rank"),
        "name",
        # Text, so an organisation without a pin shows — rather than None.
        pl.Series(
            "distance_km",
            [None if km is None else f"{number(km, 2)} km" for km in frame["distance_km"]],
            dtype=pl.String,
        ).fill_null(MISSING),
        pl.col("phone").fill_null(MISSING),  # the editable table shows an empty text cell as "None"
        pl.Series(
            "last_verified",
            [
                date_label(day, lang) + (" ⚠" if stale else "")
                for day, stale in zip(frame["last_verified"], frame["stale"], strict=True)
            ],
            dtype=pl.String,
        ),
        "city",
        "why",
        "covers_city",
        "age_fit",
        "service_area",
    )
    if need.age is None:
        shown = shown.drop("age_fit")
    longest = max((len(name) for name in frame["name"]), default=0)
    column_config = {
        "rank": st.column_config.NumberColumn(t("referral.table.rank"), width=44, pinned=True),
        # Wide enough for the longest name found (about 15 px a character), pinned while the rest scrolls.
        "name": st.column_config.TextColumn(
            t("referral.col.name"), width=min(NAME_WIDTH_PX[1], max(NAME_WIDTH_PX[0], 15 * longest + 24)), pinned=True
        ),
        "city": st.column_config.TextColumn(t("referral.col.city"), width="small"),
        "distance_km": st.column_config.TextColumn(
            t("referral.col.distance_km"), width=84, help=t("referral.table.distance_help")
        ),
        "covers_city": st.column_config.CheckboxColumn(
            t("referral.col.covers_city"), help=t("referral.col.covers_city_help")
        ),
        "why": st.column_config.TextColumn(t("referral.col.why"), width="large"),
        "age_fit": st.column_config.CheckboxColumn(t("referral.col.age_fit")),
        "service_area": t("referral.col.service_area"),
        "phone": st.column_config.TextColumn(t("referral.col.phone"), width=124),
        "last_verified": st.column_config.TextColumn(
            t("referral.col.last_verified"), width=236, help=t("referral.col.last_verified_help")
        ),
    }
    event = st.dataframe(
        shown,
        hide_index=True,
        width="stretch",
        column_config=column_config,
        on_select="rerun",
        selection_mode="multi-row",
        key=RESULTS_KEY,
    )
    st.caption(t("referral.table_caption"))
    rows = sorted(set(event["selection"]["rows"])) if event else []
    picked = [ids[row] for row in rows if 0 <= row < len(ids)]

# 4. 紹介状: notes per ticked organisation, then the printable sheet (download + preview)
st.subheader(t("referral.sheet_title"))
if not picked:
    st.caption(t("referral.tick_hint"))
else:
    st.caption(t("referral.notes_hint"))
    names = dict(zip(found.frame["organization_id"], found.frame["name"], strict=True))
    notes = {
        org_id: st.text_area(
            t("referral.note_label", name=names[org_id]), key=f"referral_note_{org_id}", max_chars=400, height=80
        )
        for org_id in picked
    }
    left, right = st.columns([3, 1])
    issuer = left.text_input(t("referral.issuer"), key="referral_issuer", help=t("referral.issuer_help"))
    sheet_lang = right.radio(
        t("referral.sheet_lang"),
        options=["ja", "en"],
        index=0 if lang == "ja" else 1,
        format_func=lambda code: {"ja": "日本語", "en": "English"}[code],
        key="referral_sheet_lang",
        horizontal=True,
    )
    sheet = build_sheet(referral.contacts(con, picked, sheet_lang, viewer).to_dicts(), notes, sheet_lang, today, issuer)
    html_download(
        t("referral.download"),
        sheet,
        f"tsunagari_referral_{today:%Y%m%d}.html",
        what="referral_sheet",
        rows=len(picked),
        key="referral_sheet_download",
        icon=":material/print:",
    )
    st.caption(t("referral.print_hint"))
    with st.expander(t("referral.preview"), expanded=True):
        st.iframe(sheet, height=640)

show_provenance("tsunagi")
