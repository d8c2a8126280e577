"""The report pack (報告書用資料): the three files carry the report's figures, computed here from the raw sample.

Expected values are read from data/sample with csv and openpyxl (the distribution list de-duplicated with the
ETL's organisation-name key), never typed; the files are opened with python-docx, pypdf and openpyxl.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
import re
import subprocess
import sys
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import openpyxl
import pytest
from docx import Document
from pypdf import PdfReader

from common.calendar import fiscal_year
from common.roles import PUBLIC, Viewer
from dashboard.report_pack import build
from dashboard.report_pack.job import PackJob, PackRequest
from etl.normalise import org_name_key
from warehouse import operations, query, report

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "data" / "sample"
TODAY = dt.date(2026, 12, 3)
ADMIN = Viewer("admin", identity="admin@example.jp")
KINDS = {"展示": "exhibition", "ワークショップ": "workshop", "シンポジウム": "symposium"}
WAREKI = re.compile(r"令和(\d+)年(\d+)月(\d+)日")


# --- the raw sample, read independently of the ETL's extractors --------------------------------------


def half_up(value: float, decimals: int) -> float:
    """Round half away from zero, as the marts do."""
    return float(Decimal(repr(value)).quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP))


def sheets(name: str) -> dict[str, list[dict]]:
    """Every sheet of a sample workbook as dicts keyed by its header row."""
    book = openpyxl.load_workbook(SAMPLE / name, read_only=True)
    out = {}
    for sheet in book.worksheets:
        rows = list(sheet.iter_rows(values_only=True))
        out[sheet.title] = [dict(zip(rows[0], row, strict=False)) for row in rows[1:] if any(row)]
    book.close()
    return out


def raw_day(value) -> dt.date:
    """A workbook date: an Excel date or 令和N年M月D日."""
    if isinstance(value, dt.datetime):
        return value.date()
    match = WAREKI.fullmatch(value)
    return dt.date(2018 + int(match[1]), int(match[2]), int(match[3]))


@pytest.fixture(scope="module")
def raw() -> dict:
    """The report's figures from data/sample."""
    distribution = sheets("distribution_list.xlsx")
    distributed = {org_name_key(row["団体名"]) for rows in distribution.values() for row in rows if row["団体名"]}
    with open(SAMPLE / "survey_answers.csv", encoding="cp932", newline="") as handle:
        answered = {org_name_key(row["団体名"]) for row in csv.DictReader(handle)}
    events = sheets("events.xlsx")
    kind = {e["イベントID"]: KINDS[e["種別"]] for e in events["イベント"]}
    visitors = {e["イベントID"]: 0 for e in events["イベント"] if kind[e["イベントID"]] == "exhibition"}
    symposium = 0
    for session in events["開催回"]:
        if kind[session["イベントID"]] == "exhibition":
            visitors[session["イベントID"]] += session["来場者数"] or 0
        elif kind[session["イベントID"]] == "symposium":
            symposium += session["参加者数"] or 0
    per_day = []
    for event in events["イベント"]:
        if event["イベントID"] in visitors:
            count, days = visitors[event["イベントID"]], event["開催日数"]
            mean = count / days
            decimals = max(0, 2 - math.floor(math.log10(mean)))  # three significant figures
            shown = f"{half_up(mean, decimals):,.{decimals}f}"
            per_day.append(f"{count:,} ÷ {days} = {shown}")
    man_yen = []
    for contract in events["契約"]:
        amount = contract["金額（円）"] / 10_000
        man_yen.append((amount, f"{amount:.1f}".removesuffix(".0") + "万円"))
    progress = sheets("pf_progress.xlsx")["進捗"]
    started = sorted({row["開始"].rstrip("~〜") for row in progress if row["ステップ"] == "④-2" and row["開始"]})
    undecided = sorted({row["状態"] for row in progress if row["ステップ"] == "⑧"})
    participants = [row["氏名"] for row in events["参加者名簿"]]
    contacts = [
        value
        for rows in distribution.values()
        for row in rows
        for value in (row["担当者名"], row["担当者メール"])
        if value
    ]
    consultee_participations = sum(
        s["うち相談者数"] or 0 for s in events["開催回"] if kind[s["イベントID"]] == "workshop"
    )
    return {
        "distributed": len(distributed),
        "answered": len(answered),
        "rate": half_up(100 * len(answered) / len(distributed), 1),
        "visitors": sum(visitors.values()),
        "per_day": per_day,
        "symposium": symposium,
        "man_yen": man_yen,
        "started_4_2": started,
        "status_8": undecided,
        "personal": participants + contacts,
        "consultee_participations": consultee_participations,
        "years": sorted({fiscal_year(raw_day(s["開催日"])) for s in events["開催回"]}, reverse=True),
    }


