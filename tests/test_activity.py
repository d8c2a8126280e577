"""活動分布: queries against the raw survey file, chart specs, and the page in AppTest."""

from __future__ import annotations

import csv
import io
import json
import math
import re
import unicodedata
from collections import Counter
from pathlib import Path

import polars as pl
import pytest
from streamlit.proto.WidgetStates_pb2 import WidgetStates
from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage
from streamlit.testing.v1 import AppTest

from common.roles import PUBLIC, Viewer
from dashboard.charts import activity as charts
from dashboard.format import MISSING
from dashboard.i18n import translate
from warehouse import masking
from warehouse.query import activity as query

ROOT = Path(__file__).resolve().parent.parent
SURVEY = ROOT / "data" / "sample" / "survey_answers.csv"
SEEDS = ROOT / "warehouse" / "seeds"
APP = "../dashboard/app.py"
PAGE = "pages/activity.py"
EVERYONE = query.ActivityFilter()


# ---------------------------------------------------------------------------------------------------
# The raw survey, read here with csv and the seeds' aliases only (independent of etl/).


def _key(text: str) -> str:
    """Label as compared with the seeds: NFKC, trimmed."""
    return unicodedata.normalize("NFKC", text).strip()


def _seed(name: str) -> list[dict[str, str]]:
    """Rows of a seed CSV."""
    with open(SEEDS / name, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def _aliases(rows: list[dict[str, str]]) -> dict[str, str]:
    """Every accepted label (ja, en, code, aliases) → code."""
    labels = {}
    for row in rows:
        for label in [row["ja"], row["en"], row["code"], *row["aliases"].split("|")]:
            if label:
                labels[_key(label)] = row["code"]
    return labels


CONTENT_SEED = _seed("taxonomy_content.csv")
CONTENT = _aliases(CONTENT_SEED)
GROUP_OF = {row["code"]: row["group_code"] for row in CONTENT_SEED}
FORM = _aliases(_seed("taxonomy_form.csv"))
CITY = _aliases(_seed("city.csv"))
LEGAL_FORM = _aliases(_seed("legal_form.csv"))
PF_INTENT = _aliases(_seed("pf_intent.csv"))
SEPARATORS = re.compile(r"[,、，;；／/\n]")


def _many(cell: str, labels: dict[str, str]) -> set[str]:
    """Codes of a multi-answer cell."""
    return {labels[_key(part)] for part in SEPARATORS.split(cell) if _key(part)}


def raw_answers() -> list[dict]:
    """One parsed answer per organisation (the latest when an organisation answered twice)."""
    with open(SURVEY, encoding="cp932", newline="") as handle:
        rows = list(csv.DictReader(handle))
    latest: dict[str, dict] = {}
    for row in sorted(rows, key=lambda r: r["タイムスタンプ"]):
        latest[_key(row["団体名"])] = row
    return [
        {
            "city": CITY[_key(row["所在市"])],
            "legal_form": LEGAL_FORM[_key(row["法人格"])],
            "pf_intent": PF_INTENT[_key(row["官民連携プラットフォームへの参画意向"])],
            "content": _many(row["活動内容（当てはまるものをすべて選択してください）"], CONTENT),
            "form": _many(row["支援の形態（当てはまるものをすべて選択してください）"], FORM),
        }
        for row in latest.values()
    ]


def raw_counts(answers: list[dict]) -> tuple[Counter, Counter, Counter]:
    """Organisations per (group, category), per group and per form: once each however often named."""
    categories, groups, forms = Counter(), Counter(), Counter()
    for answer in answers:
        categories.update((GROUP_OF[code], code) for code in answer["content"])
        groups.update({GROUP_OF[code] for code in answer["content"]})
        forms.update(answer["form"])
    return categories, groups, forms


# ---------------------------------------------------------------------------------------------------
# Queries


def test_raw_file_has_63_organisations():
    assert len(raw_answers()) == 63


@pytest.mark.parametrize(
    "filters",
    [
        EVERYONE,
        query.ActivityFilter(city_code="14218"),
        query.ActivityFilter(legal_forms=("npo", "voluntary")),
        query.ActivityFilter(pf_intents=("join",)),
        query.ActivityFilter(city_code="14213", legal_forms=("npo",), pf_intents=("interested", "join")),
    ],
    ids=["all", "ayase", "npo+voluntary", "join", "yamato-npo-intent"],
)
def test_content_and_form_counts_equal_the_raw_file(sample_con, filters):
    answers = [
        a
        for a in raw_answers()
        if (filters.city_code is None or a["city"] == filters.city_code)
        and (not filters.legal_forms or a["legal_form"] in filters.legal_forms)
        and (not filters.pf_intents or a["pf_intent"] in filters.pf_intents)
    ]
    categories, groups, forms = raw_counts(answers)

    assert query.respondents(sample_con, filters) == len(answers)
    content = query.content_counts(sample_con, filters, "ja")
    assert {(r["group_code"], r["category_code"]): r["category_orgs"] for r in content.to_dicts()} == {
        ("group_" + group, code): n for (group, code), n in categories.items()
    }
    assert {r["group_code"]: r["group_orgs"] for r in content.to_dicts()} == {
        "group_" + group: n for group, n in groups.items()
    }
    ranking = query.form_counts(sample_con, filters, "ja")
    assert {r["form_code"]: r["orgs"] for r in ranking.to_dicts() if r["orgs"]} == dict(forms)
    assert ranking["orgs"].to_list() == sorted(ranking["orgs"].to_list(), reverse=True)


def test_sample_headline_figures(sample_con):
    """The report's statements hold on the sample: N=63, 家庭 largest, forms 就労支援 > 生活サポート > 居場所づくり."""
    assert query.respondents(sample_con, EVERYONE) == 63
    content = query.content_counts(sample_con, EVERYONE, "ja")
    assert content.select("group_label", "group_orgs").unique(maintain_order=True).to_dicts() == [
        {"group_label": "家庭", "group_orgs": 33},
        {"group_label": "こども・若者", "group_orgs": 27},
        {"group_label": "生活困窮", "group_orgs": 20},
        {"group_label": "高齢者", "group_orgs": 17},
        {"group_label": "地域・多文化", "group_orgs": 16},
        {"group_label": "障害", "group_orgs": 15},
        {"group_label": "健康・いのち", "group_orgs": 9},
    ]
    assert content.filter(pl.col("group_code") == "group_family").select(
        "category_label", "category_orgs", "category_share_pct"
    ).to_dicts() == [
        {"category_label": "子育て", "category_orgs": 12, "category_share_pct": 19.0},
        {"category_label": "ひきこもり", "category_orgs": 12, "category_share_pct": 19.0},
        {"category_label": "ひとり親", "category_orgs": 5, "category_share_pct": 7.9},
        {"category_label": "身寄りがない人", "category_orgs": 5, "category_share_pct": 7.9},
        {"category_label": "虐待", "category_orgs": 3, "category_share_pct": 4.8},
        {"category_label": "DV", "category_orgs": 3, "category_share_pct": 4.8},
        {"category_label": "ヤングケアラー", "category_orgs": 1, "category_share_pct": 1.6},
    ]
    forms = query.form_counts(sample_con, EVERYONE, "ja")
    assert forms.select("rank", "form_label", "color_hex", "orgs", "share_pct").to_dicts() == [
        {"rank": 1, "form_label": "就労支援", "color_hex": "#4caf50", "orgs": 27, "share_pct": 42.9},
        {"rank": 2, "form_label": "生活サポート", "color_hex": "#ff7043", "orgs": 23, "share_pct": 36.5},
        {"rank": 3, "form_label": "居場所づくり", "color_hex": "#3f9fbf", "orgs": 20, "share_pct": 31.7},
        {"rank": 4, "form_label": "相談窓口", "color_hex": "#2e75b6", "orgs": 16, "share_pct": 25.4},
        {"rank": 5, "form_label": "ボランティア・役割のある場", "color_hex": "#8bc34a", "orgs": 12, "share_pct": 19.0},
        {"rank": 6, "form_label": "アウトリーチ", "color_hex": "#1f4e79", "orgs": 10, "share_pct": 15.9},
        {"rank": 7, "form_label": "安全に時間を過ごせる場所", "color_hex": "#ffc107", "orgs": 8, "share_pct": 12.7},
        {"rank": 8, "form_label": "情報提供・啓発", "color_hex": "#9e9e9e", "orgs": 8, "share_pct": 12.7},
        {"rank": 9, "form_label": "自然や人と接する機会", "color_hex": "#cddc39", "orgs": 7, "share_pct": 11.1},
        {"rank": 10, "form_label": "その他", "color_hex": "#bdbdbd", "orgs": 2, "share_pct": 3.2},
    ]


def test_form_city_matrix_matches_the_raw_file(sample_con):
    expected = Counter((a["city"], form) for a in raw_answers() for form in a["form"])
    matrix = query.form_city_matrix(sample_con, EVERYONE, "ja")
    assert matrix.height == 4 * 10  # every city × every form, zeros kept
    assert {(r["city_code"], r["form_code"]): r["orgs"] for r in matrix.to_dicts() if r["orgs"]} == dict(expected)
    assert matrix["city_label"].unique(maintain_order=True).to_list() == ["大和市", "海老名市", "座間市", "綾瀬市"]
    one_city = query.form_city_matrix(sample_con, query.ActivityFilter(city_code="14218"), "en")
    assert one_city["city_label"].unique().to_list() == ["Ayase"]
    assert one_city.head(2).select("form_label", "orgs").to_dicts() == [
        {"form_label": "Employment support", "orgs": 10},
        {"form_label": "Everyday-life support", "orgs": 5},
    ]


def test_breakdown_counts_each_organisation_once_per_value_and_term(sample_con):
    answers = raw_answers()
    by_city = query.breakdown(sample_con, EVERYONE, "ja", "form", "city")
    assert {(r["by_code"], r["term_code"]): r["orgs"] for r in by_city.to_dicts() if r["orgs"]} == dict(
        Counter((a["city"], form) for a in answers for form in a["form"])
    )
    assert by_city.select("by_label", "respondents").unique(maintain_order=True).to_dicts() == [
        {"by_label": "大和市", "respondents": 19},
        {"by_label": "海老名市", "respondents": 16},
        {"by_label": "座間市", "respondents": 16},
        {"by_label": "綾瀬市", "respondents": 12},
    ]
    by_legal = query.breakdown(sample_con, EVERYONE, "ja", "group", "legal_form")
    assert {(r["by_code"], r["term_code"]): r["orgs"] for r in by_legal.to_dicts() if r["orgs"]} == {
        (legal, "group_" + group): n
        for (legal, group), n in Counter(
            (a["legal_form"], g) for a in answers for g in {GROUP_OF[c] for c in a["content"]}
        ).items()
    }
    by_target = query.breakdown(sample_con, EVERYONE, "en", "group", "target")
    assert by_target.select("by_label", "respondents").unique(maintain_order=True).to_dicts() == [
        {"by_label": "Children", "respondents": 21},
        {"by_label": "Young people", "respondents": 18},
        {"by_label": "Families raising children", "respondents": 18},
        {"by_label": "Older people", "respondents": 12},
        {"by_label": "People with disabilities", "respondents": 15},
        {"by_label": "Foreign residents", "respondents": 1},
        {"by_label": "People in hardship", "respondents": 10},
        {"by_label": "Anyone", "respondents": 19},
    ]
    assert by_target.height == 8 * 7  # every target × every field, zeros kept


def test_survey_reach(sample_con):
    assert query.reach_total(sample_con, EVERYONE) == {"distributed": 157, "answered": 63, "rate_pct": 40.1}
    assert query.reach(sample_con, EVERYONE, "ja", "channel").drop("code").to_dicts() == [
        {"label": "メール", "distributed": 94, "answered": 36, "rate_pct": 38.3},
        {"label": "郵送", "distributed": 25, "answered": 10, "rate_pct": 40.0},
        {"label": "手渡し", "distributed": 28, "answered": 13, "rate_pct": 46.4},
        {"label": "FAX", "distributed": 10, "answered": 4, "rate_pct": 40.0},
    ]
    assert query.reach(sample_con, EVERYONE, "en", "city").drop("code").to_dicts() == [
        {"label": "Yamato", "distributed": 52, "answered": 19, "rate_pct": 36.5},
        {"label": "Ebina", "distributed": 38, "answered": 16, "rate_pct": 42.1},
        {"label": "Zama", "distributed": 37, "answered": 16, "rate_pct": 43.2},
        {"label": "Ayase", "distributed": 30, "answered": 12, "rate_pct": 40.0},
    ]
    legal = query.reach(sample_con, EVERYONE, "ja", "legal_form")
    assert legal["distributed"].sum() == 157 and legal["answered"].sum() == 63
    assert legal.filter(pl.col("code") == "voluntary").drop("code").to_dicts() == [
        {"label": "任意団体", "distributed": 31, "answered": 21, "rate_pct": 67.7}
    ]
    # PF intent is only known for answers: reach ignores it; city and legal form apply.
    npo_ayase = query.ActivityFilter(city_code="14218", legal_forms=("npo",), pf_intents=("join",))
    assert query.reach_total(sample_con, npo_ayase) == {"distributed": 11, "answered": 5, "rate_pct": 45.5}
    nobody = query.ActivityFilter(city_code="14218", legal_forms=("cooperative",))
    assert query.reach_total(sample_con, nobody) == {"distributed": 0, "answered": 0, "rate_pct": None}
    assert query.reach(sample_con, nobody, "ja", "city").is_empty()


def test_default_content_counts_from_the_mart_equal_the_live_sums(sample_con):
    """No filter but the city: mart_activity_content_share's rows are the statement's, dtypes and order included."""
    cities = [None, "nowhere", *(row[0] for row in sample_con.execute("select code from city").fetchall())]
    for city in cities:
        for lang in ("ja", "en"):
            filters = query.ActivityFilter(city_code=city)
            stored, live = (
                query.content_counts(sample_con, filters, lang),
                query._content_counts(sample_con, filters, lang),
            )
            assert stored.schema == live.schema
            assert stored.equals(live), (city, lang)
    assert query.content_counts(sample_con, EVERYONE, "ja").height > 0


def test_reaches_is_every_dimension_in_one_frame(sample_con):
    """reaches (the page's one statement) holds each dimension's reach, each summing to reach_total."""
    for filters in (EVERYONE, query.ActivityFilter(city_code="14218"), query.ActivityFilter(legal_forms=("npo",))):
        every = query.reaches(sample_con, filters, "en")
        assert set(every["dimension"]) == set(query.REACH_DIMENSIONS)
        total = query.reach_total(sample_con, filters)
        for by in query.REACH_DIMENSIONS:
            rows = query.reach_of(every, by)
            assert rows.columns == ["code", "label", "distributed", "answered", "rate_pct"]
            assert (rows["distributed"].sum(), rows["answered"].sum()) == (total["distributed"], total["answered"])


def _first_list_contacts(sample_con) -> dict[str, tuple]:
    """Contact per organisation as the follow-up list should show it: the first source list's, else the first."""
    contacts = sample_con.execute(
        "select c.organization_id, c.source_list, c.contact_name, c.contact_email, c.contact_phone, "
        "o.first_source_list from pii.organization_contact c join organization o on o.id = c.organization_id"
    ).fetchall()
    chosen: dict[str, tuple] = {}
    for org, _source, name, email, phone, _first in sorted(contacts, key=lambda c: (c[0], c[1] != c[5], c[1])):
        chosen.setdefault(org, (name, email, phone))
    return chosen


def test_the_follow_up_list_is_staff_only(sample_con):
    """An internal work list: public and analysts get neither the list nor, through it, the pii schema."""
    for viewer in (PUBLIC, Viewer("analyst")):
        assert not query.may_see_follow_up(viewer)
        with pytest.raises(query.StaffOnly):
            query.non_respondents(sample_con, EVERYONE, "ja", viewer)
        with pytest.raises(query.StaffOnly):
            query.follow_up_count(sample_con, EVERYONE, viewer)
        # How many did not answer is a published figure.
        assert query.non_respondent_count(sample_con, EVERYONE, viewer) == 157 - 63


@pytest.mark.parametrize("role", ["liaison", "admin"])
def test_non_respondents_show_contacts_to_authorised_roles(sample_con, role):
    rows = query.non_respondents(sample_con, EVERYONE, "ja", Viewer(role))
    ids = dict(sample_con.execute("select name, id from organization where not survey_answered").fetchall())
    chosen = _first_list_contacts(sample_con)
    assert rows.height == 94 == query.follow_up_count(sample_con, EVERYONE, Viewer(role))
    assert rows.columns == [
        "name", "city", "legal_form", "channel", "phone", "contact_name", "contact_email", "contact_phone",
    ]  # fmt: skip
    assert {r["name"]: (r["contact_name"], r["contact_email"], r["contact_phone"]) for r in rows.to_dicts()} == {
        name: chosen.get(org, (None, None, None)) for name, org in ids.items()
    }


def test_non_respondents_show_a_city_manager_their_own_city_only(sample_con):
    manager = Viewer("city_manager", "14216", "zama")
    rows = query.non_respondents(sample_con, EVERYONE, "ja", manager)
    cities = dict(sample_con.execute("select name, city_code from organization where not survey_answered").fetchall())
    ids = dict(sample_con.execute("select name, id from organization where not survey_answered").fetchall())
    chosen = _first_list_contacts(sample_con)
    own = {name for name, city in cities.items() if city == "14216"}
    assert 0 < len(own) < 94
    assert rows.height == len(own) == query.follow_up_count(sample_con, EVERYONE, manager)
    assert {r["name"]: (r["contact_name"], r["contact_email"], r["contact_phone"]) for r in rows.to_dicts()} == {
        name: chosen.get(ids[name], (None, None, None)) for name in own
    }
    # Another city chosen in the filter: nothing of it.
    assert query.non_respondents(sample_con, query.ActivityFilter(city_code="14218"), "ja", manager).height == 0


def test_non_respondents_follow_the_filters(sample_con):
    rows = query.non_respondents(
        sample_con, query.ActivityFilter(city_code="14218", legal_forms=("npo",)), "ja", Viewer("liaison")
    )
    assert rows.height == 11 - 5
    assert set(rows["city"]) == {"綾瀬市"} and set(rows["legal_form"]) == {"NPO法人"}
    assert set(rows["channel"]) <= {"メール", "郵送", "手渡し", "FAX"}


def test_filter_fragments_bind_values():
    fragments, params = query.organisation_filter(
        "o", query.ActivityFilter("14216", ("npo'; drop table x; --",), ("join",))
    )
    assert fragments == [
        "o.city_code = ?",
        "list_contains(?::varchar[], o.legal_form_code)",
        "list_contains(?::varchar[], o.pf_intent_code)",
    ]
    assert params == ["14216", ["npo'; drop table x; --"], ["join"]]
    assert query.organisation_filter("o", query.ActivityFilter(pf_intents=("join",)), intent=False) == ([], [])


# ---------------------------------------------------------------------------------------------------
# Chart builders

SMALL = pl.DataFrame(
    {
        "group_code": ["group_a", "group_a", "group_b"],
        "group_label": ["A", "A", "B"],
        "group_rank": [2, 2, 1],
        "group_orgs": [3, 3, 1],
        "group_share_pct": [75.0, 75.0, 25.0],
        "category_code": ["a1", "a2", "b1"],
        "category_label": ["A1", "A2", "B1"],
        "category_orgs": [3, 1, 1],
        "category_share_pct": [75.0, 25.0, 25.0],
    }
)


def _values(spec: dict, layer: dict) -> list[dict]:
    """Inline rows of one layer of a chart spec."""
    return spec["datasets"][layer["data"]["name"]]


def _encoding(spec: dict, layer: dict) -> dict:
    """A layer's encodings, with those the layers share (Altair may lift them to the top)."""
    return {**spec.get("encoding", {}), **layer.get("encoding", {})}


def test_sunburst_geometry_aligns_categories_inside_their_group():
    groups, categories = charts.sunburst_data(SMALL)
    assert groups.select("group_code", "theta", "theta2", "colour").to_dicts() == [
        {"group_code": "group_a", "theta": 0.0, "theta2": pytest.approx(1.5 * math.pi), "colour": "#e07b39"},
        {"group_code": "group_b", "theta": pytest.approx(1.5 * math.pi), "theta2": pytest.approx(2 * math.pi),
         "colour": "#2e75b6"},
    ]  # fmt: skip
    # A spans 3/4 of the circle; its categories split that span 3:1.
    assert categories.select("category_code", "theta", "theta2").to_dicts() == [
        {"category_code": "a1", "theta": 0.0, "theta2": pytest.approx(1.5 * math.pi * 3 / 4)},
        {"category_code": "a2", "theta": pytest.approx(1.5 * math.pi * 3 / 4), "theta2": pytest.approx(1.5 * math.pi)},
        {"category_code": "b1", "theta": pytest.approx(1.5 * math.pi), "theta2": pytest.approx(2 * math.pi)},
    ]
    drilled, drilled_categories = charts.sunburst_data(SMALL, group="group_a")
    assert drilled.select("group_code", "theta", "theta2").to_dicts() == [
        {"group_code": "group_a", "theta": 0.0, "theta2": pytest.approx(2 * math.pi)}
    ]
    assert drilled_categories["category_code"].to_list() == ["a1", "a2"]
    assert drilled_categories["theta2"].to_list() == pytest.approx([1.5 * math.pi, 2 * math.pi])


def test_sunburst_spec(sample_con):
    counts = query.content_counts(sample_con, EVERYONE, "ja")
    spec = charts.sunburst_chart(counts, 63, "ja").to_dict()
    inner, outer, _, _, centre = spec["layer"]
    assert [layer["mark"]["type"] for layer in spec["layer"]] == ["arc", "arc", "text", "text", "text"]
    for ring in (inner, outer):
        encoding = ring["encoding"]
        assert (encoding["theta"]["field"], encoding["theta2"]["field"]) == ("theta", "theta2")
        assert (encoding["radius"]["field"], encoding["radius2"]["field"]) == ("r_outer", "r_inner")
        assert encoding["theta"]["scale"] is None and encoding["radius"]["scale"] is None
    assert spec["params"] == [
        {
            "name": "group",
            "select": {"type": "point", "fields": ["group_code"], "on": "click"},
            "views": [inner["name"]],
        }
    ]
    rings = _values(spec, inner)
    assert [(r["group_label"], r["group_orgs"]) for r in rings] == [
        ("家庭", 33), ("こども・若者", 27), ("生活困窮", 20), ("高齢者", 17), ("地域・多文化", 16), ("障害", 15),
        ("健康・いのち", 9),
    ]  # fmt: skip
    assert rings[-1]["theta2"] == pytest.approx(2 * math.pi)
    assert {r["r_outer"] for r in rings} == {charts.INNER_RING[1]}
    cats = _values(spec, outer)
    assert len(cats) == 24 and sum(r["category_orgs"] for r in cats) == counts["category_orgs"].sum()
    bounds = {r["group_code"]: (r["theta"], r["theta2"]) for r in rings}
    for cat in cats:
        low, high = bounds[cat["group_code"]]
        assert low - 1e-9 <= cat["theta"] < cat["theta2"] <= high + 1e-9
    assert _values(spec, centre)[0]["text"] == "N=63\n（単位：団体）"
    drilled = charts.sunburst_chart(counts, 63, "en", group="group_elderly").to_dict()
    assert [r["group_label"] for r in _values(drilled, drilled["layer"][0])] == ["高齢者"]
    assert [r["category_label"] for r in _values(drilled, drilled["layer"][1])] == ["見守り", "介護", "認知症"]


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        ({"selection": {"group": [{"group_code": "group_family"}]}}, "group_family"),
        ({"selection": {"group": []}}, None),
        ({"selection": {}}, None),
        (None, None),
    ],
)
def test_selected_group(event, expected):
    assert charts.selected_group(event) == expected


