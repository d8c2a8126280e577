"""地域資源マップ: directory queries on the sample warehouse, the deck builders, and the page under AppTest."""

from __future__ import annotations

import datetime as dt
import json
import math
import zipfile
from collections import defaultdict
from pathlib import Path

import duckdb
import polars as pl
import pytest
from defusedxml import ElementTree
from streamlit.testing.v1 import AppTest

from dashboard.charts import map as charts
from warehouse.query import directory
from warehouse.query.directory import DirectoryFilter

APP = "../dashboard/app.py"
PAGE = "pages/resource_map.py"
SAMPLE_KMZ = Path(__file__).resolve().parents[1] / "data" / "sample" / "resource_map.kmz"
TODAY = dt.date(2025, 3, 1)
DONGURI = (
    "ORG-a2bb2ec35624"  # (サンプル)NPO法人 就労支援センターどんぐり: answered, FAX, serves outside the four cities
)


@pytest.fixture(scope="module")
def reference_warehouse(reference_build) -> Path:
    """A warehouse from data/sample plus the synthetic reference geography (city outlines)."""
    return reference_build.warehouse


def by_facet(frame: pl.DataFrame) -> dict[str, dict[str, int]]:
    """facet → {code: orgs}."""
    counts: dict[str, dict[str, int]] = defaultdict(dict)
    for row in frame.iter_rows(named=True):
        counts[row["facet"]][row["code"]] = row["orgs"]
    return dict(counts)


def independent_counts(con: duckdb.DuckDBPyConnection, filters: DirectoryFilter) -> dict[str, dict[str, int]]:
    """Facet counts computed in Python from the base tables (organization, location, attribute …), not the mart."""
    orgs: dict[str, dict[str, set]] = {}
    for org_id, city, legal, intent, answered in con.execute(
        "select o.id, o.city_code, o.legal_form_code, o.pf_intent_code, o.survey_answered "
        "from organization as o join location as l on l.organization_id = o.id"
    ).fetchall():
        orgs[org_id] = {
            "city": {city},
            "legal_form": {legal},
            "pf_intent": {intent} - {None},
            "survey": {"answered" if answered else "not_answered"},
            "content_group": set(),
            "content_category": set(),
            "form": set(),
            "target": set(),
        }
    for org_id, kind, code, parent in con.execute(
        "select s.organization_id, a.link_type, t.code, p.code from attribute as a "
        "join service as s on s.id = a.link_id join taxonomy_term as t on t.id = a.taxonomy_term_id "
        "left join taxonomy_term as p on p.id = t.parent_id"
    ).fetchall():
        if org_id in orgs:
            if kind == "content":
                orgs[org_id]["content_category"].add(code)
                orgs[org_id]["content_group"].add(parent)
            else:
                orgs[org_id][kind].add(code)
    groups = {facet: facet for facet in directory.FACETS} | {"content_group": "content", "content_category": "content"}

    def passes(values: dict[str, set], ignore: str) -> bool:
        for facet in directory.FACETS:
            chosen = set(getattr(filters, facet))
            if not chosen or groups[facet] == ignore:
                continue
            if facet == "content_group" and filters.content_category:
                continue  # chosen categories decide over chosen groups
            if not chosen & values[facet]:
                return False
        return True

    options = con.execute(
        "select 'content_group', code from taxonomy_term where taxonomy_id = 'content' and parent_id is null "
        "union all select 'content_category', code from taxonomy_term where taxonomy_id = 'content' and parent_id is not null "
        "union all select 'form', code from taxonomy_term where taxonomy_id = 'form' "
        "union all select 'target', code from taxonomy_term where taxonomy_id = 'target' "
        "union all select 'city', code from city union all select 'legal_form', code from legal_form "
        "union all select 'pf_intent', code from pf_intent"
    ).fetchall() + [("survey", "answered"), ("survey", "not_answered")]
    counts: dict[str, dict[str, int]] = defaultdict(dict)
    for facet, code in options:
        counts[facet][code] = sum(
            1 for values in orgs.values() if code in values[facet] and passes(values, groups[facet])
        )
    return dict(counts)


# --- queries ---------------------------------------------------------------------------------------


def test_facets_without_filters(sample_con):
    counts = by_facet(directory.facets(sample_con, DirectoryFilter(), "ja"))
    assert counts["city"] == {"14213": 50, "14215": 36, "14216": 36, "14218": 28}
    assert counts["survey"] == {"answered": 58, "not_answered": 92}
    assert counts["form"] == {
        "outreach": 9, "consultation": 14, "ibasho": 18, "employment": 25, "volunteer": 12,
        "nature_people": 6, "safe_time": 8, "life_support": 21, "information": 8, "other": 2,
    }  # fmt: skip
    assert counts["pf_intent"] == {"join": 20, "interested": 20, "not_now": 18}
    assert counts == independent_counts(sample_con, DirectoryFilter())


