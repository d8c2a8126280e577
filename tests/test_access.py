"""Access control end to end: every page as every role, with every download and export, against the sample's
personal data (the pii schema).

Each page of dashboard.registry.PAGES is rendered in AppTest as public, analyst, city_manager (座間市 14216),
liaison and admin. Everything the page puts on screen (each element's text, labels, options, table cells,
chart specs and data, map JSON, HTML bodies) and every file its download buttons serve (deferred downloads
are generated as a click would) is collected as text. The open-data exports (warehouse/exports.py, its CLI)
are checked the same way. The rule checked, per role:
  public, analyst   no personal value at all;
  city_manager      only the personal values of their own city's organisations;
  liaison           organisation contact persons only (no respondents, no participants);
  admin             anything.
So that the test can fail, 活動分布's follow-up list must show a city manager their own city's contacts and a
liaison the contacts of several cities; consultee counts (相談者, figures the cities publish) must be shown to
every role, and withheld everywhere when warehouse/masking.py's rule is made stricter.
"""

from __future__ import annotations

import contextlib
import csv
import html
import io
import json
import re
import unicodedata
import zipfile
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from google.protobuf.message import Message
from openpyxl import load_workbook
from streamlit.runtime.media_file_manager import MediaFileManager
from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage
from streamlit.testing.v1 import AppTest

from common.roles import Viewer
from dashboard.registry import PAGES, PageSpec
from warehouse import exports

APP = "../dashboard/app.py"
OWN_CITY = "14216"  # 座間市: the city manager's city
ROLES = (("public", None), ("analyst", None), ("city_manager", OWN_CITY), ("liaison", None), ("admin", None))
MIN_LENGTH = 4  # shorter personal values (a bare surname) would match ordinary text
CONSULTEE = "相談者"  # consultee figures are labelled with this word on every page (ja)


# ---------------------------------------------------------------------------------------------------
# The sample's personal values, read from the pii schema


def normalised(text: str) -> str:
    """Text as compared: NFKC (full-width digits and letters fold to ASCII), trimmed."""
    return unicodedata.normalize("NFKC", text).strip()


@dataclass(frozen=True)
class Personal:
    """Personal values of the sample (normalised, ≥ MIN_LENGTH characters), grouped by what a role may see."""

    contacts: dict[str, frozenset[str]]  # city code → contact persons' names, e-mails, phones
    respondents: dict[str, frozenset[str]]  # city code → survey respondents' names, e-mails, phones
    participants: frozenset[str]  # workshop participants' names (their ids are pseudonyms)

    @property
    def everything(self) -> frozenset[str]:
        """Every personal value."""
        return frozenset().union(*self.contacts.values(), *self.respondents.values(), self.participants)

    def allowed(self, role: str, city: str | None) -> frozenset[str]:
        """The personal values a role may be shown."""
        if role == "admin":
            return self.everything
        if role == "city_manager":
            return self.contacts.get(city, frozenset()) | self.respondents.get(city, frozenset())
        if role == "liaison":
            return frozenset().union(*self.contacts.values())
        return frozenset()


def _by_city(rows: list[tuple]) -> dict[str, frozenset[str]]:
    """(city_code, value, value, …) rows → city code → the values long enough to test."""
    found: dict[str, set[str]] = {}
    for city, *values in rows:
        found.setdefault(city, set()).update(
            normalised(v) for v in values if v is not None and len(normalised(v)) >= MIN_LENGTH
        )
    return {city: frozenset(values) for city, values in found.items()}


