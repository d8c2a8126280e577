"""相談つなぎ's ring search (the first RESULT_ROWS by hexagon rings) lists exactly what the plain full search lists."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from polars.testing import assert_frame_equal

from warehouse.query import referral

TODAY = dt.date(2025, 3, 31)
RADII = (0.05, 0.8, 5.0, 30.0)


def needs(con) -> list[referral.Need]:
    """Needs of one, two and three facets, with and without an age, and one of an unknown term (no match)."""
    terms = {facet: referral.need_terms(con, facet, "ja")["id"].to_list() for facet in referral.FACETS}
    return [
        referral.Need(forms=tuple(terms["form"][:1])),
        referral.Need(forms=tuple(terms["form"][1:3]), targets=tuple(terms["target"][:1])),
        referral.Need(contents=tuple(terms["content"][:4]), forms=tuple(terms["form"][:2]), age=10),
        referral.Need(contents=tuple(terms["content"][2:3]), targets=tuple(terms["target"][1:2]), age=70),
        referral.Need(targets=tuple(terms["target"][:2]), age=45),
        referral.Need(forms=("form:no-such-term",)),
    ]


def origins(con) -> list[referral.Origin]:
    """The first, a middle and the last 町丁目, and a point outside the four cities."""
    towns = referral.towns(con, "ja")
    picked = [towns.row(i, named=True) for i in sorted({0, towns.height // 2, towns.height - 1})]
    return [referral.Origin(t["latitude"], t["longitude"], t["city_code"]) for t in picked] + [
        referral.Origin(35.0, 139.0, None)
    ]


def limits(plain: referral.Referrals) -> list[int]:
    """1, a few, RESULT_ROWS, the plain total, and rows after which the next lies at the same distance (the first
    few and the one nearest RESULT_ROWS)."""
    distances = plain.frame["distance_km"].to_list()
    ties = [k for k in range(1, len(distances)) if distances[k] is not None and distances[k - 1] == distances[k]]
    near_page = min(ties, key=lambda k: abs(k - referral.RESULT_ROWS), default=1)
    return sorted({1, 3, referral.RESULT_ROWS, max(plain.total, 1), near_page, *ties[:5]})


def searches(con: duckdb.DuckDBPyConnection, every_radius: bool = True) -> list[tuple]:
    """(need, origin, radius) to compare: every radius for each need × origin, or one radius each.

    With one radius each (the n-th need's o-th origin gets radius n + o, cyclically), every need still meets
    every origin, every origin every radius and every need every radius but one (a quarter of the searches:
    ~5 CPU-s instead of ~19 on the sample).
    """
    picked = origins(con)
    return [
        (need, origin, radius)
        for n, need in enumerate(needs(con))
        for o, origin in enumerate(picked)
        for r, radius in enumerate(RADII)
        if every_radius or r == (n + o) % len(RADII)
    ]


def assert_rings_match_plain(con: duckdb.DuckDBPyConnection, every_radius: bool = True) -> int:
    """Each search of searches() × limit: same rows, order, distances, why and total; returns cases checked."""
    cases = 0
    for need, origin, radius in searches(con, every_radius):
        plain = referral.find_referrals(con, need, origin, radius, TODAY)
        for limit in limits(plain):
            ring = referral.find_referrals(con, need, origin, radius, TODAY, "ja", limit)
            head = plain.frame if plain.fallback else plain.frame.head(limit)
            # With an age, pinless rows that fit it come first: a first page of only those falls back.
            assert ring.fallback == (plain.fallback or head["distance_km"].is_null().all())
            if not ring.fallback or plain.fallback:
                assert_frame_equal(ring.frame, head)
                assert ring.total == plain.total
            cases += 1
    return cases


@pytest.fixture(scope="module")
def ref_con(reference_build):
    """The sample built with the synthetic reference geography (towns around each centre), read-only."""
    con = duckdb.connect(str(reference_build.warehouse), read_only=True)
    yield con
    con.close()


def test_rings_match_the_plain_search_on_the_sample(ref_con):
    assert assert_rings_match_plain(ref_con, every_radius=False) > 80


@pytest.mark.slow  # every radius for every need × origin, four times the searches of the test above: make test only
def test_rings_match_the_plain_search_on_the_sample_at_every_radius(ref_con):
    assert assert_rings_match_plain(ref_con) > 100


def test_every_pin_lies_within_its_hexagons_reach(ref_con):
    far = ref_con.execute(
        "select count(*) from mart_referral_point where cell_q is not null "
        "and haversine_km(cell_latitude, cell_longitude, latitude, longitude) > cell_reach_km"
    ).fetchone()
    assert far == (0,)


@pytest.fixture(scope="module")
def region(tmp_path_factory) -> Path:
    """A generated 3,000-organisation region, built through the whole pipeline."""
    from etl.pipeline import build

    out = tmp_path_factory.mktemp("rings") / "bundle"
    subprocess.run(
        [sys.executable, "-m", "benchmarks.scale", "--orgs", "3000", "--out", str(out), "--seed", "11"],
        check=True,
        cwd=Path(__file__).parents[1],
        capture_output=True,
    )
    warehouse = out.parent / "warehouse.duckdb"
    build(out, warehouse, reference_dir=out / "reference")
    return warehouse


@pytest.mark.slow  # builds a generated region through the whole pipeline: make test only
def test_rings_match_the_plain_search_on_a_generated_region(region):
    con = duckdb.connect(str(region), read_only=True)
    try:
        assert assert_rings_match_plain(con) > 100
        # Dense enough that the limits below a total (1, 3, ties) stop the search inside the radius somewhere.
        totals = [referral.find_referrals(con, needs(con)[0], origin, 5.0, TODAY).total for origin in origins(con)]
        assert max(totals) > 50
    finally:
        con.close()
