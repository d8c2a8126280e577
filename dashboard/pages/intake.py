"""データ取込: managers send a source file, a dry run shows what would change, one click publishes, admins roll back.

The pipeline never runs in this process: every dry run, publish and rollback is a `python -m etl.intake_worker`
subprocess (started by etl.intake.spawn) whose progress and result files this page polls (see docs/intake.md).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl
import streamlit as st

from common.calendar import fiscal_year_label, moment_label
from dashboard import audit, auth, data, state
from dashboard.format import display, number
from dashboard.i18n import catalogue
from dashboard.provenance import admin_pointer, show_provenance
from dashboard.tables import data_table
from etl import intake
from etl.steps import Step, StepEvent
from warehouse import masking, query, schema
from warehouse import operations as ops

t = state.t
lang = state.lang()
ss = st.session_state
viewer = auth.viewer()
JOB, PROC = "intake_job", "intake_proc"
HISTORY_ROWS = 50
MIB = 1024 * 1024
QUARANTINE = schema.quarantine_schema()
QUARANTINE_SHOWN = ("file_name", "sheet", "row_number", "column_name", "value", "reason", "check_name")

st.title(t("intake.title"))
st.caption(t("intake.caption"))
if not intake.may_submit(viewer):
    st.info(t("intake.not_allowed"), icon=":material/lock:")
    show_provenance("upload")
    st.stop()

con = data.connection()
cities = query.cities(con)
city_names = dict(zip(cities["code"], cities["name_ja" if lang == "ja" else "name_en"], strict=True))
warehouse = query.warehouse_path()
run = query.latest_run(con)
year_choices = {
    choice.fiscal_year: choice
    for choice in intake.year_choices([y for y, _ in intake.published_years(warehouse)], viewer.role)
}


def local_label(value: dt.datetime | str | None) -> str:
    """A UTC moment (naive from DuckDB, aware or ISO text from the store) as a date and time in Japan, labelled JST."""
    return moment_label(value, lang)


def kind_label(code: str) -> str:
    """A source kind in the UI language (unknown kinds as their code)."""
    key = f"intake.kind_{code}"
    return t(key) if key in catalogue(lang) else code


def kpi_label(column: str) -> str:
    """Home's name for a mart_city_kpis column."""
    key = f"kpi.{column}"
    return t(key) if key in catalogue(lang) else column


def year_label(fiscal_year: int) -> str:
    """A 年度 the page offers, in 和暦 and 西暦, with what sending to it means (latest, new, past)."""
    return t(
        f"intake.year_{year_choices[fiscal_year].status}",
        wareki=fiscal_year_label(fiscal_year, "ja"),
        era=fiscal_year_label(fiscal_year, "ja").removesuffix("年度"),
        western=fiscal_year,
    )


def city_label(code: str | None) -> str:
    """City name, or 4市共通 for joint files."""
    return t("intake.joint_city") if code is None else city_names.get(code, code)


def show_table(rows: list[dict], schema: dict[str, pl.DataType], labels: dict[str, object]) -> None:
    """Rows of a result as a table with translated column labels (an empty list → なし)."""
    if not rows:
        st.caption(t("intake.orgs_none"))
        return
    frame = pl.DataFrame(
        [[row.get(name) for name in schema] for row in rows], schema=schema, orient="row", strict=False
    )
    data_table(display(frame), labels)


def start(job: Path) -> None:
    """Start the worker process of a job and remember it in the session."""
    ss[JOB] = str(job)
    ss[PROC] = intake.spawn(job)


if run is not None:
    st.caption(t("intake.current", run_id=run["run_id"], when=local_label(run["finished_at"])))
if intake.publish_running(warehouse):
    st.warning(t("intake.busy"), icon=":material/hourglass_top:")

job = Path(ss[JOB]) if JOB in ss else None
if job is not None and not ((job / intake.REQUEST).is_file() and intake.owns(intake.load_request(job), viewer)):
    # A job belongs to the identity that started it: another user of this tab never sees or publishes it.
    ss.pop(JOB, None)
    ss.pop(PROC, None)
    job = None
process = ss.get(PROC)
returncode = process.poll() if process is not None else None
job_state = intake.job_state(job, returncode) if job is not None else None
running = job_state == "running"