@pytest.fixture(scope="module")
def personal(sample_warehouse) -> Personal:
    """The sample warehouse's personal values."""
    con = duckdb.connect(str(sample_warehouse), read_only=True)
    try:
        contacts = con.execute(
            "select o.city_code, c.contact_name, c.contact_email, c.contact_phone "
            "from pii.organization_contact as c join organization as o on o.id = c.organization_id"
        ).fetchall()
        respondents = con.execute(
            "select o.city_code, r.respondent_name, r.respondent_email, r.respondent_phone "
            "from pii.survey_respondent as r join organization as o on o.id = r.organization_id"
        ).fetchall()
        participants = con.execute("select 'all', name from pii.event_participant").fetchall()
    finally:
        con.close()
    found = Personal(_by_city(contacts), _by_city(respondents), _by_city(participants).get("all", frozenset()))
    # The sample must hold personal data of each kind, or this test would prove nothing.
    assert len(found.contacts) == 4 and all(found.contacts.values())
    assert found.respondents and found.participants
    return found


# ---------------------------------------------------------------------------------------------------
# Text of a rendered page and of the files it serves


def _json_leaves(value: object, out: list[str]) -> None:
    """Every string and number inside a decoded JSON value."""
    if isinstance(value, dict):
        for key, item in value.items():
            out.append(str(key))
            _json_leaves(item, out)
    elif isinstance(value, list):
        for item in value:
            _json_leaves(item, out)
    elif value is not None:
        out.append(str(value))


def expanded(text: str) -> list[str]:
    """A text, its HTML-unescaped form, and — when it is JSON — its leaves (JSON may escape non-ASCII as \\uXXXX)."""
    found = [text, html.unescape(text)]
    stripped = text.strip()
    if stripped[:1] in ("{", "["):
        with contextlib.suppress(ValueError):
            _json_leaves(json.loads(stripped), found)
    return found


def arrow_cells(payload: bytes) -> list[str] | None:
    """All cells (and column names) of an Arrow IPC stream as text, or None if the bytes are not one."""
    try:
        table = pa.ipc.open_stream(payload).read_all()
    except (pa.ArrowInvalid, OSError):
        return None
    cells = list(table.column_names)
    for column in table.columns:
        cells.extend(str(value) for value in column.to_pylist() if value is not None)
    return cells


def proto_texts(message: Message, out: list[str]) -> None:
    """Every string field of a protobuf message, recursively; bytes fields that are Arrow tables as cells."""
    for field, value in message.ListFields():
        for item in value if field.is_repeated else [value]:
            if isinstance(item, Message):
                proto_texts(item, out)
            elif isinstance(item, str):
                out.extend(expanded(item))
            elif isinstance(item, bytes) and (cells := arrow_cells(item)) is not None:
                out.extend(cells)


def widget_values(at: AppTest) -> list[str]:
    """Current values of the page's widgets (text typed, options chosen) as text."""
    found = []
    for node in at._tree:
        if getattr(node, "type", "") in ("text_input", "text_area", "selectbox", "multiselect", "radio"):
            try:
                value = node.value
            except (KeyError, ValueError, AttributeError):
                continue
            found.extend(str(v) for v in (value if isinstance(value, list | tuple) else [value]))
    return found


def screen_texts(at: AppTest) -> list[str]:
    """All text of the rendered tree: every element's and container's proto, plus widget values."""
    found: list[str] = []
    for node in at._tree:
        proto = getattr(node, "proto", None)
        if isinstance(proto, Message):
            proto_texts(proto, found)
    return found + widget_values(at)


def payload_texts(file_name: str, payload: bytes) -> list[str]:
    """Text of a downloaded file, by its kind: CSV/HTML/KML/JSON as text, zip and KMZ members, xlsx and Parquet cells."""
    suffix = Path(file_name).suffix.lower()
    if suffix in (".zip", ".kmz"):
        found: list[str] = []
        with zipfile.ZipFile(io.BytesIO(payload)) as archive:
            for member in archive.namelist():
                found.append(member)
                found.extend(payload_texts(member, archive.read(member)))
        return found
    if suffix == ".xlsx":
        workbook = load_workbook(io.BytesIO(payload), read_only=True)
        return [str(v) for sheet in workbook for row in sheet.iter_rows(values_only=True) for v in row if v is not None]
    if suffix == ".parquet":
        table = pq.read_table(io.BytesIO(payload))
        return [*table.column_names, *(str(v) for c in table.columns for v in c.to_pylist() if v is not None)]
    return expanded(payload.decode("utf-8-sig"))


