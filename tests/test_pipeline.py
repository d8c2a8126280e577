"""Integration: the sample bundle through the whole pipeline gives the report's figures exactly."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from etl.errors import EtlError, SourceError, ValidationFailed
from etl.pipeline import EXPECTATIONS_DIR, build

# The tests marked slow build an altered bundle in full (Great Expectations over every table): they run
# in make test, not in make test-fast.

SAMPLE = Path(__file__).resolve().parent.parent / "data" / "sample"


def rows(con, sql, params=None):
    """All rows of a query as tuples."""
    return con.execute(sql, params or []).fetchall()


def test_survey_reach_matches_report(sample_con):
    assert rows(sample_con, "select count(*) from organization") == [(157,)]
    assert rows(sample_con, "select count(*) from organization_source") == [(171,)]
    assert rows(sample_con, "select count(*) from survey_response") == [(63,)]
    assert rows(sample_con, "select count(*) from organization where survey_answered") == [(63,)]


def test_home_mart_all_cities(sample_con):
    con = sample_con
    con.execute("select * from mart_city_kpis where city_code is null")
    names = [d[0] for d in con.description]
    assert dict(zip(names, con.fetchone(), strict=True)) == {
        "city_code": None,
        "organisations_distributed": 157,
        "organisations_answered": 63,
        "response_rate_pct": 40.1,
        "organisations_mapped": 150,
        "exhibition_visitors": 3198,
        "exhibition_open_days": 18,
        "workshop_participations": 102,
        "workshop_unique_participants": 60,
        "symposium_participants": 126,
    }
    # The consultee figure (sensitive) is built only in the pii schema, as before: 50 for the four cities.
    assert rows(
        sample_con,
        "select city_code, workshop_consultee_participations, workshop_unique_consultees, "
        "workshop_consultee_share_pct from pii.mart_city_consultees order by city_code nulls last",
    ) == [
        ("14213", None, None, None),
        ("14215", 17, 10, 41.5),
        ("14216", None, None, None),
        ("14218", 33, 21, 54.1),
        (None, 50, 31, 49.0),
    ]


def test_home_mart_per_city_adds_up(sample_con):
    per_city = rows(
        sample_con,
        "select city_code, organisations_distributed, organisations_answered from mart_city_kpis "
        "where city_code is not null order by city_code",
    )
    assert per_city == [("14213", 52, 19), ("14215", 38, 16), ("14216", 37, 16), ("14218", 30, 12)]


def test_family_is_the_most_common_content_group(sample_con):
    groups = rows(
        sample_con,
        "select g.name, count(distinct s.organization_id) as n from attribute a "
        "join service s on s.id = a.link_id join taxonomy_term t on t.id = a.taxonomy_term_id "
        "join taxonomy_term g on g.id = t.parent_id where a.link_type = 'content' "
        "group by g.name order by n desc, g.name",
    )
    assert groups[0][0] == "家庭"
    assert groups[0][1] > groups[1][1]


def test_support_form_ranking_top_three(sample_con):
    forms = rows(
        sample_con,
        "select t.name, count(distinct s.organization_id) as n from attribute a "
        "join service s on s.id = a.link_id join taxonomy_term t on t.id = a.taxonomy_term_id "
        "where a.link_type = 'form' group by t.name order by n desc",
    )
    assert [name for name, _ in forms[:3]] == ["就労支援", "生活サポート", "居場所づくり"]
    counts = [n for _, n in forms]
    assert counts[0] > counts[1] > counts[2] > counts[3]


def test_exhibition_figures(sample_con):
    assert rows(
        sample_con,
        "select e.id, sum(s.visitors), count(*), e.open_days, round(sum(s.visitors) / count(*), 1), "
        "min(s.session_date), max(s.session_date) from event e join event_session s on s.event_id = e.id "
        "where e.kind = 'exhibition' group by e.id, e.open_days order by e.id",
    ) == [
        ("EX-EBINA", 2345, 8, 8, 293.1, dt.date(2025, 2, 21), dt.date(2025, 2, 28)),
        ("EX-ZAMA", 853, 10, 10, 85.3, dt.date(2025, 2, 21), dt.date(2025, 3, 2)),
    ]


def test_workshop_sessions(sample_con):
    assert rows(
        sample_con,
        "select s.id, s.session_date, s.participants, c.consultees from event_session s "
        "join event e on e.id = s.event_id left join pii.event_session_consultees c on c.session_id = s.id "
        "where e.kind = 'workshop' order by s.session_date, s.id",
    ) == [
        ("WS-3-1", dt.date(2024, 12, 17), 16, 6),
        ("WS-1-1", dt.date(2024, 12, 26), 23, 17),
        ("WS-3-2", dt.date(2025, 1, 8), 11, 5),
        ("WS-3-3", dt.date(2025, 1, 27), 11, 5),
        ("WS-2-1", dt.date(2025, 2, 18), 21, 9),
        ("WS-2-2", dt.date(2025, 2, 19), 20, 8),
    ]


def test_attendance_roster_matches_session_counts(sample_con):
    mismatched = rows(
        sample_con,
        "select s.id from event_session s join event e on e.id = s.event_id "
        "left join (select session_id, count(*) n from pii.event_attendance group by 1) a on a.session_id = s.id "
        "where e.kind = 'workshop' and coalesce(a.n, 0) <> s.participants",
    )
    assert mismatched == []


def test_symposium_and_venue_survey(sample_con):
    assert rows(
        sample_con,
        "select s.session_date, s.participants from event_session s where s.event_id = 'SYM'",
    ) == [(dt.date(2025, 2, 21), 126)]
    assert rows(
        sample_con,
        "select choice, answers from event_survey_result where event_id = 'SYM' order by choice_order",
    ) == [("すごく感じた", 38), ("感じた", 34), ("あまり感じなかった", 5), ("感じなかった", 1), ("無回答", 2)]


def test_contracts(sample_con):
    assert rows(
        sample_con, "select id, contractor, amount_yen, period_start, period_end from contract order by id"
    ) == [
        ("C-ART", "株式会社Little Barrel", 7_700_000, dt.date(2024, 11, 1), dt.date(2025, 3, 1)),
        ("C-RES", "一般社団法人市民連帯経済つながるかながわ", 299_000, dt.date(2024, 12, 1), dt.date(2025, 2, 1)),
    ]


def test_progress_months_and_phase(sample_con):
    zama = rows(
        sample_con,
        "select step_code, status_code, start_month, start_precision from pf_progress "
        "where city_code = '14216' order by step_code",
    )
    assert zama == [
        ("s1", "done", dt.date(2024, 8, 1), "month"),
        ("s2", "done", dt.date(2024, 8, 1), "month"),
        ("s3", "done", dt.date(2024, 11, 1), "month"),
        ("s4_1", "done", dt.date(2024, 10, 1), "month"),
        ("s4_2", "in_progress", dt.date(2025, 2, 1), "month"),
        ("s5", "in_progress", dt.date(2024, 11, 1), "month"),
        ("s6", "in_progress", dt.date(2024, 12, 1), "month"),
        ("s7", "not_started", dt.date(2025, 4, 1), "fiscal_year"),
        ("s8", "undecided", None, None),
        ("s9", "not_started", dt.date(2025, 4, 1), "fiscal_year"),
    ]
    assert rows(sample_con, "select city_code, phase_label from mart_pf_city_phase order by city_code") == [
        ("14213", "(ウ)"),
        ("14215", "(ウ)"),
        ("14216", "(ウ)"),
        ("14218", "(ウ)"),
    ]


def test_run_is_recorded_with_lineage(sample_con, sample_build):
    assert rows(sample_con, "select run_id, status from etl_run") == [(sample_build.run_id, "published")]
    files = rows(
        sample_con,
        "select file_name, rows_read, rows_loaded, rows_quarantined from etl_source_file "
        "where kind <> 'seed' order by file_name",
    )
    assert [f[0] for f in files] == [
        "cities.csv",
        "distribution_list.xlsx",
        "events.xlsx",
        "kpi_targets.csv",
        "pf_progress.xlsx",
        "resource_map.kmz",
        "survey_answers.csv",
    ]
    assert all(read == loaded and bad == 0 for _, read, loaded, bad in files)
    assert rows(sample_con, "select count(*) from quarantine") == [(0,)]
    assert rows(sample_con, "select count(*) from etl_validation where not success") == [(0,)]
    assert rows(sample_con, "select encoding from etl_source_file where file_name = 'survey_answers.csv'") == [
        ("cp932",)
    ]


def file_hash(path: Path) -> str:
    """sha256 of a file's bytes."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def copy_sample(tmp_path: Path) -> Path:
    """A writable copy of the sample bundle."""
    target = tmp_path / "bundle"
    shutil.copytree(SAMPLE, target)
    return target