# --- 1. the file ---------------------------------------------------------------------------------
st.subheader(t("intake.step_choose"))
# Labels are resolved now, in this run's language (format_func may be called after the run).
kind_names = {code: kind_label(code) for code in intake.KINDS if intake.may_send(viewer.role, code)}
kind = state.localized_selectbox(t("intake.kind"), list(kind_names), kind_names.__getitem__, key="intake_kind")
spec = intake.KINDS[kind]
if len(kind_names) < len(intake.KINDS):
    st.caption(t("intake.joint_admin_only"))
st.caption(t("intake.user.files_expected", files=" / ".join(spec.file_names)))
admin_pointer("docs/source-formats.md")
city_code: str | None = None
if not spec.city_specific:
    st.caption(t("intake.joint"))
elif viewer.role == "city_manager":
    city_code = viewer.city_code
    st.caption(t("intake.city_fixed", city=city_label(city_code)))
else:
    city_choices = {"all": t("intake.city_all"), **city_names}
    chosen = state.localized_selectbox(
        t("intake.city"), list(city_choices), city_choices.__getitem__, key="intake_city"
    )
    city_code = None if chosen == "all" else chosen
    st.caption(t("intake.city_merge"))
fiscal_year: int | None = None
year_confirmed = True
if year_choices:
    # Resolved now, in this run's language; the default is the latest published year.
    year_names = {year: year_label(year) for year in year_choices}
    fiscal_year = state.localized_selectbox(
        t("intake.year"), list(year_names), year_names.__getitem__, key="intake_year"
    )
    status = year_choices[fiscal_year].status
    if status == "new":
        st.caption(t("intake.year_new_caption", year=fiscal_year_label(fiscal_year, lang)))
    elif status == "past":
        # A past year already published is re-sent only on purpose (the worker refuses it otherwise).
        st.warning(t("intake.year_past_warning", year=fiscal_year_label(fiscal_year, lang)), icon=":material/history:")
        year_confirmed = st.checkbox(
            t("intake.year_past_confirm", year=fiscal_year_label(fiscal_year, lang)), key="intake_year_confirm"
        )
limit = intake.max_upload_bytes()
state.file_uploader_texts()
uploaded = st.file_uploader(
    t("intake.file", types=" / ".join("." + ext for ext in spec.extensions), limit_mb=f"{limit / MIB:g}"),
    type=list(spec.extensions),
    key=f"intake_file_{kind}",
    max_upload_size=max(1, math.ceil(limit / MIB)),
)
if st.button(
    t("intake.dry_run"),
    help=t("intake.dry_run_help"),
    disabled=uploaded is None or running or not year_confirmed,
    key="intake_dry_run",
):
    content = uploaded.getvalue()
    problem = intake.check_upload(kind, uploaded.name, uploaded.size, content[: intake.HEAD_BYTES], limit)
    try:
        intake.authorise(viewer.role, viewer.city_code, kind, city_code)
    except PermissionError:
        problem = intake.UploadProblem("permission", {})
    if problem is not None:
        st.error(t(f"intake.refused.{problem.code}", **problem.values), icon=":material/block:")
        ops.record_intake(
            ops.IntakeRecord(
                job_id=intake.new_job_id("refused"),
                action="refused",
                outcome="refused",
                kind=kind,
                city_code=city_code,
                file_name=uploaded.name,
                sha256=hashlib.sha256(content).hexdigest(),
                size_bytes=uploaded.size,
                submitted_by=viewer.identity or viewer.role,
                role=viewer.role,
                submitted_at=dt.datetime.now(dt.UTC),
                message=problem.code,
            )
        )
    else:
        request = intake.new_request(
            "dry-run",
            viewer,
            operations=ops.store_path(),
            kind=kind,
            city_code=city_code,
            file_name=uploaded.name,
            data=content,
            fiscal_year=fiscal_year,
            past_year_confirmed=year_confirmed
            and fiscal_year is not None
            and year_choices[fiscal_year].status == "past",
        )
        start(intake.create_job(request, content, intake.jobs_dir()))
        st.rerun()


# --- 2. the running or finished job --------------------------------------------------------------


def event_text(event: StepEvent) -> str:
    """A progress event's message in the UI language (catalogue intake.event.<key>)."""
    return t(f"intake.event.{event.message_key}", **event.values())


