"""データ・ダウンロード: pick a published table, filter it, page through it, download exactly that view.

The view (table, columns, sort, page, filters) lives in widget state and is mirrored in the query string
(`x_table`, `x_cols`, `x_sort`, `x_desc`, `x_page`, `x_f_<column>`), so a link reproduces it.
With 全年度 (`?year=all`, the only page offering it) the year tables show every year's rows (their fiscal_year
column says which) and the marts are those of every year (mart_year_*); the per-year marts need a year.
"""

from __future__ import annotations

import streamlit as st

from common.calendar import date_label, moment_label
from common.roles import Viewer
from dashboard import auth, data, labels, state
from dashboard.downloads import (
    MIME_TYPES,
    XLSX_MAX_ROWS,
    csv_from_batches,
    download_button,
    download_row,
    parquet_from_batches,
    xlsx_from_batches,
)
from dashboard.format import display, number
from dashboard.provenance import admin_pointer, show_provenance
from dashboard.tables import data_table
from warehouse import exports, query
from warehouse.query import explore

t = state.t
every_year = state.all_years()
# 全年度 reads the stored tables, which hold every year; a year reads that year (the latest's reader keeps it).
con = data.every_year() if every_year else data.connection()
# The cached loaders' key for the year scope: one warehouse file serves every year's reader.
scope = state.ALL_YEARS if every_year else state.shown_year()
lang = state.lang()
city = state.city()
identity = query.file_identity(query.warehouse_path())
viewer = auth.viewer()

TABLE_KEY = "x_table"
LABELLED_KEY = "x_labelled"
DEFAULT_DATASET = "organization"  # the directory's main table opens first
# Streamlit keeps a select widget's value by its shown label: labels that follow the language go through
# state.localized_* (one widget per language, the value kept under the key below), and counts, which
# change with the filters, go in a caption under each facet.
NULL_LABEL = "—"


@st.cache_data(max_entries=4, show_spinner=False)
def load_catalogue(_con, warehouse: tuple[int, int], role: str, year: int | str | None) -> dict[str, explore.Dataset]:
    """The catalogue of one published warehouse version and 年度 (or 全年度) as a role may see it (work lists are staff's)."""
    return explore.catalogue(_con, Viewer(role), every_year=year == state.ALL_YEARS)


@st.cache_data(max_entries=4, show_spinner=False)
def load_seed_labels(_con, warehouse: tuple[int, int]) -> dict[str, dict[str, tuple[str, str]]]:
    """Japanese and English labels of the seeded vocabularies of one published warehouse version."""
    return explore.seed_labels(_con)


@st.cache_data(max_entries=64, show_spinner=False)
def load_profile(
    _con, warehouse: tuple[int, int], role: str, year: int | str | None, name: str
) -> tuple[tuple[str, ...], dict[str, tuple]]:
    """Facet columns and (min, max) of number/date columns of one dataset of one warehouse version and 年度."""
    chosen = explore.dataset(load_catalogue(_con, warehouse, role, year), name)
    return (
        explore.facet_columns(chosen, explore.distinct_counts(_con, chosen)),
        explore.bounds(_con, chosen),
    )


@st.cache_data(max_entries=64, show_spinner=False)
def load_facet_totals(
    _con, warehouse: tuple[int, int], role: str, year: int | str | None, name: str
) -> dict[str, list[tuple]]:
    """(value, rows) of every facet column of one dataset over all its rows, once per warehouse version and 年度."""
    chosen = explore.dataset(load_catalogue(_con, warehouse, role, year), name)
    facets, _ = load_profile(_con, warehouse, role, year, name)
    return {column: frame.rows() for column, frame in explore.facet_totals(_con, chosen, facets).items()}


def key(name: str, *parts: str) -> str:
    """Widget key of one dataset's control (per dataset, so switching tables starts clean)."""
    return "__".join(("x", name, *parts))


