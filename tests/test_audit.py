"""The audit log: append-only rows in the operational store, written by every download button, by progress
updates and notes (in their own transaction), by sign-ins, failed sign-ins and sign-outs, and by views of
personal data; shown to admins on データ品質."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
import shutil
import sqlite3
import tomllib
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from common.roles import Viewer
from dashboard import roles
from warehouse import operations as ops

APP = "../dashboard/app.py"
SAMPLE = Path(__file__).resolve().parent.parent / "data" / "sample"
ZAMA = ops.Manager("座間市地域福祉課", "14216")
NOW = dt.datetime(2025, 4, 10, 1, 0, tzinfo=dt.UTC)  # 10:00 in Japan
ANALYST = Viewer("analyst", None, "ana@example.jp")


def rows(path) -> list[tuple]:
    """The audit log without its timestamps: (event_id, identity, role, city_code, action, target, detail)."""
    frame = ops.read_audit(path)
    return [
        (r["event_id"], r["identity"], r["role"], r["city_code"], r["action"], r["target"], json.loads(r["detail"]))
        for r in frame.to_dicts()
    ]


# --- the store -----------------------------------------------------------------------------------


def test_record_and_read_the_audit_log(tmp_path):
    path = tmp_path / "operations.sqlite"
    assert ops.read_audit(path).is_empty()
    first = ops.record_audit(ANALYST, "download", "activities/x.csv", {"rows": 3, "what": "x"}, path=path, now=NOW)
    second = ops.record_audit(Viewer(), "export", "data/tsunagari_hsds_3.1.zip", path=path, now=NOW)
    assert (first, second) == (1, 2)
    frame = ops.read_audit(path)
    assert frame.schema == ops.AUDIT_COLUMNS
    assert frame["at"].to_list() == [NOW, NOW]
    assert rows(path) == [
        (1, "ana@example.jp", "analyst", None, "download", "activities/x.csv", {"rows": 3, "what": "x"}),
        (2, None, "public", None, "export", "data/tsunagari_hsds_3.1.zip", {}),
    ]


def assert_append_only(path) -> None:
    """The audit table refuses updates, deletes, reused ids and unknown actions (triggers, CHECK, writer)."""
    con = sqlite3.connect(path)
    try:
        for statement, message in (
            ("update audit_event set role = 'admin'", "append-only: updates are not allowed"),
            ("delete from audit_event", "append-only: deletes are not allowed"),
            (
                "insert or replace into audit_event (event_id, at, role, action, target, detail) "
                "values (1, 'x', 'admin', 'download', 't', '{}')",
                "append-only: event ids are never reused",
            ),
            (
                "insert into audit_event (at, role, action, target, detail) values ('x', 'admin', 'erase', 't', '{}')",
                "CHECK constraint failed",
            ),
        ):
            with pytest.raises(sqlite3.DatabaseError, match=message):
                con.execute(statement)
    finally:
        con.close()
    with pytest.raises(ValueError, match="unknown audit action"):
        ops.record_audit(ANALYST, "erase", "x", path=path)


def test_the_audit_log_is_append_only(tmp_path):
    path = tmp_path / "operations.sqlite"
    ops.record_audit(ANALYST, "download", "activities/x.csv", {"rows": 3}, path=path, now=NOW)
    assert_append_only(path)
    assert len(rows(path)) == 1


# The audit table as stores made before sign-outs, failed sign-ins and views of personal data were audited.
OLD_AUDIT_TABLE = """
    create table audit_event (
        event_id integer primary key autoincrement,
        at text not null,
        identity text,
        role text not null,
        city_code text,
        action text not null check (action in ('download', 'export', 'progress_update', 'note', 'sign_in')),
        target text not null check (length(target) > 0),
        detail text not null check (json_valid(detail))
    ) strict
