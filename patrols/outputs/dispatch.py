"""Dispatch files: what a dispatcher sends to one car, one unit-shift per file.

``dispatch/<unit>/<date>-<shift>.gpx`` and ``.kml`` for every unit-shift with
stops besides its station (one without has nothing to send). Each holds the
unit-shift's waypoints in order (station first and last, names unique within
the file and at most 14 characters, place and Europe/London times in the
description), the route through them and the track along the streets. The GPX
and KML themselves are written by :mod:`patrols.outputs.gpx` and
:mod:`patrols.outputs.kml`; this module names and collects them.
"""

from __future__ import annotations

import re

from patrols.outputs._features import has_stops
from patrols.outputs.gpx import route_gpx_text
from patrols.outputs.kml import route_kml_text
from patrols.plan import Plan, Route

FOLDER = "dispatch"


def _safe(part: str) -> str:
    # Unit ids and shift names become folder and file names: keep them to portable characters.
    return re.sub(r"[^A-Za-z0-9._-]+", "_", part).strip("._") or "_"


def dispatch_name(route: Route, ext: str) -> str:
    """Path of a unit-shift's dispatch file in the bundle: ``dispatch/<unit>/<date>-<shift>.<ext>``."""
    return f"{FOLDER}/{_safe(route.unit_id)}/{route.date.isoformat()}-{_safe(route.shift)}.{ext}"


def dispatch_files(plan: Plan, only: set[str] | None = None) -> dict[str, str]:
    """The text of every dispatch file, by path inside the bundle.

    Parameters
    ----------
    plan
        The plan.
    only
        Route keys (``unit/date/shift``) whose files to make; all when ``None``.

    Returns
    -------
    dict
        A ``.gpx`` and a ``.kml`` per unit-shift with stops.
    """
    files: dict[str, str] = {}
    for route in plan.routes:
        if not has_stops(route) or (only is not None and route.key not in only):
            continue
        for ext, write in (("gpx", route_gpx_text), ("kml", route_kml_text)):
            name = dispatch_name(route, ext)
            if name in files:  # two unit ids the same once made safe: never overwrite a car's file
                raise ValueError(f"two unit-shifts would share the dispatch file {name}")
            files[name] = write(plan, route)
    return files
