"""データ・ダウンロード: catalogue, filter composition, paging, facets, streamed exports, and the page."""

from __future__ import annotations

import csv
import datetime as dt
import io
import shutil
from pathlib import Path

import duckdb
import openpyxl
import polars as pl
import pytest
from streamlit.testing.v1 import AppTest

from common.roles import Viewer
from dashboard.downloads import csv_bytes, csv_from_batches, parquet_from_batches, xlsx_from_batches
from warehouse import schema
from warehouse.query import explore
from warehouse.query.explore import Between, Contains, OneOf, View

ROOT = Path(__file__).resolve().parent.parent
APP = "../dashboard/app.py"
PAGE = "pages/explore.py"
INJECTION = "'; drop table organization; --"
# Columns the DDL marks "(personal data)": none of their values may leave through the explorer.
PERSONAL = {
    "pii.organization_contact": ("contact_name", "contact_email", "contact_phone"),
    "pii.survey_respondent": ("respondent_name", "respondent_email", "respondent_phone"),
    "pii.event_participant": ("name",),
}


@pytest.fixture()
def datasets(sample_con):
    """The sample warehouse's catalogue."""
    return explore.catalogue(sample_con)


@pytest.fixture()
def org(datasets):
    """The organization dataset."""
    return explore.dataset(datasets, "organization")


@pytest.fixture()
def spreadsheet_con(tmp_path):
    """A small warehouse whose text cells look like spreadsheet formulas, with dates and numbers."""
    path = tmp_path / "formulas.duckdb"
    con = duckdb.connect(str(path))
    con.execute("create table note (id integer, body varchar, amount integer, noted_on date)")
    con.execute("comment on table note is 'Notes typed by users'")
    con.execute("comment on column note.body is 'Free text'")
    con.executemany(
        "insert into note values (?, ?, ?, ?)",
        [
            [1, '=HYPERLINK("http://example.com","x")', -2, dt.date(2025, 2, 1)],
            [2, "+81-46-000-0000", 3, None],
            [3, "-1+1", None, dt.date(2025, 3, 31)],
            [4, "@SUM(A1)", 0, dt.date(2024, 12, 26)],
            [5, "\tTAB", 1, dt.date(2024, 12, 26)],
            [6, "\rCR", 1, dt.date(2024, 12, 26)],
            [7, "大和市の居場所", 10, dt.date(2025, 1, 15)],
            [8, None, 5, dt.date(2025, 1, 15)],
        ],
    )
    con.close()
    con = duckdb.connect(str(path), read_only=True)
    yield con
    con.close()


def whole(con, view: View) -> pl.DataFrame:
    """The whole view in one frame (for comparison with the streamed exports)."""
    sql, params = explore.select_sql(view)
    return con.cursor().sql(sql, params=params).pl()


# --- catalogue -----------------------------------------------------------------------------------------


def test_catalogue_lists_published_tables_and_marts_only(sample_con, datasets):
    published = set(sample_con.execute("select table_name from duckdb_tables() where schema_name = 'main'").fetchall())
    expected = {name for (name,) in published} - {"quarantine", "etl_validation"}
    # The follow-up list is an internal work list (warehouse/masking.py): the public's catalogue leaves it out.
    assert set(datasets) == expected - {"mart_activity_follow_up"}
    assert not any(name.startswith("pii") for name in datasets)
    kinds = {name: d.kind for name, d in datasets.items()}
    assert {name for name, kind in kinds.items() if kind == "mart"} == {
        p.stem for p in (ROOT / "warehouse" / "marts").glob("*.sql")
    } - {"mart_activity_follow_up"}
    names = list(datasets)
    assert names.index("organization") < names.index("mart_city_kpis"), "tables come before marts"