def test_form_ranking_spec(sample_con):
    forms = query.form_counts(sample_con, EVERYONE, "ja")
    spec = charts.form_ranking_chart(forms, "ja").to_dict()
    bars, text = spec["layer"]
    assert (bars["mark"]["type"], text["mark"]["type"]) == ("bar", "text")
    encoding = _encoding(spec, bars)
    assert encoding["y"]["field"] == "form_label"
    assert encoding["y"]["sort"][:3] == ["就労支援", "生活サポート", "居場所づくり"]
    assert encoding["x"]["field"] == "orgs"
    assert encoding["color"] == {"field": "color_hex", "type": "nominal", "scale": None}
    rows = _values(spec, spec)
    assert [(r["form_label"], r["orgs"], r["color_hex"]) for r in rows[:3]] == [
        ("就労支援", 27, "#4caf50"), ("生活サポート", 23, "#ff7043"), ("居場所づくり", 20, "#3f9fbf"),
    ]  # fmt: skip


def test_heatmap_spec(sample_con):
    matrix = query.form_city_matrix(sample_con, EVERYONE, "ja")
    spec = charts.form_city_heatmap(matrix, "ja").to_dict()
    cells, text = spec["layer"]
    assert (cells["mark"]["type"], text["mark"]["type"]) == ("rect", "text")
    encoding = _encoding(spec, cells)
    assert encoding["x"]["field"] == "city_label" and encoding["y"]["field"] == "form_label"
    assert encoding["x"]["sort"] == ["大和市", "海老名市", "座間市", "綾瀬市"]
    assert encoding["color"]["field"] == "orgs" and encoding["color"]["type"] == "quantitative"
    assert _encoding(spec, text)["text"]["field"] == "orgs"
    assert len(_values(spec, spec)) == 40


