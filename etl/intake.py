"""データ取込 (in-app intake): candidate bundles, dry runs, publishing with a sources archive, rollback.

The dashboard never runs the pipeline in its own process. The page writes a job directory (the
uploaded file and request.json) and starts `python -m etl.intake dry-run|publish|rollback --job DIR`;
that process appends progress lines to DIR/progress.jsonl and writes DIR/result.json at the end. A
crash or a kill of it cannot take the app down, and Great Expectations is imported only there.

- dry run: candidate bundle = the published run's sources (etl_run.source_dir of the latest run) with
  the uploaded file in place of its kind; `etl.pipeline.build` into a private file; diff against the
  published warehouse (files, quarantined rows, organisations, Home's figures). Nothing is published.
- publish: under the intake lock the candidate bundle is assembled from the then-latest published
  sources into the sources archive (`<archive>/<timestamp>-<sha12>/` with manifest.json) and built
  into the published path exactly as the CLI does, so the new run's source_dir is that archive
  directory; the warehouse it replaced and the new one are kept in `<warehouses>/<run_id>.duckdb`.
- rollback: an archived warehouse is copied beside the published path and os.replace()d under the
  build lock; the operational store records who, when, from which run to which.

See docs/intake.md.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import decimal
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
import traceback
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import duckdb

from etl import guard
from etl.errors import ChangesNeedConfirmation, EtlError, SourceError
from etl.sources import SOURCES
from warehouse import masking
from warehouse.query import Viewer, warehouse_path

ROOT = Path(__file__).resolve().parent.parent
ARCHIVE_ENV = "TSUNAGARI_ARCHIVE"
REFERENCE_ENV = "TSUNAGARI_REFERENCE"
MAX_UPLOAD_ENV = "TSUNAGARI_UPLOAD_MAX_MB"
DEFAULT_MAX_UPLOAD_MB = 20
# Job directories (uploads, progress, results) older than this are removed when a new job starts (s).
JOB_RETENTION_S = 24 * 3600
# Retention of archived source bundles and kept warehouses (docs/intake.md, "Retention"): how many of
# the newest to keep, and the age in days beyond which older ones go (0 = no age limit). What the
# published run or a kept warehouse (a rollback target) needs is never removed.
KEEP_WAREHOUSES_ENV = "TSUNAGARI_KEEP_WAREHOUSES"
KEEP_DAYS_ENV = "TSUNAGARI_KEEP_DAYS"
DEFAULT_KEEP_WAREHOUSES = 5
DEFAULT_KEEP_DAYS = 180
# Owner-only modes for everything the intake writes (archives and uploads hold personal data).
PRIVATE_DIR, PRIVATE_FILE, ARCHIVED_FILE = 0o700, 0o600, 0o400
# How often the page re-reads a running job's progress (s).
POLL_SECONDS = 0.5
# Bytes of an upload inspected for its type before anything parses it.
HEAD_BYTES = 8192
# Result lists are capped so result.json stays small; the totals are always given.
MAX_LISTED = 2000

# The order the page offers the kinds in; a source module not listed here is offered after them.
KIND_ORDER = ("distribution", "survey", "mymaps", "events", "progress", "cities", "targets")
# Kinds whose rows belong to one city: a city manager replaces only their own city's rows.
CITY_SPECIFIC = ("progress",)
SUBMIT_ROLES = ("admin", "city_manager")
# Four-city (joint) files rewrite every city's organisations and contact persons: admins only.
JOINT_ROLES = ("admin",)
ROLLBACK_ROLES = ("admin",)
ACTIONS = ("dry-run", "publish", "rollback")

ZIP_MAGIC = b"PK\x03\x04"
OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # legacy .xls (Excel 97–2003)
ZIP_EXTENSIONS = ("xlsx", "kmz")
TEXT_EXTENSIONS = ("csv", "kml")
# Organisation attributes compared by the dry run (identifiers from this allow-list only).
ORG_FIELDS = ("name", "address", "phone", "city_code", "legal_form_code")

MANIFEST = "manifest.json"
RUN_RECORD = "run.json"
SUBMITTED_DIR = "submitted"
REQUEST = "request.json"
RESULT = "result.json"
PROGRESS_LOG = "progress.jsonl"
PROCESS_LOG = "process.log"
UPLOAD_DIR = "upload"

# Progress steps of each action, in order: the page's progress bar is the last step reached.
STEPS = {
    "dry-run": ("queued", "assemble", "extract", "reference", "validate", "stage", "marts", "swap", "diff", "done"),
    "publish": (
        "queued", "wait_lock", "assemble", "extract", "reference", "validate", "stage", "marts", "swap", "archive",
        "done",
    ),
    "rollback": ("queued", "wait_lock", "rollback", "done"),
}  # fmt: skip
# Pipeline progress messages (etl.pipeline.build) by prefix → step.
PIPELINE_STEPS = (
    ("extract", "extract"),
    ("warning", "warning"),
    ("reference geography", "reference"),
    ("validate", "validate"),
    ("removed a stale", "cleanup"),
    ("stage", "stage"),
    ("marts", "marts"),
    ("publish", "swap"),
)


# --- kinds and paths -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Kind:
    """A source kind the page accepts: its bundle file names (FILE_NAME first) and whether it is per city."""

    code: str
    file_names: tuple[str, ...]
    city_specific: bool

    @property
    def extensions(self) -> tuple[str, ...]:
        """Accepted file extensions, lower case without the dot, in file-name order."""
        return tuple(dict.fromkeys(name.rsplit(".", 1)[1].lower() for name in self.file_names))

    def file_name_for(self, extension: str) -> str:
        """Bundle file name of an upload with this extension."""
        return next(name for name in self.file_names if name.lower().endswith("." + extension.lower()))


def _kinds() -> dict[str, Kind]:
    """Every source kind of etl.sources.SOURCES, in the page's order."""
    modules = {module.KIND: module for module in SOURCES}
    order = [code for code in KIND_ORDER if code in modules] + [code for code in modules if code not in KIND_ORDER]
    return {
        code: Kind(
            code,
            (modules[code].FILE_NAME, *getattr(modules[code], "ALT_FILE_NAMES", ())),
            code in CITY_SPECIFIC,
        )
        for code in order
    }


KINDS = _kinds()


def archive_root() -> Path:
    """Sources archive: $TSUNAGARI_ARCHIVE, or `sources` beside the published warehouse."""
    configured = os.environ.get(ARCHIVE_ENV, "").strip()
    return Path(configured) if configured else warehouse_path().parent / "sources"


def warehouses_dir() -> Path:
    """Kept warehouse files (`<run_id>.duckdb`), beside the sources archive."""
    return archive_root().parent / "warehouses"


def jobs_dir() -> Path:
    """Job directories of the page's dry runs, publishes and rollbacks, beside the sources archive."""
    return archive_root().parent / "intake-jobs"


