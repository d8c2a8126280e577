"""resource_map.kmz: pins matched to organisations, coordinates checked, hostile files refused."""

from __future__ import annotations

import datetime as dt
import zipfile

import polars as pl
import pytest

from etl.errors import SourceError
from etl.sources import base, mymaps

from .builders import kml_text, placemark, write_kmz

ORGS = pl.DataFrame(
    {
        "id": ["ORG-A", "ORG-B", "ORG-C"],
        "name": ["(サンプル)NPO法人 さくら", "(サンプル)あおぞらの会", "(サンプル)ひかり会"],
        "name_key": ["サンプルさくら", "サンプルあおぞらの会", "サンプルひかり会"],
        "city_code": ["14216", "14213", "14216"],
    }
)


def folders() -> dict[str, list[str]]:
    """Two layers with one good pin each."""
    return {
        "座間市": [
            placemark(
                "（サンプル）NPO法人 さくら",
                139.401234,
                35.481234,
                団体名="（サンプル）特定非営利活動法人 さくら",
                住所="神奈川県座間市緑ケ丘1-1-1",
                電話番号="046-000-0001",
                活動時間="平日 9:00-17:00",
                最終確認日="2025/02/20",
            ),
        ],
        "大和市": [
            placemark("（サンプル）あおぞらの会", 139.45, 35.49, 住所="神奈川県大和市中央1-1"),
        ],
    }


def run(path, ctx):
    """Extract and transform a map file."""
    return mymaps.transform(mymaps.extract(path), ctx)


def test_kml_happy_path(tmp_path, ctx):
    path = tmp_path / "resource_map.kml"
    path.write_text(kml_text(folders()), encoding="utf-8")
    raw = mymaps.extract(path)
    assert raw.select("_sheet", "_row", "name", "団体名", "coordinates").rows() == [
        (
            "座間市",
            1,
            "（サンプル）NPO法人 さくら",
            "（サンプル）特定非営利活動法人 さくら",
            "\n  139.401234,35.481234,0\n",
        ),
        ("大和市", 2, "（サンプル）あおぞらの会", None, "\n  139.45,35.49,0\n"),
    ]
    result = mymaps.transform(raw, ctx)
    assert result.rows_read == 2
    assert result.quarantine.height == 0
    assert result.warnings == []
    assert result.tables["location"].to_dicts() == [
        {
            "id": "LOC-ORG-A",
            "organization_id": "ORG-A",
            "name": "(サンプル)NPO法人 さくら",
            "address": "神奈川県座間市緑ケ丘1-1-1",
            "city_code": "14216",
            "latitude": 35.481234,
            "longitude": 139.401234,
            "hours": "平日 9:00-17:00",
            "last_verified": dt.date(2025, 2, 20),
            "map_layer": "座間市",
            "source_row": 1,
            "_file": "resource_map.kml",
            "_sheet": "座間市",
            "_row": 1,
        },
        {
            "id": "LOC-ORG-B",
            "organization_id": "ORG-B",
            "name": "(サンプル)あおぞらの会",
            "address": "神奈川県大和市中央1-1",
            "city_code": "14213",
            "latitude": 35.49,
            "longitude": 139.45,
            "hours": None,
            "last_verified": None,
            "map_layer": "大和市",
            "source_row": 2,
            "_file": "resource_map.kml",
            "_sheet": "大和市",
            "_row": 2,
        },
    ]


@pytest.mark.parametrize("member", ["doc.kml", "layers/map.kml"])
def test_kmz_gives_the_same_locations(tmp_path, ctx, member):
    path = write_kmz(tmp_path / "resource_map.kmz", {"images/icon.png": b"\x89PNG", member: kml_text(folders())})
    locations = run(path, ctx).tables["location"]
    assert locations.select("id", "latitude", "_file").rows() == [
        ("LOC-ORG-A", 35.481234, "resource_map.kmz"),
        ("LOC-ORG-B", 35.49, "resource_map.kmz"),
    ]


