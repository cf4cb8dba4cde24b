"""The audit log: an append-only hash chain of every request and every change made on the host.

Each entry carries the SHA-256 of the entry before it (``prev_hash``) and its
own (``entry_hash``): the hash of a canonical serialisation (JSON, ASCII) of
every column, the previous hash included. Changing, replacing, inserting or
deleting an entry breaks the chain there, and :func:`verify` names the first
broken entry. Three more anchors guard the newest end, which a chain alone
cannot: the last entry's id and hash are also written to ``audit-head.json``
beside the database (atomically, after each commit), SQLite's own counter of
the highest id ever given (``sqlite_sequence``) must match the last entry, and
ids run 1, 2, 3, ... without a gap.

Triggers refuse ``UPDATE`` and ``DELETE``, and an ``INSERT`` (or ``REPLACE``)
that is not the next link of the chain, so the service and a careless hand at
the ``sqlite3`` prompt cannot change what was recorded; whoever drops the
triggers to do it anyway is caught by :func:`verify` (which also checks that the
triggers are there, unchanged).

Entries are committed with ``PRAGMA synchronous = FULL`` (on disk before the
answer they record is sent); the rest of the database keeps the faster
``NORMAL``. Each entry's time is taken inside its writing transaction and is
never earlier than the entry before it.

The chain shows tampering by anyone who does not also recompute every later
hash and the head file: someone with write access to the data folder can still
rewrite the whole log. Keep the head hash that ``patrols audit verify`` prints
somewhere else (a ticket, the system log) to catch that too.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from patrols.errors import PatrolsError
from patrols.service.files import FILE_MODE, private_file

try:
    import fcntl
except ImportError:  # not on Windows; the service is run on Linux
    fcntl = None  # type: ignore[assignment]

GENESIS = "0" * 64
HEAD_FILE = "audit-head.json"
LOCK_FILE = "audit.lock"
NO_KEY = "-"
"""``key_id`` and ``role`` of a request that sent no key, or none that was accepted and well formed."""
HOST = "host"
"""``key_id`` and ``role`` of what was done on the server host: ``patrols keys``, the service itself."""
ACCEPT_ACTION = "audit.accept_broken"
"""The action of the entry that records a break the service was told to start on anyway."""

HASHED = ("entry_id", "at", "key_id", "role", "action", "plan_id", "outcome", "detail", "client",
          "prev_hash")
_TAG = "patrols-audit-v1"

_TABLE = """
CREATE TABLE IF NOT EXISTS audit (
    entry_id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    key_id TEXT NOT NULL,
    role TEXT NOT NULL,
    action TEXT NOT NULL,
    plan_id TEXT,
    outcome TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT '',
    client TEXT NOT NULL DEFAULT '',
    prev_hash TEXT NOT NULL,
    entry_hash TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_by_plan ON audit (plan_id);
CREATE INDEX IF NOT EXISTS audit_by_key ON audit (key_id);
"""
TRIGGERS = {
    "audit_no_update": "CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit "
                       "BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END",
    "audit_no_delete": "CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit "
                       "BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END",
    # REPLACE INTO over an entry, a backdated entry, an entry out of the chain: all refused.
    "audit_append_only": "CREATE TRIGGER audit_append_only BEFORE INSERT ON audit "
                         "WHEN NEW.entry_id IS NOT (SELECT IFNULL(MAX(entry_id), 0) + 1 FROM audit) "
                         "OR NEW.prev_hash IS NOT IFNULL((SELECT entry_hash FROM audit "
                         f"ORDER BY entry_id DESC LIMIT 1), '{GENESIS}') "
                         "OR NEW.at < IFNULL((SELECT at FROM audit ORDER BY entry_id DESC LIMIT 1), '') "
                         "BEGIN SELECT RAISE(ABORT, 'audit entries are only appended, each the next link "
                         "of the chain'); END",
}
"""The audit table's triggers, by name, as SQLite keeps them; :func:`verify` checks them."""


def utc_now() -> str:
    """The time now in UTC, ISO 8601 to the millisecond with a ``Z``."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class BrokenAuditLog(PatrolsError):
    """The audit log's chain is broken: an entry was changed, inserted or removed."""



def open_db(path: str | Path, synchronous: str) -> sqlite3.Connection:
    """A connection to the service's database as the store and the audit log use it.

    Autocommit (each statement commits unless wrapped in ``BEGIN``), WAL mode (readers
    go on while a writer writes), rows by name, and the given ``synchronous`` level.
    """
    db = sqlite3.connect(path, timeout=10.0, isolation_level=None)
    db.row_factory = sqlite3.Row
    db.execute("PRAGMA journal_mode = WAL")
    db.execute(f"PRAGMA synchronous = {synchronous}")
    return db

@dataclass(frozen=True)
class AuditRecord:
    """What one audit entry says, before it is given its id, time and place in the chain."""

    key_id: str
    role: str
    action: str
    plan_id: str | None
    outcome: str
    detail: str = ""
    client: str = ""


@dataclass(frozen=True)
class AuditEntry:
    """One entry of the audit log: who did what to which plan, when, from where, and how it went."""

    entry_id: int
    at: str
    key_id: str
    role: str
    action: str
    plan_id: str | None
    outcome: str
    detail: str
    client: str
    prev_hash: str
    entry_hash: str


def entry_hash(entry: Mapping[str, Any]) -> str:
    """The SHA-256 (hex) of an entry's content: every column but ``entry_hash``, the previous hash included.

    Parameters
    ----------
    entry
        The entry's columns by name (a database row or a dict).

    Returns
    -------
    str
    """
    content = [_TAG, *(entry[name] for name in HASHED)]
    text = json.dumps(content, ensure_ascii=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("ascii")).hexdigest()


def one_line(text: str, limit: int = 500) -> str:
    """Text as one printable line of at most ``limit`` characters (controls shown as ``\\uXXXX``)."""
    out = "".join(c if c.isprintable() else f"\\u{ord(c):04x}" for c in text)
    return out if len(out) <= limit else out[: limit - 1] + "…"


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_head(path: Path, entry_id: int, hash_: str) -> None:
    """Write the head file (the last entry's id and hash) atomically and durably."""
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)
        os.write(fd, json.dumps({"entry_id": entry_id, "entry_hash": hash_}).encode("ascii"))
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def read_head(path: Path) -> tuple[int, str] | None:
    """The head file's entry id and hash; ``None`` when there is no head file.

    Raises
    ------
    ValueError
        When the file is not a head file.
    """
    try:
        doc = json.loads(path.read_text(encoding="ascii"))
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(str(exc)) from None
    entry_id, hash_ = doc.get("entry_id") if isinstance(doc, dict) else None, doc.get("entry_hash")
    if not isinstance(entry_id, int) or not isinstance(hash_, str):
        raise ValueError("not an audit head")
    return entry_id, hash_


