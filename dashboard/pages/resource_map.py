"""地域資源マップ: the four cities' organisations on a map, facet filters with live counts, detail and exports.

The sidebar city does not filter: the map always shows all four cities (the report's point is that residents
use resources across city lines); it zooms to the chosen city and draws its pins and outline bold, and the
list puts its organisations first. Filtering by city is the 所在市 facet.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import html
import os
import re

import polars as pl
import streamlit as st

from common.calendar import date_label
from common.roles import PUBLIC
from dashboard import data, state, years_b
from dashboard.charts import map as charts
from dashboard.downloads import csv_bytes, download_button, download_row
from dashboard.format import number
from dashboard.i18n import translate
from dashboard.provenance import show_provenance
from dashboard.scope import page_scope
from warehouse import kml, query
from warehouse.query import directory

TILE_URL_ENV = "TSUNAGARI_TILE_URL"
# Filters shared with 活動分布 (same keys there), holding legal_form / pf_intent codes.
FILTER_LEGAL_FORM = "filter_legal_form"
FILTER_PF_INTENT = "filter_pf_intent"
FILTER_KEYS = {facet: f"map_filter_{facet}" for facet in directory.FACETS} | {
    "legal_form": FILTER_LEGAL_FORM,
    "pf_intent": FILTER_PF_INTENT,
}
ALL = "all"
MAP_KEY = "map"
ORG_KEY = "map_org"
LAST_PICK_KEY = "map_last_pick"
DENSITY_KEY = "map_density"
SEARCH_KEY = "map_search"
NONE = ""
# Widget values kept across other pages' runs (see keep_widget_values); the new-only switch's too.
PERSISTED = (*FILTER_KEYS.values(), DENSITY_KEY, ORG_KEY, SEARCH_KEY, years_b.NEW_ONLY_KEY)
# The page's state in the query string (m_* keys, as the explorer's x_*), so a link reproduces the view.
URL_PREFIX = "m_"
URL_FACETS = {facet: f"{URL_PREFIX}{facet}" for facet in FILTER_KEYS}
URL_SEARCH, URL_ORG, URL_DENSITY = "m_q", "m_org", "m_density"
URL_READ_KEY = "map_url_read"  # set once the query string has been read in this session
GOOGLE_MAPS = "https://www.google.com/maps/search/?api=1&query={lat:.6f},{lng:.6f}"
MAP_HEIGHT_PX = 500
# The width the first view is fitted to: between the map's column at 1440 px (about 570) and a phone (about 360),
# so the four cities fill most of a desktop map and still fit on a phone.
MAP_FIT_WIDTH_PX = 420
MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$])")

t = state.t
con, city, lang, viewer, download_year = page_scope()
today = dt.date.today()


def kept(key: str) -> str:
    """The non-widget session key that keeps a widget's value while other pages run."""
    return f"{key}__kept"


def keep_widget_values() -> None:
    """Re-assign each widget's value and copy it to its kept key, or seed a widget that lost its state from it.

    Streamlit drops the state of widgets a run does not draw, so another page's run would clear these
    filters. The value is read before the widget is drawn again, while its option labels (which carry the
    live counts) are still the ones the browser chose from; re-assigning it makes Streamlit send the browser
    the value under the new labels.
    """
    for key in PERSISTED:
        if key in st.session_state:
            value = st.session_state[key]
            st.session_state[key] = value
            st.session_state[kept(key)] = value
        elif kept(key) in st.session_state:
            st.session_state[key] = st.session_state[kept(key)]


def read_url(options: dict[str, list[str]]) -> None:
    """Put a link's m_* state into the widgets (the session's first run of this page); unknown codes are dropped."""
    params = st.query_params
    for facet, name in URL_FACETS.items():
        if facet == "survey":
            if params.get(name) in directory.SURVEY_STATUSES:
                st.session_state[FILTER_KEYS[facet]] = params.get(name)
        elif wanted := [code for code in params.get_all(name) if code in options.get(facet, ())]:
            st.session_state[FILTER_KEYS[facet]] = wanted
    if text := params.get(URL_SEARCH, "").strip():
        st.session_state[SEARCH_KEY] = text
    if org := params.get(URL_ORG):
        st.session_state[ORG_KEY] = org
    if params.get(URL_DENSITY) == "1":
        st.session_state[DENSITY_KEY] = True