def test_breakdown_spec_grouped_and_small_multiples(sample_con):
    frame = query.breakdown(sample_con, EVERYONE, "ja", "form", "legal_form")
    grouped = charts.breakdown_chart(frame, "legal_form", "ja").to_dict()
    assert grouped["mark"]["type"] == "bar"
    assert grouped["encoding"]["yOffset"]["field"] == "by_label"
    assert grouped["encoding"]["color"]["field"] == "by_label"
    assert grouped["encoding"]["color"]["title"] == "法人格別"
    multiples = charts.breakdown_chart(frame, "legal_form", "ja", small_multiples=True).to_dict()
    assert multiples["facet"]["field"] == "by_label" and multiples["columns"] == charts.FACET_COLUMNS
    assert multiples["facet"]["sort"] == frame["by_label"].unique(maintain_order=True).to_list()
    assert multiples["spec"]["mark"]["type"] == "bar"
    assert multiples["spec"]["encoding"]["y"]["field"] == "term_label"
    assert "yOffset" not in multiples["spec"]["encoding"]


def test_reach_spec(sample_con):
    frame = query.reach(sample_con, EVERYONE, "ja", "channel")
    spec = charts.reach_chart(frame, "ja").to_dict()
    bars, _ = spec["layer"]
    assert bars["mark"]["type"] == "bar" and _encoding(spec, bars)["yOffset"]["field"] == "measure"
    assert _encoding(spec, bars)["color"]["scale"]["range"] == list(charts.REACH_COLOURS)
    rows = _values(spec, spec)
    assert {(r["label"], r["measure"]): r["orgs"] for r in rows if r["label"] == "メール"} == {
        ("メール", "配布団体数"): 94,
        ("メール", "回答団体数"): 36,
    }


