"""Builders of tiny source files for the unit tests: xlsx, CSV, KML/KMZ and a whole bundle."""

from __future__ import annotations

import csv
import datetime as dt
import io
import zipfile
from pathlib import Path
from xml.sax.saxutils import escape

from openpyxl import Workbook

from etl.sources import distribution, events, progress, survey

ROOT = Path(__file__).resolve().parents[2]
SEEDS = ROOT / "warehouse" / "seeds"

Sheets = dict[str, list[list]]


def write_xlsx(
    path: Path, sheets: Sheets, *, merges: dict[str, list[str]] | None = None, hidden: Sheets | None = None
) -> Path:
    """Write a workbook: one sheet per entry (first row = header), optional merged ranges and hidden sheets."""
    workbook = Workbook()
    workbook.remove(workbook.active)
    for title, rows in sheets.items():
        sheet = workbook.create_sheet(title)
        for row in rows:
            sheet.append(row)
        for cells in (merges or {}).get(title, []):
            sheet.merge_cells(cells)
    for title, rows in (hidden or {}).items():
        sheet = workbook.create_sheet(title)
        sheet.sheet_state = "hidden"
        for row in rows:
            sheet.append(row)
    workbook.save(path)
    return path


def write_csv(path: Path, rows: list[list], *, encoding: str = "cp932") -> Path:
    """Write rows as a CSV with CRLF line ends, the way Google Forms exports for Excel."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)
    path.write_bytes(buffer.getvalue().encode(encoding))
    return path


def placemark(name: str | None, lng: float, lat: float, **data: str) -> str:
    """One My Maps placemark with ExtendedData fields."""
    fields = "".join(f'<Data name="{k}"><value>{escape(v)}</value></Data>' for k, v in data.items())
    title = f"<name>{escape(name)}</name>" if name is not None else ""
    return (
        f"<Placemark>{title}<description>pin</description><ExtendedData>{fields}</ExtendedData>"
        f"<Point><coordinates>\n  {lng},{lat},0\n</coordinates></Point></Placemark>"
    )


def kml_text(folders: dict[str, list[str]]) -> str:
    """A My Maps style KML document: one Folder per layer."""
    body = "".join(f"<Folder><name>{escape(n)}</name>{''.join(p)}</Folder>" for n, p in folders.items())
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<kml xmlns="http://www.opengis.net/kml/2.2"><Document><name>map</name>{body}</Document></kml>'
    )


def write_kmz(path: Path, members: dict[str, bytes | str], *, compression: int = zipfile.ZIP_DEFLATED) -> Path:
    """Write a zip archive with the given members."""
    with zipfile.ZipFile(path, "w", compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data.encode("utf-8") if isinstance(data, str) else data)
    return path


DIST_HEADER = distribution.COLUMNS


def dist_row(
    no,
    name,
    legal,
    city,
    *,
    address=None,
    phone=None,
    fax=None,
    contact=None,
    email=None,
    contact_phone=None,
    channel="メール",
    sent="令和6年12月2日",
    note=None,
) -> list:
    """One distribution-list row in column order."""
    return [no, name, legal, city, address, phone, fax, contact, email, contact_phone, channel, sent, note]


def distribution_sheets() -> Sheets:
    """Five list sheets: three organisations, one listed twice with another spelling."""
    header = list(DIST_HEADER)
    return {
        "座間市": [
            header,
            dist_row(
                1,
                "（サンプル）NPO法人 さくら",
                "NPO法人",
                "座間市",
                address="神奈川県座間市緑ケ丘1-1-1",
                phone="046-000-0001",
                contact="見本 太郎",
                email="taro@example.jp",
                sent=dt.datetime(2024, 12, 2),
            ),
            dist_row(
                2,
                "（サンプル）社会福祉法人 ひかり会",
                "社会福祉法人",
                "座間市",
                phone="０４６－０００－０００２",
                fax="046-000-0003",
                channel="FAX",
                sent="R6.12.3",
            ),
        ],
        "綾瀬市": [header],
        "大和市": [
            header,
            dist_row(
                1,
                "（サンプル）あおぞらの会",
                "任意団体",
                "大和",
                channel="手渡し",
                sent="2024/12/4",
                contact_phone="090-0000-0001",
            ),
        ],
        "海老名市": [header],
        "自主調査": [
            header,
            dist_row(
                1,
                "（サンプル）特定非営利活動法人　さくら",
                "特定非営利活動法人",
                "座間",
                channel="郵送",
                sent="2024-12-05",
            ),
        ],
    }


def survey_header() -> list[str]:
    """The survey CSV header (question texts)."""
    return list(survey.COLUMNS)


def survey_row(
    timestamp,
    name,
    city="座間市",
    legal="NPO法人",
    *,
    respondent="試験 花子",
    email="hanako@example.jp",
    phone="",
    content="ひきこもり, 子ども食堂",
    form="居場所, 就労支援",
    target="若者",
    area="座間市, 4市以外",
    hours="毎週水曜 10:00-15:00",
    languages="日本語, 英語",
    accessibility="車いす対応",
    initiative="はい",
    intent="参加したい",
    referrals="",
    ideas="",
) -> list:
    """One survey answer in column order."""
    return [
        timestamp,
        name,
        city,
        legal,
        respondent,
        email,
        phone,
        content,
        form,
        target,
        area,
        hours,
        languages,
        accessibility,
        initiative,
        intent,
        referrals,
        ideas,
    ]


def events_sheets() -> Sheets:
    """A workshop with two sessions and an exhibition with one day, roster, attendance, tallies, contract."""
    return {
        events.EVENTS: [
            events.SHEETS[events.EVENTS],
            [
                "WS-1",
                "ワークショップ",
                "貝のワークショップ",
                "作家A",
                "綾瀬市",
                "プラザ",
                None,
                "令和6年12月17日",
                dt.datetime(2025, 1, 8),
                2,
            ],
            [
                "EX-1",
                "展示",
                "街中展示",
                None,
                "海老名市",
                "公園",
                "神奈川県海老名市中央1-1",
                dt.datetime(2025, 2, 21),
                "2025/02/21",
                1,
            ],
        ],
        events.SESSIONS: [
            events.SHEETS[events.SESSIONS],
            ["WS-1", 1, "令和6年12月17日", "14:00", "１６：００", 2, 1, None],
            ["WS-1", 2, dt.datetime(2025, 1, 8), dt.time(14, 0), dt.time(17, 0), 1, 0, None],
            ["EX-1", 1, "2025-02-21", "9:00", "17:00", None, None, "1,234"],
        ],
        events.PARTICIPANTS: [
            events.SHEETS[events.PARTICIPANTS],
            ["P001", "見本 一郎", "相談者"],
            ["P002", "見本 二郎", "一般"],
        ],
        events.ATTENDANCE: [
            events.SHEETS[events.ATTENDANCE],
            ["P001", "WS-1", 1],
            ["P002", "WS-1", 1],
            ["P001", "WS-1", 2],
        ],
        events.SURVEY: [
            events.SHEETS[events.SURVEY],
            ["EX-1", "考えるきっかけになりましたか", "感じた", 1, 10],
            ["EX-1", "考えるきっかけになりましたか", "感じなかった", 2, 0],
        ],
        events.COMMENTS: [
            events.SHEETS[events.COMMENTS],
            ["EX-1", "海老名会場", "楽しかった。\r\nまた来たい。"],
        ],
        events.CONTRACTS: [
            events.SHEETS[events.CONTRACTS],
            ["C-ART", "アート事業", "株式会社Little Barrel", 7700000, "令和6年11月", "R7.3"],
        ],
    }


def progress_sheets() -> Sheets:
    """Three steps of one city and one note."""
    return {
        progress.PROGRESS: [
            progress.SHEETS[progress.PROGRESS],
            ["座間市", "①", "完了", "R6年度8月~", "R6年度10月", "担当を設定", "地域福祉課", "令和7年3月31日"],
            ["座間市", "④‐2", "進行中", "R6年度2月～", None, None, "地域福祉課", dt.datetime(2025, 3, 31)],
            ["座間市", "⑧", "未定", "未定", None, None, None, None],
        ],
        progress.NOTES: [
            progress.SHEETS[progress.NOTES],
            ["座間市", "令和6年8月30日", "取り組み課題", "意思決定が難しい"],
        ],
    }


def cities_rows() -> list[list]:
    """cities.csv rows with header."""
    return [
        ["市区町村コード", "市名", "人口", "人口基準日"],
        ["14213", "大和市", "244000", "2024-01-01"],
        ["14215", "海老名市", "137,000", "2024/01/01"],
        ["14216", "座間市", "131000", "令和6年1月1日"],
        ["14218", "綾瀬市", "84000", "2024-01-01"],
    ]


def write_bundle(directory: Path) -> Path:
    """A complete tiny bundle: every source file, all of it valid."""
    directory.mkdir(parents=True, exist_ok=True)
    write_csv(directory / "cities.csv", cities_rows(), encoding="utf-8")
    write_xlsx(directory / "distribution_list.xlsx", distribution_sheets())
    write_csv(
        directory / "survey_answers.csv",
        [survey_header(), survey_row("2025/01/15 10:23:45", "（サンプル）ＮＰＯ法人さくら")],
    )
    kml = kml_text(
        {"座間市": [placemark("（サンプル）NPO法人 さくら", 139.40, 35.48, 団体名="（サンプル）NPO法人 さくら")]}
    )
    write_kmz(directory / "resource_map.kmz", {"doc.kml": kml})
    write_xlsx(directory / "events.xlsx", events_sheets())
    write_xlsx(directory / "pf_progress.xlsx", progress_sheets())
    write_csv(
        directory / "kpi_targets.csv",
        [
            ["KPI", "市", "目標値", "単位", "設定者", "設定日"],
            ["展示会来場者数", "", "3,000", "名", "海老名市生活支援課", "令和6年11月15日"],
        ],
        encoding="utf-8",
    )
    return directory


def lineage_of(file: str, sheet: str | None, row: int) -> dict[str, object]:
    """Lineage columns of a source row (functools.partial(lineage_of, FILE) gives a module its `at`)."""
    return {"_file": file, "_sheet": sheet, "_row": row}