def reference_dir() -> Path | None:
    """Reference geography for builds: $TSUNAGARI_REFERENCE, or `reference` beside the warehouse if present."""
    configured = os.environ.get(REFERENCE_ENV, "").strip()
    if configured:
        return Path(configured)
    default = warehouse_path().parent / "reference"
    return default if any((default / "towns").glob("*.json")) else None


def private_dir(path: Path) -> Path:
    """Create a directory (and missing parents) readable by the owner only (0700); returns it."""
    path.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR)
    path.chmod(PRIVATE_DIR)
    return path


def _private_opener(path: str, flags: int) -> int:
    """open() opener creating files readable by the owner only (0600)."""
    return os.open(path, flags, PRIVATE_FILE)


def _setting(name: str, default: int) -> int:
    """A whole-number setting from the environment (a blank or malformed value falls back to the default)."""
    configured = os.environ.get(name, "").strip()
    return int(configured) if configured.isdigit() else default


def keep_policy() -> tuple[int, int]:
    """(warehouses kept, days kept) from $TSUNAGARI_KEEP_WAREHOUSES and $TSUNAGARI_KEEP_DAYS."""
    return (
        max(1, _setting(KEEP_WAREHOUSES_ENV, DEFAULT_KEEP_WAREHOUSES)),
        _setting(KEEP_DAYS_ENV, DEFAULT_KEEP_DAYS),
    )


def max_upload_bytes() -> int:
    """Largest accepted upload: $TSUNAGARI_UPLOAD_MAX_MB (MiB), default 20 MiB."""
    configured = os.environ.get(MAX_UPLOAD_ENV, "").strip()
    megabytes = float(configured) if configured else DEFAULT_MAX_UPLOAD_MB
    return int(megabytes * 1024 * 1024)


def lock_path(warehouse: Path) -> Path:
    """The intake lock: held by a publish or rollback from assembling the bundle to keeping the result."""
    return warehouse.with_name(warehouse.name + ".intake.lock")


def build_lock_path(warehouse: Path) -> Path:
    """The pipeline's build lock file (etl.pipeline.build_lock)."""
    return warehouse.with_name(warehouse.name + ".lock")


# --- who may do what -----------------------------------------------------------------------------


def may_submit(viewer: Viewer) -> bool:
    """Admins and city managers may send files."""
    return viewer.role in SUBMIT_ROLES


def may_roll_back(viewer: Viewer) -> bool:
    """Only admins may return the warehouse to an earlier run."""
    return viewer.role in ROLLBACK_ROLES


def may_send(role: str, kind: str) -> bool:
    """Whether a role may send a kind at all: per-city kinds for submitters, four-city files for admins."""
    return role in SUBMIT_ROLES and kind in KINDS and (KINDS[kind].city_specific or role in JOINT_ROLES)


def authorise(role: str, viewer_city: str | None, kind: str, city_code: str | None) -> None:
    """Raise PermissionError unless the role may send this kind for this city (None = joint or all cities)."""
    if role not in SUBMIT_ROLES:
        raise PermissionError(f"role {role!r} may not send files")
    if kind not in KINDS:
        raise ValueError(f"unknown source kind {kind!r}")
    if not KINDS[kind].city_specific:
        if role not in JOINT_ROLES:
            raise PermissionError(f"{kind} is a four-city file: only an admin may send it")
        if city_code is not None:
            raise ValueError(f"{kind} is a joint file: no city applies")
        return
    if role == "city_manager" and city_code != viewer_city:
        raise PermissionError(f"a city manager of {viewer_city} may send {kind} rows for that city only")


class NotOwner(PermissionError):
    """A job was started by another identity: only its owner may see or publish it."""


def owner_viewer(identity: str) -> Viewer:
    """The identity's role and city as config/roles.toml says now ($TSUNAGARI_ROLES), not as a job recorded it.

    A malformed role file refuses (fails closed): the worker never acts on a role it cannot confirm.
    """
    from dashboard.roles import load_roles, roles_path, viewer_for

    return viewer_for(identity, load_roles(roles_path()))


def owns(job_request: "Request", viewer: Viewer) -> bool:
    """Whether a job belongs to the viewer (same signed-in identity)."""
    return bool(viewer.identity) and job_request.submitted_by == viewer.identity


# --- upload checks (before anything is parsed) ---------------------------------------------------


@dataclass(frozen=True)
class UploadProblem:
    """Why an upload is refused: a message code (catalogue key intake.refused.<code>) and its values."""

    code: str
    values: dict[str, str]


def extension_of(file_name: str) -> str:
    """Lower-case extension without the dot ("" when there is none)."""
    name = Path(file_name).name
    return name.rsplit(".", 1)[1].lower() if "." in name else ""


def looks_like_text(head: bytes) -> bool:
    """Whether the first bytes of a file are text (UTF-8, CP932, UTF-16 …) rather than a binary format."""
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return True
    if head.startswith((ZIP_MAGIC, OLE2_MAGIC, b"%PDF", b"\x1f\x8b", b"\x89PNG")):
        return False
    if b"\x00" in head:
        # UTF-16 without a BOM: every other byte of ASCII text is NUL.
        even, odd = head[0::2], head[1::2]
        return max(even.count(0), odd.count(0)) >= 0.4 * max(len(odd), 1)
    # Control characters other than tab, line ends, form feed and ESC (ISO-2022-JP) mean binary.
    controls = sum(1 for byte in head if byte < 32 and byte not in (9, 10, 12, 13, 27))
    return controls <= len(head) // 100


def check_upload(kind: str, file_name: str, size: int, head: bytes, limit: int) -> UploadProblem | None:
    """Refuse an upload by extension, size and magic bytes, without parsing it; None when acceptable."""
    spec = KINDS.get(kind)
    if spec is None:
        return UploadProblem("unknown_kind", {"kind": kind})
    extension = extension_of(file_name)
    if extension not in spec.extensions:
        expected = " / ".join("." + ext for ext in spec.extensions)
        return UploadProblem("wrong_extension", {"extension": "." + extension if extension else "—", "expected": expected})
    if size == 0:
        return UploadProblem("empty", {})
    if size > limit:
        return UploadProblem("too_large", {"size_mb": f"{size / 1048576:.1f}", "limit_mb": f"{limit / 1048576:g}"})
    if extension in ZIP_EXTENSIONS and not head.startswith(ZIP_MAGIC):
        code = "old_xls" if head.startswith(OLE2_MAGIC) else "not_zip"
        return UploadProblem(code, {"extension": "." + extension})
    if extension in TEXT_EXTENSIONS and not looks_like_text(head):
        return UploadProblem("not_text", {"extension": "." + extension})
    return None


# --- jobs (written by the page, run by the worker process) ---------------------------------------


