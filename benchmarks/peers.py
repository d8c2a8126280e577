"""Peers on the same rows: Datasette serving a SQLite copy over loopback HTTP, and a straightforward pandas dashboard.

Datasette is the reference for "facet + filter" browsing of one table: the benchmark copies the
warehouse's ``organization`` table into SQLite (same columns, an index on the filtered column), starts
``datasette serve`` on 127.0.0.1 and asks for the facet counts of two columns under a city filter. Our
side answers the same question with one DuckDB grouping-sets query through ``warehouse.query.fetch``;
both answers are compared before any timing counts.

The pandas baseline holds the base tables in memory (loaded once, as a pandas dashboard would) and
computes three page figures from them on every view; ours are the page's own query functions.
Each pair is checked to give the same numbers.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Self

import duckdb
import pandas as pd

from warehouse import query
from warehouse.query import activity

FACET_TABLE = "organization"
FILTER_COLUMN = "city_code"
FACET_COLUMNS = ("legal_form_code", "pf_intent_code")
FILTER_VALUE = "14216"  # 座間市
SQLITE_BATCH = 50_000  # rows per executemany when copying into SQLite
STARTUP_TIMEOUT_S = 120
# Datasette's defaults stop a facet after 200 ms and a query after 1 s; at 1M rows that drops the answer,
# so both are raised (the comparison is about speed, not about Datasette giving up).
DATASETTE_SETTINGS = {
    "sql_time_limit_ms": "120000",
    "facet_time_limit_ms": "120000",
    "suggest_facets": "off",
    "default_facet_size": "50",
}
# Identifier allow-list for the grouping-sets query below (facet columns come from this tuple only).
_GROUPING_SQL = (
    "select case when grouping(legal_form_code) = 0 then 'legal_form_code' "
    "when grouping(pf_intent_code) = 0 then 'pf_intent_code' else 'total' end as facet, "
    "coalesce(legal_form_code, pf_intent_code) as value, count(*) as n "
    "from organization where city_code = ? "
    "group by grouping sets ((legal_form_code), (pf_intent_code), ()) "
    # Datasette's column facets leave NULL out; so does this answer.
    "having grouping(legal_form_code, pf_intent_code) = 3 "
    "or coalesce(legal_form_code, pf_intent_code) is not null"
)


def facet_query(con: duckdb.DuckDBPyConnection, city_code: str = FILTER_VALUE) -> dict:
    """Our answer: rows matching the city, and counts per value of each facet column (one grouping-sets query)."""
    frame = query.fetch(con, _GROUPING_SQL, [city_code])
    answer: dict = {"count": 0, "facets": {column: {} for column in FACET_COLUMNS}}
    for facet, value, n in frame.iter_rows():
        if facet == "total":
            answer["count"] = n
        else:
            answer["facets"][facet][value] = n
    return answer


def sqlite_copy(warehouse: Path, target: Path) -> int:
    """Copy the organization table into a new SQLite file (booleans as 0/1, dates as ISO text); return rows."""
    target.unlink(missing_ok=True)
    con = duckdb.connect(str(warehouse), read_only=True)
    lite = sqlite3.connect(target)
    try:
        columns = con.execute(
            "select column_name, data_type from information_schema.columns "
            "where table_schema = 'main' and table_name = ? order by ordinal_position",
            [FACET_TABLE],
        ).fetchall()
        types = {"BOOLEAN": "INTEGER", "INTEGER": "INTEGER", "BIGINT": "INTEGER", "DOUBLE": "REAL"}
        ddl = ", ".join(f'"{name}" {types.get(kind, "TEXT")}' for name, kind in columns)
        lite.execute(f"create table {FACET_TABLE} ({ddl})")
        select = ", ".join(f'cast("{name}" as varchar)' if kind == "DATE" else f'"{name}"' for name, kind in columns)
        cursor = con.execute(f"select {select} from {FACET_TABLE} order by id")
        marks = ", ".join("?" for _ in columns)
        rows = 0
        while batch := cursor.fetchmany(SQLITE_BATCH):
            lite.executemany(f"insert into {FACET_TABLE} values ({marks})", batch)
            rows += len(batch)
        # The index a Datasette publisher would add for the filtered column (sqlite-utils create-index).
        lite.execute(f"create index idx_{FACET_TABLE}_{FILTER_COLUMN} on {FACET_TABLE} ({FILTER_COLUMN})")
        lite.commit()
        lite.execute("analyze")
    finally:
        lite.close()
        con.close()
    return rows


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Datasette:
    """A `datasette serve` child on 127.0.0.1 (immutable database), stopped on exit."""

    def __init__(self, database: Path) -> None:
        self.database = database
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> Self:
        """Start the server and wait until it answers."""
        command = [
            str(Path(sys.executable).with_name("datasette")),
            "serve",
            "-i",
            str(self.database),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
        ]
        for name, value in DATASETTE_SETTINGS.items():
            command += ["--setting", name, value]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"datasette exited: {self.process.stderr.read().decode(errors='replace')[-2000:]}")
            try:
                status, _ = self.get("/-/versions.json")
                if status == 200:
                    return self
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("datasette did not start in time")

    def __exit__(self, *exc: object) -> None:
        """Stop the server (this child only)."""
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    @contextlib.contextmanager
    def connection(self) -> Iterator[http.client.HTTPConnection]:
        """A keep-alive HTTP connection to the server (loopback only)."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=STARTUP_TIMEOUT_S)
        try:
            yield connection
        finally:
            connection.close()

    def get(self, path: str, connection: http.client.HTTPConnection | None = None) -> tuple[int, bytes]:
        """GET a path; returns (status, body)."""
        if connection is None:
            with self.connection() as fresh:
                return self.get(path, fresh)
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read()

    @property
    def facet_path(self) -> str:
        """The facet + filter request: rows of one city, counts of two columns, no rows returned."""
        facets = "".join(f"&_facet={column}" for column in FACET_COLUMNS)
        return f"/{self.database.stem}/{FACET_TABLE}.json?{FILTER_COLUMN}={FILTER_VALUE}{facets}&_size=0"