def write_url() -> None:
    """Mirror the filters, search, density and selection in the query string (m_* keys), leaving others alone."""
    wanted: dict[str, list[str]] = {}
    for facet, name in URL_FACETS.items():
        if values := chosen(facet):
            wanted[name] = list(values)
    if text := st.session_state.get(SEARCH_KEY, "").strip():
        wanted[URL_SEARCH] = [text]
    if org := st.session_state.get(ORG_KEY):
        wanted[URL_ORG] = [org]
    if st.session_state.get(DENSITY_KEY):
        wanted[URL_DENSITY] = ["1"]
    for name in [name for name in st.query_params if name.startswith(URL_PREFIX) and name not in wanted]:
        del st.query_params[name]
    for name, values in wanted.items():
        if st.query_params.get_all(name) != values:
            st.query_params[name] = values if len(values) > 1 else values[0]


keep_widget_values()
if URL_READ_KEY not in st.session_state:
    st.session_state[URL_READ_KEY] = True
    every = data.cached(directory.facets, directory.DirectoryFilter(), lang)
    read_url({facet: every.filter(pl.col("facet") == facet)["code"].to_list() for facet in FILTER_KEYS})


def chosen(facet: str) -> tuple[str, ...]:
    """The codes chosen in a facet's widget (the survey radio gives one code, or none for all)."""
    value = st.session_state.get(FILTER_KEYS[facet])
    if facet == "survey":
        return () if value in (None, ALL) else (value,)
    return tuple(value or ())


def current_filters() -> directory.DirectoryFilter:
    """The filters as the widgets' state holds them."""
    return directory.DirectoryFilter(**{facet: chosen(facet) for facet in directory.FACETS})


def keep_valid(facet: str, options: list[str]) -> None:
    """Drop chosen codes that are no longer offered (categories of a field that was unchosen)."""
    key = FILTER_KEYS[facet]
    if key in st.session_state:
        st.session_state[key] = [code for code in st.session_state[key] if code in options]


def facet_multiselect(column, facet: str, counts: pl.DataFrame, options: list[str], **extra) -> None:
    """A multiselect whose options show how many organisations each would give."""
    rows = counts.filter(pl.col("facet") == facet)
    # Labels are resolved now, in this run's language (format_func may be called after the run).
    shown = {
        code: t("map.option", label=label, n=number(orgs))
        for code, label, orgs in rows.select("code", "label", "orgs").iter_rows()
    }
    column.multiselect(
        t(f"map.{facet}"),
        options=options,
        format_func=shown.__getitem__,
        key=FILTER_KEYS[facet],
        placeholder=t("map.filter_placeholder"),
        **extra,
    )


def listed(values: list | None) -> str:
    """A list cell as text in the UI language (— when empty)."""
    return t("map.list_sep").join(values) if values else t("map.not_given")


def markdown_text(text: str) -> str:
    """Text shown literally inside Markdown (its special characters escaped)."""
    return MARKDOWN_SPECIAL.sub(r"\\\1", text)


def tr(key: str, **values: object) -> str:
    """A message in this run's language that needs no session: the files are written off the script thread."""
    return translate(lang, key, **values)


def verified_label(day: dt.date | None, stale: bool) -> str:
    """最終確認日 in 和暦 + 西暦, marked when older than STALE_DAYS."""
    return tr("map.verified_stale" if stale else "map.verified", date=date_label(day, lang))


cities = data.cached(query.cities)
city_names = dict(zip(cities["code"], cities[query.NAME_COLUMN[lang]], strict=True))
st.title(t("map.title"))
st.caption(t("map.subtitle", scope=t("app.all_cities") if city is None else city_names[city]))
st.caption(t("map.scope_all") if city is None else t("map.scope_city", city=city_names[city]))

# Only on a warehouse of several 年度: the switch to show only the organisations new in the year. Its state is
# read now, so the facet counts and the colour legend count just those organisations when it is on.
new_year = years_b.new_only_year(data.every_year(), viewer, state.shown_year())
new_ids = years_b.new_only_ids(data.every_year(), new_year, viewer)