@dataclass(frozen=True)
class Request:
    """What a job is asked to do, with every path resolved by the page (the worker reads no settings)."""

    job_id: str
    action: str
    submitted_by: str
    role: str
    submitted_at: str
    warehouse: str
    archive_root: str
    warehouses_dir: str
    operations: str | None
    reference_dir: str | None
    viewer_city: str | None = None
    kind: str | None = None
    city_code: str | None = None
    file_name: str | None = None
    extension: str | None = None
    sha256: str | None = None
    size_bytes: int | None = None
    target_run_id: str | None = None
    # A publish names the dry run it publishes; both must belong to the same identity.
    dry_run_job_id: str | None = None
    # The change-guard changes its owner confirmed after the dry run, as [key, subject] pairs: the publish
    # goes through only if the build finds no other change (etl.guard.accepted).
    accepted_changes: list[list[str]] | None = None

    @property
    def submitted(self) -> dt.datetime:
        """submitted_at as an aware UTC datetime."""
        return dt.datetime.fromisoformat(self.submitted_at)


def now_text() -> str:
    """Current UTC time as ISO 8601 with offset."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="microseconds")


def new_job_id(action: str) -> str:
    """A unique, sortable job id."""
    return dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ") + f"-{action}-{uuid.uuid4().hex[:8]}"


def new_request(
    action: str,
    viewer: Viewer,
    *,
    operations: Path | None,
    kind: str | None = None,
    city_code: str | None = None,
    file_name: str | None = None,
    data: bytes | None = None,
    target_run_id: str | None = None,
) -> Request:
    """A request for the current settings ($TSUNAGARI_WAREHOUSE, $TSUNAGARI_ARCHIVE, …) and this viewer."""
    reference = reference_dir()
    return Request(
        job_id=new_job_id(action),
        action=action,
        submitted_by=viewer.identity or viewer.role,
        role=viewer.role,
        viewer_city=viewer.city_code,
        submitted_at=now_text(),
        warehouse=str(warehouse_path().resolve()),
        archive_root=str(archive_root().resolve()),
        warehouses_dir=str(warehouses_dir().resolve()),
        operations=str(operations) if operations else None,
        reference_dir=str(reference) if reference else None,
        kind=kind,
        city_code=city_code,
        file_name=Path(file_name).name if file_name else None,
        extension=extension_of(file_name) if file_name else None,
        sha256=hashlib.sha256(data).hexdigest() if data is not None else None,
        size_bytes=len(data) if data is not None else None,
        target_run_id=target_run_id,
    )


def cleanup_jobs(root: Path, max_age_s: float = JOB_RETENTION_S) -> None:
    """Remove job directories older than max_age_s (they may hold personal data from uploads)."""
    if not root.is_dir():
        return
    cutoff = time.time() - max_age_s
    for path in root.iterdir():
        if path.is_dir() and path.stat().st_mtime < cutoff:
            shutil.rmtree(path, ignore_errors=True)


def create_job(request: Request, data: bytes | None = None, root: Path | None = None) -> Path:
    """Write a job directory: request.json and, for file jobs, the upload; returns the directory."""
    root = private_dir(root or Path(request.archive_root).parent / "intake-jobs")
    cleanup_jobs(root)
    job = root / request.job_id
    job.mkdir(mode=PRIVATE_DIR)
    private_dir(job / UPLOAD_DIR)
    if data is not None:
        upload = job / UPLOAD_DIR / f"upload.{request.extension}"
        upload.touch(mode=PRIVATE_FILE)
        upload.write_bytes(data)
    _write_json(job / REQUEST, asdict(request))
    return job


def load_request(job: Path) -> Request:
    """The request of a job directory."""
    return Request(**json.loads((job / REQUEST).read_text(encoding="utf-8")))


def upload_path(job: Path, request: Request) -> Path:
    """The uploaded file inside a job directory."""
    return job / UPLOAD_DIR / f"upload.{request.extension}"


def publish_job(
    dry_run_job: Path, viewer: Viewer, root: Path | None = None, accepted_changes: list[list[str]] | None = None
) -> Path:
    """A publish job, by the viewer, for exactly the file their own dry run checked (same bytes, kind and city).

    accepted_changes are the dry run's change-guard changes the viewer confirmed ([key, subject] pairs).
    Raises NotOwner when the dry run belongs to another identity (e.g. an earlier user of the same tab).
    """
    request = load_request(dry_run_job)
    if request.action != "dry-run" or not owns(request, viewer):
        raise NotOwner(f"job {request.job_id} belongs to another identity")
    data = upload_path(dry_run_job, request).read_bytes()
    if hashlib.sha256(data).hexdigest() != request.sha256:
        raise RuntimeError(f"{dry_run_job}: the uploaded file changed after the dry run")
    publish = replace(
        request,
        job_id=new_job_id("publish"),
        action="publish",
        submitted_at=now_text(),
        submitted_by=viewer.identity,
        role=viewer.role,
        viewer_city=viewer.city_code,
        dry_run_job_id=request.job_id,
        accepted_changes=[list(pair) for pair in accepted_changes or []],
    )
    return create_job(publish, data, root or dry_run_job.parent)


def spawn(job: Path) -> subprocess.Popen:
    """Start the worker process for a job (own session: the server's signals do not reach it)."""
    request = load_request(job)
    with open(job / PROCESS_LOG, "ab", opener=_private_opener) as log:
        return subprocess.Popen(
            [sys.executable, "-m", "etl.intake", request.action, "--job", str(job)],
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def read_progress(job: Path) -> list[dict]:
    """Progress entries written so far ({seconds, step, message}); a half-written last line is skipped."""
    path = job / PROGRESS_LOG
    if not path.exists():
        return []
    entries = []
    for line in path.read_text(encoding="utf-8").splitlines():
        with contextlib.suppress(json.JSONDecodeError):
            entries.append(json.loads(line))
    return entries


def progress_fraction(action: str, entries: list[dict]) -> float:
    """Share of the action's steps reached (0–1) from its progress entries."""
    steps = STEPS[action]
    reached = [steps.index(entry["step"]) for entry in entries if entry.get("step") in steps]
    return max(reached, default=0) / (len(steps) - 1)


def current_step(action: str, entries: list[dict]) -> str:
    """The latest step of the action reached ("queued" before the first)."""
    steps = STEPS[action]
    return next((entry["step"] for entry in reversed(entries) if entry.get("step") in steps), "queued")


def read_result(job: Path) -> dict | None:
    """The job's result.json, or None while it runs."""
    path = job / RESULT
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def job_state(job: Path, returncode: int | None) -> str:
    """"finished" (result.json written), "running", or "crashed" (the process ended without a result)."""
    if (job / RESULT).exists():
        return "finished"
    return "running" if returncode is None else "crashed"


def log_tail(job: Path, lines: int = 30) -> str:
    """Last lines of the worker's stdout/stderr (for a crashed job)."""
    path = job / PROCESS_LOG
    if not path.exists():
        return ""
    return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])


