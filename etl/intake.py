"""データ取込 (in-app intake) as the page calls it: kinds, rights, upload checks, job directories, job status.

The dashboard never runs the pipeline in its own process. The page writes a job directory (the
uploaded file and request.json) and starts the worker, `python -m etl.intake_worker
dry-run|publish|rollback --job DIR` (etl/intake_worker.py), which appends typed progress events
(etl.steps.StepEvent) to DIR/progress.jsonl and writes DIR/result.json at the end. A crash or a kill
of it cannot take the app down, and neither the pipeline nor Great Expectations is imported here.

See docs/intake.md.
"""

from __future__ import annotations

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
import uuid
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import duckdb

from common.calendar import fiscal_year_label
from common.roles import Viewer
from etl.sources import SOURCES
from etl.steps import Step, StepEvent
from warehouse import masking
from warehouse.query import warehouse_path

ROOT = Path(__file__).resolve().parent.parent
ARCHIVE_ENV = "TSUNAGARI_ARCHIVE"
REFERENCE_ENV = "TSUNAGARI_REFERENCE"
MAX_UPLOAD_ENV = "TSUNAGARI_UPLOAD_MAX_MB"
DEFAULT_MAX_UPLOAD_MB = 20
# Job directories (uploads, progress, results) older than this are removed when a new job starts (s).
JOB_RETENTION_S = 24 * 3600
# Owner-only modes for everything the intake writes (archives and uploads hold personal data).
PRIVATE_DIR, PRIVATE_FILE, ARCHIVED_FILE = 0o700, 0o600, 0o400
# How often the page re-reads a running job's progress (s).
POLL_SECONDS = 0.5
# Bytes of an upload inspected for its type before anything parses it.
HEAD_BYTES = 8192

# The order the page offers the kinds in; a source module not listed here is offered after them.
KIND_ORDER = ("distribution", "survey", "mymaps", "events", "progress", "cities", "targets")
# Kinds whose rows belong to one city: a city manager replaces only their own city's rows.
CITY_SPECIFIC = ("progress",)
SUBMIT_ROLES = ("admin", "city_manager")
# Four-city (joint) files rewrite every city's organisations and contact persons: admins only.
JOINT_ROLES = ("admin",)
ROLLBACK_ROLES = ("admin",)
ACTIONS = ("dry-run", "publish", "rollback")
# The worker's module, started by spawn() as `python -m WORKER_MODULE <action> --job DIR`.
WORKER_MODULE = "etl.intake_worker"

ZIP_MAGIC = b"PK\x03\x04"
OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # legacy .xls (Excel 97–2003)
ZIP_EXTENSIONS = ("xlsx", "kmz")
TEXT_EXTENSIONS = ("csv", "kml")
# Organisation attributes compared by the dry run (identifiers from this allow-list only).
ORG_FIELDS = ("name", "address", "phone", "city_code", "legal_form_code")

# A job directory: written by the page (request, upload) and by the worker (progress, result, log).
REQUEST = "request.json"
RESULT = "result.json"
PROGRESS_LOG = "progress.jsonl"
PROCESS_LOG = "process.log"
UPLOAD_DIR = "upload"

# Progress steps of each action, in order: the page's progress bar is the last step reached.
STEPS = {
    action: tuple(map(Step, codes))
    for action, codes in {
        "dry-run": ("queued", "assemble", "extract", "reference", "validate", "stage", "marts", "swap", "diff", "done"),
        "publish": (
            "queued", "wait_lock", "assemble", "extract", "reference", "validate", "stage", "marts", "swap", "archive",
            "done",
        ),
        "rollback": ("queued", "wait_lock", "rollback", "done"),
    }.items()
}  # fmt: skip


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


def private_opener(path: str, flags: int) -> int:
    """open() opener creating files readable by the owner only (0600)."""
    return os.open(path, flags, PRIVATE_FILE)


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
    from common.roles import load_roles, roles_path, viewer_for

    return viewer_for(identity, load_roles(roles_path()))


def owns(job_request: Request, viewer: Viewer) -> bool:
    """Whether a job belongs to the viewer (same signed-in identity)."""
    return bool(viewer.identity) and job_request.submitted_by == viewer.identity


# --- which 年度 a submission goes to ---------------------------------------------------------------


@dataclass(frozen=True)
class YearChoice:
    """A 年度 the page offers: the latest published (the default), the next one (a new year), or a past one."""

    fiscal_year: int
    status: str  # latest | new | past


class YearRefused(ValueError):
    """A submission's 年度 is not one it may go to (see check_year); the message names the year in ja and en."""


def may_start_year(role: str) -> bool:
    """Whether a role may start a new 年度: it carries every four-city file forward, so admins only."""
    return role in JOINT_ROLES


def year_choices(published: list[int], role: str = "admin") -> list[YearChoice]:
    """The years a role may send to, in the page's order: latest (default), the next one, then the past ones."""
    if not published:
        return []
    years = sorted(set(published), reverse=True)
    latest = years[0]
    return [
        YearChoice(latest, "latest"),
        *([YearChoice(latest + 1, "new")] if may_start_year(role) else []),
        *(YearChoice(year, "past") for year in years[1:]),
    ]


