"""distribution_list.xlsx: five sheets into de-duplicated organisations, sources and contacts."""

from __future__ import annotations

import datetime as dt
import hashlib
import zipfile
from functools import partial

import polars as pl
import pytest

from etl.errors import SourceError
from etl.sources import base, distribution

from .builders import dist_row, distribution_sheets, lineage_of, write_xlsx

FILE = "distribution_list.xlsx"


def org(key: str) -> str:
    """Organisation id of a name key, computed independently."""
    return "ORG-" + hashlib.sha1(key.encode("utf-8")).hexdigest()[:12]


SAKURA, HIKARI, AOZORA = org("サンプルさくら"), org("サンプルひかり会"), org("サンプルあおぞらの会")


def run(tmp_path, ctx, sheets=None, **kwargs):
    """Write the workbook, extract and transform it."""
    path = write_xlsx(tmp_path / FILE, sheets or distribution_sheets(), **kwargs)
    return distribution.transform(distribution.extract(path), ctx)


lineage = partial(lineage_of, FILE)


def test_extract_gives_strings_and_lineage(tmp_path):
    raw = distribution.extract(write_xlsx(tmp_path / FILE, distribution_sheets()))
    assert raw.columns == [*distribution.COLUMNS, "_file", "_sheet", "_row", "_issues"]
    assert raw.select("_sheet", "_row", "No", "配布日").rows() == [
        ("座間市", 2, "1", "2024-12-02"),
        ("座間市", 3, "2", "R6.12.3"),
        ("大和市", 2, "1", "2024/12/4"),
        ("自主調査", 2, "1", "2024-12-05"),
    ]
    assert raw["_issues"].to_list() == [[], [], [], []]


def test_happy_path(tmp_path, ctx):
    result = run(tmp_path, ctx)
    assert result.rows_read == 4
    assert result.quarantine.height == 0
    assert result.warnings == []
    assert result.encoding is None
    assert result.tables["organization"].to_dicts() == [
        {
            "id": SAKURA,
            "name": "(サンプル)NPO法人 さくら",
            "name_key": "サンプルさくら",
            "legal_form_code": "npo",
            "city_code": "14216",
            "address": "神奈川県座間市緑ケ丘1-1-1",
            "phone": "046-000-0001",
            "fax": None,
            "first_source_list": "座間市",
            "source_count": 2,
            "distribution_channel_code": "mail",
            "distributed_on": dt.date(2024, 12, 2),
            "survey_answered": False,
            "pf_intent_code": None,
            "has_isolation_initiative": None,
            **lineage("座間市", 2),
        },
        {
            "id": HIKARI,
            "name": "(サンプル)社会福祉法人 ひかり会",
            "name_key": "サンプルひかり会",
            "legal_form_code": "social_welfare",
            "city_code": "14216",
            "address": None,
            "phone": "046-000-0002",
            "fax": "046-000-0003",
            "first_source_list": "座間市",
            "source_count": 1,
            "distribution_channel_code": "fax",
            "distributed_on": dt.date(2024, 12, 3),
            "survey_answered": False,
            "pf_intent_code": None,
            "has_isolation_initiative": None,
            **lineage("座間市", 3),
        },
        {
            "id": AOZORA,
            "name": "(サンプル)あおぞらの会",
            "name_key": "サンプルあおぞらの会",
            "legal_form_code": "voluntary",
            "city_code": "14213",
            "address": None,
            "phone": None,
            "fax": None,
            "first_source_list": "大和市",
            "source_count": 1,
            "distribution_channel_code": "hand",
            "distributed_on": dt.date(2024, 12, 4),
            "survey_answered": False,
            "pf_intent_code": None,
            "has_isolation_initiative": None,
            **lineage("大和市", 2),
        },
    ]
    assert result.tables["organization_source"].to_dicts() == [
        {
            "organization_id": SAKURA,
            "source_list": "座間市",
            "source_row": 2,
            "name_as_listed": "（サンプル）NPO法人 さくら",
            "city_code": "14216",
            **lineage("座間市", 2),
        },
        {
            "organization_id": HIKARI,
            "source_list": "座間市",
            "source_row": 3,
            "name_as_listed": "（サンプル）社会福祉法人 ひかり会",
            "city_code": "14216",
            **lineage("座間市", 3),
        },
        {
            "organization_id": AOZORA,
            "source_list": "大和市",
            "source_row": 2,
            "name_as_listed": "（サンプル）あおぞらの会",
            "city_code": "14213",
            **lineage("大和市", 2),
        },
        {
            "organization_id": SAKURA,
            "source_list": "自主調査",
            "source_row": 2,
            "name_as_listed": "（サンプル）特定非営利活動法人\u3000さくら",
            "city_code": "14216",
            **lineage("自主調査", 2),
        },
    ]
    assert result.tables["pii.organization_contact"].to_dicts() == [
        {
            "organization_id": SAKURA,
            "source_list": "座間市",
            "contact_name": "見本 太郎",
            "contact_email": "taro@example.jp",
            "contact_phone": None,
            **lineage("座間市", 2),
        },
        {
            "organization_id": AOZORA,
            "source_list": "大和市",
            "contact_name": None,
            "contact_email": None,
            "contact_phone": "090-0000-0001",
            **lineage("大和市", 2),
        },
    ]