def _probe(path: Path) -> bool:
    """Whether another process holds an flock on path (checked non-blockingly, released at once)."""
    if not path.exists():
        return False
    fd = os.open(path, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def publish_running(warehouse: Path) -> bool:
    """Whether a publish, rollback or CLI build of this warehouse is running right now."""
    return _probe(lock_path(warehouse)) or _probe(build_lock_path(warehouse))


# --- the published state -------------------------------------------------------------------------


@dataclass(frozen=True)
class Published:
    """The run that built a warehouse file: its id, source bundle and checksum."""

    run_id: str
    source_dir: Path
    content_checksum: str | None
    started_at: dt.datetime
    finished_at: dt.datetime | None
    message: str | None


def resolve_source_dir(value: str) -> Path:
    """A recorded source_dir; relative ones (the CLI records what it was given) are from the repo root."""
    path = Path(value)
    return path if path.is_absolute() else ROOT / path


def latest_published(warehouse: Path) -> Published:
    """The latest published run recorded in a warehouse file (the run that built it)."""
    # ATTACH, not duckdb.connect(path): a connection this process still held would hand back the
    # instance of a file that has since been replaced (DuckDB's instance cache).
    con = duckdb.connect()
    try:
        con.execute("attach ? as published (read_only)", [str(warehouse)])
        row = con.execute(
            "select run_id, source_dir, content_checksum, started_at, finished_at, message from published.etl_run "
            "where status = 'published' order by started_at desc, run_id desc limit 1"
        ).fetchone()
    finally:
        con.close()
    if row is None:
        raise EtlError(f"{warehouse}: no published run recorded")
    return Published(row[0], resolve_source_dir(row[1]), row[2], row[3], row[4], row[5])


# --- candidate bundle ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Assembly:
    """A candidate bundle: its directory, the file written for the upload, and how it was made."""

    directory: Path
    file_name: str
    merged: bool
    ignored_rows: int
    # For a per-city merge: sheet → last row that came from the upload (rows below are other cities').
    upload_rows: dict[str, int] | None = None


def assemble(
    base: Path, kind: str, upload: Path, extension: str, dest: Path, *, city_code: str | None = None
) -> Assembly:
    """Candidate bundle in dest: every source file of base, with the upload in place of its kind.

    For a city-specific kind with a city, only that city's rows come from the upload; the other
    cities' rows stay as published (see merge_city_rows).
    """
    spec = KINDS[kind]
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.mkdir(mode=PRIVATE_DIR)
    dest.chmod(PRIVATE_DIR)
    for other in KINDS.values():
        if other.code == kind:
            continue
        for name in other.file_names:
            if (base / name).is_file():
                shutil.copyfile(base / name, dest / name)
    target = dest / spec.file_name_for(extension)
    if spec.city_specific and city_code is not None:
        current = next((base / name for name in spec.file_names if (base / name).is_file()), None)
        upload_rows: dict[str, int] = {}
        ignored = merge_city_rows(current, upload, city_code, target, upload_rows)
        return Assembly(dest, target.name, True, ignored, upload_rows)
    shutil.copyfile(upload, target)
    return Assembly(dest, target.name, False, 0)


def _city_resolver() -> Callable[[Any], str | None]:
    """City code of a 市 cell, or None when blank or unknown (the ETL quarantines those)."""
    from etl.pipeline import SEEDS_DIR
    from etl.vocab import UnknownLabel, Vocabulary

    vocab = Vocabulary.load(SEEDS_DIR)

    def resolve(value: Any) -> str | None:
        if value is None or not str(value).strip():
            return None
        try:
            return vocab.city(value)
        except UnknownLabel:
            return None

    return resolve


def merge_city_rows(
    current: Path | None, upload: Path, city_code: str, dest: Path, upload_rows: dict[str, int] | None = None
) -> int:
    """Write dest: the upload's rows for city_code plus the current file's rows for every other city.

    The upload is kept as it is, except that rows naming another city are emptied (the ETL skips
    blank rows), so a quarantined row's number is still its row in the file the user sent. The
    current file's rows of the other cities are appended below, by header name. Rows whose 市
    cannot be read stay (the ETL quarantines them for the user). Returns the number of rows ignored;
    upload_rows, when given, receives each sheet's last row from the upload (as the sheet is titled).
    """
    import zipfile

    import openpyxl
    from openpyxl.cell.cell import MergedCell
    from openpyxl.utils.exceptions import InvalidFileException

    from etl.sources import progress
    from etl.sources.base import check_file, check_zip, header_key

    resolve = _city_resolver()
    check_file(upload)
    try:
        with zipfile.ZipFile(upload) as archive:
            check_zip(archive, upload.name)
        book = openpyxl.load_workbook(upload)
        old = openpyxl.load_workbook(current) if current is not None else None
    except (zipfile.BadZipFile, InvalidFileException, KeyError, OSError, ValueError) as error:
        raise SourceError(upload.name, f"Excel ファイルとして読めません (not a valid .xlsx file: {error})") from error
    city_key = header_key("市")
    ignored = 0
    for sheet in progress.SHEETS:
        sheets = {header_key(ws.title): ws for ws in book.worksheets}
        ws = sheets.get(header_key(sheet))
        if ws is None:
            continue  # the build reports the missing sheet
        positions = {header_key(cell.value): i for i, cell in enumerate(ws[1]) if cell.value is not None}
        if city_key not in positions:
            continue  # the build reports the missing column
        if upload_rows is not None:
            # Under both names: the sheet as the user titled it and as the source module names it.
            upload_rows[ws.title] = upload_rows[sheet] = ws.max_row
        for cells in ws.iter_rows(min_row=2):
            code = resolve(cells[positions[city_key]].value) if len(cells) > positions[city_key] else None
            if code is not None and code != city_code:
                ignored += 1
                for cell in cells:
                    if not isinstance(cell, MergedCell):
                        cell.value = None
        source = {header_key(w.title): w for w in old.worksheets}.get(header_key(sheet)) if old else None
        if source is None:
            continue
        old_positions = {header_key(cell.value): i for i, cell in enumerate(source[1]) if cell.value is not None}
        if city_key not in old_positions:
            continue
        width = max(positions.values()) + 1
        for cells in source.iter_rows(min_row=2):
            values = [cell.value for cell in cells]
            code = resolve(values[old_positions[city_key]]) if len(values) > old_positions[city_key] else None
            if code is None or code == city_code:
                continue
            row = [None] * width
            for key, index in positions.items():
                old_index = old_positions.get(key)
                if old_index is not None and old_index < len(values):
                    row[index] = values[old_index]
            ws.append(row)
    book.save(dest)
    return ignored


# --- comparing a candidate with the published warehouse ------------------------------------------


def _plain(value: Any) -> Any:
    """A DuckDB value as JSON: decimals as floats, dates and times as ISO text."""
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, (dt.date, dt.datetime, dt.time)):
        return value.isoformat()
    return value


def _rows(con: duckdb.DuckDBPyConnection, sql: str, params: list | dict | None = None) -> list[dict]:
    """A bound query's rows as JSON-ready dicts, on its own cursor."""
    cursor = con.cursor()
    try:
        result = cursor.execute(sql, params)
        names = [column[0] for column in result.description]
        return [{name: _plain(value) for name, value in zip(names, row, strict=True)} for row in result.fetchall()]
    finally:
        cursor.close()


def _latest(con: duckdb.DuckDBPyConnection, alias: str) -> dict:
    """Latest published run of an attached warehouse (alias from this module)."""
    rows = _rows(
        con,
        f"select run_id, content_checksum from {alias}.etl_run where status = 'published' "
        "order by started_at desc, run_id desc limit 1",
    )
    return rows[0]


