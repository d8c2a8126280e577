"""Vocabulary lookups over code, ja, en and aliases (NFKC), and the vocabulary tables."""

from __future__ import annotations

import duckdb
import polars as pl
import pytest

from etl import reference
from etl.pipeline import BOOKKEEPING
from etl.sources.base import TABLE_SCHEMAS
from etl.vocab import LINEAGE, SEED_FILES, UnknownLabel, Vocabulary

from .builders import ROOT, SEEDS

DDL_TYPES = {
    "VARCHAR": pl.String,
    "INTEGER": pl.Int32,
    "BIGINT": pl.Int64,
    "DOUBLE": pl.Float64,
    "DATE": pl.Date,
    "TIME": pl.Time,
    "TIMESTAMP": pl.Datetime("us"),
    "BOOLEAN": pl.Boolean,
}


@pytest.fixture(scope="module")
def vocab() -> Vocabulary:
    """The seed vocabularies."""
    return Vocabulary.load(SEEDS)


@pytest.mark.parametrize(
    ("kind", "label", "expected"),
    [
        ("city", "大和市", "14213"),
        ("city", "大和", "14213"),
        ("city", "Yamato", "14213"),
        ("city", "yamato", "14213"),
        ("city", "14216", "14216"),
        ("city", "１４２１６", "14216"),
        ("city", " 座間市 ", "14216"),
        ("legal_form", "NPO法人", "npo"),
        ("legal_form", "ＮＰＯ法人", "npo"),
        ("legal_form", "特定非営利活動法人", "npo"),
        ("legal_form", "（福）", "social_welfare"),
        ("legal_form", "(一社)", "general_incorporated"),
        ("legal_form", "公益財団法人", "foundation"),
        ("legal_form", "労働者協同組合", "cooperative"),
        ("legal_form", "株式会社", "company"),
        ("legal_form", "voluntary", "voluntary"),
        ("channel", "メール", "mail"),
        ("channel", "Ｅメール", "mail"),
        ("channel", "ＦＡＸ", "fax"),
        ("channel", "ファックス", "fax"),
        ("pf_intent", "関心がある", "interested"),
        ("pf_intent", "参加希望", "join"),
        ("content", "ひきこもり", "content:hikikomori"),
        ("content", "引きこもり", "content:hikikomori"),
        ("content", "子ども食堂", "content:kodomo_shokudo"),
        ("content", "ＤＶ", "content:dv"),
        ("content", "文化・芸術", "content:arts"),
        ("content", "Suicide prevention", "content:suicide_prevention"),
        ("form", "就労支援", "form:employment"),
        ("form", "居場所", "form:ibasho"),
        ("form", "ibasho", "form:ibasho"),
        ("target", "子ども", "target:children"),
        ("target", "障がいのある人", "target:disabled"),
        ("pf_step", "①", "s1"),
        ("pf_step", "1", "s1"),
        ("pf_step", "④-1", "s4_1"),
        ("pf_step", "④‐1", "s4_1"),
        ("pf_step", "④－2", "s4_2"),
        ("pf_step", "主担当部署・主担当者の設定", "s1"),
        ("pf_status", "完了", "done"),
        ("pf_status", "済", "done"),
        ("pf_status", "未定", "undecided"),
    ],
)
def test_lookup(vocab, kind, label, expected):
    assert getattr(vocab, kind)(label) == expected