# --- the pack, made once from the sample warehouse (with the synthetic city outlines) -------------------


@pytest.fixture(scope="module")
def warehouse(reference_build) -> Path:
    return reference_build.warehouse


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("pack-store") / "operations.sqlite"


@pytest.fixture(scope="module")
def made(warehouse, store, raw) -> build.PackFiles:
    """The public pack of the four cities for the sample's 年度, in Japanese."""
    con = query.connect(warehouse)
    try:
        return build.make(con, report.Scope(None, raw["years"][0], "ja", PUBLIC, today=TODAY, store=store))
    finally:
        con.close()


def flat(text: str) -> str:
    """Text without whitespace: PDF extraction and Word runs space figures differently."""
    return re.sub(r"\s+", "", text)


def docx_text(content: bytes) -> tuple[str, list[list[list[str]]]]:
    """Every paragraph of a .docx and every table as rows of cell texts."""
    document = Document(io.BytesIO(content))
    paragraphs = "\n".join(p.text for p in document.paragraphs)
    tables = [[[cell.text for cell in row.cells] for row in table.rows] for table in document.tables]
    return paragraphs, tables


def pdf_text(content: bytes) -> str:
    """The PDF's text as a reader's copy-and-paste sees it."""
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(content)).pages)


def workbook(content: bytes) -> openpyxl.Workbook:
    return openpyxl.load_workbook(io.BytesIO(content))


def all_text(made: build.PackFiles) -> dict[str, str]:
    """Each format's whole text, whitespace removed."""
    paragraphs, tables = docx_text(made.files["docx"])
    cells = "\n".join("\t".join(row) for table in tables for row in table)
    book = workbook(made.files["xlsx"])
    values = "\n".join(
        str(cell.value)
        for sheet in book.worksheets
        for row in sheet.iter_rows()
        for cell in row
        if cell.value is not None
    )
    return {"docx": flat(paragraphs + cells), "pdf": flat(pdf_text(made.files["pdf"])), "xlsx": flat(values)}


@pytest.fixture(scope="module")
def texts(made) -> dict[str, str]:
    return all_text(made)


def rows_of(book: openpyxl.Workbook, title: str) -> list[dict]:
    """A sheet's rows as dicts keyed by its header."""
    rows = list(book[title].iter_rows(values_only=True))
    return [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]


# --- the figures in the Word file and the PDF --------------------------------------------------------


@pytest.mark.parametrize("fmt", ["docx", "pdf"])
def test_survey_reach(texts, raw, fmt):
    text = texts[fmt]
    assert flat(f"配布{raw['distributed']:,}団体、回答{raw['answered']:,}団体、回答率{raw['rate']:.1f}%") in text


@pytest.mark.parametrize("fmt", ["docx", "pdf"])
def test_art_figures(texts, raw, fmt):
    text = texts[fmt]
    assert flat(f"展示来場者{raw['visitors']:,}人") in text
    for line in raw["per_day"]:
        assert flat(line) in text
    assert raw["per_day"]  # the sample has exhibitions: 2,345 ÷ 8 = 293 and 853 ÷ 10 = 85.3
    assert flat(f"参加{raw['symposium']:,}人") in text
    for _, label in raw["man_yen"]:
        assert label in text


@pytest.mark.parametrize("fmt", ["docx", "pdf"])
def test_progress_steps(texts, raw, fmt):
    text = texts[fmt]
    assert raw["started_4_2"] and raw["status_8"]
    for start in raw["started_4_2"]:
        assert re.search("④-2.{0,120}?" + re.escape(start), text), start
    for status in raw["status_8"]:
        assert re.search("⑧.{0,80}?" + re.escape(status), text), status


def test_word_tables_are_real_tables(made, raw):
    _, tables = docx_text(made.files["docx"])
    progress = next(table for table in tables if table[0][:3] == ["ステップ", "市", "状態"])
    starts = {row[3] for row in progress[1:] if row[0].startswith("④-2")}
    assert all(any(start in cell for start in raw["started_4_2"]) for cell in starts)
    assert {row[2] for row in progress[1:] if row[0].startswith("⑧")} == set(raw["status_8"])
    reach = next(table for table in tables if table[0][0] == "市" and table[0][1] == "配布団体数")
    assert reach[-1][1:] == [f"{raw['distributed']:,}", f"{raw['answered']:,}", f"{raw['rate']:.1f} %"]


def test_captions_state_n_unit_source_and_as_of(made, raw):
    paragraphs, _ = docx_text(made.files["docx"])
    captions = [line for line in paragraphs.splitlines() if re.match(r"^(図|表)\d+ ", line)]
    assert len(captions) == len(made.pack.figures()) + len(made.pack.tables())
    for caption in captions:
        assert re.search(r"N=[\d,—]+、単位：.+、出典：.+、令和\d+年\d+月\d+日", caption), caption
    assert f"N={raw['answered']}、単位：団体" in paragraphs


