"""API keys and the roles they carry.

A key reads ``pk_<key id>.<secret>``. The key id is public: it names the key in
lists and in the audit log. The secret is 32 random bytes; only its SHA-256 is
stored, and a presented secret is compared with ``hmac.compare_digest`` so the
time taken does not tell how much of it was right. An unknown key id is looked
up, hashed and compared exactly as a known one is (against a decoy), so the
time taken does not tell whether the id exists either. A key is shown once,
when it is made.

Keys that can read protected sites (planner) or make keys (admin) are made only
by ``patrols keys create`` on the server host; over the API an admin makes
viewer keys only (:data:`API_ROLES`). A key's name is one printable line
(:func:`check_name`), so ``patrols keys list`` shows one line per key.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from patrols.errors import InputError
from patrols.service.store import KeyRecord, Store

ROLES = ("admin", "planner", "viewer")
API_ROLES = ("viewer",)
"""The roles whose keys an admin may make over the API: none that reads protected sites."""
NAME_MAX = 80
# One printable line: no control character (C0, DEL, C1: newline, tab, escape),
# no line or paragraph separator, no bidirectional or zero-width format
# character that could make one name look like another or like a second line,
# and no lone surrogate. Written so Python and JSON Schema (ECMA) read it alike.
NAME_PATTERN = (r"^[^\x00-\x1f\x7f-\x9f\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e"
                r"\u2060-\u206f\ufeff\ufff9-\ufffb\ud800-\udfff]{0,80}$")
_NAME = re.compile(NAME_PATTERN)
_KEY_ID = re.compile(r"^[0-9a-f]{12}$")

# What each role may do. Admins run the service (keys, areas, the audit log)
# and may erase plans, but read plans only as a viewer does: running the
# service needs no protected addresses. Only planners upload tracks (officers'
# positions, measured against the full plan).
PERMISSIONS: dict[str, frozenset[str]] = {
    "admin": frozenset({"keys", "areas", "audit", "plans.read_redacted", "plans.delete"}),
    "planner": frozenset({"areas", "plans.create", "plans.read_full", "plans.delete",
                          "plans.tracks"}),
    "viewer": frozenset({"areas", "plans.read_redacted"}),
}

_PREFIX = "pk_"


@dataclass(frozen=True)
class Caller:
    """Who is making a request: a key's id and role."""

    key_id: str
    role: str

    def may(self, permission: str) -> bool:
        """Whether the caller's role grants ``permission``."""
        return permission in PERMISSIONS[self.role]

    @property
    def sees_full_plans(self) -> bool:
        """Whether plans are served to this caller unredacted."""
        return self.may("plans.read_full")


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def name_problem(name: object) -> str | None:
    """What is wrong with a key name, in words, or ``None`` if it is one printable line of at most 80."""
    if not isinstance(name, str):
        return "must be text"
    if len(name) > NAME_MAX:
        return f"must be at most {NAME_MAX} characters"
    if not _NAME.fullmatch(name):
        return "must be one printable line (no newline, tab, control or invisible formatting character)"
    return None


def check_name(name: str) -> str:
    """A key name, checked: one printable line of at most 80 characters.

    Raises
    ------
    InputError
        Naming the field ``name``.
    """
    problem = name_problem(name)
    if problem is not None:
        raise InputError("key", problem, field="name")
    return name


def claimed_key_id(presented: str) -> str | None:
    """The key id a presented key claims, if it is well formed (12 hex digits), whether or not it exists."""
    if not presented.startswith(_PREFIX):
        return None
    key_id = presented[len(_PREFIX):].partition(".")[0]
    return key_id if _KEY_ID.match(key_id) else None


def create_key(store: Store, role: str, name: str = "") -> tuple[str, KeyRecord]:
    """Make a key for a role.

    Parameters
    ----------
    store
        Where the key's hash is kept.
    role
        One of :data:`ROLES`.
    name
        Who or what the key is for, to tell keys apart in lists.

    Returns
    -------
    tuple of str and KeyRecord
        The key itself (shown once, never stored) and its stored record.
    """
    if role not in ROLES:
        raise InputError("key", f"must be one of {', '.join(ROLES)}, not {role!r}", field="role")
    check_name(name)
    key_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    record = store.add_key(key_id, role, name, _hash(secret))
    return f"{_PREFIX}{key_id}.{secret}", record


def authenticate(store: Store, presented: str) -> Caller | None:
    """The caller a presented key belongs to, or ``None`` if it is unknown, malformed or revoked.

    Parameters
    ----------
    store
        The key store.
    presented
        The key as sent by the client.

    Returns
    -------
    Caller or None
    """
    if not presented.startswith(_PREFIX) or "." not in presented or len(presented) > 200:
        return None
    key_id, _, secret = presented[len(_PREFIX):].partition(".")
    # The same steps whether or not the id exists: one lookup (a decoy when it
    # does not), one hash, one comparison, and the verdict only at the end.
    record = store.key_or_decoy(key_id)
    matches = hmac.compare_digest(_hash(secret), record.secret_sha256)
    accepted = matches & (record.key_id == key_id) & (record.revoked_at is None)
    return Caller(record.key_id, record.role) if accepted else None
