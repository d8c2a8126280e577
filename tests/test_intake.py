"""データ取込: upload checks, candidate bundles, dry run, publish with archive, concurrency, rollback, the page."""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import fcntl
import hashlib
import io
import json
import os
import shutil
import signal
import stat
import subprocess
from pathlib import Path

import duckdb
import openpyxl
import polars as pl
import pytest
from streamlit.testing.v1 import AppTest

from common.roles import Viewer
from dashboard.format import MISSING
from dashboard.registry import PAGES
from etl import intake, intake_worker
from etl.sources import progress as progress_source
from etl.steps import TEXT, Step, StepEvent
from warehouse import operations as ops

APP = "../dashboard/app.py"
ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "data" / "sample"
ZAMA, AYASE = "14216", "14218"
ADMIN = Viewer("admin", None, "admin@city.example.jp")
ZAMA_MANAGER = Viewer("city_manager", ZAMA, "zama@city.example.jp")
ADMIN_2 = Viewer("admin", None, "kanri@city.example.jp")
ROLES = """
[[identity]]
id = "admin@city.example.jp"
role = "admin"

[[identity]]
id = "kanri@city.example.jp"
role = "admin"

[[identity]]
id = "zama@city.example.jp"
role = "city_manager"
city = "14216"
"""
BUILD_TIMEOUT_S = 600  # a build under a loaded CI machine (seconds)


# --- helpers -------------------------------------------------------------------------------------


def sha256(path: Path) -> str:
    """sha256 of a file."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def scalar(path: Path, sql: str, params: list | None = None):
    """First value of a query on a warehouse file (read-only)."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(sql, params or []).fetchone()[0]
    finally:
        con.close()


def rows(path: Path, sql: str, params: list | None = None) -> list[tuple]:
    """All rows of a query on a warehouse file (read-only)."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def survey_with(extra: list[str]) -> bytes:
    """data/sample/survey_answers.csv (CP932, CRLF) with one more answer row."""
    text = (SAMPLE / "survey_answers.csv").read_bytes().decode("cp932")
    out = io.StringIO(newline="")
    csv.writer(out, lineterminator="\r\n").writerows([*csv.reader(io.StringIO(text, newline="")), extra])
    return out.getvalue().encode("cp932")


def last_survey_row() -> list[str]:
    """The sample's last answer, as a template for a new one."""
    text = (SAMPLE / "survey_answers.csv").read_bytes().decode("cp932")
    return list(csv.reader(io.StringIO(text, newline="")))[-1]


@pytest.fixture(scope="module")
def unanswered(sample_warehouse) -> tuple[str, str, str]:
    """An organisation of the sample that did not answer the survey: (name, city, legal form) in Japanese."""
    return rows(
        sample_warehouse,
        "select o.name, c.name_ja, coalesce(l.name_ja, '') from organization o join city c on c.code = o.city_code "
        "left join legal_form l on l.code = o.legal_form_code where not o.survey_answered order by o.id limit 1",
    )[0]


@pytest.fixture(scope="module")
def good_survey(unanswered) -> bytes:
    """The sample survey with one extra answer, from an organisation on the list that had not answered."""
    extra = last_survey_row()
    extra[0:4] = ["2025/01/31 09:00:00", *unanswered]
    return survey_with(extra)


@pytest.fixture(scope="module")
def bad_survey() -> bytes:
    """The sample survey with one extra answer from an organisation that is not on the distribution list."""
    extra = last_survey_row()
    extra[0:2] = ["2025/01/31 09:00:00", "（サンプル）どこにもない団体"]
    return survey_with(extra)


NEW_ORG = "（サンプル）つながりテスト食堂"
NEW_ADDRESS = "神奈川県座間市相模が丘9-9-9"


@pytest.fixture(scope="module")
def changed_distribution() -> bytes:
    """The sample distribution list with one organisation added and one address changed (座間市 sheet)."""
    book = openpyxl.load_workbook(SAMPLE / "distribution_list.xlsx")
    sheet = book["座間市"]
    template = [cell.value for cell in sheet[2]]
    sheet.cell(row=2, column=5).value = NEW_ADDRESS
    sheet.append([sheet.max_row, NEW_ORG, *template[2:]])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


@pytest.fixture()
def live(sample_warehouse, tmp_path, monkeypatch) -> Path:
    """A private copy of the sample warehouse as the published one, with archive and store under tmp_path."""
    folder = tmp_path / "var"
    folder.mkdir()
    path = folder / "warehouse.duckdb"
    shutil.copyfile(sample_warehouse, path)
    monkeypatch.setenv("TSUNAGARI_WAREHOUSE", str(path))
    monkeypatch.setenv("TSUNAGARI_ARCHIVE", str(folder / "sources"))
    monkeypatch.setenv("TSUNAGARI_OPERATIONS", str(folder / "operations.sqlite"))
    monkeypatch.delenv("TSUNAGARI_REFERENCE", raising=False)
    return path


def job_for(viewer: Viewer, action: str, kind: str, data: bytes, name: str, city: str | None = None) -> Path:
    """A job directory for the current settings."""
    request = intake.new_request(
        action, viewer, operations=ops.store_path(), kind=kind, city_code=city, file_name=name, data=data
    )
    return intake.create_job(request, data, intake.jobs_dir())


def wait(process: subprocess.Popen) -> int:
    """Exit code of a worker process (bounded wait)."""
    return process.wait(timeout=BUILD_TIMEOUT_S)


# --- kinds and upload checks (nothing parsed) ----------------------------------------------------


def test_kinds_follow_the_source_modules():
    assert {code: (spec.file_names, spec.extensions, spec.city_specific) for code, spec in intake.KINDS.items()} == {
        "distribution": (("distribution_list.xlsx",), ("xlsx",), False),
        "survey": (("survey_answers.csv",), ("csv",), False),
        "mymaps": (("resource_map.kmz", "resource_map.kml"), ("kmz", "kml"), False),
        "events": (("events.xlsx",), ("xlsx",), False),
        "progress": (("pf_progress.xlsx",), ("xlsx",), True),
        "cities": (("cities.csv",), ("csv",), False),
        "targets": (("kpi_targets.csv",), ("csv",), False),
    }


XLSX_HEAD = (SAMPLE / "events.xlsx").read_bytes()[:8192]
CSV_HEAD = (SAMPLE / "survey_answers.csv").read_bytes()[:8192]
MB = 1024 * 1024