def datasette_answer(body: bytes) -> dict:
    """Datasette's JSON reply in the shape of facet_query's answer; a timed-out facet raises."""
    reply = json.loads(body)
    if reply.get("facets_timed_out"):
        raise RuntimeError(f"datasette facets timed out: {reply['facets_timed_out']}")
    facets = reply["facet_results"]
    results = facets.get("results", facets) if isinstance(facets, dict) else facets
    answer = {"count": reply["filtered_table_rows_count"], "facets": {}}
    for column in FACET_COLUMNS:
        answer["facets"][column] = {item["value"]: item["count"] for item in results[column]["results"]}
    return answer


def timed(call, repeat: int, budget_s: float) -> list[float]:
    """Run call() up to repeat times (at least 3, stopping once budget_s is spent); seconds per call."""
    seconds = []
    started = time.perf_counter()
    for done in range(repeat):
        begin = time.perf_counter()
        call()
        seconds.append(time.perf_counter() - begin)
        if done >= 2 and time.perf_counter() - started > budget_s:
            break
    return seconds


def compare_datasette(warehouse: Path, work: Path, repeat: int, budget_s: float, log=print) -> dict:
    """Datasette vs our grouping-sets query on the same organisation rows: same answer, then timings."""
    work.mkdir(parents=True, exist_ok=True)
    database = work / f"{warehouse.stem}.sqlite"
    begin = time.perf_counter()
    rows = sqlite_copy(warehouse, database)
    log(f"  sqlite copy: {rows} rows in {time.perf_counter() - begin:.1f} s")
    con = query.connect(warehouse)
    try:
        ours = facet_query(con)
        with Datasette(database) as server, server.connection() as connection:
            status, body = server.get(server.facet_path, connection)
            if status != 200:
                raise RuntimeError(f"datasette answered {status}: {body[:500]!r}")
            theirs = datasette_answer(body)
            if theirs != ours:
                raise RuntimeError(f"answers differ: datasette {theirs} vs ours {ours}")
            server.get(server.facet_path, connection)  # warm both caches alike
            facet_query(con)
            datasette_s = timed(lambda: server.get(server.facet_path, connection), repeat, budget_s)
            ours_s = timed(lambda: facet_query(con), repeat, budget_s)
    finally:
        con.close()
    return {
        "rows": rows,
        "matching": ours["count"],
        "request": f"GET {Datasette(database).facet_path}",
        "datasette_s": datasette_s,
        "ours_s": ours_s,
        "sqlite_bytes": database.stat().st_size,
    }


