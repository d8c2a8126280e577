"""The deployment files in deploy/: systemd units that `systemd-analyze verify` accepts, a hardened
dashboard unit, an environment file that names only settings the code reads, and the readiness check."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from etl import health

ROOT = Path(__file__).resolve().parents[1]
SYSTEMD = ROOT / "deploy" / "systemd"
ENV_FILE = SYSTEMD / "tsunagari.env"
UNITS = sorted(path.name for path in SYSTEMD.iterdir() if path.suffix in (".service", ".timer"))
ANALYZE_TIMEOUT_S = 60
# systemd-analyze security's overall exposure (0 = locked down, 10 = unprotected); "OK" ends below 5.
MAX_EXPOSURE = 3.0


def _systemd_analyze() -> str:
    found = shutil.which("systemd-analyze")
    if found is None:
        pytest.fail("systemd-analyze not found: run ./tools/system-deps.sh browser (Debian's systemd)", pytrace=False)
    return found


def render(unit_text: str) -> str:
    """The unit as installed on this machine: /opt/tsunagari → this checkout, its python → this interpreter,
    /etc/tsunagari/tsunagari.env → the repository's environment file (verify checks that these exist)."""
    return (
        unit_text.replace("/opt/tsunagari/.venv/bin/python", sys.executable)
        .replace("/etc/tsunagari/tsunagari.env", str(ENV_FILE))
        .replace("/opt/tsunagari", str(ROOT))
    )


@pytest.fixture
def installed(tmp_path: Path) -> Path:
    """Every unit of deploy/systemd rendered into one folder (a timer is verified with its service)."""
    for name in UNITS:
        (tmp_path / name).write_text(render((SYSTEMD / name).read_text(encoding="utf-8")), encoding="utf-8")
    return tmp_path


def test_units_exist() -> None:
    assert {"tsunagari.service", "tsunagari-backup.service", "tsunagari-backup.timer"} <= set(UNITS)


@pytest.mark.parametrize("name", UNITS)
def test_systemd_analyze_verify(installed: Path, name: str) -> None:
    """`systemd-analyze verify` exits 0 and prints nothing: an unknown key or bad value is only a warning to it."""
    done = subprocess.run(
        [_systemd_analyze(), "verify", str(installed / name)],
        cwd=installed, capture_output=True, text=True, timeout=ANALYZE_TIMEOUT_S, check=False,
    )  # fmt: skip
    output = (done.stdout + done.stderr).strip()
    assert done.returncode == 0 and not output, f"systemd-analyze verify {name} (exit {done.returncode}):\n{output}"


def test_dashboard_unit_is_locked_down(installed: Path) -> None:
    """Unprivileged user, only /var/lib/tsunagari writable, and a low exposure score from systemd itself."""
    unit = (SYSTEMD / "tsunagari.service").read_text(encoding="utf-8")
    settings = dict(re.findall(r"^(\w+)=(.*)$", unit, flags=re.MULTILINE))
    assert settings["User"] not in ("", "root") and settings["ProtectSystem"] == "strict"
    assert settings["ReadWritePaths"].split() == ["/var/lib/tsunagari"]
    assert settings["NoNewPrivileges"] == "true" and settings["CapabilityBoundingSet"] == ""
    done = subprocess.run(
        [_systemd_analyze(), "security", "--offline=true", "--no-pager", str(installed / "tsunagari.service")],
        cwd=installed, capture_output=True, text=True, timeout=ANALYZE_TIMEOUT_S, check=False,
    )  # fmt: skip
    found = re.search(r"Overall exposure level for tsunagari\.service: ([\d.]+)", done.stdout)
    assert found, f"no exposure level from systemd-analyze security:\n{done.stdout[-2000:]}{done.stderr[-2000:]}"
    assert float(found.group(1)) <= MAX_EXPOSURE, done.stdout


def test_environment_file_names_real_settings() -> None:
    """Every TSUNAGARI_* key of the environment file is read somewhere in the code (no dead settings),
    and every data path it sets lies under the unit's only writable directory."""
    pairs = [
        line.split("=", 1) for line in ENV_FILE.read_text(encoding="utf-8").splitlines() if re.match(r"^\w+=", line)
    ]
    code = "\n".join(
        path.read_text(encoding="utf-8")
        for folder in ("common", "etl", "warehouse", "dashboard")
        for path in (ROOT / folder).rglob("*.py")
    )
    unknown = [key for key, _ in pairs if key.startswith("TSUNAGARI_") and key not in code]
    assert not unknown, f"{ENV_FILE.name} sets variables no module reads: {unknown}"
    data = {
        key: value
        for key, value in pairs
        if key in ("TSUNAGARI_WAREHOUSE", "TSUNAGARI_OPERATIONS", "TSUNAGARI_ARCHIVE")
    }
    assert len(data) == 3 and all(value.startswith("/var/lib/tsunagari/") for value in data.values()), data


def test_readiness(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sample_warehouse: Path) -> None:
    """Not ready without a warehouse, ready on a built one, not ready with a damaged operational store."""
    monkeypatch.setenv("TSUNAGARI_OPERATIONS", str(tmp_path / "ops" / "operations.sqlite"))
    monkeypatch.setenv("TSUNAGARI_ARCHIVE", str(tmp_path / "sources"))
    monkeypatch.setenv("TSUNAGARI_WAREHOUSE", str(tmp_path / "absent.duckdb"))
    report = health.readiness()
    assert not report["ready"] and not report["checks"]["warehouse"]["ok"]
    assert "absent.duckdb: missing" in report["checks"]["warehouse"]["detail"]

    monkeypatch.setenv("TSUNAGARI_WAREHOUSE", str(sample_warehouse))
    assert health.main([]) == 0

    store = tmp_path / "ops" / "operations.sqlite"
    store.parent.mkdir()
    store.write_bytes(b"not a database" * 100)
    report = health.readiness()
    assert not report["ready"] and not report["checks"]["operations_store"]["ok"], json.dumps(report)
