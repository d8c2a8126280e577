"""A minimal OpenID Connect provider for the suite: discovery, authorize (signs the user in at once),
token (an RS256 id_token with the request's nonce) and JWKS, on a free local port in a thread."""

from __future__ import annotations

import contextlib
import json
import secrets
import threading
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from joserfc import jwt
from joserfc.jwk import RSAKey

TOKEN_LIFETIME_S = 300
KEY_ID = "e2e"


@dataclass
class FakeIdP:
    """Issuer URL, the client it accepts, the e-mail it signs in, and the redirect URIs it was asked to use."""

    issuer: str
    client_id: str
    client_secret: str
    email: str
    redirect_uris: list[str] = field(default_factory=list)


def _handler(idp: FakeIdP, key, codes: dict[str, str]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:
            """Quiet: the suite's output is for failures."""

        def _json(self, value: dict) -> None:
            body = json.dumps(value).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            url = urllib.parse.urlsplit(self.path)
            query = dict(urllib.parse.parse_qsl(url.query))
            if url.path == "/.well-known/openid-configuration":
                self._json({
                    "issuer": idp.issuer,
                    "authorization_endpoint": idp.issuer + "/authorize",
                    "token_endpoint": idp.issuer + "/token",
                    "jwks_uri": idp.issuer + "/jwks",
                    "response_types_supported": ["code"],
                    "subject_types_supported": ["public"],
                    "id_token_signing_alg_values_supported": ["RS256"],
                })  # fmt: skip
            elif url.path == "/jwks":
                self._json({"keys": [key.as_dict(private=False)]})
            elif url.path == "/authorize" and query.get("client_id") == idp.client_id:
                idp.redirect_uris.append(query["redirect_uri"])
                code = secrets.token_urlsafe(16)
                codes[code] = query.get("nonce", "")
                target = query["redirect_uri"] + "?" + urllib.parse.urlencode({"code": code, "state": query["state"]})
                self.send_response(302)
                self.send_header("Location", target)
                self.end_headers()
            else:
                self.send_error(404)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            form = dict(urllib.parse.parse_qsl(self.rfile.read(length).decode()))
            if self.path != "/token" or form.get("code") not in codes:
                self.send_error(400)
                return
            now = int(time.time())
            claims = {
                "iss": idp.issuer, "sub": "e2e-oidc-user", "aud": idp.client_id, "iat": now,
                "exp": now + TOKEN_LIFETIME_S, "nonce": codes.pop(form["code"]), "email": idp.email,
                "email_verified": True, "name": "E2E OIDC",
            }  # fmt: skip
            id_token = jwt.encode({"alg": "RS256", "kid": KEY_ID}, claims, key)
            self._json({"access_token": secrets.token_urlsafe(16), "token_type": "Bearer",
                        "expires_in": TOKEN_LIFETIME_S, "id_token": id_token})  # fmt: skip

    return Handler


@contextlib.contextmanager
def fake_idp(email: str) -> Iterator[FakeIdP]:
    """The provider on 127.0.0.1:<free port>, stopped on exit."""
    key = RSAKey.generate_key(2048, parameters={"kid": KEY_ID})
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    idp = FakeIdP(f"http://127.0.0.1:{server.server_address[1]}", "tsunagari-e2e", secrets.token_hex(16), email)
    server.RequestHandlerClass = _handler(idp, key, {})
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield idp
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