def test_first_sheet_in_list_order_wins_whatever_the_row_order(tmp_path, ctx):
    sheets = distribution_sheets()
    # あおぞらの会 is on 大和市 already; 綾瀬市 comes before 大和市 in list order, so it supplies the attributes.
    sheets["綾瀬市"].append(dist_row(1, "（サンプル）あおぞらの会", "市民団体", "綾瀬市", channel="郵送"))
    result = run(tmp_path, ctx, sheets)
    aozora = result.tables["organization"].filter(pl.col("id") == AOZORA).to_dicts()[0]
    assert (
        aozora["first_source_list"],
        aozora["city_code"],
        aozora["distribution_channel_code"],
        aozora["source_count"],
    ) == (
        "綾瀬市",
        "14218",
        "post",
        2,
    )


def test_an_unreadable_city_costs_only_its_cell_the_address_or_sheet_gives_it(tmp_path, ctx):
    sheets = distribution_sheets()
    # Row 3: a city outside the four, the address in 綾瀬市 → 綾瀬市. Row 4: blank, an address in another
    # prefecture's 東大和市 (not 大和市) → the sheet's city. 自主調査 row 3: a typo, no address → no city to take.
    sheets["大和市"].append(dist_row(2, "（サンプル）ほしぞら", "任意団体", "横浜市", address="神奈川県綾瀬市深谷1-1"))
    sheets["大和市"].append(dist_row(3, "（サンプル）つきよ", "任意団体", None, address="東京都東大和市中央1-1"))
    sheets["自主調査"].append(dist_row(2, "（サンプル）ゆうやけ", "任意団体", "座間巿市"))
    result = run(tmp_path, ctx, sheets)
    cities = dict(result.tables["organization"].select("name_key", "city_code").rows())
    assert (cities["サンプルほしぞら"], cities["サンプルつきよ"]) == ("14218", "14213")
    assert "サンプルゆうやけ" not in cities
    assert result.quarantine.select("sheet", "row_number", "value", "reason", "scope").rows() == [
        (
            "大和市",
            3,
            "横浜市",
            "未知の市「横浜市」 (unknown category: city): 住所から綾瀬市としました (city taken from the address)",
            "cell",
        ),
        (
            "大和市",
            4,
            None,
            "必須項目が空です (required value is missing): シート名から大和市としました (city taken from the sheet name)",
            "cell",
        ),
        ("自主調査", 3, "座間巿市", "未知の市「座間巿市」 (unknown category: city)", "row"),
    ]