@pytest.mark.slow
def test_same_sources_give_same_checksum(tmp_path, sample_build):
    again = build(SAMPLE, tmp_path / "w.duckdb")
    assert again.content_checksum == sample_build.content_checksum


def test_checksum_ignores_row_order_and_bookkeeping_but_sees_every_content_change():
    from etl.pipeline import content_checksum

    def checksum(rows, extra_sql=()):
        con = duckdb.connect()
        con.execute("create table t (id varchar, n integer, d date)")
        con.execute("create table etl_run (run_id varchar)")
        con.executemany("insert into t values (?, ?, ?)", rows)
        for sql in extra_sql:
            con.execute(sql)
        return content_checksum(con)

    rows_ = [("a", 1, dt.date(2026, 1, 1)), ("b", None, None), ("b", None, None)]
    base = checksum(rows_)
    assert checksum(list(reversed(rows_))) == base
    assert checksum(rows_, ["insert into etl_run values ('x')"]) == base
    assert checksum(rows_[:2]) != base  # a duplicate row counts; it does not cancel out
    assert checksum([("a", 1, dt.date(2026, 1, 2)), *rows_[1:]]) != base
    assert checksum([("a", 2, dt.date(2026, 1, 1)), *rows_[1:]]) != base
    assert checksum([("a", 1, dt.date(2026, 1, 1)), ("b", 0, None), ("b", None, None)]) != base
    assert checksum(rows_, ["create table u (x integer)"]) != base


