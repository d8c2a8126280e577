"""データ品質: the runs, file lineage, every expectation, quarantined rows, trends; the audit log for admins."""

from __future__ import annotations

import polars as pl
import streamlit as st

from common.calendar import LOCAL_TZ, moment_label
from dashboard import audit, auth, data, state, vega
from dashboard.charts.quality import trend_chart
from dashboard.downloads import csv_download, html_download
from dashboard.format import display, number
from dashboard.provenance import show_provenance
from dashboard.tables import data_table
from warehouse import operations
from warehouse.query import quality

t = state.t
lang = state.lang()
con = data.connection()
viewer = auth.viewer()

st.title(t("quality.title"))
st.caption(t("quality.caption"))

runs = quality.runs(con)
if runs.is_empty():
    st.info(t("quality.no_runs"))
    show_provenance("data-quality")
    st.stop()

# The labels carry dates in the UI language: localized, so the chosen run survives a language switch.
run_labels = {
    rid: f"{rid} — {moment_label(done, lang)}" for rid, done in runs.select("run_id", "finished_at").iter_rows()
}
run_id = state.localized_selectbox(t("quality.run"), list(run_labels), run_labels.__getitem__, "quality_run")
run = runs.filter(runs["run_id"] == run_id).row(0, named=True)

cards = st.columns(5)
cards[0].metric(t("quality.files"), number(run["files"]))
cards[1].metric(t("quality.rows_read"), number(run["rows_read"]))
cards[2].metric(t("quality.rows_loaded"), number(run["rows_loaded"]))
cards[3].metric(t("quality.rows_quarantined"), number(run["rows_quarantined"]))
cards[4].metric(
    t("quality.checks"), t("quality.checks_value", passed=run["checks"] - run["checks_failed"], total=run["checks"])
)
left_out = quality.values_left_out(con, run_id)
if run["checks_failed"] == 0 and run["rows_quarantined"] == 0 and left_out == 0:
    st.success(t("quality.all_ok"))
elif run["checks_failed"] == 0 and run["rows_quarantined"] == 0:
    # Every row loaded, but some values were unreadable and left empty: the city should still fix them.
    st.warning(t("quality.values_left_out", values=left_out))
else:
    st.warning(t("quality.some_failed", failed=run["checks_failed"], rows=run["rows_quarantined"]))

files_tab, checks_tab, quarantine_tab, docs_tab, trend_tab = st.tabs(
    [
        t("quality.tab_files"),
        t("quality.tab_checks"),
        t("quality.tab_quarantine"),
        t("quality.tab_docs"),
        t("quality.tab_trend"),
    ]
)

with files_tab:
    files = quality.source_files(con, run_id)
    data_table(
        display(files),
        {
            "file_name": t("quality.col_file"),
            "kind": t("quality.col_kind"),
            "sha256": st.column_config.TextColumn("SHA-256", width="small"),
            "size_bytes": st.column_config.NumberColumn(t("quality.col_size"), format="%d"),
            "encoding": t("quality.col_encoding"),
            "rows_read": t("quality.rows_read"),
            "rows_loaded": t("quality.rows_loaded"),
            "rows_quarantined": t("quality.rows_quarantined"),
        },
    )

with checks_tab:
    data_table(
        quality.expectation_summary(con, run_id),
        {
            "table_name": t("quality.col_table"),
            "checks": t("quality.checks"),
            "failed": t("quality.col_failed"),
            "unexpected_rows": t("quality.col_unexpected"),
        },
    )
    failed_only = st.toggle(t("quality.failed_only"), key="quality_failed_only")
    data_table(
        display(quality.expectations(con, run_id, failed_only=failed_only, viewer=viewer)),
        {
            "table_name": t("quality.col_table"),
            "expectation": t("quality.col_expectation"),
            "column_name": t("quality.col_column"),
            "success": st.column_config.CheckboxColumn(t("quality.col_success")),
            "element_count": t("quality.col_elements"),
            "unexpected_count": t("quality.col_unexpected"),
            "details": t("quality.col_details"),
        },
    )