@contextmanager
def _locked(path: Path, exclusive: bool) -> Iterator[None]:
    # Writers (the service's threads, `patrols keys` on the host) commit and then
    # write the head file under this lock, so the head file is never behind a
    # finished append; a verifier reads the head and starts its snapshot under it.
    if fcntl is None:
        yield
        return
    if exclusive:
        fd = os.open(private_file(path), os.O_RDWR)
    else:
        try:  # a reader makes nothing: there is nothing to wait for if no writer ever made the lock
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            yield
            return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)  # releases the lock


def create_schema(db: sqlite3.Connection) -> str | None:
    """Make the audit table and its triggers; set aside an unchained table of an older schema.

    Parameters
    ----------
    db
        A connection in autocommit mode.

    Returns
    -------
    str or None
        What was set aside, to be recorded, or ``None``.
    """
    columns = {row[1] for row in db.execute("PRAGMA table_info(audit)")}
    moved = None
    if columns and "entry_hash" not in columns:
        # The first schema kept no chain. Its entries are kept as they were, in a
        # table of their own, rather than chained now as if they had been all along.
        count = db.execute("SELECT COUNT(*) FROM audit").fetchone()[0]
        db.execute("BEGIN IMMEDIATE")
        try:
            for name in ("audit_no_update", "audit_no_delete"):
                db.execute(f"DROP TRIGGER IF EXISTS {name}")
            db.execute("DROP INDEX IF EXISTS audit_by_plan")
            db.execute("ALTER TABLE audit RENAME TO audit_unchained")
            for kind in ("UPDATE", "DELETE"):
                db.execute(f"CREATE TRIGGER audit_unchained_no_{kind.lower()} BEFORE {kind} ON "
                           "audit_unchained BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END")
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        moved = f"{count} entries from before the hash chain kept unchained in table audit_unchained"
    db.executescript(_TABLE)
    for sql in TRIGGERS.values():
        db.execute(sql.replace("CREATE TRIGGER", "CREATE TRIGGER IF NOT EXISTS", 1))
    return moved


