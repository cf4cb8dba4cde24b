"""The service's SQLite database: plans, API keys and the audit log, in one file.

Each thread keeps its own connection (SQLite connections are not shared across
threads); WAL mode lets the many readers of a busy service read while a plan
job or an audit entry is written. The audit log is a hash chain kept by
:mod:`patrols.service.audit`. The database file is ``0600`` in a ``0700``
folder (SQLite makes its ``-wal`` and ``-shm`` files with the database's mode).

A re-plan is a plan of its own that names its ``parent_id`` and the ``root_id``
of its lineage (the first plan of the week it descends from), so the versions
of a week are one indexed query and outlive any of them being deleted.
Columns added since the first schema are added to an older database when it is
opened (:data:`SCHEMA_VERSION` is kept in ``PRAGMA user_version``).
"""

from __future__ import annotations

import json
import os
import secrets
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from patrols.service import audit
from patrols.service.audit import AuditEntry, AuditLog, AuditRecord, utc_now
from patrols.service.files import FILE_MODE, private_dir, private_file

SCHEMA_VERSION = 3
PLAN_STATUSES = ("queued", "running", "done", "failed")
UNFINISHED = ("queued", "running")
RESTART_ERROR = "cut off by a restart of the service before it finished"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS keys (
    key_id TEXT PRIMARY KEY,
    role TEXT NOT NULL CHECK (role IN ('admin', 'planner', 'viewer')),
    name TEXT NOT NULL DEFAULT '',
    secret_sha256 TEXT NOT NULL,
    created_at TEXT NOT NULL,
    revoked_at TEXT
);
CREATE TABLE IF NOT EXISTS plans (
    plan_id TEXT PRIMARY KEY,
    area TEXT NOT NULL,
    week TEXT NOT NULL,
    seed INTEGER NOT NULL,
    time_limit_s REAL,
    redact INTEGER NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('queued', 'running', 'done', 'failed')),
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL,
    started_at TEXT,
    finished_at TEXT,
    error TEXT,
    summary_full TEXT,
    summary_viewer TEXT,
    parent_id TEXT,
    root_id TEXT,
    replan_from TEXT
);
CREATE INDEX IF NOT EXISTS plans_by_created ON plans (created_at DESC);
-- One revoked key that no secret hashes to: what a lookup of an unknown key id
-- reads instead, so it does the same work as a lookup of a known one.
CREATE TABLE IF NOT EXISTS key_decoy (
    key_id TEXT NOT NULL, role TEXT NOT NULL, name TEXT NOT NULL, secret_sha256 TEXT NOT NULL,
    created_at TEXT NOT NULL, revoked_at TEXT NOT NULL
);
"""
# Columns of ``plans`` added after the first schema (version 3: re-plans), each
# added to an older database as it is opened; no foreign key, so a deleted
# parent leaves its re-plans as they are.
_ADDED_PLAN_COLUMNS = {"parent_id": "TEXT", "root_id": "TEXT", "replan_from": "TEXT"}
_AFTER_COLUMNS = "CREATE INDEX IF NOT EXISTS plans_by_root ON plans (root_id);"


@dataclass(frozen=True)
class KeyRecord:
    """An API key as stored: never the key itself, only the hash of its secret."""

    key_id: str
    role: str
    name: str
    secret_sha256: str
    created_at: str
    revoked_at: str | None


@dataclass(frozen=True)
class PlanRecord:
    """A plan job and, once done, the summaries of its two bundles."""

    plan_id: str
    area: str
    week: str
    seed: int
    time_limit_s: float | None
    redact: bool
    status: str
    created_by: str
    created_at: str
    started_at: str | None
    finished_at: str | None
    error: str | None
    summary_full: str | None
    """JSON text, kept as stored: readers splice it into answers without parsing it."""
    summary_viewer: str | None
    parent_id: str | None = None
    """The plan this one re-plans; ``None`` for a plan made from scratch."""
    root_id: str | None = None
    """The first plan of this one's lineage; ``None`` for a plan made from scratch (its own root)."""
    replan_from: str | None = None
    """The moment a re-plan's changes hold from (ISO 8601 with offset)."""

    @property
    def lineage(self) -> str:
        """The id of the first plan of this plan's lineage (its own for a plan made from scratch)."""
        return self.root_id or self.plan_id


@dataclass(frozen=True)
class PlanVersion:
    """One plan of a lineage, as the versions list of another shows it: no summary, no owner."""

    plan_id: str
    parent_id: str | None
    created_at: str
    status: str
    replan_from: str | None


def _plan(row: sqlite3.Row) -> PlanRecord:
    return PlanRecord(
        plan_id=row["plan_id"], area=row["area"], week=row["week"], seed=row["seed"],
        time_limit_s=row["time_limit_s"], redact=bool(row["redact"]), status=row["status"],
        created_by=row["created_by"], created_at=row["created_at"], started_at=row["started_at"],
        finished_at=row["finished_at"], error=row["error"],
        summary_full=row["summary_full"], summary_viewer=row["summary_viewer"],
        parent_id=row["parent_id"], root_id=row["root_id"], replan_from=row["replan_from"],
    )


