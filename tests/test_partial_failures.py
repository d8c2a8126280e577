"""Issue #18 through the real pipeline: one bad cell never takes a whole event, organisation or sheet with it.

Each test mutates a copy of data/sample the way a city analyst re-saving it by hand would, builds over a
copy of the sample warehouse and compares with the sample build (figures are read from the warehouses,
never typed in).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import io
import shutil
import zipfile
from pathlib import Path

import duckdb
import openpyxl
import pytest
from bad_inputs import DISTRIBUTION, EVENTS, MAP, SURVEY, cells, csv_cells, fresh_inputs, workbook
from streamlit.testing.v1 import AppTest

from etl import cli
from etl.errors import ChangesNeedConfirmation, SourceError
from etl.pipeline import build
from etl.sources.survey import CONTENT
from warehouse.query import quality

# The tests marked slow build an altered bundle in full (Great Expectations over every table): they run
# in make test, not in make test-fast.

APP = "../dashboard/app.py"
NOT_LISTED = "配布リストにない団体 (not on the distribution list)"


def file_hash(path: Path) -> str:
    """sha256 of a file's bytes."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def scalar(path: Path, sql: str, params: list | None = None):
    """One value from a warehouse file."""
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute(sql, params or []).fetchone()[0]


def run_rows(path: Path, sql: str) -> list[tuple]:
    """Rows of a query over the latest run of a warehouse (sql may use $run)."""
    with duckdb.connect(str(path), read_only=True) as con:
        run_id = con.execute("select run_id from etl_run order by started_at desc limit 1").fetchone()[0]
        return con.execute(sql, {"run": run_id}).fetchall()


EXHIBITION_VISITORS = (
    "select sum(s.visitors) from event_session s join event e on e.id = s.event_id where e.kind = 'exhibition'"
)
COUNTS = {
    "organization": "select count(*) from organization",
    "survey_response": "select count(*) from survey_response",
    "location": "select count(*) from location",
    "event": "select count(*) from event",
    "event_session": "select count(*) from event_session",
    "event_survey_result": "select count(*) from event_survey_result",
    "event_comment": "select count(*) from event_comment",
}


def counts(path: Path) -> dict[str, int]:
    """Row counts of the tables a cascade used to empty."""
    return {name: scalar(path, sql) for name, sql in COUNTS.items()}


@pytest.fixture()
def published(tmp_path, sample_warehouse) -> Path:
    """A copy of the sample warehouse as the published one."""
    path = tmp_path / "w.duckdb"
    shutil.copy(sample_warehouse, path)
    return path


@pytest.mark.slow
def test_bad_values_in_non_key_columns_leave_every_row_in(tmp_path, published, sample_warehouse):
    inputs = fresh_inputs(tmp_path)
    # The city's hand edits: a count with its unit, an unreadable 配布日, an unknown label among known ones
    # in a multi-answer cell, and an Excel date cell with a time part.
    cells(EVENTS, "イベント", J2="8日", H2=dt.datetime(2025, 2, 21, 14, 30))(inputs)
    cells(DISTRIBUTION, "海老名市", L2="12月頃")(inputs)
    book = openpyxl.load_workbook(inputs.bundle / DISTRIBUTION, read_only=True)
    ebina_first = book["海老名市"]["B2"].value
    book.close()
    first_content = _survey_cell(inputs.bundle / SURVEY, 2, CONTENT)
    csv_cells(SURVEY, {(2, CONTENT): first_content + "、宇宙旅行"})(inputs)

    result = build(inputs.bundle, published)

    assert counts(published) == counts(sample_warehouse)
    assert scalar(published, EXHIBITION_VISITORS) == scalar(sample_warehouse, EXHIBITION_VISITORS)
    assert scalar(published, "select open_days from event where id = 'EX-EBINA'") == 8
    assert scalar(published, "select start_date from event where id = 'EX-EBINA'") == dt.date(2025, 2, 21)
    assert (
        scalar(
            published,
            "select distributed_on from organization where name = ?",
            [ebina_first.replace("（", "(").replace("）", ")")],
        )
        is None
    )
    # The answer keeps its known content labels.
    assert scalar(published, "select count(*) from attribute where link_type = 'content'") == scalar(
        sample_warehouse, "select count(*) from attribute where link_type = 'content'"
    )
    assert result.rows_quarantined == 0
    assert sorted(
        run_rows(published, "select file_name, column_name, value, scope from quarantine where run_id = $run")
    ) == [
        (DISTRIBUTION, "配布日", "12月頃", "cell"),
        (SURVEY, CONTENT, "宇宙旅行", "cell"),
    ]
    assert [(c["root_cause"], c["values_left_out"]) for c in result.root_causes] == [
        (f"{DISTRIBUTION}, sheet 海老名市, row 2", 1),
        (f"{SURVEY}, row 2", 1),
    ]


