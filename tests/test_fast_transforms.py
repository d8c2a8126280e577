"""The column-wise transforms of the large sources give exactly what their row-by-row references give.

distribution, survey and mymaps parse whole columns and send only rows with a problem through the
row-by-row check (transform_by_row, the reference). Every bad input of the catalogue (tests/test_bad_inputs.py)
and the sample are transformed both ways: the same tables, row for row, and the same quarantine records in
the same order.
"""

from __future__ import annotations

import sys
import types

import pytest
from bad_inputs import fresh_inputs
from polars.testing import assert_frame_equal
from test_bad_inputs import CASES

from etl.pipeline import SEEDS_DIR
from etl.sources import distribution, mymaps, survey, transform_bundle

FAST = (distribution, survey, mymaps)
# Cases that stop at a file error never reach a transform; reference cases do not read the bundle. A case that
# alters another kind's file (events, progress, cities) leaves the column-wise transforms the sample's input and
# context (Context comes from the seeds and the distribution list), so comparing both ways on it repeats
# test_sample_both_ways exactly; those cases stay in test_bad_inputs.
TRANSFORMED = [case for case in CASES if case.error is None and case.kind in {module.KIND for module in FAST}]


def both_ways(bundle, monkeypatch):
    """transform_bundle with the column-wise transforms, then with every source row by row."""
    fast = transform_bundle(bundle, SEEDS_DIR, parallel=False)
    with monkeypatch.context() as patch:
        for module in FAST:
            patch.setattr(module, "transform", module.transform_by_row)
        reference = transform_bundle(bundle, SEEDS_DIR, parallel=False)
    return fast, reference


def assert_same(fast, reference) -> None:
    """Same tables (rows in the same order, same dtypes), quarantine, rejected rows and warnings."""
    assert fast.tables.keys() == reference.tables.keys()
    for name, frame in reference.tables.items():
        try:
            assert_frame_equal(fast.tables[name], frame)
        except AssertionError as error:
            raise AssertionError(f"{name}: {error}") from None
    assert_frame_equal(fast.quarantine, reference.quarantine)
    assert fast.warnings == reference.warnings
    assert fast.sheets == reference.sheets
    assert [(f.file_name, f.rows_read, f.rows_quarantined) for f in fast.files] == [
        (f.file_name, f.rows_read, f.rows_quarantined) for f in reference.files
    ]


@pytest.mark.parametrize("case", [pytest.param(case, id=case.id) for case in TRANSFORMED])
def test_bad_input_both_ways(case, tmp_path, monkeypatch):
    inputs = fresh_inputs(tmp_path)
    case.mutate(inputs)
    fast, reference = both_ways(inputs.bundle, monkeypatch)
    assert_same(fast, reference)


def test_sample_both_ways(tmp_path, monkeypatch):
    inputs = fresh_inputs(tmp_path)
    fast, reference = both_ways(inputs.bundle, monkeypatch)
    assert_same(fast, reference)
    assert fast.tables["organization"].height > 0 and fast.tables["location"].height > 0


def test_a_file_error_from_a_worker_names_file_sheet_and_row(tmp_path):
    inputs = fresh_inputs(tmp_path)
    (inputs.bundle / "survey_answers.csv").write_bytes(b"")
    with pytest.raises(Exception) as sequential:
        transform_bundle(inputs.bundle, SEEDS_DIR, parallel=False)
    with pytest.raises(type(sequential.value)) as parallel:
        transform_bundle(inputs.bundle, SEEDS_DIR, parallel=True)
    assert str(parallel.value) == str(sequential.value) == "survey_answers.csv: ファイルが空です (empty file)"


def test_worker_processes_give_the_same_frames_and_do_not_rerun_the_callers_main_script(tmp_path, monkeypatch):
    # Inside Streamlit or AppTest, __main__ is a page script; a spawned worker must not run it (it died there
    # and broke the pool whenever a large bundle was read after a page had run in the same process).
    script = tmp_path / "page.py"
    script.write_text("raise SystemExit('a page script ran in a worker')\n", encoding="utf-8")
    page = types.ModuleType("__main__")
    page.__file__ = str(script)
    monkeypatch.setitem(sys.modules, "__main__", page)
    inputs = fresh_inputs(tmp_path)
    # The sample read by the worker processes (what a large bundle gets) gives the frames read in this process.
    assert_same(
        transform_bundle(inputs.bundle, SEEDS_DIR, parallel=True),
        transform_bundle(inputs.bundle, SEEDS_DIR, parallel=False),
    )
    assert sys.modules["__main__"] is page