def test_bad_pins_are_quarantined(tmp_path, ctx):
    pins = folders()
    pins["大和市"] += [
        placemark("（サンプル）ひかり会", 35.48, 139.40),
        placemark("（サンプル）ひかり会", 139.60, 35.48),
        placemark("（サンプル）ほしぞら", 139.45, 35.49),
        placemark("（サンプル）NPO法人さくら", 139.41, 35.47),
        placemark(None, 139.41, 35.47),
    ]
    pins["大和市"].append(
        "<Placemark><name>（サンプル）ひかり会</name><Point><coordinates>abc</coordinates></Point></Placemark>"
    )
    pins["大和市"].append(
        "<Placemark><name>（サンプル）ひかり会</name><LineString><coordinates>139.4,35.4,0 139.41,35.41,0"
        "</coordinates></LineString></Placemark>"
    )
    path = write_kmz(tmp_path / "resource_map.kmz", {"doc.kml": kml_text(pins)})
    result = run(path, ctx)
    assert result.rows_read == 9
    assert result.tables["location"]["id"].to_list() == ["LOC-ORG-A", "LOC-ORG-B"]
    assert result.quarantine.select("sheet", "row_number", "column_name", "value", "reason", "check_name").rows() == [
        (
            "大和市",
            3,
            "coordinates",
            "35.48,139.4,0",
            "緯度と経度が逆 (latitude and longitude swapped)",
            "range.coordinates",
        ),
        ("大和市", 4, "coordinates", "139.6,35.48,0", "4市の範囲外 (outside the four-city area)", "range.coordinates"),
        (
            "大和市",
            5,
            "name",
            "（サンプル）ほしぞら",
            "配布リストにない団体 (not on the distribution list)",
            "match.organization",
        ),
        (
            "大和市",
            6,
            "name",
            "（サンプル）NPO法人さくら",
            "同じ団体のピンが重複しています (duplicate pin for the same organisation)",
            "dedupe.location",
        ),
        ("大和市", 7, "団体名", None, "必須項目が空です (required value is missing)", "normalise.required"),
        (
            "大和市",
            8,
            "coordinates",
            "abc",
            "座標を読めません「abc」 (unreadable coordinates)",
            "normalise.coordinates",
        ),
        (
            "大和市",
            9,
            "coordinates",
            None,
            "地点（ポイント）ではありません (placemark is not a point)",
            "extract.point",
        ),
        ("大和市", 9, "coordinates", None, "必須項目が空です (required value is missing)", "normalise.required"),
    ]


def test_extra_extended_data_fields_are_warned(tmp_path, ctx):
    pins = {"座間市": [placemark("（サンプル）NPO法人 さくら", 139.40, 35.48, 形態="居場所づくり")]}
    path = write_kmz(tmp_path / "resource_map.kmz", {"doc.kml": kml_text(pins)})
    assert run(path, ctx).warnings == ["resource_map.kmz: 余分な項目を無視しました「形態」 (extra fields ignored)"]


