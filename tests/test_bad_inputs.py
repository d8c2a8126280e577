"""Bad-input catalogue: one mutation of the sample bundle per case, through the real pipeline.

Each case copies data/sample (and the synthetic reference geography), applies ONE mutation and runs
either the extract + normalise stage (`transform_bundle`, or `reference.load`) — enough for pure
parsing problems — or the whole `build` (Great Expectations, warehouse, quarantine table) when the
validation stage matters. It then asserts the exact error message, or the exact quarantine records,
and that the valid rows still load.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import re
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pytest
from bad_inputs import (
    CITIES,
    DISTRIBUTION,
    EVENTS,
    MAP,
    PROGRESS,
    SAMPLE,
    SURVEY,
    Inputs,
    Mutation,
    add_hidden_sheet,
    add_zip_member,
    append_row,
    cells,
    csv_cells,
    csv_extra_column,
    csv_records,
    fresh_inputs,
    hide_sheet,
    insert_blank_rows,
    kml,
    kmz,
    merge,
    plain_kml,
    raw_bytes,
    recode,
    reference_file,
    reference_json,
    rename_sheet,
    sparse,
    text,
    text_cell,
    utf8_line,
)
from polars.testing import assert_frame_equal

from etl import reference
from etl.errors import EtlError, SourceError, ValidationFailed
from etl.pipeline import SEEDS_DIR, build, quoted
from etl.sources import transform_bundle
from etl.sources.base import FORMULA, MAX_FILE_BYTES, REQUIRED
from etl.sources.survey import AREA, CONTENT, FORM, SUPERSEDED, TARGET, TIMESTAMP
from etl.steps import Step, StepEvent
from etl.vocab import Vocabulary

LINEAGE = ["_file", "_sheet", "_row"]
MiB = 1024 * 1024

Record = tuple[str | None, str | None, int | None, str | None, str | None, str, str]


@dataclass(frozen=True)
class Pick:
    """Expected rows (columns, any order) of a table where every column of `where` equals its value (or one of a tuple)."""

    table: str
    where: Mapping[str, Any]
    columns: tuple[str, ...]
    rows: list[tuple]


@dataclass(frozen=True)
class Case:
    """One bad input: its mutation and everything the pipeline must say about it."""

    id: str
    kind: str
    mutate: Mutation
    error: str | None = None
    quarantine: tuple[Record, ...] = ()
    counts: Mapping[str, int] = field(default_factory=dict)
    unchanged: tuple[str, ...] = ()
    picks: tuple[Pick, ...] = ()
    warnings: tuple[str, ...] = ()
    encoding: tuple[str, str] | None = None
    full_build: bool = False
    # (file, row, column) of the records that left a value out while the row loaded (scope cell); every
    # other record must have set its row aside or counted dependants.
    cells: tuple[tuple[str, int, str], ...] = ()


def dependants(file: str, sheet: str | None, column: str, root: str, count: int, what_ja: str, what_en: str) -> Record:
    """The one record of the rows of a sheet set aside with their parent row (root)."""
    reason = f"{root} の除外に伴い{what_ja} {count} 行を除外 ({count} dependent rows removed with {root}: {what_en})"
    return (file, sheet, None, column, None, reason, "match.dependants")


def q(
    file: str, sheet: str | None, row: int | None, column: str | None, value: str | None, reason: str, check: str
) -> Record:
    """One expected quarantine record."""
    return (file, sheet, row, column, value, reason, check)


def too_large(file: str, size: int) -> str:
    """The size-limit message for a file of size bytes."""
    return (
        f"{file}: ファイルが大きすぎます（{size} バイト） (file too large, limit {MAX_FILE_BYTES} bytes; "
        "set TSUNAGARI_MAX_FILE_BYTES or --max-file-bytes)"
    )


def unquote_start(row_text: str, field_text: str) -> Mutation:
    """Open a quote at the start of one CSV field and never close it."""
    return text(SURVEY, lambda t: t.replace(row_text + field_text, row_text + '"' + field_text, 1))


SURVEY_TABLES = ("survey_response", "service", "attribute", "service_area", "pii.survey_respondent")
DIST_TABLES = ("organization", "organization_source", "pii.organization_contact")
XXE = (
    '<?xml version="1.0"?><!DOCTYPE kml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
    '<kml xmlns="http://www.opengis.net/kml/2.2"><Document><Placemark><name>&xxe;</name></Placemark></Document></kml>'
)
LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE kml [<!ENTITY a "lol">'
    + "".join(f'<!ENTITY {n} "{("&" + p + ";") * 10}">' for p, n in zip("abcdefgh", "bcdefghi", strict=True))
    + ']><kml xmlns="http://www.opengis.net/kml/2.2"><Document><name>&i;</name></Document></kml>'
)
# 40 MiB of spaces in an XML comment: deflates about 1000:1 yet stays under the 50 MiB expansion cap,
# so the compression-ratio check is what stops it.
BOMB = "<!--" + " " * (40 * MiB) + "-->"
DISTANT_TOWN = {"town": "範囲外テスト町", "koaza": "", "lat": 35.6812, "lng": 139.7671}

CASES = [
    # --- survey_answers.csv (Google Forms CSV) ------------------------------------------------------
    Case(
        "survey-euc-jp",
        "survey",
        recode(SURVEY, "euc_jp"),
        counts={"survey_response": 63},
        unchanged=("survey_response", "attribute", "service_area"),
        encoding=(SURVEY, "euc-jp"),
    ),
    Case(
        "survey-utf-16",
        "survey",
        recode(SURVEY, "utf-16"),
        counts={"survey_response": 63},
        unchanged=SURVEY_TABLES,
        encoding=(SURVEY, "utf-16"),
        full_build=True,
    ),
    Case(
        "survey-cp932-with-one-utf8-line",
        "survey",
        utf8_line(SURVEY, 6),
        error=(
            "survey_answers.csv: 文字コードが混在しています（6行目が他の行と異なります。"
            "ファイル全体を CP932 か UTF-8 で保存し直してください） (undecodable: mixed encodings, line 6 differs from the rest)"
        ),
    ),
    Case(
        "survey-utf8-bom",
        "survey",
        recode(SURVEY, "utf-8", bom=True),
        unchanged=SURVEY_TABLES,
        encoding=(SURVEY, "utf-8-sig"),
    ),
    Case(
        "survey-lf-line-ends",
        "survey",
        raw_bytes(SURVEY, lambda data: data.replace(b"\r\n", b"\n")),
        unchanged=SURVEY_TABLES,
        encoding=(SURVEY, "cp932"),
    ),
    Case(
        "survey-missing-header",
        "survey",
        text(SURVEY, lambda t: t.replace("所在市,", "所在地,", 1)),
        error="survey_answers.csv, column 所在市: 必須の見出し「所在市」がありません (missing required column)",
    ),
    Case(
        "survey-renamed-question-headers",
        "survey",
        text(SURVEY, lambda t: t.replace(CONTENT, "活動内容", 1).replace(FORM, "支援の形態", 1)),
        unchanged=SURVEY_TABLES,
    ),
    Case(
        "survey-duplicated-header",
        "survey",
        text(SURVEY, lambda t: t.replace("法人格,", "団体名,", 1)),
        error="survey_answers.csv, row 1, column 団体名: 見出し「団体名」が重複しています (duplicated header)",
    ),
    Case(
        "survey-extra-column",
        "survey",
        csv_extra_column(SURVEY, "メモ", "確認済"),
        unchanged=SURVEY_TABLES,
        warnings=("survey_answers.csv: 余分な列を無視しました「メモ」 (extra columns ignored)",),
        full_build=True,
    ),
    Case(
        "survey-empty-file",
        "survey",
        raw_bytes(SURVEY, lambda _: b""),
        error="survey_answers.csv: ファイルが空です (empty file)",
    ),
    Case(
        "survey-header-only",
        "survey",
        text(SURVEY, lambda t: t.split("\r\n")[0] + "\r\n"),
        error="survey_answers.csv: データ行がありません (no data rows)",
    ),
    Case(
        "survey-unknown-categories",
        "survey",
        csv_cells(SURVEY, {(2, TARGET): "若者, 宇宙人", (3, AREA): "大和市、横浜市"}),
        quarantine=(
            q(
                SURVEY,
                None,
                2,
                TARGET,
                "宇宙人",
                "未知の対象者「宇宙人」 (unknown category: target group)",
                "normalise.target",
            ),
            q(SURVEY, None, 3, AREA, "横浜市", "未知の市「横浜市」 (unknown category: city)", "normalise.city"),
        ),
        # The answers stay with their known labels (若者, 大和市); only the unknown ones are left out.
        counts={"survey_response": 63, "service": 63},
        cells=((SURVEY, 2, TARGET), (SURVEY, 3, AREA)),
    ),
    Case(
        "survey-multi-answer-separators",
        "survey",
        csv_cells(
            SURVEY,
            {
                (2, CONTENT): "学習支援、若者支援、地域づくり",
                (3, FORM): "居場所,ボランティア・役割のある場,安全に時間を過ごせる場所",
                (4, TARGET): "こども;子育て世帯",
                (5, TARGET): "若者／障害のある人／生活困窮者",
                (6, AREA): "大和市\r\n座間市\n綾瀬市",
                (7, CONTENT): "こども食堂，食料支援",
                (8, CONTENT): "ひとり親；引きこもり / 食料支援",
            },
        ),
        unchanged=SURVEY_TABLES,
    ),
    Case(
        "survey-full-width-timestamp",
        "survey",
        csv_cells(SURVEY, {(2, TIMESTAMP): "２０２４／１２／１３　１７：０６：３３"}),
        unchanged=("survey_response",),
    ),
    Case(
        "survey-second-answer-spelled-differently",
        "survey",
        csv_records(
            SURVEY,
            lambda records: records.append(["2025/03/01 09:00:00", "(ｻﾝﾌﾟﾙ) そよかぜ青少年相談室", *records[1][2:]]),
        ),
        quarantine=(q(SURVEY, None, 2, TIMESTAMP, "2024/12/13 17:06:33", SUPERSEDED, "dedupe.survey_response"),),
        counts={"survey_response": 63},
        picks=(
            Pick(
                "survey_response",
                {"source_row": 65},
                ("submitted_at", "city_code"),
                [(dt.datetime(2025, 3, 1, 9, 0), "14216")],
            ),
        ),
    ),
    Case(
        "survey-stray-quote",
        "survey",
        unquote_start("2024/12/14 20:29:57,", "（サンプル）一般社団法人"),
        error=(
            'survey_answers.csv, row 3: CSV として読めません（引用符 " の閉じ忘れなど） '
            "(malformed CSV: ',' expected after '\"')"
        ),
    ),
    Case(
        "survey-impossible-timestamp",
        "survey",
        csv_cells(SURVEY, {(2, TIMESTAMP): "2025/02/30 10:00:00"}),
        quarantine=(
            q(
                SURVEY,
                None,
                2,
                TIMESTAMP,
                "2025/02/30 10:00:00",
                "存在しない日時です「2025/02/30 10:00:00」 (impossible timestamp)",
                "normalise.timestamp",
            ),
        ),
        counts={"survey_response": 62},
    ),
    Case("survey-huge-file", "survey", sparse(SURVEY, 300 * MiB), error=too_large(SURVEY, 300 * MiB)),
    # --- distribution_list.xlsx ---------------------------------------------------------------------
    Case(
        "distribution-merged-cells",
        "distribution",
        merge(DISTRIBUTION, "座間市", "D3:D4"),
        quarantine=(
            q(
                DISTRIBUTION,
                "座間市",
                3,
                "所在市",
                "座間市",
                "結合セルがあります（D3:D4） (merged cells)",
                "extract.merged_cells",
            ),
            q(
                DISTRIBUTION,
                "座間市",
                4,
                "所在市",
                "座間市",
                "結合セルがあります（D3:D4） (merged cells)",
                "extract.merged_cells",
            ),
            q(DISTRIBUTION, "座間市", 4, "所在市", None, REQUIRED, "normalise.required"),
            # Its pin is a dependant of the row set aside, not a pin "not on the list".
            dependants(MAP, "座間市", "団体名", f"{DISTRIBUTION}, sheet 座間市, row 4", 1, "地図のピン", "map pins"),
        ),
        counts={"organization": 156, "organization_source": 169, "location": 149},
        full_build=True,
    ),
    Case(
        "distribution-blank-rows",
        "distribution",
        insert_blank_rows(DISTRIBUTION, "座間市", 3, 2),
        counts={"organization": 157, "organization_source": 171},
        picks=(
            Pick(
                "organization_source",
                {"source_list": "座間市", "name_as_listed": "（サンプル）NPO法人 あさひフードパントリー"},
                ("source_row",),
                [(5,)],
            ),
        ),
    ),
    Case(
        "distribution-hidden-extra-sheet",
        "distribution",
        add_hidden_sheet(DISTRIBUTION, "旧リスト", [["メモ"], ["（古い）団体"]]),
        unchanged=DIST_TABLES,
    ),
    Case(
        "distribution-hidden-list-sheet-still-read",
        "distribution",
        hide_sheet(DISTRIBUTION, "綾瀬市"),
        unchanged=DIST_TABLES,
    ),
    Case(
        "distribution-missing-sheet",
        "distribution",
        rename_sheet(DISTRIBUTION, "綾瀬市", "綾瀬"),
        error="distribution_list.xlsx, sheet 綾瀬市: シート「綾瀬市」がありません (missing sheet)",
    ),
    Case(
        "distribution-missing-header",
        "distribution",
        cells(DISTRIBUTION, "大和市", D1="市"),
        error="distribution_list.xlsx, sheet 大和市, column 所在市: 必須の見出し「所在市」がありません (missing required column)",
    ),
    Case(
        "distribution-duplicated-header",
        "distribution",
        cells(DISTRIBUTION, "大和市", M1="住所"),
        error="distribution_list.xlsx, sheet 大和市, row 1, column 住所: 見出し「住所」が重複しています (duplicated header)",
    ),
    Case(
        "distribution-extra-column",
        "distribution",
        cells(DISTRIBUTION, "座間市", N1="確認済", N2="済"),
        unchanged=DIST_TABLES,
        warnings=("distribution_list.xlsx, sheet 座間市: 余分な列を無視しました「確認済」 (extra columns ignored)",),
    ),
    Case(
        "distribution-header-variants",
        "distribution",
        cells(DISTRIBUTION, "座間市", A1="Ｎｏ．", G1="FAX番号", I1="担当者メールアドレス"),
        unchanged=DIST_TABLES,
    ),
    Case(
        "distribution-full-width-digits",
        "distribution",
        cells(DISTRIBUTION, "座間市", A2="１", F2="０４６－０３７－５４２４", L2="２０２４／１２／１３"),
        unchanged=DIST_TABLES,
    ),
    Case(
        "distribution-wareki-and-impossible-dates",
        "distribution",
        cells(DISTRIBUTION, "大和市", L2="R6.12.29", L3="2024年12月15日", L44="令和6年2月30日"),
        quarantine=(
            q(
                DISTRIBUTION,
                "大和市",
                44,
                "配布日",
                "令和6年2月30日",
                "存在しない日付です「令和6年2月30日」 (impossible date)",
                "normalise.date",
            ),
        ),
        # The impossible 配布日 is left out; the organisation stays.
        counts={"organization": 157, "organization_source": 171},
        cells=((DISTRIBUTION, 44, "配布日"),),
        picks=(
            Pick(
                "organization",
                {"name": ("(サンプル)ぬくもりこども食堂・学習室", "(サンプル)NPO法人 つばさ子どもの居場所")},
                ("name", "first_source_list", "distributed_on"),
                [
                    ("(サンプル)ぬくもりこども食堂・学習室", "大和市", dt.date(2024, 12, 29)),
                    ("(サンプル)NPO法人 つばさ子どもの居場所", "大和市", dt.date(2024, 12, 15)),
                ],
            ),
        ),
        full_build=True,
    ),
    Case(
        # One bad 所在市 costs that cell: the city comes from the address, so the organisation, its survey answer
        # and its map pin all stay as they were.
        "distribution-city-outside-the-four",
        "distribution",
        cells(DISTRIBUTION, "座間市", D6="横浜市"),
        quarantine=(
            q(
                DISTRIBUTION,
                "座間市",
                6,
                "所在市",
                "横浜市",
                "未知の市「横浜市」 (unknown category: city): 住所から座間市としました (city taken from the address)",
                "normalise.city",
            ),
        ),
        cells=((DISTRIBUTION, 6, "所在市"),),
        unchanged=(*DIST_TABLES, "location", "survey_response"),
        full_build=True,
    ),
    Case(
        "distribution-unknown-categories",
        "distribution",
        cells(DISTRIBUTION, "大和市", K44="伝書鳩", C41="宗教法人"),
        quarantine=(
            q(
                DISTRIBUTION,
                "大和市",
                41,
                "法人格",
                "宗教法人",
                "未知の法人格「宗教法人」 (unknown category: legal form)",
                "normalise.legal_form",
            ),
            q(
                DISTRIBUTION,
                "大和市",
                44,
                "配布方法",
                "伝書鳩",
                "未知の配布方法「伝書鳩」 (unknown category: distribution channel)",
                "normalise.channel",
            ),
        ),
        # Unknown 法人格 and 配布方法 are not keys: both organisations stay, and so does the answer of one of them.
        counts={"organization": 157, "survey_response": 63},
        cells=((DISTRIBUTION, 41, "法人格"), (DISTRIBUTION, 44, "配布方法")),
    ),
    Case(
        "distribution-duplicate-organisation-spelling-variant",
        "distribution",
        append_row(
            DISTRIBUTION,
            "綾瀬市",
            [
                24,
                "（ｻﾝﾌﾟﾙ）社福　みどり会",
                "社会福祉法人",
                "座間",
                None,
                None,
                None,
                None,
                None,
                None,
                "郵送",
                "令和7年1月10日",
                None,
            ],
        ),
        counts={"organization": 157, "organization_source": 172},
        picks=(
            Pick(
                "organization",
                {"name": "(サンプル)社会福祉法人 みどり会"},
                ("first_source_list", "source_count", "distribution_channel_code"),
                [("座間市", 2, "mail")],
            ),
            Pick(
                "organization_source",
                {"source_list": "綾瀬市", "source_row": 25},
                ("name_as_listed", "city_code"),
                [("（ｻﾝﾌﾟﾙ）社福　みどり会", "14216")],
            ),
        ),
        full_build=True,
    ),
    Case(
        "distribution-formula-cell",
        "distribution",
        cells(DISTRIBUTION, "大和市", E44='=HYPERLINK("https://example.jp/map","地図")'),
        quarantine=(
            q(
                DISTRIBUTION,
                "大和市",
                44,
                "住所",
                '=HYPERLINK("https://example.jp/map","地図")',
                FORMULA,
                "extract.formula",
            ),
        ),
        counts={"organization": 156},
    ),
    Case(
        "distribution-formula-looking-text",
        "distribution",
        text_cell(DISTRIBUTION, "大和市", "E44", '=HYPERLINK("https://example.jp/map","地図")'),
        counts={"organization": 157},
        picks=(
            Pick(
                "organization",
                {"name": "(サンプル)あおぞらこども食堂"},
                ("address",),
                [('=HYPERLINK("https://example.jp/map","地図")',)],
            ),
        ),
    ),
    Case(
        "distribution-not-an-xlsx",
        "distribution",
        raw_bytes(DISTRIBUTION, lambda _: "No,団体名\r\n1,さくら\r\n".encode("cp932")),
        error="distribution_list.xlsx: Excel ファイルとして読めません (not a valid .xlsx file: File is not a zip file)",
    ),
    Case(
        "distribution-xlsx-zip-bomb",
        "distribution",
        add_zip_member(DISTRIBUTION, "xl/media/padding.bin", bytes(4 * MiB)),
        error="distribution_list.xlsx: 圧縮率が異常です「xl/media/padding.bin」 (suspicious compression ratio, possible zip bomb; "
        "limit 100:1; set TSUNAGARI_MAX_COMPRESSION_RATIO or --max-compression-ratio)",
    ),
    # --- events.xlsx --------------------------------------------------------------------------------
    Case(
        "events-more-consultees-than-participants",
        "events",
        cells(EVENTS, "開催回", G26=127),
        quarantine=(
            q(
                EVENTS,
                "開催回",
                26,
                "うち相談者数",
                "127",
                "相談者数が参加者数を超えています (more consultees than participants)",
                "rule.consultees_within_participants",
            ),
        ),
        # The session stays; only its impossible consultee count is left out.
        counts={"event": 6, "event_session": 25, "pii.event_session_consultees": 6},
        cells=((EVENTS, 26, "うち相談者数"),),
        full_build=True,
    ),
    Case(
        "events-contract-amount-zero",
        "events",
        cells(EVENTS, "契約", D3="0円"),
        quarantine=(
            q(
                EVENTS,
                "契約",
                3,
                "amount_yen",
                "0",
                "金額は正の数です (amount must be positive)",
                "gx.expect_column_values_to_be_between",
            ),
        ),
        counts={"contract": 1},
        full_build=True,
    ),
    Case(
        "events-unknown-kind-takes-its-rows",
        "events",
        cells(EVENTS, "イベント", B7="演劇"),
        quarantine=(
            q(
                EVENTS,
                "イベント",
                7,
                "種別",
                "演劇",
                "未知の種別「演劇」 (unknown category: event kind)",
                "normalise.event_kind",
            ),
            # Its sessions, tallies and comments are dependants of that row, one record per sheet.
            *(
                dependants(EVENTS, sheet, "イベントID", f"{EVENTS}, sheet イベント, row 7", n, ja, en)
                for sheet, n, ja, en in (
                    ("開催回", 1, "開催回", "sessions"),
                    ("アンケート集計", 5, "アンケート集計", "venue-survey tallies"),
                    ("自由記述", 2, "自由記述", "comments"),
                )
            ),
        ),
        counts={"event": 5, "event_session": 24, "event_survey_result": 10, "event_comment": 6},
    ),
    Case(
        "events-full-width-and-wareki",
        "events",
        cells(EVENTS, "開催回", C3="R7.2.22", D3="９：００", H3="４１６名"),
        unchanged=("event_session",),
    ),
    Case(
        "events-merged-cells",
        "events",
        merge(EVENTS, "開催回", "A3:A4"),
        quarantine=(
            q(
                EVENTS,
                "開催回",
                3,
                "イベントID",
                "EX-EBINA",
                "結合セルがあります（A3:A4） (merged cells)",
                "extract.merged_cells",
            ),
            q(
                EVENTS,
                "開催回",
                4,
                "イベントID",
                "EX-EBINA",
                "結合セルがあります（A3:A4） (merged cells)",
                "extract.merged_cells",
            ),
            q(EVENTS, "開催回", 4, "イベントID", None, REQUIRED, "normalise.required"),
        ),
        counts={"event_session": 23},
    ),
    Case(
        "events-blank-rows",
        "events",
        insert_blank_rows(EVENTS, "出欠", 10, 3),
        counts={"pii.event_attendance": 102},
    ),
    Case(
        "events-missing-sheet",
        "events",
        rename_sheet(EVENTS, "契約", "契約一覧"),
        error="events.xlsx, sheet 契約: シート「契約」がありません (missing sheet)",
    ),
    # --- pf_progress.xlsx ---------------------------------------------------------------------------
    Case(
        "progress-impossible-nendo-month-and-order",
        "progress",
        cells(PROGRESS, "進捗", D2="R6年度13月", E3="R6年度4月", C4="保留"),
        quarantine=(
            q(
                PROGRESS,
                "進捗",
                2,
                "開始",
                "R6年度13月",
                "存在しない月です「R6年度13月」 (invalid month)",
                "normalise.nendo_month",
            ),
            q(
                PROGRESS,
                "進捗",
                3,
                "完了",
                "R6年度4月",
                "完了が開始より前 (completed before it started)",
                "rule.completed_before_start",
            ),
            q(
                PROGRESS,
                "進捗",
                4,
                "状態",
                "保留",
                "未知の状態「保留」 (unknown category: status)",
                "normalise.pf_status",
            ),
        ),
        # The unreadable 開始 is left out; that step stays.
        counts={"pf_progress": 38},
        cells=((PROGRESS, 2, "開始"),),
        full_build=True,
    ),
    Case(
        "progress-wareki-nendo-variants",
        "progress",
        cells(PROGRESS, "進捗", D2="令和6年度8月〜", E2="R6年度10月"),
        picks=(
            Pick(
                "pf_progress",
                {"source_row": 2},
                ("start_month", "start_precision", "start_label", "end_month"),
                [(dt.date(2024, 8, 1), "month", "令和6年度8月〜", dt.date(2024, 10, 1))],
            ),
        ),
        counts={"pf_progress": 40},
    ),
    Case(
        "progress-formula-cell",
        "progress",
        cells(PROGRESS, "進捗", H2="=TODAY()"),
        quarantine=(
            q(PROGRESS, "進捗", 2, "記入日", "=TODAY()", FORMULA, "extract.formula"),
            q(
                PROGRESS,
                "進捗",
                2,
                "記入日",
                "=TODAY()",
                "日付として読めません「=TODAY()」 (unrecognised date)",
                "normalise.date",
            ),
        ),
        counts={"pf_progress": 39},
    ),
    Case(
        "progress-notes-impossible-date-and-unknown-kind",
        "progress",
        cells(PROGRESS, "振り返り", B2="令和6年2月30日", C3="感想"),
        quarantine=(
            q(
                PROGRESS,
                "振り返り",
                2,
                "日付",
                "令和6年2月30日",
                "存在しない日付です「令和6年2月30日」 (impossible date)",
                "normalise.date",
            ),
            q(
                PROGRESS,
                "振り返り",
                3,
                "区分",
                "感想",
                "未知の区分「感想」 (unknown category: note kind)",
                "normalise.note_kind",
            ),
        ),
        counts={"pf_note": 10},
    ),
    # --- resource_map.kmz (Google My Maps) ----------------------------------------------------------
    Case(
        "map-swapped-lat-lon",
        "mymaps",
        kml(lambda d: d.replace("139.457595,35.486936,0", "35.486936,139.457595,0")),
        quarantine=(
            q(
                MAP,
                "大和市",
                1,
                "coordinates",
                "35.486936,139.457595,0",
                "緯度と経度が逆 (latitude and longitude swapped)",
                "range.coordinates",
            ),
        ),
        counts={"location": 149},
        full_build=True,
    ),
    Case(
        "map-outside-the-four-cities",
        "mymaps",
        kml(lambda d: d.replace("139.457595,35.486936,0", "139.7671,35.6812,0")),
        quarantine=(
            q(
                MAP,
                "大和市",
                1,
                "coordinates",
                "139.7671,35.6812,0",
                "4市の範囲外 (outside the four-city area)",
                "range.coordinates",
            ),
        ),
        counts={"location": 149},
    ),
    Case(
        "map-xxe-external-entity",
        "mymaps",
        kmz({"doc.kml": XXE}),
        error="resource_map.kmz: 安全でない XML です（DTD・実体参照は使えません） (unsafe XML: DTDForbidden)",
    ),
    Case(
        "map-billion-laughs",
        "mymaps",
        kmz({"doc.kml": LAUGHS}),
        error="resource_map.kmz: 安全でない XML です（DTD・実体参照は使えません） (unsafe XML: DTDForbidden)",
    ),
    Case(
        "map-zip-bomb",
        "mymaps",
        kml(lambda d: d + BOMB),
        error="resource_map.kmz: 圧縮率が異常です「doc.kml」 (suspicious compression ratio, possible zip bomb; "
        "limit 100:1; set TSUNAGARI_MAX_COMPRESSION_RATIO or --max-compression-ratio)",
    ),
    Case(
        "map-path-traversal",
        "mymaps",
        kmz({"../../evil.kml": "<kml/>"}, keep_doc=True),
        error="resource_map.kmz: 圧縮ファイルに危険なパス「../../evil.kml」があります (unsafe path in archive)",
    ),
    Case(
        "map-not-kml",
        "mymaps",
        kmz({"doc.kml": '<?xml version="1.0"?><gpx version="1.1"><trk><name>散歩</name></trk></gpx>'}),
        error="resource_map.kmz: KML ではありません（ルート要素 <gpx>） (not a KML document)",
    ),
    Case(
        "map-not-xml",
        "mymaps",
        kmz({"doc.kml": "名前,緯度,経度\n公園,35.48,139.40\n"}),
        error="resource_map.kmz: XML として読めません (not well-formed XML: syntax error: line 1, column 0)",
    ),
    Case("map-huge-file", "mymaps", sparse(MAP, MAX_FILE_BYTES + 1), error=too_large(MAP, MAX_FILE_BYTES + 1)),
    Case("map-plain-kml", "mymaps", plain_kml, unchanged=("location",)),
    # --- cities.csv ---------------------------------------------------------------------------------
    Case(
        "cities-population-zero-stops-the-run",
        "cities",
        text(CITIES, lambda t: t.replace("244000", "0"), "utf-8"),
        error=(
            "validation failed, nothing published:\n- cities.csv, city: 人口は正の数です (population must be positive) "
            "[expect_column_values_to_be_between(population, min_value=0, strict_min=True)] 0 ×1"
        ),
        full_build=True,
    ),
    Case(
        "cities-code-and-name-disagree",
        "cities",
        text(CITIES, lambda t: t.replace("14213,大和市", "14213,海老名市"), "utf-8"),
        quarantine=(
            q(
                CITIES,
                None,
                2,
                "市名",
                "海老名市",
                "市区町村コードと市名が一致しません (city code and name disagree)",
                "rule.city_code_name",
            ),
        ),
        picks=(Pick("city", {"code": "14213"}, ("population",), [(None,)]),),
        counts={"city": 4},
    ),
    Case(
        "cities-full-width-digits-and-crlf",
        "cities",
        text(CITIES, lambda t: t.replace("244000", "２４４，０００").replace("\n", "\r\n"), "utf-8"),
        unchanged=("city",),
    ),
    Case(
        "cities-unclosed-quote",
        "cities",
        text(CITIES, lambda t: t.replace("14215,", '14215,"', 1), "utf-8"),
        error='cities.csv, row 3: CSV として読めません（引用符 " の閉じ忘れなど） (malformed CSV: unexpected end of data)',
    ),
    Case(
        "cities-header-only",
        "cities",
        text(CITIES, lambda t: t.splitlines()[0] + "\n", "utf-8"),
        error="cities.csv: データ行がありません (no data rows)",
    ),
    # --- reference geography (towns/<市名>.json, boundaries/*.geojson) ------------------------------
    Case(
        "reference-town-outside-and-towns-without-coordinates",
        "reference",
        reference_json("towns/座間市.json", lambda towns: [*towns, DISTANT_TOWN]),
        quarantine=(
            *(
                q(
                    f"towns/{city}.json",
                    None,
                    5,
                    "lat",
                    "座標なしテスト町",
                    "代表点の座標がありません (town has no coordinates)",
                    "reference.town",
                )
                for city in ("大和市", "海老名市", "座間市", "綾瀬市")
            ),
            q(
                "towns/座間市.json",
                None,
                6,
                "latitude",
                "35.6812",
                "緯度が4市の範囲外です (latitude outside the four-city area)",
                "gx.expect_column_values_to_be_between",
            ),
            q(
                "towns/座間市.json",
                None,
                6,
                "longitude",
                "139.7671",
                "経度が4市の範囲外です (longitude outside the four-city area)",
                "gx.expect_column_values_to_be_between",
            ),
        ),
        counts={"ref_town": 16, "ref_city_boundary": 4},
        full_build=True,
    ),
    Case(
        "reference-towns-broken-json",
        "reference",
        reference_file("towns/座間市.json", '[{"town": "中央"'),
        error="towns/座間市.json: JSON として読めません (not valid JSON): Expecting ',' delimiter: line 1 column 15 (char 14)",
    ),
    Case(
        "reference-towns-not-an-array",
        "reference",
        reference_file("towns/座間市.json", '{"town": "中央", "lat": 35.48, "lng": 139.40}'),
        error="towns/座間市.json: 町丁目の一覧（JSON 配列）ではありません (expected a JSON array of towns)",
    ),
    Case(
        "reference-towns-shift-jis",
        "reference",
        reference_file("towns/座間市.json", '[{"town": "中央", "lat": 35.48, "lng": 139.40}]'.encode("cp932")),
        error=(
            "towns/座間市.json: JSON として読めません (not valid JSON): "
            "'utf-8' codec can't decode byte 0x92 in position 11: invalid start byte"
        ),
    ),
    Case(
        "reference-boundaries-not-a-feature-collection",
        "reference",
        reference_file("boundaries/synthetic_squares.geojson", '{"type": "Feature", "geometry": null}'),
        error="boundaries/synthetic_squares.geojson: GeoJSON FeatureCollection として読めません (not a FeatureCollection): 'features'",
    ),
]

# Malformed entries inside a well-formed reference file: the structure is broken → SourceError naming the
# file and entry; a town whose coordinate is not a number is one bad row → quarantined, the rest kept.
CASES += [
    Case(
        "reference-town-entry-not-an-object",
        "reference",
        reference_file("towns/座間市.json", '["中央一丁目"]'),
        error="towns/座間市.json, row 1: 町丁目の形式ではありません (town entry is not an object)",
    ),
    Case(
        "reference-town-latitude-not-a-number",
        "reference",
        reference_file(
            "towns/座間市.json",
            '[{"town": "中央", "lat": "北緯35度", "lng": 139.4}, {"town": "緑ケ丘", "lat": 35.49, "lng": 139.41}]',
        ),
        quarantine=(
            q(
                "towns/座間市.json",
                None,
                1,
                "lat",
                "北緯35度",
                "座標が数値ではありません (coordinate is not a number)",
                "reference.town",
            ),
            *(
                q(
                    f"towns/{city}.json",
                    None,
                    5,
                    "lat",
                    "座標なしテスト町",
                    "代表点の座標がありません (town has no coordinates)",
                    "reference.town",
                )
                for city in ("大和市", "海老名市", "綾瀬市")
            ),
        ),
        counts={"ref_town": 13},  # 4 valid towns in each of the other three fixture cities + 緑ケ丘
    ),
    Case(
        "reference-boundary-feature-without-coordinates",
        "reference",
        reference_file(
            "boundaries/synthetic_squares.geojson",
            '{"type": "FeatureCollection", "features": [{"properties": {"N03_007": "14213"}, "geometry": {"type": "Polygon"}}]}',
        ),
        error="boundaries/synthetic_squares.geojson, row 1: 境界の座標がありません (feature has no coordinates)",
    ),
]

# A full build validates the whole bundle with Great Expectations (tens of seconds each): slow tier.
PARAMS = [pytest.param(case, id=case.id, marks=[pytest.mark.slow] if case.full_build else []) for case in CASES]


@functools.cache
def vocabulary() -> Vocabulary:
    """The seed vocabularies (for reference.load)."""
    return Vocabulary.load(SEEDS_DIR)


@functools.cache
def sample_tables() -> dict[str, pl.DataFrame]:
    """Warehouse frames of the unmutated sample at the transform stage (cached: the baseline of `unchanged`)."""
    return transform_bundle(SAMPLE, SEEDS_DIR).tables


def content(frame: pl.DataFrame) -> pl.DataFrame:
    """A table's DDL columns in a stable row order (lineage dropped: moving a file's rows is not a change)."""
    frame = frame.drop([c for c in LINEAGE if c in frame.columns])
    return frame.sort(frame.columns, nulls_last=True)


def sort_records(records: list[Record] | tuple[Record, ...]) -> list[Record]:
    """Quarantine records in one stable order (None sorts first)."""
    return sorted(records, key=lambda r: tuple((v is not None, v if isinstance(v, int) else str(v or "")) for v in r))


def file_hash(path: Path) -> str:
    """sha256 of a file's bytes."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


