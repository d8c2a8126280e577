"""Marts in layers: documented columns and grains, the build's grain check, the shared SQL macros."""

from __future__ import annotations

import math
import re
import shutil
from pathlib import Path

import duckdb
import pytest

from etl import pipeline
from etl.errors import EtlError
from warehouse import macros, models, query
from warehouse.query import directory, referral

ROOT = Path(__file__).resolve().parent.parent
MARTS_DIR = ROOT / "warehouse" / "marts"
MARTS = [(path, path.stem) for path in sorted(MARTS_DIR.glob("*.sql"))] + [
    (path, f"pii.{path.stem}") for path in sorted((MARTS_DIR / "pii").glob("*.sql"))
]
INTERMEDIATE = pipeline.mart_order(list((MARTS_DIR / "intermediate").glob("*.sql")))


def columns(con: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    """The built table's columns, in order."""
    return [row[0] for row in con.execute(f"describe {table}").fetchall()]


def difference(documented: list[str], real: list[str]) -> dict[str, list[str]]:
    """What the header lacks and what it names that the table lacks; equal lists when only the order differs."""
    return {
        "undocumented": [name for name in real if name not in documented],
        "not in the table": [name for name in documented if name not in real],
        "order": [] if documented == real or set(documented) != set(real) else documented,
    }


@pytest.mark.parametrize(("path", "name"), MARTS, ids=[name for _, name in MARTS])
def test_mart_header_lists_the_built_columns(sample_con, path, name):
    assert difference(list(models.header(path).columns), columns(sample_con, name)) == {
        "undocumented": [],
        "not in the table": [],
        "order": [],
    }


def test_intermediate_headers_list_their_columns_and_are_not_published(sample_con):
    assert [path.stem for path in INTERMEDIATE] == [
        "int_event_days_unknown",
        "int_event_session",
        "int_event_attendance",
        "int_consultee_attendance",
        "int_org_term",
        "int_year_scopes",
    ]
    published = {row[0] for row in sample_con.execute("select table_name from information_schema.tables").fetchall()}
    assert published & {path.stem for path in INTERMEDIATE} == set()
    for path in INTERMEDIATE:
        sample_con.execute(f"create temp table {path.stem} as {path.read_text(encoding='utf-8')}")
        assert difference(list(models.header(path).columns), columns(sample_con, path.stem)) == {
            "undocumented": [],
            "not in the table": [],
            "order": [],
        }, path.name
        assert models.duplicate_key(sample_con, path.stem, models.header(path).grain) is None


@pytest.mark.parametrize(("path", "name"), MARTS, ids=[name for _, name in MARTS])
def test_mart_declares_a_grain_of_its_own_columns(path, name):
    header = models.header(path)
    assert header.grain, f"{path.name}: no `-- grain:` line"
    assert set(header.grain) <= set(header.columns)


def write(folder: Path, name: str, text: str) -> None:
    """One model file."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.sql").write_text(text, encoding="utf-8")


@pytest.fixture()
def marts_dir(tmp_path, monkeypatch) -> Path:
    """An empty marts folder the build reads instead of warehouse/marts."""
    monkeypatch.setattr(pipeline, "MARTS_DIR", tmp_path)
    return tmp_path


def test_grain_check_passes_unique_keys_with_one_null(marts_dir):
    write(marts_dir / "intermediate", "int_base", "-- base\n-- grain: k\nselect * from (values (1), (2)) as t(k)")
    write(
        marts_dir,
        "mart_totals",
        "-- totals and an all-rows row (k null)\n-- grain: k\n"
        "select k, count(*) as n from int_base group by grouping sets ((k), ())",
    )
    con = duckdb.connect()
    assert pipeline.build_marts(con) == ["mart_totals"]
    assert con.execute("select count(*) from mart_totals").fetchone() == (3,)
    # The intermediate model is gone once the marts are built.
    assert con.execute("select count(*) from duckdb_tables() where table_name = 'int_base'").fetchone() == (0,)


def test_a_mart_with_a_duplicate_grain_key_fails_the_build(marts_dir):
    write(
        marts_dir,
        "mart_pairs",
        "-- pairs\n-- grain: city_code, form_code\n"
        "select * from (values ('14213', 'ibasho', 1), ('14213', 'ibasho', 2), ('14215', 'ibasho', 3)) "
        "as t(city_code, form_code, n)",
    )
    with pytest.raises(EtlError) as failure:
        pipeline.build_marts(duckdb.connect())
    assert str(failure.value) == (
        "warehouse/marts/mart_pairs.sql: grain (city_code, form_code) is not unique: "
        "2 rows have city_code='14213', form_code='ibasho'"
    )


def test_two_null_keys_are_a_duplicate(marts_dir):
    write(marts_dir, "mart_totals", "-- totals\n-- grain: city_code\nselect null as city_code union all select null")
    with pytest.raises(EtlError, match=r"^warehouse/marts/mart_totals\.sql: .* 2 rows have city_code=None$"):
        pipeline.build_marts(duckdb.connect())


def test_an_intermediate_model_with_a_duplicate_key_fails_the_build(marts_dir):
    write(marts_dir / "intermediate", "int_x", "-- x\n-- grain: k\nselect 1 as k union all select 1")
    write(marts_dir, "mart_y", "-- y\n-- grain: k\nselect distinct k from int_x")
    con = duckdb.connect()
    with pytest.raises(EtlError, match=r"^warehouse/marts/intermediate/int_x\.sql: grain \(k\) is not unique"):
        pipeline.build_marts(con)
    assert con.execute("select count(*) from duckdb_tables()").fetchone() == (0,)


def test_a_mart_without_a_grain_or_with_an_unknown_grain_column_fails_the_build(marts_dir):
    write(marts_dir, "mart_loose", "-- loose\nselect 1 as k")
    with pytest.raises(EtlError, match=r"^warehouse/marts/mart_loose\.sql: no grain declared"):
        pipeline.build_marts(duckdb.connect())
    write(marts_dir, "mart_loose", "-- loose\n-- grain: key\nselect 1 as k")
    with pytest.raises(EtlError, match=r"^warehouse/marts/mart_loose\.sql: grain \(key\): Binder Error"):
        pipeline.build_marts(duckdb.connect())


# ---------------------------------------------------------------------------------------------------
# SQL macros


def test_haversine_macro_is_the_great_circle_distance():
    con = duckdb.connect()
    macros.install(con)
    lat1, lng1, lat2, lng2 = 35.4628, 139.4028, 35.4312, 139.3906
    a = (
        math.sin(math.radians(lat2 - lat1) / 2) ** 2
        + math.cos(math.radians(lat1)) * math.cos(math.radians(lat2)) * math.sin(math.radians(lng2 - lng1) / 2) ** 2
    )
    expected = 2 * 6371.0088 * math.asin(math.sqrt(a))
    got, antipodal, unknown = con.execute(
        "select haversine_km(?, ?, ?, ?), haversine_km(0, 0, 0, 180), haversine_km(null, 0, 0, 0)",
        [lat1, lng1, lat2, lng2],
    ).fetchone()
    assert got == pytest.approx(expected, rel=1e-12)
    assert antipodal == pytest.approx(math.pi * 6371.0088)
    assert unknown is None  # an organisation without a pin has no distance, not the antipode's
    assert macros.EARTH_RADIUS_KM == referral.EARTH_RADIUS_KM == 6371.0088


def test_hex_cell_centre_lies_within_the_radius_of_its_points():
    con = duckdb.connect()
    macros.install(con)
    rows = con.execute(
        "select lat, lng, hex_centre_latitude(c.q, c.r), hex_centre_longitude(c.q) from ("
        "select lat, lng, hex_cell(lat, lng) as c from ("
        "select 35.40::double + i * 0.0007 as lat, 139.35::double + i * 0.0011 as lng from range(200) as t(i)))"
    ).fetchall()
    assert len({(round(a, 6), round(b, 6)) for _, _, a, b in rows}) > 20
    for lat, lng, c_lat, c_lng in rows:
        metres = math.hypot((lat - c_lat) * 110574, (lng - c_lng) * 111320 * math.cos(math.radians(35.45)))
        assert metres <= macros.HEX_METRES + 1e-6
    assert macros.HEX_METRES == directory.HEX_METRES == 500


def test_query_connection_brings_the_macros_to_a_warehouse_built_without_them(sample_warehouse, tmp_path):
    path = tmp_path / "older.duckdb"
    shutil.copy(sample_warehouse, path)
    names = re.findall(r"create or replace macro (\w+)", macros.SQL)
    with duckdb.connect(str(path)) as con:
        for name in names:
            con.execute(f"drop macro {name}")
    con = query.connect(path)
    try:
        assert referral.directory_density(con).height > 0
        assert con.cursor().execute("select haversine_km(35.0, 139.0, 35.0, 139.0)").fetchone() == (0.0,)
    finally:
        con.close()


def test_distance_and_grid_constants_are_written_only_in_the_macros():
    # The haversine's radius and the grid's projection constants: macros.sql is their one home in the product.
    product = [ROOT / folder for folder in ("etl", "warehouse", "dashboard", "benchmarks")]
    constants = re.compile(r"6371|111320|110574|35\.45\b")
    found = {
        path.relative_to(ROOT).as_posix()
        for folder in product
        for path in folder.rglob("*")
        if path.suffix in {".py", ".sql"} and constants.search(path.read_text(encoding="utf-8"))
    }
    assert found == {"warehouse/macros.sql"}