@pytest.mark.parametrize(
    ("kind", "label", "message"),
    [
        ("city", "横浜市", "未知の市「横浜市」 (unknown category: city)"),
        ("legal_form", "宇宙法人", "未知の法人格「宇宙法人」 (unknown category: legal form)"),
        ("channel", "伝書鳩", "未知の配布方法「伝書鳩」 (unknown category: distribution channel)"),
        ("pf_intent", "たぶん", "未知の参画意向「たぶん」 (unknown category: participation intent)"),
        ("content", "ほげ", "未知の活動内容「ほげ」 (unknown category: activity content)"),
        ("content", "家庭", "未知の活動内容「家庭」 (unknown category: activity content)"),
        ("form", "宇宙旅行", "未知の支援の形態「宇宙旅行」 (unknown category: support form)"),
        ("target", "ロボット", "未知の対象者「ロボット」 (unknown category: target group)"),
        ("pf_step", "⑩", "未知のステップ「10」 (unknown category: step)"),
        ("pf_status", "中止", "未知の状態「中止」 (unknown category: status)"),
        ("city", "", "未知の市「」 (unknown category: city)"),
    ],
)
def test_unknown_label(vocab, kind, label, message):
    with pytest.raises(UnknownLabel) as error:
        getattr(vocab, kind)(label)
    assert str(error.value) == message
    assert isinstance(error.value, ValueError)
    assert error.value.kind == kind


def test_lookup_many_dedupes_and_names_every_unknown_label(vocab):
    assert vocab.lookup_many("form", ["居場所", "居場所づくり", "相談"]) == ["form:ibasho", "form:consultation"]
    with pytest.raises(UnknownLabel) as error:
        vocab.lookup_many("form", ["居場所", "宇宙旅行", "月面散歩"])
    assert str(error.value) == "未知の支援の形態「宇宙旅行」「月面散歩」 (unknown category: support form)"


def test_seed_paths(vocab):
    assert vocab.seed == {name: SEEDS / file for name, file in SEED_FILES.items()}
    assert all(path.is_file() for path in vocab.seed.values())


def test_tables_have_ddl_columns_plus_lineage(vocab):
    tables = vocab.tables()
    assert sorted(tables) == sorted(
        ["city", "legal_form", "channel", "pf_intent", "taxonomy", "taxonomy_term", "pf_phase", "pf_step", "pf_status"]
    )
    for name, frame in tables.items():
        assert frame.schema == pl.Schema(TABLE_SCHEMAS[name] | LINEAGE), name


def test_table_schemas_match_the_ddl():
    con = duckdb.connect()
    for path in sorted((ROOT / "warehouse" / "ddl").glob("*.sql")):
        con.execute(path.read_text(encoding="utf-8"))
    rows = con.execute(
        "select table_schema, table_name, column_name, data_type from information_schema.columns "
        "order by table_schema, table_name, ordinal_position"
    ).fetchall()
    ddl: dict[str, dict[str, pl.DataType]] = {}
    for schema, table, column, data_type in rows:
        name = table if schema == "main" else f"{schema}.{table}"
        ddl.setdefault(name, {})[column] = DDL_TYPES[data_type]
    bookkeeping = set(BOOKKEEPING)
    # Reference geography is produced by etl/reference.py, with its own frame schemas.
    geography = {
        "ref_town": reference.TOWN_COLUMNS,
        "ref_city_boundary": reference.BOUNDARY_COLUMNS,
        "ref_source": reference.SOURCE_COLUMNS,
    }
    assert sorted(TABLE_SCHEMAS) == sorted(set(ddl) - bookkeeping - set(geography))
    for name, columns in TABLE_SCHEMAS.items():
        assert list(columns.items()) == list(ddl[name].items()), name
    for name, columns in geography.items():
        data = {c: t for c, t in columns.items() if c not in LINEAGE}
        assert list(data.items()) == list(ddl[name].items()), name


