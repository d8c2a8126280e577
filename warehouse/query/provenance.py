"""Where a page's figures come from: the published run, each source's period and the reference geography's credits.

Everything is read from the warehouse the ETL wrote (etl_run, etl_source_file, the loaded tables' dates,
ref_source), so the block under every page follows the data it shows and never restates a figure.
"""

from __future__ import annotations

import duckdb
import polars as pl

from common.roles import PUBLIC, Viewer
from warehouse.query import fetch, fetch_one

# The sources a page's figures can come from, each with the source file kinds (etl_source_file.kind)
# that feed it, in the order the block lists them.
TOPICS = {
    "survey": ("distribution", "survey"),
    "map": ("mymaps",),
    "events": ("events", "targets"),
    "progress": ("progress",),
    "cities": ("cities",),
    "pipeline": (),
}

# One query over the published run and the dated tables: the run's finish (UTC), and per source its
# period or last date, as the loaded rows state them.
_SQL = """
with run as (select * from etl_run where status = 'published' order by started_at desc limit 1)
select
    (select run_id from run) as run_id,
    (select finished_at from run) as finished_at,
    (select list(distinct kind order by kind) from etl_source_file where run_id = (select run_id from run)) as kinds,
    (select least(min(distributed_on), (select min(submitted_at)::date from survey_response)) from organization)
        as survey_first,
    (select max(submitted_at)::date from survey_response) as survey_last,
    (select max(last_verified) from location) as map_checked,
    (select min(session_date) from event_session) as events_first,
    (select max(session_date) from event_session) as events_last,
    (select max(recorded_on) from pf_progress) as progress_recorded
"""


def summary(con: duckdb.DuckDBPyConnection, viewer: Viewer = PUBLIC) -> dict:
    """The published run (run_id, finished_at in UTC; None before any) and each source's dates."""
    return fetch_one(con, _SQL) or {}


def reference_credits(con: duckdb.DuckDBPyConnection, viewer: Viewer = PUBLIC) -> pl.DataFrame:
    """The loaded reference datasets with the licence and credit line each requires (empty when none is loaded)."""
    return fetch(con, "select dataset, licence, credit from ref_source order by dataset desc")
