"""Writing a plan bundle: every output of a plan in one folder, all or nothing.

The bundle (see ``docs/outputs.md``): ``plan.json``, ``summary.json``,
``roster.csv``, ``roster.ics``, ``plan.geojson``, ``plan.gpx``, ``plan.kml``,
``plan.gpkg``, ``map.html``, ``briefings/`` (one printable page per unit-shift
and an index), ``dispatch/`` (a GPX and a KML file per unit-shift with stops,
one car's file each) and, when the plan names police contacts, ``contacts/`` (a
sheet and a calendar per contact; never in a redacted bundle).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from patrols.outputs._features import has_stops
from patrols.outputs.briefing import FOLDER as BRIEFINGS
from patrols.outputs.briefing import briefing_name, briefings
from patrols.outputs.contacts import FOLDER as CONTACTS
from patrols.outputs.contacts import contact_files
from patrols.outputs.dispatch import FOLDER as DISPATCH
from patrols.outputs.dispatch import dispatch_files, dispatch_name
from patrols.outputs.geojson import plan_geojson_text
from patrols.outputs.gpkg import plan_gpkg_bytes
from patrols.outputs.gpx import plan_gpx_text
from patrols.outputs.ics import roster_ics
from patrols.outputs.kml import plan_kml_text
from patrols.outputs.roster import roster_csv
from patrols.outputs.summary import summarize
from patrols.outputs.webmap import map_html, unit_colours
from patrols.plan import Plan, plan_to_dict

BUNDLE_FILES = ("plan.json", "summary.json", "roster.csv", "roster.ics", "plan.geojson", "plan.gpx",
                "plan.kml", "plan.gpkg", "map.html")
"""The files at the top of every bundle; ``briefings/`` and ``dispatch/`` hold each unit-shift's besides."""
BUNDLE_FOLDERS = (BRIEFINGS, DISPATCH, CONTACTS)
"""Folders a bundle may hold; ``contacts/`` only when the plan names contacts and is not redacted."""


@dataclass(frozen=True)
class Reuse:
    """A parent bundle whose per-unit-shift files a re-plan takes as they are for unchanged routes."""

    folder: Path
    parent: Plan
    unchanged: frozenset[str]
    """Keys of the routes that are the parent's, stop for stop."""


def _reused(plan: Plan, reuse: Reuse | None) -> dict[str, str]:
    """The parent's briefing and dispatch files of unchanged routes, read back; empty when any differs.

    A page depends on its route, the plan's unit colours and street labels and
    the redaction: files are taken only when all of those are the parent's.
    """
    if reuse is None or reuse.parent.redacted or plan.redacted:
        return {}
    if unit_colours(plan) != unit_colours(reuse.parent) or plan.street_labels != reuse.parent.street_labels:
        return {}
    out = {}
    for route in plan.routes:
        if route.key not in reuse.unchanged:
            continue
        names = [briefing_name(route)]
        if has_stops(route):
            names += [dispatch_name(route, "gpx"), dispatch_name(route, "kml")]
        for name in names:
            path = reuse.folder / name
            if not path.is_file():
                return {}
            with path.open(encoding="utf-8", newline="") as fh:
                out[name] = fh.read()
    return out


BUNDLE_PARTS = ("files", "pages")
"""The bundle in two halves that take about as long to make: the top files (``files``) and the
per-unit-shift and per-contact pages (``pages``); ``patrols plan-many`` makes them side by side."""


def bundle_files(plan: Plan, tile_url: str | None = None,
                 written_at: datetime | None = None, reuse: Reuse | None = None,
                 parts: tuple[str, ...] = BUNDLE_PARTS) -> dict[str, str | bytes]:
    """The content of each file of the bundle (text, or bytes for ``plan.gpkg``), by path inside the bundle.

    Parameters
    ----------
    plan
        The plan (``outputs.redaction.redact`` it first for a redacted bundle).
    tile_url
        Optional tile URL template for ``map.html``.
    written_at
        When the bundle is written (aware; now if not given): ``roster.ics``
        and the contacts' calendars take their ``DTSTAMP`` and ``SEQUENCE`` from it.
    reuse
        A parent bundle (a re-plan's): the briefings and dispatch files of
        unchanged routes are read from it instead of made again.
    parts
        Which of :data:`BUNDLE_PARTS` to make (both: the whole bundle).

    Returns
    -------
    dict
        Every name of :data:`BUNDLE_FILES`, the ``briefings/`` pages, the ``dispatch/`` files
        and the ``contacts/`` sheets (none when the plan is redacted or names no contact).
    """
    written_at = written_at or datetime.now(UTC)
    files: dict[str, str | bytes] = {}
    if "files" in parts:
        files.update({
            "plan.json": json.dumps(plan_to_dict(plan), separators=(",", ":")) + "\n",
            "summary.json": json.dumps(summarize(plan), indent=2) + "\n",
            "roster.csv": roster_csv(plan),
            "roster.ics": roster_ics(plan, written_at),
            "plan.geojson": plan_geojson_text(plan),
            "plan.gpx": plan_gpx_text(plan),
            "plan.kml": plan_kml_text(plan),
            "plan.gpkg": plan_gpkg_bytes(plan),
            "map.html": map_html(plan, tile_url),
        })
    if "pages" not in parts:
        return files
    taken = _reused(plan, reuse)
    only = None if not taken else {r.key for r in plan.routes if r.key not in reuse.unchanged}
    files.update(briefings(plan, only))
    files.update(dispatch_files(plan, only))
    files.update(taken)
    # Made again every time (never taken from a parent): a re-plan's visits at any site may differ.
    files.update(contact_files(plan, written_at))
    return files


def write_bundle(plan: Plan, out_dir: str | Path, tile_url: str | None = None,
                 written_at: datetime | None = None, reuse: Reuse | None = None) -> Path:
    """Write the bundle to ``out_dir``, replacing an earlier bundle there.

    Every file is made in a temporary folder beside ``out_dir`` first, so a
    failure leaves the old bundle (or nothing) in place, never half a bundle.

    Parameters
    ----------
    plan
        The plan.
    out_dir
        The bundle folder.
    tile_url
        Optional tile URL template for ``map.html``.
    written_at
        When the bundle is written (now if not given); see :func:`bundle_files`.
    reuse
        See :func:`bundle_files`.

    Returns
    -------
    Path
        The bundle folder, resolved.
    """
    return write_folder(bundle_files(plan, tile_url, written_at, reuse), out_dir)


def write_file(path: str | Path, data: bytes) -> None:
    """Write one file whole: a temporary file beside it, renamed into place (never half a file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_folder(files: Mapping[str, str | bytes], out_dir: str | Path) -> Path:
    """Write ``files`` (path inside the folder -> text or bytes) as the folder ``out_dir``, all or nothing.

    They are written to a temporary folder beside ``out_dir``, which then takes
    its place: a failure leaves the old folder (or nothing), never half of one.

    Returns
    -------
    Path
        The folder, resolved.
    """
    out = Path(out_dir).resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        for name, content in files.items():
            target = tmp / name
            target.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                target.write_bytes(content)
                continue
            # newline="" keeps the CRLF line ends RFC 5545 asks of roster.ics.
            with target.open("w", encoding="utf-8", newline="") as fh:
                fh.write(content)
        old = None
        if out.exists():
            old = out.with_name(f".{out.name}.old")
            if old.exists():
                shutil.rmtree(old)
            out.rename(old)
        tmp.rename(out)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out
