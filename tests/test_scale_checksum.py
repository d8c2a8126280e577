"""A generated 10k region builds to the same warehouse content as before the column-wise transforms."""

from __future__ import annotations

import pytest

from benchmarks import scale
from etl import pipeline, sources

# Content checksum of the 10k region (benchmarks/scale.py, 10,000 organisations, seed 1 — the benchmark's
# bundle) built with its own reference/ by the code before the column-wise transforms and the worker
# processes (main at cb24e43, the row-by-row transforms): the benchmark's build of that bundle recorded it
# in etl_run.content_checksum (run 20261203T113618Z-755003bc), and a build of the same bundle with that
# commit's code from this test's call gave it again. To re-derive it: check out cb24e43, generate the bundle
# (python -m benchmarks.scale --orgs 10000 --out DIR) and call pipeline.build(DIR, WAREHOUSE,
# reference_dir=DIR / "reference"); the value is RunResult.content_checksum.
BEFORE = "8e4b2555ae6adc670dd5776b7854abfe313d088d27e032435f714238ab4a5cf0"


@pytest.mark.slow
def test_generated_10k_region_has_the_content_checksum_it_had_before(tmp_path, monkeypatch):
    bundle = tmp_path / "bundle"
    scale.generate(10_000, bundle, seed=1, progress=lambda _: None)
    # Read in worker processes as a large bundle is (the 10k bundle is below the size that turns them on).
    monkeypatch.setattr(sources, "PARALLEL_MIN_BYTES", 0)
    result = pipeline.build(bundle, tmp_path / "w.duckdb", reference_dir=bundle / "reference")
    assert result.content_checksum == BEFORE
    assert result.rows_quarantined > 0