class RecordingManager(MediaFileManager):
    """AppTest's media file manager, remembered so the test can fetch what a download button serves."""

    latest: RecordingManager | None = None

    def __init__(self, storage: MemoryMediaFileStorage) -> None:
        super().__init__(storage)
        self.storage = storage
        RecordingManager.latest = self


def downloads(at: AppTest) -> dict[str, bytes]:
    """Every enabled download button's file (file name → bytes); a deferred one is generated as a click does."""
    manager = RecordingManager.latest
    assert manager is not None
    files = {}
    for button in at.get("download_button"):
        proto = button.proto
        if proto.disabled:
            continue
        url = manager.execute_deferred(proto.deferred_file_id) if proto.deferred_file_id else proto.url
        stored = manager.storage.get_file(Path(url).stem)
        assert stored.filename, f"download {proto.label!r} has no file name"
        files[stored.filename] = stored.content
    return files


def leaked(texts: list[str], values: frozenset[str]) -> set[str]:
    """The personal values that occur in the texts (compared after NFKC)."""
    blob = "\n".join(normalised(text) for text in texts)
    return {value for value in values if value in blob}


# ---------------------------------------------------------------------------------------------------
# Every page as every role


@pytest.fixture()
def app(sample_warehouse, tmp_path, monkeypatch):
    """The app over the sample warehouse, an empty operational store, and download files readable."""
    monkeypatch.setenv("TSUNAGARI_WAREHOUSE", str(sample_warehouse))
    monkeypatch.setenv("TSUNAGARI_OPERATIONS", str(tmp_path / "operations.sqlite"))
    monkeypatch.delenv("TSUNAGARI_MANAGER", raising=False)
    monkeypatch.setattr("streamlit.testing.v1.app_test.MediaFileManager", RecordingManager)
    return AppTest.from_file(APP, default_timeout=60)


@dataclass
class Rendered:
    """A page rendered as one role: the AppTest, its on-screen text and its downloads."""

    at: AppTest
    screen: list[str]
    files: dict[str, bytes]

    def texts(self) -> list[str]:
        """Screen text plus the text of every downloaded file."""
        return self.screen + [text for name, payload in self.files.items() for text in payload_texts(name, payload)]


def render(app: AppTest, sign_in, spec: PageSpec, role: str, city: str | None) -> Rendered | None:
    """The page as the role, or None after checking that the role cannot open it."""
    at = sign_in(app, role, city).run()
    assert not at.exception
    if not spec.allows(role):
        with pytest.raises(Exception, match=re.escape(spec.script)):
            at.switch_page(spec.script)
        return None
    if not spec.default:  # the first run drew the default page (概要) already
        at.switch_page(spec.script).run()
        assert not at.exception, [e.value for e in at.exception]
    assert at.title, f"{spec.title} drew no title as {role}"
    return Rendered(at, screen_texts(at), downloads(at))


def consultee_values(at: AppTest, files: dict[str, bytes]) -> list[str]:
    """What a page shows under consultee labels: metric values, cells of consultee columns in tables and CSVs."""
    shown = [metric.value for metric in at.metric if CONSULTEE in metric.label]
    columns = [table.value for table in at.dataframe]
    for name, payload in files.items():
        if name.endswith(".csv"):
            rows = list(csv.reader(io.StringIO(payload.decode("utf-8-sig"))))
            columns.append(pd.DataFrame(rows[1:], columns=rows[0]))
    for frame in columns:
        for column in frame.columns:
            if CONSULTEE in str(column):
                shown.extend(str(v) for v in frame[column].tolist() if v is not None and str(v) not in ("", "nan"))
    return shown


def consultee_figures(at: AppTest, files: dict[str, bytes]) -> list[str]:
    """The consultee values that are figures (a restricted notice or an empty cell is not)."""
    return [value for value in consultee_values(at, files) if re.search(r"\d", value)]


