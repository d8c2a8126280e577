"""The server's metrics are not public (issue #17, finding 10): /_stcore/metrics answers 404.

Streamlit 1.67 serves its metrics (sessions, cache and memory sizes) at /_stcore/metrics to anyone and has
no setting for it; the launcher (`python -m dashboard`, what `make run` starts) replaces those routes. The
control case runs plain `streamlit run` on a one-line app and shows the endpoint open there, so this test
notices both a launcher that stops closing it and a Streamlit that changes how it serves it.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.e2e.server import DASHBOARD_APP, ROOT, streamlit_server

METRICS = "/_stcore/metrics"


def fetch(url: str, method: str = "GET") -> tuple[int, str]:
    """Status and body text of one request (an HTTP error status is an answer, not an exception)."""
    request = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode(errors="replace")
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(errors="replace")


def looks_like_metrics(body: str) -> bool:
    """OpenMetrics text as Streamlit writes it (families such as session_events_total)."""
    return "# TYPE" in body or "session_" in body or "cache_memory_bytes" in body


def test_plain_streamlit_serves_metrics(tmp_path: Path) -> None:
    """Control: without the launcher, Streamlit answers /_stcore/metrics with its metrics."""
    app = tmp_path / "app.py"
    app.write_text('import streamlit as st\nst.write("hello")\n', encoding="utf-8")
    with streamlit_server(app, cwd=tmp_path, log_path=tmp_path / "plain.log") as base_url:
        status, body = fetch(base_url + METRICS)
    assert status == 200 and looks_like_metrics(body), (status, body[:300])


# A second launcher start (~2.7 CPU-s): make test only. In the fast tier test_readiness's server (the launcher, under a
# base path) checks GET and OPTIONS of the metrics route answer 404 without metrics.
@pytest.mark.slow
def test_dashboard_closes_metrics(tmp_path: Path) -> None:
    """The dashboard's server answers 404 without metrics to GET and OPTIONS, and still answers health."""
    env = {"TSUNAGARI_WAREHOUSE": str(tmp_path / "no-warehouse.duckdb")}
    with streamlit_server(DASHBOARD_APP, cwd=ROOT, log_path=tmp_path / "dashboard.log", env=env) as base_url:
        answers = {method: fetch(base_url + METRICS, method) for method in ("GET", "OPTIONS")}
        answers["GET ?families"] = fetch(base_url + METRICS + "?families=session_events_total")
        health = fetch(base_url + "/_stcore/health")
    for what, (status, body) in answers.items():
        assert status == 404 and not looks_like_metrics(body), (what, status, body[:300])
    assert health[0] == 200