@pytest.mark.slow
def test_unknown_label_is_left_out_and_the_answer_loads(tmp_path):
    bundle = copy_sample(tmp_path)
    answers = bundle / "survey_answers.csv"
    lines = answers.read_bytes().decode("cp932").split("\r\n")
    header = lines[0].split(",")
    column = header.index("支援の形態（当てはまるものをすべて選択してください）")
    # Row 2 of the file (first answer): replace its forms cell by a label no vocabulary knows.
    cells = next(csv.reader([lines[1]]))
    cells[column] = "宇宙旅行"
    out = io.StringIO()
    csv.writer(out, lineterminator="").writerow(cells)
    lines[1] = out.getvalue()
    answers.write_bytes("\r\n".join(lines).encode("cp932"))

    result = build(bundle, tmp_path / "w.duckdb")
    con = duckdb.connect(str(result.warehouse), read_only=True)
    # A multi-answer cell's unknown label is a cell-level record: the answer and its other values count.
    assert con.execute("select count(*) from survey_response").fetchone() == (63,)
    assert con.execute("select file_name, row_number, column_name, value, scope from quarantine").fetchall() == [
        ("survey_answers.csv", 2, "支援の形態（当てはまるものをすべて選択してください）", "宇宙旅行", "cell")
    ]
    assert con.execute(
        "select rows_read, rows_loaded, rows_quarantined from etl_source_file where file_name = 'survey_answers.csv'"
    ).fetchone() == (63, 63, 0)
    assert [(c["root_cause"], c["values_left_out"]) for c in result.root_causes] == [("survey_answers.csv, row 2", 1)]
    con.close()


