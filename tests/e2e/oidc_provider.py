"""A real OpenID Connect provider for the suite: django-oauth-toolkit (OIDC enabled) on 127.0.0.1.

Run as `python -m tests.e2e.oidc_provider CONFIG.json`. The JSON names the port, a folder for its SQLite
database, the client (id, secret, redirect URIs) and the users (name, password, e-mail, whether the e-mail
is verified). At start a fresh RS256 key is generated, the database migrated, the client and users created;
then the provider serves discovery, authorize (behind Django's own sign-in form), token, JWKS, userinfo and
RP-initiated logout until it is stopped. Consent is skipped for the registered client (skip_authorization),
as an organisation's provider does for its own applications; PKCE (S256) is required, as by default.
"""

from __future__ import annotations

import contextlib
import json
import re
import secrets
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from playwright.sync_api import Page

START_TIMEOUT_S = 60

LOGIN_TEMPLATE = """<!doctype html><html lang="en"><head><title>Test provider sign-in</title></head><body>
<h1>Test provider sign-in</h1>
<form method="post">{% csrf_token %}{{ form.as_p }}
<input type="hidden" name="next" value="{{ next }}"><button type="submit">Sign in to the provider</button></form>
</body></html>"""


def _private_key_pem() -> str:
    """A new 2048-bit RSA key (PEM) for signing ID tokens: nothing is reused between runs."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode("ascii")


def _configure(config: dict) -> None:
    """Django settings of the provider: SQLite in the given folder, OIDC on, the login form from memory."""
    import django
    from django.conf import settings

    unverified = frozenset(user["email"] for user in config["users"] if not user.get("email_verified", True))
    settings.configure(
        DEBUG=False,
        SECRET_KEY=secrets.token_urlsafe(32),
        ALLOWED_HOSTS=["127.0.0.1", "localhost"],
        ROOT_URLCONF=__name__,
        INSTALLED_APPS=[
            "django.contrib.auth",
            "django.contrib.contenttypes",
            "django.contrib.sessions",
            "oauth2_provider",
        ],
        MIDDLEWARE=[
            "django.contrib.sessions.middleware.SessionMiddleware",
            "django.middleware.csrf.CsrfViewMiddleware",
            "django.contrib.auth.middleware.AuthenticationMiddleware",
        ],
        DATABASES={
            "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(Path(config["folder"]) / "provider.db")}
        },
        TEMPLATES=[
            {
                "BACKEND": "django.template.backends.django.DjangoTemplates",
                "OPTIONS": {
                    "context_processors": ["django.template.context_processors.request"],
                    "loaders": [
                        ("django.template.loaders.locmem.Loader", {"registration/login.html": LOGIN_TEMPLATE}),
                        "django.template.loaders.app_directories.Loader",
                    ],
                },
            }
        ],
        LOGIN_URL="/accounts/login/",
        USE_TZ=True,
        DEFAULT_AUTO_FIELD="django.db.models.AutoField",
        TEST_PROVIDER_UNVERIFIED_EMAILS=unverified,
        OAUTH2_PROVIDER={
            "OIDC_ENABLED": True,
            "OIDC_RSA_PRIVATE_KEY": _private_key_pem(),
            "OIDC_RP_INITIATED_LOGOUT_ENABLED": True,
            # The app sends the ID token as id_token_hint: no "log out of the provider too?" page.
            "OIDC_RP_INITIATED_LOGOUT_ALWAYS_PROMPT": False,
            "SCOPES": {"openid": "OpenID Connect", "email": "e-mail address", "profile": "name"},
            # Defined once Django is set up (main); imported by DOT on the first request.
            "OAUTH2_VALIDATOR_CLASS": f"{__name__}.Validator",
            # The app under test is served over plain HTTP on 127.0.0.1.
            "ALLOWED_SCHEMES": ["http", "https"],
        },
    )
    django.setup()


def _validator_class() -> type:
    """DOT's validator with the standard e-mail claims (email, email_verified) and name in the ID token."""
    from django.conf import settings
    from oauth2_provider.oauth2_validators import OAuth2Validator

    class Validator(OAuth2Validator):
        def get_additional_claims(self, request):
            user = request.user
            return {
                "email": user.email,
                "email_verified": user.email not in settings.TEST_PROVIDER_UNVERIFIED_EMAILS,
                "name": user.get_full_name() or user.username,
            }

    return Validator