@dataclass
class Outcome:
    """What one run of a stage gave: the tables needed by the case, quarantine, warnings, encodings."""

    tables: dict[str, pl.DataFrame]
    baseline: dict[str, pl.DataFrame]
    quarantine: list[Record]
    warnings: list[str]
    encodings: dict[str, str | None]
    cells: set[tuple[str, int, str]]


RECORD = ["file_name", "sheet", "row_number", "column_name", "value", "reason", "check_name"]


def cell_records(rows) -> set[tuple[str, int, str]]:
    """(file, row, column) of cell-level records."""
    return {(row[0], row[2], row[3]) for row in rows}


def needed_tables(case: Case) -> set[str]:
    """Every table a case's assertions read."""
    return set(case.counts) | set(case.unchanged) | {pick.table for pick in case.picks}


def run_transform(case: Case, inputs: Inputs) -> Outcome:
    """Extract and normalise only: transform_bundle, or reference.load for the reference geography."""
    if case.kind == "reference":
        geography = reference.load(inputs.reference, vocabulary())
        return Outcome(geography.tables, {}, list(geography.quarantine.select(RECORD).rows()), [], {}, set())
    # In this process: a case's sparse huge file would send the bundle to worker processes (~2.5 CPU-s to start
    # them); that path, its frames and its errors are test_fast_transforms' worker tests.
    bundle = transform_bundle(inputs.bundle, SEEDS_DIR, parallel=False)
    return Outcome(
        bundle.tables,
        sample_tables(),
        list(bundle.quarantine.select(RECORD).rows()),
        bundle.warnings,
        {stat.file_name: stat.encoding for stat in bundle.files},
        cell_records(bundle.quarantine.filter(pl.col("scope") == "cell").select(RECORD).rows()),
    )


