"""Local accounts with argon2 password hashes, for deployments without an identity provider (no streamlit).

`config/local_users.toml` holds argon2id hashes only, never plain text (`python -m dashboard.roles hash`
makes one). The role file and the Viewer are in common/roles.py.
"""

from __future__ import annotations

import getpass
import sys
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from common.roles import RoleConfigError, read_toml

HASHER = PasswordHasher()


def hash_password(password: str) -> str:
    """argon2id hash of a password, for config/local_users.toml."""
    return HASHER.hash(password)


def load_users(path: Path) -> dict[str, str]:
    """Local user name (lower-cased) → argon2 hash; refuses anything that is not an argon2 hash."""
    if not path.is_file():
        return {}
    accounts = read_toml(path).get("users", {})
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
