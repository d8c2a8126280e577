"""The sample's warehouse content and every export are byte-identical to the recorded ones (issue #19).

A refactor must not change what the product shows or hands out. tests/golden/sample.json records the
sample warehouse's content checksum (every content table, marts included) and a sha256 of each export a
person can download: every explore dataset as CSV for the public and an admin, the HSDS package (public,
admin, raw) and the GeoJSON. A deliberate change of content re-records it with
`TSUNAGARI_UPDATE_GOLDEN=1 pytest tests/test_sample_golden.py` and says why in the commit.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import duckdb
import pytest

from common.roles import PUBLIC, Viewer
from dashboard.downloads import csv_from_batches
from etl.pipeline import BOOKKEEPING
from warehouse import exports
from warehouse.query import explore

GOLDEN = Path(__file__).with_name("golden") / "sample.json"
ADMIN = Viewer("admin")


def sha(data: bytes) -> str:
    """Hex sha256 of bytes."""
    return hashlib.sha256(data).hexdigest()


def rows_digest(csv: bytes) -> str:
    """sha256 of a CSV's header and its rows as a sorted multiset: an unsorted view may list rows in any order."""
    header, _, body = csv.partition(b"\r\n" if b"\r\n" in csv else b"\n")
    return sha(header + b"\n" + b"\n".join(sorted(body.splitlines())))


def file_digest(name: str, data: bytes) -> str:
    """sha256 of an export file; the package descriptor's run id and build time are left out (which build, not what)."""
    if name.endswith(".json"):
        descriptor = json.loads(data)
        for when in ("created", "run_id"):
            descriptor.pop(when, None)
        return sha(json.dumps(descriptor, ensure_ascii=False, sort_keys=True).encode())
    return sha(data)


def export_digests(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """sha256 of every export of the warehouse, keyed by a readable name."""
    digests: dict[str, str] = {}
    for who, viewer in (("public", PUBLIC), ("admin", ADMIN)):
        for name, dataset in sorted(explore.catalogue(con, viewer).items()):
            if name in BOOKKEEPING:
                continue  # runs, files and their times: they differ between any two builds
            view = explore.View(dataset)
            csv = csv_from_batches(explore.stream(con, view, viewer=viewer))
            digests[f"explore/{who}/{name}.csv"] = rows_digest(csv)
        for name, data in sorted(exports.hsds_files(con, viewer).items()):
            digests[f"hsds/{who}/{name}"] = file_digest(name, data)
        digests[f"geojson/{who}"] = sha(exports.geojson_bytes(con, viewer))
    for name, data in sorted(exports.hsds_files(con, ADMIN, raw=True).items()):
        digests[f"hsds/raw/{name}"] = file_digest(name, data)
    return digests


@pytest.fixture(scope="module")
def observed(sample_build) -> dict:
    """What the current code produces from the sample."""
    con = duckdb.connect(str(sample_build.warehouse), read_only=True)
    try:
        return {"content_checksum": sample_build.content_checksum, "exports": export_digests(con)}
    finally:
        con.close()


def test_sample_is_byte_identical_to_the_recording(observed):
    if os.environ.get("TSUNAGARI_UPDATE_GOLDEN") == "1":
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(json.dumps(observed, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    recorded = json.loads(GOLDEN.read_text(encoding="utf-8"))
    assert observed["content_checksum"] == recorded["content_checksum"]
    changed = sorted(
        name
        for name in recorded["exports"].keys() | observed["exports"].keys()
        if recorded["exports"].get(name) != observed["exports"].get(name)
    )
    assert changed == [], f"exports that differ from tests/golden/sample.json: {changed}"


def test_the_recording_covers_every_kind_of_export(observed):
    names = observed["exports"]
    assert any(n.startswith("explore/public/") for n in names)
    assert any(n.startswith("explore/admin/") for n in names)
    assert len([n for n in names if n.startswith("explore/admin/")]) > len(
        [n for n in names if n.startswith("explore/public/")]
    ) or any(n.startswith("hsds/raw/") for n in names)
    assert {"geojson/public", "geojson/admin"} <= names.keys()