def test_pdf_embeds_its_japanese_font_and_pages_render(made, tmp_path):
    reader = PdfReader(io.BytesIO(made.files["pdf"]))
    fonts = set()
    for page in reader.pages:
        for font in page["/Resources"]["/Font"].values():
            descriptor = font.get_object()["/DescendantFonts"][0].get_object()["/FontDescriptor"]
            assert "/FontFile2" in descriptor  # TrueType embedded
            fonts.add(str(font.get_object()["/BaseFont"]))
    assert all("IPAexGothic" in name for name in fonts)
    pdf = tmp_path / "pack.pdf"
    pdf.write_bytes(made.files["pdf"])
    subprocess.run(["pdftoppm", "-r", "60", "-png", "-f", "1", "-l", "1", str(pdf), str(tmp_path / "page")], check=True)
    assert list(tmp_path.glob("page*.png"))


# --- the workbook: one sheet per table, numbers as numbers, dates as dates ---------------------------


def test_workbook_sheets_follow_the_tables(made):
    book = workbook(made.files["xlsx"])
    assert book.sheetnames == [table.sheet for table in made.pack.tables()] + ["出典と定義"]
    sources = rows_of(book, "出典と定義")
    assert [row["見出し"] for row in sources] == [table.caption for table in made.pack.tables()]


def test_workbook_numbers_are_numbers(made, raw):
    book = workbook(made.files["xlsx"])
    total = rows_of(book, "市別回答率")[-1]
    assert (total["配布団体数"], total["回答団体数"], total["回答率（%）"]) == (
        raw["distributed"],
        raw["answered"],
        raw["rate"],
    )
    events = rows_of(book, "イベント実績")
    exhibitions = [row for row in events if row["種別"] == "展示"]
    assert sum(row["来場者数"] for row in exhibitions) == raw["visitors"]
    shown = [
        f"{row['来場者数']:,} ÷ {row['開催日数']} = {row['1日平均来場者']:,.{1 if row['1日平均来場者'] % 1 else 0}f}"
        for row in exhibitions
    ]
    assert sorted(shown) == sorted(raw["per_day"])
    assert [row["参加者（延べ）"] for row in events if row["種別"] == "シンポジウム"] == [raw["symposium"]]
    amounts = [row["金額（万円）"] for row in rows_of(book, "契約")]
    assert amounts == [amount for amount, _ in raw["man_yen"]]


def test_workbook_dates_are_dates(made, raw):
    book = workbook(made.files["xlsx"])
    sheet = book["PF構築プロセス"]
    header = [cell.value for cell in sheet[1]]
    start, label, status = header.index("開始月"), header.index("開始"), header.index("状態")
    rows = list(sheet.iter_rows(min_row=2))
    four_two = [row for row in rows if str(row[0].value).startswith("④-2")]
    assert four_two and all(row[start].is_date for row in four_two if row[start].value is not None)
    assert {row[label].value.split(" ")[0] for row in four_two if row[start].value} == set(raw["started_4_2"])
    assert {row[status].value for row in rows if str(row[0].value).startswith("⑧")} == set(raw["status_8"])
    assert all(cell.is_date for cell in book["開催回"]["A"][1:])


# --- what a pack never holds, and who may see consultee figures --------------------------------------


def test_no_personal_data_in_any_format(texts, raw, warehouse, store):
    con = query.connect(warehouse)
    try:
        admin = build.make(
            con, report.Scope(None, raw["years"][0], "ja", ADMIN, today=TODAY, store=store), formats=("xlsx",)
        )
    finally:
        con.close()
    admin_text = all_text_xlsx(admin.files["xlsx"])
    assert raw["personal"]
    for value in raw["personal"]:
        for text in (*texts.values(), admin_text):
            assert flat(str(value)) not in text


def all_text_xlsx(content: bytes) -> str:
    book = workbook(content)
    return flat(
        "\n".join(str(c.value) for s in book.worksheets for r in s.iter_rows() for c in r if c.value is not None)
    )