# ---------------------------------------------------------------------------------------------------
# The page in AppTest


class RecordingStorage(MemoryMediaFileStorage):
    """AppTest's media storage, remembered so a test can read what a download button would serve."""

    latest: RecordingStorage | None = None

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        RecordingStorage.latest = self


@pytest.fixture()
def page(sample_warehouse, monkeypatch):
    """The 活動分布 page over the sample warehouse, with download payloads readable."""
    monkeypatch.setenv("TSUNAGARI_WAREHOUSE", str(sample_warehouse))
    monkeypatch.setattr("streamlit.testing.v1.app_test.MemoryMediaFileStorage", RecordingStorage)
    at = AppTest.from_file(APP, default_timeout=60).run()
    return at.switch_page(PAGE).run()


@pytest.fixture(scope="module")
def shown(sample_warehouse, tmp_path_factory, page_runs) -> AppTest:
    """The 活動分布 page as the public opens it, rendered once for the tests that only read it."""
    runs = page_runs(tmp_path_factory.mktemp("activity"), {"TSUNAGARI_WAREHOUSE": str(sample_warehouse)})
    return runs(PAGE)


@pytest.fixture
def staff_page(sample_warehouse, monkeypatch, sign_in):
    """A function opening 活動分布 signed in as a role (and city), with download payloads readable."""
    monkeypatch.setenv("TSUNAGARI_WAREHOUSE", str(sample_warehouse))
    monkeypatch.setattr("streamlit.testing.v1.app_test.MemoryMediaFileStorage", RecordingStorage)

    def apply(role: str, city: str | None = None) -> AppTest:
        at = sign_in(AppTest.from_file(APP, default_timeout=60), role, city)
        return at.run().switch_page(PAGE).run()

    return apply


