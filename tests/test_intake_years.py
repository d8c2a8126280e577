"""データ取込 and the change guard by 年度: a new year beside the published ones, a past year re-sent on purpose."""

from __future__ import annotations

import csv
import hashlib
import io
import shutil
from pathlib import Path

import duckdb
import pytest
from streamlit.testing.v1 import AppTest
from test_intake import rows, sha256

from common.calendar import fiscal_year_label
from common.roles import Viewer
from etl import guard, intake, intake_worker
from warehouse import operations as ops

APP = "../dashboard/app.py"
ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "data" / "sample"
R6, R7 = 2024, 2025
ADMIN = Viewer("admin", None, "admin@city.example.jp")
ZAMA_MANAGER = Viewer("city_manager", "14216", "zama@city.example.jp")
ROLES = (
    '[[identity]]\nid = "admin@city.example.jp"\nrole = "admin"\n\n'
    '[[identity]]\nid = "zama@city.example.jp"\nrole = "city_manager"\ncity = "14216"\n'
)
BUILD_TIMEOUT_S = 600


def year_facts(path: Path, year: int) -> dict[str, list[tuple]]:
    """Every main-schema year table's rows of one 年度, sorted, keyed by table (lineage of the run left out)."""
    tables = [
        name
        for (name,) in rows(
            path,
            "select table_name from information_schema.columns where table_schema = 'main' "
            "and column_name = 'fiscal_year' and table_name <> 'fiscal_year_bundle' "
            "and not starts_with(table_name, 'etl_') order by 1",
        )
    ]
    assert {"survey_response", "event", "event_session", "organization_year"} <= set(tables)
    return {name: rows(path, f'select * from "{name}" where fiscal_year = ? order by all', [year]) for name in tables}


def published_copy(warehouse: Path, folder: Path, monkeypatch, source_dir: Path | None = None) -> Path:
    """A private copy of a built warehouse as the published one, with archive, store and roles under folder.

    source_dir: the bundle its run names. A cached build names the folder of the session that built it, which
    may be gone; this session's bundle is the same bytes (the cache key is their digest).
    """
    folder.mkdir()
    path = folder / "warehouse.duckdb"
    shutil.copyfile(warehouse, path)
    if source_dir is not None:
        con = duckdb.connect(str(path))
        try:
            con.execute("update etl_run set source_dir = ?", [str(source_dir)])
        finally:
            con.close()
    (folder / "roles.toml").write_text(ROLES, encoding="utf-8")
    monkeypatch.setenv("TSUNAGARI_WAREHOUSE", str(path))
    monkeypatch.setenv("TSUNAGARI_ARCHIVE", str(folder / "sources"))
    monkeypatch.setenv("TSUNAGARI_OPERATIONS", str(folder / "operations.sqlite"))
    monkeypatch.setenv("TSUNAGARI_ROLES", str(folder / "roles.toml"))
    monkeypatch.delenv("TSUNAGARI_REFERENCE", raising=False)
    monkeypatch.delenv("TSUNAGARI_FISCAL_YEAR", raising=False)
    return path


def job(kind: str, data: bytes, name: str, year: int | None, confirmed: bool = False) -> Path:
    """A dry-run job of the admin for the current settings, for one 年度."""
    request = intake.new_request(
        "dry-run",
        ADMIN,
        operations=ops.store_path(),
        kind=kind,
        file_name=name,
        data=data,
        fiscal_year=year,
        past_year_confirmed=confirmed,
    )
    return intake.create_job(request, data, intake.jobs_dir())


def thinned_survey(path: Path) -> tuple[bytes, int]:
    """A survey CSV (CP932) keeping only its first quarter of answers, and the answers kept."""
    text = path.read_bytes().decode("cp932")
    table = list(csv.reader(io.StringIO(text, newline="")))
    kept = (len(table) - 1) // 4
    out = io.StringIO(newline="")
    csv.writer(out, lineterminator="\r\n").writerows(table[: 1 + kept])
    return out.getvalue().encode("cp932"), kept


# --- which years a submission may go to ----------------------------------------------------------