@pytest.mark.parametrize(
    "role, listed", [("public", False), ("analyst", False), ("city_manager", False), ("liaison", True), ("admin", True)]
)
def test_work_lists_are_listed_only_for_roles_that_see_every_city(sample_con, role, listed):
    """The follow-up list has no per-city scope in the explorer: liaison and admins only (a city manager: 活動分布)."""
    datasets = explore.catalogue(sample_con, Viewer(role, "14216" if role == "city_manager" else None))
    assert ("mart_activity_follow_up" in datasets) is listed
    if not listed:
        with pytest.raises(explore.UnknownName):
            explore.dataset(datasets, "mart_activity_follow_up")


def test_catalogue_describes_tables_columns_and_rows(sample_con, datasets, org):
    assert org.description == (
        "HSDS organization: one row per distinct organisation on the distribution lists (after de-duplication,"
        " across fiscal years by matching key)"
    )
    assert org.column("name").comment == "団体名 as on the first list it appears on (NFKC, trimmed)"
    # A conventional column's meaning (warehouse/schema.py) reaches the published warehouse like a DDL comment.
    location = explore.dataset(datasets, "location")
    assert location.column("organization_id").comment == schema.CONVENTIONAL_COMMENTS["organization_id"]
    assert org.column("distributed_on").kind == "date"
    assert org.column("source_count").kind == "number"
    assert org.column("survey_answered").kind == "bool"
    with open(ROOT / "data" / "sample" / "cities.csv", encoding="utf-8") as handle:
        assert datasets["city"].rows == len(list(csv.DictReader(handle)))
    assert org.rows == sample_con.execute("select count(*) from organization").fetchone()[0] == 157


def test_mart_description_and_columns_come_from_the_sql_header(datasets):
    header = (ROOT / "warehouse" / "marts" / "mart_city_kpis.sql").read_text(encoding="utf-8").splitlines()
    mart = datasets["mart_city_kpis"]
    assert mart.description == header[0].removeprefix("-- ")
    assert mart.column("response_rate_pct").comment == "answered / distributed × 100, one decimal"
    assert mart.rows == 5


def test_last_refresh_is_the_published_run(sample_con, sample_build):
    finished = sample_con.execute("select finished_at from etl_run where run_id = ?", [sample_build.run_id]).fetchone()
    assert explore.last_refresh(sample_con) == finished[0]


def test_catalogue_of_a_warehouse_without_runs(spreadsheet_con):
    datasets = explore.catalogue(spreadsheet_con)
    assert list(datasets) == ["note"]
    assert datasets["note"].description == "Notes typed by users"
    assert datasets["note"].column("body").comment == "Free text"
    assert explore.last_refresh(spreadsheet_con) is None


# --- filter composition --------------------------------------------------------------------------------


def test_compose_binds_every_value_and_quotes_catalogue_names(org):
    fragments, params = explore.compose(
        org,
        {
            "name": Contains("50%_a\\b"),
            "city_code": OneOf(("14218", None)),
            "distributed_on": Between(dt.date(2024, 12, 1), None),
            "source_count": Between(None, 2),
            "survey_answered": OneOf((True,)),
        },
        city_code="14216",
    )
    assert fragments == [
        "\"name\" ilike ? escape '\\'",
        '("city_code" in (?) or "city_code" is null)',
        '"distributed_on" >= ?',
        '"source_count" <= ?',
        '("survey_answered" in (?))',
        '"city_code" = ?',
    ]
    assert params == ["%50\\%\\_a\\\\b%", "14218", dt.date(2024, 12, 1), 2, True, "14216"]


def test_compose_skips_empty_filters_and_casts_timestamps_to_dates(datasets):
    response = datasets["survey_response"]
    assert explore.compose(response, {"city_code": OneOf(()), "organization_id": Contains("  ")}) == ([], [])
    assert explore.compose(response, {"submitted_at": Between(dt.date(2025, 1, 1), dt.date(2025, 1, 31))}) == (
        ['cast("submitted_at" as date) >= ?', 'cast("submitted_at" as date) <= ?'],
        [dt.date(2025, 1, 1), dt.date(2025, 1, 31)],
    )


