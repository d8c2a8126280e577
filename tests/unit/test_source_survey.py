"""survey_answers.csv: answers matched to organisations, services, terms, areas and respondents."""

from __future__ import annotations

import codecs
import datetime as dt

import polars as pl
import pytest

from etl.errors import SourceError
from etl.sources import survey
from etl.sources.base import Context
from etl.vocab import Vocabulary

from .builders import SEEDS, lineage_of, survey_header, survey_row, write_csv

FILE = "survey_answers.csv"
FORM = "支援の形態（当てはまるものをすべて選択してください）"
CONTENT = "活動内容（当てはまるものをすべて選択してください）"
ORGS = pl.DataFrame(
    {
        "id": ["ORG-A", "ORG-B"],
        "name": ["(サンプル)NPO法人 さくら", "(サンプル)あおぞらの会"],
        "name_key": ["サンプルさくら", "サンプルあおぞらの会"],
        "city_code": ["14216", "14213"],
    }
)
L2 = lineage_of(FILE, None, 2)
L3 = lineage_of(FILE, None, 3)


def answers() -> list[list]:
    """Header and two valid answers."""
    return [
        survey_header(),
        survey_row("2025/01/15 10:23:45", "（サンプル）ＮＰＯ法人さくら", ideas="一行目\n二行目"),
        survey_row(
            "2025/1/5 9:03:00",
            "（サンプル）あおぞらの会",
            city="大和",
            legal="",
            respondent="",
            email="",
            content="ＤＶ",
            form="その他",
            target="誰でも",
            area="大和市",
            languages="",
            accessibility="なし",
            initiative="いいえ",
            intent="",
        ),
    ]


def run(tmp_path, ctx, rows=None, encoding="cp932"):
    """Write the CSV, extract and transform it."""
    path = write_csv(tmp_path / FILE, rows or answers(), encoding=encoding)
    return survey.transform(survey.extract(path), ctx)


def test_happy_path(tmp_path, ctx):
    result = run(tmp_path, ctx)
    assert result.rows_read == 2
    assert result.quarantine.height == 0
    tables = result.tables
    assert tables["survey_response"].to_dicts() == [
        {
            "id": "RES-ORG-A",
            "organization_id": "ORG-A",
            "submitted_at": dt.datetime(2025, 1, 15, 10, 23, 45),
            "city_code": "14216",
            "legal_form_code": "npo",
            "has_isolation_initiative": True,
            "pf_intent_code": "join",
            "source_row": 2,
            **L2,
        },
        {
            "id": "RES-ORG-B",
            "organization_id": "ORG-B",
            "submitted_at": dt.datetime(2025, 1, 5, 9, 3),
            "city_code": "14213",
            "legal_form_code": None,
            "has_isolation_initiative": False,
            "pf_intent_code": None,
            "source_row": 3,
            **L3,
        },
    ]
    assert tables["service"].to_dicts() == [
        {
            "id": "SVC-ORG-A",
            "organization_id": "ORG-A",
            "name": "(サンプル)NPO法人 さくら",
            "hours": "毎週水曜 10:00-15:00",
            "languages": "日本語、英語",
            "accessibility": "車いす対応",
            "referrals": None,
            "ideas": "一行目\n二行目",
            **L2,
        },
        {
            "id": "SVC-ORG-B",
            "organization_id": "ORG-B",
            "name": "(サンプル)あおぞらの会",
            "hours": "毎週水曜 10:00-15:00",
            "languages": None,
            "accessibility": "なし",
            "referrals": None,
            "ideas": None,
            **L3,
        },
    ]
    assert tables["attribute"].select("id", "link_id", "link_type", "link_entity", "taxonomy_term_id").rows() == [
        ("ATT-SVC-ORG-A-content:hikikomori", "SVC-ORG-A", "content", "service", "content:hikikomori"),
        ("ATT-SVC-ORG-A-content:kodomo_shokudo", "SVC-ORG-A", "content", "service", "content:kodomo_shokudo"),
        ("ATT-SVC-ORG-A-form:ibasho", "SVC-ORG-A", "form", "service", "form:ibasho"),
        ("ATT-SVC-ORG-A-form:employment", "SVC-ORG-A", "form", "service", "form:employment"),
        ("ATT-SVC-ORG-A-target:youth", "SVC-ORG-A", "target", "service", "target:youth"),
        ("ATT-SVC-ORG-B-content:dv", "SVC-ORG-B", "content", "service", "content:dv"),
        ("ATT-SVC-ORG-B-form:other", "SVC-ORG-B", "form", "service", "form:other"),
        ("ATT-SVC-ORG-B-target:anyone", "SVC-ORG-B", "target", "service", "target:anyone"),
    ]
    assert tables["service_area"].to_dicts() == [
        {"id": "SA-SVC-ORG-A-14216", "service_id": "SVC-ORG-A", "city_code": "14216", "name": "座間市", **L2},
        {"id": "SA-SVC-ORG-A-OUT", "service_id": "SVC-ORG-A", "city_code": None, "name": "4市以外", **L2},
        {"id": "SA-SVC-ORG-B-14213", "service_id": "SVC-ORG-B", "city_code": "14213", "name": "大和市", **L3},
    ]
    assert tables["pii.survey_respondent"].to_dicts() == [
        {
            "response_id": "RES-ORG-A",
            "organization_id": "ORG-A",
            "respondent_name": "試験 花子",
            "respondent_email": "hanako@example.jp",
            "respondent_phone": None,
            **L2,
        },
    ]