def test_year_choices_and_checks():
    assert intake.year_choices([]) == []
    assert [(c.fiscal_year, c.status) for c in intake.year_choices([R6, R7])] == [
        (R7, "latest"),
        (R7 + 1, "new"),
        (R6, "past"),
    ]
    for year in (None, R7, R7 + 1):
        intake.check_year(year, [R6, R7], False)
    intake.check_year(R6, [R6, R7], True)
    with pytest.raises(intake.YearRefused, match=r"R6年度 は公開済みの過去の年度です.*FY2024 is a published past year"):
        intake.check_year(R6, [R6, R7], False)
    with pytest.raises(intake.YearRefused, match="FY2027 is neither a published year nor the next one"):
        intake.check_year(R7 + 2, [R6, R7], True)
    # A new year carries the four-city files forward: a city manager sends to the published years only.
    assert [c.status for c in intake.year_choices([R6, R7], "city_manager")] == ["latest", "past"]
    with pytest.raises(intake.YearRefused, match="only an admin may start FY2026 as a new year"):
        intake.check_year(R7 + 1, [R6, R7], False, "city_manager")
    intake.check_year(R7, [R6, R7], False, "city_manager")


# --- the candidate bundle by year (files only, nothing built) ------------------------------------


def test_a_new_year_lands_in_its_folder_and_a_flat_year_moves_unchanged_into_its_own(tmp_path, years_bundle):
    upload = years_bundle[0] / "R7" / "events.xlsx"
    made = intake_worker.assemble(
        SAMPLE, "events", upload, "xlsx", tmp_path / "bundle", fiscal_year=R7, layout=[(R6, None)]
    )
    assert (made.directory, made.file_name, made.fiscal_year, made.new_year) == (
        tmp_path / "bundle",
        "R7/events.xlsx",
        R7,
        True,
    )
    sources = sorted(path.name for path in SAMPLE.iterdir() if path.is_file())
    # The published flat year, byte for byte, in its folder; the new year's other files carried forward from it.
    assert {name: sha256(tmp_path / "bundle" / "R6" / name) for name in sources} == {
        name: sha256(SAMPLE / name) for name in sources
    }
    assert sha256(tmp_path / "bundle" / made.file_name) == sha256(upload)
    assert list(made.carried_forward) == [f"R7/{name}" for name in sources if name != "events.xlsx"]
    for name in made.carried_forward:
        assert sha256(tmp_path / "bundle" / name) == sha256(SAMPLE / Path(name).name)
    assert sorted(path.name for path in (tmp_path / "bundle").iterdir()) == ["R6", "R7"]


def test_a_past_year_is_replaced_in_its_folder_and_the_other_years_are_carried_over(tmp_path, years_bundle):
    base = years_bundle[0]
    upload = tmp_path / "survey.csv"
    upload.write_bytes(thinned_survey(base / "R6" / "survey_answers.csv")[0])
    made = intake_worker.assemble(
        base, "survey", upload, "csv", tmp_path / "bundle", fiscal_year=R6, layout=[(R6, "R6"), (R7, "R7")]
    )
    assert (made.file_name, made.fiscal_year, made.new_year, made.carried_forward) == (
        "R6/survey_answers.csv",
        R6,
        False,
        (),
    )
    for folder in ("R6", "R7"):
        for path in (base / folder).iterdir():
            expected = sha256(upload) if (folder, path.name) == ("R6", "survey_answers.csv") else sha256(path)
            assert sha256(tmp_path / "bundle" / folder / path.name) == expected, (folder, path.name)


# --- the change guard per year (real warehouses) -------------------------------------------------


def test_the_guard_lets_a_new_year_pass_and_names_a_year_that_goes(sample_warehouse, years_warehouse):
    r6_only, both = guard.read_figures(sample_warehouse), guard.read_figures(years_warehouse)
    assert list(r6_only.years) == [R6] and list(both.years) == [R6, R7]
    # R7 beside the published R6 (the same R6 files, now in R6/): nothing to confirm, no file changed.
    assert guard.compare(r6_only, both) == []
    assert guard.changed_files(r6_only, both) == sorted(both.years[R7].files)
    # The other way round the whole of R7 disappears: one change, naming the year.
    [gone] = guard.compare(both, r6_only)
    assert (gone.key, gone.subject) == ("year_gone", str(R7))
    assert gone.message_ja.startswith("R7年度") and gone.message_en.startswith("FY2025")