@dataclass(frozen=True)
class Scope:
    """What a city manager's dry run may list: the rows of the file they sent, and their city's organisations.

    upload_rows maps a sheet to the last row that came from their upload (a per-city merge appends
    the published rows of the other cities below it); a sheet not in it holds only their rows.
    """

    city_code: str
    file_name: str
    upload_rows: dict[str, int]

    def quarantine_sql(self) -> tuple[str, dict]:
        """SQL condition on quarantine alias q, with its named parameters (names from this method)."""
        params: dict[str, object] = {"own_file": self.file_name}
        below = []
        for index, (sheet, last) in enumerate(sorted(self.upload_rows.items())):
            params[f"own_sheet_{index}"], params[f"own_last_{index}"] = sheet, last
            below.append(f"(q.sheet = $own_sheet_{index} and q.row_number > $own_last_{index})")
        other = " or ".join(below) or "false"
        return f"q.file_name = $own_file and not coalesce({other}, false)", params


def compare(published: Path, candidate: Path, scope: Scope | None = None) -> dict:
    """What publishing the candidate would change: files, quarantined rows, organisations, Home's figures.

    With a scope (a city manager), quarantined rows and organisations are limited to theirs; the
    number of rows left out is given as quarantine_hidden.
    """
    con = duckdb.connect()
    try:
        con.execute("attach ? as pub (read_only)", [str(published)])
        con.execute("attach ? as cand (read_only)", [str(candidate)])
        before, after = _latest(con, "pub"), _latest(con, "cand")
        runs = {"pub_run": before["run_id"], "cand_run": after["run_id"]}
        files = _rows(
            con,
            "select c.file_name, c.kind, c.rows_read, c.rows_loaded, c.rows_quarantined, c.sha256, "
            "p.rows_read as before_rows_read, p.rows_loaded as before_rows_loaded, "
            "p.rows_quarantined as before_rows_quarantined, p.sha256 as before_sha256, "
            "p.sha256 is distinct from c.sha256 as changed "
            "from cand.etl_source_file c left join pub.etl_source_file p "
            "on p.run_id = $pub_run and p.kind = c.kind and (c.kind <> 'reference' or p.file_name = c.file_name) "
            "where c.run_id = $cand_run and c.kind <> 'seed' order by c.kind = 'reference', c.file_name",
            runs,
        )
        dropped = _rows(
            con,
            "select p.file_name, p.kind from pub.etl_source_file p where p.run_id = $pub_run and p.kind <> 'seed' "
            "and not exists (select 1 from cand.etl_source_file c where c.run_id = $cand_run and c.kind = p.kind "
            "and (p.kind <> 'reference' or c.file_name = p.file_name)) order by p.kind, p.file_name",
            runs,
        )
        every = "from cand.quarantine q where q.run_id = $cand_run"
        condition, scope_params = scope.quarantine_sql() if scope is not None else ("true", {})
        quarantine_where = f"{every} and {condition}"
        quarantined = _rows(
            con,
            "select q.file_name, q.sheet, q.row_number, q.column_name, q.value, q.reason, q.check_name, "
            "not exists (select 1 from pub.quarantine o where o.run_id = $pub_run and o.file_name = q.file_name "
            "and o.sheet is not distinct from q.sheet and o.row_number is not distinct from q.row_number "
            "and o.column_name is not distinct from q.column_name and o.reason = q.reason) as new "
            + quarantine_where
            + " order by q.file_name, q.sheet nulls first, q.row_number, q.column_name limit $limit",
            runs | scope_params | {"limit": MAX_LISTED},
        )
        cand_run = {"cand_run": after["run_id"]}
        quarantined_total = _rows(con, "select count(*) as n " + quarantine_where, cand_run | scope_params)[0]["n"]
        everyone_total = _rows(con, "select count(*) as n " + every, cand_run)[0]["n"]
        organisations = _organisation_changes(con, scope.city_code if scope is not None else None)
        kpis = _kpi_changes(con)
    finally:
        con.close()
    return {
        "base_run_id": before["run_id"],
        "candidate_run_id": after["run_id"],
        "unchanged": before["content_checksum"] == after["content_checksum"],
        "files": files,
        "files_dropped": dropped,
        "quarantine": quarantined,
        "quarantine_total": quarantined_total,
        "quarantine_hidden": everyone_total - quarantined_total,
        "organisations": organisations,
        "kpis": kpis,
    }


def _organisation_changes(con: duckdb.DuckDBPyConnection, city_code: str | None = None) -> dict:
    """Organisations added, removed, and changed field by field (ORG_FIELDS), by organization.id (one city's if given)."""
    pairs = ", ".join(f"b.{f} as before_{f}, a.{f} as after_{f}" for f in ORG_FIELDS)
    differs = " or ".join(f"b.{f} is distinct from a.{f}" for f in ORG_FIELDS)
    city = "" if city_code is None else " and (a.city_code = $city or b.city_code = $city)"
    rows = _rows(
        con,
        f"select coalesce(a.id, b.id) as id, b.id is null as added, a.id is null as removed, {pairs} "
        "from pub.organization b full outer join cand.organization a on a.id = b.id "
        f"where (b.id is null or a.id is null or {differs}){city} order by 1",
        None if city_code is None else {"city": city_code},
    )
    added, removed, changed = [], [], []
    for row in rows:
        if row["added"]:
            added.append({"id": row["id"], **{f: row[f"after_{f}"] for f in ORG_FIELDS}})
        elif row["removed"]:
            removed.append({"id": row["id"], **{f: row[f"before_{f}"] for f in ORG_FIELDS}})
        else:
            changed.extend(
                {"id": row["id"], "name": row["after_name"], "field": f, "before": row[f"before_{f}"], "after": row[f"after_{f}"]}
                for f in ORG_FIELDS
                if row[f"before_{f}"] != row[f"after_{f}"]
            )
    return {
        "added": added[:MAX_LISTED],
        "removed": removed[:MAX_LISTED],
        "changed": changed[:MAX_LISTED],
        "counts": {"added": len(added), "removed": len(removed), "changed": len({r["id"] for r in changed})},
    }


def _kpi_changes(con: duckdb.DuckDBPyConnection) -> list[dict]:
    """Home's figures for the four cities (mart_city_kpis, city_code null) before and after."""
    query = "select * exclude (city_code) from {}.mart_city_kpis where city_code is null"
    before = _rows(con, query.format("pub"))
    after = _rows(con, query.format("cand"))
    old = before[0] if before else {}
    new = after[0] if after else {}
    columns = list(dict.fromkeys([*old, *new]))
    return [
        {"column": c, "before": old.get(c), "after": new.get(c), "changed": old.get(c) != new.get(c)} for c in columns
    ]


# --- the worker: progress, locks, the three actions ----------------------------------------------


