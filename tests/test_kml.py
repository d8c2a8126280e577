"""KML/KMZ and GeoJSON export of the resource map: read back by our own My Maps importer, exactly."""

from __future__ import annotations

import datetime as dt
import io
import json
import zipfile
from pathlib import Path

import polars as pl
import pytest

from etl.pipeline import SEEDS_DIR
from etl.sources import mymaps
from etl.sources.base import Context
from etl.vocab import Vocabulary
from warehouse import kml
from warehouse.query import directory
from warehouse.query.directory import DirectoryFilter

TODAY = dt.date(2025, 3, 1)
POPUP = {column: column for column in kml.POPUP_COLUMNS}
GREYS = {"off_gradient": "グラデーション外", "no_answer": "未回答"}


def export(con, filters: DirectoryFilter | None = None) -> tuple[pl.DataFrame, bytes]:
    """The directory rows under filters (none: every mapped organisation) and their KML, as the page builds it."""
    filters = filters or DirectoryFilter()
    rows = directory.organisations(con, filters, "ja", TODAY)
    legend = directory.legend(con, filters, "ja").with_columns(
        pl.col("label").fill_null(pl.col("legend_group").replace_strict(GREYS, default=None))
    )
    return rows, kml.kml_bytes("地域資源マップ", "テスト", kml.directory_layers(rows, legend, POPUP))


def reimport(path: Path, con) -> mymaps.Transformed:
    """Our importer (extract + transform) over an exported file, matched to the warehouse's organisations."""
    organisations = con.sql("select * from organization").pl()
    return mymaps.transform(mymaps.extract(path), Context(Vocabulary.load(SEEDS_DIR), organisations))


def test_fields_are_the_importers():
    assert list(kml.MY_MAPS_FIELDS) == mymaps.FIELDS


@pytest.mark.parametrize("suffix", [".kml", ".kmz"])
def test_round_trip_through_our_importer(sample_con, tmp_path, suffix):
    rows, document = export(sample_con)
    path = tmp_path / f"resource_map{suffix}"
    path.write_bytes(document if suffix == ".kml" else kml.kmz_bytes(document))
    back = reimport(path, sample_con)
    assert back.quarantine.is_empty() and back.warnings == []
    columns = ["organization_id", "name", "address", "latitude", "longitude", "hours", "last_verified"]
    original = sample_con.sql("select " + ", ".join(columns) + " from location order by organization_id").pl()
    assert back.tables["location"].select(columns).sort("organization_id").equals(original)
    assert back.tables["location"].height == rows.height == 150


def test_round_trip_of_a_filtered_set(sample_con, tmp_path):
    rows, document = export(sample_con, DirectoryFilter(city=("14218",), survey=("answered",)))
    path = tmp_path / "ayase.kml"
    path.write_bytes(document)
    back = reimport(path, sample_con).tables["location"]
    assert sorted(back["organization_id"]) == sorted(rows["organization_id"]) and back.height == 11
    coordinates = dict(zip(rows["organization_id"], zip(rows["latitude"], rows["longitude"], strict=True), strict=True))
    assert {r["organization_id"]: (r["latitude"], r["longitude"]) for r in back.to_dicts()} == coordinates


def test_one_folder_per_colour_in_legend_order(sample_con):
    _, document = export(sample_con)
    root = mymaps.parse_kml(document, "export.kml")
    ns = {"k": kml.KML_NS}
    folders = root.findall("k:Document/k:Folder", ns)
    assert [(f.findtext("k:name", namespaces=ns), len(f.findall("k:Placemark", ns))) for f in folders] == [
        ("アウトリーチ", 9), ("相談窓口", 10), ("居場所づくり", 16), ("就労支援", 19),
        ("ボランティア・役割のある場", 3), ("グラデーション外", 1), ("未回答", 92),
    ]  # fmt: skip
    assert len(folders) <= kml.MY_MAPS_MAX_LAYERS
    # Each organisation appears once, in its primary form's folder, styled in that form's colour.
    outreach = folders[0].findall("k:Placemark", ns)
    assert {p.findtext("k:styleUrl", namespaces=ns) for p in outreach} == {"#icon-1899-1F4E79"}
    style = root.find("k:Document/k:Style[@id='icon-1899-1F4E79-normal']/k:IconStyle/k:color", ns)
    assert style.text == "ff794e1f"