@pytest.mark.parametrize(("encoding", "expected"), [("cp932", "cp932"), ("utf-8", "utf-8"), ("utf-8-sig", "utf-8-sig")])
def test_encodings_give_the_same_rows(tmp_path, ctx, encoding, expected):
    path = write_csv(tmp_path / FILE, answers(), encoding=encoding)
    assert survey.encoding(path) == expected
    raw = survey.extract(path)
    assert raw.columns[0] == "タイムスタンプ"
    assert survey.transform(raw, ctx).tables["survey_response"].height == 2


def test_unknown_label_is_left_out_and_the_answer_stays(tmp_path, ctx):
    rows = answers()
    rows[1][rows[0].index(FORM)] = "宇宙旅行"
    result = run(tmp_path, ctx, rows)
    assert result.tables["survey_response"]["id"].to_list() == ["RES-ORG-A", "RES-ORG-B"]
    assert sorted(result.tables["attribute"]["link_id"].unique().to_list()) == ["SVC-ORG-A", "SVC-ORG-B"]
    assert (
        result.tables["attribute"].filter((pl.col("link_id") == "SVC-ORG-A") & (pl.col("link_type") == "form")).height
        == 0
    )
    assert result.quarantine.to_dicts() == [
        {
            "file_name": FILE,
            "sheet": None,
            "row_number": 2,
            "column_name": FORM,
            "value": "宇宙旅行",
            "reason": "未知の支援の形態「宇宙旅行」 (unknown category: support form)",
            "check_name": "normalise.form",
            "scope": "cell",
            "root_cause": f"{FILE}, row 2",
            "dependants": None,
        },
    ]


def test_a_multi_answer_cell_keeps_its_known_labels(tmp_path, ctx):
    rows = answers()
    rows[2][rows[0].index(CONTENT)] = "ほげ, DV"
    result = run(tmp_path, ctx, rows)
    assert result.tables["survey_response"].height == 2
    content = result.tables["attribute"].filter((pl.col("link_id") == "SVC-ORG-B") & (pl.col("link_type") == "content"))
    assert content.height == 1
    assert result.quarantine.select("row_number", "column_name", "value", "scope").rows() == [
        (3, CONTENT, "ほげ", "cell")
    ]


def test_several_bad_cells_give_one_record_each(tmp_path, ctx):
    rows = answers()
    rows[2] = survey_row(
        "2025/13/01 10:00:00",
        "（サンプル）あおぞらの会",
        area="大和市, 横浜市, 川崎市",
        content="ほげ, DV",
        initiative="たぶん",
    )
    result = run(tmp_path, ctx, rows)
    # The unreadable timestamp is required: the row is set aside, and each bad value is one record of it.
    assert result.tables["survey_response"].height == 1
    assert set(result.quarantine["scope"]) == {"row"}
    assert result.quarantine.select("row_number", "column_name", "value", "reason").rows() == [
        (
            3,
            "タイムスタンプ",
            "2025/13/01 10:00:00",
            "存在しない日時です「2025/13/01 10:00:00」 (impossible timestamp)",
        ),
        (
            3,
            "活動内容（当てはまるものをすべて選択してください）",
            "ほげ",
            "未知の活動内容「ほげ」 (unknown category: activity content)",
        ),
        (
            3,
            "活動している市（当てはまるものをすべて選択してください）",
            "横浜市",
            "未知の市「横浜市」 (unknown category: city)",
        ),
        (
            3,
            "活動している市（当てはまるものをすべて選択してください）",
            "川崎市",
            "未知の市「川崎市」 (unknown category: city)",
        ),
        (
            3,
            "人とのつながりや孤独・孤立に関連する取組を行っていますか",
            "たぶん",
            "「はい」か「いいえ」ではありません「たぶん」 (expected はい or いいえ)",
        ),
    ]


