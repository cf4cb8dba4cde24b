"""API keys and the roles they carry.

A key reads ``pk_<key id>.<secret>``. The key id is public: it names the key in
lists and in the audit log. The secret is 32 random bytes; only its SHA-256 is
stored, and a presented secret is compared with ``hmac.compare_digest`` so the
time taken does not tell how much of it was right. A key is shown once, when
it is made.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from patrols.service.store import KeyRecord, Store

ROLES = ("admin", "planner", "viewer")

# What each role may do. Admins run the service (keys, areas, the audit log)
# and may erase plans, but read plans only as a viewer does: running the
# service needs no protected addresses.
PERMISSIONS: dict[str, frozenset[str]] = {
    "admin": frozenset({"keys", "areas", "audit", "plans.read_redacted", "plans.delete"}),
    "planner": frozenset({"areas", "plans.create", "plans.read_full", "plans.delete"}),
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
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


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
        raise ValueError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
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
    record = store.key(key_id)
    # Hash even when the id is unknown, so a miss takes as long as a wrong secret.
    digest = _hash(secret)
    if record is None or record.revoked_at is not None:
        return None
    if not hmac.compare_digest(digest, record.secret_sha256):
        return None
    return Caller(record.key_id, record.role)
