"""The report pack's section on 概要, for staff: pick a 年度, make the pack in the background, download it.

The sidebar's city and language choose the scope and the language. Starting a pack is audited (who, city,
年度, when) and so is every download. The job runs on its own thread (dashboard/report_pack/job.py); this
section only reads its status, in a fragment that reruns itself while the job runs.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import streamlit as st

from common.calendar import LOCAL_TZ
from dashboard import auth, state
from dashboard.downloads import PAGE_KEY, download_row
from dashboard.registry import STAFF
from dashboard.report_pack import build
from dashboard.report_pack.job import POLL_SECONDS, PackJob, PackRequest
from dashboard.report_pack.model import nendo_text
from warehouse import operations, query, report

JOB_KEY = "report_pack_job"
t = state.t


def _start(city: str | None, nendo: int) -> None:
    """Audit the request and start its job (on the script thread: the request is read from the session here)."""
    viewer = auth.viewer()
    lang = state.lang()
    operations.record_audit(
        viewer,
        "export",
        f"{st.session_state.get(PAGE_KEY, '')}/report_pack",
        {"what": "report_pack", "city": city, "nendo": nendo, "lang": lang},
    )
    today = dt.datetime.now(dt.UTC).astimezone(ZoneInfo(LOCAL_TZ)).date()
    scope = report.Scope(city, nendo, lang, viewer, today=today, store=operations.store_path())
    request = PackRequest(scope, warehouse=query.warehouse_path())
    st.session_state[JOB_KEY] = PackJob(request).start()


def _job_view() -> None:
    """Progress of a running job, its error, or the download buttons of its files."""
    job: PackJob | None = st.session_state.get(JOB_KEY)
    if job is None or job.request.scope.viewer != auth.viewer():
        return
    status = job.status()
    if not status.finished:
        st.progress(status.done / max(status.total, 1), text=t("pack.ui.running", step=t(f"pack.step.{status.step}")))
        return
    if status.error is not None or status.result is None:
        st.error(t("pack.ui.failed", error=status.error))
        return
    made = status.result
    st.success(t("pack.ui.done", seconds=f"{made.seconds:.1f}"))
    download_row(
        [(t(f"pack.ui.download_{extension}"), extension, made.files[extension]) for extension in build.FORMATS],
        made.stem,
        what="report_pack",
        suffixed=True,
        key="report_pack",
        action="export",
        filters={"city": job.request.scope.city_code, "nendo": job.request.scope.nendo},
    )


def render(con) -> None:
    """The section, for staff roles only (the public sees nothing of it)."""
    if auth.viewer().role not in STAFF:
        return
    st.subheader(t("pack.ui.heading"))
    st.caption(t("pack.ui.caption"))
    years = report.fiscal_years(con, auth.viewer())
    if not years:
        st.info(t("pack.ui.no_year"))
        return
    lang = state.lang()
    job: PackJob | None = st.session_state.get(JOB_KEY)
    running = job is not None and not job.status().finished
    with st.form("report_pack_form", border=False):
        nendo = st.selectbox(
            t("pack.ui.year"),
            years,
            format_func=lambda year: nendo_text(year, lang),
            key="report_pack_year",
            placeholder=t("app.choose_one"),
        )
        if st.form_submit_button(t("pack.ui.generate"), disabled=running, icon=":material/description:"):
            _start(state.city(), nendo)
            running = True

    @st.fragment(run_every=POLL_SECONDS if running else None)
    def poll() -> None:
        current: PackJob | None = st.session_state.get(JOB_KEY)
        _job_view()
        if running and current is not None and current.status().finished:
            # The job ended: one full rerun redraws the section without the timer.
            st.rerun()

    poll()