class Reporter:
    """Appends progress entries to the job's progress.jsonl; also the pipeline's progress callback."""

    def __init__(self, job: Path) -> None:
        self.path = job / PROGRESS_LOG
        self.began = time.monotonic()

    def step(self, step: str, message: str = "") -> None:
        """Record that the job reached a step."""
        entry = {"seconds": round(time.monotonic() - self.began, 1), "step": step, "message": message}
        with open(self.path, "a", encoding="utf-8", opener=_private_opener) as handle:
            handle.write(json.dumps(entry, ensure_ascii=False) + "\n")

    def __call__(self, message: str) -> None:
        """A pipeline progress message, filed under its step."""
        step = next((code for prefix, code in PIPELINE_STEPS if message.startswith(prefix)), "pipeline")
        self.step(step, message)


@contextlib.contextmanager
def intake_lock(warehouse: Path, report: Reporter) -> Iterator[None]:
    """Serialise publishes and rollbacks of one warehouse; report when this one has to wait."""
    warehouse.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path(warehouse), "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            report.step("wait_lock", "another publish is running; this one follows it")
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            if _probe(build_lock_path(warehouse)):
                report.step("wait_lock", "a build of this warehouse is running; this one follows it")
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _fsync_dir(path: Path) -> None:
    """Flush a directory entry so a rename survives a power cut."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_json(path: Path, value: dict) -> None:
    """Write JSON atomically (temp file + os.replace), so a reader never sees half a file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.touch(mode=PRIVATE_FILE)
    tmp.chmod(PRIVATE_FILE)
    tmp.write_text(json.dumps(value, ensure_ascii=False, indent=1, default=_plain), encoding="utf-8")
    os.replace(tmp, path)


def keep_warehouse(warehouse: Path, kept: Path) -> str:
    """Copy the published warehouse to kept/<run_id>.duckdb (with <run_id>.json) unless kept already.

    Call under the build lock, so no build replaces the file mid-copy. Returns the run id.
    """
    run = latest_published(warehouse)
    target = kept / f"{run.run_id}.duckdb"
    if target.exists():
        return run.run_id
    private_dir(kept)
    tmp = kept / f".{run.run_id}.duckdb.tmp"
    shutil.copyfile(warehouse, tmp)
    tmp.chmod(PRIVATE_FILE)
    os.replace(tmp, target)
    manifest = run.source_dir / MANIFEST
    _write_json(
        kept / f"{run.run_id}.json",
        {
            "run_id": run.run_id,
            "started_at": run.started_at,
            "finished_at": run.finished_at,
            "source_dir": str(run.source_dir),
            "content_checksum": run.content_checksum,
            "message": run.message,
            "kept_at": now_text(),
            "submission": json.loads(manifest.read_text(encoding="utf-8")) if manifest.is_file() else None,
        },
    )
    _fsync_dir(kept)
    return run.run_id


def kept_runs(kept: Path) -> list[dict]:
    """Warehouses kept for rollback, newest first (their <run_id>.json records)."""
    if not kept.is_dir():
        return []
    records = [
        json.loads(path.read_text(encoding="utf-8"))
        for path in kept.glob("*.json")
        if (kept / f"{path.stem}.duckdb").is_file()
    ]
    return sorted(records, key=lambda record: (record["started_at"], record["run_id"]), reverse=True)


def _new_archive_dir(root: Path, sha256: str) -> Path:
    """A fresh `<UTC timestamp>-<sha12>` directory under the archive root."""
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    private_dir(root)
    for attempt in range(1, 1000):
        path = root / (f"{stamp}-{sha256[:12]}" + (f"-{attempt}" if attempt > 1 else ""))
        if not path.exists():
            return path
    raise EtlError(f"{root}: cannot create an archive directory")


def remove_interrupted(root: Path, keep: Path) -> list[Path]:
    """Delete archive directories of publishes that never finished (no run.json), except `keep`.

    Call under the intake lock. `keep` is the published run's source directory, which must stay.
    """
    if not root.is_dir():
        return []
    removed = []
    for path in sorted(root.iterdir()):
        finished = (path / RUN_RECORD).exists()
        if path.is_dir() and not path.name.startswith(".") and not finished and path.resolve() != keep.resolve():
            _make_writable(path)
            shutil.rmtree(path)
            removed.append(path)
    return removed


def _make_read_only(directory: Path) -> None:
    """Archived bundles are evidence and hold personal data: files read-only for the owner (0400), folders 0700."""
    directory.chmod(PRIVATE_DIR)
    for path in directory.rglob("*"):
        path.chmod(ARCHIVED_FILE if path.is_file() else PRIVATE_DIR)


def _make_writable(directory: Path) -> None:
    """Undo _make_read_only before removing a directory."""
    for path in directory.rglob("*"):
        if path.is_file():
            path.chmod(PRIVATE_FILE)


@dataclass(frozen=True)
class Pruned:
    """What prune() removed: kept warehouses (run ids) and archive directories (names)."""

    warehouses: list[str]
    archives: list[str]


def _expired(index: int, moment: dt.datetime, keep: int, days: int, now: dt.datetime) -> bool:
    """Whether the index-th newest item (0 = newest), from moment, falls outside the policy."""
    too_old = days > 0 and now - moment > dt.timedelta(days=days)
    return index >= keep or too_old


def prune(warehouse: Path, root: Path, kept: Path, now: dt.datetime | None = None) -> Pruned:
    """Remove kept warehouses and archived bundles outside the retention policy (keep_policy()).

    Call under the intake lock. Never removed: the published run's kept warehouse and its source
    bundle, and the source bundle of every warehouse still kept (a rollback to it starts the next dry
    run from that bundle). An archive of a CLI-built run has no bundle here and is not affected.
    """
    now = now or dt.datetime.now(dt.UTC)
    count, days = keep_policy()
    published = latest_published(warehouse)
    removed_runs = []
    records = kept_runs(kept)
    for index, record in enumerate(records):
        started = dt.datetime.fromisoformat(record["started_at"])
        started = started if started.tzinfo else started.replace(tzinfo=dt.UTC)
        if record["run_id"] == published.run_id or not _expired(index, started, count, days, now):
            continue
        (kept / f"{record['run_id']}.duckdb").unlink(missing_ok=True)
        (kept / f"{record['run_id']}.json").unlink(missing_ok=True)
        removed_runs.append(record["run_id"])
    needed = {published.source_dir.resolve()} | {
        resolve_source_dir(record["source_dir"]).resolve() for record in kept_runs(kept)
    }
    removed_archives = []
    if root.is_dir():
        finished = sorted(
            (path for path in root.iterdir() if path.is_dir() and (path / RUN_RECORD).is_file()),
            key=lambda path: path.name,
            reverse=True,
        )
        for index, path in enumerate(finished):
            moment = dt.datetime.fromtimestamp((path / RUN_RECORD).stat().st_mtime, dt.UTC)
            if path.resolve() in needed or not _expired(index, moment, count, days, now):
                continue
            _make_writable(path)
            shutil.rmtree(path)
            removed_archives.append(path.name)
    if removed_runs:
        _fsync_dir(kept)
    return Pruned(removed_runs, removed_archives)