with quarantine_tab:
    rows = quality.quarantined(con, run_id, viewer=viewer)
    if rows.is_empty():
        st.info(t("quality.no_quarantine"))
    else:
        st.caption(t("quality.quarantine_help"))
        file_labels = {"": t("quality.all_files")} | {name: name for name in sorted(set(rows["file_name"].to_list()))}
        chosen = state.localized_selectbox(
            t("quality.col_file"), list(file_labels), file_labels.__getitem__, "quality_file"
        )
        shown = quality.quarantined(con, run_id, chosen or None, viewer)
        data_table(
            display(shown),
            {
                "file_name": t("quality.col_file"),
                "sheet": t("quality.col_sheet"),
                "row_number": t("quality.col_row"),
                "column_name": t("quality.col_column"),
                "value": t("quality.col_value"),
                "reason": t("quality.col_reason"),
                "check_name": t("quality.col_check"),
            },
        )
        audit.personal_view(
            "quarantine",
            shown.height,
            roles=quality.PERSONAL_ROLES,
            filters={"run_id": run_id, "file_name": chosen or None},
        )
        csv_download(
            t("quality.download_quarantine"),
            shown,
            f"quarantine_{run_id}",
            what="quarantine",
            filters={"run_id": run_id, "file_name": chosen or None},
        )

# Grouped by root cause under the rows: which source row or sheet caused how much loss (counts and columns only).
with quarantine_tab:
    causes = quality.root_causes(con, run_id)
    if not causes.is_empty():
        st.subheader(t("quality.root_causes"))
        st.caption(t("quality.root_causes_help"))
        data_table(
            display(causes),
            {
                "root_cause": t("quality.col_root_cause"),
                "rows_set_aside": st.column_config.NumberColumn(t("quality.col_rows_set_aside"), format="%d"),
                "dependent_rows": st.column_config.NumberColumn(t("quality.col_dependent_rows"), format="%d"),
                "dependent_sheets": t("quality.col_dependent_sheets"),
                "values_left_out": st.column_config.NumberColumn(t("quality.col_values_left_out"), format="%d"),
                "columns": t("quality.col_column"),
                "checks": t("quality.col_check"),
            },
        )

with docs_tab:
    html = quality.data_docs(con, run_id, viewer)
    if html is None:
        st.info(t("quality.no_docs"))
    else:
        html_download(
            t("quality.download_docs"),
            html,
            f"validation_{run_id}.html",
            what="validation_report",
            filters={"run_id": run_id},
        )
        # The report is generated by our own pipeline with every value HTML-escaped.
        st.iframe(html, height=600)

with trend_tab:
    labels = {key: t(f"quality.{key}") for key in ("rows_read", "rows_quarantined", "checks_failed")}
    vega.altair_chart(trend_chart(runs, labels, lang), width="stretch")
    data_table(
        runs.select(
            "run_id",
            "status",
            # Stored in UTC; shown in Japan time under a JST header.
            pl.col("started_at").dt.replace_time_zone("UTC").dt.convert_time_zone(LOCAL_TZ),
            "seconds",
            "files",
            "rows_read",
            "rows_quarantined",
            "checks",
            "checks_failed",
        ),
        {
            "run_id": t("quality.run"),
            "status": t("quality.col_status"),
            "started_at": st.column_config.DatetimeColumn(t("quality.user.col_started"), format="YYYY-MM-DD HH:mm"),
            "seconds": st.column_config.NumberColumn(t("quality.col_seconds"), format="%.1f"),
            "files": t("quality.files"),
            "rows_read": t("quality.rows_read"),
            "rows_quarantined": t("quality.rows_quarantined"),
            "checks": t("quality.checks"),
            "checks_failed": t("quality.checks_failed"),
        },
    )

# The audit log (operational store, read-only connection): administrators only.
if viewer.role == "admin":
    st.subheader(t("audit.title"))
    st.caption(t("audit.caption"))
    audit = operations.read_audit().sort("event_id", descending=True)
    if audit.is_empty():
        st.info(t("audit.empty"))
    else:
        st.metric(t("audit.total"), number(audit.height))
        data_table(
            display(audit),
            {column: t(f"audit.col_{column}") for column in audit.columns}
            | {"at": st.column_config.DatetimeColumn(t("audit.col_at"), format="YYYY-MM-DD HH:mm:ss")},
        )
        csv_download(t("audit.download"), audit, "tsunagari_audit_log", what="audit_log", key="audit_download")

show_provenance("data-quality")