def test_facets_under_form_and_city(sample_con):
    filters = DirectoryFilter(form=("ibasho",), city=("14213",))
    frame = directory.facets(sample_con, filters, "ja")
    counts = by_facet(frame)
    # A facet's own choice does not narrow its own options: forms are counted within 大和市, cities within 居場所づくり.
    assert counts["form"] == {
        "outreach": 1, "consultation": 3, "ibasho": 9, "employment": 6, "volunteer": 5,
        "nature_people": 4, "safe_time": 3, "life_support": 8, "information": 2, "other": 0,
    }  # fmt: skip
    assert counts["city"] == {"14213": 9, "14215": 5, "14216": 4, "14218": 0}
    assert counts["survey"] == {"answered": 9, "not_answered": 0}  # a form filter leaves only respondents
    assert counts["pf_intent"] == {"join": 3, "interested": 3, "not_now": 3}
    assert counts == independent_counts(sample_con, filters)
    assert frame.filter(pl.col("facet") == "city").select("code", "label").rows() == [
        ("14213", "大和市"), ("14215", "海老名市"), ("14216", "座間市"), ("14218", "綾瀬市"),
    ]  # fmt: skip
    assert frame.filter(pl.col("code") == "hikikomori").row(0, named=True) == {
        "facet": "content_category", "code": "hikikomori", "label": "ひきこもり", "parent_code": "group_family", "orgs": 0,
    }  # fmt: skip


def test_facets_under_content_group_legal_forms_and_survey(sample_con):
    filters = DirectoryFilter(content_group=("group_family",), legal_form=("npo", "voluntary"), survey=("answered",))
    counts = by_facet(directory.facets(sample_con, filters, "en"))
    assert counts["content_group"]["group_family"] == 22
    assert counts["city"] == {"14213": 6, "14215": 4, "14216": 6, "14218": 6}
    assert counts["legal_form"]["npo"] == 10
    assert counts["legal_form"]["voluntary"] == 12
    assert counts == independent_counts(sample_con, filters)


def test_categories_decide_over_groups(sample_con):
    groups_only = DirectoryFilter(content_group=("group_family",))
    with_category = DirectoryFilter(content_group=("group_family",), content_category=("hikikomori",))
    assert directory.organisations(sample_con, groups_only, "ja", TODAY).height == 29
    assert directory.organisations(sample_con, with_category, "ja", TODAY).height == 10
    assert by_facet(directory.facets(sample_con, with_category, "ja")) == independent_counts(sample_con, with_category)


def test_organisations_and_staleness(sample_con):
    rows = directory.organisations(sample_con, DirectoryFilter(), "ja", TODAY)
    assert rows.height == directory.mapped_total(sample_con) == 150
    assert rows.schema["latitude"] == pl.Float64 and rows.schema["longitude"] == pl.Float64
    location = sample_con.execute("select organization_id, last_verified from location").fetchall()
    expected_stale = {org for org, day in location if (TODAY - day).days > directory.STALE_DAYS}
    assert set(rows.filter("stale")["organization_id"]) == expected_stale
    assert rows["city"].unique(maintain_order=True).to_list() == ["大和市", "海老名市", "座間市", "綾瀬市"]
    later = directory.organisations(sample_con, DirectoryFilter(), "ja", dt.date(2026, 1, 1))
    assert later["stale"].all()


def test_organisation_detail(sample_con):
    assert directory.organisation_detail(sample_con, DONGURI, "ja", TODAY) == {
        "organization_id": DONGURI,
        "name": "(サンプル)NPO法人 就労支援センターどんぐり",
        "city_code": "14215",
        "city": "海老名市",
        "legal_form": "NPO法人",
        "pf_intent": "参加したい",
        "survey_answered": True,
        "address": "神奈川県海老名市中央3-19-24",
        "phone": "046-088-6870",
        "fax": "046-083-5712",
        "hours": "平日 10:00-16:00",
        "pin_hours": "平日 10:00-16:00",
        "languages": "日本語",
        "accessibility": "なし",
        "latitude": 35.446625,
        "longitude": 139.394417,
        "last_verified": dt.date(2025, 1, 28),
        "verified_days_ago": 32,
        "stale": False,
        "legend_group": "outreach",
        "primary_form_code": "outreach",
        "primary_form": "アウトリーチ",
        "gradient_rank": 1,
        "colour_hex": "#1f4e79",
        "forms": ["アウトリーチ", "就労支援"],
        "contents": [
            "こども・若者：こども食堂",
            "こども・若者：若者支援",
            "生活困窮：生活困窮",
            "健康・いのち：自殺対策",
        ],
        "targets": ["若者", "障害のある人"],
        "area": ["海老名市", "座間市", "4市以外"],
    }
    english = directory.organisation_detail(sample_con, DONGURI, "en", TODAY)
    assert english["area"] == ["Ebina", "Zama", "Outside the four cities"]
    assert english["forms"] == ["Outreach", "Employment support"]
    assert directory.organisation_detail(sample_con, "ORG-none", "ja", TODAY) is None