def restore(name: str, chosen: explore.Dataset, facets: tuple[str, ...], limits: dict) -> None:
    """Put the query string's view into widget state (first run of the page in a session)."""
    params = st.query_params
    columns = [c for c in params.get_all("x_cols") if c in chosen.column_names]
    if columns:
        st.session_state[key(name, "cols")] = columns
    if params.get("x_sort") in chosen.column_names:
        st.session_state[key(name, "sort")] = params.get("x_sort")
    st.session_state[key(name, "desc")] = params.get("x_desc") == "1"
    if (page := params.get("x_page", "")).isdigit():
        st.session_state[key(name, "page")] = int(page)
    for column in chosen.columns:
        rule = explore.decode_filter(column, params.get_all(f"x_f_{column.name}"), column.name in facets)
        if isinstance(rule, explore.Contains):
            st.session_state[key(name, "f", column.name)] = rule.text
        elif isinstance(rule, explore.OneOf):
            st.session_state[key(name, "f", column.name)] = list(rule.values)
        elif isinstance(rule, explore.Between) and column.kind == "number":
            st.session_state[key(name, "lo", column.name)] = rule.low
            st.session_state[key(name, "hi", column.name)] = rule.high
        elif isinstance(rule, explore.Between) and column.name in limits:
            low, high = limits[column.name]
            st.session_state[key(name, "d", column.name)] = (rule.low or low, rule.high or high)


def typed_dates(name: str, column: str, low_limit) -> None:
    """on_change of the typed-date box: parse 和暦/西暦 text and move the picker to that range."""
    text = st.session_state[key(name, "w", column)]
    try:
        low, high = explore.parse_date_range_input(text)
    except ValueError as error:
        st.session_state[key(name, "err", column)] = str(error)
        return
    st.session_state.pop(key(name, "err", column), None)
    st.session_state[key(name, "w", column)] = ""  # the caption under the picker now shows the dates
    if low is None and high is None:
        st.session_state[key(name, "d", column)] = ()
    elif high is None:
        st.session_state[key(name, "d", column)] = (low,)
    else:
        st.session_state[key(name, "d", column)] = (low or low_limit, high)


def value_label(value: object, codes: dict[str, str] | None = None) -> str:
    """A facet value as shown: — for NULL, はい/いいえ for booleans, a code's label when the column is coded."""
    if value is None:
        return NULL_LABEL
    if isinstance(value, bool):
        return labels.boolean_label(lang, value)
    return (codes or {}).get(str(value), str(value))


def column_label(name: str) -> str:
    """A column's label in the current language."""
    return labels.column_label(lang, name)


def rule_from_state(name: str, column: explore.Column, facets: tuple[str, ...]) -> explore.Filter | None:
    """The filter a column's control holds (read from widget state, so every facet can count under the others)."""
    if column.name in facets:
        # The facet's widget (one per language) holds this run's choice before the widget is drawn again.
        values = state.localized_value(key(name, "f", column.name)) or []
        return explore.OneOf(tuple(values)) if values else None
    if column.kind == "text":
        text = st.session_state.get(key(name, "f", column.name)) or ""
        return explore.Contains(text) if text.strip() else None
    if column.kind == "number":
        low = st.session_state.get(key(name, "lo", column.name))
        high = st.session_state.get(key(name, "hi", column.name))
        return explore.Between(low, high) if low is not None or high is not None else None
    if column.kind == "date":
        picked = tuple(st.session_state.get(key(name, "d", column.name)) or ())
        low = picked[0] if len(picked) > 0 else None
        high = picked[1] if len(picked) > 1 else None
        return explore.Between(low, high) if low is not None or high is not None else None
    return None