def show_progress(job: Path, action: str) -> None:
    """The job's progress bar, its waiting notice and its log lines."""
    entries = intake.read_progress(job)
    step = intake.current_step(action, entries)
    # Not a `with` block: leaving one marks the status complete while the worker still runs.
    box = st.status(t(f"intake.running_{action.replace('-', '_')}"), expanded=True, state="running")
    box.progress(intake.progress_fraction(action, entries), text=t(f"intake.step.{step}"))
    if step == Step.WAIT_LOCK:
        box.info(t("intake.waiting"), icon=":material/hourglass_top:")
    lines = [
        f"[{entry.seconds:6.1f}s] {masking.mask_text(event_text(entry.event), viewer.role, [])}" for entry in entries
    ]
    box.code("\n".join(lines) or " ", language=None)


def show_knock_on(files: list[dict], sent: dict | None) -> None:
    """What the cards leave out: rows of the other files set aside with the sent file's (a pin or an answer whose
    organisation left the list), and values of the sent file read as blank while its rows load."""
    knock_on = {
        row["file_name"]: row["rows_quarantined"] - row["before_rows_quarantined"]
        for row in files
        if row is not sent
        and row["kind"] != "reference"
        and row["before_rows_quarantined"] is not None
        and row["rows_quarantined"] > row["before_rows_quarantined"]
    }
    if knock_on:
        listed = t("intake.list_sep").join(t("intake.knock_on_file", file=name, n=n) for name, n in knock_on.items())
        st.warning(t("intake.knock_on", n=sum(knock_on.values()), files=listed), icon=":material/link_off:")
    # A result.json written before these counts existed has neither: nothing to say then.
    blanked = 0 if sent is None else (sent.get("values_left_out") or 0) - (sent.get("before_values_left_out") or 0)
    if blanked > 0:
        st.info(t("intake.values_left_out", n=blanked), icon=":material/format_color_reset:")


