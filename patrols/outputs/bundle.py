"""Writing a plan bundle: every output of a plan in one folder, all or nothing.

The bundle (see ``docs/outputs.md``): ``plan.json``, ``summary.json``,
``roster.csv``, ``roster.ics``, ``plan.geojson``, ``plan.gpx``, ``plan.kml``,
``map.html`` and ``briefings/`` (one printable page per unit-shift and an index).
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

from patrols.outputs.briefing import FOLDER as BRIEFINGS
from patrols.outputs.briefing import briefings
from patrols.outputs.geojson import plan_geojson_text
from patrols.outputs.gpx import plan_gpx_text
from patrols.outputs.ics import roster_ics
from patrols.outputs.kml import plan_kml_text
from patrols.outputs.roster import roster_csv
from patrols.outputs.summary import summarize
from patrols.outputs.webmap import map_html
from patrols.plan import Plan, Stop, plan_to_dict

BUNDLE_FILES = ("plan.json", "summary.json", "roster.csv", "roster.ics", "plan.geojson", "plan.gpx",
                "plan.kml", "map.html")
"""The files at the top of every bundle; ``briefings/`` holds one page per unit-shift besides."""
BUNDLE_FOLDERS = (BRIEFINGS,)


def redact(plan: Plan) -> Plan:
    """The plan as anyone may see it: no site, and protective visits look like any other stop.

    Sites are dropped; every visit (protective or hotspot) becomes kind
    ``patrol`` with no reference and no departure time, because a visit's dwell
    tells its kind (protective visits are shorter than hotspot ones by default);
    the candidate hotspot points are dropped (a stop at none of them would be a
    protected site) but the hotspot surface stays. Unserved visits keep their
    day, shift and reason but not their site; figures in ``extra`` lose any key
    or value that names a site.

    Parameters
    ----------
    plan
        The full plan.

    Returns
    -------
    Plan
        The redacted plan (``redacted`` is true).
    """
    # Stops are rebuilt field by field (not copied) so a field added to Stop later starts at its
    # default here instead of leaking; ``value`` is 0 because only hotspot visits have one.
    routes = tuple(
        replace(r, stops=tuple(
            s if s.kind == "station" else Stop(s.seq, "patrol", "", s.lat, s.lon, s.arrive, None, value=0.0)
            for s in r.stops))
        for r in plan.routes
    )
    unserved = tuple(replace(u, site_id="") for u in plan.unserved)
    # Per-site figures (predictability) are keyed by site id: keep only the overall ones.
    extra = {k: ({kk: vv for kk, vv in v.items() if kk != "sites"} if isinstance(v, dict) else v)
             for k, v in plan.extra.items()}
    # And whatever else names a site, wherever it sits, goes too.
    secrets = ({s.site_id for s in plan.sites} | {s.label for s in plan.sites if s.label}
               | {s.kind for s in plan.sites})
    # The candidate hotspot points go as well: a stop on none of them would be a protected site.
    return replace(plan, routes=routes, sites=(), hotspots=(), unserved=unserved, redacted=True,
                   extra=_scrub(extra, secrets))


def _scrub(value: Any, secrets: set[str]) -> Any:
    """``value`` without any key or string that is a site id, label or kind (figures stay)."""
    if isinstance(value, dict):
        return {k: _scrub(v, secrets) for k, v in value.items() if k not in secrets}
    if isinstance(value, list | tuple):
        return [_scrub(v, secrets) for v in value if not (isinstance(v, str) and v in secrets)]
    if isinstance(value, str) and value in secrets:
        return ""
    return value


def bundle_files(plan: Plan, tile_url: str | None = None) -> dict[str, str]:
    """The text of each file of the bundle, by path inside the bundle.

    Parameters
    ----------
    plan
        The plan (redact it first for a redacted bundle).
    tile_url
        Optional tile URL template for ``map.html``.

    Returns
    -------
    dict
        Every name of :data:`BUNDLE_FILES` and the ``briefings/`` pages.
    """
    files = {
        "plan.json": json.dumps(plan_to_dict(plan), separators=(",", ":")) + "\n",
        "summary.json": json.dumps(summarize(plan), indent=2) + "\n",
        "roster.csv": roster_csv(plan),
        "roster.ics": roster_ics(plan),
        "plan.geojson": plan_geojson_text(plan),
        "plan.gpx": plan_gpx_text(plan),
        "plan.kml": plan_kml_text(plan),
        "map.html": map_html(plan, tile_url),
    }
    files.update(briefings(plan))
    return files


def write_bundle(plan: Plan, out_dir: str | Path, tile_url: str | None = None) -> Path:
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

    Returns
    -------
    Path
        The bundle folder, resolved.
    """
    out = Path(out_dir).resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    files = bundle_files(plan, tile_url)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        for name, text in files.items():
            target = tmp / name
            target.parent.mkdir(parents=True, exist_ok=True)
            # newline="" keeps the CRLF line ends RFC 5545 asks of roster.ics.
            with target.open("w", encoding="utf-8", newline="") as fh:
                fh.write(text)
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