@pytest.mark.parametrize(
    "name",
    ["pii.organization_contact", "quarantine", "etl_validation", 'organization"; drop table organization; --', ""],
)
def test_only_catalogue_datasets_can_be_opened(datasets, name):
    with pytest.raises(explore.UnknownName):
        explore.dataset(datasets, name)


def test_only_catalogue_columns_reach_sql(org):
    with pytest.raises(explore.UnknownName):
        explore.compose(org, {'name" or 1=1 --': Contains("x")})
    with pytest.raises(explore.UnknownName):
        explore.select_sql(View(org, sort="id; drop table organization"))
    with pytest.raises(explore.UnknownName):
        explore.select_sql(View(org, columns=("id", "contact_email")))
    with pytest.raises(ValueError):
        explore.compose(org, {"source_count": Contains("1")})
    with pytest.raises(ValueError):
        explore.compose(org, {"name": Between("a", "b")})


def test_injection_attempts_in_values_match_nothing(sample_warehouse, tmp_path):
    # A writable copy: if a value ever reached the SQL text, the drop would succeed here.
    path = tmp_path / "writable.duckdb"
    shutil.copy(sample_warehouse, path)
    con = duckdb.connect(str(path))
    try:
        org = explore.dataset(explore.catalogue(con), "organization")
        for rule in (
            ("name", Contains(INJECTION)),
            ("city_code", OneOf((INJECTION,))),
            ("address", Contains("%' or '1'='1")),
        ):
            view = View(org, filters=(rule,))
            assert explore.count_rows(con, view) == 0
            assert explore.fetch_page(con, view, 1).height == 0
            assert explore.facet_counts(con, view, "legal_form_code").height == 0
        assert con.execute("select count(*) from organization").fetchone() == (157,)
    finally:
        con.close()


def test_contains_takes_percent_and_underscore_literally(sample_con, org):
    assert explore.like_pattern("a_b%c") == "%a\\_b\\%c%"
    assert explore.count_rows(sample_con, View(org, filters=(("name", Contains("%")),))) == 0
    assert explore.count_rows(sample_con, View(org, filters=(("name", Contains("_")),))) == 0
    # Half-width katakana is NFKC-normalised like the data.
    assert explore.count_rows(sample_con, View(org, filters=(("name", Contains("ｻﾝﾌﾟﾙ")),))) == 157


def test_filters_match_an_independent_count(sample_con, org):
    frame = sample_con.sql("select * from organization").pl()
    expected = frame.filter(
        pl.col("name").str.contains("居場所", literal=True)
        & pl.col("city_code").is_in(["14213", "14215"])
        & (pl.col("distributed_on") >= dt.date(2024, 12, 15))
    ).height
    view = View(
        org,
        filters=(
            ("name", Contains("居場所")),
            ("city_code", OneOf(("14213", "14215"))),
            ("distributed_on", Between(dt.date(2024, 12, 15), None)),
        ),
    )
    assert expected > 0
    assert explore.count_rows(sample_con, view) == expected


def test_sidebar_city_applies_where_the_dataset_has_city_code(sample_con, datasets):
    assert explore.count_rows(sample_con, View(datasets["organization"], city_code="14218")) == 30
    assert explore.count_rows(sample_con, View(datasets["mart_city_kpis"], city_code="14218")) == 1
    assert explore.count_rows(sample_con, View(datasets["taxonomy"], city_code="14218")) == 3


# --- paging and facets -----------------------------------------------------------------------------------


def test_pages_cover_the_view_once_in_order(sample_con, org):
    view = View(org, columns=("id", "name"), sort="id")
    first, second, beyond = (explore.fetch_page(sample_con, view, page) for page in (1, 2, 3))
    assert (first.height, second.height, beyond.height) == (100, 57, 0)
    assert first.columns == ["id", "name"]
    ids = [row[0] for row in sample_con.execute("select id from organization order by id").fetchall()]
    assert first["id"].to_list() + second["id"].to_list() == ids
    assert (explore.pages(157), explore.pages(100), explore.pages(0)) == (2, 1, 1)


