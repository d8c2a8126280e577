"""PF構築プロセス: steps ①–⑨ per city (file baseline + managers' updates), timeline, reflections, history."""

from __future__ import annotations

import datetime as dt
import os
from zoneinfo import ZoneInfo

import polars as pl
import streamlit as st

from common.calendar import LOCAL_TZ, date_label, moment_label, nendo_label
from dashboard import auth, data, state, vega, years_a
from dashboard.charts import progress as charts
from dashboard.downloads import csv_download
from dashboard.provenance import admin_pointer, show_provenance
from dashboard.scope import page_scope
from dashboard.tables import data_table
from warehouse import masking
from warehouse import operations as ops
from warehouse.query import progress as query

t = state.t
con, city, lang, _, download_year = page_scope()
name = "name_ja" if lang == "ja" else "name_en"
ss = st.session_state
today = dt.datetime.now(dt.UTC).astimezone(ZoneInfo(LOCAL_TZ)).date()

full_grid = query.progress_grid(con)
status_table = query.statuses(con)
phase_table = query.phases(con)
events = ops.read_progress_events()
note_events = ops.read_note_events()
grid = full_grid if city is None else full_grid.filter(pl.col("city_code") == city)
city_names = dict(zip(full_grid["city_code"], full_grid[f"city_{name}"], strict=False))
status_names = dict(zip(status_table["code"], status_table[name], strict=True))


def configured_manager() -> tuple[ops.Manager | None, ops.ManagerConfigError | None]:
    """A signed-in city manager (their own city), else the manager from the environment or .streamlit/secrets.toml."""
    if viewer.role == "city_manager" and viewer.city_code:
        return ops.Manager(viewer.identity or viewer.city_code, viewer.city_code), None
    try:
        section = st.secrets.get("manager")
    except FileNotFoundError:
        section = None
    try:
        return ops.manager_from_config(os.environ, {"manager": section} if section else None), None
    except ops.ManagerConfigError as problem:
        return None, problem


viewer = auth.viewer()
manager, manager_problem = configured_manager()
# Who recorded an app update is an account (with OIDC a person's e-mail): that city's staff see it, everyone else
# ＊＊＊ (warehouse.masking). A deployment's own manager setting makes this session that city's staff.
if viewer.role in masking.STAFF_ROLES or manager is None:
    seen_as = (viewer.role, viewer.city_code)
else:
    seen_as = ("city_manager", manager.city_code)
events = masking.masked_accounts(events, "changed_by", *seen_as)
note_events = masking.masked_accounts(note_events, "changed_by", *seen_as)
view = query.progress_view(grid, events, status_table)


def show_errors(slots: dict[str, object], errors: dict[str, ops.Problem]) -> None:
    """Each refused field's message in the slot right under that field."""
    for field, problem in errors.items():
        slots[field].error(t(f"progress.error.{problem.code}", value=problem.value or ""), icon=":material/error:")


st.title(t("progress.title"))
st.caption(t("progress.subtitle", scope=t("app.all_cities") if city is None else city_names[city]))
if view["status_code"].is_null().all():
    st.info(t("progress.user.empty"))
    admin_pointer("docs/source-formats.md")

st.subheader(t("progress.reached"))
reached = query.phases_reached(view, phase_table)
for column, row in zip(st.columns(max(reached.height, 1)), reached.iter_rows(named=True), strict=False):
    value = t(f"phase_marker.{row['phase_code']}") if row["phase_code"] else t("progress.reached_none")
    phase_name = row[f"phase_{name}"] if row["phase_code"] else None
    help_text = t(
        "progress.reached_help",
        done=row["steps_done"],
        in_progress=row["steps_in_progress"],
        total=row["steps_total"],
    )
    column.metric(
        row[f"city_{name}"], value, delta=phase_name, delta_color="off", delta_arrow="off", help=help_text, border=True
    )

st.subheader(t("progress.matrix"))
st.caption(t("progress.matrix_caption"))
vega.altair_chart(charts.status_grid(view, status_table, lang), width="stretch")
matrix = charts.matrix_table(view, lang)
data_table(
    matrix,
    {
        "step": st.column_config.TextColumn(t("progress.col_step"), pinned=True),
        "phase": t("progress.col_phase"),
        **{code: st.column_config.TextColumn(city_names[code], width="large") for code in matrix.columns[2:]},
    },
)
for code in view["city_code"].unique(maintain_order=True):
    with st.expander(t("progress.notes_expander", city=city_names[code])):
        for row in view.filter(pl.col("city_code") == code).iter_rows(named=True):
            note = charts.escape_markdown(row["note"]) if row["note"] else "—"
            st.markdown(f"**{charts.escape_markdown(charts.step_title(row, lang))}** — {note}")

st.subheader(t("progress.timeline"))
st.caption(t("progress.timeline_caption"))
vega.altair_chart(charts.timeline(view, status_table, lang, today), width="content")
undecided = view.filter(pl.col("status_code").is_not_null() & pl.col("start_month").is_null())
for code in undecided["city_code"].unique(maintain_order=True):
    labels = undecided.filter(pl.col("city_code") == code)["step_label"].to_list()
    st.caption(t("progress.undecided_steps", city=city_names[code], steps="、".join(labels)))

years_a.progress_comparison(data.every_year(), city, viewer)

st.subheader(t("progress.update"))
if flash := ss.pop("pf_flash", None):
    st.success(flash, icon=":material/check_circle:")
if manager is None:
    st.info(t("progress.user.needs_manager"))
    admin_pointer("docs/progress-updates.md")
    if manager_problem is not None:
        st.warning(t(f"progress.manager_{manager_problem.code}", value=manager_problem.value))