"""


def test_an_older_audit_table_takes_the_new_actions_and_keeps_its_rows(tmp_path):
    path = tmp_path / "operations.sqlite"
    con = sqlite3.connect(path)
    con.execute(OLD_AUDIT_TABLE)
    for statement in ops.store.append_only_triggers("audit_event"):
        con.execute(statement)
    con.execute(
        "insert into audit_event (at, identity, role, action, target, detail) "
        "values ('2025-04-10T01:00:00.000000Z', 'ana@example.jp', 'analyst', 'download', 'activities/x.csv', '{}')"
    )
    con.commit()
    con.close()
    # Writers refuse the old store until the migration at start has brought it to this release's schema.
    with pytest.raises(ops.StoreVersionError, match="migrate"):
        ops.record_audit(ANALYST, "sign_out", "local", path=path, now=NOW)
    migrated = ops.migrate(path, now=NOW)
    assert (migrated.from_version, migrated.to_version) == (0, ops.schema_version())
    assert migrated.backup is not None and [
        r[0] for r in sqlite3.connect(migrated.backup).execute("select event_id from audit_event")
    ] == [1], "the backup holds the store as it was"
    for action in ("sign_out", "sign_in_failed", "view_personal"):
        ops.record_audit(ANALYST, action, "local", {"method": "local"}, path=path, now=NOW)
    assert [(r[0], r[4]) for r in rows(path)] == [
        (1, "download"),
        (2, "sign_out"),
        (3, "sign_in_failed"),
        (4, "view_personal"),
    ]
    con = sqlite3.connect(path)
    try:
        tables = {name for (name,) in con.execute("select name from sqlite_master where type = 'table'")}
        assert "audit_event_old" not in tables
        with pytest.raises(sqlite3.DatabaseError, match="append-only: deletes are not allowed"):
            con.execute("delete from audit_event")
        with pytest.raises(sqlite3.DatabaseError, match="append-only: event ids are never reused"):
            con.execute(
                "insert into audit_event (event_id, at, role, action, target, detail) "
                "values (1, 'x', 'admin', 'download', 't', '{}')"
            )
    finally:
        con.close()
    # The rebuild happens once: the table is now the current one.
    assert ops.migrate(path, now=NOW).backup is None
    ops.record_audit(ANALYST, "download", "activities/y.csv", path=path, now=NOW)
    assert [r[0] for r in rows(path)] == [1, 2, 3, 4, 5]


def test_a_progress_update_is_audited_in_its_transaction(tmp_path):
    path = tmp_path / "operations.sqlite"
    manager = Viewer("city_manager", "14216", "zama@city.example.jp")
    update = ops.ProgressUpdate("14216", "s4_2", "in_progress", "R6年度2月")
    event_id = ops.record_progress_event(update, ZAMA, path=path, now=NOW, viewer=manager)
    note_id = ops.record_note_event(
        ops.NoteUpdate("14216", dt.date(2025, 4, 1), "issue", "人手不足"), ZAMA, path=path, now=NOW, viewer=manager
    )
    # Without a signed-in viewer (the configured manager on a public session) the manager's name is the identity.
    ops.record_progress_event(update, ZAMA, path=path, now=NOW, viewer=Viewer())
    assert rows(path) == [
        (
            1, "zama@city.example.jp", "city_manager", "14216", "progress_update", f"platform/progress_event/{event_id}",
            {"city_code": "14216", "event_id": 1, "manager": "座間市地域福祉課", "previous_status_code": None,
             "status_code": "in_progress", "step_code": "s4_2"},
        ),
        (
            2, "zama@city.example.jp", "city_manager", "14216", "note", f"platform/note_event/{note_id}",
            {"city_code": "14216", "event_id": 1, "kind": "issue", "manager": "座間市地域福祉課"},
        ),
        (
            3, "座間市地域福祉課", "public", None, "progress_update", "platform/progress_event/2",
            {"city_code": "14216", "event_id": 2, "manager": "座間市地域福祉課", "previous_status_code": "in_progress",
             "status_code": "in_progress", "step_code": "s4_2"},
        ),
    ]  # fmt: skip


def test_no_progress_event_without_its_audit_row(tmp_path, monkeypatch):
    path = tmp_path / "operations.sqlite"
    update = ops.ProgressUpdate("14216", "s4_2", "in_progress", "R6年度2月")

    def failing(*args, **kwargs):
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(ops.progress, "append_audit", failing)
    with pytest.raises(sqlite3.OperationalError):
        ops.record_progress_event(update, ZAMA, path=path, now=NOW)
    with pytest.raises(sqlite3.OperationalError):
        ops.record_note_event(ops.NoteUpdate("14216", dt.date(2025, 4, 1), "issue", "x"), ZAMA, path=path, now=NOW)
    assert ops.read_progress_events(path).is_empty()
    assert ops.read_note_events(path).is_empty()
    monkeypatch.undo()
    with pytest.raises(ops.ValidationError):
        ops.record_progress_event(ops.ProgressUpdate("14216", "s4_2", "done"), ZAMA, path=path, now=NOW)
    assert ops.read_audit(path).is_empty(), "a refused update writes no audit row"


# --- the app (AppTest) ---------------------------------------------------------------------------


@pytest.fixture()
def store(tmp_path):
    """Path of this test's operational store."""
    return tmp_path / "operations.sqlite"