def test_detail_has_no_personal_data(sample_con):
    record = directory.organisation_detail(sample_con, DONGURI, "ja", TODAY)
    personal = sample_con.execute(
        "select contact_name, contact_email, contact_phone from pii.organization_contact where organization_id = ? "
        "union all select respondent_name, respondent_email, respondent_phone from pii.survey_respondent "
        "where organization_id = ?",
        [DONGURI, DONGURI],
    ).fetchall()
    shown = {str(value) for value in record.values()}
    assert personal and not {value for row in personal for value in row if value} & shown


def test_legend_for_one_city(sample_con):
    legend = directory.legend(sample_con, DirectoryFilter(city=("14218",)), "ja")
    assert legend.select("legend_group", "label", "colour_hex", "orgs").rows() == [
        ("outreach", "アウトリーチ", "#1f4e79", 2),
        ("consultation", "相談窓口", "#2e75b6", 2),
        ("ibasho", "居場所づくり", "#3f9fbf", 0),
        ("employment", "就労支援", "#4caf50", 7),
        ("volunteer", "ボランティア・役割のある場", "#8bc34a", 0),
        ("nature_people", "自然や人と接する機会", "#cddc39", 0),
        ("safe_time", "安全に時間を過ごせる場所", "#ffc107", 0),
        ("off_gradient", None, "#8c8c8c", 0),
        ("no_answer", None, "#c8c8c8", 17),
    ]
    assert legend["orgs"].sum() == 28


def test_primary_form_is_lowest_on_the_gradient(sample_con):
    rows = sample_con.execute(
        "select s.organization_id, min(t.gradient_rank) from attribute as a join service as s on s.id = a.link_id "
        "join taxonomy_term as t on t.id = a.taxonomy_term_id where a.link_type = 'form' group by 1"
    ).fetchall()
    mart = dict(sample_con.execute("select organization_id, gradient_rank from mart_org_directory").fetchall())
    assert {org: mart[org] for org, _ in rows} == dict(rows)


def test_boundaries_empty_without_reference(sample_con):
    assert directory.boundaries(sample_con).is_empty()
    assert directory.boundary_credit(sample_con) is None


def test_boundaries_with_reference(reference_warehouse):
    con = duckdb.connect(str(reference_warehouse), read_only=True)
    try:
        outlines = directory.boundaries(con)
        assert outlines["city_code"].to_list() == ["14213", "14215", "14216", "14218"]
        assert json.loads(outlines["geometry_geojson"][0])["type"] in ("Polygon", "MultiPolygon")
        assert directory.boundary_credit(con)
    finally:
        con.close()


def test_extent(sample_con):
    everywhere = directory.extent(sample_con, None)
    assert everywhere == {
        "min_lat": 35.428524, "max_lat": 35.495601, "min_lng": 139.380826, "max_lng": 139.467837, "pins": 150,
    }  # fmt: skip
    assert directory.extent(sample_con, "14218")["pins"] == 28


def test_profiles_cover_every_mapped_organisation_once(sample_con):
    # Facets and filters are decided per profile: each pin must sit in exactly the profile of its own codes.
    mismatched = sample_con.execute(
        "select count(*) from mart_org_directory as d left join mart_directory_profile as p using (profile_id) "
        "where d.latitude is not null and (p.profile_id is null or p.city_code is distinct from d.city_code "
        "or p.survey_status <> d.survey_status or p.form_codes <> list_sort(d.form_codes) "
        "or p.content_codes <> list_sort(d.content_codes) or p.target_codes <> list_sort(d.target_codes) "
        "or p.content_group_codes <> list_sort(d.content_group_codes))"
    ).fetchone()[0]
    assert mismatched == 0
    total = sample_con.execute("select sum(orgs) from mart_directory_profile").fetchone()[0]
    assert total == directory.mapped_total(sample_con) == 150
    everyone = DirectoryFilter(survey=("answered", "not_answered"))
    assert (
        directory.facets(sample_con, everyone, "ja").to_dicts()
        == directory.facets(sample_con, DirectoryFilter(), "ja").to_dicts()
    )
    assert by_facet(directory.facets(sample_con, DirectoryFilter(), "ja")) == independent_counts(
        sample_con, DirectoryFilter()
    )


def test_summary_agrees_with_organisations(sample_con):
    for filters in (DirectoryFilter(), DirectoryFilter(form=("ibasho",)), DirectoryFilter(city=("14218",))):
        rows = directory.organisations(sample_con, filters, "ja", TODAY)
        assert directory.summary(sample_con, filters, TODAY) == {
            "shown": rows.height,
            "answered": rows["survey_answered"].sum(),
            "stale": rows["stale"].sum(),
        }
    assert directory.within(sample_con, DONGURI, DirectoryFilter(form=("outreach",)))
    assert not directory.within(sample_con, DONGURI, DirectoryFilter(city=("14218",)))


