"""地域資源マップ: the four cities' organisations on a map, facet filters with live counts, detail and exports.

The sidebar city does not filter: the map always shows all four cities (the report's point is that residents
use resources across city lines); it zooms to the chosen city and draws its pins and outline bold, and the
list puts its organisations first. Filtering by city is the 所在市 facet.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import re

import polars as pl
import streamlit as st

from common.calendar import date_label
from dashboard import auth, data, state
from dashboard.charts import map as charts
from dashboard.downloads import csv_bytes, download_button, download_row
from dashboard.format import number
from dashboard.provenance import show_provenance
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
NONE = ""
# Widget values kept across other pages' runs (see keep_widget_values).
PERSISTED = (*FILTER_KEYS.values(), DENSITY_KEY, ORG_KEY)
MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$])")

t = state.t
con = data.connection()
city = state.city()
lang = state.lang()
viewer = auth.viewer()
today = dt.date.today()
identity = query.file_identity(query.warehouse_path())


@st.cache_data(max_entries=256, show_spinner=False)
def cached_facets(_con, warehouse: tuple[int, int], filters: directory.DirectoryFilter, lang: str) -> pl.DataFrame:
    """Facet counts of one filter set on one published warehouse version (public figures: the same for every viewer)."""
    return directory.facets(_con, filters, lang)


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


keep_widget_values()


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


def verified_label(day: dt.date | None, stale: bool) -> str:
    """最終確認日 in 和暦 + 西暦, marked when older than STALE_DAYS."""
    return t("map.verified_stale" if stale else "map.verified", date=date_label(day, lang))


cities = query.cities(con)
city_names = dict(zip(cities["code"], cities[query.NAME_COLUMN[lang]], strict=True))
st.title(t("map.title"))
st.caption(t("map.subtitle", scope=t("app.all_cities") if city is None else city_names[city]))
st.caption(t("map.scope_all") if city is None else t("map.scope_city", city=city_names[city]))

# Facet filters: counts first (from the choices as they stand), then the widgets that show them.
filters = current_filters()
counts = cached_facets(con, identity, filters, lang)
groups = counts.filter(pl.col("facet") == "content_group")["code"].to_list()
categories = counts.filter(pl.col("facet") == "content_category")
if filters.content_group:
    categories = categories.filter(pl.col("parent_code").is_in(filters.content_group))
category_options = categories["code"].to_list()
if not set(filters.content_category) <= set(category_options):
    # A field was unchosen: its categories leave the filter, and the counts follow.
    keep_valid("content_category", category_options)
    filters = current_filters()
    counts = cached_facets(con, identity, filters, lang)


def codes(facet: str) -> list[str]:
    """Every option code of a facet, in display order."""
    return counts.filter(pl.col("facet") == facet)["code"].to_list()


with st.expander(t("map.filters"), expanded=True):
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
shown = directory.summary(con, filters, today, viewer)
many = shown["shown"] > directory.PIN_LIMIT
# The facets as the audit log records them with a download (only those set).
audit_filters = {facet: list(codes) for facet, codes in dataclasses.asdict(filters).items() if codes}
total = directory.mapped_total(con, viewer)
figures = st.columns(3)
figures[0].metric(t("map.shown"), t("map.shown_value", n=number(shown["shown"]), total=number(total)))
figures[1].metric(t("map.answered"), t("unit.orgs", n=number(shown["answered"])))
figures[2].metric(
    t("map.stale"), t("unit.orgs", n=number(shown["stale"])), help=t("map.stale_help", today=date_label(today, lang))
)

legend = directory.legend(con, filters, lang, viewer)
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


def listed_rows() -> pl.DataFrame:
    """Every organisation within the filters, labelled, the selected city first (the list and the files)."""
    found = labelled(directory.organisations(con, filters, lang, today, viewer))
    return found.sort(pl.col("city_code") != city, maintain_order=True) if city is not None else found


rows = None if many else listed_rows()

# A click on a pin arrives as the chart's state before the chart is drawn again: it picks the organisation.
picked = charts.selected_organisation(st.session_state.get(MAP_KEY))
if picked != st.session_state.get(LAST_PICK_KEY):
    st.session_state[LAST_PICK_KEY] = picked
    if picked is not None:
        st.session_state[ORG_KEY] = picked
kept_pick = st.session_state.get(ORG_KEY) or None
if rows is not None:
    ids = rows["organization_id"].to_list()
    names = dict(zip(rows["organization_id"], rows["name"], strict=True))
    row_city = dict(zip(rows["organization_id"], rows["city"], strict=True))
else:
    # Too many to list: only an organisation already chosen stays pickable (when it is still within the filters).
    chosen_row = directory.organisation_detail(con, kept_pick, lang, today, viewer) if kept_pick else None
    chosen_row = chosen_row if chosen_row and directory.within(con, kept_pick, filters, viewer) else None
    ids = [kept_pick] if chosen_row else []
    names = {kept_pick: chosen_row["name"]} if chosen_row else {}
    row_city = {kept_pick: chosen_row["city"]} if chosen_row else {}
if st.session_state.get(ORG_KEY) not in ids:
    st.session_state[ORG_KEY] = NONE
selected = st.session_state[ORG_KEY] or None

if many:
    st.info(t("map.many", n=number(shown["shown"]), limit=number(directory.PIN_LIMIT)))
density = st.toggle(t("map.density"), key=DENSITY_KEY, help=t("map.density_help"), disabled=many) or many
if shown["shown"] == 0:
    st.info(t("map.empty"))
else:
    everywhere = directory.extent(con, None, viewer)
    focus = directory.extent(con, city, viewer) if city else everywhere
    view = charts.fit_view(charts.bbox_of(focus))
    tile_url = os.environ.get(TILE_URL_ENV, charts.GSI_PALE).strip()
    try:
        basemap = charts.basemap_layers(
            tile_url, charts.bbox_of(everywhere, charts.PAD_DEG), charts.bbox_of(focus, charts.PAD_DEG / 2), view.zoom
        )
    except ValueError:
        basemap = []
        st.warning(t("map.tile_invalid"))
    outlines = directory.boundaries(con, viewer)
    if rows is not None:
        points = rows
    elif selected:
        points = pl.DataFrame([chosen_row]).select("organization_id", "latitude", "longitude")
    else:
        points = pl.DataFrame(schema={"organization_id": pl.String, "latitude": pl.Float64, "longitude": pl.Float64})
    deck = charts.map_deck(
        points,
        outlines,
        lang=lang,
        view=view,
        basemap=basemap,
        highlight_city=city,
        selected=selected,
        density=density,
        cells=directory.density(con, filters, viewer) if density else None,
    )
    st.pydeck_chart(deck, on_select="rerun", selection_mode="single-object", key=MAP_KEY)
    st.caption(t("map.legend_title"))
    st.markdown(charts.legend_html(legend), unsafe_allow_html=True)
    credits = []
    if basemap:
        credits.append(f"[{t('map.tile_credit')}]({charts.GSI_CREDIT_URL})")
    elif not tile_url:
        credits.append(t("map.user.tile_off"))
    credit = directory.boundary_credit(con, viewer)
    if outlines.is_empty():
        credits.append(t("map.no_outlines"))
    elif credit:
        credits.append(t("map.outline_credit", credit=credit))
    st.caption("  \n".join(credits))

# Detail: the picked pin, or an organisation chosen by name.
st.subheader(t("map.detail"))
if many:
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
    st.markdown(f"**{markdown_text(record['name'])}**")
    st.caption(" · ".join(v for v in (record["city"], record["legal_form"]) if v))
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
        "last_verified": verified_label(record["last_verified"], record["stale"]),
    }
    detail = pl.DataFrame(
        {"item": [t(f"map.col.{key}") for key in items], "value": [v or t("map.not_given") for v in items.values()]}
    )
    st.dataframe(
        detail,
        hide_index=True,
        width="stretch",
        column_config={"item": t("map.item"), "value": t("map.value")},
    )


def list_table(found: pl.DataFrame) -> pl.DataFrame:
    """The list of organisations as shown and downloaded, with translated column names."""
    return found.select(
        pl.col("name").alias(t("map.col.name")),
        pl.col("city").alias(t("map.col.city")),
        pl.col("colour_label").alias(t("map.col.colour")),
        pl.col("forms").list.join(t("map.list_sep")).alias(t("map.col.forms")),
        pl.col("legal_form").alias(t("map.col.legal_form")),
        pl.col("verified_label").alias(t("map.col.last_verified")),
        pl.col("stale").alias(t("map.col.stale")),
    )


def kml_document(found: pl.DataFrame) -> bytes:
    """The organisations as a KML document, one layer per map colour."""
    popup_labels = {column: t(f"map.col.{column}") for column in kml.POPUP_COLUMNS}
    return kml.kml_bytes(
        t("map.kml_title", date=today.isoformat()),
        t("map.kml_description"),
        kml.directory_layers(found, legend, popup_labels),
    )


def geojson_document(found: pl.DataFrame) -> bytes:
    """The organisations as GeoJSON points."""
    return kml.geojson_bytes(kml.directory_features(found.drop("colour_label", "verified_label")))


if shown["shown"]:
    # A large set is fetched and written only when a file is asked for (Streamlit's deferred download).
    if rows is not None:
        table = list_table(rows)
        document = kml_document(rows)
        files = {
            "csv": csv_bytes(table),
            "kml": document,
            "kmz": kml.kmz_bytes(document),
            "geojson": geojson_document(rows),
        }
    else:
        files = {
            "csv": lambda: csv_bytes(list_table(listed_rows())),
            "kml": lambda: kml_document(listed_rows()),
            "kmz": lambda: kml.kmz_bytes(kml_document(listed_rows())),
            "geojson": lambda: geojson_document(listed_rows()),
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

# Keep this run's final choices (a pin picked on the map, categories dropped with their field).
for key in PERSISTED:
    if key in st.session_state:
        st.session_state[kept(key)] = st.session_state[key]

show_provenance("map")