def download_payload(button) -> bytes:
    """Bytes a download button serves (its proto holds the media URL; the test storage holds the file)."""
    file_id = Path(button.proto.url).stem
    return RecordingStorage.latest.get_file(file_id).content


def csv_frame(payload: bytes) -> pl.DataFrame:
    """A downloaded CSV as text cells (BOM and CRLF checked)."""
    assert payload.startswith("\ufeff".encode()) and b"\r\n" in payload
    return pl.read_csv(io.BytesIO(payload[3:]), infer_schema_length=0)


def metrics(at: AppTest) -> dict[str, str]:
    """Metric label → value."""
    return {m.label: m.value for m in at.metric}


def contents_table(at: AppTest) -> list[tuple[str, str, int]]:
    """(field, category, organisations) rows of the sunburst's table."""
    frame = at.dataframe[0].value
    return list(zip(frame["分野"], frame["カテゴリ"], frame["カテゴリの団体数"], strict=True))


def click_sunburst(at: AppTest, group: str | None) -> AppTest:
    """Send what the browser sends when the sunburst's inner ring is clicked (group None = empty space)."""
    # AppTest has no click API for charts: add the chart's selection (the JSON the frontend writes) to the
    # widget states of the next run, so the page's on_select callback runs as it does in the browser.
    chart = at.get("vega_lite_chart")[0]
    states: WidgetStates = at._tree.get_widget_states()
    state = states.widgets.add()
    state.id = chart.proto.id
    state.string_value = json.dumps({"selection": {"group": [{"group_code": group}] if group else []}})
    return at._run(states)