# Facet filters: counts first (from the choices as they stand), then the widgets that show them.
filters = current_filters()
counts = data.cached(directory.facets, filters, lang, PUBLIC, new_ids)
groups = counts.filter(pl.col("facet") == "content_group")["code"].to_list()
categories = counts.filter(pl.col("facet") == "content_category")
if filters.content_group:
    categories = categories.filter(pl.col("parent_code").is_in(filters.content_group))
category_options = categories["code"].to_list()
if not set(filters.content_category) <= set(category_options):
    # A field was unchosen: its categories leave the filter, and the counts follow.
    keep_valid("content_category", category_options)
    filters = current_filters()
    counts = data.cached(directory.facets, filters, lang, PUBLIC, new_ids)


def codes(facet: str) -> list[str]:
    """Every option code of a facet, in display order."""
    return counts.filter(pl.col("facet") == facet)["code"].to_list()


# Above the map, compactly: the search by name and the density switch, then the facets folded away.
search_column, density_column = st.columns([3, 2], vertical_alignment="bottom")
years_b.new_only_toggle(data.every_year(), new_year, lang, viewer, container=density_column)
search_column.text_input(
    t("map.card.search"), key=SEARCH_KEY, placeholder=t("map.card.search_placeholder"), help=t("map.card.search_help")
)
active = sum(1 for facet in FILTER_KEYS if chosen(facet))
with st.expander(t("map.card.filters_active", n=active) if active else t("map.filters"), expanded=False):
    st.caption(t("map.facet_help"))
    left, right = st.columns(2)
    facet_multiselect(left, "content_group", counts, groups)
    facet_multiselect(right, "content_category", counts, category_options, help=t("map.content_category_help"))
    left, right = st.columns(2)
    facet_multiselect(left, "form", counts, codes("form"))
    facet_multiselect(right, "target", counts, codes("target"))
    first, second, third = st.columns(3)
    facet_multiselect(first, "city", counts, codes("city"))
    facet_multiselect(second, "legal_form", counts, codes("legal_form"))
    facet_multiselect(third, "pf_intent", counts, codes("pf_intent"))
    survey_counts = dict(counts.filter(pl.col("facet") == "survey").select("code", "orgs").iter_rows())
    survey_counts[ALL] = sum(survey_counts.values())
    survey_labels = {
        code: t("map.option", label=t(f"map.survey_options.{code}"), n=number(survey_counts[code]))
        for code in (ALL, *directory.SURVEY_STATUSES)
    }
    st.radio(
        t("map.survey"),
        options=list(survey_labels),
        format_func=survey_labels.__getitem__,
        key=FILTER_KEYS["survey"],
        horizontal=True,
    )
    st.caption(t("map.answer_note"))
    st.caption(t("map.shared_note"))

# The organisations themselves reach this page only when the filters leave at most PIN_LIMIT of them; a larger
# set is drawn as density hexagons aggregated in the warehouse, and its files are made on a click.
shown = data.cached(directory.summary, filters, today, viewer)
many = shown["shown"] > directory.PIN_LIMIT
# The facets as the audit log records them with a download (only those set).
audit_filters = {facet: list(codes) for facet, codes in dataclasses.asdict(filters).items() if codes}
total = data.cached(directory.mapped_total, viewer)

legend = data.cached(directory.legend, filters, lang, viewer, new_ids)
# Labels in plain Python on the script thread (a handful of groups): t() reads the session, which polars
# worker threads cannot reach.
legend = legend.with_columns(
    pl.Series(
        "label",
        [
            t(f"map.legend.{group}") if label is None else label
            for group, label in zip(legend["legend_group"], legend["label"], strict=True)
        ],
        dtype=pl.String,
    )
)
colour_labels = dict(zip(legend["legend_group"], legend["label"], strict=True))


def labelled(frame: pl.DataFrame) -> pl.DataFrame:
    """Organisations with the colour's label and the 最終確認日 label the map, list and files show."""
    return frame.with_columns(
        pl.col("legend_group").replace_strict(colour_labels, return_dtype=pl.String).alias("colour_label"),
        pl.Series(
            "verified_label",
            [verified_label(day, stale) for day, stale in zip(frame["last_verified"], frame["stale"], strict=True)],
            dtype=pl.String,
        ),
    )