def test_bad_key_sets_the_row_aside_and_bad_other_values_become_null(tmp_path, ctx):
    sheets = distribution_sheets()
    # Row 3: unknown 法人格 and an impossible 配布日 are not keys: the organisation loads without them.
    sheets["大和市"].append(dist_row(2, "（サンプル）ほしぞら", "宇宙法人", "大和市", sent="令和6年2月30日"))
    # Row 4: no name and an unknown city: the row is set aside, its bad email with it.
    sheets["大和市"].append(dist_row(3, None, "任意団体", "横浜市", email="no-at-sign"))
    result = run(tmp_path, ctx, sheets)
    assert result.rows_read == 6
    assert result.tables["organization"].height == 4
    assert result.tables["organization_source"].height == 5
    hoshizora = result.tables["organization"].filter(pl.col("name_key") == "サンプルほしぞら").row(0, named=True)
    assert (hoshizora["legal_form_code"], hoshizora["distributed_on"], hoshizora["city_code"]) == (None, None, "14213")
    row3, row4 = f"{FILE}, sheet 大和市, row 3", f"{FILE}, sheet 大和市, row 4"
    assert result.quarantine.select(
        "row_number", "column_name", "value", "reason", "check_name", "scope", "root_cause"
    ).rows() == [
        (
            3,
            "法人格",
            "宇宙法人",
            "未知の法人格「宇宙法人」 (unknown category: legal form)",
            "normalise.legal_form",
            "cell",
            row3,
        ),
        (
            3,
            "配布日",
            "令和6年2月30日",
            "存在しない日付です「令和6年2月30日」 (impossible date)",
            "normalise.date",
            "cell",
            row3,
        ),
        (4, "団体名", None, "必須項目が空です (required value is missing)", "normalise.required", "row", row4),
        (4, "所在市", "横浜市", "未知の市「横浜市」 (unknown category: city)", "normalise.city", "row", row4),
        (
            4,
            "担当者メール",
            "no-at-sign",
            "メールアドレスの形式ではありません「no-at-sign」 (not an email address)",
            "normalise.email",
            "row",
            row4,
        ),
    ]


def test_merged_cells_and_formulas_quarantine_their_rows(tmp_path, ctx):
    sheets = distribution_sheets()
    sheets["大和市"] += [
        dist_row(2, "（サンプル）ほしぞら", "任意団体", "大和市"),
        dist_row(3, "（サンプル）つきあかり", None, None),
        dist_row(4, '=A2&"会"', "任意団体", "大和市"),
    ]
    result = run(tmp_path, ctx, sheets, merges={"大和市": ["D3:D4"]})
    assert result.tables["organization"].height == 3
    assert result.quarantine.select("sheet", "row_number", "column_name", "value", "reason", "check_name").rows() == [
        ("大和市", 3, "所在市", "大和市", "結合セルがあります（D3:D4） (merged cells)", "extract.merged_cells"),
        ("大和市", 4, "所在市", "大和市", "結合セルがあります（D3:D4） (merged cells)", "extract.merged_cells"),
        ("大和市", 4, "所在市", None, "必須項目が空です (required value is missing)", "normalise.required"),
        (
            "大和市",
            5,
            "団体名",
            '=A2&"会"',
            "数式が入っています（値で貼り付けてください） (formula in cell)",
            "extract.formula",
        ),
    ]


def test_merges_beside_the_table_or_in_the_header_are_harmless(tmp_path, ctx):
    sheets = distribution_sheets()
    sheets["座間市"][0] = [*sheets["座間市"][0], None, None]
    result = run(tmp_path, ctx, sheets, merges={"座間市": ["O2:P3", "N1:O1"]})
    assert result.quarantine.height == 0
    assert result.tables["organization_source"].height == 4


def test_blank_rows_hidden_sheets_and_extra_columns(tmp_path, ctx):
    sheets = distribution_sheets()
    sheets["座間市"][0] = [*sheets["座間市"][0], "メモ"]
    sheets["座間市"][1] = [*sheets["座間市"][1], "内部用"]
    sheets["座間市"].insert(2, [None, "  ", None])
    result = run(tmp_path, ctx, sheets, hidden={"作業用": [["x"], ["=1+1"]]})
    assert result.rows_read == 4
    assert result.quarantine.height == 0
    assert result.tables["organization_source"]["source_row"].to_list() == [2, 4, 2, 2]
    assert result.warnings == [f"{FILE}, sheet 座間市: 余分な列を無視しました「メモ」 (extra columns ignored)"]