def test_pages_are_slices_of_the_full_view(sample_con, org):
    # fetch_page picks rowids first: every page equals the same slice of the whole sorted, filtered view.
    for view in (
        View(org),
        View(org, columns=("name", "city_code"), sort="pf_intent_code", descending=True),
        View(org, filters=(("legal_form_code", OneOf(("npo", None))),), sort="distributed_on"),
    ):
        sql, params = explore.select_sql(view)
        whole = sample_con.execute(sql, params).fetchall()
        pages = [explore.fetch_page(sample_con, view, page, page_size=40).rows() for page in (1, 2, 3, 4, 5)]
        assert [row for page in pages for row in page] == whole


def test_facet_totals_are_the_unfiltered_counts(sample_con, org):
    totals = explore.facet_totals(sample_con, org, ("city_code", "survey_answered"))
    for column, frame in totals.items():
        assert frame.rows() == explore.facet_counts(sample_con, View(org), column).rows()
    chosen = View(org, filters=(("city_code", OneOf(("14216",))),))
    assert explore.unfiltered(chosen, "city_code") and not explore.unfiltered(chosen, "survey_answered")
    assert not explore.unfiltered(View(org, city_code="14216"), "city_code")


def test_descending_sort_puts_nulls_last(sample_con, org):
    page = explore.fetch_page(
        sample_con, View(org, columns=("pf_intent_code",), sort="pf_intent_code", descending=True), 2
    )
    assert page["pf_intent_code"].to_list()[-1] is None
    top = explore.fetch_page(
        sample_con, View(org, columns=("pf_intent_code",), sort="pf_intent_code", descending=True), 1
    )
    assert top["pf_intent_code"][0] == "not_now"


def test_facet_counts_ignore_their_own_selection(sample_con, org):
    frame = sample_con.sql("select city_code, survey_answered from organization").pl()
    view = View(org, filters=(("city_code", OneOf(("14218",))), ("survey_answered", OneOf((True,)))))
    expected_cities = (
        frame.filter(pl.col("survey_answered"))
        .group_by("city_code")
        .len()
        .sort(["len", "city_code"], descending=[True, False])
    )
    assert explore.facet_counts(sample_con, view, "city_code").rows() == expected_cities.rows()
    expected_answered = frame.filter(pl.col("city_code") == "14218").group_by("survey_answered").len()
    assert dict(explore.facet_counts(sample_con, view, "survey_answered").rows()) == dict(expected_answered.rows())


def test_facet_columns_are_low_cardinality_text_and_booleans(sample_con, org):
    facets = explore.facet_columns(org, explore.distinct_counts(sample_con, org))
    assert facets == (
        "legal_form_code",
        "city_code",
        "first_source_list",
        "distribution_channel_code",
        "survey_answered",
        "pf_intent_code",
        "has_isolation_initiative",
    )


def test_large_table_pages_and_streams_in_batches(tmp_path):
    path = tmp_path / "large.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("create table big as select range as n, 'row ' || range as label from range(120000)")
    con = duckdb.connect(str(path), read_only=True)
    try:
        big = explore.dataset(explore.catalogue(con), "big")
        view = View(big, filters=(("n", Between(10, None)),))
        page = explore.fetch_page(con, view, 500)
        assert page["n"].to_list() == list(range(10 + 499 * 100, 10 + 500 * 100))
        batches = list(explore.stream(con, view, batch_rows=50_000))
        assert len(batches) > 1
        assert max(b.num_rows for b in batches) <= 50_000
        assert sum(b.num_rows for b in batches) == explore.count_rows(con, view) == 119_990
        assert csv_from_batches(batches) == csv_bytes(whole(con, view))
    finally:
        con.close()


