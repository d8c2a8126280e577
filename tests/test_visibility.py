"""The README's role table is what each role sees: every row checked on screen, in AppTest, as that role.

The table (README.md, 「ログインと権限」) has one row per role: the staff pages it opens beyond the public ones,
whether イベント実績 shows the event consultee counts, which cities' rows of 活動分布's follow-up list it gets,
whose organisation contacts that list shows, and whether データ品質 shows the audit log. The rule behind it is
warehouse/masking.py's VISIBILITY; here each cell is compared with what the page actually draws.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from dashboard.i18n import translate
from dashboard.registry import EVERYONE, PAGES

ROOT = Path(__file__).resolve().parent.parent
APP = "../dashboard/app.py"
OWN_CITY = "14216"  # 座間市: the city manager's city
ROW = re.compile(r"^\s*\| `(\w+)` [^|]*\|(.*)\|\s*$")
COLUMNS = ("staff_pages", "consultees", "follow_up", "contacts", "audit_log")
# The table's words for the extent of what a role sees.
NONE, OWN, ALL, SHOWN = "見えない", "自市のみ", "全市", "見える"
STAFF_PAGES = [spec for spec in PAGES if spec.roles != EVERYONE]


def readme_table() -> dict[str, dict[str, str]]:
    """The Japanese role table of the README: role → column → cell."""
    rows = {}
    for line in (ROOT / "README.md").read_text(encoding="utf-8").splitlines():
        match = ROW.match(line)
        if match:
            cells = [cell.strip() for cell in match[2].split("|")]
            rows.setdefault(match[1], dict(zip(COLUMNS, cells, strict=True)))
    return rows


TABLE = readme_table()


def test_the_table_has_every_role():
    from common.roles import ROLES

    assert sorted(TABLE) == sorted(ROLES)


@pytest.fixture
def as_role(sample_warehouse, monkeypatch, sign_in):
    """A function giving an AppTest signed in as a role (a city manager of OWN_CITY)."""
    monkeypatch.setenv("TSUNAGARI_WAREHOUSE", str(sample_warehouse))

    def apply(role: str) -> AppTest:
        at = sign_in(AppTest.from_file(APP, default_timeout=60), role, OWN_CITY if role == "city_manager" else None)
        at.run()
        assert not at.exception
        return at

    return apply


def opens(at: AppTest, script: str) -> bool:
    """Whether the role's navigation lets it open the page (Streamlit refuses a page outside it)."""
    try:
        at.switch_page(script)
    except Exception as error:  # noqa: BLE001 — Streamlit raises a plain error naming the script
        assert script in str(error)
        return False
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return True


def extent(cities: set[str], every: set[str]) -> str:
    """A set of cities in the table's words."""
    if not cities:
        return NONE
    if cities == every:
        return ALL
    assert cities == {OWN_CITY}, cities
    return OWN


@pytest.mark.parametrize("role", sorted(TABLE))
def test_each_role_sees_what_the_readme_says(as_role, sample_con, role):
    row = TABLE[role]
    at = as_role(role)
    # Every page the role may open, once each; what the checks below read of a page is taken right after it ran.
    reads = {
        "pages/events.py": lambda: [(m.label, m.value) for m in at.metric],
        "pages/activity.py": lambda: [d.value for d in at.dataframe],
        "pages/quality.py": lambda: [h.value for h in at.subheader],
    }
    drawn: dict[str, list] = {}
    for spec in PAGES:
        if opens(at, spec.script):
            drawn[spec.script] = reads.get(spec.script, list)()

    # Staff pages beyond the public ones.
    listed = set() if row["staff_pages"] == "なし" else set(row["staff_pages"].split("、"))
    assert {spec.title for spec in STAFF_PAGES if spec.script in drawn} == listed
    for spec in PAGES:
        if spec.roles == EVERYONE:
            assert spec.script in drawn, f"{role} cannot open {spec.title}"

    # Event consultee counts on イベント実績 (the four cities: the report's 50 participations by consultees).
    label = translate("ja", "events.kpi.workshop_consultee_participations")
    value = next(figure for name, figure in drawn["pages/events.py"] if name == label)
    assert (SHOWN if re.search(r"\d", value) else NONE) == row["consultees"], value

    # 活動分布's follow-up list and its contacts, by city.
    names = dict(sample_con.execute("select name_ja, code from city").fetchall())
    waiting = {
        c
        for (c,) in sample_con.execute(
            "select distinct city_code from organization where not survey_answered"
        ).fetchall()
    }
    with_contact = {
        c
        for (c,) in sample_con.execute(
            "select distinct o.city_code from organization as o join pii.organization_contact as p "
            "on p.organization_id = o.id where not o.survey_answered and p.contact_name is not null"
        ).fetchall()
    }
    contact = translate("ja", "activity.col.contact_name")
    lists = [frame for frame in drawn["pages/activity.py"] if contact in frame.columns]
    shown = lists[0] if lists else None
    city = translate("ja", "activity.col.city")
    listed_cities = set() if shown is None else {names[n] for n in shown[city]}
    assert extent(listed_cities, waiting) == row["follow_up"]
    contact_cities = (
        set() if shown is None else {names[n] for n, v in zip(shown[city], shown[contact]) if isinstance(v, str)}
    )
    assert extent(contact_cities, with_contact) == row["contacts"]

    # The audit log on データ品質 (a role that cannot open the page cannot see it).
    seen = "pages/quality.py" in drawn and translate("ja", "audit.title") in drawn["pages/quality.py"]
    assert (SHOWN if seen else NONE) == row["audit_log"]