@pytest.fixture()
def app(sample_warehouse, store, monkeypatch):
    """The app over the sample warehouse with an empty operational store."""
    monkeypatch.setenv("TSUNAGARI_WAREHOUSE", str(sample_warehouse))
    monkeypatch.setenv("TSUNAGARI_OPERATIONS", str(store))
    monkeypatch.delenv("TSUNAGARI_MANAGER", raising=False)
    return AppTest.from_file(APP, default_timeout=60)


def button(at: AppTest, label: str):
    """The download button with this label."""
    found = [b for b in at.get("download_button") if b.proto.label == label]
    assert len(found) == 1, [b.proto.label for b in at.get("download_button")]
    return found[0]


def test_a_download_click_is_audited(app, sign_in, store):
    at = sign_in(app, "liaison").run()
    at.switch_page("pages/activity.py").run()
    at.multiselect(key="filter_legal_form__ja").set_value(["npo"]).run()
    # A liaison sees the follow-up list's contacts: those views are audited, a rendered button is not a download.
    before = rows(store)
    assert before and {r[4] for r in before} == {"view_personal"}, "rendering a download button is not a download"
    follow_up = at.get("download_button")[-1]
    assert follow_up.key == "activity_download_non_respondents"
    follow_up.click().run()
    assert not at.exception
    shown = len(at.dataframe[-1].value)
    assert [r[1:] for r in rows(store) if r[4] == "download"] == [
        (
            "tester", "liaison", None, "download", "activities/tsunagari_non_respondents.csv",
            {"city": None, "file_name": "tsunagari_non_respondents.csv", "filters": {"legal_form": ["npo"], "pf_intent": []},
             "lang": "ja", "rows": shown, "what": "non_respondents"},
        )
    ]  # fmt: skip


def test_a_deferred_export_click_is_audited(app, sign_in, store, sample_con):
    at = sign_in(app, "liaison").run()
    at.switch_page("pages/explore.py").run()
    at.get("download_button")[0].click().run()
    button(at, "HSDS 3.1 データパッケージ（zip）").click().run()
    assert not at.exception
    organisations = sample_con.execute("select count(*) from organization").fetchone()[0]
    assert [(r[1], r[2], r[4], r[5]) for r in rows(store)] == [
        ("tester", "liaison", "download", "data/organization.csv"),
        ("tester", "liaison", "export", "data/tsunagari_hsds_3.1.zip"),
    ]
    csv_detail, hsds_detail = (r[6] for r in rows(store))
    assert csv_detail["rows"] == organisations and csv_detail["what"] == "organization"
    assert csv_detail["filters"]["dataset"] == "organization" and csv_detail["filters"]["filters"] == {}
    assert hsds_detail["what"] == "hsds_3.1" and hsds_detail["rows"] is None