def filter_widget(view: explore.View, column: explore.Column, facets: tuple[str, ...], limits: dict) -> None:
    """Draw the control of one column; a facet counts its values under the view's other filters."""
    name = view.dataset.name
    meaning = column.comment or ""
    label = column_label(column.name)
    if column.name in facets:
        # A facet no other filter narrows shows the counts kept for the whole table.
        if explore.unfiltered(view, column.name):
            counts = dict(load_facet_totals(con, identity, viewer.role, scope, name)[column.name])
        else:
            counts = dict(explore.facet_counts(con, view, column.name).iter_rows())
        selected = state.localized_value(key(name, "f", column.name)) or []
        options = list(counts) + [value for value in selected if value not in counts]
        codes = value_labels.get(column.name)
        shown = {value: value_label(value, codes) for value in options}
        state.localized_multiselect(
            label,
            options,
            format_func=shown.__getitem__,
            key=key(name, "f", column.name),
            placeholder=t("explore.any"),
            help=meaning or None,
        )
        st.caption(" · ".join(f"{shown[v]} {number(n)}" for v, n in counts.items()) or t("explore.empty_short"))
    elif column.kind == "text":
        st.text_input(label, key=key(name, "f", column.name), help=t("explore.contains_help", meaning=meaning))
    elif column.kind == "number":
        whole = not column.data_type.startswith(("FLOAT", "DOUBLE", "DECIMAL", "REAL"))
        low_col, high_col = st.columns(2)
        low_col.number_input(
            t("explore.min", column=label),
            value=None,
            step=1 if whole else None,
            key=key(name, "lo", column.name),
            help=meaning or None,
        )
        high_col.number_input(
            t("explore.max", column=label),
            value=None,
            step=1 if whole else None,
            key=key(name, "hi", column.name),
        )
    elif column.kind == "date":
        low_limit, high_limit = limits[column.name]
        picked = tuple(st.session_state.get(key(name, "d", column.name)) or ())
        if picked:
            # A restored or typed range may lie outside the data; the picker must still hold it.
            low_limit, high_limit = min(low_limit, *picked), max(high_limit, *picked)
        picked = st.date_input(
            t("explore.date_pick", column=label),
            value=(),
            min_value=low_limit,
            max_value=high_limit,
            key=key(name, "d", column.name),
            format="YYYY-MM-DD",
            help=meaning or None,
        )
        st.text_input(
            t("explore.date_typed", column=label),
            key=key(name, "w", column.name),
            placeholder=t("explore.date_typed_placeholder"),
            help=t("explore.date_typed_help"),
            on_change=typed_dates,
            args=(name, column.name, low_limit),
        )
        if error := st.session_state.get(key(name, "err", column.name)):
            st.warning(error)
        if picked:
            high = picked[1] if len(picked) > 1 else None
            st.caption(t("explore.date_selected", low=date_label(picked[0], lang), high=date_label(high, lang)))


def sync_url(view: explore.View, page: int) -> None:
    """Mirror the view in the query string (x_* keys), leaving other keys (lang, city) alone."""
    chosen = view.dataset
    wanted: dict[str, list[str]] = {"x_table": [chosen.name]}
    if view.columns and list(view.columns) != list(chosen.column_names):
        wanted["x_cols"] = list(view.columns)
    if view.sort:
        wanted["x_sort"] = [view.sort]
        if view.descending:
            wanted["x_desc"] = ["1"]
    if page > 1:
        wanted["x_page"] = [str(page)]
    for column, rule in view.filters:
        if values := explore.encode_filter(chosen.column(column), rule):
            wanted[f"x_f_{column}"] = values
    for name in [name for name in st.query_params if name.startswith("x_") and name not in wanted]:
        del st.query_params[name]
    for name, values in wanted.items():
        if st.query_params.get_all(name) != values:
            st.query_params[name] = values if len(values) > 1 else values[0]


st.title(t("explore.title"))
st.caption(t("explore.subtitle"))
if every_year:
    st.info(t("explore.all_years_note"))

catalogue = load_catalogue(con, identity, viewer.role, scope)
if not catalogue:
    st.info(t("explore.no_datasets"))
    show_provenance("data")
    st.stop()

if TABLE_KEY not in st.session_state:
    wanted_table = st.query_params.get("x_table")
    first = wanted_table if wanted_table in catalogue else DEFAULT_DATASET
    st.session_state[TABLE_KEY] = first if first in catalogue else next(iter(catalogue))
    restored = st.session_state[TABLE_KEY]
    restore(restored, catalogue[restored], *load_profile(con, identity, viewer.role, scope, restored))