@pytest.mark.slow
def test_failed_validation_leaves_published_warehouse_unchanged(tmp_path, sample_warehouse):
    published = tmp_path / "w.duckdb"
    shutil.copy(sample_warehouse, published)
    before = file_hash(published)
    strict = tmp_path / "expectations"
    shutil.copytree(EXPECTATIONS_DIR, strict)
    suite_path = strict / "organization.json"
    suite = json.loads(suite_path.read_text(encoding="utf-8"))
    suite["expectations"].append(
        {
            "type": "expect_table_row_count_to_equal",
            "kwargs": {"value": 999},
            "meta": {"reason_ja": "団体数が想定と違います (unexpected organisation count)", "level": "table"},
        }
    )
    suite_path.write_text(json.dumps(suite, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(ValidationFailed) as failure:
        build(SAMPLE, published, expectations_dir=strict)
    assert "organization" in str(failure.value)
    assert file_hash(published) == before
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_unreadable_source_names_file_and_column(tmp_path, sample_warehouse):
    bundle = copy_sample(tmp_path)
    cities = bundle / "cities.csv"
    cities.write_text(cities.read_text(encoding="utf-8").replace("人口,", "住民数,", 1), encoding="utf-8")
    published = tmp_path / "w.duckdb"
    shutil.copy(sample_warehouse, published)
    before = file_hash(published)
    with pytest.raises(SourceError) as failure:
        build(bundle, published)
    assert failure.value.file == "cities.csv"
    assert failure.value.column == "人口"
    assert isinstance(failure.value, EtlError)
    assert file_hash(published) == before


@pytest.mark.slow
def test_cli_exit_codes(tmp_path):
    ok = subprocess.run(
        [sys.executable, "-m", "etl", "build", "--source", str(SAMPLE), "--warehouse", str(tmp_path / "w.duckdb")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert ok.returncode == 0, ok.stderr
    assert "published run" in ok.stdout
    missing = subprocess.run(
        [sys.executable, "-m", "etl", "build", "--source", str(tmp_path / "nope"), "--warehouse", str(tmp_path / "x")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert missing.returncode == 1
    assert "source directory not found" in missing.stderr


def test_marts_are_built_after_the_marts_they_read(tmp_path):
    from etl.pipeline import mart_order

    sql = {
        # reads b and c; its header's mention of z is a comment, not a read
        "a_first_by_name": "-- summary that mart_z_comment_only feeds\nselect * from mart_b join mart_c using (id)",
        "mart_b": "select * from mart_c",
        "mart_c": "select 1 as id",
        "mart_z_comment_only": "select 2 as id",
    }
    for name, text in sql.items():
        (tmp_path / f"{name}.sql").write_text(text, encoding="utf-8")
    order = [path.stem for path in mart_order(list(tmp_path.glob("*.sql")))]
    assert order == ["mart_c", "mart_b", "a_first_by_name", "mart_z_comment_only"]


def test_marts_reading_each_other_in_a_cycle_are_refused(tmp_path):
    from etl.pipeline import mart_order

    (tmp_path / "mart_a.sql").write_text("select * from mart_b", encoding="utf-8")
    (tmp_path / "mart_b.sql").write_text("select * from mart_a", encoding="utf-8")
    with pytest.raises(EtlError, match="cycle: mart_a, mart_b"):
        mart_order(list(tmp_path.glob("*.sql")))


def test_published_warehouse_is_owner_only(sample_warehouse):
    # It holds the pii schema (contact persons, respondents): no other local user may read it.
    assert oct(sample_warehouse.stat().st_mode & 0o777) == oct(0o600)
