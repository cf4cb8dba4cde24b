"""Tracks uploaded to a finished plan, and what was delivered against it, measured from them.

A plan's tracks and reports live in its folder, beside its bundles::

    plans/<id>/delivered/
        tracks/<name>.csv, <name>.gpx   every track file uploaded, as sent (never served)
        tracks.json                     the files (name, format, size, SHA-256, when, which key) and totals
        full/delivered.csv, .json       measured from all the tracks: for planners
        viewer/delivered.csv, .json     the same, redacted: for viewers and admins

Tracks are officers' positions: they are private files (``0600`` in ``0700``
folders), never in the viewer bundle, never served back, and go with the plan
when it is deleted. An upload is streamed to a hidden folder of the plan's
(:class:`Upload`), then, holding the plan's lock (:func:`plan_lock`), read with
every file stored before it (:func:`patrols.delivered.tracks.read_tracks`
against the plan's unit ids; a bad file is refused and nothing is kept),
measured (:func:`patrols.delivered.measure.measure_plan`), and written as a
whole new ``delivered/`` that replaces the old one
(:func:`patrols.service.files.replace_dir`). Readers take the same lock, so
they read the reports before an upload or after it, never a mix.

A plan is measured by the rule it was made with (``extra.delivered_rule`` of its
``plan.json``), else by its area's ``[delivered]``; the viewers' report leaves
out protective visits and every stop within the area's redaction clearance of a
protected site, as the viewer bundle does.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from patrols.errors import InputError
from patrols.service.audit import utc_now
from patrols.service.files import (
    DIR_MODE,
    FILE_MODE,
    PARTIAL_SUFFIX,
    make_private,
    private_dir,
    private_write,
    replace_dir,
)

if TYPE_CHECKING:
    from patrols.area import Area, VisitRule
    from patrols.plan import Plan

DELIVERED = "delivered"
TRACKS = "tracks"
MANIFEST = "tracks.json"
REPORTS = ("delivered.json", "delivered.csv")
FORMATS = {"text/csv": "csv", "application/gpx+xml": "gpx"}
"""The media type of an upload -> the format it is read as (and its file's extension)."""
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$"
"""A track file's name as asked for: letters, digits, ``.``, ``-`` and ``_``, not starting with a dot."""
_NAME = re.compile(NAME_PATTERN)
_CHUNK = 1 << 20


class TracksRefused(Exception):
    """An upload that cannot be kept as it is: a name already taken, a file already stored.

    Parameters
    ----------
    detail
        What is wrong, for the planner.
    reason
        A few words for the audit log (``name taken``, ``a copy``).
    """

    def __init__(self, detail: str, reason: str) -> None:
        super().__init__(detail)
        self.reason = reason


@dataclass(frozen=True)
class TrackFile:
    """One uploaded track file as stored."""

    name: str
    format: str
    bytes: int
    sha256: str
    uploaded_at: str
    uploaded_by: str
    """The planner's key id."""
    pings_added: int
    """Pings it added to the plan's tracks (a time a unit already had a ping at is counted once)."""


@dataclass(frozen=True)
class Manifest:
    """A plan's stored tracks and the totals of what was measured from them (``tracks.json``)."""

    tracks: list[TrackFile]
    units: int
    """Units with pings."""
    pings: int
    """Pings of all the tracks, merged per unit."""
    status: dict[str, int] = field(default_factory=dict)
    """Planned stops by measured status (``done``, ``late``, ...), protective ones included."""

    def to_json(self) -> str:
        """The text of ``tracks.json``."""
        return json.dumps(asdict(self), indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str | bytes) -> Manifest:
        """A manifest from the text of ``tracks.json``."""
        doc = json.loads(text)
        return cls([TrackFile(**t) for t in doc["tracks"]], doc["units"], doc["pings"], doc.get("status", {}))


# One lock per plan, shared by uploads, reads of the reports and the plan's deletion.
_LOCKS: dict[str, threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()


@contextmanager
def plan_lock(plan_id: str) -> Iterator[None]:
    """Hold a plan's lock: one upload at a time, and no read or delete in the middle of one.

    Parameters
    ----------
    plan_id
        The plan.
    """
    with _LOCKS_GUARD:
        lock = _LOCKS.setdefault(plan_id, threading.Lock())
    with lock:
        yield


def forget_lock(plan_id: str) -> None:
    """Drop a deleted plan's lock (a later upload to it makes a new one and finds no plan)."""
    with _LOCKS_GUARD:
        _LOCKS.pop(plan_id, None)


def delivered_dir(plan_dir: str | Path) -> Path:
    """A plan's ``delivered/`` folder: its tracks and reports."""
    return Path(plan_dir) / DELIVERED


def track_format(content_type: str | None) -> str | None:
    """The format an upload is read as (``csv`` or ``gpx``) from its ``Content-Type``; ``None`` if neither."""
    media = (content_type or "").partition(";")[0].strip().lower()
    return FORMATS.get(media)


def track_name(name: str | None, fmt: str, taken: set[str]) -> str:
    """The name an upload is stored as: ``name`` with the format's extension, or the next ``tracks-<n>``.

    Parameters
    ----------
    name
        The name asked for (``?name=``), with or without the extension.
    fmt
        ``csv`` or ``gpx``.
    taken
        The names already stored.

    Returns
    -------
    str

    Raises
    ------
    ValueError
        When ``name`` is not a plain file name or names the other format.
    """
    if name is None:
        n = len(taken) + 1
        while f"{TRACKS}-{n}.{fmt}" in taken:
            n += 1
        return f"{TRACKS}-{n}.{fmt}"
    if not _NAME.match(name):
        raise ValueError("must be a plain file name: letters, digits, '.', '-' and '_', starting with a "
                         "letter or digit (at most 80)")
    stem, dot, ext = name.rpartition(".")
    if dot and ext.lower() == fmt:
        return f"{stem}.{fmt}"
    if dot and ext.lower() in FORMATS.values():
        raise ValueError(f"{name!r} names a .{ext} file, but the upload was sent as {fmt.upper()}")
    return f"{name}.{fmt}"


def read_manifest(plan_dir: str | Path) -> Manifest | None:
    """The plan's stored tracks and totals, or ``None`` before any upload."""
    try:
        return Manifest.from_json((delivered_dir(plan_dir) / MANIFEST).read_bytes())
    except FileNotFoundError:
        return None


def read_report(plan_dir: str | Path, view: str, name: str) -> tuple[bytes, Manifest] | None:
    """One report (``delivered.json`` or ``.csv``) of a view (``full`` or ``viewer``), with the manifest.

    Take the plan's lock around it, so the report and the manifest are of the same upload.

    Returns
    -------
    tuple or None
        The report's bytes and the manifest; ``None`` before any upload.
    """
    manifest = read_manifest(plan_dir)
    if manifest is None:
        return None
    return (delivered_dir(plan_dir) / view / name).read_bytes(), manifest


class Upload:
    """A track file being received: a private file in a hidden folder of the plan's.

    The folder (``.upload-<random>/``) keeps the file's own name, so a GPX track
    without a name is still read as the unit its file is named after. Its size
    and SHA-256 are counted as it is written.

    Parameters
    ----------
    plan_dir
        The plan's folder; ``FileNotFoundError`` if it is gone (the plan was deleted).
    name
        The name it will be stored as.
    fmt
        ``csv`` or ``gpx``.
    """

    def __init__(self, plan_dir: str | Path, name: str, fmt: str) -> None:
        self.folder = Path(plan_dir) / f".upload-{uuid.uuid4().hex}{PARTIAL_SUFFIX}"
        os.mkdir(self.folder, DIR_MODE)
        self.path = self.folder / name
        self.name = name
        self.format = fmt
        self.bytes = 0
        self._sha = hashlib.sha256()
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
        except BaseException:
            shutil.rmtree(self.folder, ignore_errors=True)
            raise
        self._fh = os.fdopen(fd, "wb", buffering=_CHUNK)

    def write(self, chunk: bytes) -> None:
        """Append a piece of the body."""
        self._fh.write(chunk)
        self._sha.update(chunk)
        self.bytes += len(chunk)

    def close(self) -> None:
        """Finish writing (the file is then read whole)."""
        if not self._fh.closed:
            self._fh.close()

    def rename(self, name: str) -> None:
        """Store it under another name."""
        path = self.folder / name
        os.rename(self.path, path)
        self.path, self.name = path, name

    @property
    def sha256(self) -> str:
        """The SHA-256 of what was written, hex."""
        return self._sha.hexdigest()

    def discard(self) -> None:
        """Remove the file and its folder (once it is stored, or when it is refused)."""
        self.close()
        shutil.rmtree(self.folder, ignore_errors=True)


def visit_rule_of(plan: Plan, area: Area | None) -> VisitRule:
    """The rule a plan is measured by: the one it was made with, else its area's, else the defaults."""
    from patrols.area import VisitRule, visit_rule

    if "delivered_rule" in plan.extra:
        return visit_rule(plan.extra["delivered_rule"], "plan.json", "extra.delivered_rule")
    return area.delivered if area is not None else VisitRule()


def store_tracks(plan_dir: str | Path, upload: Upload, plan: Plan, rule: VisitRule, clearance_m: float,
                 uploaded_by: str, named: bool = True) -> Manifest:
    """Read an upload with the plan's stored tracks, measure the plan, and keep it all, or nothing.

    Hold the plan's lock (:func:`plan_lock`) around it.

    Parameters
    ----------
    plan_dir
        The plan's folder (``full/plan.json`` is ``plan``).
    upload
        The file received, closed.
    plan
        The plan as made (its full bundle's).
    rule
        What counts as a delivered visit.
    clearance_m
        The area's redaction clearance around protected sites, for the viewers' report.
    uploaded_by
        The planner's key id.
    named
        Whether the upload's name was asked for; if not, and another upload
        took it meanwhile, it is stored as the next free ``tracks-<n>``.

    Returns
    -------
    Manifest
        The stored tracks and totals, the upload last.

    Raises
    ------
    InputError
        The upload does not read as tracks of the plan's units: one line naming
        the file by its stored name, and the line and field or the track point.
    TracksRefused
        A file of that name, or this very file, is already stored.
    """
    from patrols.delivered.measure import measure_plan, unplanned_minutes
    from patrols.delivered.report import delivered_csv, delivered_json, visible
    from patrols.delivered.tracks import read_tracks

    folder = delivered_dir(plan_dir)
    before = read_manifest(plan_dir) or Manifest([], 0, 0)
    taken = {t.name for t in before.tracks}
    if not named and upload.name in taken:
        upload.rename(track_name(None, upload.format, taken))
    for stored in before.tracks:
        if stored.name == upload.name:
            raise TracksRefused(f"this plan already has a track file named {upload.name!r}; "
                                "send the file with another ?name=", "name taken")
        if stored.sha256 == upload.sha256:
            raise TracksRefused(f"this file was already uploaded to this plan, as {stored.name!r}", "a copy")
    # Files in the order they came, so a time two files both give a unit keeps the first one sent.
    paths = [folder / TRACKS / t.name for t in before.tracks] + [upload.path]
    try:
        tracks = read_tracks(paths, {r.unit_id for r in plan.routes})
    except InputError as exc:
        # Named by the file's stored name: the message must not show the server's folders.
        shown = upload.name if exc.source == str(upload.path) else Path(exc.source).name
        raise InputError(shown, exc.message, exc.row, exc.field) from None
    pings = sum(len(p.t) for p in tracks.values())
    results = measure_plan(plan, tracks, rule)
    unplanned = unplanned_minutes(plan, tracks, rule)
    status: dict[str, int] = {}
    for r in results:
        status[r.status] = status.get(r.status, 0) + 1
    added = TrackFile(upload.name, upload.format, upload.bytes, upload.sha256, utc_now(), uploaded_by,
                      pings - before.pings)
    manifest = Manifest([*before.tracks, added], len(tracks), pings, status)

    staged = folder.with_name(f".{DELIVERED}{PARTIAL_SUFFIX}")
    shutil.rmtree(staged, ignore_errors=True)
    try:
        private_dir(staged / TRACKS)
        for t in before.tracks:
            _link_or_copy(folder / TRACKS / t.name, staged / TRACKS / t.name)
        os.rename(upload.path, staged / TRACKS / upload.name)
        for view, redact in (("full", plan.redacted), ("viewer", True)):
            private_dir(staged / view)
            shown = visible(plan, results, redact, clearance_m)
            private_write(staged / view / "delivered.csv", delivered_csv(shown, redact).encode("utf-8"))
            private_write(staged / view / "delivered.json", delivered_json(
                plan, results, unplanned, rule, pings, redact, clearance_m).encode("utf-8"))
        private_write(staged / MANIFEST, manifest.to_json().encode("utf-8"))
        make_private(staged)
        replace_dir(staged, folder)
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        raise
    return manifest


def _link_or_copy(source: Path, target: Path) -> None:
    # A stored file never changes, so the new folder shares it rather than copying tens of MB.
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)
        os.chmod(target, FILE_MODE)