class Store:
    """Plans, keys and the audit log in one SQLite file, made on first use.

    Parameters
    ----------
    path
        The database file; its folder is made if missing.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        private_dir(self.path.parent)
        private_file(self.path)
        for suffix in ("-wal", "-shm"):  # made by an older version, or by hand
            side = self.path.with_name(self.path.name + suffix)
            if side.exists():
                os.chmod(side, FILE_MODE)
        self._local = threading.local()
        db = self._db()
        # executescript commits on its own; each statement is idempotent.
        db.executescript(_SCHEMA)
        self._add_columns()
        db.executescript(_AFTER_COLUMNS)
        if db.execute("SELECT COUNT(*) FROM key_decoy").fetchone()[0] == 0:
            db.execute("INSERT INTO key_decoy VALUES ('', 'viewer', 'decoy', ?, ?, ?)",
                       (secrets.token_hex(32), utc_now(), utc_now()))
        moved = audit.create_schema(db)
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        self.audit_log = AuditLog(self.path)
        if moved:
            self.audit(audit.HOST, audit.HOST, "audit.chain_started", None, "ok", moved)

    def _add_columns(self) -> None:
        # A database of an older version gets the columns added since, empty; in one
        # transaction, so `patrols keys` opening it at the same moment adds none twice.
        with self._tx() as db:
            have = {row[1] for row in db.execute("PRAGMA table_info(plans)")}
            for name, kind in _ADDED_PLAN_COLUMNS.items():
                if name not in have:
                    db.execute(f"ALTER TABLE plans ADD COLUMN {name} {kind}")

    def _db(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            # NORMAL in WAL mode is durable across a crash of the process, and keeps an
            # fsync off the path of every read (the audit log has its own, synchronous one).
            db = audit.open_db(self.path, "NORMAL")
            db.execute("PRAGMA foreign_keys = ON")
            self._local.db = db
        return db

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        db = self._db()
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def ping(self) -> bool:
        """Whether the database answers a trivial query."""
        return self._db().execute("SELECT 1").fetchone()[0] == 1

    # Keys -------------------------------------------------------------------

    def add_key(self, key_id: str, role: str, name: str, secret_sha256: str) -> KeyRecord:
        """Store a new key (its hash) and return it."""
        now = utc_now()
        with self._tx() as db:
            db.execute("INSERT INTO keys (key_id, role, name, secret_sha256, created_at) VALUES (?,?,?,?,?)",
                       (key_id, role, name, secret_sha256, now))
        return KeyRecord(key_id, role, name, secret_sha256, now, None)

    def key(self, key_id: str) -> KeyRecord | None:
        """The key with this id, revoked or not, or ``None``."""
        row = self._db().execute("SELECT * FROM keys WHERE key_id = ?", (key_id,)).fetchone()
        return None if row is None else KeyRecord(**dict(row))

    def key_or_decoy(self, key_id: str) -> KeyRecord:
        """The key with this id, or a decoy that matches no secret, found and built the same way.

        An unknown id costs what a known one does (one index search, one row
        read from a table, one record built), so the time of a refusal does not
        tell whether the id exists. The decoy's ``key_id`` is empty and it is
        revoked.
        """
        row = self._db().execute(
            "SELECT key_id, role, name, secret_sha256, created_at, revoked_at FROM keys WHERE key_id = ? "
            "UNION ALL SELECT key_id, role, name, secret_sha256, created_at, revoked_at FROM key_decoy "
            "LIMIT 1", (key_id,)).fetchone()
        return KeyRecord(**dict(row))

    def list_keys(self) -> list[KeyRecord]:
        """Every key, oldest first."""
        rows = self._db().execute("SELECT * FROM keys ORDER BY created_at, key_id").fetchall()
        return [KeyRecord(**dict(r)) for r in rows]

    def revoke_key(self, key_id: str) -> bool:
        """Revoke a key; ``False`` when there is no such key or it was already revoked."""
        with self._tx() as db:
            cur = db.execute("UPDATE keys SET revoked_at = ? WHERE key_id = ? AND revoked_at IS NULL",
                             (utc_now(), key_id))
        return cur.rowcount == 1

    # Plans ------------------------------------------------------------------

    def add_plan(self, plan_id: str, area: str, week: str, seed: int, time_limit_s: float | None,
                 redact: bool, created_by: str, *, parent: PlanRecord | None = None,
                 replan_from: str | None = None) -> PlanRecord:
        """Record a new plan job as queued; a re-plan names its ``parent`` and the moment it re-plans from."""
        parent_id = None if parent is None else parent.plan_id
        root_id = None if parent is None else parent.lineage
        with self._tx() as db:
            db.execute(
                "INSERT INTO plans (plan_id, area, week, seed, time_limit_s, redact, status, created_by,"
                " created_at, parent_id, root_id, replan_from) VALUES (?,?,?,?,?,?,'queued',?,?,?,?,?)",
                (plan_id, area, week, seed, time_limit_s, int(redact), created_by, utc_now(),
                 parent_id, root_id, replan_from))
        record = self.plan(plan_id)
        assert record is not None
        return record

    def plan(self, plan_id: str) -> PlanRecord | None:
        """The plan with this id, or ``None``."""
        row = self._db().execute("SELECT * FROM plans WHERE plan_id = ?", (plan_id,)).fetchone()
        return None if row is None else _plan(row)

    def plans(self, limit: int, offset: int, status: str | None = None,
              area: str | None = None) -> tuple[list[PlanRecord], int]:
        """A page of plans, newest first, and how many match in all."""
        where, args = [], []
        if status is not None:
            where.append("status = ?")
            args.append(status)
        if area is not None:
            where.append("area = ?")
            args.append(area)
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        db = self._db()
        total = db.execute(f"SELECT COUNT(*) FROM plans {clause}", args).fetchone()[0]
        rows = db.execute(f"SELECT * FROM plans {clause} ORDER BY created_at DESC, plan_id LIMIT ? OFFSET ?",
                          [*args, limit, offset]).fetchall()
        return [_plan(r) for r in rows], total

    def versions(self, record: PlanRecord) -> list[PlanVersion]:
        """Every plan of a plan's lineage still stored, oldest first: its first plan and each re-plan of it.

        Parameters
        ----------
        record
            Any plan of the lineage.

        Returns
        -------
        list of PlanVersion
            Deleted plans are left out; the others keep their place.
        """
        root = record.lineage
        rows = self._db().execute(
            "SELECT plan_id, parent_id, created_at, status, replan_from FROM plans "
            "WHERE plan_id = ? OR root_id = ? ORDER BY created_at, plan_id", (root, root)).fetchall()
        return [PlanVersion(**dict(r)) for r in rows]

    def mark_running(self, plan_id: str) -> bool:
        """Mark a queued plan running; ``False`` if it is gone or not queued."""
        with self._tx() as db:
            cur = db.execute("UPDATE plans SET status = 'running', started_at = ? "
                             "WHERE plan_id = ? AND status = 'queued'", (utc_now(), plan_id))
        return cur.rowcount == 1

    def finish_plan(self, plan_id: str, summary_full: dict[str, Any],
                    summary_viewer: dict[str, Any]) -> bool:
        """Mark a plan done with its summaries; ``False`` if it was deleted meanwhile."""
        with self._tx() as db:
            cur = db.execute(
                "UPDATE plans SET status = 'done', finished_at = ?, summary_full = ?, summary_viewer = ? "
                "WHERE plan_id = ? AND status IN ('queued', 'running')",
                (utc_now(), json.dumps(summary_full, separators=(",", ":")),
                 json.dumps(summary_viewer, separators=(",", ":")), plan_id))
        return cur.rowcount == 1

    def fail_plan(self, plan_id: str, error: str) -> bool:
        """Mark an unfinished plan failed with a one-line reason."""
        with self._tx() as db:
            cur = db.execute("UPDATE plans SET status = 'failed', finished_at = ?, error = ? "
                             "WHERE plan_id = ? AND status IN ('queued', 'running')",
                             (utc_now(), error, plan_id))
        return cur.rowcount == 1

    def done_plan_ids(self) -> list[str]:
        """The ids of every plan that is done (whose bundles are kept)."""
        return [r[0] for r in self._db().execute("SELECT plan_id FROM plans WHERE status = 'done'")]

    def fail_unfinished(self, error: str = RESTART_ERROR) -> list[str]:
        """Mark every queued or running plan failed: what a restart does to jobs it cut off."""
        with self._tx() as db:
            ids = [r[0] for r in db.execute(
                "SELECT plan_id FROM plans WHERE status IN ('queued', 'running')").fetchall()]
            db.execute("UPDATE plans SET status = 'failed', finished_at = ?, error = ? "
                       "WHERE status IN ('queued', 'running')", (utc_now(), error))
        return ids

    def delete_plan(self, plan_id: str) -> bool:
        """Forget a plan; ``False`` if there was none."""
        with self._tx() as db:
            cur = db.execute("DELETE FROM plans WHERE plan_id = ?", (plan_id,))
        return cur.rowcount == 1

    # Audit ------------------------------------------------------------------

    def audit(self, key_id: str, role: str, action: str, plan_id: str | None, outcome: str,
              detail: str = "", client: str = "") -> AuditEntry:
        """Append one entry to the audit log (see :class:`patrols.service.audit.AuditLog`)."""
        return self.audit_log.append([AuditRecord(key_id, role, action, plan_id, outcome, detail, client)])[0]

    def audit_entries(self, limit: int, after_id: int = 0, plan_id: str | None = None,
                      key_id: str | None = None) -> list[AuditEntry]:
        """Entries after ``after_id``, oldest first, optionally for one plan or one key."""
        return self.audit_log.entries(limit, after_id, plan_id, key_id)