@pytest.mark.parametrize(
    ("kind", "name", "size", "head", "expected"),
    [
        ("events", "events.xlsx", 30_000, XLSX_HEAD, None),
        ("survey", "answers.CSV", 30_000, CSV_HEAD, None),
        ("survey", "answers.csv", 30_000, "団体名\r\n".encode("utf-16"), None),
        ("mymaps", "map.kml", 10, b"<?xml version='1.0'?><kml/>", None),
        ("survey", "answers.xlsx", 30_000, XLSX_HEAD, ("wrong_extension", {"extension": ".xlsx", "expected": ".csv"})),
        ("mymaps", "map", 10, b"<kml/>", ("wrong_extension", {"extension": "—", "expected": ".kmz / .kml"})),
        ("survey", "answers.csv", 0, b"", ("empty", {})),
        ("survey", "answers.csv", 25 * MB, CSV_HEAD, ("too_large", {"size_mb": "25.0", "limit_mb": "20"})),
        ("events", "events.xlsx", 900, CSV_HEAD, ("not_zip", {"extension": ".xlsx"})),
        (
            "events",
            "events.xlsx",
            900,
            bytes.fromhex("d0cf11e0a1b11ae1") + bytes(100),
            ("old_xls", {"extension": ".xlsx"}),
        ),
        ("survey", "answers.csv", 900, XLSX_HEAD, ("not_text", {"extension": ".csv"})),
        ("mymaps", "map.kml", 900, bytes(range(256)), ("not_text", {"extension": ".kml"})),
        ("nothing", "x.csv", 9, b"a", ("unknown_kind", {"kind": "nothing"})),
    ],
)
def test_check_upload(kind, name, size, head, expected):
    problem = intake.check_upload(kind, name, size, head, 20 * MB)
    assert (None if problem is None else (problem.code, problem.values)) == expected


def test_every_refusal_has_a_message():
    from dashboard.i18n import translate

    values = {"kind": "x", "extension": ".x", "expected": ".y", "size_mb": "1", "limit_mb": "2"}
    for code in (
        "unknown_kind",
        "wrong_extension",
        "empty",
        "too_large",
        "not_zip",
        "old_xls",
        "not_text",
        "permission",
    ):
        assert translate("ja", f"intake.refused.{code}", **values)
        assert translate("en", f"intake.refused.{code}", **values)


def test_upload_limit_is_configurable(monkeypatch):
    monkeypatch.delenv(intake.MAX_UPLOAD_ENV, raising=False)
    assert intake.max_upload_bytes() == 20 * MB
    monkeypatch.setenv(intake.MAX_UPLOAD_ENV, "0.5")
    assert intake.max_upload_bytes() == MB // 2


def test_who_may_send_what():
    intake.authorise("admin", None, "survey", None)
    intake.authorise("admin", None, "progress", None)
    intake.authorise("city_manager", ZAMA, "progress", ZAMA)
    intake.authorise("admin", None, "events", None)
    for role, own, kind, city in [
        ("analyst", None, "survey", None),
        ("public", None, "survey", None),
        ("city_manager", ZAMA, "progress", AYASE),
        ("city_manager", ZAMA, "progress", None),
        # Four-city files rewrite every city's organisations and contact persons: admins only.
        *[("city_manager", ZAMA, kind, None) for kind in intake.KINDS if not intake.KINDS[kind].city_specific],
    ]:
        with pytest.raises(PermissionError):
            intake.authorise(role, own, kind, city)
    with pytest.raises(ValueError, match="joint file"):
        intake.authorise("admin", None, "survey", ZAMA)
    assert [intake.may_roll_back(v) for v in (ADMIN, ZAMA_MANAGER, Viewer("analyst"))] == [True, False, False]


def test_paths_follow_the_settings(tmp_path, monkeypatch):
    monkeypatch.setenv("TSUNAGARI_WAREHOUSE", str(tmp_path / "w" / "warehouse.duckdb"))
    monkeypatch.delenv("TSUNAGARI_ARCHIVE", raising=False)
    assert intake.archive_root() == tmp_path / "w" / "sources"
    assert intake.warehouses_dir() == tmp_path / "w" / "warehouses"
    monkeypatch.setenv("TSUNAGARI_ARCHIVE", str(tmp_path / "a" / "sources"))
    assert (intake.archive_root(), intake.warehouses_dir()) == (
        tmp_path / "a" / "sources",
        tmp_path / "a" / "warehouses",
    )


# --- candidate bundles ---------------------------------------------------------------------------


def test_assemble_replaces_one_kind(tmp_path, good_survey):
    upload = tmp_path / "upload.csv"
    upload.write_bytes(good_survey)
    made = intake_worker.assemble(SAMPLE, "survey", upload, "csv", tmp_path / "bundle")
    assert made == intake_worker.Assembly(tmp_path / "bundle", "survey_answers.csv", False, 0)
    names = sorted(path.name for path in (tmp_path / "bundle").iterdir())
    assert names == sorted(path.name for path in SAMPLE.iterdir())
    assert sha256(tmp_path / "bundle" / "survey_answers.csv") == hashlib.sha256(good_survey).hexdigest()
    for name in names:
        if name != "survey_answers.csv":
            assert sha256(tmp_path / "bundle" / name) == sha256(SAMPLE / name)


def test_assemble_kml_replaces_the_kmz(tmp_path):
    upload = tmp_path / "upload.kml"
    upload.write_bytes(b"<kml/>")
    made = intake_worker.assemble(SAMPLE, "mymaps", upload, "kml", tmp_path / "bundle")
    assert made.file_name == "resource_map.kml"
    assert not (tmp_path / "bundle" / "resource_map.kmz").exists()


def test_city_manager_progress_replaces_only_their_city(tmp_path):
    book = openpyxl.load_workbook(SAMPLE / "pf_progress.xlsx")
    sheet = book["進捗"]
    by_city: dict[str, list[int]] = {}
    for row in range(2, sheet.max_row + 1):
        by_city.setdefault(sheet.cell(row=row, column=1).value, []).append(row)
    zama_row, ayase_row = by_city["座間市"][1], by_city["綾瀬市"][0]
    sheet.cell(row=zama_row, column=6).value = "座間市の新しい備考"
    sheet.cell(row=ayase_row, column=6).value = "綾瀬市の行は座間市の担当者からは変えられない"
    upload = tmp_path / "upload.xlsx"
    book.save(upload)
    notes = book["振り返り"]
    other_rows = sum(1 for r in range(2, sheet.max_row + 1) if sheet.cell(row=r, column=1).value != "座間市") + sum(
        1 for r in range(2, notes.max_row + 1) if notes.cell(row=r, column=1).value not in ("座間市", None)
    )

    made = intake_worker.assemble(SAMPLE, "progress", upload, "xlsx", tmp_path / "bundle", city_code=ZAMA)

    assert (made.file_name, made.merged, made.ignored_rows) == ("pf_progress.xlsx", True, other_rows)
    merged = progress_source.extract(tmp_path / "bundle" / "pf_progress.xlsx")
    original = progress_source.extract(SAMPLE / "pf_progress.xlsx")
    assert merged.height == original.height
    note = {(r["_sheet"], r["市"], r["ステップ"]): (r["備考"], r["_row"]) for r in merged.iter_rows(named=True)}
    step_of = {r: sheet.cell(row=r, column=2).value for r in (zama_row, ayase_row)}
    # The manager's row keeps its row number in the file they sent; 綾瀬市 keeps the published text.
    assert note[("進捗", "座間市", step_of[zama_row])] == ("座間市の新しい備考", zama_row)
    published = next(
        r["備考"]
        for r in original.iter_rows(named=True)
        if (r["_sheet"], r["市"], r["ステップ"]) == ("進捗", "綾瀬市", step_of[ayase_row])
    )
    assert note[("進捗", "綾瀬市", step_of[ayase_row])][0] == published
    zama_rows = sorted(r["_row"] for r in merged.iter_rows(named=True) if r["_sheet"] == "進捗" and r["市"] == "座間市")
    assert zama_rows == by_city["座間市"]