def test_simple_tables(vocab):
    tables = vocab.tables()
    assert tables["city"].drop("_file", "_sheet", "_row").to_dicts()[0] == {
        "code": "14213",
        "name_ja": "大和市",
        "name_en": "Yamato",
        "sort_order": 1,
        "population": None,
        "population_date": None,
    }
    assert tables["channel"].to_dicts()[3] == {
        "code": "fax",
        "name_ja": "FAX",
        "name_en": "Fax",
        "sort_order": 4,
        "_file": "channel.csv",
        "_sheet": None,
        "_row": 5,
    }
    assert tables["pf_step"].filter(pl.col("code") == "s4_1").drop("_file", "_sheet", "_row").to_dicts() == [
        {
            "code": "s4_1",
            "label": "④-1",
            "name_ja": "取組テーマ決定",
            "name_en": "Theme decided",
            "phase_code": "i",
            "sort_order": 4,
        }
    ]
    assert tables["pf_phase"]["label"].to_list() == ["(ア)", "(イ)", "(ウ)", "(エ)"]
    assert tables["taxonomy"].select("id", "name", "name_en").to_dicts() == [
        {"id": "content", "name": "活動内容", "name_en": "Activity contents"},
        {"id": "form", "name": "支援の形態", "name_en": "Support forms"},
        {"id": "target", "name": "対象者", "name_en": "Target groups"},
    ]


def test_taxonomy_terms(vocab):
    terms = vocab.tables()["taxonomy_term"].drop("_file", "_sheet", "_row")
    assert terms.height == 7 + 24 + 10 + 8
    assert terms["id"].is_unique().all()
    assert terms.filter(pl.col("parent_id").is_null() & (pl.col("taxonomy_id") == "content")).select(
        "id", "code", "name", "sort_order"
    ).to_dicts() == [
        {"id": "content:group_family", "code": "group_family", "name": "家庭", "sort_order": 1},
        {"id": "content:group_children", "code": "group_children", "name": "こども・若者", "sort_order": 8},
        {"id": "content:group_elderly", "code": "group_elderly", "name": "高齢者", "sort_order": 12},
        {"id": "content:group_disability", "code": "group_disability", "name": "障害", "sort_order": 15},
        {"id": "content:group_poverty", "code": "group_poverty", "name": "生活困窮", "sort_order": 17},
        {"id": "content:group_community", "code": "group_community", "name": "地域・多文化", "sort_order": 20},
        {"id": "content:group_health", "code": "group_health", "name": "健康・いのち", "sort_order": 23},
    ]
    assert terms.filter(pl.col("id") == "content:disability").to_dicts() == [
        {
            "id": "content:disability",
            "taxonomy_id": "content",
            "code": "disability",
            "parent_id": "content:group_disability",
            "name": "障害者支援",
            "name_en": "Disability support",
            "sort_order": 15,
            "gradient_rank": None,
            "color_hex": None,
        }
    ]
    forms = terms.filter(pl.col("taxonomy_id") == "form")
    assert forms.select("id", "sort_order", "gradient_rank", "color_hex").rows()[::4] == [
        ("form:outreach", 1, 1, "#1f4e79"),
        ("form:volunteer", 5, 5, "#8bc34a"),
        ("form:information", 9, None, "#9e9e9e"),
    ]
    assert terms.filter(pl.col("taxonomy_id") == "target")["id"].to_list()[:2] == ["target:children", "target:youth"]


def test_missing_seed_is_a_source_error(tmp_path):
    from etl.errors import SourceError

    with pytest.raises(SourceError) as error:
        Vocabulary.load(tmp_path)
    assert str(error.value) == "city.csv: 語彙ファイルがありません (seed file not found)"


def test_a_label_used_twice_in_a_seed_is_a_source_error(tmp_path):
    from etl.errors import SourceError

    for file in SEED_FILES.values():
        (tmp_path / file).write_bytes((SEEDS / file).read_bytes())
    (tmp_path / "channel.csv").write_text(
        "code,ja,en,sort_order,aliases\nmail,メール,Email,1,\npost,郵送,Post,2,メール\n", encoding="utf-8"
    )
    with pytest.raises(SourceError) as error:
        Vocabulary.load(tmp_path)
    assert (
        str(error.value) == "channel.csv, row 3: 語彙のラベル「メール」が重複しています (label used twice in channel)"
    )