def test_density_hexagons(sample_con):
    cells = directory.density(sample_con, DirectoryFilter())
    assert cells["orgs"].sum() == 150 and cells["orgs"].is_sorted(descending=True)
    # Each pin lies within one hexagon radius (500 m) of its hexagon's centre.
    pins = sample_con.execute(
        "select latitude, longitude, cell_q, cell_r from mart_org_directory where latitude is not null"
    ).fetchall()
    centres = {
        (q, r): (lat, lng) for q, r, lng, lat in cells.select("cell_q", "cell_r", "longitude", "latitude").iter_rows()
    }
    for lat, lng, q, r in pins:
        c_lat, c_lng = centres[(q, r)]
        metres = math.hypot((lat - c_lat) * 110574, (lng - c_lng) * 111320 * math.cos(math.radians(35.45)))
        assert metres <= directory.HEX_METRES + 1
    one_city = directory.density(sample_con, DirectoryFilter(city=("14218",)))
    assert one_city["orgs"].sum() == 28


# --- deck builders -----------------------------------------------------------------------------------


def points_frame(sample_con) -> pl.DataFrame:
    """Organisations with the label columns the page adds."""
    return directory.organisations(sample_con, DirectoryFilter(), "ja", TODAY).with_columns(
        pl.col("legend_group").alias("colour_label"), pl.lit("2025-01-01").alias("verified_label")
    )


def layers_of(deck) -> dict[str, dict]:
    """Deck JSON layers by id."""
    return {layer["id"]: layer for layer in json.loads(deck.to_json())["layers"]}


def test_boundary_segments_are_the_edges_of_every_ring_and_line():
    square = [[0, 0], [1, 0], [1, 1], [0, 0]]
    hole = [[0.2, 0.2], [0.4, 0.2], [0.4, 0.4, 12.5], [0.2, 0.2]]  # a third coordinate (height) is dropped
    edges = charts.boundary_segments({"type": "Polygon", "coordinates": [square, hole]})
    assert edges[:3] == [([0, 0], [1, 0]), ([1, 0], [1, 1]), ([1, 1], [0, 0])]
    assert edges[4:] == [([0.4, 0.2], [0.4, 0.4]), ([0.4, 0.4], [0.2, 0.2])]
    multi = {"type": "MultiPolygon", "coordinates": [[square], [hole]]}
    assert charts.boundary_segments(multi) == edges
    assert charts.boundary_segments({"type": "LineString", "coordinates": [[0, 0], [1, 1]]}) == [([0, 0], [1, 1])]
    with pytest.raises(ValueError, match="Point"):
        charts.boundary_segments({"type": "Point", "coordinates": [0, 0]})


def test_deck_has_numeric_points_and_no_basemap_fetch(sample_con):
    points = points_frame(sample_con)
    view = charts.fit_view(charts.bbox_of(directory.extent(sample_con, None)))
    deck = charts.map_deck(points, directory.boundaries(sample_con), lang="ja", view=view)
    spec = json.loads(deck.to_json())
    assert spec["mapStyle"] == "__MAP_STYLE__"  # map_provider=None: no Carto basemap
    layers = layers_of(deck)
    assert list(layers) == [charts.POINTS_LAYER]
    scatter = layers[charts.POINTS_LAYER]
    assert scatter["@@type"] == "ScatterplotLayer"
    assert scatter["getPosition"] == "@@=[lng, lat]"
    assert len(scatter["data"]) == 150
    assert all(isinstance(p["lng"], float) and isinstance(p["lat"], float) for p in scatter["data"])
    first = next(p for p in scatter["data"] if p["organization_id"] == DONGURI)
    assert (first["lng"], first["lat"], first["fill"]) == (139.394417, 35.446625, [31, 78, 121, 235])