def listed_rows(found: pl.DataFrame) -> pl.DataFrame:
    """Organisations within the filters (directory.organisations), labelled, the selected city first (list, files)."""
    found = labelled(found)
    return found.sort(pl.col("city_code") != city, maintain_order=True) if city is not None else found


rows = None if many else listed_rows(data.cached(directory.organisations, filters, lang, today, viewer))
if new_ids is not None:
    # A year's new organisations are few enough to list: never hexagons, figures counted from the list.
    every = rows if rows is not None else listed_rows(directory.organisations(con, filters, lang, today, viewer))
    rows, shown = years_b.new_only_rows(every, new_ids)
    many = False
    audit_filters["new_in_year"] = new_year
    years_b.new_only_note(new_year, shown["shown"], lang)
# A search by name narrows the pins and the pick list to the organisations whose name holds the text.
search_text = st.session_state.get(SEARCH_KEY, "").strip()
matches = labelled(directory.search(con, search_text, filters, lang, today, viewer)) if search_text else None
if matches is not None and new_ids is not None:
    matches = matches.filter(pl.col("organization_id").is_in(list(new_ids)))
candidates = matches if matches is not None else rows

# A click on a pin arrives as the chart's state before the chart is drawn again: it picks the organisation.
picked = charts.selected_organisation(st.session_state.get(MAP_KEY))
if picked != st.session_state.get(LAST_PICK_KEY):
    st.session_state[LAST_PICK_KEY] = picked
    if picked is not None:
        st.session_state[ORG_KEY] = picked
kept_pick = st.session_state.get(ORG_KEY) or None
chosen_row = None
if candidates is not None:
    ids = candidates["organization_id"].to_list()
    names = dict(zip(candidates["organization_id"], candidates["name"], strict=True))
    row_city = dict(zip(candidates["organization_id"], candidates["city"], strict=True))
else:
    # Too many to list: only an organisation already chosen stays pickable (when it is still within the filters).
    chosen_row = directory.organisation_detail(con, kept_pick, lang, today, viewer) if kept_pick else None
    chosen_row = chosen_row if chosen_row and directory.within(con, kept_pick, filters, viewer) else None
    ids = [kept_pick] if chosen_row else []
    names = {kept_pick: chosen_row["name"]} if chosen_row else {}
    row_city = {kept_pick: chosen_row["city"]} if chosen_row else {}
if matches is not None and matches.height == 1:
    # One organisation found: it is the one meant.
    st.session_state[ORG_KEY] = ids[0]
if st.session_state.get(ORG_KEY) not in ids:
    st.session_state[ORG_KEY] = NONE
selected = st.session_state[ORG_KEY] or None

density = (
    (density_column.toggle(t("map.density"), key=DENSITY_KEY, help=t("map.density_help"), disabled=many) or many)
    and matches is None
    and new_ids is None
)
if many:
    st.info(t("map.many", n=number(shown["shown"]), limit=number(directory.PIN_LIMIT)))
if matches is not None:
    found_text = "map.card.search_found_limit" if matches.height >= directory.SEARCH_LIMIT else "map.card.search_found"
    st.caption(t(found_text, text=search_text, n=number(matches.height)))