# --- new year and past year through the worker (real builds) -------------------------------------


@pytest.mark.slow  # two whole-bundle builds (dry run, publish) through the intake worker
def test_a_new_year_is_published_beside_the_published_one_which_stays_as_it_was(
    sample_warehouse, years_bundle, years_warehouse, tmp_path, monkeypatch
):
    live = published_copy(sample_warehouse, tmp_path / "var", monkeypatch)
    before = year_facts(live, R6)
    upload = (years_bundle[0] / "R7" / "events.xlsx").read_bytes()
    dry = job("events", upload, "events.xlsx", R7)
    checked = intake_worker.run_job(dry)
    assert checked["status"] == "ok", checked.get("error")
    assert (checked["fiscal_year"], checked["new_year"], checked["file_name"]) == (R7, True, "R7/events.xlsx")
    assert checked["changes"] == []  # a new year is no large removal of the published one
    assert len(checked["carried_forward"]) == len([p for p in SAMPLE.iterdir() if p.is_file()]) - 1
    sent = next(row for row in checked["files"] if row["file_name"] == checked["file_name"])
    assert (sent["fiscal_year"], sent["before_rows_read"]) == (R7, None)
    # R6's files match the published ones, year to year: none of them changed.
    assert {row["file_name"]: row["changed"] for row in checked["files"] if row["fiscal_year"] == R6} == {
        f"R6/{path.name}": False for path in SAMPLE.iterdir() if path.is_file()
    }

    published = intake_worker.run_job(intake.publish_job(dry, ADMIN))
    assert published["status"] == "ok", published
    assert rows(live, "select fiscal_year, source_folder, is_latest from fiscal_year_bundle order by 1") == [
        (R6, "R6", False),
        (R7, "R7", True),
    ]
    assert year_facts(live, R6) == before
    # R7's events are those of the R7 file as the two-year build reads it.
    r7_events = "select id, title from event where fiscal_year = ? order by id"
    assert rows(live, r7_events, [R7]) == rows(years_warehouse, r7_events, [R7])
    archive = Path(published["archive_dir"])
    assert sha256(archive / "R7" / "events.xlsx") == hashlib.sha256(upload).hexdigest()
    assert rows(live, "select source_dir from etl_run order by started_at desc limit 1") == [(str(archive),)]


@pytest.mark.slow  # one two-year build (the confirmed dry run) through the intake worker
def test_a_past_year_is_re_sent_only_when_confirmed_and_the_guard_names_its_loss(
    years_bundle, years_warehouse, tmp_path, monkeypatch
):
    live = published_copy(years_warehouse, tmp_path / "var", monkeypatch, years_bundle[0])
    before = sha256(live)
    data, kept = thinned_survey(years_bundle[0] / "R6" / "survey_answers.csv")
    refused = intake_worker.run_job(job("survey", data, "survey_answers.csv", R6))
    assert refused["status"] == "failed"
    assert "R6年度 は公開済みの過去の年度です" in refused["error"] and "explicit confirmation" in refused["error"]
    assert ops.read_intake().select("action", "outcome").rows() == [("dry_run", "failed")]

    checked = intake_worker.run_job(job("survey", data, "survey_answers.csv", R6, confirmed=True))
    assert checked["status"] == "ok", checked.get("error")
    assert (checked["fiscal_year"], checked["new_year"], checked["file_name"]) == (R6, False, "R6/survey_answers.csv")
    changed = {row["file_name"] for row in checked["files"] if row["changed"]}
    assert changed == {"R6/survey_answers.csv"}
    sent = next(row for row in checked["files"] if row["file_name"] == checked["file_name"])
    published_answers = rows(live, "select count(*) from survey_response where fiscal_year = ?", [R6])[0][0]
    assert (sent["rows_read"], sent["before_rows_read"]) == (kept, published_answers)
    # The guard names R6's loss, with its year, and nothing of R7.
    subjects = {change["subject"]: change for change in checked["changes"]}
    assert f"{R6}/answers:all" in subjects, subjects
    assert not [subject for subject in subjects if not subject.startswith(f"{R6}/")]
    loss = subjects[f"{R6}/answers:all"]
    assert (loss["before"], loss["after"]) == (published_answers, sent["rows_loaded"])
    assert loss["message_ja"].startswith(f"{fiscal_year_label(R6)} 4市全体のアンケート回答数が {published_answers} → ")
    assert loss["message_en"].startswith("FY2024: survey answers of the four cities")
    assert sha256(live) == before  # a dry run publishes nothing