def test_deck_outlines_tiles_density_and_selection(reference_warehouse):
    con = duckdb.connect(str(reference_warehouse), read_only=True)
    try:
        points = points_frame(con)
        extent = directory.extent(con, None)
        view = charts.fit_view(charts.bbox_of(extent))
        tiles = charts.basemap_layers(charts.GSI_PALE, charts.bbox_of(extent, 0.04), charts.bbox_of(extent), view.zoom)
        cells = directory.density(con, DirectoryFilter())
        boundaries = directory.boundaries(con)
        deck = charts.map_deck(
            points, boundaries, lang="en", view=view, basemap=tiles,
            highlight_city="14218", selected=DONGURI, density=True, cells=cells,
        )  # fmt: skip
    finally:
        con.close()
    layers = layers_of(deck)
    # The outlines are edges of a LineLayer (one WebGL program fewer than a GeoJsonLayer's PathLayer); the
    # highlighted city's edges are drawn bolder over the others', and only it gets a tint, under the edges.
    geometries = dict(zip(boundaries["city_code"], boundaries["geometry_geojson"], strict=True))
    others, chosen = layers[charts.OUTLINE_LAYER], layers[charts.OUTLINE_CHOSEN_LAYER]
    assert others["@@type"] == chosen["@@type"] == "LineLayer" and others["widthUnits"] == "pixels"
    assert (others["getWidth"], chosen["getWidth"]) == (1.5, 3)
    assert chosen["data"] == [
        {"from": start, "to": end} for start, end in charts.boundary_segments(json.loads(geometries["14218"]))
    ]
    assert len(others["data"]) == sum(
        len(charts.boundary_segments(json.loads(g))) for code, g in geometries.items() if code != "14218"
    )
    ids = list(layers)
    assert ids.index(charts.OUTLINE_FILL_LAYER) + 1 == ids.index(charts.OUTLINE_LAYER)
    assert ids.index(charts.OUTLINE_LAYER) + 1 == ids.index(charts.OUTLINE_CHOSEN_LAYER)
    fill = layers[charts.OUTLINE_FILL_LAYER]
    assert fill["@@type"] == "SolidPolygonLayer" and fill["getFillColor"] == list(charts.HIGHLIGHT_FILL)
    assert [record["polygon"][0][0] for record in fill["data"]] == [chosen["data"][0]["from"]]
    hexagons = layers[charts.DENSITY_LAYER]
    assert hexagons["@@type"] == "ColumnLayer" and hexagons["diskResolution"] == 6
    assert hexagons["radius"] == charts.HEX_RADIUS_M == directory.HEX_METRES == 500
    # One record per hexagon (aggregated in the warehouse), holding every pin between them.
    assert len(hexagons["data"]) == cells.height < 150
    assert sum(cell["count"] for cell in hexagons["data"]) == 150
    assert charts.POINTS_LAYER not in layers
    assert layers[charts.SELECTED_LAYER]["data"] == [{"lng": 139.394417, "lat": 35.446625}]
    bitmaps = [layer for layer in layers.values() if layer["@@type"] == "BitmapLayer"]
    assert bitmaps and all(b["image"].startswith("https://cyberjapandata.gsi.go.jp/xyz/pale/") for b in bitmaps)
    assert all(b["onError"] == "@@=true" for b in bitmaps)


def test_no_tiles_without_url():
    assert charts.basemap_layers("", (139.3, 35.4, 139.5, 35.5), (139.3, 35.4, 139.5, 35.5), 12) == []
    with pytest.raises(ValueError):
        charts.basemap_layers("/tmp/{z}/{x}/{y}.png", (139.3, 35.4, 139.5, 35.5), (139.3, 35.4, 139.5, 35.5), 12)


def test_tile_arithmetic():
    # 東京駅 (35.681236 N, 139.767125 E) lies in the well-known tile 14/14552/6451.
    assert charts.tiles_covering((139.767125, 35.681236, 139.767125, 35.681236), 14) == [(14, 14552, 6451)]
    west, south, east, north = charts.tile_bounds(14, 14552, 6451)
    assert west <= 139.767125 <= east and south <= 35.681236 <= north
    assert math.isclose(east - west, 360 / 2**14)
    area = (139.40, 35.40, 139.50, 35.50)
    tiles = charts.tiles_covering(area, 12)
    bounds = [charts.tile_bounds(*tile) for tile in tiles]
    # Together the tiles cover the area, and each of them touches it.
    assert min(b[0] for b in bounds) <= area[0] and max(b[2] for b in bounds) >= area[2]
    assert min(b[1] for b in bounds) <= area[1] and max(b[3] for b in bounds) >= area[3]
    assert all(b[0] <= area[2] and b[2] >= area[0] and b[1] <= area[3] and b[3] >= area[1] for b in bounds)
    assert len(tiles) == len(set(tiles)) == 4


def test_fit_view_contains_the_pins():
    view = charts.fit_view((139.38, 35.42, 139.47, 35.50))
    assert (view.latitude, view.longitude) == (pytest.approx(35.46, abs=0.001), 139.425)
    # At this zoom 0.09° of longitude take 720 px × FIT_MARGIN at most.
    assert 0.09 / 360 * 512 * 2**view.zoom <= charts.MAP_SIZE_PX[0] * charts.FIT_MARGIN + 1


def test_selected_organisation_from_event():
    event = {
        "selection": {
            "indices": {charts.POINTS_LAYER: [3]},
            "objects": {charts.POINTS_LAYER: [{"organization_id": "ORG-x"}]},
        }
    }
    assert charts.selected_organisation(event) == "ORG-x"
    assert charts.selected_organisation({"selection": {"indices": {}, "objects": {}}}) is None
    assert charts.selected_organisation(None) is None


def test_legend_html_escapes_labels():
    legend = pl.DataFrame({"label": ["<b>x</b>"], "colour_hex": ["#1f4e79"], "orgs": [3]})
    html_text = charts.legend_html(legend)
    assert "&lt;b&gt;x&lt;/b&gt; (3)" in html_text and "background:#1f4e79" in html_text


# --- the page ---------------------------------------------------------------------------------------


@pytest.fixture()
def page(sample_warehouse, monkeypatch):
    """The map page over the sample warehouse, with the default tile URL."""
    monkeypatch.setenv("TSUNAGARI_WAREHOUSE", str(sample_warehouse))
    monkeypatch.delenv("TSUNAGARI_TILE_URL", raising=False)
    at = AppTest.from_file(APP, default_timeout=60).run()
    return at.switch_page(PAGE).run()