def show_dry_run(job: Path, result: dict) -> None:
    """What publishing the file would change, and the publish button."""
    request = intake.load_request(job)
    # The worker wrote the result for its owner already masked; the page masks again with the same function.
    result = intake.masked_result(result, viewer.role)
    if result["status"] != "ok":
        st.error(t("intake.dry_failed"), icon=":material/error:")
        st.code(result["error"], language=None)
        return
    st.success(t("intake.dry_ok"), icon=":material/check_circle:")
    files = result["files"]
    sent = next((row for row in files if row["file_name"] == result["file_name"]), None)
    organisations = result["organisations"]
    cards = st.columns(4)
    if sent is not None:
        cards[0].metric(t("intake.rows_read"), number(sent["rows_read"]))
        cards[1].metric(
            t("intake.rows_loaded"),
            number(sent["rows_loaded"]),
            delta=None if sent["before_rows_loaded"] is None else sent["rows_loaded"] - sent["before_rows_loaded"],
        )
        cards[2].metric(
            t("intake.rows_quarantined"),
            number(sent["rows_quarantined"]),
            delta=None
            if sent["before_rows_quarantined"] is None
            else sent["rows_quarantined"] - sent["before_rows_quarantined"],
            delta_color="inverse",
        )
    cards[3].metric(t("intake.orgs"), t("intake.orgs_value", **organisations["counts"]))
    show_knock_on(files, sent)
    if result["unchanged"]:
        st.info(t("intake.unchanged"), icon=":material/info:")
    if result["merged"]:
        st.info(t("intake.merged", city=city_label(request.city_code), ignored=result["ignored_rows"]))
    if result.get("fiscal_year") is not None:
        year = fiscal_year_label(result["fiscal_year"], lang)
        if result.get("new_year"):
            st.info(t("intake.year_new_result", year=year), icon=":material/calendar_add_on:")
            if result.get("carried_forward"):
                st.caption(t("intake.year_carried", year=year, files=" / ".join(result["carried_forward"])))
        else:
            st.caption(t("intake.year_result", year=year))
    for message in result["warnings"]:
        st.warning(t("intake.pipeline_warning", message=message))
    for row in result["files_dropped"]:
        st.warning(t("intake.file_dropped", file=row["file_name"], kind=kind_label(row["kind"])))
    changes = result.get("changes") or []
    if changes:
        show_changes(changes, t("intake.changes_title", n=len(changes)))

    kpi_tab, quarantine_tab, org_tab, file_tab = st.tabs(
        [t("intake.tab_kpis"), t("intake.tab_quarantine"), t("intake.tab_orgs"), t("intake.tab_files")]
    )
    with kpi_tab:
        changed = [row for row in result["kpis"] if row["changed"]]
        if changed:
            st.caption(t("intake.kpis_caption"))
            for column, row in zip(st.columns(len(changed)), changed, strict=True):
                digits = 0 if float(row["after"] or 0).is_integer() and float(row["before"] or 0).is_integer() else 1
                delta = (
                    None if row["before"] is None or row["after"] is None else round(row["after"] - row["before"], 1)
                )
                column.metric(kpi_label(row["column"]), number(row["after"], digits), delta=delta, border=True)
        else:
            st.info(t("intake.kpis_none"))
        show_table(
            [row | {"column": kpi_label(row["column"])} for row in result["kpis"]],
            {"column": pl.String, "before": pl.Float64, "after": pl.Float64, "changed": pl.Boolean},
            {
                "column": t("intake.col_figure"),
                "before": t("intake.col_before"),
                "after": t("intake.col_after"),
                "changed": st.column_config.CheckboxColumn(t("intake.col_change")),
            },
        )
    with quarantine_tab:
        causes = result.get("root_causes") or []
        if causes:
            st.markdown("**" + t("intake.root_causes") + "**")
            show_table(
                causes,
                {
                    "root_cause": pl.String,
                    "rows_set_aside": pl.Int64,
                    "dependent_rows": pl.Int64,
                    "values_left_out": pl.Int64,
                    "columns": pl.String,
                },
                {
                    "root_cause": st.column_config.TextColumn(t("intake.col_root_cause"), width="large"),
                    "rows_set_aside": st.column_config.NumberColumn(t("intake.col_rows_set_aside"), format="%d"),
                    "dependent_rows": st.column_config.NumberColumn(t("intake.col_dependent_rows"), format="%d"),
                    "values_left_out": st.column_config.NumberColumn(t("intake.col_values_left_out"), format="%d"),
                    "columns": t("intake.col_column"),
                },
            )
        if result.get("quarantine_hidden"):
            st.caption(
                t("intake.quarantine_scope", city=city_label(viewer.city_code), hidden=result["quarantine_hidden"])
            )
        if not result["quarantine"]:
            st.success(t("intake.quarantine_none"))
        else:
            st.caption(t("intake.quarantine_caption"))
            if result["quarantine_total"] > len(result["quarantine"]):
                st.caption(
                    t("intake.quarantine_more", total=result["quarantine_total"], shown=len(result["quarantine"]))
                )
            show_table(
                result["quarantine"],
                {c: QUARANTINE[c] for c in QUARANTINE_SHOWN} | {"new": pl.Boolean},
                {
                    "file_name": t("intake.col_file"),
                    "sheet": t("intake.col_sheet"),
                    "row_number": st.column_config.NumberColumn(t("intake.col_row"), format="%d"),
                    "column_name": t("intake.col_column"),
                    "value": t("intake.col_value"),
                    "reason": st.column_config.TextColumn(t("intake.col_reason"), width="large"),
                    "check_name": t("intake.col_check"),
                    "new": st.column_config.CheckboxColumn(t("intake.col_new")),
                },
            )
            audit.personal_view(
                "dry_run_quarantine",
                len(result["quarantine"]),
                roles=masking.PERSONAL_ROLES,
                filters={"job_id": request.job_id, "kind": request.kind},
            )
    with org_tab:
        org_columns = {"id": pl.String, **dict.fromkeys(intake.ORG_FIELDS, pl.String)}
        org_labels = {"id": t("intake.col_id"), **{f: t(f"intake.field_{f}") for f in intake.ORG_FIELDS}}
        with_city = [
            [row | {"city_code": city_label(row["city_code"]) if row["city_code"] else None} for row in rows]
            for rows in (organisations["added"], organisations["removed"])
        ]
        st.markdown("**" + t("intake.orgs_added", n=organisations["counts"]["added"]) + "**")
        show_table(with_city[0], org_columns, org_labels)
        st.markdown("**" + t("intake.orgs_changed", n=organisations["counts"]["changed"]) + "**")
        show_table(
            [row | {"field": t(f"intake.field_{row['field']}")} for row in organisations["changed"]],
            {"id": pl.String, "name": pl.String, "field": pl.String, "before": pl.String, "after": pl.String},
            {
                "id": t("intake.col_id"),
                "name": t("intake.field_name"),
                "field": t("intake.col_field"),
                "before": t("intake.col_before"),
                "after": t("intake.col_after"),
            },
        )
        st.markdown("**" + t("intake.orgs_removed", n=organisations["counts"]["removed"]) + "**")
        show_table(with_city[1], org_columns, org_labels)
    with file_tab:
        show_table(
            [row | {"kind": kind_label(row["kind"])} for row in files],
            {
                "file_name": pl.String,
                "kind": pl.String,
                "rows_read": pl.Int64,
                "rows_loaded": pl.Int64,
                "rows_quarantined": pl.Int64,
                "before_rows_loaded": pl.Int64,
                "before_rows_quarantined": pl.Int64,
                "values_left_out": pl.Int64,
                "before_values_left_out": pl.Int64,
                "changed": pl.Boolean,
            },
            {
                "file_name": t("intake.col_file"),
                "kind": t("intake.col_kind"),
                "rows_read": t("intake.col_rows_read"),
                "rows_loaded": t("intake.col_rows_loaded"),
                "rows_quarantined": t("intake.col_rows_quarantined"),
                "before_rows_loaded": t("intake.col_before_loaded"),
                "before_rows_quarantined": t("intake.col_before_quarantined"),
                "values_left_out": t("intake.col_values_left_out"),
                "before_values_left_out": t("intake.col_before_values_left_out"),
                "changed": st.column_config.CheckboxColumn(t("intake.col_changed")),
            },
        )

    same_file = (
        uploaded is not None
        and hashlib.sha256(uploaded.getvalue()).hexdigest() == request.sha256
        and (kind, city_code, fiscal_year) == (request.kind, request.city_code, request.fiscal_year)
    )
    if not same_file:
        st.info(t("intake.publish_stale"), icon=":material/refresh:")
        return
    st.caption(t("intake.publish_as", who=viewer.identity or viewer.role, role=t(f"auth.role_{viewer.role}")))
    # The change guard: the listed changes are published only once their owner has said they are right.
    confirmed = not changes or st.checkbox(t("intake.changes_confirm"), key="intake_changes_confirm")
    if st.button(
        t("intake.publish"), type="primary", help=t("intake.publish_help"), key="intake_publish", disabled=not confirmed
    ):
        ss["intake_dry_base"] = result["base_run_id"]
        accepted = [[change["key"], change["subject"]] for change in changes]
        start(intake.publish_job(job, viewer, accepted_changes=accepted))
        st.rerun()