XXE = """<?xml version="1.0"?>
<!DOCTYPE kml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<kml xmlns="http://www.opengis.net/kml/2.2"><Document><Placemark><name>&xxe;</name></Placemark></Document></kml>"""
LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<kml><Document><Placemark><name>&lol3;</name></Placemark></Document></kml>"""
DOCTYPE_ONLY = """<?xml version="1.0"?><!DOCTYPE kml SYSTEM "http://example.invalid/kml.dtd"><kml><Document/></kml>"""


@pytest.mark.parametrize(
    ("document", "exception"), [(XXE, "DTDForbidden"), (LAUGHS, "DTDForbidden"), (DOCTYPE_ONLY, "DTDForbidden")]
)
def test_unsafe_xml_is_refused(tmp_path, document, exception):
    path = write_kmz(tmp_path / "resource_map.kmz", {"doc.kml": document})
    with pytest.raises(SourceError) as error:
        mymaps.extract(path)
    assert str(error.value) == (
        f"resource_map.kmz: 安全でない XML です（DTD・実体参照は使えません） (unsafe XML: {exception})"
    )


def test_parse_kml_refuses_entity_expansion():
    with pytest.raises(SourceError, match="unsafe XML"):
        mymaps.parse_kml(LAUGHS.encode(), "x.kml")


@pytest.mark.parametrize(
    "member", ["../doc.kml", "/etc/doc.kml", "a/../../doc.kml", "C:\\temp\\doc.kml", "..\\doc.kml"]
)
def test_zip_path_traversal_is_refused(tmp_path, member):
    path = write_kmz(tmp_path / "resource_map.kmz", {"doc.kml": kml_text(folders()), member: "x"})
    with pytest.raises(SourceError) as error:
        mymaps.extract(path)
    assert (
        str(error.value) == f"resource_map.kmz: 圧縮ファイルに危険なパス「{member}」があります (unsafe path in archive)"
    )


def test_zip_bomb_ratio_is_refused(tmp_path):
    path = write_kmz(
        tmp_path / "resource_map.kmz", {"doc.kml": kml_text(folders()), "pad.bin": b"\0" * (4 * 1024 * 1024)}
    )
    with pytest.raises(SourceError) as error:
        mymaps.extract(path)
    assert (
        str(error.value)
        == "resource_map.kmz: 圧縮率が異常です「pad.bin」 (suspicious compression ratio, possible zip bomb; "
        "limit 100:1; set TSUNAGARI_MAX_COMPRESSION_RATIO or --max-compression-ratio)"
    )


def test_uncompressed_size_cap(tmp_path, monkeypatch):
    path = write_kmz(tmp_path / "resource_map.kmz", {"doc.kml": kml_text(folders())}, compression=zipfile.ZIP_STORED)
    monkeypatch.setattr(base, "MAX_UNCOMPRESSED_BYTES", 100)
    with pytest.raises(SourceError) as error:
        mymaps.extract(path)
    assert str(error.value) == (
        "resource_map.kmz: 展開後のサイズが大きすぎます (archive expands beyond 100 bytes; "
        "set TSUNAGARI_MAX_UNPACKED_BYTES or --max-unpacked-bytes)"
    )


def test_kmz_without_kml(tmp_path):
    path = write_kmz(tmp_path / "resource_map.kmz", {"readme.txt": "x"})
    with pytest.raises(SourceError) as error:
        mymaps.extract(path)
    assert str(error.value) == "resource_map.kmz: KMZ の中に KML がありません (no .kml inside the KMZ)"


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ('<?xml version="1.0"?><gpx><wpt/></gpx>', "KML ではありません（ルート要素 <gpx>） (not a KML document)"),
        (
            "<kml><Document><Placemark></kml>",
            "XML として読めません (not well-formed XML: mismatched tag: line 1, column 28)",
        ),
        (
            '<kml xmlns="http://www.opengis.net/kml/2.2"><Document><Folder><name>空</name></Folder></Document></kml>',
            "データ行がありません（ピンが1つもありません） (no data rows: no placemarks)",
        ),
    ],
)
def test_not_a_usable_kml(tmp_path, document, message):
    path = tmp_path / "resource_map.kml"
    path.write_text(document, encoding="utf-8")
    with pytest.raises(SourceError) as error:
        mymaps.extract(path)
    assert str(error.value) == f"resource_map.kml: {message}"


def test_parse_coordinates():
    assert mymaps.parse_coordinates(" 139.4,35.48,0 ") == (35.48, 139.4)
    assert mymaps.parse_coordinates("139.4,35.48") == (35.48, 139.4)
    with pytest.raises(ValueError, match="unreadable coordinates"):
        mymaps.parse_coordinates("139.4")


NS = ' xmlns="http://www.opengis.net/kml/2.2"'
SHAPES = [
    kml_text(folders()),
    # No namespace, a folder named after its pins, nested folders, a folder without a name, a pin at the top.
    "<kml><Document><Placemark><name>top</name><Point><coordinates>139.4,35.5</coordinates></Point></Placemark>"
    "<Folder><Placemark><name>a</name></Placemark><Folder><name>inner</name><Placemark><name>b</name>"
    "<Point><coordinates> 139.41,35.45,0 </coordinates></Point></Placemark></Folder><name>outer</name>"
    "<name>second</name></Folder><Folder><Placemark><name>c</name></Placemark></Folder></Document></kml>",
    # A pin nested in a pin, SimpleData, a repeated field, a field named only by spaces, entities, CDATA, CR LF.
    f"\ufeff<?xml version='1.0' encoding='utf-8' standalone='yes'?>\r\n<kml{NS}><Document><Folder><name>"
    "&#x5ea7;&amp;間 </name><Placemark><name>x&lt;y&gt;\r\nz</name><description><![CDATA[<b>住所</b>]]>"
    "</description><ExtendedData><Data name=' 団体名 '><value>Ａ&amp;Ｂ</value></Data><Data name='団体名'>"
    "<value>2nd</value></Data><Data name='  '><value>v</value></Data><SchemaData><SimpleData name='住所'>"
    "大和市</SimpleData></SchemaData></ExtendedData><Placemark><name>inner</name><Point><coordinates>1,2"
    "</coordinates></Point></Placemark><MultiGeometry><Point><coordinates>139.4,35.5</coordinates></Point>"
    "</MultiGeometry></Placemark></Folder></Document></kml>",
    # My Maps' shape (read by the byte scan) with references, CR LF, CDATA, empty and repeated fields, a space
    # in a field's name, a pin outside any folder and an unnamed-looking folder.
    f'<?xml version="1.0" encoding="UTF-8"?>\r\n<kml{NS}>\r\n<Document><Placemark>\r\n<name>&#x5ea7;&amp;\r\nA'
    "</name><description><![CDATA[<b>&amp;</b>\r\n]]></description><styleUrl>#s</styleUrl><ExtendedData>"
    "<Data name=\"団体名\"><value></value></Data><Data name='\t住所\r\n'><value>&lt;大和&gt;</value></Data>"
    '<Data name="団体名"><value>2nd</value></Data></ExtendedData><Point><coordinates>139.4,35.5</coordinates>'
    "</Point></Placemark><Folder>\n<name></name><Placemark><name>b</name><description>t&quot;</description>"
    "<Point>\n<coordinates>\n139.41,35.45,0\n</coordinates>\n</Point>\n</Placemark></Folder></Document></kml>",
    # Read by the safe parser alone: a comment, a processing instruction, another encoding.
    "<kml><Document><Placemark><name>a<!-- note -->b</name></Placemark></Document></kml>",
    "<kml><Document><?pi x?><Placemark><name>a</name></Placemark></Document></kml>",
]


@pytest.mark.parametrize("document", SHAPES)
def test_fast_reader_gives_the_safe_parsers_frame(tmp_path, document, monkeypatch):
    path = tmp_path / "resource_map.kml"
    path.write_bytes(document.encode("utf-8"))
    fast = mymaps.extract(path)
    monkeypatch.setattr(mymaps, "_fast_placemarks", lambda data: None)
    assert fast.equals(mymaps.extract(path))


@pytest.mark.parametrize(
    ("document", "plain"),
    [
        (kml_text(folders()), True),
        (XXE, False),
        (LAUGHS, False),
        (DOCTYPE_ONLY, False),
        ("<kml><!-- x --><Document/></kml>", False),
        ('<?xml version="1.0" encoding="Shift_JIS"?><kml/>', False),
        (" <?xml version='1.0'?><kml/>", False),
        ("<kml><Document><![CDATA[<!x]]></Document></kml>", False),
    ],
)
def test_fast_reader_takes_only_plain_documents(document, plain):
    assert mymaps._plain(document.encode("utf-8")) is plain


@pytest.mark.parametrize(
    "document",
    [
        "<kml><Placemark><name>&foo;</name><Point><coordinates>1,2</coordinates></Point></Placemark></kml>",
        "<kml><Placemark><name>a</name><Point><coordinates>1,2</coordinates></Point></Placemark>",
        "<gpx><Placemark><name>a</name><Point><coordinates>1,2</coordinates></Point></Placemark></gpx>",
    ],
)
def test_byte_scan_leaves_what_is_not_a_well_formed_kml_to_the_safe_parser(document):
    assert mymaps._scan_placemarks(document.encode()) is None