@pytest.fixture(scope="module")
def shown(sample_warehouse, tmp_path_factory, page_runs) -> AppTest:
    """The map page as the page fixture opens it, rendered once for the tests that only read it."""
    env = {"TSUNAGARI_WAREHOUSE": str(sample_warehouse), "TSUNAGARI_TILE_URL": None}
    return page_runs(tmp_path_factory.mktemp("map"), env)(PAGE)


def metrics(at: AppTest) -> dict[str, str]:
    """Metric label → value."""
    return {m.label: m.value for m in at.metric}


def deck_spec(at: AppTest) -> dict:
    """The pydeck chart's JSON spec."""
    charts_found = at.get("deck_gl_json_chart")
    assert len(charts_found) == 1
    return json.loads(charts_found[0].proto.json)


def spec_layers(at: AppTest) -> dict[str, dict]:
    """Deck layers by id."""
    return {layer["id"]: layer for layer in deck_spec(at)["layers"]}


def test_page_shows_every_mapped_organisation(shown):
    page = shown
    assert not page.exception
    assert page.title[0].value == "地域資源マップ"
    assert metrics(page)["表示中の団体"] == "150 / 150 団体"
    assert metrics(page)["うちアンケート回答"] == "58 団体"
    layers = spec_layers(page)
    assert len(layers[charts.POINTS_LAYER]["data"]) == 150
    assert all(isinstance(p["lat"], float) for p in layers[charts.POINTS_LAYER]["data"])
    assert charts.OUTLINE_LAYER not in layers
    assert any(layer["@@type"] == "BitmapLayer" for layer in layers.values())
    captions = " ".join(c.value for c in page.caption)
    assert "出典：国土地理院（地理院タイル）" in captions and charts.GSI_CREDIT_URL in captions
    assert "市境は表示していません" in captions
    tooltip = json.loads(page.get("deck_gl_json_chart")[0].proto.tooltip)
    assert tooltip["html"] == "<b>{name}</b><br/>{colour_label}<br/>{city}<br/>{verified}"


def test_filters_change_counts(page):
    city = page.multiselect(key="map_filter_city")
    assert city.options == ["大和市（50）", "海老名市（36）", "座間市（36）", "綾瀬市（28）"]
    at = page.multiselect(key="map_filter_form").select("ibasho").run()
    assert not at.exception
    assert metrics(at)["表示中の団体"] == "18 / 150 団体"
    assert at.multiselect(key="map_filter_city").options == [
        "大和市（9）",
        "海老名市（5）",
        "座間市（4）",
        "綾瀬市（0）",
    ]
    at = at.multiselect(key="map_filter_city").select("14213").run()
    assert metrics(at)["表示中の団体"] == "9 / 150 団体"
    assert len(spec_layers(at)[charts.POINTS_LAYER]["data"]) == 9
    assert at.radio(key="map_filter_survey").options == ["すべて（9）", "回答あり（9）", "未回答（0）"]


def test_no_match_is_explained(page):
    at = page.multiselect(key="map_filter_form").select("ibasho").run()
    at = at.multiselect(key="map_filter_city").select("14218").run()
    assert not at.exception
    assert metrics(at)["表示中の団体"] == "0 / 150 団体"
    assert any("当てはまる団体はありません" in info.value for info in at.info)
    assert len(at.get("deck_gl_json_chart")) == 0


def test_two_level_content_filter(page):
    at = page.multiselect(key="map_filter_content_group").select("group_family").run()
    assert metrics(at)["表示中の団体"] == "29 / 150 団体"
    categories = at.multiselect(key="map_filter_content_category")
    assert categories.options[:2] == ["ひとり親（4）", "子育て（11）"] and len(categories.options) == 7
    at = categories.select("hikikomori").run()
    assert metrics(at)["表示中の団体"] == "10 / 150 団体"
    # Unchoosing the field drops its categories from the filter.
    at = at.multiselect(key="map_filter_content_group").unselect("group_family").select("group_elderly").run()
    assert not at.exception
    assert at.multiselect(key="map_filter_content_category").value == []
    assert metrics(at)["表示中の団体"] == "16 / 150 団体"


def test_shared_filters_with_activity_page(page):
    page.session_state["filter_legal_form"] = ["npo"]
    at = page.run()
    assert metrics(at)["表示中の団体"] == "44 / 150 団体"
    assert at.multiselect(key="filter_legal_form").value == ["npo"]


def test_filters_survive_another_page(page):
    at = page.multiselect(key="map_filter_form").select("ibasho").run()
    at = at.switch_page("pages/activity.py").run()
    assert not at.exception
    at = at.switch_page(PAGE).run()
    assert metrics(at)["表示中の団体"] == "18 / 150 団体"
    assert at.multiselect(key="map_filter_form").value == ["ibasho"]