def _prune(warehouse: Path, root: Path, kept: Path, report: Reporter) -> None:
    """prune() after a publish or rollback, each removal in the job's progress log."""
    pruned = prune(warehouse, root, kept)
    for name in (*pruned.warehouses, *pruned.archives):
        report.step("cleanup", f"removed by the retention policy: {name}")


def _build(source: Path, warehouse: Path, request: Request, report: Reporter, accept_changes=False):
    """etl.pipeline.build exactly as the CLI runs it (imported here: Great Expectations stays in this process)."""
    from etl.pipeline import build

    reference = Path(request.reference_dir) if request.reference_dir else None
    return build(source, warehouse, progress=report, reference_dir=reference, accept_changes=accept_changes)


def _changes(changes: list[guard.Change]) -> list[dict]:
    """Change-guard changes as result.json holds them (key, subject, before, after, message_ja, message_en)."""
    return [asdict(change) for change in changes]


def _root_causes(candidate: Path, run_id: str, scope: Scope | None) -> list[dict]:
    """The candidate's quarantine grouped by root cause (names and counts only); a city manager's: their file's."""
    from warehouse.query import quality

    with duckdb.connect(str(candidate), read_only=True) as con:
        causes = quality.root_causes(con, run_id).to_dicts()
    if scope is not None:
        causes = [cause for cause in causes if str(cause["root_cause"]).startswith(scope.file_name)]
    return causes[:MAX_LISTED]


def _warnings(job: Path) -> list[str]:
    """The pipeline's warnings (ignored columns and the like) from the progress log."""
    return [entry["message"].removeprefix("warning: ") for entry in read_progress(job) if entry["step"] == "warning"]


def dry_run(request: Request, job: Path, report: Reporter, owner: Viewer) -> dict:
    """Build the candidate bundle into a private file and compare it with the published warehouse.

    The result is what its owner may see: a city manager's lists hold only their city's rows, and
    every role's personal values are masked (warehouse.masking) before result.json is written.
    """
    authorise(owner.role, owner.city_code, request.kind, request.city_code)
    warehouse = Path(request.warehouse)
    base = latest_published(warehouse)
    report.step("assemble", f"candidate bundle from {base.source_dir} (run {base.run_id})")
    bundle, candidate = job / "bundle", job / "candidate" / "warehouse.duckdb"
    shutil.rmtree(bundle, ignore_errors=True)
    shutil.rmtree(candidate.parent, ignore_errors=True)
    outcome: dict[str, Any] = {"base_run_id": base.run_id, "base_source_dir": str(base.source_dir)}
    try:
        assembly = assemble(
            base.source_dir, request.kind, upload_path(job, request), request.extension, bundle,
            city_code=request.city_code,
        )  # fmt: skip
        outcome |= {"file_name": assembly.file_name, "merged": assembly.merged, "ignored_rows": assembly.ignored_rows}
        built = _build(bundle, candidate, request, report)
        report.step("diff", "compare with the published warehouse")
        scope = None
        if owner.role not in JOINT_ROLES:
            scope = Scope(owner.city_code or "", assembly.file_name, assembly.upload_rows or {})
        outcome |= compare(warehouse, candidate, scope)
        # What the publish would stop on: its owner sees the list and confirms it before publishing.
        outcome["changes"] = _changes(guard.check_changes(warehouse, candidate))
        outcome["root_causes"] = _root_causes(candidate, built.run_id, scope)
    except EtlError as error:
        failed = outcome | {"status": "failed", "error": str(error), "warnings": _warnings(job)}
        return masked_result(failed, owner.role)
    finally:
        shutil.rmtree(bundle, ignore_errors=True)
        shutil.rmtree(candidate.parent, ignore_errors=True)
    return masked_result(outcome | {"status": "ok", "warnings": _warnings(job)}, owner.role)


def masked_result(result: dict, role: str) -> dict:
    """A job result as a role may see it: quarantined personal values, and every text quoting them, masked."""
    rows = result.get("quarantine") or []
    values = masking.personal_values(rows)
    masked = dict(result)
    if "quarantine" in result:
        masked["quarantine"] = masking.mask_quarantine_rows(rows, role)
    for key in ("error", "record_error"):
        if masked.get(key):
            masked[key] = masking.mask_text(masked[key], role, values)
    if "warnings" in result:
        masked["warnings"] = [masking.mask_text(text, role, values) for text in result["warnings"]]
    return masked


def _check_dry_run(request: Request, job: Path) -> None:
    """Refuse a publish whose dry run is missing, another identity's, or of other bytes."""
    dry = job.parent / (request.dry_run_job_id or "")
    if not request.dry_run_job_id or not (dry / REQUEST).is_file():
        raise NotOwner(f"publish {request.job_id} names no dry run of this server")
    checked = load_request(dry)
    if checked.submitted_by != request.submitted_by or checked.sha256 != request.sha256:
        raise NotOwner(f"dry run {checked.job_id} belongs to another identity or another file")


def publish(request: Request, job: Path, report: Reporter, owner: Viewer) -> dict:
    """Assemble under the intake lock from the latest published sources, archive, build and publish."""
    from etl.pipeline import build_lock

    _check_dry_run(request, job)
    authorise(owner.role, owner.city_code, request.kind, request.city_code)
    warehouse, root, kept = Path(request.warehouse), Path(request.archive_root), Path(request.warehouses_dir)
    upload = upload_path(job, request)
    with intake_lock(warehouse, report):
        base = latest_published(warehouse)
        for path in remove_interrupted(root, base.source_dir):
            report.step("cleanup", f"removed the archive of an interrupted publish: {path.name}")
        with build_lock(warehouse):
            # The warehouse about to be replaced stays available for rollback.
            keep_warehouse(warehouse, kept)
        archive = _new_archive_dir(root, request.sha256)
        report.step("assemble", f"candidate bundle from {base.source_dir} (run {base.run_id}) into {archive}")
        assembly = assemble(
            base.source_dir, request.kind, upload, request.extension, archive, city_code=request.city_code
        )
        manifest = {
            "kind": request.kind,
            "file_name": assembly.file_name,
            "original_name": request.file_name,
            "sha256": request.sha256,
            "size_bytes": request.size_bytes,
            "bundle_sha256": hashlib.sha256((archive / assembly.file_name).read_bytes()).hexdigest(),
            "city_code": request.city_code,
            "merged": assembly.merged,
            "ignored_rows": assembly.ignored_rows,
            "submitted_by": request.submitted_by,
            "role": owner.role,
            "submitted_at": request.submitted_at,
            "dry_run_job_id": request.dry_run_job_id,
            "base_run_id": base.run_id,
            "base_source_dir": str(base.source_dir),
            "job_id": request.job_id,
        }
        if assembly.merged:
            # The bundle holds the merged file; the bytes the user sent are kept beside it.
            private_dir(archive / SUBMITTED_DIR)
            shutil.copyfile(upload, archive / SUBMITTED_DIR / (request.file_name or upload.name))
        _write_json(archive / MANIFEST, manifest)
        accepted = [tuple(pair) for pair in request.accepted_changes or []]
        try:
            result = _build(archive, warehouse, request, report, accept_changes=accepted)
        except EtlError as error:
            _make_writable(archive)
            shutil.rmtree(archive)
            failed = {"status": "failed", "error": str(error), "base_run_id": base.run_id, "warnings": _warnings(job)}
            if isinstance(error, ChangesNeedConfirmation):
                # Changes the dry run did not show (the published data moved since): a new dry run lists them.
                failed["changes"] = _changes(error.changes)
            return masked_result(failed, owner.role)
        report.step("archive", f"keep warehouse {result.run_id}")
        _write_json(archive / RUN_RECORD, {"run_id": result.run_id, "published_at": now_text()})
        _make_read_only(archive)
        with build_lock(warehouse):
            keep_warehouse(warehouse, kept)
        _prune(warehouse, root, kept, report)
    return {
        "status": "ok",
        "run_id": result.run_id,
        "archive_dir": str(archive),
        "base_run_id": base.run_id,
        "file_name": assembly.file_name,
        "rows_loaded": result.rows_loaded,
        "rows_quarantined": result.rows_quarantined,
        "content_checksum": result.content_checksum,
        "warnings": _warnings(job),
    }