def test_empty_view_streams_one_empty_batch_with_the_schema(sample_con, org):
    view = View(org, filters=(("name", Contains(INJECTION)),), columns=("id", "source_count"))
    batches = list(explore.stream(sample_con, view))
    assert [b.num_rows for b in batches] == [0]
    assert batches[0].schema.names == ["id", "source_count"]
    assert csv_from_batches(batches) == "\ufeffid,source_count\r\n".encode()


# --- exports of the filtered view --------------------------------------------------------------------------


def test_csv_export_exact_bytes(sample_con, datasets):
    with open(ROOT / "data" / "sample" / "cities.csv", encoding="utf-8") as handle:
        rows = [r for r in csv.DictReader(handle) if int(r["人口"]) >= 100_000]
    expected = "\ufeffcode,name_ja,population,population_date\r\n" + "".join(
        f"{r['市区町村コード']},{r['市名']},{r['人口']},{r['人口基準日']}\r\n"
        for r in sorted(rows, key=lambda r: r["市区町村コード"])
    )
    view = View(
        datasets["city"],
        filters=(("population", Between(100_000, None)),),
        columns=("code", "name_ja", "population", "population_date"),
        sort="code",
    )
    assert csv_from_batches(explore.stream(sample_con, view)) == expected.encode("utf-8")


def test_csv_export_in_small_batches_equals_the_whole_view(sample_con, org):
    view = View(org, filters=(("city_code", OneOf(("14213",))),), sort="distributed_on", descending=True)
    batches = list(explore.stream(sample_con, view, batch_rows=7))
    assert len(batches) > 1
    assert csv_from_batches(batches) == csv_bytes(whole(sample_con, view))


def test_csv_export_neutralises_formulas(spreadsheet_con):
    note = explore.dataset(explore.catalogue(spreadsheet_con), "note")
    view = View(note, columns=("id", "body", "amount"), sort="id")
    assert csv_from_batches(explore.stream(spreadsheet_con, view)).decode("utf-8") == (
        "\ufeffid,body,amount\r\n"
        '1,"\'=HYPERLINK(""http://example.com"",""x"")",-2\r\n'
        "2,'+81-46-000-0000,3\r\n"
        "3,'-1+1,\r\n"
        "4,'@SUM(A1),0\r\n"
        "5,'\tTAB,1\r\n"
        '6,"\'\rCR",1\r\n'
        "7,大和市の居場所,10\r\n"
        "8,,5\r\n"
    )


def read_xlsx(data: bytes) -> tuple[list[tuple], openpyxl.worksheet.worksheet.Worksheet]:
    """Rows (values) and the sheet of an xlsx."""
    sheet = openpyxl.load_workbook(io.BytesIO(data)).active
    return [tuple(row) for row in sheet.iter_rows(values_only=True)], sheet


def test_xlsx_export_neutralises_formulas(spreadsheet_con):
    note = explore.dataset(explore.catalogue(spreadsheet_con), "note")
    view = View(note, sort="id")
    rows, sheet = read_xlsx(xlsx_from_batches(explore.stream(spreadsheet_con, view, batch_rows=3), sheet="note"))
    assert sheet.title == "note"
    assert rows[0] == ("id", "body", "amount", "noted_on")
    # The text as written (no visible apostrophe): each formula-looking cell is a text cell marked quotePrefix,
    # which Excel shows as typed and keeps as text when it is edited.
    assert [row[1] for row in rows[1:]] == [
        '=HYPERLINK("http://example.com","x")',
        "+81-46-000-0000",
        "-1+1",
        "@SUM(A1)",
        "\tTAB",
        "\nCR",  # XML stores a bare CR as a line end: the cell reads back with LF
        "大和市の居場所",
        None,
    ]
    bodies = [row[1] for row in sheet.iter_rows(min_row=2)]
    assert [cell.quotePrefix for cell in bodies] == [True] * 6 + [False, False]
    assert all(cell.data_type != "f" for row in sheet.iter_rows() for cell in row)
    assert [row[2] for row in rows[1:]] == [-2, 3, None, 0, 1, 1, 10, 5]
    assert rows[1][3] == dt.datetime(2025, 2, 1)


