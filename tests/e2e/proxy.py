"""nginx as the suite's reverse proxy: deploy/nginx/tsunagari.conf rendered for free local ports and a
self-signed certificate, run as a child process with a private prefix (no system service, no root paths)."""

from __future__ import annotations

import contextlib
import getpass
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .server import ROOT, _stop, free_port, tail

SITE_FILE = ROOT / "deploy" / "nginx" / "tsunagari.conf"
NGINX = Path("/usr/sbin/nginx")
OPENSSL = "openssl"
START_TIMEOUT_S = 15
CERT_TIMEOUT_S = 60

# What the test swaps in the site file: each of these lines must be there exactly once.
LISTEN_HTTPS = "listen 443 ssl http2;"
LISTEN_HTTP = "listen 80;"
UPSTREAM = "server 127.0.0.1:8501;"
CERTIFICATE = "ssl_certificate     /etc/ssl/certs/tsunagari.crt;"
CERTIFICATE_KEY = "ssl_certificate_key /etc/ssl/private/tsunagari.key;"


@dataclass(frozen=True)
class Proxy:
    """A running nginx: its HTTPS origin (https://localhost:PORT), HTTP origin and log files."""

    https: str
    http: str
    access_log: Path
    error_log: Path


def self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    """A one-day RSA certificate for localhost/127.0.0.1 made by openssl; (certificate, key)."""
    cert, key = folder / "tls.crt", folder / "tls.key"
    subprocess.run(
        [
            OPENSSL, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-keyout", str(key), "-out", str(cert), "-subj", "/CN=localhost",
            "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
        ],
        check=True, capture_output=True, timeout=CERT_TIMEOUT_S,
    )  # fmt: skip
    return cert, key


def render_site(site: str, *, https_port: int, http_port: int, upstream_port: int, cert: Path, key: Path) -> str:
    """The site file with local ports and the test certificate; ValueError when an expected line is gone."""
    swaps = {
        LISTEN_HTTPS: f"listen 127.0.0.1:{https_port} ssl http2;",
        LISTEN_HTTP: f"listen 127.0.0.1:{http_port};",
        UPSTREAM: f"server 127.0.0.1:{upstream_port};",
        CERTIFICATE: f"ssl_certificate     {cert};",
        CERTIFICATE_KEY: f"ssl_certificate_key {key};",
    }
    for line, replacement in swaps.items():
        if site.count(line) != 1:
            raise ValueError(f"{SITE_FILE}: expected the line {line!r} exactly once, found {site.count(line)}")
        site = site.replace(line, replacement)
    return site


def main_config(prefix: Path, site: Path) -> str:
    """A minimal nginx.conf whose every path lies under `prefix`, including the rendered site file."""
    temp = {name: prefix / name for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")}
    for folder in temp.values():
        folder.mkdir(exist_ok=True)
    return (
        "worker_processes 1;\n"
        "daemon off;\n"
        f"pid {prefix / 'nginx.pid'};\n"
        f"error_log {prefix / 'error.log'} info;\n"
        # Workers run as the test's user (ignored with a notice when nginx is not started by root).
        f"user {getpass.getuser()};\n"
        "events { worker_connections 256; }\n"
        "http {\n"
        f"  access_log {prefix / 'access.log'};\n"
        f"  client_body_temp_path {temp['client_body']};\n"
        f"  proxy_temp_path {temp['proxy']};\n"
        f"  fastcgi_temp_path {temp['fastcgi']};\n"
        f"  uwsgi_temp_path {temp['uwsgi']};\n"
        f"  scgi_temp_path {temp['scgi']};\n"
        f"  include {site};\n"
        "}\n"
    )


@contextlib.contextmanager
def nginx_proxy(upstream_port: int, prefix: Path, https_port: int | None = None) -> Iterator[Proxy]:
    """nginx serving SITE_FILE in front of 127.0.0.1:`upstream_port` on free local ports (HTTPS on `https_port`
    when the caller needs to know it first, e.g. for an OIDC redirect URI); stopped on exit."""
    if not NGINX.exists() or shutil.which(OPENSSL) is None:
        raise RuntimeError(f"{NGINX} or openssl not found: run ./tools/system-deps.sh browser")
    prefix.mkdir(parents=True, exist_ok=True)
    cert, key = self_signed_certificate(prefix)
    https_port, http_port = https_port or free_port(), free_port()
    site = prefix / "tsunagari.conf"
    site.write_text(
        render_site(
            SITE_FILE.read_text(encoding="utf-8"),
            https_port=https_port, http_port=http_port, upstream_port=upstream_port, cert=cert, key=key,
        ),
        encoding="utf-8",
    )  # fmt: skip
    config = prefix / "nginx.conf"
    config.write_text(main_config(prefix, site), encoding="utf-8")
    error_log = prefix / "error.log"
    # -e: the error log before the configuration is read; otherwise nginx opens /var/log/nginx/error.log.
    command = [str(NGINX), "-p", str(prefix), "-c", str(config), "-e", str(error_log)]
    checked = subprocess.run([*command, "-t"], capture_output=True, text=True, timeout=START_TIMEOUT_S)
    if checked.returncode != 0:
        raise RuntimeError(f"nginx -t refused the rendered site file:\n{checked.stderr}")
    with (prefix / "nginx.out").open("wb") as out:
        process = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
        )
        try:
            _wait_listening(process, https_port, error_log)
            yield Proxy(
                https=f"https://localhost:{https_port}",
                http=f"http://localhost:{http_port}",
                access_log=prefix / "access.log",
                error_log=error_log,
            )
        finally:
            _stop(process)


def _wait_listening(process: subprocess.Popen, port: int, error_log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"nginx exited with {process.returncode}:\n{tail(error_log)}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return
        time.sleep(0.1)
    raise RuntimeError(f"nginx not listening on {port} after {START_TIMEOUT_S} s:\n{tail(error_log)}")