def check_year(fiscal_year: int | None, published: list[int], past_year_confirmed: bool, role: str = "admin") -> None:
    """Raise YearRefused unless a role may send to this 年度 (None: the latest published, as before years).

    The latest published year is open; the next one (a new year) to admins; a past year already published
    is re-submitted only with its sender's explicit confirmation; any other year is refused.
    """
    if fiscal_year is None or not published:
        return
    ja, en = fiscal_year_label(fiscal_year, "ja"), fiscal_year_label(fiscal_year, "en")
    status = {choice.fiscal_year: choice.status for choice in year_choices(published)}.get(fiscal_year)
    if status == "new" and not may_start_year(role):
        raise YearRefused(
            f"{ja} を新しい年度として始められるのは管理者だけです（4市共通のファイルを引き継ぐため） "
            f"(only an admin may start {en} as a new year: it carries the four-city files forward)"
        )
    if status is None:
        raise YearRefused(
            f"{ja} には送れません。公開中の年度か、その次の年度を選んでください "
            f"({en} is neither a published year nor the next one)"
        )
    if status == "past" and not past_year_confirmed:
        raise YearRefused(
            f"{ja} は公開済みの過去の年度です。出し直すには、その年度を選んだことの確認が必要です "
            f"({en} is a published past year: re-submitting it needs an explicit confirmation)"
        )


def published_years(warehouse: Path) -> list[tuple[int, str | None]]:
    """The published warehouse's 年度 and the bundle folder each came from (None: a flat bundle), oldest first.

    Empty for a warehouse built before years (no fiscal_year_bundle): its bundle is taken as one flat year.
    """
    # ATTACH, not duckdb.connect(path): a connection this process still held would hand back a replaced file.
    con = duckdb.connect()
    try:
        con.execute("attach ? as published (read_only)", [str(warehouse)])
        rows = con.execute("select fiscal_year, source_folder from published.fiscal_year_bundle order by 1").fetchall()
    except duckdb.CatalogException:
        rows = []
    finally:
        con.close()
    return [(int(year), folder) for year, folder in rows]


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
        return UploadProblem(
            "wrong_extension", {"extension": "." + extension if extension else "—", "expected": expected}
        )
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
    # The 年度 the file is for (西暦 start year); None: the latest published year, as before years.
    fiscal_year: int | None = None
    # The sender confirmed re-submitting a past published year (check_year refuses one without it).
    past_year_confirmed: bool = False

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
    fiscal_year: int | None = None,
    past_year_confirmed: bool = False,
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
        fiscal_year=fiscal_year,
        past_year_confirmed=past_year_confirmed,
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
    write_json(job / REQUEST, asdict(request))
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
    with open(job / PROCESS_LOG, "ab", opener=private_opener) as log:
        return subprocess.Popen(
            [sys.executable, "-m", WORKER_MODULE, request.action, "--job", str(job)],
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


@dataclass(frozen=True)
class Logged:
    """A job's progress event and when the worker reported it (seconds since it started)."""

    seconds: float
    event: StepEvent

    def to_line(self) -> str:
        """The entry as one line of progress.jsonl: {seconds, step, key, file, sheet, run_id, counts, detail}."""
        return json.dumps({"seconds": self.seconds} | self.event.to_json(), ensure_ascii=False)


def read_progress(job: Path) -> list[Logged]:
    """Progress entries written so far; a half-written last line is skipped."""
    path = job / PROGRESS_LOG
    if not path.exists():
        return []
    entries = []
    for line in path.read_text(encoding="utf-8").splitlines():
        with contextlib.suppress(json.JSONDecodeError, KeyError, TypeError, ValueError):
            data = json.loads(line)
            entries.append(Logged(float(data["seconds"]), StepEvent.from_json(data)))
    return entries


def progress_fraction(action: str, entries: list[Logged]) -> float:
    """Share of the action's steps reached (0–1) from its progress entries."""
    steps = STEPS[action]
    reached = [steps.index(entry.event.step) for entry in entries if entry.event.step in steps]
    return max(reached, default=0) / (len(steps) - 1)


def current_step(action: str, entries: list[Logged]) -> Step:
    """The latest step of the action reached (queued before the first)."""
    steps = STEPS[action]
    return next((entry.event.step for entry in reversed(entries) if entry.event.step in steps), Step.QUEUED)


def read_result(job: Path) -> dict | None:
    """The job's result.json, or None while it runs."""
    path = job / RESULT
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def job_state(job: Path, returncode: int | None) -> str:
    """ "finished" (result.json written), "running", or "crashed" (the process ended without a result)."""
    if (job / RESULT).exists():
        return "finished"
    return "running" if returncode is None else "crashed"


def log_tail(job: Path, lines: int = 30) -> str:
    """Last lines of the worker's stdout/stderr (for a crashed job)."""
    path = job / PROCESS_LOG
    if not path.exists():
        return ""
    return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])


def is_locked(path: Path) -> bool:
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
    return is_locked(lock_path(warehouse)) or is_locked(build_lock_path(warehouse))


# --- shared with the worker: JSON files, kept warehouses, what a role may see --------------------


def json_value(value: Any) -> Any:
    """A DuckDB value as JSON: decimals as floats, dates and times as ISO text."""
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, (dt.date, dt.datetime, dt.time)):
        return value.isoformat()
    return value


def write_json(path: Path, value: dict) -> None:
    """Write JSON atomically (temp file + os.replace), so a reader never sees half a file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.touch(mode=PRIVATE_FILE)
    tmp.chmod(PRIVATE_FILE)
    tmp.write_text(json.dumps(value, ensure_ascii=False, indent=1, default=json_value), encoding="utf-8")
    os.replace(tmp, path)


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