def test_nested_cells_export_as_json_text(spreadsheet_con):
    con = spreadsheet_con
    relation = con.sql(
        "select id, ['居場所', '=相談'] as forms, {'n': id} as detail from note where id <= 2 order by id"
    )
    batches = [relation.to_arrow_table().to_batches()[0]]
    assert csv_from_batches(batches).decode("utf-8") == (
        "\ufeffid,forms,detail\r\n"
        '1,"[""居場所"", ""=相談""]","{""n"": 1}"\r\n'
        '2,"[""居場所"", ""=相談""]","{""n"": 2}"\r\n'
    )
    rows, _ = read_xlsx(xlsx_from_batches(batches))
    assert rows[1] == (1, '["居場所", "=相談"]', '{"n": 1}')


def test_xlsx_read_back_equals_the_view(sample_con, org):
    view = View(org, filters=(("city_code", OneOf(("14218",))),), sort="name")
    expected = whole(sample_con, view)
    rows, sheet = read_xlsx(xlsx_from_batches(explore.stream(sample_con, view, batch_rows=8), sheet="organization"))
    assert rows[0] == tuple(expected.columns)
    dates = {i for i, dtype in enumerate(expected.dtypes) if dtype == pl.Date}
    read_back = [tuple(v.date() if i in dates and v is not None else v for i, v in enumerate(row)) for row in rows[1:]]
    assert read_back == expected.rows()
    assert sheet.freeze_panes == "A2"
    assert sheet["A1"].font.b is True
    widths = {letter: sheet.column_dimensions[letter].width for letter in ("A", "B", "M")}
    assert widths["B"] > widths["A"] > 8, "the name column (Japanese, full width) is the widest"


def test_parquet_read_back_equals_the_view(sample_con, org):
    view = View(org, filters=(("distributed_on", Between(dt.date(2024, 12, 1), dt.date(2024, 12, 31))),))
    data = parquet_from_batches(explore.stream(sample_con, view, batch_rows=10))
    assert data[:4] == b"PAR1"
    assert pl.read_parquet(io.BytesIO(data)).equals(whole(sample_con, view))


def test_no_personal_value_leaves_through_any_dataset(sample_con, datasets):
    personal = set()
    for table, columns in PERSONAL.items():
        for column in columns:
            personal |= {v for (v,) in sample_con.execute(f"select {column} from {table}").fetchall() if v}
    assert len(personal) > 100
    for data in datasets.values():
        text = csv_from_batches(explore.stream(sample_con, View(data))).decode("utf-8")
        leaked = sorted(value for value in personal if value in text)
        assert leaked == [], f"{data.name} exports personal values"


# --- typed dates and the query string ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("令和7年2月1日", dt.date(2025, 2, 1)),
        ("R7.2.1", dt.date(2025, 2, 1)),
        ("令和元年5月1日", dt.date(2019, 5, 1)),
        ("2025-02-01", dt.date(2025, 2, 1)),
        ("２０２５/２/１", dt.date(2025, 2, 1)),
        ("  ", None),
        (None, None),
    ],
)
def test_parse_date_input(text, expected):
    assert explore.parse_date_input(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("令和6年12月1日〜令和7年1月31日", (dt.date(2024, 12, 1), dt.date(2025, 1, 31))),
        ("R6.12.1~R6.12.31", (dt.date(2024, 12, 1), dt.date(2024, 12, 31))),
        ("令和7年2月1日から", (dt.date(2025, 2, 1), None)),
        ("〜2025/1/5", (None, dt.date(2025, 1, 5))),
        ("令和7年2月1日", (dt.date(2025, 2, 1), dt.date(2025, 2, 1))),
        ("", (None, None)),
    ],
)
def test_parse_date_range_input(text, expected):
    assert explore.parse_date_range_input(text) == expected