def test_a_signed_in_city_manager_updates_progress_and_is_audited(app, sign_in, store):
    at = sign_in(app, "city_manager", "14216").run()
    at.switch_page("pages/progress.py").run()
    assert any("tester（座間市）として更新します" in c.value for c in at.caption)
    at.selectbox(key="pf_step__ja").select("s4_2").run()
    at.selectbox(key="pf_status_s4_2__ja").select("done")
    at.text_input(key="pf_end_s4_2").input("R7年度3月")
    at.button(key="pf_submit_s4_2").click().run()
    assert not at.exception
    assert ops.read_progress_events(store)["changed_by"].to_list() == ["tester"]
    assert [(r[1], r[2], r[3], r[4], r[5]) for r in rows(store)] == [
        ("tester", "city_manager", "14216", "progress_update", "platform/progress_event/1")
    ]


def test_only_admins_see_the_audit_log(app, sign_in, store):
    ops.record_audit(ANALYST, "download", "activities/tsunagari_non_respondents.csv", {"rows": 94}, path=store)
    at = sign_in(app, "analyst").run()
    at.switch_page("pages/quality.py").run()
    assert not at.exception
    assert "監査ログ（管理者のみ）" not in [s.value for s in at.subheader]
    assert "tsunagari_audit_log.csv" not in [b.proto.label for b in at.get("download_button")]

    admin = sign_in(AppTest.from_file(APP, default_timeout=60), "admin").run()
    admin.switch_page("pages/quality.py").run()
    assert not admin.exception
    assert "監査ログ（管理者のみ）" in [s.value for s in admin.subheader]
    log = admin.dataframe[-1].value
    assert list(log["target"]) == ["activities/tsunagari_non_respondents.csv"]
    assert list(log["identity"]) == ["ana@example.jp"]
    admin.get("download_button")[-1].click().run()
    assert [(r[1], r[2], r[4], r[5]) for r in rows(store)][-1] == (
        "tester",
        "admin",
        "download",
        "data-quality/tsunagari_audit_log.csv",
    )


def test_a_local_sign_in_its_failures_and_the_sign_out_are_audited(app, store, tmp_path, monkeypatch):
    roles_file = tmp_path / "roles.toml"
    roles_file.write_text('[[identity]]\nid = "zama"\nrole = "city_manager"\ncity = "14216"\n', encoding="utf-8")
    users = tmp_path / "users.toml"
    users.write_text(f'[users.zama]\npassword_hash = "{roles.hash_password("pw-つながり")}"\n', encoding="utf-8")
    monkeypatch.setenv("TSUNAGARI_ROLES", str(roles_file))
    monkeypatch.setenv("TSUNAGARI_LOCAL_USERS", str(users))
    at = app.run()
    at.sidebar.text_input(key="local_sign_in_user").input("zama")
    at.sidebar.text_input(key="local_sign_in_password").input("wrong")
    at.sidebar.button[0].click().run()
    at.sidebar.text_input(key="local_sign_in_user").input("zama")
    at.sidebar.text_input(key="local_sign_in_password").input("pw-つながり")
    at.sidebar.button[0].click().run()
    assert not at.exception
    failed = {"method": "local", "reason": "wrong_password", "client": "local", "known_user": True}
    assert rows(store) == [
        (1, "zama", "public", None, "sign_in_failed", "local", failed),
        (2, "zama", "city_manager", "14216", "sign_in", "local", {"method": "local", "client": "local"}),
    ]
    at.sidebar.button(key="sign_out").click().run()
    assert not at.exception
    assert rows(store)[2:] == [(3, "zama", "city_manager", "14216", "sign_out", "local", {"method": "local"})]


def test_every_page_downloads_through_the_audited_button():
    pages = sorted((Path(__file__).resolve().parent.parent / "dashboard" / "pages").glob("*.py"))
    assert len(pages) >= 9
    direct = [page.name for page in pages if re.search(r"\.download_button\(", page.read_text(encoding="utf-8"))]
    assert direct == [], "use dashboard.downloads.download_button (it writes the audit row)"


