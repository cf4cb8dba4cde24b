"""Writing a plan bundle: every output of a plan in one folder, all or nothing."""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import replace
from pathlib import Path

from patrols.outputs.geojson import plan_geojson_text
from patrols.outputs.roster import roster_csv
from patrols.outputs.summary import summarize
from patrols.outputs.webmap import map_html
from patrols.plan import Plan, Stop, plan_to_dict

BUNDLE_FILES = ("plan.json", "summary.json", "roster.csv", "plan.geojson", "map.html")


def redact(plan: Plan) -> Plan:
    """The plan as anyone may see it: no site, and protective visits look like any other stop.

    Sites are dropped; every visit (protective or hotspot) becomes kind
    ``patrol`` with no reference; the hotspot surface stays.
    """
    routes = tuple(
        replace(r, stops=tuple(
            s if s.kind == "station" else Stop(s.seq, "patrol", "", s.lat, s.lon, s.arrive, s.depart)
            for s in r.stops))
        for r in plan.routes
    )
    unserved = tuple(replace(u, site_id="") for u in plan.unserved)
    return replace(plan, routes=routes, sites=(), unserved=unserved, redacted=True)


def bundle_files(plan: Plan, tile_url: str | None = None) -> dict[str, str]:
    """The text of each file of the bundle, by name."""
    return {
        "plan.json": json.dumps(plan_to_dict(plan), separators=(",", ":")) + "\n",
        "summary.json": json.dumps(summarize(plan), indent=2) + "\n",
        "roster.csv": roster_csv(plan),
        "plan.geojson": plan_geojson_text(plan),
        "map.html": map_html(plan, tile_url),
    }


def write_bundle(plan: Plan, out_dir: str | Path, tile_url: str | None = None) -> Path:
    """Write the bundle to ``out_dir``, replacing an earlier bundle there.

    Every file is made in a temporary folder beside ``out_dir`` first, so a
    failure leaves the old bundle (or nothing) in place, never half a bundle.
    """
    out = Path(out_dir).resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    files = bundle_files(plan, tile_url)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        for name, text in files.items():
            (tmp / name).write_text(text, encoding="utf-8")
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