else:
    st.caption(t("progress.update_as", name=manager.name, city=city_names[manager.city_code]))
    own = query.progress_view(full_grid.filter(pl.col("city_code") == manager.city_code), events, status_table)
    titles = {row["step_code"]: charts.step_title(row, lang) for row in own.iter_rows(named=True)}
    step_code = state.localized_selectbox(t("progress.step_select"), list(titles), titles.get, key="pf_step")
    current = own.filter(pl.col("step_code") == step_code).row(0, named=True)
    if current["source"] is not None:
        st.caption(
            t(
                "progress.current_state",
                state=charts.cell_text(current, lang),
                source=t(f"progress.source.{current['source']}"),
                date=date_label(current["updated_on"], lang),
            )
        )
    statuses = status_table["code"].to_list()
    start_value = current["start_label"] or nendo_label(current["start_month"], current["start_precision"])
    ss.setdefault(f"pf_status_{step_code}", current["status_code"] or statuses[0])
    with st.form(f"pf_form_{step_code}"):
        summary = st.empty()
        status = state.localized_selectbox(
            t("progress.status"), statuses, status_names.get, key=f"pf_status_{step_code}"
        )
        slots = {"step": summary, "status": st.empty()}
        start = st.text_input(
            t("progress.start"),
            value=start_value or "",
            help=t("progress.month_help"),
            key=f"pf_start_{step_code}",
        )
        slots["start"] = st.empty()
        end = st.text_input(
            t("progress.end"),
            value=current["end_label"] or nendo_label(current["end_month"]) or "",
            help=t("progress.month_help"),
            key=f"pf_end_{step_code}",
        )
        slots["end"] = st.empty()
        note = st.text_area(t("progress.note"), value=current["note"] or "", key=f"pf_note_{step_code}")
        slots["note"] = st.empty()
        submitted = st.form_submit_button(t("progress.submit"), type="primary", key=f"pf_submit_{step_code}")
    if submitted:
        update = ops.ProgressUpdate(manager.city_code, step_code, status, start, end, note)
        try:
            event_id = ops.record_progress_event(update, manager, baseline=full_grid, viewer=viewer)
        except ops.ValidationError as error:
            show_errors(slots, error.errors)
            if "step" not in error.errors:
                summary.error(t("progress.not_saved"))
        else:
            ss["pf_flash"] = t("progress.saved", step=titles[step_code], status=status_names[status], event_id=event_id)
            st.rerun()

st.subheader(t("progress.notes"))
notes = query.notes_view(query.notes(con, city), note_events, city)
shown_cities = list(view["city_code"].unique(maintain_order=True))
for tab, code in zip(st.tabs([city_names[code] for code in shown_cities]), shown_cities, strict=True):
    with tab:
        own_notes = notes.filter(pl.col("city_code") == code)
        if own_notes.is_empty():
            st.info(t("progress.notes_empty"))
        for kind in ops.NOTE_KINDS:
            of_kind = own_notes.filter(pl.col("kind") == kind)
            if of_kind.is_empty():
                continue
            st.markdown(f"**{t(f'progress.kind.{kind}')}**")
            for note in of_kind.iter_rows(named=True):
                if note["source"] == "app":
                    meta = t(
                        "progress.note_from_app",
                        date=date_label(note["noted_on"], lang),
                        by=note["recorded_by"],
                        at=moment_label(note["recorded_at"], lang),
                    )
                else:
                    meta = t("progress.note_from_file", date=date_label(note["noted_on"], lang))
                st.caption(meta)
                st.markdown(charts.escape_markdown(note["text"]))
if manager is not None:
    if flash := ss.pop("pf_note_flash", None):
        st.success(flash, icon=":material/check_circle:")
        # A recorded note empties the text box (the widget is not drawn yet in this run).
        ss.pop("pf_note_text", None)
    with st.form("pf_note_form"):
        st.markdown(f"**{t('progress.add_note', city=city_names[manager.city_code])}**")
        summary = st.empty()
        noted_on = st.date_input(t("progress.note_date"), value=today, max_value=today, key="pf_note_date")
        slots = {"noted_on": st.empty()}
        kind_names = {code: t(f"progress.kind.{code}") for code in ops.NOTE_KINDS}
        kind = state.localized_selectbox(
            t("progress.note_kind"), list(kind_names), kind_names.__getitem__, key="pf_note_kind"
        )
        slots["kind"] = st.empty()
        text = st.text_area(t("progress.note_text"), key="pf_note_text")
        slots["text"] = st.empty()
        submitted = st.form_submit_button(t("progress.note_submit"), type="primary", key="pf_note_submit")
    if submitted:
        try:
            event_id = ops.record_note_event(
                ops.NoteUpdate(manager.city_code, noted_on, kind, text), manager, viewer=viewer
            )
        except ops.ValidationError as error:
            summary.error(t("progress.not_saved"))
            show_errors(slots, error.errors)
        else:
            ss["pf_note_flash"] = t("progress.note_saved", event_id=event_id)
            st.rerun()

st.subheader(t("progress.history"))
st.caption(t("progress.history_caption"))
history = charts.history_table(query.progress_history(grid, events), status_table, lang)
labels = {column: t(f"progress.col.{column}") for column in history.columns}
data_table(history, labels)
csv_download(
    t("progress.history_download"),
    history.rename(labels),
    "tsunagari_pf_history",
    what="pf_history",
    year=download_year,
)

show_provenance("platform")
