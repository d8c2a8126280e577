"""Who may see what: the role mapping file and local accounts with argon2 password hashes (no streamlit).

`config/roles.toml` maps identities (the OIDC e-mail, or a local user name) to a role and, for city
managers, a city. `config/local_users.toml` holds local accounts for deployments without an identity
provider: argon2id hashes only, never plain text (`python -m dashboard.roles hash` makes one).
"""

from __future__ import annotations

import getpass
import os
import sys
import tomllib
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from warehouse.query import PUBLIC, ROLES, Viewer

ROOT = Path(__file__).resolve().parent.parent
CITY_CODES = ("14213", "14215", "14216", "14218")
HASHER = PasswordHasher()


class RoleConfigError(ValueError):
    """The role or account file is malformed; the message names the file and the entry."""


def roles_path() -> Path:
    """Role mapping file: $TSUNAGARI_ROLES or config/roles.toml."""
    return Path(os.environ.get("TSUNAGARI_ROLES", ROOT / "config" / "roles.toml"))


def users_path() -> Path:
    """Local accounts file: $TSUNAGARI_LOCAL_USERS or config/local_users.toml."""
    return Path(os.environ.get("TSUNAGARI_LOCAL_USERS", ROOT / "config" / "local_users.toml"))


def _read_toml(path: Path) -> dict:
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
    entries = _read_toml(path).get("identity", [])
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


def hash_password(password: str) -> str:
    """argon2id hash of a password, for config/local_users.toml."""
    return HASHER.hash(password)


def load_users(path: Path) -> dict[str, str]:
    """Local user name (lower-cased) → argon2 hash; refuses anything that is not an argon2 hash."""
    if not path.is_file():
        return {}
    accounts = _read_toml(path).get("users", {})
    if not isinstance(accounts, dict):
        raise RoleConfigError(f"{path}: users must be a table of [users.<name>] entries")
    users = {}
    for name, entry in accounts.items():
        if not isinstance(entry, dict):
            raise RoleConfigError(f"{path}, users.{name}: must be a table with password_hash")
        digest = entry.get("password_hash", "")
        if not isinstance(digest, str) or not digest.startswith("$argon2"):
            raise RoleConfigError(f"{path}, users.{name}: password_hash must be an argon2 hash, never plain text")
        users[name.strip().lower()] = digest
    return users


def authenticate(users: dict[str, str], name: str, password: str) -> str | None:
    """The user name if the password matches its hash, else None (unknown users cost a hash too)."""
    key = name.strip().lower()
    digest = users.get(key)
    try:
        if digest is None:
            # Same work for unknown names, so timing does not reveal which accounts exist.
            HASHER.verify(DUMMY_HASH, password)
            return None
        HASHER.verify(digest, password)
    except (VerificationError, InvalidHashError):
        return None
    return key


DUMMY_HASH = HASHER.hash("no such user")


def main(argv: list[str] | None = None) -> int:
    """`python -m dashboard.roles hash`: read a password twice and print its argon2 hash."""
    args = sys.argv[1:] if argv is None else argv
    if args != ["hash"]:
        print("usage: python -m dashboard.roles hash", file=sys.stderr)
        return 2
    first = getpass.getpass("password: ")
    if first != getpass.getpass("again: "):
        print("passwords differ", file=sys.stderr)
        return 1
    print(hash_password(first))
    return 0


if __name__ == "__main__":
    sys.exit(main())