class AuditLog:
    """Appends to and reads the audit log of a database made by :class:`patrols.service.store.Store`.

    Parameters
    ----------
    db_path
        The database file; the head file and the lock file are beside it.
    """

    def __init__(self, db_path: str | Path) -> None:
        self.db_path = Path(db_path)
        self.head_path = self.db_path.with_name(HEAD_FILE)
        self.lock_path = self.db_path.with_name(LOCK_FILE)
        self._local = threading.local()

    def _db(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            # The audit entry of a request is on disk before the request is answered.
            db = self._local.db = open_db(self.db_path, "FULL")
        return db

    def append(self, records: Sequence[AuditRecord]) -> list[AuditEntry]:
        """Append entries, each the next link of the chain, in one durable transaction.

        Parameters
        ----------
        records
            What to record, in order.

        Returns
        -------
        list of AuditEntry
            The entries as written.
        """
        if not records:
            return []
        written: list[AuditEntry] = []
        with _locked(self.lock_path, exclusive=True):
            db = self._db()
            db.execute("BEGIN IMMEDIATE")
            try:
                last = db.execute("SELECT entry_id, at, entry_hash FROM audit "
                                  "ORDER BY entry_id DESC LIMIT 1").fetchone()
                entry_id, last_at, prev = (last[0], last[1], last[2]) if last else (0, "", GENESIS)
                # Taken inside the transaction, so no later entry can be earlier.
                at = max(utc_now(), last_at)
                for record in records:
                    entry_id += 1
                    content = {"entry_id": entry_id, "at": at, **asdict(record),
                               "detail": one_line(record.detail), "client": one_line(record.client, 100),
                               "prev_hash": prev}
                    content["entry_hash"] = prev = entry_hash(content)
                    db.execute(f"INSERT INTO audit ({', '.join(content)}) VALUES "
                               f"({', '.join('?' * len(content))})", list(content.values()))
                    written.append(AuditEntry(**content))
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            write_head(self.head_path, entry_id, prev)
        return written

    def entries(self, limit: int, after_id: int = 0, plan_id: str | None = None,
                key_id: str | None = None) -> list[AuditEntry]:
        """Entries after ``after_id``, oldest first, optionally for one plan or one key."""
        where, args = ["entry_id > ?"], [after_id]
        if plan_id is not None:
            where.append("plan_id = ?")
            args.append(plan_id)
        if key_id is not None:
            where.append("key_id = ?")
            args.append(key_id)
        rows = self._db().execute(
            f"SELECT * FROM audit WHERE {' AND '.join(where)} ORDER BY entry_id LIMIT ?",
            [*args, limit]).fetchall()
        return [AuditEntry(**dict(r)) for r in rows]


# Verification -------------------------------------------------------------------


@dataclass(frozen=True)
class Break:
    """One place where the chain does not hold: the entry (if one is to blame) and what is wrong."""

    entry_id: int | None
    what: str

    def __str__(self) -> str:
        return f"audit entry {self.entry_id}: {self.what}" if self.entry_id is not None else self.what


@dataclass(frozen=True)
class ChainReport:
    """The outcome of :func:`verify`.

    ``breaks`` are in order, the first broken entry first; ``acknowledged`` are
    the lines of breaks a start with ``--accept-broken-audit`` recorded.
    """

    entries: int
    head: str
    breaks: tuple[Break, ...] = ()
    acknowledged: frozenset[str] = field(default_factory=frozenset)
    chained: bool = True
    """``False`` for an audit table of the first schema, which the service chains on its next start."""

    @property
    def intact(self) -> bool:
        """Whether the log holds as written."""
        return not self.breaks

    @property
    def unacknowledged(self) -> list[Break]:
        """The breaks no start of the service was told to accept."""
        return [b for b in self.breaks if str(b) not in self.acknowledged]

    def line(self) -> str:
        """One line: the entry count and head hash, or the first break (unacknowledged ones first)."""
        if self.intact:
            return f"intact: {self.entries} entries, head {self.head}"
        first = (self.unacknowledged or self.breaks)[0]
        more = len(self.breaks) - 1
        note = "" if str(first) not in self.acknowledged else " (accepted at a start of the service)"
        return f"broken: {first}{note}" + (f" (and {more} more)" if more else "")


def _normal(sql: str | None) -> str:
    return " ".join((sql or "").split())


def _time(text: Any) -> datetime | None:
    if not isinstance(text, str) or not text.endswith("Z"):
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def _walk(rows: Iterable[sqlite3.Row], found: dict[int, Break]) -> tuple[int, int, str]:
    """Check each entry against the one before; returns the count, last id and last hash."""

    def broken(entry_id: int, what: str) -> None:
        found.setdefault(entry_id, Break(entry_id, what))

    count, prev_id, prev_hash, prev_at = 0, 0, GENESIS, None
    for row in rows:
        count += 1
        entry_id = row["entry_id"]
        if entry_id <= prev_id:  # only a first entry with an id of 0 or below
            broken(entry_id, "out of sequence: ids start at 1 (inserted)")
            continue
        if entry_id != prev_id + 1:
            gap = (f"entry {prev_id + 1} is missing" if entry_id == prev_id + 2
                   else f"entries {prev_id + 1} to {entry_id - 1} are missing")
            broken(prev_id + 1, f"missing (deleted): {gap}, entry {entry_id} follows entry {prev_id}")
        own_ok = entry_hash(row) == row["entry_hash"]
        if not own_ok:
            broken(entry_id, "changed or replaced: its content does not match its hash")
        elif row["prev_hash"] != prev_hash and entry_id == prev_id + 1:
            if prev_id == 0:
                broken(entry_id, "does not start the chain (replaced or inserted)")
            else:
                broken(prev_id, f"replaced or changed: entry {entry_id} was chained to a different "
                                f"entry {prev_id}")
        at = _time(row["at"])
        if at is None:
            broken(entry_id, f"its time {row['at']!r} is not a UTC time (inserted or changed)")
        elif prev_at is not None and at < prev_at:
            broken(entry_id, f"dated {row['at']}, before entry {prev_id} (inserted or backdated)")
        prev_id, prev_hash = entry_id, row["entry_hash"]
        prev_at = at if at is not None else prev_at
    return count, prev_id, prev_hash


def verify(db_path: str | Path) -> ChainReport:
    """Check the audit log of a database: the chain, the ids, the anchors of its head, the triggers.

    Parameters
    ----------
    db_path
        The service's database file.

    Returns
    -------
    ChainReport

    Raises
    ------
    FileNotFoundError
        When there is no database.
    """
    db_path = Path(db_path)
    if not db_path.is_file():
        raise FileNotFoundError(db_path)
    log = AuditLog(db_path)
    # Read only: nothing is written, though the connection is an ordinary one so
    # that a database in WAL mode opens whether or not the service is running.
    db = sqlite3.connect(db_path, timeout=10.0, isolation_level=None)
    db.row_factory = sqlite3.Row
    found: dict[int, Break] = {}
    extra: list[Break] = []

    def at_entry(entry_id: int, what: str) -> None:
        found.setdefault(entry_id, Break(entry_id, what))

    try:
        columns = {row[1] for row in db.execute("PRAGMA table_info(audit)")}
        if not columns:
            try:
                head = read_head(log.head_path)
            except ValueError:
                head = (0, GENESIS)
            if head is None:  # a database that never held an entry
                return ChainReport(0, GENESIS)
            return ChainReport(0, GENESIS, (Break(None, f"the audit table was removed (the head file names "
                                                        f"entry {head[0]})"),))
        if "entry_hash" not in columns:
            legacy = Break(None, "the audit table predates the hash chain: the service chains the log from "
                                 "its next start")
            return ChainReport(0, GENESIS, (legacy,), chained=False)
        with _locked(log.lock_path, exclusive=False):
            head_error = None
            try:
                head = read_head(log.head_path)
            except ValueError as exc:
                head, head_error = None, f"the head file {HEAD_FILE} is unreadable: {exc}"
            db.execute("BEGIN")  # one snapshot for all read below, taken with the head file
            db.execute("SELECT 1 FROM audit LIMIT 1").fetchall()
        count, last_id, last_hash = _walk(db.execute("SELECT * FROM audit ORDER BY entry_id"), found)
        seq_row = db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'audit'").fetchone()
        seq = seq_row[0] if seq_row else (0 if count == 0 else None)
        if seq is None:
            extra.append(Break(None, "the audit id counter (sqlite_sequence) was removed"))
        elif seq > last_id:
            at_entry(last_id + 1, f"missing (deleted): ids were given up to {seq} but the log ends at "
                                  f"entry {last_id}")
        elif seq < last_id:
            extra.append(Break(None, f"the audit id counter (sqlite_sequence) is {seq}, behind the last "
                                     f"entry {last_id}"))
        if head_error is not None:
            extra.append(Break(None, head_error))
        elif head is None and count:
            extra.append(Break(None, f"the head file {HEAD_FILE} beside the database is missing"))
        elif head is not None:
            head_id, head_hash = head
            if head_id > last_id:
                at_entry(last_id + 1, f"missing (deleted): the head file names entry {head_id}, the log "
                                      f"ends at {last_id}")
            elif head_id < last_id:
                at_entry(head_id + 1, f"added outside the service: the head file names entry {head_id} as "
                                      "the last")
            elif head_id and head_hash != last_hash:
                at_entry(head_id, "replaced or changed: its hash differs from the head file's")
        present = {r["name"]: _normal(r["sql"]) for r in db.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'audit'")}
        for name, sql in TRIGGERS.items():
            if present.get(name) != _normal(sql):
                extra.append(Break(None, f"trigger {name} on the audit table is "
                                         f"{'changed' if name in present else 'missing'}"))
        acknowledged = frozenset(r[0] for r in db.execute(
            "SELECT detail FROM audit WHERE action = ?", (ACCEPT_ACTION,)))
        db.execute("COMMIT")
    finally:
        db.close()
    breaks = tuple(sorted(found.values(), key=lambda b: b.entry_id or 0)) + tuple(extra)
    return ChainReport(count, last_hash, breaks, acknowledged)


def check(db_path: str | Path, accept_broken: bool = False) -> ChainReport | None:
    """Verify the audit log of a database before it is opened for writing.

    Parameters
    ----------
    db_path
        The database file; a missing one (a first start) is not checked.
    accept_broken
        Return the report even when the chain is broken, instead of raising.

    Returns
    -------
    ChainReport or None
        ``None`` when there is no database yet.

    Raises
    ------
    BrokenAuditLog
        When the chain is broken at a place no earlier start accepted, in one
        line naming the first broken entry.
    """
    db_path = Path(db_path)
    if not db_path.is_file():
        return None
    report = verify(db_path)
    if report.unacknowledged and report.chained and not accept_broken:
        raise BrokenAuditLog(f"{db_path}: the audit log is {report.line()}; see `patrols audit verify`, "
                             "or start the service with --accept-broken-audit to run on it anyway "
                             "(the break is then recorded in the log)")
    return report