@pytest.mark.parametrize("text", ["令和7年2月30日", "来週", "令和7年3月1日〜令和7年2月1日"])
def test_unreadable_dates_are_refused(text):
    with pytest.raises(ValueError):
        explore.parse_date_range_input(text)


def test_filters_survive_the_query_string(org):
    cases = [
        ("name", Contains("居場所"), False, ["居場所"]),
        ("city_code", OneOf(("14218", None)), True, ["14218", ""]),
        ("survey_answered", OneOf((True, False)), True, ["true", "false"]),
        ("source_count", Between(2, None), False, ["2", ""]),
        ("distributed_on", Between(dt.date(2024, 12, 1), dt.date(2025, 1, 31)), False, ["2024-12-01", "2025-01-31"]),
    ]
    for name, rule, facet, encoded in cases:
        column = org.column(name)
        assert explore.encode_filter(column, rule) == encoded
        assert explore.decode_filter(column, encoded, facet) == rule
    assert explore.decode_filter(org.column("distributed_on"), ["令和6年12月1日", ""], False) == Between(
        dt.date(2024, 12, 1)
    )
    assert explore.decode_filter(org.column("distributed_on"), ["nonsense", ""], False) is None
    assert explore.decode_filter(org.column("survey_answered"), ["maybe"], True) is None


# --- the page (AppTest) ----------------------------------------------------------------------------------


@pytest.fixture()
def app(sample_warehouse, monkeypatch, sign_in):
    """The app pointed at the sample warehouse, signed in as an analyst (the page is for staff)."""
    monkeypatch.setenv("TSUNAGARI_WAREHOUSE", str(sample_warehouse))
    return sign_in(AppTest.from_file(APP, default_timeout=30), "analyst")


def test_page_is_for_staff(sample_warehouse, monkeypatch):
    monkeypatch.setenv("TSUNAGARI_WAREHOUSE", str(sample_warehouse))
    at = AppTest.from_file(APP, default_timeout=30).run()
    with pytest.raises(ValueError, match="explore"):
        at.switch_page(PAGE).run()


def metric(at: AppTest, label: str) -> str:
    """Shown value of the metric with this label."""
    return next(m.value for m in at.metric if m.label == label)


def preview(at: AppTest):
    """The preview table (the first dataframe on the page; the column meanings come after it)."""
    return at.dataframe[0].value


def test_page_opens_on_the_directory(app):
    at = app.run()
    at.switch_page(PAGE).run()
    assert not at.exception
    assert at.title[0].value == "データ・ダウンロード"
    assert at.selectbox(key="x_table__ja").value == "organization"
    assert metric(at, "全行数") == "157 行"
    assert metric(at, "該当する行") == "157 行"
    assert len(preview(at)) == 100
    assert any("1 / 2 ページ" in c.value for c in at.caption)
    assert at.query_params["x_table"] == ["organization"] or at.query_params["x_table"] == "organization"


def test_choose_a_table_filter_and_see_the_count_change(app, sample_con):
    at = app.run()
    at.switch_page(PAGE).run()
    at.selectbox(key="x_table__ja").select("location").run()
    assert not at.exception
    assert metric(at, "該当する行") == "150 行"
    at.multiselect(key="x__location__f__city_code__ja").select("14218").run()
    expected = sample_con.execute("select count(*) from location where city_code = '14218'").fetchone()[0]
    assert metric(at, "該当する行") == f"{expected} 行"
    assert len(preview(at)) == expected
    assert set(preview(at)["city_code"]) == {"綾瀬市"}, "codes shown as their labels"
    assert dict(at.query_params)["x_f_city_code"] in ("14218", ["14218"])
    at.text_input(key="x__location__f__name").input("居場所").run()
    both = sample_con.execute(
        "select count(*) from location where city_code = '14218' and name like '%居場所%'"
    ).fetchone()[0]
    assert metric(at, "該当する行") == f"{both} 行"