PER_CITY = (
    "select city_code, exhibitions, exhibition_visitors, exhibition_visitors_per_day from mart_event_kpis "
    "order by city_code nulls first"
)


@pytest.mark.slow
def test_unreadable_open_days_leave_the_exhibition_and_its_dependants_in(
    tmp_path, published, sample_warehouse, monkeypatch, sign_in
):
    inputs = fresh_inputs(tmp_path)
    cells(EVENTS, "イベント", J2="約8日")(inputs)
    book = openpyxl.load_workbook(inputs.bundle / EVENTS, read_only=True)
    event_id, title, venue = (book["イベント"][f"{column}2"].value for column in "ACF")
    book.close()

    result = build(inputs.bundle, published)

    assert event_id == "EX-EBINA"
    # The exhibition, its sessions, venue-survey tallies and comments all stay.
    assert counts(published) == counts(sample_warehouse)
    for table in ("event_session", "event_survey_result", "event_comment"):
        sql = f"select count(*) from {table} where event_id = ?"
        assert scalar(published, sql, [event_id]) == scalar(sample_warehouse, sql, [event_id]) > 0
    assert scalar(published, "select open_days from event where id = ?", [event_id]) is None
    # Visitors per city are unchanged; the per-day mean is unknown where the exhibition counts, not wrong.
    ebina = scalar(published, "select city_code from event where id = ?", [event_id])
    with duckdb.connect(str(sample_warehouse), read_only=True) as con:
        before = con.execute(PER_CITY).fetchall()
    with duckdb.connect(str(published), read_only=True) as con:
        after = con.execute(PER_CITY).fetchall()
    assert [r[:3] for r in after] == [r[:3] for r in before]
    for old, new in zip(before, after, strict=True):
        assert new[3] == (None if new[0] in (None, ebina) else old[3])
    assert scalar(published, "select visitors_per_day from mart_event_summary where event_id = ?", [event_id]) is None
    days = "select city_code, exhibition_open_days from mart_city_kpis order by city_code nulls first"
    with duckdb.connect(str(sample_warehouse), read_only=True) as con:
        days_before = con.execute(days).fetchall()
    with duckdb.connect(str(published), read_only=True) as con:
        days_after = con.execute(days).fetchall()
    assert days_after == [(code, None if code in (None, ebina) else n) for code, n in days_before]
    # One cell record naming file, sheet, row, column, value and reason; nothing set aside.
    assert result.rows_quarantined == 0
    found = run_rows(
        published,
        "select file_name, sheet, row_number, column_name, value, reason, scope from quarantine where run_id = $run",
    )
    assert [r[:5] + r[6:] for r in found] == [(EVENTS, "イベント", 2, "開催日数", "約8日", "cell")]
    assert "「約8日」" in found[0][5]

    monkeypatch.setenv("TSUNAGARI_WAREHOUSE", str(published))
    at = sign_in(AppTest.from_file(APP, default_timeout=60), "analyst").run()
    assert not at.exception
    at.switch_page("pages/events.py").run()
    assert not at.exception
    shown = [str(v) for frame in at.dataframe for column in frame.value.columns for v in frame.value[column]]
    assert title in shown
    assert any(venue in c.value and "1日平均は不明" in c.value for c in at.caption)


@pytest.mark.slow
def test_an_unreadable_contract_amount_makes_the_costs_unknown(
    tmp_path, published, sample_warehouse, monkeypatch, sign_in
):
    inputs = fresh_inputs(tmp_path)
    book = openpyxl.load_workbook(inputs.bundle / EVENTS, read_only=True)
    contract_id = book["契約"]["A2"].value
    book.close()
    cells(EVENTS, "契約", D2="未定")(inputs)

    build(inputs.bundle, published)

    assert scalar(published, "select count(*) from contract") == scalar(
        sample_warehouse, "select count(*) from contract"
    )
    assert scalar(published, "select amount_yen from contract where id = ?", [contract_id]) is None
    assert run_rows(
        published, "select sheet, row_number, column_name, value, scope from quarantine where run_id = $run"
    ) == [("契約", 2, "金額（円）", "未定", "cell")]
    joint = "select art_contract_yen, cost_per_contact_yen from mart_event_kpis where city_code is null"
    assert scalar(
        sample_warehouse, "select count(*) from contract where id = ? and project like '%アート%'", [contract_id]
    )
    with duckdb.connect(str(published), read_only=True) as con:
        assert con.execute(joint).fetchone() == (None, None)

    monkeypatch.setenv("TSUNAGARI_WAREHOUSE", str(published))
    at = sign_in(AppTest.from_file(APP, default_timeout=60), "analyst").run()
    at.switch_page("pages/events.py").run()
    assert not at.exception
    assert any("1人当たり事業費は不明" in i.value for i in at.info)