def rollback(request: Request, job: Path, report: Reporter, owner: Viewer) -> dict:
    """Make a kept earlier warehouse the published one again (copy beside it, os.replace under the build lock)."""
    from etl.pipeline import build_lock, temp_path

    if owner.role not in ROLLBACK_ROLES:
        raise PermissionError(f"role {owner.role!r} may not roll back")
    warehouse, kept = Path(request.warehouse), Path(request.warehouses_dir)
    target = request.target_run_id
    source = kept / f"{target}.duckdb"
    with intake_lock(warehouse, report):
        if not source.is_file():
            return {"status": "failed", "error": f"run {target} is not kept in {kept}", "to_run_id": target}
        report.step("rollback", f"return to run {target}")
        with build_lock(warehouse):
            current = keep_warehouse(warehouse, kept)
            tmp = temp_path(warehouse, f"rollback-{target}")
            try:
                shutil.copyfile(source, tmp)
                os.chmod(tmp, 0o600)  # personal data inside (pii schema): owner-only, as the build writes it
                with open(tmp, "rb") as handle:
                    os.fsync(handle.fileno())
                os.replace(tmp, warehouse)
                _fsync_dir(warehouse.parent)
            finally:
                tmp.unlink(missing_ok=True)
        now = latest_published(warehouse)
        if now.run_id == target:
            _prune(warehouse, Path(request.archive_root), kept, report)
    if now.run_id != target:
        return {"status": "failed", "error": f"published run is {now.run_id}, expected {target}", "to_run_id": target}
    return {"status": "ok", "from_run_id": current, "to_run_id": target, "source_dir": str(now.source_dir)}


WORKERS = {"dry-run": dry_run, "publish": publish, "rollback": rollback}


def _record(request: Request, result: dict, owner: Viewer) -> None:
    """Write the job's outcome to the operational store's intake log or rollback audit."""
    from warehouse import operations as ops

    path = Path(request.operations) if request.operations else None
    outcome = "ok" if result["status"] == "ok" else "failed"
    if request.action in ("publish", "rollback"):
        # Who changed the published data, in the audit log beside downloads and sign-ins.
        publish = request.action == "publish"
        ops.record_audit(
            Viewer(owner.role, owner.city_code, request.submitted_by),
            "intake_publish" if publish else "intake_rollback",
            f"upload/{request.file_name if publish else request.target_run_id}",
            {
                "job_id": request.job_id,
                "outcome": outcome,
                "kind": request.kind,
                "city_code": request.city_code,
                "sha256": request.sha256,
                "base_run_id": result.get("base_run_id", result.get("from_run_id")),
                "run_id": result.get("run_id", result.get("to_run_id")),
            },
            path=path,
        )
    if request.action == "rollback":
        ops.record_rollback(
            ops.RollbackRecord(
                job_id=request.job_id,
                outcome=outcome,
                from_run_id=result.get("from_run_id"),
                to_run_id=request.target_run_id or "",
                rolled_back_by=request.submitted_by,
                role=owner.role,
                requested_at=request.submitted,
                message=result.get("error"),
            ),
            path=path,
        )
        return
    ops.record_intake(
        ops.IntakeRecord(
            job_id=request.job_id,
            action=request.action.replace("-", "_"),
            outcome=outcome,
            kind=request.kind or "",
            city_code=request.city_code,
            file_name=request.file_name or "",
            sha256=request.sha256,
            size_bytes=request.size_bytes,
            submitted_by=request.submitted_by,
            role=owner.role,
            submitted_at=request.submitted,
            base_run_id=result.get("base_run_id"),
            run_id=result.get("run_id"),
            archive_dir=result.get("archive_dir"),
            message=result.get("error"),
        ),
        path=path,
    )


def run_job(job: Path) -> dict:
    """Run a job directory's request and write its result.json; returns the result."""
    request = load_request(job)
    report = Reporter(job)
    report.step("queued", f"{request.action} started (pid {os.getpid()})")
    owner = Viewer()  # masks everything until the role file confirms who this is
    try:
        # The role of the identity that created the job, as the role file says now (not as recorded).
        owner = owner_viewer(request.submitted_by)
        if owner.role not in SUBMIT_ROLES:
            raise PermissionError(f"{request.submitted_by} (role {owner.role}) may not send files")
        result = WORKERS[request.action](request, job, report, owner)
    except Exception as error:  # noqa: BLE001 - the worker's boundary: every failure must reach result.json
        traceback.print_exc()
        result = masked_result({"status": "failed", "error": f"{type(error).__name__}: {error}"}, owner.role)
    result = {"action": request.action, "job_id": request.job_id} | result
    try:
        _record(request, result, owner)
    except (OSError, ValueError) as error:
        # The published state is what it is; a full disk for the log must not hide the outcome.
        result["record_error"] = str(error)
    _write_json(job / RESULT, result)
    report.step("done" if result["status"] == "ok" else "failed", result.get("error") or "")
    return result


def main(argv: list[str] | None = None) -> int:
    """`python -m etl.intake dry-run|publish|rollback --job DIR` (started by the page)."""
    parser = argparse.ArgumentParser(prog="python -m etl.intake", description="Tsunagari in-app intake worker")
    parser.add_argument("action", choices=ACTIONS)
    parser.add_argument("--job", type=Path, required=True, help="job directory written by the page")
    args = parser.parse_args(argv)
    request = load_request(args.job)
    if request.action != args.action:
        parser.error(f"{args.job} holds a {request.action} request, not {args.action}")
    from warehouse import operations as ops

    # The store at this release's schema before the job writes to it (the app's launcher has usually done it).
    ops.migrate(Path(request.operations) if request.operations else None)
    return 0 if run_job(args.job)["status"] == "ok" else 1


if __name__ == "__main__":
    sys.exit(main())