def test_organisation_not_on_the_distribution_list(tmp_path, ctx):
    rows = answers()
    rows[2][1] = "（サンプル）ほしぞら"
    result = run(tmp_path, ctx, rows)
    assert result.quarantine.to_dicts() == [
        {
            "file_name": FILE,
            "sheet": None,
            "row_number": 3,
            "column_name": "団体名",
            "value": "（サンプル）ほしぞら",
            "reason": "配布リストにない団体 (not on the distribution list)",
            "check_name": "match.organization",
            "scope": "row",
            "root_cause": f"{FILE}, row 3",
            "dependants": None,
        },
    ]


def test_latest_answer_wins_and_earlier_is_superseded(tmp_path, ctx):
    rows = answers()
    rows.append(survey_row("2025/01/10 08:00:00", "（サンプル）NPO法人 さくら", form="相談窓口"))
    result = run(tmp_path, ctx, rows)
    assert result.tables["survey_response"].select("id", "source_row").rows() == [("RES-ORG-A", 2), ("RES-ORG-B", 3)]
    assert result.quarantine.to_dicts() == [
        {
            "file_name": FILE,
            "sheet": None,
            "row_number": 4,
            "column_name": "タイムスタンプ",
            "value": "2025/01/10 08:00:00",
            "reason": "重複回答（新しい回答を採用） (superseded by a later answer)",
            "check_name": "dedupe.survey_response",
            "scope": "row",
            "root_cause": f"{FILE}, row 4",
            "dependants": None,
        },
    ]
    assert "ATT-SVC-ORG-A-form:consultation" not in result.tables["attribute"]["id"].to_list()


def test_record_numbers_count_multiline_cells_and_blank_lines_as_one_row(tmp_path, ctx):
    path = tmp_path / FILE
    rows = answers()
    write_csv(path, rows, encoding="utf-8")
    # A blank line after the header and after the first answer (whose ideas cell spans two lines).
    path.write_bytes(path.read_bytes().replace(b"\r\n", b"\r\n\r\n", 2))
    raw = survey.extract(path)
    assert raw["_row"].to_list() == [3, 5]


def test_too_many_fields_is_quarantined(tmp_path, ctx):
    rows = answers()
    rows[2] = [*rows[2], "はみ出し"]
    result = run(tmp_path, ctx, rows)
    assert result.quarantine.select("row_number", "column_name", "value", "reason", "check_name").rows() == [
        (3, None, "はみ出し", "見出しより列が多い行です (more fields than headers)", "extract.csv_fields"),
    ]


def test_short_question_headers_are_accepted(tmp_path, ctx):
    rows = answers()
    rows[0] = [h.split("（当てはまる")[0] for h in rows[0]]
    assert run(tmp_path, ctx, rows).tables["attribute"].height == 8


def test_missing_header(tmp_path):
    rows = answers()
    rows[0][rows[0].index("所在市")] = "市"
    with pytest.raises(SourceError) as error:
        survey.extract(write_csv(tmp_path / FILE, rows))
    assert str(error.value) == f"{FILE}, column 所在市: 必須の見出し「所在市」がありません (missing required column)"


def test_header_only(tmp_path):
    with pytest.raises(SourceError) as error:
        survey.extract(write_csv(tmp_path / FILE, [survey_header(), [""] * 18]))
    assert str(error.value) == f"{FILE}: データ行がありません (no data rows)"


def test_bom_only_file_is_empty(tmp_path):
    (tmp_path / FILE).write_bytes(codecs.BOM_UTF8)
    with pytest.raises(SourceError) as error:
        survey.extract(tmp_path / FILE)
    assert str(error.value) == f"{FILE}: ファイルが空です (empty file)"


def test_transform_needs_the_organisations(tmp_path):
    raw = survey.extract(write_csv(tmp_path / FILE, answers()))
    with pytest.raises(ValueError, match=r"Context\.organizations"):
        survey.transform(raw, Context(Vocabulary.load(SEEDS)))