def test_header_variants_and_full_width_headers(tmp_path, ctx):
    sheets = distribution_sheets()
    sheets["座間市"][0] = [
        "No.",
        "団体名",
        "法人格",
        "所在市",
        "住所",
        "電話番号",
        "ＦＡＸ",
        "担当者名",
        "担当者メールアドレス",
        "担当者電話",
        "配布方法",
        "配布日",
        "備考 ",
    ]
    assert run(tmp_path, ctx, sheets).tables["organization"].height == 3


def test_missing_header_names_file_sheet_and_column(tmp_path):
    sheets = distribution_sheets()
    sheets["綾瀬市"][0] = [c for c in distribution.COLUMNS if c != "所在市"]
    with pytest.raises(SourceError) as error:
        distribution.extract(write_xlsx(tmp_path / FILE, sheets))
    assert (
        str(error.value)
        == f"{FILE}, sheet 綾瀬市, column 所在市: 必須の見出し「所在市」がありません (missing required column)"
    )
    assert (error.value.file, error.value.sheet, error.value.column) == (FILE, "綾瀬市", "所在市")


def test_duplicated_header(tmp_path):
    sheets = distribution_sheets()
    sheets["座間市"][0] = [*distribution.COLUMNS, "団体名"]
    with pytest.raises(SourceError) as error:
        distribution.extract(write_xlsx(tmp_path / FILE, sheets))
    assert (
        str(error.value)
        == f"{FILE}, sheet 座間市, row 1, column 団体名: 見出し「団体名」が重複しています (duplicated header)"
    )


def test_missing_sheet(tmp_path):
    sheets = distribution_sheets()
    del sheets["海老名市"]
    with pytest.raises(SourceError) as error:
        distribution.extract(write_xlsx(tmp_path / FILE, sheets))
    assert str(error.value) == f"{FILE}, sheet 海老名市: シート「海老名市」がありません (missing sheet)"


def test_header_only_workbook_has_no_data_rows(tmp_path):
    sheets = {name: [list(distribution.COLUMNS)] for name in distribution.SHEETS}
    with pytest.raises(SourceError) as error:
        distribution.extract(write_xlsx(tmp_path / FILE, sheets))
    assert str(error.value) == f"{FILE}: データ行がありません (no data rows)"


def test_not_an_xlsx(tmp_path):
    path = tmp_path / FILE
    path.write_text("No,団体名\n1,a\n", encoding="utf-8")
    with pytest.raises(SourceError) as error:
        distribution.extract(path)
    assert error.value.file == FILE
    assert error.value.message.startswith("Excel ファイルとして読めません (not a valid .xlsx file")


def test_empty_file(tmp_path):
    (tmp_path / FILE).write_bytes(b"")
    with pytest.raises(SourceError) as error:
        distribution.extract(tmp_path / FILE)
    assert str(error.value) == f"{FILE}: ファイルが空です (empty file)"


def test_file_size_cap(tmp_path, monkeypatch):
    path = write_xlsx(tmp_path / FILE, distribution_sheets())
    monkeypatch.setattr(base, "MAX_FILE_BYTES", 1000)
    with pytest.raises(SourceError) as error:
        distribution.extract(path)
    assert (
        error.value.message
        == f"ファイルが大きすぎます（{path.stat().st_size} バイト） (file too large, limit 1000 bytes; "
        "set TSUNAGARI_MAX_FILE_BYTES or --max-file-bytes)"
    )


def test_xlsx_with_path_traversal_member(tmp_path):
    path = write_xlsx(tmp_path / FILE, distribution_sheets())
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr("../../evil.txt", "x")
    with pytest.raises(SourceError) as error:
        distribution.extract(path)
    assert str(error.value) == f"{FILE}: 圧縮ファイルに危険なパス「../../evil.txt」があります (unsafe path in archive)"


def test_organization_id():
    assert distribution.organization_id("サンプルさくら") == SAKURA
    assert SAKURA.startswith("ORG-") and len(SAKURA) == 16