def test_map_selection_shows_detail(page):
    page.session_state["map"] = {
        "selection": {
            "indices": {charts.POINTS_LAYER: [0]},
            "objects": {charts.POINTS_LAYER: [{"organization_id": DONGURI}]},
        }
    }
    at = page.run()
    assert not at.exception
    assert at.selectbox(key="map_org").value == DONGURI
    assert "就労支援センターどんぐり" in " ".join(m.value for m in at.markdown)
    detail = next(frame.value for frame in at.dataframe if list(frame.value.columns) == ["item", "value"])
    shown = dict(zip(detail["item"], detail["value"], strict=True))
    assert shown["FAX"] == "046-083-5712"
    assert shown["活動している市"] == "海老名市、座間市、4市以外"
    assert shown["支援の形態"] == "アウトリーチ、就労支援"
    assert shown["最終確認日"].startswith("令和7年1月28日（2025-01-28）")
    assert spec_layers(at)[charts.SELECTED_LAYER]["data"] == [{"lng": 139.394417, "lat": 35.446625}]


def test_pick_by_name_and_non_respondent_note(page, sample_con):
    other = sample_con.execute(
        "select organization_id from mart_org_directory where latitude is not null and not survey_answered "
        "order by name_key limit 1"
    ).fetchone()[0]
    at = page.selectbox(key="map_org").select(other).run()
    assert not at.exception
    assert any("アンケートに回答していない" in info.value for info in at.info)


def test_density_toggle_and_english(page):
    at = page.toggle(key="map_density").set_value(True).run()
    assert spec_layers(at)[charts.DENSITY_LAYER]["@@type"] == "ColumnLayer"
    assert json.loads(at.get("deck_gl_json_chart")[0].proto.tooltip)["html"] == "この範囲の団体: {count}"
    at = at.radio(key="lang").set_value("en").run()
    assert not at.exception
    assert at.title[0].value == "Resource map"
    assert metrics(at)["Organisations shown"] == "150 / 150 orgs"


def test_sidebar_city_zooms_without_filtering(page):
    at = page.selectbox(key="city__ja").select("14218").run()
    assert metrics(at)["表示中の団体"] == "150 / 150 団体"
    view = deck_spec(at)["initialViewState"]
    assert 35.42 < view["latitude"] < 35.45 and view["zoom"] > 12.5
    points = spec_layers(at)[charts.POINTS_LAYER]["data"]
    assert {p["line_width"] for p in points if p["city"] == "綾瀬市"} == {2}
    assert at.selectbox(key="map_org").options[1].endswith("（綾瀬市）")  # the chosen city is listed first


def test_page_without_tiles_and_with_outlines(reference_warehouse, monkeypatch):
    monkeypatch.setenv("TSUNAGARI_WAREHOUSE", str(reference_warehouse))
    monkeypatch.setenv("TSUNAGARI_TILE_URL", "")
    at = AppTest.from_file(APP, default_timeout=60).run().switch_page(PAGE).run()
    assert not at.exception
    layers = spec_layers(at)
    assert layers[charts.OUTLINE_LAYER]["@@type"] == "LineLayer"
    assert len(layers[charts.OUTLINE_LAYER]["data"]) > 4  # every city's edges
    # No city highlighted: no tint (one program fewer) and no bolder outline.
    assert charts.OUTLINE_FILL_LAYER not in layers and charts.OUTLINE_CHOSEN_LAYER not in layers
    assert not any(layer["@@type"] == "BitmapLayer" for layer in layers.values())
    captions = " ".join(c.value for c in at.caption)
    assert "背景地図は表示していません" in captions and "市境:" in captions


def test_downloads_are_offered(shown):
    page = shown
    labels = [button.label for button in page.get("download_button")]
    assert labels == ["CSVダウンロード（一覧）", "KMLダウンロード", "KMZダウンロード", "GeoJSONダウンロード"]


def test_many_organisations_show_density_until_filtered(page, monkeypatch):
    monkeypatch.setattr(directory, "PIN_LIMIT", 20)
    at = page.run()
    assert not at.exception
    assert metrics(at)["表示中の団体"] == "150 / 150 団体"
    assert any("密度" in info.value for info in at.info)
    layers = spec_layers(at)
    assert charts.POINTS_LAYER not in layers
    assert sum(cell["count"] for cell in layers[charts.DENSITY_LAYER]["data"]) == 150
    assert at.selectbox(key="map_org").options == ["（選んでいません）"]
    labels = [button.label for button in at.get("download_button")]
    assert labels == ["CSVダウンロード（一覧）", "KMLダウンロード", "KMZダウンロード", "GeoJSONダウンロード"]
    # Filtered down to 18, the pins come back and can be picked.
    at = at.multiselect(key="map_filter_form").select("ibasho").run()
    assert len(spec_layers(at)[charts.POINTS_LAYER]["data"]) == 18
    assert len(at.selectbox(key="map_org").options) == 19


# --- map-first: the card, search by name, the link's m_* state (issue #21) ----------------------------