def test_placemark_popup_and_extended_data(sample_con):
    _, document = export(sample_con, DirectoryFilter(city=("14215",), form=("outreach",)))
    root = mymaps.parse_kml(document, "export.kml")
    ns = {"k": kml.KML_NS}
    placemark = next(
        p for p in root.iter(f"{{{kml.KML_NS}}}Placemark") if p.findtext("k:name", namespaces=ns).endswith("どんぐり")
    )
    data = {d.get("name"): d.findtext("k:value", namespaces=ns) for d in placemark.iter(f"{{{kml.KML_NS}}}Data")}
    assert data == {
        "団体名": "(サンプル)NPO法人 就労支援センターどんぐり",
        "住所": "神奈川県海老名市中央3-19-24",
        "電話番号": "046-088-6870",
        "活動時間": "平日 10:00-16:00",
        "最終確認日": "2025/01/28",
    }
    assert placemark.findtext("k:Point/k:coordinates", namespaces=ns) == "139.394417,35.446625,0"
    description = placemark.findtext("k:description", namespaces=ns)
    assert description.split("<br>")[:4] == [
        "address：神奈川県海老名市中央3-19-24", "phone：046-088-6870", "fax：046-083-5712", "forms：アウトリーチ、就労支援",
    ]  # fmt: skip
    assert "area：海老名市、座間市、4市以外" in description


def test_text_is_escaped_and_cleaned():
    pin = kml.Pin(
        name="<b>A&B</b>\x07",
        latitude=35.5,
        longitude=139.4,
        fields=(("団体名", "A&B"), ("住所", "")),
        popup=(("住所", "<script>x</script>"), ("電話", "")),
    )
    document = kml.kml_bytes("t", "d", [kml.Layer("L", "#123456", (pin,))])
    root = mymaps.parse_kml(document, "x.kml")
    ns = {"k": kml.KML_NS}
    placemark = root.find("k:Document/k:Folder/k:Placemark", ns)
    assert placemark.findtext("k:name", namespaces=ns) == "<b>A&B</b>"
    assert placemark.findtext("k:description", namespaces=ns) == "住所：&lt;script&gt;x&lt;/script&gt;"
    assert [d.get("name") for d in placemark.iter(f"{{{kml.KML_NS}}}Data")] == ["団体名"]


def test_too_many_layers_and_bad_colours_are_refused():
    layers = [kml.Layer(f"L{i}", "#000000", ()) for i in range(kml.MY_MAPS_MAX_LAYERS + 1)]
    with pytest.raises(ValueError):
        kml.kml_bytes("t", "d", layers)
    with pytest.raises(ValueError):
        kml.style_id("red")


def test_kmz_is_a_zip_with_doc_kml_and_reproducible():
    document = kml.kml_bytes("t", "d", [])
    payload = kml.kmz_bytes(document)
    assert payload == kml.kmz_bytes(document)
    with zipfile.ZipFile(io.BytesIO(payload)) as archive:
        assert archive.namelist() == ["doc.kml"]
        assert archive.read("doc.kml") == document


def test_geojson(sample_con):
    rows = directory.organisations(sample_con, DirectoryFilter(city=("14215",), form=("outreach",)), "ja", TODAY)
    collection = json.loads(kml.geojson_bytes(kml.directory_features(rows)))
    assert collection["type"] == "FeatureCollection"
    assert len(collection["features"]) == rows.height
    feature = next(f for f in collection["features"] if f["properties"]["organization_id"] == "ORG-a2bb2ec35624")
    assert feature["geometry"] == {"type": "Point", "coordinates": [139.394417, 35.446625]}
    assert feature["properties"]["last_verified"] == "2025-01-28"
    assert feature["properties"]["area"] == ["海老名市", "座間市", "4市以外"]
    assert "latitude" not in feature["properties"] and "stale" not in feature["properties"]