def run_build(case: Case, inputs: Inputs, warehouse: Path, sample_warehouse: Path) -> Outcome:
    """The whole pipeline into a new warehouse, read back with a read-only connection."""
    events: list[StepEvent] = []
    result = build(
        inputs.bundle,
        warehouse,
        progress=events.append,
        reference_dir=inputs.reference if case.kind == "reference" else None,
    )
    tables = needed_tables(case)
    with (
        duckdb.connect(str(warehouse), read_only=True) as con,
        duckdb.connect(str(sample_warehouse), read_only=True) as sample,
    ):
        frames = {name: con.sql(f"select * from {quoted(name)}").pl() for name in tables}
        baseline = {name: sample.sql(f"select * from {quoted(name)}").pl() for name in case.unchanged}
        quarantine = con.execute(
            "select file_name, sheet, row_number, column_name, value, reason, check_name from quarantine where run_id = ?",
            [result.run_id],
        ).fetchall()
        encodings = dict(
            con.execute("select file_name, encoding from etl_source_file where run_id = ?", [result.run_id]).fetchall()
        )
        cells = con.execute(
            "select file_name, sheet, row_number, column_name, value, reason, check_name from quarantine "
            "where run_id = ? and scope = 'cell'",
            [result.run_id],
        ).fetchall()
    warnings = [event.detail for event in events if event.step == Step.WARNING]
    return Outcome(frames, baseline, quarantine, warnings, encodings, cell_records(cells))