# The map and, beside it, the chosen organisation's card (below it on a narrow screen).
map_column, card_column = st.columns([3, 2], gap="medium")
with map_column:
    if shown["shown"] == 0:
        st.info(t("map.empty"))
    elif matches is not None and matches.is_empty():
        st.info(t("map.card.search_none", text=search_text))
    else:
        everywhere = data.cached(directory.extent, None, viewer)
        focus = data.cached(directory.extent, city, viewer) if city else everywhere
        view = charts.fit_view(charts.bbox_of(focus), (MAP_FIT_WIDTH_PX, MAP_HEIGHT_PX))
        tile_url = os.environ.get(TILE_URL_ENV, charts.GSI_PALE).strip()
        try:
            basemap = charts.basemap_layers(
                tile_url,
                charts.bbox_of(everywhere, charts.PAD_DEG),
                charts.bbox_of(focus, charts.PAD_DEG / 2),
                view.zoom,
            )
        except ValueError:
            basemap = []
            st.warning(t("map.tile_invalid"))
        outlines = data.cached(directory.boundaries, viewer)
        if candidates is not None:
            points = candidates
        elif selected:
            points = pl.DataFrame([chosen_row]).select("organization_id", "latitude", "longitude")
        else:
            points = pl.DataFrame(
                schema={"organization_id": pl.String, "latitude": pl.Float64, "longitude": pl.Float64}
            )
        deck = charts.map_deck(
            points,
            outlines,
            lang=lang,
            view=view,
            basemap=basemap,
            highlight_city=city,
            selected=selected,
            density=density,
            cells=data.cached(directory.density, filters, viewer) if density else None,
        )
        st.pydeck_chart(deck, on_select="rerun", selection_mode="single-object", key=MAP_KEY, height=MAP_HEIGHT_PX)
        st.markdown(
            f"<small>{html.escape(t('map.legend_title'))}</small>" + charts.legend_html(legend),
            unsafe_allow_html=True,
        )
        credits = []
        if basemap:
            credits.append(f"[{t('map.tile_credit')}]({charts.GSI_CREDIT_URL})")
        elif not tile_url:
            credits.append(t("map.user.tile_off"))
        credit = data.cached(directory.boundary_credit, viewer)
        if outlines.is_empty():
            credits.append(t("map.no_outlines"))
        elif credit:
            credits.append(t("map.outline_credit", credit=credit))
        st.caption("  \n".join(credits))


def google_maps_url(latitude: float, longitude: float) -> str:
    """Google Maps search link to a point (its coordinates, so nothing but the pin is sent)."""
    return GOOGLE_MAPS.format(lat=latitude, lng=longitude)


def phone_link(phone: str) -> str:
    """The phone number as a tel: link (digits and + only in the link)."""
    digits = re.sub(r"[^0-9+]", "", phone)
    return f"[{markdown_text(phone)}](tel:{digits})" if digits else markdown_text(phone)


with card_column:
    # Detail: the picked pin, or an organisation chosen by name.
    st.subheader(t("map.detail"))
    if many and matches is None:
        st.caption(t("map.many_pick", limit=number(directory.PIN_LIMIT)))
    pick_labels = {NONE: t("map.pick_none")} | {
        code: t("map.pick_label", name=names[code], city=row_city[code]) for code in ids
    }
    st.selectbox(
        t("map.pick"),
        options=list(pick_labels),
        format_func=pick_labels.__getitem__,
        key=ORG_KEY,
        help=t("map.pick_help"),
        placeholder=t("app.choose_one"),
    )
    if not st.session_state[ORG_KEY]:
        st.info(t("map.pick_hint"))
    else:
        record = directory.organisation_detail(con, st.session_state[ORG_KEY], lang, today, viewer)
        verified = verified_label(record["last_verified"], record["stale"])
        with st.container(border=True, key="map_card"):
            st.markdown(f"**{markdown_text(record['name'])}**")
            st.caption(" · ".join(v for v in (record["city"], record["legal_form"]) if v))
            lines = [
                (t("map.col.address"), markdown_text(record["address"]) if record["address"] else None),
                (t("map.col.phone"), phone_link(record["phone"]) if record["phone"] else None),
                (t("map.col.hours"), markdown_text(record["hours"]) if record["hours"] else None),
                (t("map.col.last_verified"), markdown_text(verified)),
            ]
            st.markdown(
                "  \n".join(f"**{label}**: {value or markdown_text(t('map.not_given'))}" for label, value in lines)
            )
            st.markdown(
                f"[{t('map.card.google_maps')}]({google_maps_url(record['latitude'], record['longitude'])})",
                help=t("map.card.google_maps_help"),
            )
        if record["stale"]:
            st.warning(t("map.stale_detail", days=record["verified_days_ago"]))
        if not record["survey_answered"]:
            st.info(t("map.no_answer_detail"))
        items = {
            "colour": colour_labels[record["legend_group"]],
            "forms": listed(record["forms"]),
            "contents": listed(record["contents"]),
            "targets": listed(record["targets"]),
            "area": listed(record["area"]),
            "hours": record["hours"],
            "phone": record["phone"],
            "fax": record["fax"],
            "address": record["address"],
            "languages": record["languages"],
            "accessibility": record["accessibility"],
            "pf_intent": record["pf_intent"],
            "last_verified": verified,
        }
        detail = pl.DataFrame(
            {"item": [t(f"map.col.{key}") for key in items], "value": [v or t("map.not_given") for v in items.values()]}
        )
        with st.expander(t("map.card.all_items")):
            st.dataframe(
                detail,
                hide_index=True,
                width="stretch",
                column_config={"item": t("map.item"), "value": t("map.value")},
            )