elif st.session_state[TABLE_KEY] not in catalogue:
    # A per-year mart chosen before 全年度 was: the directory's table, not the catalogue's first name.
    state.set_choice(TABLE_KEY, DEFAULT_DATASET if DEFAULT_DATASET in catalogue else next(iter(catalogue)))

value_labels = labels.value_labels(load_seed_labels(con, identity), lang)
table_names = {
    table: t("explore.table_format", label=labels.table_label(lang, table), name=table) for table in catalogue
}
name = state.localized_selectbox(t("explore.dataset"), list(catalogue), table_names.__getitem__, TABLE_KEY)
chosen = explore.dataset(catalogue, name)
facets, limits = load_profile(con, identity, viewer.role, scope, name)

description = labels.table_description(lang, name, chosen.description)
st.caption(f"{t('explore.kind_' + chosen.kind)}: {description or t('explore.no_description')}")
info = st.columns([1, 1, 3])
info[0].metric(t("explore.rows_total"), t("unit.rows", n=number(chosen.rows)))
info[1].metric(t("explore.columns_total"), number(len(chosen.columns)))
refreshed = explore.last_refresh(con)
info[2].metric(
    t("home.user.last_build"),
    moment_label(refreshed, lang),
    help=t("home.user.last_build_help", moment=moment_label(refreshed, lang)) if refreshed else None,
)
if key(name, "cols") not in st.session_state:
    st.session_state[key(name, "cols")] = list(chosen.column_names)
shown = state.localized_multiselect(
    t("explore.shown_columns"), list(chosen.column_names), column_label, key=key(name, "cols")
)
order = st.columns([3, 1])
sort = state.localized_selectbox(
    t("explore.sort"),
    ["", *chosen.column_names],
    lambda c: column_label(c) if c else NULL_LABEL,
    key(name, "sort"),
    container=order[0],
    help=t("explore.sort_help"),
)
descending = order[1].toggle(t("explore.descending"), key=key(name, "desc"), disabled=not sort)

# Every control's filter is read from widget state first, so each facet counts under all the other filters.
filterable = [
    c
    for c in chosen.columns
    if c.name in facets
    or c.kind == "text"
    or (c.kind in ("number", "date") and limits.get(c.name, (None,))[0] is not None)
]
rules = {c.name: rule for c in filterable if (rule := rule_from_state(name, c, facets)) is not None}
view = explore.View(
    chosen,
    filters=tuple(rules.items()),
    columns=tuple(c for c in chosen.column_names if c in shown),
    sort=sort or None,
    descending=bool(sort) and descending,
    city_code=city,
)
with st.expander(t("explore.filters"), expanded=True):
    if not filterable:
        st.caption(t("explore.no_filters"))
    grid = st.columns(3)
    for index, column in enumerate(filterable):
        with grid[index % 3]:
            filter_widget(view, column, facets, limits)

if city is not None and explore.CITY_COLUMN in chosen.column_names:
    cities = query.cities(con)
    city_name = cities.filter(cities["code"] == city)["name_ja" if lang == "ja" else "name_en"][0]
    st.caption(t("explore.city_applied", city=city_name))

matching = explore.count_rows(con, view)
total_pages = explore.pages(matching)
signature = (view.filters, view.sort, view.descending, city, scope)
page_key = key(name, "page")
if st.session_state.get(key(name, "sig"), signature) != signature:
    st.session_state[page_key] = 1
st.session_state[key(name, "sig")] = signature
st.session_state[page_key] = min(max(int(st.session_state.get(page_key, 1)), 1), total_pages)

summary = st.columns([2, 1])
summary[0].metric(t("explore.matching"), t("unit.rows", n=number(matching)))
summary[0].caption(t("explore.of_total", total=number(chosen.rows)))
page = summary[1].number_input(t("explore.page"), min_value=1, max_value=total_pages, step=1, key=page_key)