@pytest.mark.slow
@pytest.mark.parametrize(("cell", "column", "field"), [("H2", "開始日", "start_date"), ("I2", "終了日", "end_date")])
def test_an_unreadable_event_date_keeps_the_event_and_the_page_shows_it(
    tmp_path, published, sample_warehouse, monkeypatch, sign_in, cell, column, field
):
    inputs = fresh_inputs(tmp_path)
    cells(EVENTS, "イベント", **{cell: "3月末頃"})(inputs)

    build(inputs.bundle, published)

    assert counts(published) == counts(sample_warehouse)
    assert scalar(published, EXHIBITION_VISITORS) == scalar(sample_warehouse, EXHIBITION_VISITORS)
    assert scalar(published, f"select {field} from event where id = 'EX-EBINA'") is None
    assert run_rows(
        published, "select sheet, row_number, column_name, value, scope from quarantine where run_id = $run"
    ) == [("イベント", 2, column, "3月末頃", "cell")]

    monkeypatch.setenv("TSUNAGARI_WAREHOUSE", str(published))
    at = sign_in(AppTest.from_file(APP, default_timeout=60), "analyst").run()
    at.switch_page("pages/events.py").run()
    assert not at.exception
    # The period shows the unknown date as —, the other one as read.
    unknown = "— ～" if field == "start_date" else "～ —"
    shown = [str(v) for frame in at.dataframe for column in frame.value.columns for v in frame.value[column]]
    assert any(unknown in v for v in shown)


def _survey_cell(path: Path, row: int, column: str) -> str:
    """One cell of the sample survey CSV (row as the quarantine counts it)."""
    import csv

    records = list(csv.reader(io.StringIO(path.read_bytes().decode("cp932"))))
    return records[row - 1][records[0].index(column)]


@pytest.mark.slow
def test_an_event_set_aside_is_one_root_cause_and_the_guard_stops_the_publish(tmp_path, published, sample_warehouse):
    inputs = fresh_inputs(tmp_path)
    cells(EVENTS, "イベント", E2="横浜市")(inputs)
    before = file_hash(published)

    with pytest.raises(ChangesNeedConfirmation) as stopped:
        build(inputs.bundle, published)
    assert file_hash(published) == before
    found = {(c.key, c.subject) for c in stopped.value.changes}
    assert ("event_gone", "EX-EBINA") in found
    assert ("figure_moved", "visitors:all") in found
    assert "EX-EBINA" in str(stopped.value) and "--accept-changes" in str(stopped.value)

    result = build(inputs.bundle, published, accept_changes=True)
    assert {(c.key, c.subject) for c in result.changes} == found
    sessions = scalar(sample_warehouse, "select count(*) from event_session where event_id = 'EX-EBINA'")
    tallies = scalar(sample_warehouse, "select count(*) from event_survey_result where event_id = 'EX-EBINA'")
    comments = scalar(sample_warehouse, "select count(*) from event_comment where event_id = 'EX-EBINA'")
    root = f"{EVENTS}, sheet イベント, row 2"
    # No unrelated "unknown event id" rows: one record per dependent sheet, naming the root and the count.
    assert run_rows(
        published, "select count(*) from quarantine where run_id = $run and check_name = 'match.event'"
    ) == [(0,)]
    assert sorted(
        run_rows(published, "select sheet, dependants from quarantine where run_id = $run and scope = 'dependants'")
    ) == sorted(
        (sheet, n) for sheet, n in (("アンケート集計", tallies), ("自由記述", comments), ("開催回", sessions)) if n
    )
    cause = result.root_causes[0]
    assert (cause["root_cause"], cause["rows_set_aside"], cause["dependent_rows"]) == (
        root,
        1,
        sessions + tallies + comments,
    )