figures = st.columns(3)
figures[0].metric(t("map.shown"), t("map.shown_value", n=number(shown["shown"]), total=number(total)))
figures[1].metric(t("map.answered"), t("unit.orgs", n=number(shown["answered"])))
figures[2].metric(
    t("map.stale"), t("unit.orgs", n=number(shown["stale"])), help=t("map.stale_help", today=date_label(today, lang))
)


def list_table(found: pl.DataFrame) -> pl.DataFrame:
    """The list of organisations as shown and downloaded, with translated column names."""
    return found.select(
        pl.col("name").alias(tr("map.col.name")),
        pl.col("city").alias(tr("map.col.city")),
        pl.col("colour_label").alias(tr("map.col.colour")),
        pl.col("forms").list.join(tr("map.list_sep")).alias(tr("map.col.forms")),
        pl.col("legal_form").alias(tr("map.col.legal_form")),
        pl.col("verified_label").alias(tr("map.col.last_verified")),
        pl.col("stale").alias(tr("map.col.stale")),
    )


def kml_document(found: pl.DataFrame) -> bytes:
    """The organisations as a KML document, one layer per map colour."""
    popup_labels = {column: tr(f"map.col.{column}") for column in kml.POPUP_COLUMNS}
    return kml.kml_bytes(
        tr("map.kml_title", date=today.isoformat()),
        tr("map.kml_description"),
        kml.directory_layers(found, legend, popup_labels),
    )


def geojson_document(found: pl.DataFrame) -> bytes:
    """The organisations as GeoJSON points, each with the 年度 the map shows (fiscal_year, fiscal_year_label)."""
    rows = found.drop("colour_label", "verified_label")
    if download_year is not None:
        rows = rows.with_columns(
            pl.lit(download_year.fiscal_year, dtype=pl.Int32).alias("fiscal_year"),
            pl.lit(download_year.label, dtype=pl.String).alias("fiscal_year_label"),
        )
    return kml.geojson_bytes(kml.directory_features(rows))


if shown["shown"]:
    # Files are written only when one is asked for (Streamlit's deferred download, on a server thread, so they read
    # no session); a large set is fetched then too.
    if rows is not None:
        table = list_table(rows)

        def source(rows: pl.DataFrame = rows) -> pl.DataFrame:
            """The listed organisations."""
            return rows
    else:

        def source() -> pl.DataFrame:
            """Every organisation within the filters, fetched at the click."""
            return listed_rows(directory.organisations(con, filters, lang, today, viewer))

    files = {
        "csv": lambda: csv_bytes(list_table(source()), download_year),
        "kml": lambda: kml_document(source()),
        "kmz": lambda: kml.kmz_bytes(kml_document(source())),
        "geojson": lambda: geojson_document(source()),
    }
    with st.expander(t("map.table")):
        if rows is not None:
            st.dataframe(table, hide_index=True, width="stretch")
        else:
            st.info(t("map.many_table"))
        download_button(
            t("map.download_csv"),
            data=files["csv"],
            file_name="tsunagari_resource_map.csv",
            mime="text/csv",
            what="resource_map",
            rows=shown["shown"],
            key="map_download_csv",
            filters=audit_filters,
        )

    st.subheader(t("map.exports"))
    st.caption(t("map.exports_caption"))
    download_row(
        [
            (t("map.download_kml"), "kml", files["kml"]),
            (t("map.download_kmz"), "kmz", files["kmz"]),
            (t("map.download_geojson"), "geojson", files["geojson"]),
        ],
        "tsunagari_resource_map",
        what="resource_map",
        suffixed=True,
        key="map_download",
        rows=shown["shown"],
        action="export",
        filters=audit_filters,
    )

# Keep this run's final choices (a pin picked on the map, categories dropped with their field), and link to them.
for key in PERSISTED:
    if key in st.session_state:
        st.session_state[kept(key)] = st.session_state[key]
write_url()

show_provenance("map")
