"""Who is reading: the Viewer, the roles, and the role file that maps identities to them.

`config/roles.toml` maps identities (the OIDC e-mail, or a local user name) to a role and, for city
managers, a city. The ETL worker reads it to confirm a job owner's role; the dashboard to sign people in.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ROLES = ("public", "analyst", "city_manager", "liaison", "admin")
CITY_CODES = ("14213", "14215", "14216", "14218")
ROLES_ENV, USERS_ENV = "TSUNAGARI_ROLES", "TSUNAGARI_LOCAL_USERS"


@dataclass(frozen=True)
class Viewer:
    """Who is reading: the role decides what personal data a query may return."""

    role: str = "public"
    city_code: str | None = None
    identity: str | None = None

    def __post_init__(self) -> None:
        """Refuse unknown roles instead of silently widening access."""
        if self.role not in ROLES:
            raise ValueError(f"unknown role: {self.role!r}")


PUBLIC = Viewer()


class RoleConfigError(ValueError):
    """The role or account file is malformed; the message names the file and the entry."""


def roles_path() -> Path:
    """Role mapping file: $TSUNAGARI_ROLES or config/roles.toml."""
    return Path(os.environ.get(ROLES_ENV, ROOT / "config" / "roles.toml"))


def users_path() -> Path:
    """Local accounts file: $TSUNAGARI_LOCAL_USERS or config/local_users.toml."""
    return Path(os.environ.get(USERS_ENV, ROOT / "config" / "local_users.toml"))


def read_toml(path: Path) -> dict:
    """A TOML file as a dict; unreadable or malformed files raise RoleConfigError naming the file."""
    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as error:
        raise RoleConfigError(f"{path}: not valid TOML ({error})") from None
    except UnicodeDecodeError:
        raise RoleConfigError(f"{path}: not UTF-8 text") from None
    except OSError as error:
        raise RoleConfigError(f"{path}: cannot be read ({error.strerror})") from None


def load_roles(path: Path) -> dict[str, Viewer]:
    """Identity (lower-cased) → Viewer; a missing file means nobody has a role beyond public."""
    if not path.is_file():
        return {}
    entries = read_toml(path).get("identity", [])
    if not isinstance(entries, list):
        raise RoleConfigError(f"{path}: identity must be a list of [[identity]] tables")
    mapping: dict[str, Viewer] = {}
    for number, entry in enumerate(entries, start=1):
        where = f"{path}, [[identity]] #{number}"
        if not isinstance(entry, dict):
            raise RoleConfigError(f"{where}: must be a table with id, role and (for a city_manager) city")
        raw_id = entry.get("id", "")
        if not isinstance(raw_id, str):
            raise RoleConfigError(f"{where}: id must be text (an e-mail address or a local user name)")
        identity = raw_id.strip().lower()
        role = entry.get("role")
        city = entry.get("city")
        if not identity:
            raise RoleConfigError(f"{where}: id is missing")
        if role not in ROLES:
            raise RoleConfigError(f"{where}: unknown role {role!r} (one of {', '.join(ROLES)})")
        if role == "city_manager" and city not in CITY_CODES:
            raise RoleConfigError(f"{where}: a city_manager needs city = one of {', '.join(CITY_CODES)}")
        if identity in mapping:
            raise RoleConfigError(f"{where}: {identity} is mapped twice")
        mapping[identity] = Viewer(role=role, city_code=city if role == "city_manager" else None, identity=identity)
    return mapping


def viewer_for(identity: str | None, roles: dict[str, Viewer]) -> Viewer:
    """The Viewer of a signed-in identity; unknown or absent identities are public."""
    if not identity:
        return PUBLIC
    return roles.get(identity.strip().lower(), Viewer(identity=identity.strip().lower()))


def email_unverified(claims: Mapping) -> bool:
    """True when the provider says the e-mail is not verified (email_verified false, or the text "false")."""
    verified = claims.get("email_verified", True)
    return verified is False or (isinstance(verified, str) and verified.strip().lower() == "false")


def oidc_viewer(claims: Mapping, roles: dict[str, Viewer]) -> Viewer:
    """The Viewer of an OIDC sign-in's ID token claims: the role of its e-mail in the role file.

    An e-mail the provider has not verified grants no role (anyone may type someone else's address into
    an account): the person is signed in under it, as public. A provider that sends no email_verified
    vouches for its addresses itself (directories of staff accounts usually omit the claim).
    """
    email = claims.get("email")
    if not isinstance(email, str) or not email.strip():
        return PUBLIC
    if email_unverified(claims):
        return Viewer(identity=email.strip().lower())
    return viewer_for(email, roles)
