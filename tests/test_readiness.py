"""Readiness over HTTP (issue #24): the launcher answers <base>/_tsunagari/ready with 200 and a small JSON when
the app can serve, 503 and the reasons when the warehouse is missing or was built by another schema; and a
served instance's log carries no warning lines while visitors open every public page in both languages."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import sqlite3
import urllib.error
import urllib.request
from pathlib import Path

import duckdb
import pytest
import websockets
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from test_metrics_closed import METRICS, looks_like_metrics

from dashboard.__main__ import ready_path
from dashboard.registry import PAGES
from tests.e2e.server import DASHBOARD_APP, ROOT, streamlit_server
from warehouse import operations as ops
from warehouse.fingerprint import code_fingerprint
from warehouse.readiness import readiness

READY = "/_tsunagari/ready"
# Streamlit's log lines with their level, as the soak test reads them.
LOG_FORMAT = {"STREAMLIT_LOGGER_MESSAGE_FORMAT": "%(asctime)s %(levelname)s %(name)s: %(message)s"}
RUN_TIMEOUT_S = 120


def fetch(url: str, method: str = "GET") -> tuple[int, str]:
    """Status and body of one request (an HTTP error status is an answer, not an exception)."""
    request = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def warning_lines(log: str) -> list[str]:
    """Lines at WARNING level or above, and Python warnings (SomethingWarning: …)."""
    return [line for line in log.splitlines() if re.search(r"\b(WARNING|ERROR|CRITICAL)\b|Warning:", line)]


async def _visit(base_url: str, page: str, query: str) -> int:
    """Run one page as a browser tab would over Streamlit's WebSocket; the number of elements it sent."""
    url = base_url.replace("http://", "ws://", 1) + "/_stcore/stream"
    async with websockets.connect(url, subprotocols=["streamlit"], max_size=None) as socket:
        message = BackMsg()
        message.rerun_script.query_string = query
        message.rerun_script.page_name = page
        await socket.send(message.SerializeToString())
        deltas = 0
        while True:
            forward = ForwardMsg()
            forward.ParseFromString(await asyncio.wait_for(socket.recv(), RUN_TIMEOUT_S))
            kind = forward.WhichOneof("type")
            deltas += kind == "delta"
            if kind == "script_finished":
                return deltas


def visit(base_url: str, page: str, query: str = "") -> int:
    """_visit, from synchronous code."""
    return asyncio.run(_visit(base_url, page, query))


def with_fingerprint(source: Path, target: Path, fingerprint: str) -> Path:
    """A copy of a warehouse whose runs recorded another schema fingerprint."""
    shutil.copyfile(source, target)
    with duckdb.connect(str(target)) as con:
        con.execute("update etl_run set schema_fingerprint = ?", [fingerprint])
    return target


def test_ready_path_joins_the_base_path() -> None:
    assert ready_path("") == "/_tsunagari/ready"
    assert ready_path("/tsunagari/") == ready_path("tsunagari") == "/tsunagari/_tsunagari/ready"


