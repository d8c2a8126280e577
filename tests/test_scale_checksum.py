"""A generated 10k region builds to the same warehouse content through the column-wise transforms and workers as
through the row-by-row reference transforms.

The checksum recorded before the year dimension (ddb8b39e… at cb24e43) matched the column-wise build too; the
year columns changed the content since, so the reference is now built alongside rather than recorded.
"""

from __future__ import annotations

import duckdb
import pytest

from benchmarks import scale
from etl import pipeline, sources
from etl.sources import distribution, mymaps, survey


def checksum(bundle, warehouse) -> str:
    """The content checksum of bundle's warehouse, with the reference directory's path taken out."""
    result = pipeline.build(bundle, warehouse, reference_dir=bundle / "reference")
    assert result.rows_quarantined > 0
    with duckdb.connect(str(warehouse)) as con:
        assert (
            con.execute("select count(*) from ref_source where location = ?", [str(bundle / "reference")]).fetchone()[0]
            == 2
        )
        con.execute("update ref_source set location = 'reference'")
        return pipeline.content_checksum(con)


@pytest.mark.slow
def test_generated_10k_region_has_the_same_content_through_the_row_by_row_reference(tmp_path, monkeypatch):
    bundle = tmp_path / "bundle"
    scale.generate(10_000, bundle, seed=1, progress=lambda _: None)
    with monkeypatch.context() as reference:
        # The row-by-row transforms (the reference the column-wise ones keep for rows with a problem), in
        # this process.
        for module in (distribution, survey, mymaps):
            reference.setattr(module, "transform", module.transform_by_row)
        reference.setattr(sources, "PARALLEL_MIN_BYTES", 1 << 62)
        by_row = checksum(bundle, tmp_path / "by_row.duckdb")
    # Read in worker processes as a large bundle is (the 10k bundle is below the size that turns them on).
    monkeypatch.setattr(sources, "PARALLEL_MIN_BYTES", 0)
    assert checksum(bundle, tmp_path / "fast.duckdb") == by_row