# --- progress: typed events, stored in the job, rendered from the catalogue ---------------------


def test_every_progress_message_is_in_both_catalogues_and_english_keeps_its_wording():
    import string

    from dashboard.i18n import catalogue, translate

    def placeholders(text: str) -> set[str]:
        return {name for _, name, _, _ in string.Formatter().parse(text) if name}

    event_keys = {key.removeprefix("intake.event.") for key in catalogue("en") if key.startswith("intake.event.")}
    assert event_keys == set(TEXT)
    for key, text in TEXT.items():
        event = StepEvent(Step.CLEANUP, key, file="f.csv", sheet="s", run_id="r1", counts={"pid": 7}, detail="d")
        assert translate("en", f"intake.event.{key}", **event.values()) == str(event)
        assert placeholders(catalogue("ja")[f"intake.event.{key}"]) == placeholders(text), key
    assert str(StepEvent(Step.VALIDATE)) == "validate (Great Expectations)"
    assert translate("ja", "intake.event.validate") == "検証（Great Expectations）"


def test_progress_events_are_stored_in_the_job_and_read_back_typed(tmp_path):
    report = intake_worker.Reporter(tmp_path)
    events = [
        StepEvent(Step.QUEUED, "started", detail="dry-run", counts={"pid": 42}),
        StepEvent(Step.EXTRACT, file="bundle"),
        StepEvent(Step.WARNING, detail="進捗.xlsx: 余分な列を無視しました"),
        StepEvent(Step.VALIDATE),
    ]
    for event in events:
        report(event)
    with open(tmp_path / intake.PROGRESS_LOG, "a", encoding="utf-8") as handle:
        handle.write('{"seconds": 1.0, "step": "sta')  # the worker is writing its next line
    entries = intake.read_progress(tmp_path)
    assert [entry.event for entry in entries] == events
    assert all(isinstance(entry.event.step, Step) and entry.seconds >= 0 for entry in entries)
    assert intake.current_step("dry-run", entries) == Step.VALIDATE
    assert intake.progress_fraction("dry-run", entries) == 4 / 9
    assert intake_worker._warnings(tmp_path) == ["進捗.xlsx: 余分な列を無視しました"]


# --- the worker: refused before parsing, dry run with a quarantined row, crash -------------------


def test_killed_worker_leaves_the_warehouse_untouched(live, good_survey):
    before = sha256(live)
    job = job_for(ADMIN, "dry-run", "survey", good_survey, "survey_answers.csv")
    process = intake.spawn(job)
    os.killpg(process.pid, signal.SIGKILL)
    code = wait(process)
    assert code == -signal.SIGKILL
    assert intake.job_state(job, code) == "crashed"
    assert intake.read_result(job) is None
    assert sha256(live) == before