def test_page_shows_n_and_reach(shown):
    page = shown
    assert not page.exception
    assert page.title[0].value == "活動分布"
    figures = metrics(page)
    assert figures["N（回答団体数）"] == "N=63"
    assert (figures["配布団体数"], figures["回答団体数"], figures["回答率"]) == ("157 団体", "63 団体", "40.1 %")
    assert any(m.value == "配布 157 団体 → 回答 63 団体（回答率 40.1 %）" for m in page.markdown)
    assert any("複数を選んだ団体はカテゴリごとに1回、分野ごとに1回数える" in c.value for c in page.caption)
    assert len(contents_table(page)) == 24
    forms = page.dataframe[1].value
    assert list(forms["支援の形態"][:3]) == ["就労支援", "生活サポート", "居場所づくり"]
    assert list(forms["団体数"][:3]) == [27, 23, 20]
    spec = json.loads(page.get("vega_lite_chart")[0].proto.spec)
    assert [layer["mark"]["type"] for layer in spec["layer"]][:2] == ["arc", "arc"]


def test_filters_change_the_counts(page, sample_con):
    page.multiselect(key="filter_legal_form__ja").set_value(["npo"]).run()
    assert not page.exception
    assert page.session_state["filter_legal_form"] == ["npo"]
    npo = query.ActivityFilter(legal_forms=("npo",))
    assert metrics(page)["N（回答団体数）"] == "N=19"
    assert (metrics(page)["配布団体数"], metrics(page)["回答団体数"]) == ("47 団体", "19 団体")
    expected = query.form_counts(sample_con, npo, "ja")
    assert list(page.dataframe[1].value["団体数"]) == expected["orgs"].to_list()

    page.multiselect(key="filter_pf_intent__ja").set_value(["join"]).run()
    assert page.session_state["filter_pf_intent"] == ["join"]
    assert metrics(page)["N（回答団体数）"] == "N=8"
    # PF intent does not narrow the survey reach (non-respondents have none).
    assert metrics(page)["回答団体数"] == "19 団体"
    both = query.ActivityFilter(legal_forms=("npo",), pf_intents=("join",))
    assert (
        sum(row[2] for row in contents_table(page))
        == query.content_counts(sample_con, both, "ja")["category_orgs"].sum()
    )

    page.selectbox(key="city__ja").select("14218").run()
    assert not page.exception
    assert metrics(page)["N（回答団体数）"] == "N=2"
    assert (metrics(page)["配布団体数"], metrics(page)["回答団体数"]) == ("11 団体", "5 団体")