def test_intake_publishes_and_rollbacks_are_audited_between_other_rows(tmp_path):
    path = tmp_path / "operations.sqlite"
    ops.record_audit(ANALYST, "download", "activities/x.csv", {"rows": 3}, path=path, now=NOW)
    admin = Viewer("admin", None, "admin@city.example.jp")
    ops.record_audit(admin, "intake_publish", "upload/survey.csv", {"run_id": "r2"}, path=path, now=NOW)
    ops.record_audit(admin, "intake_rollback", "upload/r1", {"run_id": "r1"}, path=path, now=NOW)
    ops.record_audit(ANALYST, "download", "activities/y.csv", {"rows": 1}, path=path, now=NOW)
    log = ops.read_audit(path)
    assert log.select("event_id", "identity", "action", "target").rows() == [
        (1, ANALYST.identity, "download", "activities/x.csv"),
        (2, "admin@city.example.jp", "intake_publish", "upload/survey.csv"),
        (3, "admin@city.example.jp", "intake_rollback", "upload/r1"),
        (4, ANALYST.identity, "download", "activities/y.csv"),
    ]
    assert_append_only(path)


# --- views of personal data, and no unaudited exit (issue 17, finding 7) ---------------------------


@pytest.fixture(scope="module")
def quarantining_warehouse(tmp_path_factory, build_once) -> Path:
    """The sample with one respondent's e-mail that is not an address: a quarantined personal value."""
    root = tmp_path_factory.mktemp("quarantine")
    bundle = root / "bundle"
    shutil.copytree(SAMPLE, bundle)
    answers = bundle / "survey_answers.csv"
    table = list(csv.reader(io.StringIO(answers.read_bytes().decode("cp932"))))
    table[1][table[0].index("ご連絡先メールアドレス")] = "someone-at-example"
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(table)
    answers.write_bytes(out.getvalue().encode("cp932"))
    path = root / "warehouse.duckdb"
    build_once(bundle, path)
    return path


@pytest.mark.parametrize(
    ("page", "what", "allowed", "refused"),
    [
        # 活動分布's follow-up list: contact persons for the roles that may see them.
        (
            "pages/activity.py",
            "non_respondent_contacts",
            [("city_manager", "14216"), ("liaison", None), ("admin", None)],
            [("public", None), ("analyst", None)],
        ),
        # データ品質's quarantined values are unmasked for admins only.
        ("pages/quality.py", "quarantine", [("admin", None)], [("analyst", None), ("liaison", None)]),
    ],
)
def test_showing_personal_data_is_audited_once_without_values(
    app, sign_in, store, quarantining_warehouse, monkeypatch, page, what, allowed, refused
):
    monkeypatch.setenv("TSUNAGARI_WAREHOUSE", str(quarantining_warehouse))
    for role, city in refused:
        at = sign_in(AppTest.from_file(APP, default_timeout=60), role, city).run()
        at.switch_page(page).run()
        assert not at.exception, [e.value for e in at.exception]
    assert [r for r in rows(store) if r[4] == "view_personal"] == []
    for role, city in allowed:
        at = sign_in(AppTest.from_file(APP, default_timeout=60), role, city).run()
        at.switch_page(page).run()
        at.run()  # a rerun of the same view is not a second row
        assert not at.exception, [e.value for e in at.exception]
    viewed = [r for r in rows(store) if r[4] == "view_personal"]
    assert [(r[2], r[3]) for r in viewed] == allowed
    for _, identity, _, _, _, target, detail in viewed:
        assert identity == "tester"
        assert target.endswith(f"/{what}") and target.split("/")[0]
        assert detail["what"] == what and detail["rows"] > 0
        assert set(detail) <= {"what", "rows", "city", "filters"}, "counts and filters only, never values"


def test_the_table_toolbar_cannot_export_data():
    config = tomllib.loads((Path(__file__).resolve().parent.parent / ".streamlit" / "config.toml").read_text("utf-8"))
    assert config["client"]["disableDataExport"] is True