@pytest.mark.slow
def test_an_empty_city_sheet_is_named_as_the_cause(tmp_path, published, sample_warehouse):
    inputs = fresh_inputs(tmp_path)

    def empty(book) -> None:
        sheet = book["綾瀬市"]
        sheet.delete_rows(2, sheet.max_row)

    workbook(DISTRIBUTION, empty)(inputs)
    listed = scalar(
        sample_warehouse,
        "select rows_read from etl_source_sheet where file_name = ? and sheet = '綾瀬市'",
        [DISTRIBUTION],
    )
    before = file_hash(published)
    with pytest.raises(ChangesNeedConfirmation) as stopped:
        build(inputs.bundle, published)
    assert file_hash(published) == before
    first = stopped.value.changes[0]
    assert (first.key, first.subject, first.before, first.after) == (
        "sheet_emptied",
        f"{DISTRIBUTION}, sheet 綾瀬市",
        listed,
        0,
    )
    assert str(first) == (
        f"{DISTRIBUTION} のシート「綾瀬市」: 前回 {listed} 行あったデータ行がなくなります（見出し行だけです） "
        f"({DISTRIBUTION}, sheet 綾瀬市: had {listed} rows, now none (header row only))"
    )
    assert {"organizations:14218", "answers:14218"} <= {c.subject for c in stopped.value.changes}

    result = build(inputs.bundle, published, accept_changes=True)
    root = f"{DISTRIBUTION}, sheet 綾瀬市: データ行がありません (sheet has no data rows)"
    # Answers and pins of 綾瀬市 organisations are dependants of the empty sheet, not "not on the list".
    not_listed = run_rows(
        published,
        "select count(*) from quarantine where run_id = $run and reason = '" + NOT_LISTED + "'",
    )
    assert not_listed == [(0,)]
    by_root = {c["root_cause"]: c for c in result.root_causes}
    assert by_root[root]["dependent_rows"] > 0
    assert set(by_root[root]["dependent_sheets"].split("、")) <= {SURVEY, "地図", MAP} | set(
        s
        for (s,) in run_rows(
            published, "select distinct sheet from quarantine where run_id = $run and sheet is not null"
        )
    )


def test_a_damaged_workbook_in_a_build_names_the_file_and_keeps_the_warehouse(tmp_path, published):
    inputs = fresh_inputs(tmp_path)
    path = inputs.bundle / EVENTS
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo("xl/worksheets/sheet1.xml")
    data = bytearray(path.read_bytes())
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra) + 10
    data[start : start + 32] = b"\x00" * 32
    path.write_bytes(bytes(data))
    before = file_hash(published)
    with pytest.raises(SourceError) as failure:
        build(inputs.bundle, published)
    assert failure.value.file == EVENTS
    assert file_hash(published) == before


def test_html_saved_as_the_map_is_not_kml(tmp_path, published):
    inputs = fresh_inputs(tmp_path)
    (inputs.bundle / MAP).write_bytes(b"<!DOCTYPE html><html><body>Google My Maps</body></html>")
    with pytest.raises(SourceError) as failure:
        build(inputs.bundle, published)
    assert (
        str(failure.value) == f"{MAP}: KML ではありません（中身は HTML です） (not a KML document: it is an HTML page)"
    )


@pytest.mark.slow
def test_cli_limit_options_and_root_cause_summary(tmp_path, published, capsys):
    assert cli.main(["build", "--source", str(tmp_path / "none"), "--warehouse", str(published)]) == 1
    inputs = fresh_inputs(tmp_path)
    code = cli.main(
        ["build", "--source", str(inputs.bundle), "--warehouse", str(published), "--max-file-bytes", "1000"]
    )
    err = capsys.readouterr().err
    assert code == 1
    assert "limit 1000 bytes; set TSUNAGARI_MAX_FILE_BYTES or --max-file-bytes" in err
    assert "Traceback" not in err
    assert (
        cli.main(["build", "--source", str(inputs.bundle), "--warehouse", str(published), "--change-share", "x"]) == 1
    )
    assert "TSUNAGARI_CHANGE_SHARE" in capsys.readouterr().err

    cells(EVENTS, "イベント", E2="横浜市")(inputs)
    assert cli.main(["build", "--source", str(inputs.bundle), "--warehouse", str(published)]) == 1
    err = capsys.readouterr().err
    assert "publish stopped" in err and "イベント EX-EBINA" in err
    with contextlib.redirect_stderr(io.StringIO()):
        code = cli.main(["build", "--source", str(inputs.bundle), "--warehouse", str(published), "--accept-changes"])
    out = capsys.readouterr().out
    assert code == 0
    assert f"- {EVENTS}, sheet イベント, row 2: 1 row(s) set aside" in out
    assert "accepted change: イベント EX-EBINA" in out


def test_quality_root_causes_read_an_older_quarantine_table(tmp_path):
    path = tmp_path / "old.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute(
            "create table quarantine (run_id varchar, file_name varchar, sheet varchar, row_number integer, "
            "column_name varchar, value varchar, reason varchar, check_name varchar)"
        )
        con.execute(
            "insert into quarantine values ('r', 'events.xlsx', '開催回', 5, '来場者数', 'x', 'bad', 'normalise.count'), "
            "('r', 'events.xlsx', '開催回', 5, '参加者数', 'y', 'bad', 'normalise.count')"
        )
        frame = quality.root_causes(con, "r")
    assert frame.select("root_cause", "rows_set_aside", "dependent_rows", "values_left_out").rows() == [
        ("events.xlsx, sheet 開催回, row 5", 1, 0, 0)
    ]