# make test only (fast: test_the_store_is_ready_only_at_this_release_version and test_ready_path_joins_the_base_path).
# One server start (~3 CPU-s) for the whole story, under a base path: not ready without a warehouse and with one of
# another schema, then ready, every public page served, the server's metrics closed (test_metrics_closed's launcher
# case, make test only) and nothing in the log but the three changes of state.
@pytest.mark.slow
def test_ready_under_a_base_path_only_with_a_warehouse_of_this_schema_and_a_quiet_log(
    sample_warehouse: Path, tmp_path: Path
) -> None:
    live = tmp_path / "live"
    live.mkdir()
    warehouse = live / "warehouse.duckdb"
    env = {
        **LOG_FORMAT,
        "STREAMLIT_SERVER_BASE_URL_PATH": "tsunagari",
        "TSUNAGARI_WAREHOUSE": str(warehouse),
        "TSUNAGARI_OPERATIONS": str(live / "operations.sqlite"),
        "TSUNAGARI_ARCHIVE": str(live / "sources"),
    }
    log = tmp_path / "dashboard.log"
    with streamlit_server(DASHBOARD_APP, cwd=ROOT, log_path=log, env=env, base_path="/tsunagari") as base_url:
        missing = [fetch(base_url + READY) for _ in range(3)]
        with_fingerprint(sample_warehouse, tmp_path / "next.duckdb", "0" * 64).replace(warehouse)
        other = fetch(base_url + READY)
        shutil.copyfile(sample_warehouse, tmp_path / "current.duckdb")
        (tmp_path / "current.duckdb").replace(warehouse)
        status, body = fetch(base_url + READY)
        head, _ = fetch(base_url + READY, "HEAD")
        outside, _ = fetch(base_url.removesuffix("/tsunagari") + READY)
        drawn = {
            (spec.url_path, query): visit(base_url, "" if spec.default else spec.url_path, query)
            for spec in PAGES
            if spec.allows("public")
            for query in ("", "lang=en&city=14218")
        }
        again, _ = fetch(base_url + READY)
        metrics = {method: fetch(base_url + METRICS, method) for method in ("GET", "OPTIONS")}
    for method, (code, text) in metrics.items():
        assert code == 404 and not looks_like_metrics(text), (method, code, text[:300])
    for code, text in missing:
        report = json.loads(text)
        assert code == 503 and not report["ready"] and not report["checks"]["warehouse"]["ok"], text
        assert report["checks"]["warehouse"]["reason"].startswith("missing") and str(tmp_path) not in text
    code, text = other
    report = json.loads(text)
    assert code == 503 and report["checks"]["warehouse"]["ok"] and not report["checks"]["schema"]["ok"], text
    assert report["checks"]["schema"]["warehouse"] == "0" * 12 and "etl upgrade" in report["checks"]["schema"]["reason"]
    assert (status, head, again) == (200, 200, 200), body
    assert outside == 404, "the readiness route must live under the base path"
    report = json.loads(body)
    assert report["ready"] and set(report["checks"]) == {"warehouse", "schema", "operations_store"}
    assert report["checks"]["warehouse"]["run_id"] and report["checks"]["warehouse"]["published_at"]
    assert report["checks"]["schema"]["code"] == report["checks"]["schema"]["warehouse"] == code_fingerprint()[:12]
    assert str(tmp_path) not in body and "/" not in body.replace("+00:00", ""), body
    assert all(drawn.values()), f"a page sent no elements: {drawn}"
    text = log.read_text(errors="replace")
    # One log line per change of state, not one per poll; the two losses are the log's only warnings.
    lines = [line for line in text.splitlines() if "dashboard.ready" in line]
    assert len(lines) == 3, lines
    assert "WARNING" in lines[0] and "missing" in lines[0] and "schema" in lines[1] and "ready again" in lines[2]
    others = [line for line in warning_lines(text) if line not in lines[:2]]
    assert not others, "\n".join(others)


def test_the_store_is_ready_only_at_this_release_version(sample_warehouse: Path, tmp_path: Path) -> None:
    store = tmp_path / "operations.sqlite"
    ops.migrate(store)
    answer = readiness(sample_warehouse, store)["checks"]["operations_store"]
    assert answer["ok"] and answer["version"] == answer["code_version"] == ops.schema_version(), answer
    for version, said in ((ops.schema_version() + 1, "newer release"), (0, "not migrated")):
        con = sqlite3.connect(store)
        con.execute(f"pragma user_version = {version}")
        con.close()
        report = readiness(sample_warehouse, store)
        answer = report["checks"]["operations_store"]
        assert not report["ready"] and not answer["ok"] and said in answer["reason"], answer
        assert answer["version"] == version and str(tmp_path) not in json.dumps(report)