def raw_placemark(fragment: str) -> dict[str, str]:
    """The sample's raw My Maps placemark whose name holds fragment: its ExtendedData fields and lng/lat."""
    ns = {"k": "http://www.opengis.net/kml/2.2"}
    with zipfile.ZipFile(SAMPLE_KMZ) as archive:
        root = ElementTree.fromstring(archive.read("doc.kml"))
    placemark = next(p for p in root.iter(f"{{{ns['k']}}}Placemark") if fragment in p.findtext("k:name", "", ns))
    fields = {d.get("name"): d.findtext("k:value", "", ns).strip() for d in placemark.iter(f"{{{ns['k']}}}Data")}
    lng, lat, _ = placemark.findtext("k:Point/k:coordinates", "", ns).strip().split(",")
    return fields | {"lng": lng, "lat": lat}


def params(at: AppTest, name: str) -> list[str]:
    """A query parameter's values as a list (AppTest gives one value as a plain string)."""
    value = at.query_params.get(name, [])
    return [value] if isinstance(value, str) else list(value)


def card_text(at: AppTest) -> str:
    """Every Markdown block of the run, joined (the card is Markdown)."""
    return "\n".join(m.value for m in at.markdown)


def test_card_beside_the_map_links_to_google_maps(page):
    raw = raw_placemark("どんぐり")
    at = page.selectbox(key="map_org").select(DONGURI).run()
    assert not at.exception
    card = card_text(at).replace("\\", "")  # Markdown escapes dropped: the text as read
    assert f"**住所**: {raw['住所']}" in card
    assert f"**電話番号**: [{raw['電話番号']}](tel:{raw['電話番号'].replace('-', '')})" in card
    assert f"**活動日時**: {raw['活動時間']}" in card
    year, month, day = (int(part) for part in raw["最終確認日"].split("/"))
    assert f"**最終確認日**: 令和{year - 2018}年{month}月{day}日（{year:04d}-{month:02d}-{day:02d}）" in card
    link = f"https://www.google.com/maps/search/?api=1&query={float(raw['lat']):.6f},{float(raw['lng']):.6f}"
    assert f"[Google マップで開く]({link})" in card
    # The card sits in the column beside the map (one horizontal block holds both).
    assert len(at.get("deck_gl_json_chart")) == 1
    assert params(at, "m_org") == [DONGURI]


def test_search_by_name_narrows_pins_and_picks_the_one_found(page, sample_con):
    names = [
        row[0]
        for row in sample_con.execute("select name from mart_org_directory where latitude is not null").fetchall()
    ]
    at = page.text_input(key="map_search").input("の会").run()
    assert not at.exception
    expected = sorted(name for name in names if "の会" in name)
    assert sorted(p["name"] for p in spec_layers(at)[charts.POINTS_LAYER]["data"]) == expected
    assert len(at.selectbox(key="map_org").options) == len(expected) + 1
    assert any(f"{len(expected)} 件" in caption.value for caption in at.caption)
    # Full-width letters and spaces fold: one organisation is found, and it is chosen.
    at = at.text_input(key="map_search").input("ＮＰＯ法人 就労支援センターどんぐり").run()
    assert at.selectbox(key="map_org").value == DONGURI
    assert [p["organization_id"] for p in spec_layers(at)[charts.POINTS_LAYER]["data"]] == [DONGURI]
    assert params(at, "m_q") == ["ＮＰＯ法人 就労支援センターどんぐり"]
    at = at.text_input(key="map_search").input("存在しない名前xyz").run()
    assert any("存在しない名前xyz" in info.value for info in at.info)
    assert not at.get("deck_gl_json_chart")


def test_filters_and_selection_live_in_the_url(page):
    at = page.multiselect(key="map_filter_form").select("ibasho").run()
    at = at.multiselect(key="map_filter_city").select("14213").select("14215").run()
    at = at.radio(key="map_filter_survey").set_value("answered").run()
    assert params(at, "m_form") == ["ibasho"]
    assert params(at, "m_city") == ["14213", "14215"]
    assert params(at, "m_survey") == ["answered"]
    # Unset filters leave the query string.
    at = at.radio(key="map_filter_survey").set_value("all").run()
    assert params(at, "m_survey") == []


def test_a_link_reproduces_the_view(sample_warehouse, monkeypatch):
    monkeypatch.setenv("TSUNAGARI_WAREHOUSE", str(sample_warehouse))
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params.update(
        {"m_form": ["ibasho", "no-such-form"], "m_city": "14213", "m_org": DONGURI, "m_q": "", "m_density": "1"}
    )
    at = at.run().switch_page(PAGE).run()
    assert not at.exception
    assert at.multiselect(key="map_filter_form").value == ["ibasho"]  # an unknown code is dropped
    assert at.multiselect(key="map_filter_city").value == ["14213"]
    assert metrics(at)["表示中の団体"] == "9 / 150 団体"
    assert at.toggle(key="map_density").value is True
    # どんぐり (海老名市, not 居場所) is outside these filters: the selection falls back to none.
    assert at.selectbox(key="map_org").value == ""
    linked = AppTest.from_file(APP, default_timeout=60)
    linked.query_params.update({"m_org": DONGURI})
    linked = linked.run().switch_page(PAGE).run()
    assert linked.selectbox(key="map_org").value == DONGURI
    assert "就労支援センターどんぐり" in card_text(linked)