def _urls() -> list:
    from django.contrib.auth.views import LoginView
    from django.urls import include, path

    return [
        path("accounts/login/", LoginView.as_view(), name="login"),
        path("o/", include("oauth2_provider.urls", namespace="oauth2_provider")),
    ]


def _prepare(config: dict) -> None:
    """Create the tables, the client and the users."""
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from oauth2_provider.models import get_application_model

    call_command("migrate", verbosity=0, interactive=False)
    client = config["client"]
    Application = get_application_model()
    Application.objects.create(
        name="Tsunagari",
        client_id=client["client_id"],
        client_secret=client["client_secret"],
        client_type=Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
        redirect_uris=" ".join(client["redirect_uris"]),
        post_logout_redirect_uris=" ".join(client["redirect_uris"]),
        algorithm=Application.RS256_ALGORITHM,
        skip_authorization=True,
    )
    User = get_user_model()
    for user in config["users"]:
        User.objects.create_user(user["username"], email=user["email"], password=user["password"])


def main(config_path: str) -> None:
    """Configure, prepare and serve until killed."""
    from django.core.handlers.wsgi import WSGIHandler
    from django.core.servers.basehttp import run

    config = json.loads(Path(config_path).read_text(encoding="utf-8"))
    _configure(config)
    global urlpatterns, Validator
    urlpatterns = _urls()
    Validator = _validator_class()
    _prepare(config)
    print("provider ready", flush=True)
    run("127.0.0.1", int(config["port"]), WSGIHandler(), threading=True)


urlpatterns: list = []
Validator: type | None = None


@dataclass(frozen=True)
class Provider:
    """A running provider: its origin and issuer, the discovery URL to give the app, and the client it knows."""

    origin: str
    issuer: str
    metadata_url: str
    client_id: str
    client_secret: str


@contextlib.contextmanager
def running_provider(folder: Path, *, redirect_uris: list[str], users: list[dict]) -> Iterator[Provider]:
    """The provider on a free 127.0.0.1 port in a process group of its own; stopped on exit.

    users: dicts with username, password, email and optionally email_verified (default true).
    """
    from .server import ROOT, _stop, free_port, tail

    port = free_port()
    client = {"client_id": "tsunagari-e2e", "client_secret": secrets.token_urlsafe(24), "redirect_uris": redirect_uris}
    config = folder / "provider.json"
    config.write_text(json.dumps({"port": port, "folder": str(folder), "client": client, "users": users}), "utf-8")
    log_path = folder / "provider.log"
    origin = f"http://127.0.0.1:{port}"
    issuer = origin + "/o"
    provider = Provider(
        origin, issuer, issuer + "/.well-known/openid-configuration", client["client_id"], client["client_secret"]
    )
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.e2e.oidc_provider", str(config)],
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + START_TIMEOUT_S
            while True:
                if process.poll() is not None:
                    raise RuntimeError(f"OIDC provider exited with {process.returncode}:\n{tail(log_path)}")
                try:
                    with urllib.request.urlopen(provider.metadata_url, timeout=2) as response:
                        if json.load(response).get("issuer") == issuer:
                            break
                except (urllib.error.URLError, ConnectionError, TimeoutError, ValueError):
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"OIDC provider not serving after {START_TIMEOUT_S} s:\n{tail(log_path)}")
                time.sleep(0.2)
            yield provider
        finally:
            _stop(process)


if __name__ == "__main__":
    main(sys.argv[1])


def sign_in_at_provider(page: Page, provider: Provider, user: dict) -> None:
    """Wait for the provider's own sign-in form, fill in the user's name and password and send it."""
    page.wait_for_url(re.compile(re.escape(provider.origin) + "/accounts/login/"))
    page.get_by_label("Username").fill(user["username"])
    page.get_by_label("Password").fill(user["password"])
    page.get_by_role("button", name="Sign in to the provider").click()