def test_consultee_figures_follow_the_pages_rule(texts, raw, warehouse, store, consultees_withheld):
    # The public's pack (made under warehouse/masking.py's rule as it is): the counts are published figures.
    assert "権限のある担当者のみ表示" not in texts["docx"]
    # Below, under a stricter rule: an admin gets them, another city's manager the notice.
    con = query.connect(warehouse)
    try:
        admin = build.make(
            con, report.Scope(None, raw["years"][0], "ja", ADMIN, today=TODAY, store=store), formats=("xlsx",)
        )
        other = build.make(
            con,
            report.Scope("14218", raw["years"][0], "ja", Viewer("city_manager", "14215"), today=TODAY, store=store),
            formats=("xlsx",),
        )
    finally:
        con.close()
    events = rows_of(workbook(admin.files["xlsx"]), "イベント実績")
    assert sum(row["うち相談者（延べ）"] or 0 for row in events) == raw["consultee_participations"]
    withheld = [
        row["うち相談者（延べ）"]
        for row in rows_of(workbook(other.files["xlsx"]), "イベント実績")
        if row["種別"] == "ワークショップ"
    ]
    assert withheld and set(withheld) == {"権限のある担当者のみ表示"}


# --- years, the job, the command line and the audit --------------------------------------------------


def test_years_offered_are_those_of_the_events(warehouse, raw):
    con = query.connect(warehouse)
    try:
        assert report.fiscal_years(con) == raw["years"]
        with pytest.raises(report.NoSuchYear):
            report.figures(con, report.Scope(None, raw["years"][-1] - 1, "ja", today=TODAY))
    finally:
        con.close()


# A third whole pack in every format (~4.5 CPU-s): make test only. Fast, the job's thread, wait and result are
# test_staff_make_a_pack_on_home_and_it_is_audited's, every format the `made` tests', an English pack the CLI test's.
@pytest.mark.slow
def test_job_runs_off_the_script_thread_with_progress(warehouse, store, raw):
    request = PackRequest(report.Scope(None, raw["years"][0], "en", PUBLIC, today=TODAY, store=store), warehouse)
    job = PackJob(request).start()
    status = job.wait(120)
    assert status.finished and status.error is None
    assert set(status.result.files) == set(build.FORMATS)
    assert status.result.stem == f"tsunagari_report_all_{raw['years'][0]}_en"
    assert "Surveyed" in pdf_text(status.result.files["pdf"])


@pytest.mark.slow  # a third whole pack (~3.5 CPU-s): make test only (fast: the page's pack and the library's)
def test_cli_writes_the_files_and_audits(warehouse, raw, tmp_path):
    store = tmp_path / "operations.sqlite"
    env = {"TSUNAGARI_OPERATIONS": str(store), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    out = tmp_path / "out"
    args = [sys.executable, "-m", "dashboard.report_pack", "--warehouse", str(warehouse), "--out", str(out)]
    done = subprocess.run(
        [*args, "--city", "14218", "--year", str(raw["years"][0]), "--formats", "xlsx", "--lang", "en"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    [written] = out.iterdir()
    assert written.name == f"tsunagari_report_14218_{raw['years'][0]}_en.xlsx"
    assert "Surveyed" in all_text_xlsx(written.read_bytes())
    audit = operations.read_audit(store).to_dicts()
    assert [(row["action"], row["target"]) for row in audit] == [("export", "cli/report_pack")]
    assert '"city": "14218"' in audit[0]["detail"] and f'"nendo": {raw["years"][0]}' in audit[0]["detail"]
    refused = subprocess.run([*args, "--year", "1999"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert refused.returncode == 2 and "1999" in refused.stderr


# --- the section on 概要 ---------------------------------------------------------------------------


@pytest.fixture()
def home(warehouse, tmp_path, monkeypatch):
    """概要 over the sample warehouse, with an operational store of its own."""
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("TSUNAGARI_WAREHOUSE", str(warehouse))
    monkeypatch.setenv("TSUNAGARI_OPERATIONS", str(tmp_path / "operations.sqlite"))
    return AppTest.from_file("../dashboard/app.py", default_timeout=60)


HEADING = "報告書用資料（Word・PDF・Excel）"


def test_section_is_for_staff_only(home):
    at = home.run()
    assert not at.exception
    assert HEADING not in [header.value for header in at.subheader]


def test_staff_make_a_pack_on_home_and_it_is_audited(home, sign_in, tmp_path, raw):
    at = sign_in(home, "analyst").run()
    assert HEADING in [header.value for header in at.subheader]
    [generate] = [button for button in at.button if button.label == "資料を作成"]
    at = generate.click().run()
    assert not at.exception
    job = at.session_state["report_pack_job"]
    assert job.request.scope.viewer.role == "analyst" and job.request.scope.nendo == raw["years"][0]
    assert job.wait(120).error is None
    at = at.run()
    assert any(message.value.startswith("作成しました") for message in at.success)
    audit = operations.read_audit(tmp_path / "operations.sqlite").to_dicts()
    made = [row for row in audit if row["target"].endswith("/report_pack")]
    assert [(row["identity"], row["role"], row["action"]) for row in made] == [("tester", "analyst", "export")]
    assert f'"nendo": {raw["years"][0]}' in made[0]["detail"] and '"city": null' in made[0]["detail"]