# --- the page's year choice ----------------------------------------------------------------------


def open_intake(warehouse: Path, tmp_path: Path, monkeypatch, lang: str = "ja", who: Viewer = ADMIN) -> AppTest:
    """The データ取込 page on a private copy of warehouse, signed in as who (default the admin)."""
    published_copy(warehouse, tmp_path / "var", monkeypatch)
    monkeypatch.setenv("TSUNAGARI_LOCAL_USERS", str(tmp_path / "no-users.toml"))
    app = AppTest.from_file(APP, default_timeout=60)
    app.session_state["local_user"] = who.identity
    if lang != "ja":
        app.query_params["lang"] = lang
    at = app.run()
    return at.switch_page("pages/intake.py").run()


def test_the_page_offers_the_latest_year_first_then_a_new_year(sample_warehouse, tmp_path, monkeypatch):
    at = open_intake(sample_warehouse, tmp_path, monkeypatch)
    assert not at.exception
    year = at.selectbox(key="intake_year__ja")
    assert (year.label, year.value, year.options) == (
        "年度",
        R6,
        ["R6年度（2024年度）公開中の最新の年度に送る", "R7年度（2025年度）新しい年度として送る"],
    )
    at = year.select(R7).run()
    assert any(c.value.startswith("R7年度を新しい年度として始めます。") for c in at.caption)
    assert not [c for c in at.checkbox if c.key == "intake_year_confirm"]


def test_a_past_year_needs_its_confirmation_on_the_page(years_warehouse, tmp_path, monkeypatch):
    at = open_intake(years_warehouse, tmp_path, monkeypatch)
    assert not at.exception
    assert at.selectbox(key="intake_year__ja").value == R7
    assert at.selectbox(key="intake_year__ja").options[2] == "R6年度（2024年度）公開済みの過去の年度を出し直す"
    at.selectbox(key="intake_kind__ja").select("survey").run()
    at.file_uploader(key="intake_file_survey").set_value(
        ("survey_answers.csv", (SAMPLE / "survey_answers.csv").read_bytes(), "text/csv")
    ).run()
    assert not at.button(key="intake_dry_run").disabled  # the latest year: as before years
    at = at.selectbox(key="intake_year__ja").select(R6).run()
    assert any(w.value.startswith("R6年度は公開済みの過去の年度です。") for w in at.warning)
    assert at.button(key="intake_dry_run").disabled
    at = at.checkbox(key="intake_year_confirm").check().run()
    assert at.checkbox(key="intake_year_confirm").label == "R6年度を出し直すことを確認しました"
    assert not at.button(key="intake_dry_run").disabled


def test_the_year_choice_in_english(years_warehouse, tmp_path, monkeypatch):
    at = open_intake(years_warehouse, tmp_path, monkeypatch, lang="en")
    assert not at.exception
    year = at.selectbox(key="intake_year__en")
    assert (year.label, year.options) == (
        "Fiscal year",
        [
            "FY2025 (R7): the latest published year",
            "FY2026 (R8): send as a new year",
            "FY2024 (R6): re-send a published past year",
        ],
    )


def test_a_city_manager_is_not_offered_a_new_year(years_warehouse, tmp_path, monkeypatch):
    at = open_intake(years_warehouse, tmp_path, monkeypatch, who=ZAMA_MANAGER)
    assert not at.exception
    assert at.selectbox(key="intake_year__ja").options == [
        "R7年度（2025年度）公開中の最新の年度に送る",
        "R6年度（2024年度）公開済みの過去の年度を出し直す",
    ]