def test_publish_lock_is_reported(live):
    assert intake.publish_running(live) is False
    with open(intake.lock_path(live), "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        assert intake.publish_running(live) is True
        fcntl.flock(handle, fcntl.LOCK_UN)
    assert intake.publish_running(live) is False


# --- jobs belong to identities; the worker asks the role file (issue 17, findings 4 and 5) ----------


@pytest.fixture()
def roles_file(tmp_path, monkeypatch) -> Path:
    """ROLES as the current role file of the worker (it inherits the environment)."""
    path = tmp_path / "roles.toml"
    path.write_text(ROLES, encoding="utf-8")
    monkeypatch.setenv("TSUNAGARI_ROLES", str(path))
    return path


def test_worker_checks_the_role_file_not_the_role_the_job_recorded(live, roles_file, changed_distribution):
    before = sha256(live)
    # The job claims admin for an identity the role file maps to a city manager.
    claimed = Viewer("admin", None, ZAMA_MANAGER.identity)
    dry = job_for(claimed, "dry-run", "distribution", changed_distribution, "配布リスト.xlsx")
    result = intake_worker.run_job(dry)
    assert result["status"] == "failed" and "four-city file" in result["error"]
    publish = intake.publish_job(dry, claimed)
    result = intake_worker.run_job(publish)
    assert result["status"] == "failed" and "four-city file" in result["error"]
    assert sha256(live) == before and not intake.archive_root().exists()
    log = ops.read_intake()
    assert log.select("action", "outcome", "submitted_by", "role").rows() == [
        ("dry_run", "failed", ZAMA_MANAGER.identity, "city_manager"),
        ("publish", "failed", ZAMA_MANAGER.identity, "city_manager"),
    ]


def test_an_identity_no_longer_in_the_role_file_cannot_run_its_job(live, roles_file, good_survey):
    dry = job_for(ADMIN, "dry-run", "survey", good_survey, "survey_answers.csv")
    roles_file.write_text("", encoding="utf-8")  # the admin was removed after starting the job
    result = intake_worker.run_job(dry)
    assert result["status"] == "failed" and "may not send files" in result["error"]


def test_only_the_owner_of_a_dry_run_may_publish_it(live, roles_file, good_survey):
    before = sha256(live)
    dry = job_for(ADMIN, "dry-run", "survey", good_survey, "survey_answers.csv")
    with pytest.raises(intake.NotOwner):
        intake.publish_job(dry, ZAMA_MANAGER)
    with pytest.raises(intake.NotOwner):
        intake.publish_job(dry, Viewer("admin"))  # signed out: no identity
    # A publish job written by hand for the admin's dry run, as another identity, is refused by the worker.
    forged = json.loads((intake.publish_job(dry, ADMIN) / intake.REQUEST).read_text(encoding="utf-8"))
    forged |= {"job_id": intake.new_job_id("publish"), "submitted_by": ADMIN_2.identity}
    job = intake.jobs_dir() / forged["job_id"]
    shutil.copytree(dry / intake.UPLOAD_DIR, job / intake.UPLOAD_DIR)
    (job / intake.REQUEST).write_text(json.dumps(forged), encoding="utf-8")
    result = intake_worker.run_job(job)
    assert result["status"] == "failed" and result["error"].startswith("NotOwner")
    # A publish that names no dry run is refused too.
    bare = job_for(ADMIN, "publish", "survey", good_survey, "survey_answers.csv")
    assert intake_worker.run_job(bare)["status"] == "failed"
    assert sha256(live) == before


def test_retention_prunes_by_count_and_age_but_never_what_is_needed(live, tmp_path, monkeypatch):
    monkeypatch.setenv(intake_worker.KEEP_WAREHOUSES_ENV, "2")
    monkeypatch.setenv(intake_worker.KEEP_DAYS_ENV, "30")
    assert intake_worker.keep_policy() == (2, 30)
    root, kept = intake.archive_root(), intake.warehouses_dir()
    published = intake_worker.latest_published(live)
    now = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
    # Five kept runs, newest first: r5 (1 day old) … r1 (200 days old); the published run is older still.
    ages = {"r5": 1, "r4": 2, "r3": 10, "r2": 100, "r1": 200}
    intake.private_dir(kept)
    for run_id, days in ages.items():
        bundle = intake.private_dir(root / f"2026{days:04d}-{run_id}")
        (bundle / intake_worker.RUN_RECORD).write_text("{}", encoding="utf-8")
        moment = (now - dt.timedelta(days=days)).timestamp()
        os.utime(bundle / intake_worker.RUN_RECORD, (moment, moment))
        (kept / f"{run_id}.duckdb").write_bytes(b"")
        record = {
            "run_id": run_id,
            "started_at": (now - dt.timedelta(days=days)).isoformat(),
            "source_dir": str(bundle),
        }
        (kept / f"{run_id}.json").write_text(json.dumps(record), encoding="utf-8")
    (kept / f"{published.run_id}.duckdb").write_bytes(b"")
    (kept / f"{published.run_id}.json").write_text(
        json.dumps(
            {
                "run_id": published.run_id,
                "started_at": "2020-01-01T00:00:00+00:00",
                "source_dir": str(published.source_dir),
            }
        ),
        encoding="utf-8",
    )
    pruned = intake_worker.prune(live, root, kept, now=now)
    # Count 2 keeps r5 and r4; r3 is young but beyond the count; the published run's copy always stays.
    assert sorted(pruned.warehouses) == ["r1", "r2", "r3"]
    assert sorted(p.stem for p in kept.glob("*.duckdb")) == sorted(["r4", "r5", published.run_id])
    # Bundles of the warehouses still kept stay; the others go (the published bundle is not in the archive).
    assert sorted(path.name.split("-")[1] for path in root.iterdir()) == ["r4", "r5"]
    assert sorted(name.split("-")[1] for name in pruned.archives) == ["r1", "r2", "r3"]


@pytest.mark.slow  # publishes (a whole-bundle rebuild) through the intake worker: make test only
def test_city_manager_dry_run_lists_only_their_own_rows(live, roles_file, tmp_path):
    """Published: an 綾瀬市 progress row with an unknown status. The 座間市 manager's file: one of theirs."""

    def with_status(path: Path, city: str, status: str) -> tuple[Path, int]:
        book = openpyxl.load_workbook(path)
        sheet = book["進捗"]
        row = next(r for r in range(2, sheet.max_row + 1) if sheet.cell(row=r, column=1).value == city)
        sheet.cell(row=row, column=3).value = status
        out = tmp_path / f"{city}.xlsx"
        book.save(out)
        return out, row

    from etl.pipeline import build

    bundle = tmp_path / "bundle"
    shutil.copytree(SAMPLE, bundle)
    ayase_file, _ = with_status(SAMPLE / "pf_progress.xlsx", "綾瀬市", "保留")
    shutil.copyfile(ayase_file, bundle / "pf_progress.xlsx")
    build(bundle, live)
    upload, zama_row = with_status(SAMPLE / "pf_progress.xlsx", "座間市", "様子見")
    data = upload.read_bytes()
    result = intake_worker.run_job(job_for(ZAMA_MANAGER, "dry-run", "progress", data, "pf_progress.xlsx", ZAMA))
    assert result["status"] == "ok", result
    assert [(q["sheet"], q["row_number"], q["value"]) for q in result["quarantine"]] == [("進捗", zama_row, "様子見")]
    assert (result["quarantine_total"], result["quarantine_hidden"]) == (1, 1)  # 綾瀬市's row is not listed
    admin = intake_worker.run_job(job_for(ADMIN, "dry-run", "progress", data, "pf_progress.xlsx", ZAMA))
    assert sorted(q["value"] for q in admin["quarantine"]) == ["保留", "様子見"]
    assert admin["quarantine_hidden"] == 0


def test_city_manager_page_offers_only_per_city_files(app):
    at = open_page(app, "zama@city.example.jp")
    assert [code for code in intake.KINDS if intake.may_send("city_manager", code)] == ["progress"]
    assert at.selectbox(key="intake_kind__ja").options == ["PF構築プロセスの進捗"]
    assert (
        "4市共通のファイル（配布リスト・地図など）は、ほかの市の団体や担当者も書き換えるため、管理者だけが送れます。"
        in [c.value for c in at.caption]
    )


# --- two publishes at once, lineage, the diff, rollback ------------------------------------------


@contextlib.contextmanager
def two_publishes(folder: Path, sample_warehouse, sample_build, good_survey, changed_distribution, together: bool):
    """Two publishes (survey by ADMIN, distribution by ADMIN_2) on a copy of the sample; the state after both landed.

    together: both worker processes started at once (one waits for the other's lock); otherwise one after the
    other, each through the worker's run_job in this process (no process start, and the second build reuses the
    first one's GX runner: ~12 CPU-s instead of ~22).
    """
    live = folder / "warehouse.duckdb"
    shutil.copyfile(sample_warehouse, live)
    saved = {
        k: os.environ.get(k)
        for k in ("TSUNAGARI_WAREHOUSE", "TSUNAGARI_ARCHIVE", "TSUNAGARI_OPERATIONS", "TSUNAGARI_ROLES")
    }
    (folder / "roles.toml").write_text(ROLES, encoding="utf-8")
    os.environ.update(
        TSUNAGARI_WAREHOUSE=str(live),
        TSUNAGARI_ARCHIVE=str(folder / "sources"),
        TSUNAGARI_OPERATIONS=str(folder / "operations.sqlite"),
        TSUNAGARI_ROLES=str(folder / "roles.toml"),
    )
    try:
        dry_runs = {
            "survey": job_for(ADMIN, "dry-run", "survey", good_survey, "回答_最新.csv"),
            "distribution": job_for(ADMIN_2, "dry-run", "distribution", changed_distribution, "配布リスト.xlsx"),
        }
        jobs = {
            "survey": intake.publish_job(dry_runs["survey"], ADMIN),
            "distribution": intake.publish_job(dry_runs["distribution"], ADMIN_2),
        }
        if together:
            processes = {kind: intake.spawn(job) for kind, job in jobs.items()}
            codes = {kind: wait(process) for kind, process in processes.items()}
        else:
            codes = {kind: 0 if intake_worker.run_job(job)["status"] == "ok" else 1 for kind, job in jobs.items()}
        yield {
            "live": live,
            "folder": folder,
            "dry_runs": dry_runs,
            "jobs": jobs,
            "codes": codes,
            "results": {kind: intake.read_result(job) for kind, job in jobs.items()},
            "progress": {kind: intake.read_progress(job) for kind, job in jobs.items()},
            "initial_run": sample_build.run_id,
            "initial_checksum": sample_build.content_checksum,
        }
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture(scope="module")
def concurrent(sample_warehouse, sample_build, tmp_path_factory, good_survey, changed_distribution):
    """Two publishes started together (survey, distribution); the state after both landed."""
    folder = tmp_path_factory.mktemp("concurrent")
    with two_publishes(folder, sample_warehouse, sample_build, good_survey, changed_distribution, True) as state:
        yield state


# The lineage, diff and rollback tests read two publishes, made one after the other and from the concurrent ones
# (which test_two_publishes_both_land_in_order checks for order and lock). Two publishes are two whole-bundle
# rebuilds (~12 CPU-s), so both are make test only; the fast tier keeps the publish job's parts (killed worker,
# retention, a new reader's snapshot) and test_masking's dry run through this page.
@pytest.fixture(
    scope="module",
    params=[pytest.param("in_turn", marks=pytest.mark.slow), pytest.param("together", marks=pytest.mark.slow)],
)
def published(request, sample_warehouse, sample_build, tmp_path_factory, good_survey, changed_distribution):
    """Two publishes (survey, distribution), in turn or together (the concurrent fixture); the state after both."""
    if request.param == "together":
        yield request.getfixturevalue("concurrent")
        return
    folder = tmp_path_factory.mktemp("in-turn")
    with two_publishes(folder, sample_warehouse, sample_build, good_survey, changed_distribution, False) as state:
        assert state["codes"] == {"survey": 0, "distribution": 0}, state["results"]
        yield state


@pytest.mark.slow  # publishes (a whole-bundle rebuild) through the intake worker: make test only
def test_two_publishes_both_land_in_order(concurrent):
    assert concurrent["codes"] == {"survey": 0, "distribution": 0}
    results, live = concurrent["results"], concurrent["live"]
    runs = rows(live, "select run_id, source_dir from etl_run order by started_at, run_id")
    assert [run_id for run_id, _ in runs] == [
        concurrent["initial_run"],
        *sorted((results["survey"]["run_id"], results["distribution"]["run_id"])),
    ]
    first, second = sorted(results.values(), key=lambda result: result["run_id"])
    # Serialised: the second was assembled from the first one's published sources.
    assert second["base_run_id"] == first["run_id"]
    assert first["base_run_id"] == concurrent["initial_run"]
    waited = [
        kind for kind, entries in concurrent["progress"].items() if any(e.event.step == Step.WAIT_LOCK for e in entries)
    ]
    assert len(waited) == 1
    # Both changes are published.
    assert scalar(live, "select count(*) from survey_response") == 64
    assert scalar(live, "select count(*) from organization") == 158
    assert scalar(live, "select count(*) from organization where name like ?", ["%つながりテスト食堂"]) == 1
    assert scalar(live, "select name from organization where address = ?", [NEW_ADDRESS]).endswith("みどり会")


def test_published_rows_trace_back_to_the_uploaded_files(published, good_survey, changed_distribution):
    live, results = published["live"], published["results"]
    uploads = {"survey": good_survey, "distribution": changed_distribution}
    for kind, result in results.items():
        archive = Path(result["archive_dir"])
        assert archive.parent == published["folder"] / "sources"
        assert archive.name.endswith("-" + hashlib.sha256(uploads[kind]).hexdigest()[:12])
        assert rows(live, "select source_dir from etl_run where run_id = ?", [result["run_id"]]) == [(str(archive),)]
        assert rows(
            live, "select sha256 from etl_source_file where run_id = ? and kind = ?", [result["run_id"], kind]
        ) == [(hashlib.sha256(uploads[kind]).hexdigest(),)]
        manifest = json.loads((archive / intake_worker.MANIFEST).read_text(encoding="utf-8"))
        assert {k: manifest[k] for k in ("kind", "sha256", "size_bytes", "merged", "base_run_id")} == {
            "kind": kind,
            "sha256": hashlib.sha256(uploads[kind]).hexdigest(),
            "size_bytes": len(uploads[kind]),
            "merged": False,
            "base_run_id": result["base_run_id"],
        }
        assert (
            json.loads((archive / intake_worker.RUN_RECORD).read_text(encoding="utf-8"))["run_id"] == result["run_id"]
        )
    submitted_by = {
        kind: json.loads((Path(result["archive_dir"]) / intake_worker.MANIFEST).read_text(encoding="utf-8"))[
            "submitted_by"
        ]
        for kind, result in results.items()
    }
    assert submitted_by == {"survey": ADMIN.identity, "distribution": ADMIN_2.identity}
    # The later run's bundle holds both uploaded files: no update was lost.
    latest = rows(live, "select run_id from etl_run order by started_at desc, run_id desc limit 1")[0][0]
    assert sorted(
        rows(
            live,
            "select kind, sha256 from etl_source_file where run_id = ? and kind in ('survey', 'distribution')",
            [latest],
        )
    ) == [
        ("distribution", hashlib.sha256(changed_distribution).hexdigest()),
        ("survey", hashlib.sha256(good_survey).hexdigest()),
    ]
    log = ops.read_intake(published["folder"] / "operations.sqlite")
    assert sorted(log.select("action", "outcome", "kind", "submitted_by", "run_id").rows()) == sorted(
        ("publish", "ok", kind, viewer.identity, results[kind]["run_id"])
        for kind, viewer in (("survey", ADMIN), ("distribution", ADMIN_2))
    )


def test_compare_names_every_change(published):
    kept = published["folder"] / "warehouses"
    diff = intake_worker.compare(kept / f"{published['initial_run']}.duckdb", published["live"])
    assert diff["organisations"]["counts"] == {"added": 1, "removed": 0, "changed": 1}
    assert [row["name"].endswith("つながりテスト食堂") for row in diff["organisations"]["added"]] == [True]
    assert [(row["field"], row["after"]) for row in diff["organisations"]["changed"]] == [("address", NEW_ADDRESS)]
    moved = {row["column"]: (row["before"], row["after"]) for row in diff["kpis"] if row["changed"]}
    assert moved == {
        "organisations_distributed": (157, 158),
        "organisations_answered": (63, 64),
        "response_rate_pct": (40.1, 40.5),  # 64 / 158
    }
    changed_files = sorted(row["kind"] for row in diff["files"] if row["changed"])
    assert changed_files == ["distribution", "survey"]
    assert diff["quarantine"] == [] and diff["unchanged"] is False


def test_the_real_publisher_is_recorded(published):
    folder = published["folder"]
    for kind, viewer in (("survey", ADMIN), ("distribution", ADMIN_2)):
        result, dry = published["results"][kind], published["dry_runs"][kind]
        manifest = json.loads((Path(result["archive_dir"]) / intake_worker.MANIFEST).read_text(encoding="utf-8"))
        assert (manifest["submitted_by"], manifest["role"], manifest["dry_run_job_id"]) == (
            viewer.identity,
            "admin",
            intake.load_request(dry).job_id,
        )
        assert (
            ops.read_intake(folder / "operations.sqlite")
            .filter(pl.col("run_id") == result["run_id"])
            .select("action", "submitted_by")
            .rows()
        ) == [("publish", viewer.identity)]
        # Archives, kept warehouses and job directories hold personal data: owner-only (issue 17, finding 10).
        archive, kept, job = Path(result["archive_dir"]), folder / "warehouses", dry.parent / result["job_id"]
        modes = {
            path: stat.S_IMODE(path.stat().st_mode)
            for path in (
                archive,
                archive.parent,
                kept,
                job,
                dry,
                dry / intake.UPLOAD_DIR,
                *kept.iterdir(),
                *archive.rglob("*"),
                *job.iterdir(),
                *(dry / intake.UPLOAD_DIR).iterdir(),
            )
        }
        wrong = {
            str(path): oct(mode)
            for path, mode in modes.items()
            if mode & 0o077 or (path.is_dir() and mode != 0o700) or (path.parent == archive and mode != 0o400)
        }
        assert not wrong
    # Only the two publishes are audited (not the dry runs), each under the identity that published it.
    audit = ops.read_audit(folder / "operations.sqlite")
    assert sorted(audit.select("identity", "role", "action", "target").rows()) == sorted(
        [
            (ADMIN.identity, "admin", "intake_publish", "upload/回答_最新.csv"),
            (ADMIN_2.identity, "admin", "intake_publish", "upload/配布リスト.xlsx"),
        ]
    )
    assert {json.loads(detail)["run_id"] for detail in audit["detail"]} == {
        result["run_id"] for result in published["results"].values()
    }


def test_rollback_to_any_earlier_run(published):
    live, folder = published["live"], published["folder"]
    first, second = sorted(result["run_id"] for result in published["results"].values())
    kept = {record["run_id"] for record in intake.kept_runs(folder / "warehouses")}
    assert kept == {published["initial_run"], first, second}

    for target in (first, published["initial_run"]):
        before = rows(live, "select run_id from etl_run order by started_at desc, run_id desc limit 1")[0][0]
        request = intake.new_request("rollback", ADMIN, operations=folder / "operations.sqlite", target_run_id=target)
        result = intake_worker.run_job(intake.create_job(request, None, folder / "intake-jobs"))
        assert (result["status"], result["from_run_id"], result["to_run_id"]) == ("ok", before, target)
        assert rows(
            live, "select run_id, content_checksum from etl_run order by started_at desc, run_id desc limit 1"
        ) == [
            (
                target,
                scalar(
                    folder / "warehouses" / f"{target}.duckdb",
                    "select content_checksum from etl_run where run_id = ?",
                    [target],
                ),
            )
        ]
    assert stat.S_IMODE(live.stat().st_mode) == 0o600, "a rolled-back warehouse stays owner-only"
    assert scalar(live, "select count(*) from survey_response") == 63
    assert (
        scalar(live, "select content_checksum from etl_run where run_id = ?", [published["initial_run"]])
        == published["initial_checksum"]
    )
    audit = ops.read_rollbacks(folder / "operations.sqlite")
    assert audit.select("outcome", "from_run_id", "to_run_id", "rolled_back_by").rows() == [
        ("ok", second, first, ADMIN.identity),
        ("ok", first, published["initial_run"], ADMIN.identity),
    ]
    logged = ops.read_audit(folder / "operations.sqlite").filter(pl.col("action") == "intake_rollback")
    assert logged.select("identity", "target").rows() == [
        (ADMIN.identity, f"upload/{first}"),
        (ADMIN.identity, f"upload/{published['initial_run']}"),
    ]
    # A city manager cannot roll back; the published file stays.
    request = intake.new_request(
        "rollback", ZAMA_MANAGER, operations=folder / "operations.sqlite", target_run_id=second
    )
    result = intake_worker.run_job(intake.create_job(request, None, folder / "intake-jobs"))
    assert result["status"] == "failed" and "may not roll back" in result["error"]
    assert rows(live, "select run_id from etl_run order by started_at desc limit 1") == [(published["initial_run"],)]


# --- the page ------------------------------------------------------------------------------------


@pytest.fixture()
def app(live, tmp_path, monkeypatch):
    """The app on a private published warehouse, with an admin and a 座間市 manager configured."""
    roles = tmp_path / "roles.toml"
    roles.write_text(ROLES, encoding="utf-8")
    monkeypatch.setenv("TSUNAGARI_ROLES", str(roles))
    monkeypatch.setenv("TSUNAGARI_LOCAL_USERS", str(tmp_path / "no-users.toml"))
    return AppTest.from_file(APP, default_timeout=60)


def open_page(app: AppTest, who: str | None) -> AppTest:
    """Sign in as who (local account) and open データ取込."""
    if who:
        app.session_state["local_user"] = who
    at = app.run()
    return at.switch_page("pages/intake.py").run()


def metrics(at: AppTest) -> dict[str, str]:
    """Metric label → value."""
    return {m.label: m.value for m in at.metric}


def test_page_is_only_for_submitters():
    spec = next(spec for spec in PAGES if spec.url_path == "upload")
    assert (spec.title, spec.script, spec.icon, PAGES[-1] == spec) == (
        "データ取込",
        "pages/intake.py",
        ":material/upload_file:",
        True,
    )
    assert [spec.allows(role) for role in ("public", "analyst", "liaison", "city_manager", "admin")] == [
        False,
        False,
        False,
        True,
        True,
    ]


def test_page_itself_refuses_other_roles(live, tmp_path, monkeypatch):
    monkeypatch.setenv("TSUNAGARI_ROLES", str(tmp_path / "no-roles.toml"))
    at = AppTest.from_file("../dashboard/pages/intake.py", default_timeout=60).run()
    assert not at.exception
    assert [i.value for i in at.info] == [
        "ファイルの取込は、管理者と市の担当者だけが行えます。担当の方はサイドバーからログインしてください。"
    ]
    assert len(at.file_uploader) == 0


def test_city_manager_sends_only_their_city(app):
    at = open_page(app, "zama@city.example.jp")
    assert not at.exception
    at.selectbox(key="intake_kind__ja").select("progress").run()
    assert "座間市の行だけが入れ替わります。ほかの市の行は公開中のままです。" in [c.value for c in at.caption]
    assert not [s for s in at.selectbox if s.key == "intake_city__ja"]
    assert [s.value for s in at.subheader] == ["1. ファイルを選ぶ", "3. 送信の記録"]  # no rollback for managers


def test_refused_upload_is_explained_and_logged(app, live):
    before = sha256(live)
    at = open_page(app, "admin@city.example.jp")
    at.selectbox(key="intake_kind__ja").select("events").run()
    at.file_uploader(key="intake_file_events").set_value(
        ("events.xlsx", "イベントID,名称\r\n".encode("cp932"), "text/csv")
    ).run()
    at.button(key="intake_dry_run").click().run()
    assert not at.exception
    assert [e.value for e in at.error] == [
        ".xlsx ファイルとして読めません（中身が Excel ブック／KMZ の形式ではありません）。保存し直してから送ってください。"
    ]
    assert "intake_job" not in at.session_state
    log = ops.read_intake()
    assert log.select("action", "outcome", "kind", "file_name", "message", "submitted_by").rows() == [
        ("refused", "refused", "events", "events.xlsx", "not_zip", "admin@city.example.jp")
    ]
    assert sha256(live) == before


# A whole-bundle dry run through the intake worker: make test only (fast: test_masking's city-manager dry run
# on this page, and test_validate's quarantine rules).
@pytest.mark.slow
def test_quarantined_row_is_shown_and_nothing_is_published(app, live, bad_survey):
    before = sha256(live)
    at = open_page(app, "admin@city.example.jp")
    at.selectbox(key="intake_kind__ja").select("survey").run()
    at.file_uploader(key="intake_file_survey").set_value(("survey_answers.csv", bad_survey, "text/csv")).run()
    at.button(key="intake_dry_run").click().run(timeout=BUILD_TIMEOUT_S)
    assert not at.exception
    assert metrics(at)["隔離される行"] == "1"
    quarantined = next(df.value for df in at.dataframe if "reason" in df.value.columns)
    assert (quarantined["sheet"] == MISSING).all()  # a CSV has no sheet (shown as —, never None)
    assert quarantined.drop(columns="sheet").to_dict("records") == [
        {
            "file_name": "survey_answers.csv",
            "row_number": 65,
            "column_name": "団体名",
            "value": "（サンプル）どこにもない団体",
            "reason": "配布リストにない団体 (not on the distribution list)",
            "check_name": "match.organization",
            "new": True,
        }
    ]
    # An admin's view of the dry run's quarantine is a view of personal data, logged once (test_masking's admin
    # case, make test only, checks the same with a personal value in the list).
    viewed = ops.read_audit().filter(pl.col("action") == "view_personal")["target"].to_list()
    assert [target.rsplit("/", 1)[1] for target in viewed] == ["dry_run_quarantine"]
    assert sha256(live) == before
    assert not intake.archive_root().exists()
    # The worker writes result.json before it exits: reaped here, its CPU is counted to this test (--cpu-times).
    wait(at.session_state["intake_proc"])


@pytest.mark.slow  # publishes (a whole-bundle rebuild) through the intake worker: make test only
def test_upload_dry_run_publish_and_roll_back(app, live, good_survey):
    initial_run = rows(live, "select run_id from etl_run")[0][0]
    at = open_page(app, "admin@city.example.jp")
    at.selectbox(key="intake_kind__ja").select("survey").run()
    at.file_uploader(key="intake_file_survey").set_value(("survey_answers.csv", good_survey, "text/csv")).run()
    at.button(key="intake_dry_run").click().run(timeout=BUILD_TIMEOUT_S)
    assert not at.exception
    assert "試験取込が終わりました（まだ公開していません）。" in [s.value for s in at.success]
    shown = metrics(at)
    assert {k: shown[k] for k in ("読み込んだ行", "取り込む行", "隔離される行", "団体（追加・変更・削除）")} == {
        "読み込んだ行": "64",
        "取り込む行": "64",
        "隔離される行": "0",
        "団体（追加・変更・削除）": "0 / 0 / 0",
    }
    assert {k: shown[k] for k in ("回答団体数", "回答率（%）")} == {"回答団体数": "64", "回答率（%）": "40.8"}
    kpis = next(df.value for df in at.dataframe if list(df.value.columns) == ["column", "before", "after", "changed"])
    assert kpis[kpis["changed"]][["column", "before", "after"]].to_dict("records") == [
        {"column": "回答団体数", "before": 63.0, "after": 64.0},
        {"column": "回答率（%）", "before": 40.1, "after": 40.8},
    ]
    assert rows(live, "select run_id from etl_run") == [(initial_run,)]  # nothing published yet

    at.button(key="intake_publish").click().run(timeout=BUILD_TIMEOUT_S)
    assert not at.exception
    run_id = rows(live, "select run_id from etl_run order by started_at desc limit 1")[0][0]
    assert run_id != initial_run
    assert next(s.value for s in at.success) == (
        f"公開しました（取込 {run_id}）。ほかのページの数値も、次に表示したときから新しいデータになります。"
    )
    home = at.switch_page("pages/home.py").run()
    assert {k: metrics(home)[k] for k in ("回答団体数", "回答率")} == {"回答団体数": "64 団体", "回答率": "40.8 %"}

    at = home.switch_page("pages/intake.py").run()
    assert at.selectbox(key="intake_rollback_run__ja").options[0].startswith(f"取込 {initial_run}")
    at.checkbox(key="intake_rollback_confirm").check().run()
    at.button(key="intake_rollback").click().run(timeout=BUILD_TIMEOUT_S)
    assert not at.exception
    assert f"取込 {run_id} から取込 {initial_run} に戻しました。" in [s.value for s in at.success]
    home = at.switch_page("pages/home.py").run()
    assert {k: metrics(home)[k] for k in ("回答団体数", "回答率")} == {"回答団体数": "63 団体", "回答率": "40.1 %"}
    log = ops.read_intake()
    assert log.select("action", "outcome", "run_id").rows() == [("dry_run", "ok", None), ("publish", "ok", run_id)]


def test_a_new_reader_sees_the_swapped_file_and_an_old_one_keeps_its_snapshot(tmp_path):
    from warehouse import query

    for name, value in (("live.duckdb", 1), ("next.duckdb", 2)):
        con = duckdb.connect(str(tmp_path / name))
        con.execute(f"create table t as select {value} as x")
        con.close()
    old = query.connect(tmp_path / "live.duckdb")
    os.replace(tmp_path / "next.duckdb", tmp_path / "live.duckdb")
    new = query.connect(tmp_path / "live.duckdb")
    # duckdb.connect(path) would hand `new` the instance `old` holds, i.e. the replaced file.
    assert (query.fetch(new, "select x from t").item(), query.fetch(old, "select x from t").item()) == (2, 1)


def half_survey() -> bytes:
    """The sample survey with only its first half of answers (the answers figure halves)."""
    text = (SAMPLE / "survey_answers.csv").read_bytes().decode("cp932")
    table = list(csv.reader(io.StringIO(text, newline="")))
    out = io.StringIO(newline="")
    csv.writer(out, lineterminator="\r\n").writerows(table[: 1 + (len(table) - 1) // 2])
    return out.getvalue().encode("cp932")


@pytest.mark.slow  # publishes (a whole-bundle rebuild) through the intake worker: make test only
def test_change_guard_is_shown_by_the_dry_run_and_publishes_only_what_was_confirmed(live, roles_file):
    before = sha256(live)
    data = half_survey()
    dry = job_for(ADMIN, "dry-run", "survey", data, "survey_answers.csv")
    checked = intake_worker.run_job(dry)
    assert checked["status"] == "ok", checked
    # The progress bar walks every step of a dry run, in order, from the worker's and the pipeline's events.
    reached = [entry.event.step for entry in intake.read_progress(dry) if entry.event.step in intake.STEPS["dry-run"]]
    assert list(dict.fromkeys(reached)) == list(intake.STEPS["dry-run"])
    subjects = {(change["key"], change["subject"]) for change in checked["changes"]}
    assert ("figure_moved", "answers:all") in subjects, subjects
    assert all(change["message_ja"] and change["message_en"] for change in checked["changes"])
    # A publish that confirms nothing stops before the swap and lists the changes it would make.
    refused = intake_worker.run_job(intake.publish_job(dry, ADMIN))
    assert refused["status"] == "failed" and {(c["key"], c["subject"]) for c in refused["changes"]} == subjects
    assert sha256(live) == before
    # Confirming a part is not enough; confirming what the dry run showed publishes.
    partial = [list(pair) for pair in sorted(subjects)[:-1]]
    assert intake_worker.run_job(intake.publish_job(dry, ADMIN, accepted_changes=partial))["status"] == "failed"
    accepted = [[change["key"], change["subject"]] for change in checked["changes"]]
    published = intake_worker.run_job(intake.publish_job(dry, ADMIN, accepted_changes=accepted))
    assert published["status"] == "ok", published
    sent = next(row for row in checked["files"] if row["file_name"] == checked["file_name"])
    assert scalar(live, "select count(*) from survey_response") == sent["rows_loaded"]


@pytest.mark.slow  # publishes (a whole-bundle rebuild) through the intake worker: make test only
def test_page_lists_the_guards_changes_and_publishes_only_once_they_are_confirmed(app, live):
    before, answers = sha256(live), scalar(live, "select count(*) from survey_response")
    at = open_page(app, "admin@city.example.jp")
    at.selectbox(key="intake_kind__ja").select("survey").run()
    at.file_uploader(key="intake_file_survey").set_value(("survey_answers.csv", half_survey(), "text/csv")).run()
    at.button(key="intake_dry_run").click().run(timeout=BUILD_TIMEOUT_S)
    assert not at.exception
    warning = next(w.value for w in at.warning if "大きく変わる点" in w.value)
    assert warning.startswith("公開中のデータから大きく変わる点が ")
    listed = "\n".join(m.value for m in at.markdown)
    assert f"4市全体のアンケート回答数が {answers} → " in listed
    assert at.button(key="intake_publish").disabled
    at.checkbox(key="intake_changes_confirm").check().run()
    assert not at.button(key="intake_publish").disabled
    assert sha256(live) == before
    at.button(key="intake_publish").click().run(timeout=BUILD_TIMEOUT_S)
    assert not at.exception
    assert any(s.value.startswith("公開しました") for s in at.success)
    assert sha256(live) != before


@pytest.mark.slow  # a second dry run through the page; test_quarantined_row_is_shown_and_nothing_is_published is the fast one
def test_dry_run_names_rows_other_files_lose_and_values_read_as_blank(app, live):
    from etl.normalise import org_name_key
    from etl.sources import mymaps, survey

    # A 座間市 organisation with a survey answer and a map pin, found in the raw files themselves.
    answered = [org_name_key(name) for name in survey.extract(SAMPLE / survey.FILE_NAME)["団体名"].to_list()]
    pinned = [org_name_key(name) for name in mymaps.extract(SAMPLE / mymaps.FILE_NAME)["name"].to_list()]
    book = openpyxl.load_workbook(SAMPLE / "distribution_list.xlsx")
    sheet = book["座間市"]
    header = [cell.value for cell in sheet[1]]
    row = next(
        row
        for row in range(2, sheet.max_row + 1)
        if (key := org_name_key(sheet.cell(row=row, column=header.index("団体名") + 1).value)) in answered
        and key in pinned
    )
    sheet.cell(row=row, column=header.index("団体名") + 1).value = None  # no name: the row is set aside
    other = row + 1 if row < sheet.max_row else row - 1
    sheet.cell(row=other, column=header.index("配布日") + 1).value = "2024-13-45"  # read as blank, the row loads
    out = io.BytesIO()
    book.save(out)

    at = open_page(app, "admin@city.example.jp")
    at.selectbox(key="intake_kind__ja").select("distribution").run()
    upload = ("distribution_list.xlsx", out.getvalue(), "application/octet-stream")
    at.file_uploader(key="intake_file_distribution").set_value(upload).run()
    at.button(key="intake_dry_run").click().run(timeout=BUILD_TIMEOUT_S)
    assert not at.exception
    assert metrics(at)["隔離される行"] == "1"  # the card is the sent file's
    lost = {survey.FILE_NAME: answered.count(key), mymaps.FILE_NAME: pinned.count(key)}
    warning = next(w.value for w in at.warning if "連動して除外" in w.value)
    assert f"ほかのファイルの {sum(lost.values())} 行" in warning
    assert all(f"{name} {n} 行" in warning for name, n in lost.items())
    assert any("1 個の値を読めなかった" in info.value for info in at.info)
    wait(at.session_state["intake_proc"])