def test_no_answering_organisation_is_explained(page):
    page.multiselect(key="filter_legal_form__ja").set_value(["medical"])
    page.multiselect(key="filter_pf_intent__ja").set_value(["join"]).run()
    assert not page.exception
    assert metrics(page)["N（回答団体数）"] == "N=0"
    assert any("当てはまる回答団体はありません" in info.value for info in page.info)
    assert metrics(page)["配布団体数"] == "7 団体"  # the reach still shows who was surveyed


def test_drill_down_with_the_selectbox(page):
    page.selectbox(key="activity_group__ja").select("group_elderly").run()
    assert not page.exception
    assert contents_table(page) == [("高齢者", "見守り", 8), ("高齢者", "介護", 7), ("高齢者", "認知症", 3)]
    assert any(c.value == "分野「高齢者」: 17 団体（N=63 のうち）" for c in page.caption)
    spec = json.loads(page.get("vega_lite_chart")[0].proto.spec)
    assert spec["params"][0]["name"] == "group"
    page.selectbox(key="activity_group__ja").select("all").run()
    assert len(contents_table(page)) == 24


def test_drill_down_by_clicking_the_sunburst(page):
    click_sunburst(page, "group_family")
    assert not page.exception
    assert page.session_state["activity_group"] == "group_family"
    assert page.selectbox(key="activity_group__ja").value == "group_family"
    assert {row[0] for row in contents_table(page)} == {"家庭"} and len(contents_table(page)) == 7
    click_sunburst(page, "group_family")  # the field shown, clicked again: back to all fields
    assert page.session_state["activity_group"] == "all"
    assert len(contents_table(page)) == 24


def test_every_download_is_exactly_the_table_shown(page):
    page.selectbox(key="activity_group__ja").select("group_children").run()
    page.selectbox(key="activity_by__ja").select("target").run()
    tables = [element.value for element in page.dataframe]
    buttons = page.get("download_button")
    assert len(tables) == len(buttons) == 7  # the follow-up list is staff's
    for table, button in zip(tables, buttons, strict=True):
        # The screen shows a missing cell as —; the CSV leaves it empty.
        shown = pl.from_pandas(table).cast(pl.String).with_columns(pl.all().replace(MISSING, None))
        downloaded = csv_frame(download_payload(button))
        # The table's own columns first, then the 年度 it shows (the flat sample: R6年度, 2024).
        assert downloaded.drop("年度", "fiscal_year").equals(shown), button.proto.label
        assert downloaded.columns[-2:] == ["年度", "fiscal_year"]
        assert set(downloaded["年度"]) == {"R6年度"} and set(downloaded["fiscal_year"]) == {"2024"}
    categories = csv_frame(download_payload(buttons[0]))["カテゴリ"].to_list()
    assert categories == ["こども食堂", "若者支援", "学習支援", "不登校"]