def test_catalogue_covers_every_source_kind_and_enough_full_builds():
    kinds = {case.kind for case in CASES}
    assert kinds == {"survey", "distribution", "mymaps", "events", "progress", "cities", "reference"}
    assert len(CASES) >= 40
    assert sum(case.full_build for case in CASES) >= 10
    assert len({case.id for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case", PARAMS)
def test_bad_input(case: Case, tmp_path, sample_warehouse):
    inputs = fresh_inputs(tmp_path)
    case.mutate(inputs)
    warehouse = tmp_path / "w.duckdb"

    if case.error is not None:
        if case.full_build:
            # A failed run must leave the published warehouse exactly as it was.
            shutil.copy(sample_warehouse, warehouse)
            before = file_hash(warehouse)
            with pytest.raises(EtlError) as failure:
                build(inputs.bundle, warehouse, reference_dir=inputs.reference if case.kind == "reference" else None)
            assert file_hash(warehouse) == before
            assert sorted(p.name for p in tmp_path.iterdir() if ".tmp" in p.name) == []
        else:
            with pytest.raises(EtlError) as failure:
                run_transform(case, inputs)
        assert isinstance(
            failure.value, ValidationFailed if case.error.startswith("validation failed") else SourceError
        )
        assert str(failure.value) == case.error
        return

    outcome = run_build(case, inputs, warehouse, sample_warehouse) if case.full_build else run_transform(case, inputs)
    assert sort_records(outcome.quarantine) == sort_records(case.quarantine)
    assert outcome.cells == set(case.cells)
    assert outcome.warnings == list(case.warnings)
    assert {name: outcome.tables[name].height for name in case.counts} == dict(case.counts)
    for name in case.unchanged:
        assert_frame_equal(content(outcome.tables[name]), content(outcome.baseline[name]))
    for pick in case.picks:
        frame = outcome.tables[pick.table]
        for column, value in pick.where.items():
            frame = frame.filter(pl.col(column).is_in(value) if isinstance(value, tuple) else pl.col(column) == value)
        assert sorted(frame.select(pick.columns).rows(), key=repr) == sorted(pick.rows, key=repr)
    if case.encoding is not None:
        file_name, encoding = case.encoding
        assert outcome.encodings[file_name] == encoding


def test_data_quality_doc_lists_every_expectation_as_generated():
    from bad_inputs.quality_doc import DOC, current_section, render

    assert current_section(DOC.read_text(encoding="utf-8")) == render(), (
        "docs/data-quality.md is out of date: run .venv/bin/python tests/bad_inputs/quality_doc.py"
    )


def test_data_quality_doc_explains_every_row_check():
    from bad_inputs.quality_doc import DOC

    from etl.vocab import KIND_LABELS

    root = Path(__file__).resolve().parent.parent / "etl"
    found = set()
    for path in root.rglob("*.py"):
        found |= set(
            re.findall(
                r'"((?:extract|normalise|match|range|rule|dedupe|reference)\.[a-z_]+)"',
                path.read_text(encoding="utf-8"),
            )
        )
    # Unknown vocabulary labels are reported as normalise.<kind>.
    found |= {f"normalise.{kind}" for kind in KIND_LABELS}
    doc = DOC.read_text(encoding="utf-8")
    assert sorted(name for name in found if f"`{name}`" not in doc) == []