def show_changes(changes: list[dict], title: str) -> None:
    """The change guard's list: what moves from the published data beyond the allowed share, in this language."""
    st.warning(title, icon=":material/warning:")
    st.markdown("\n".join(f"- {change[f'message_{lang}']}" for change in changes))


def show_published(result: dict) -> None:
    """The outcome of a publish."""
    result = intake.masked_result(result, viewer.role)
    if result["status"] != "ok":
        st.error(t("intake.publish_failed"), icon=":material/error:")
        if result.get("changes"):
            show_changes(result["changes"], t("intake.changes_unconfirmed"))
        else:
            st.code(result["error"], language=None)
        return
    st.success(t("intake.published", run_id=result["run_id"]), icon=":material/check_circle:")
    st.caption(t("intake.published_archive", archive=result["archive_dir"]))
    if ss.get("intake_dry_base") not in (None, result["base_run_id"]):
        st.info(t("intake.rebased", run_id=result["base_run_id"]))
    for message in result["warnings"]:
        st.warning(t("intake.pipeline_warning", message=message))


def show_rolled_back(result: dict) -> None:
    """The outcome of a rollback."""
    if result["status"] != "ok":
        st.error(t("intake.rollback_failed"), icon=":material/error:")
        st.code(result["error"], language=None)
        return
    st.success(t("intake.rolled_back", from_run=result["from_run_id"], to_run=result["to_run_id"]))


if job is not None:
    st.subheader(t("intake.step_result"))
    action = intake.load_request(job).action
    if job_state == "running":
        show_progress(job, action)
    elif job_state == "crashed":
        st.error(t("intake.crashed", code=returncode), icon=":material/error:")
        if masking.may_see_personal(viewer.role):
            # A traceback may quote any cell of the file: administrators only.
            st.code(intake.log_tail(job) or " ", language=None)
    else:
        outcome = intake.read_result(job)
        {"dry-run": lambda: show_dry_run(job, outcome), "publish": lambda: show_published(outcome)}.get(
            action, lambda: show_rolled_back(outcome)
        )()