def test_follow_up_list_is_not_shown_to_the_public(shown):
    page = shown
    assert any(translate("ja", "activity.follow_up_staff_only") == c.value for c in page.caption)
    assert any("94 団体が未回答" in c.value for c in page.caption)
    assert not any("担当者名" in d.value.columns for d in page.dataframe)
    assert "activity_download_non_respondents" not in [b.key for b in page.get("download_button")]


@pytest.mark.parametrize("role, city", [("liaison", None), ("admin", None), ("city_manager", "14216")])
def test_follow_up_list_for_staff(staff_page, sample_con, role, city):
    at = staff_page(role, city)
    assert not at.exception
    follow_up = at.dataframe[-1].value
    cities = [
        c for (c,) in sample_con.execute("select city_code from organization where not survey_answered").fetchall()
    ]
    assert len(follow_up) == (len(cities) if city is None else cities.count(city))
    if city is not None:
        assert set(follow_up["市"]) == {"座間市"}
        own = translate(
            "ja", "activity.follow_up_own_city", city="座間市", listed=str(cities.count(city)), total=str(len(cities))
        )
        assert own in [c.value for c in at.caption]  # the view's count and the manager's list, both said
    listed = csv_frame(download_payload(at.get("download_button")[-1]))
    assert listed.height == len(follow_up) and masking.MASK not in set(listed["担当者名"].drop_nulls())


def test_a_manager_viewing_another_city_gets_no_empty_follow_up_list(staff_page, sample_con):
    at = staff_page("city_manager", "14216")
    at.selectbox(key="city__ja").select("14213").run()  # 大和市
    assert not at.exception
    total = sample_con.execute("select count(*) from organization where not survey_answered and city_code = '14213'")
    own = translate("ja", "activity.follow_up_own_city", city="座間市", listed="0", total=str(total.fetchone()[0]))
    assert own in [c.value for c in at.caption]
    assert not any("担当者名" in d.value.columns for d in at.dataframe)
    assert "activity_download_non_respondents" not in [b.key for b in at.get("download_button")]


def test_breakdown_small_multiples(page):
    page.selectbox(key="activity_by__ja").select("target").run()
    page.toggle(key="activity_small_multiples").set_value(True).run()
    assert not page.exception
    specs = [json.loads(chart.proto.spec) for chart in page.get("vega_lite_chart")]
    faceted = [spec for spec in specs if "facet" in spec]
    assert len(faceted) == 1 and faceted[0]["facet"]["field"] == "by_label"
    table = page.dataframe[3].value
    assert list(table.columns) == ["対象者別", "回答団体数", "活動内容（分野）", "団体数", "割合（%）"]
    assert len(table) == 8 * 7


def test_english_keeps_the_choices(page, sample_con):
    # A city is chosen first: the sidebar formats 4市全体 lazily, which AppTest cannot replay in English.
    page.selectbox(key="city__ja").select("14218").run()
    page.multiselect(key="filter_legal_form__ja").set_value(["npo"]).run()
    page.selectbox(key="activity_group__ja").select("group_family").run()
    page.selectbox(key="activity_by__ja").select("target").run()
    page.radio(key="lang").set_value("en").run()
    assert not page.exception
    assert page.title[0].value == "Activities"
    assert page.multiselect(key="filter_legal_form__en").value == ["npo"]
    assert page.selectbox(key="activity_group__en").value == "group_family"
    assert page.selectbox(key="activity_by__en").value == "target"
    ayase_npo = query.ActivityFilter(city_code="14218", legal_forms=("npo",))
    n = query.respondents(sample_con, ayase_npo)
    assert metrics(page)["N (organisations that answered)"] == f"N={n}"
    family = query.content_counts(sample_con, ayase_npo, "en").filter(pl.col("group_code") == "group_family")
    assert list(page.dataframe[0].value["Category"]) == family["category_label"].to_list()
    assert page.dataframe[3].value.columns[0] == "By target group"
    page.radio(key="lang").set_value("ja").run()
    assert not page.exception
    assert page.session_state["filter_legal_form"] == ["npo"]
    assert metrics(page)["N（回答団体数）"] == f"N={n}"


def test_non_respondents_head_and_count(sample_con):
    ayase = query.ActivityFilter(city_code="14218")
    for filters in (EVERYONE, ayase):
        everyone = query.non_respondents(sample_con, filters, "ja", Viewer("admin"))
        assert query.non_respondent_count(sample_con, filters) == everyone.height
        head = query.non_respondents_head(sample_con, filters, "ja", 10, Viewer("admin"))
        assert head.to_dicts() == everyone.head(10).to_dicts()


def test_long_follow_up_list_is_cut_on_screen(staff_page, monkeypatch):
    monkeypatch.setattr(query, "NON_RESPONDENT_ROWS", 10)
    at = staff_page("liaison")
    assert not at.exception
    assert len(at.dataframe[-1].value) == 10
    assert any("最初の 10 団体" in c.value for c in at.caption)
    assert any("94 団体が未回答" in c.value for c in at.caption)