class PandasDashboard:
    """The straightforward alternative: base tables held as pandas frames, each figure computed per view."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        begin = time.perf_counter()
        self.organization = con.sql(
            "select id, city_code, legal_form_code, pf_intent_code, survey_answered from organization"
        ).df()
        self.location = con.sql("select organization_id from location").df()
        self.service = con.sql("select id, organization_id from service").df()
        self.attribute = con.sql("select link_id, link_type, link_entity, taxonomy_term_id from attribute").df()
        self.term = con.sql("select id, code, taxonomy_id, sort_order from taxonomy_term").df()
        self.city = con.sql("select code, sort_order from city").df()
        self.load_s = time.perf_counter() - begin

    def home_kpis(self) -> dict:
        """Distributed, answered, response rate and mapped organisations for the four cities together."""
        org = self.organization
        distributed = len(org)
        answered = int(org["survey_answered"].sum())
        mapped = int(
            self.location.merge(org[["id"]], left_on="organization_id", right_on="id")["organization_id"].nunique()
        )
        return {
            "organisations_distributed": distributed,
            "organisations_answered": answered,
            "response_rate_pct": round(100.0 * answered / distributed, 1) if distributed else None,
            "organisations_mapped": mapped,
        }

    def _forms(self) -> pd.DataFrame:
        """(organization_id, city_code, term_id) of answering organisations' support forms, distinct."""
        forms = self.attribute[(self.attribute["link_entity"] == "service") & (self.attribute["link_type"] == "form")]
        joined = forms.merge(self.service, left_on="link_id", right_on="id")
        answering = self.organization[self.organization["survey_answered"]]
        joined = joined.merge(
            answering[["id", "city_code"]], left_on="organization_id", right_on="id", suffixes=("", "_org")
        )
        return joined[["organization_id", "city_code", "taxonomy_term_id"]].drop_duplicates()

    def form_ranking(self) -> pd.DataFrame:
        """Organisations per support form (zeros kept), rank and share of answering organisations."""
        n = int(self.organization["survey_answered"].sum())
        counts = self._forms().groupby("taxonomy_term_id")["organization_id"].nunique().rename("orgs")
        forms = self.term[self.term["taxonomy_id"] == "form"].merge(counts, left_on="id", right_index=True, how="left")
        forms["orgs"] = forms["orgs"].fillna(0).astype(int)
        forms = forms.sort_values(["orgs", "sort_order"], ascending=[False, True]).reset_index(drop=True)
        forms["rank"] = range(1, len(forms) + 1)
        forms["share_pct"] = (100.0 * forms["orgs"] / n).round(1) if n else None
        return forms[["rank", "code", "orgs", "share_pct"]]

    def city_form_matrix(self) -> pd.DataFrame:
        """City × support form: organisations per cell, zeros kept."""
        cells = self._forms().groupby(["city_code", "taxonomy_term_id"])["organization_id"].nunique().rename("orgs")
        forms = self.term[self.term["taxonomy_id"] == "form"][["id", "code"]]
        grid = self.city[["code"]].rename(columns={"code": "city_code"}).merge(forms, how="cross")
        grid = grid.merge(cells, left_on=["city_code", "id"], right_index=True, how="left")
        grid["orgs"] = grid["orgs"].fillna(0).astype(int)
        return grid[["city_code", "code", "orgs"]]


def _ours_home(con: duckdb.DuckDBPyConnection) -> dict:
    """The Home page's figures for the four cities (the same four as PandasDashboard.home_kpis)."""
    row = query.home_kpis(con, None)
    return {
        key: row[key]
        for key in ("organisations_distributed", "organisations_answered", "response_rate_pct", "organisations_mapped")
    }


def _ours_ranking(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """活動分布's form ranking."""
    return activity.form_counts(con, activity.ActivityFilter(), "ja")


def _ours_matrix(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """活動分布's city × form matrix."""
    return activity.form_city_matrix(con, activity.ActivityFilter(), "ja")


def compare_pandas(warehouse: Path, repeat: int, budget_s: float) -> dict:
    """Three page figures: pandas from in-memory base tables vs our query functions; same numbers, then timings."""
    con = query.connect(warehouse)
    try:
        baseline = PandasDashboard(con)
        checks = {
            "home_kpis": (baseline.home_kpis, lambda: _ours_home(con)),
            "form_ranking": (baseline.form_ranking, lambda: _ours_ranking(con)),
            "city_form_matrix": (baseline.city_form_matrix, lambda: _ours_matrix(con)),
        }
        mine = baseline.home_kpis()
        if mine != _ours_home(con):
            raise RuntimeError(f"home figures differ: pandas {mine} vs ours {_ours_home(con)}")
        ranking = _ours_ranking(con).select("rank", "form_code", "orgs", "share_pct").rows()
        pandas_ranking = [tuple(r) for r in baseline.form_ranking().itertuples(index=False)]
        if [(int(a), b, int(c), float(d)) for a, b, c, d in pandas_ranking] != [
            (a, b, c, float(d)) for a, b, c, d in ranking
        ]:
            raise RuntimeError("form ranking differs between pandas and ours")
        matrix = sorted(_ours_matrix(con).select("city_code", "form_code", "orgs").rows())
        pandas_matrix = sorted((a, b, int(c)) for a, b, c in baseline.city_form_matrix().itertuples(index=False))
        if matrix != pandas_matrix:
            raise RuntimeError("city × form matrix differs between pandas and ours")
        results = {"pandas_load_s": baseline.load_s}
        for name, (theirs, ours) in checks.items():
            results[name] = {"pandas_s": timed(theirs, repeat, budget_s), "ours_s": timed(ours, repeat, budget_s)}
        return results
    finally:
        con.close()


def environment() -> dict:
    """Versions of the peers, for the record (None for a peer that is not installed)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        datasette = version("datasette")
    except PackageNotFoundError:
        datasette = None
    return {"datasette": datasette, "pandas": pd.__version__, "sqlite": sqlite3.sqlite_version}