@pytest.mark.parametrize(("role", "city"), ROLES, ids=[role for role, _ in ROLES])
@pytest.mark.parametrize("spec", PAGES, ids=[spec.url_path for spec in PAGES])
def test_page_shows_only_the_personal_data_the_role_may_see(app, sign_in, personal, spec, role, city):
    page = render(app, sign_in, spec, role, city)
    if page is None:
        return
    texts = page.texts()
    assert texts, f"nothing collected from {spec.title}"
    forbidden = personal.everything - personal.allowed(role, city)
    assert leaked(texts, forbidden) == set(), f"{spec.title} shows {role} personal data of others"

    if spec.script == "pages/activity.py" and role == "city_manager":
        # The follow-up list (and its CSV) names their own city's contact persons.
        assert "tsunagari_non_respondents.csv" in page.files
        own = leaked(payload_texts("list.csv", page.files["tsunagari_non_respondents.csv"]), personal.contacts[city])
        assert own, "a city manager does not see their own city's contacts on the follow-up list"
        assert leaked(page.screen, personal.contacts[city]) == own
    if spec.script == "pages/activity.py" and role == "liaison":
        seen = {c for c, values in personal.contacts.items() if leaked(page.screen, values)}
        assert len(seen) >= 2, f"a liaison sees contacts of {seen} only"
    if spec.script in ("pages/home.py", "pages/events.py"):
        # Published figures: every role sees them (the tests below prove a stricter rule still withholds them).
        assert consultee_figures(page.at, page.files), f"{role} sees no consultee figure on {spec.title}"


# Cities whose workshops had consultees in the sample (座間市 held none).
WORKSHOP_CITIES = ("14218", "14215")  # 綾瀬市, 海老名市


def test_a_city_manager_sees_consultees_of_their_own_city_only(app, sign_in, consultees_withheld):
    own, other = WORKSHOP_CITIES
    at = sign_in(app, "city_manager", own).run()
    at.switch_page("pages/events.py").run()
    at.selectbox(key="city__ja").select(own).run()
    assert not at.exception
    assert consultee_figures(at, downloads(at)), "their own city's consultee figures are hidden"
    at.selectbox(key="city__ja").select(other).run()
    assert not at.exception
    assert consultee_values(at, downloads(at)), "the consultee figures are not on the page at all"
    assert consultee_figures(at, downloads(at)) == []


def test_a_liaison_sees_no_consultees_of_any_city(app, sign_in, consultees_withheld):
    at = sign_in(app, "liaison").run()
    at.switch_page("pages/events.py").run()
    for city in WORKSHOP_CITIES:
        at.selectbox(key="city__ja").select(city).run()
        assert not at.exception
        assert consultee_values(at, downloads(at)), "the consultee figures are not on the page at all"
        assert consultee_figures(at, downloads(at)) == []


# ---------------------------------------------------------------------------------------------------
# The open-data exports, whoever asks


@pytest.mark.parametrize(("role", "city"), ROLES, ids=[role for role, _ in ROLES])
def test_open_data_exports_hold_no_personal_data(sample_warehouse, personal, role, city):
    viewer = Viewer(role, city, None if role == "public" else "tester")
    con = duckdb.connect(str(sample_warehouse), read_only=True)
    try:
        texts = payload_texts("hsds.zip", exports.hsds_zip(con, viewer))
        texts += payload_texts("locations.geojson", exports.geojson_bytes(con, viewer))
    finally:
        con.close()
    assert any("organization" in text for text in texts)
    assert leaked(texts, personal.everything) == set()


def test_export_cli_writes_no_personal_data(sample_warehouse, personal, tmp_path):
    assert exports.main(["hsds", "--warehouse", str(sample_warehouse), "--out", str(tmp_path / "hsds")]) == 0
    assert exports.main(["geojson", "--warehouse", str(sample_warehouse), "--out", str(tmp_path / "x.geojson")]) == 0
    texts = [text for path in sorted(tmp_path.rglob("*.*")) for text in payload_texts(path.name, path.read_bytes())]
    assert len(texts) > 100
    assert leaked(texts, personal.everything) == set()