def test_paging_and_filter_change_back_to_page_one(app):
    at = app.run()
    at.switch_page(PAGE).run()
    at.number_input(key="x__organization__page").set_value(2).run()
    assert not at.exception
    assert len(preview(at)) == 57
    assert any("2 / 2 ページ（101〜157 行目" in c.value for c in at.caption)
    assert dict(at.query_params)["x_page"] in ("2", ["2"])
    at.multiselect(key="x__organization__f__survey_answered__ja").select(True).run()
    assert metric(at, "該当する行") == "63 行"
    assert at.number_input(key="x__organization__page").value == 1
    assert len(preview(at)) == 63


def test_typed_wareki_dates_filter_and_show_both_calendars(app, sample_con):
    at = app.run()
    at.switch_page(PAGE).run()
    at.text_input(key="x__organization__w__distributed_on").input("令和6年12月1日〜令和6年12月15日").run()
    assert not at.exception
    expected = sample_con.execute(
        "select count(*) from organization where distributed_on between '2024-12-01' and '2024-12-15'"
    ).fetchone()[0]
    assert 0 < expected < 157
    assert metric(at, "該当する行") == f"{expected} 行"
    assert at.date_input(key="x__organization__d__distributed_on").value == (
        dt.date(2024, 12, 1),
        dt.date(2024, 12, 15),
    )
    assert any(c.value == "選択中: 令和6年12月1日（2024-12-01） 〜 令和6年12月15日（2024-12-15）" for c in at.caption)
    assert dict(at.query_params)["x_f_distributed_on"] == ["2024-12-01", "2024-12-15"]
    at.text_input(key="x__organization__w__distributed_on").input("令和6年13月1日").run()
    assert not at.exception
    assert "月" in at.warning[0].value


def test_the_url_restores_the_view(app):
    app.query_params["x_table"] = "organization"
    app.query_params["x_f_city_code"] = "14216"
    app.query_params["x_sort"] = "name"
    app.query_params["x_cols"] = ["id", "name", "city_code"]
    at = app.run()
    at.switch_page(PAGE).run()
    assert not at.exception
    assert at.multiselect(key="x__organization__f__city_code__ja").value == ["14216"]
    assert metric(at, "該当する行") == "37 行"
    shown = preview(at)
    assert list(shown.columns) == ["id", "name", "city_code"]
    assert list(shown["name"]) == sorted(shown["name"])


def test_sidebar_city_limits_the_view(app):
    at = app.run()
    at.selectbox(key="city__ja").select("14218").run()
    at.switch_page(PAGE).run()
    assert not at.exception
    assert metric(at, "該当する行") == "30 行"
    assert any("綾瀬市" in c.value for c in at.caption)


def test_choices_survive_a_language_switch(app, sample_con):
    at = app.run()
    at.switch_page(PAGE).run()
    at.selectbox(key="x_table__ja").select("location").run()
    at.multiselect(key="x__location__f__city_code__ja").select("14218").run()
    at.selectbox(key="x__location__sort__ja").select("name").run()
    at.radio(key="lang").set_value("en").run()
    assert not at.exception
    assert at.title[0].value == "Data explorer & downloads"
    assert at.selectbox(key="x_table__en").value == "location"
    assert at.multiselect(key="x__location__f__city_code__en").value == ["14218"]
    expected = sample_con.execute("select count(*) from location where city_code = '14218'").fetchone()[0]
    assert metric(at, "Matching rows") == f"{expected} rows"
    assert list(preview(at)["name"]) == sorted(preview(at)["name"])


def test_facets_show_counts_under_the_other_filters(app, sample_con):
    at = app.run()
    at.switch_page(PAGE).run()
    at.multiselect(key="x__organization__f__survey_answered__ja").select(True).run()
    counts = sample_con.execute(
        "select c.name_ja, count(*) from organization o join city c on c.code = o.city_code "
        "where o.survey_answered group by o.city_code, c.name_ja order by 2 desc, o.city_code"
    ).fetchall()
    assert " · ".join(f"{name} {n}" for name, n in counts) in [c.value for c in at.caption], "codes by their labels"