frame = explore.fetch_page(con, view, page)
if frame.is_empty():
    st.info(t("explore.empty"))
else:
    first_row = (page - 1) * explore.PAGE_SIZE + 1
    st.caption(
        t(
            "explore.page_caption",
            page=number(page),
            pages=number(total_pages),
            first=number(first_row),
            last=number(first_row + frame.height - 1),
            size=explore.PAGE_SIZE,
        )
    )
    meanings = {c.name: c.comment for c in chosen.columns}
    # Codes shown as their labels; the machine name stays in each header's help and in the downloads.
    data_table(
        display(labels.labelled_frame(frame, value_labels)),
        {
            c: st.column_config.Column(column_label(c), help=f"{c}: {meanings.get(c) or ''}".rstrip(": "))
            for c in frame.columns
        },
    )
sync_url(view, page)
with st.expander(t("explore.columns_help")):
    data_table(
        [
            {"label": column_label(c.name), "name": c.name, "type": c.data_type, "meaning": c.comment or ""}
            for c in chosen.columns
        ],
        {
            "label": t("explore.col_label"),
            "name": t("explore.col_name"),
            "type": t("explore.col_type"),
            "meaning": t("explore.col_meaning"),
        },
    )
st.caption(t("explore.share"))

st.subheader(t("explore.downloads"))
st.caption(t("explore.downloads_help"))
# The view as the audit log records it with a download: the dataset, its columns, sort and filters (as in the URL).
audit_view = {
    "dataset": name,
    "fiscal_year": scope,
    "columns": list(view.columns),
    "sort": view.sort,
    "descending": view.descending,
    "filters": {column: explore.encode_filter(chosen.column(column), rule) for column, rule in view.filters},
}
too_large = matching > XLSX_MAX_ROWS
labelled = st.toggle(t("explore.labelled_header"), key=LABELLED_KEY, help=t("explore.labelled_header_help"))
header = labels.labelled_header(lang, view.columns or chosen.column_names)


def rows():
    """The view's batches, under the labelled header when asked for (CSV and Excel; Parquet keeps the names)."""
    batches = explore.stream(con, view)
    return labels.with_header(batches, header) if labelled else batches


# Deferred downloads (data is a callable): nothing is generated until the click, then batch by batch.
download_row(
    [
        (t("explore.csv"), "csv", lambda: csv_from_batches(rows())),
        (t("explore.xlsx"), "xlsx", lambda: xlsx_from_batches(rows(), sheet=name)),
        (t("explore.parquet"), "parquet", lambda: parquet_from_batches(explore.stream(con, view))),
    ],
    # A file of every year says so in its name (its rows carry fiscal_year).
    f"{name}_all_years" if every_year else name,
    what=name,
    rows=matching,
    filters=audit_view,
    icon=":material/download:",
    options={
        "xlsx": {
            "disabled": too_large,
            "help": t("explore.xlsx_too_large", limit=number(XLSX_MAX_ROWS)) if too_large else t("explore.xlsx_help"),
        }
    },
)

st.subheader(t("explore.open_title"))
st.markdown(t("explore.open_body"))
# (label, deferred payload, file name, what the audit records, icon)
open_data = (
    (t("explore.hsds"), lambda: exports.hsds_zip(con), "tsunagari_hsds_3.1.zip", "hsds_3.1", ":material/folder_zip:"),
    (
        t("explore.geojson"),
        lambda: exports.geojson_bytes(con),
        "tsunagari_locations.geojson",
        "locations_geojson",
        ":material/map:",
    ),
)
for column, (label, payload, file_name, what, icon) in zip(st.columns(len(open_data)), open_data, strict=True):
    mime = MIME_TYPES[file_name.rsplit(".", 1)[-1]]
    download_button(
        label, data=payload, file_name=file_name, mime=mime, what=what, action="export", container=column, icon=icon
    )
admin_pointer("README.md")

show_provenance("data")
