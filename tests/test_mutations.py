"""Deterministic mutation test: every sample source file damaged many ways, never a traceback.

Each mutation (fixed seed) damages one file of data/sample — truncate, cut bytes out, overwrite bytes, swap
in another type of file, empty a sheet — and runs the real build over a copy of one reference warehouse.
The outcome must be a publish or an EtlError whose message names the damaged file, and after an error
the published warehouse must be byte-identical. Mutations whose extract + normalise result equals one
already built share that build's outcome (same tables in, same validation and guard out), which keeps the
run to a few minutes.
"""

from __future__ import annotations

import hashlib
import io
import random
import shutil
import zipfile
from pathlib import Path

import openpyxl
import polars as pl
import pytest

from etl.errors import ChangesNeedConfirmation, EtlError
from etl.pipeline import SEEDS_DIR, build
from etl.sources import transform_bundle

SAMPLE = Path(__file__).resolve().parent.parent / "data" / "sample"
SEED = 18
MUTATIONS = 210
HTML = b"<!DOCTYPE html>\n<html lang='ja'><head><title>Google My Maps</title></head><body>sign in</body></html>\n"
PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
OPS = ("truncate", "cut", "overwrite", "swap", "empty")


def sha(path: Path) -> str:
    """sha256 of a file's bytes."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def empty_sheet(data: bytes, name: str, rng: random.Random) -> tuple[bytes, str]:
    """The file with one sheet (or the whole CSV, or every placemark) left with its header only."""
    if name.endswith(".xlsx"):
        book = openpyxl.load_workbook(io.BytesIO(data))
        sheet = book[rng.choice(book.sheetnames)]
        sheet.delete_rows(2, sheet.max_row)
        out = io.BytesIO()
        book.save(out)
        return out.getvalue(), f"empty sheet {sheet.title}"
    if name.endswith(".csv"):
        return data.split(b"\r\n" if b"\r\n" in data else b"\n", 1)[0] + b"\r\n", "header only"
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        kml = archive.read("doc.kml").decode("utf-8")
    head, _, rest = kml.partition("<Placemark")
    tail = rest.rpartition("</Placemark>")[2]
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("doc.kml", head + tail)
    return out.getvalue(), "no placemarks"


def mutate(data: bytes, name: str, op: str, rng: random.Random, others: dict[str, bytes]) -> tuple[bytes, str]:
    """One damaged copy of a file and a label saying how it was damaged."""
    size = len(data)
    if op == "truncate":
        keep = rng.randrange(1, size)
        return data[:keep], f"truncate to {keep}"
    if op == "cut":
        start = rng.randrange(size)
        length = rng.randrange(1, max(2, size // 20))
        return data[:start] + data[start + length :], f"cut {length} at {start}"
    if op == "overwrite":
        start = rng.randrange(size)
        garbage = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 64)))
        return data[:start] + garbage + data[start + len(garbage) :], f"overwrite {len(garbage)} at {start}"
    if op == "swap":
        kind = rng.choice(["html", "pdf", "png", "other"])
        if kind == "other":
            other = rng.choice(sorted(n for n in others if n != name))
            return others[other], f"swap for {other}"
        return {"html": HTML, "pdf": PDF, "png": PNG}[kind], f"swap for {kind}"
    return empty_sheet(data, name, rng)


def plan() -> list[tuple[str, str, bytes, str]]:
    """The fixed list of mutations: (file, op, bytes, label), every file and every op covered."""
    rng = random.Random(SEED)
    originals = {path.name: path.read_bytes() for path in sorted(SAMPLE.iterdir()) if path.is_file()}
    names = sorted(originals)
    mutations = []
    for i in range(MUTATIONS):
        name = names[i % len(names)]
        # Each file meets each op in turn; the damage itself is random (fixed seed).
        op = OPS[(i // len(names)) % len(OPS)]
        data, label = mutate(originals[name], name, op, rng, originals)
        mutations.append((name, op, data, label))
    return mutations


def bundle_digest(bundle) -> str:
    """A digest of what extract + normalise produced: every table and the quarantine."""
    digest = hashlib.sha256()
    for name in sorted(bundle.tables):
        frame = bundle.tables[name]
        digest.update(name.encode())
        digest.update(frame.hash_rows().sort().to_numpy().tobytes() if frame.height else b"")
        digest.update(",".join(frame.columns).encode())
    digest.update(bundle.quarantine.hash_rows().sort().to_numpy().tobytes() if bundle.quarantine.height else b"")
    return digest.hexdigest()


@pytest.mark.slow
def test_every_mutation_publishes_or_names_the_file(tmp_path, sample_warehouse):
    mutations = plan()
    assert len(mutations) >= 200
    assert {(n, op) for n, op, _, _ in mutations} >= {
        (p.name, op) for p in SAMPLE.iterdir() if p.is_file() for op in OPS
    }
    published = tmp_path / "published.duckdb"
    shutil.copy(sample_warehouse, published)
    reference = sha(published)
    outcomes: dict[str, str] = {}
    seen: dict[str, tuple[str, str]] = {}
    bundle_dir = tmp_path / "bundle"
    for number, (name, _op, data, label) in enumerate(mutations):
        shutil.rmtree(bundle_dir, ignore_errors=True)
        shutil.copytree(SAMPLE, bundle_dir)
        (bundle_dir / name).write_bytes(data)
        where = f"#{number} {name} {label}"
        try:
            digest = bundle_digest(transform_bundle(bundle_dir, SEEDS_DIR))
        except EtlError as error:
            assert name in str(error), f"{where}: the error does not name the file: {error}"
            outcomes[where] = "error"
            continue
        if digest in seen:
            outcome, message = seen[digest]
        else:
            try:
                build(bundle_dir, published)
                outcome, message = "published", ""
            except ChangesNeedConfirmation as error:
                outcome, message = "stopped", str(error)
            except EtlError as error:
                outcome, message = "error", str(error)
            seen[digest] = (outcome, message)
        if outcome == "published":
            # Back to the reference, so every mutation is compared with the same published warehouse.
            shutil.copy(sample_warehouse, published)
        else:
            assert name in message, f"{where}: the error does not name the file: {message}"
        assert sha(published) == reference, f"{where}: the published warehouse changed after {outcome}"
        outcomes[where] = outcome
    assert len(outcomes) == len(mutations)
    # The mix must exercise both ends: damage caught while reading, and builds that ran to the guard or published.
    kinds = pl.Series(list(outcomes.values())).value_counts()
    assert set(kinds["values" if "values" in kinds.columns else kinds.columns[0]].to_list()) >= {"error"}
    assert any(v in ("published", "stopped") for v in outcomes.values())