# --- 3. the submission log -----------------------------------------------------------------------


def labels(frame: pl.DataFrame, column: str, label: Callable[[Any], str], *, nulls: bool = False) -> pl.Series:
    """label() of each cell of a small frame's column, computed on the script thread (None stays None)."""
    # Not a polars map_elements: its callbacks run on polars worker threads, out of the session's reach
    # (t() reads the language from it), and they froze the whole server (issue #17).
    return pl.Series(
        column, [label(value) if value is not None or nulls else None for value in frame[column]], dtype=pl.String
    )


st.subheader(t("intake.history"))
log = ops.read_intake()
if viewer.role != "admin":
    log = log.filter(pl.col("submitted_by") == (viewer.identity or viewer.role))
log = log.sort("event_id", descending=True).head(HISTORY_ROWS)
st.caption(
    t("intake.history_caption_admin" if viewer.role == "admin" else "intake.history_caption_manager", n=HISTORY_ROWS)
)
if log.is_empty():
    st.info(t("intake.history_none"))
else:
    data_table(
        log.select(
            labels(log, "submitted_at", local_label),
            labels(log, "action", lambda a: t(f"intake.action_{a}")),
            labels(log, "outcome", lambda o: t(f"intake.outcome_{o}")),
            labels(log, "kind", kind_label),
            labels(log, "city_code", city_label, nulls=True),
            "file_name",
            "submitted_by",
            "run_id",
            "message",
        ),
        {
            "submitted_at": t("intake.col_when"),
            "action": t("intake.col_action"),
            "outcome": t("intake.col_outcome"),
            "kind": t("intake.col_kind"),
            "city_code": t("intake.col_city"),
            "file_name": t("intake.col_file"),
            "submitted_by": t("intake.col_by"),
            "run_id": t("intake.col_run"),
            "message": t("intake.col_message"),
        },
    )

# --- 4. rollback (admins) ------------------------------------------------------------------------
if intake.may_roll_back(viewer):
    st.subheader(t("intake.rollback"))
    st.caption(t("intake.rollback_caption"))
    kept = [
        record
        for record in intake.kept_runs(intake.warehouses_dir())
        if run is None or record["run_id"] != run["run_id"]
    ]
    if not kept:
        st.info(t("intake.rollback_none"))
    else:
        records = {record["run_id"]: record for record in kept}

        def run_label(run_id: str) -> str:
            """A kept run with its time and, for a run published here, what was sent by whom."""
            record = records[run_id]
            when = local_label(record["finished_at"] or record["started_at"])
            sent = record.get("submission")
            if not sent:
                return t("intake.rollback_label", run_id=run_id, when=when)
            return t(
                "intake.rollback_label_file",
                run_id=run_id,
                when=when,
                kind=kind_label(sent["kind"]),
                file=sent["original_name"],
                by=sent["submitted_by"],
            )

        run_labels = {run_id: run_label(run_id) for run_id in records}
        target = state.localized_selectbox(
            t("intake.rollback_run"), list(run_labels), run_labels.__getitem__, key="intake_rollback_run"
        )
        confirmed = st.checkbox(t("intake.rollback_confirm"), key="intake_rollback_confirm")
        if st.button(t("intake.rollback_button"), disabled=not confirmed or running, key="intake_rollback"):
            request = intake.new_request("rollback", viewer, operations=ops.store_path(), target_run_id=target)
            start(intake.create_job(request, None, intake.jobs_dir()))
            st.rerun()
    audit = ops.read_rollbacks()
    if not audit.is_empty():
        st.markdown("**" + t("intake.rollback_audit") + "**")
        audit = audit.sort("event_id", descending=True)
        data_table(
            audit.select(
                labels(audit, "requested_at", local_label),
                labels(audit, "outcome", lambda o: t(f"intake.outcome_{o}")),
                "from_run_id",
                "to_run_id",
                "rolled_back_by",
                "message",
            ),
            {
                "requested_at": t("intake.col_when"),
                "outcome": t("intake.col_outcome"),
                "from_run_id": t("intake.col_from"),
                "to_run_id": t("intake.col_to"),
                "rolled_back_by": t("intake.col_by"),
                "message": t("intake.col_message"),
            },
        )

show_provenance("upload")

if running:
    # Poll the worker: a short sleep, then a rerun reads its progress again (the worker is another process).
    time.sleep(intake.POLL_SECONDS)
    st.rerun()
