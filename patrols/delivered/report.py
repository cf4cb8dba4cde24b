"""The delivered bundle: ``delivered.csv`` (a row per planned stop) and ``delivered.json`` (totals).

A redacted report (``--redact``, and any viewer) leaves out protective visits
and every stop within the redaction clearance of a protected site, as a
redacted plan does, and carries no protective totals.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict
from typing import Any

from patrols.area import VisitRule
from patrols.delivered.measure import StopResult, totals
from patrols.demand import distance_m
from patrols.plan import Plan

CSV_COLUMNS = ("unit", "date", "shift", "seq", "kind", "ref", "planned_arrive", "status", "first_seen",
               "minutes_present")


def _near_site(plan: Plan, lat: float, lon: float, clearance_m: float) -> bool:
    return any(distance_m(lat, lon, s.lat, s.lon) <= clearance_m for s in plan.sites)


def visible(plan: Plan, results: list[StopResult], redact: bool, clearance_m: float) -> list[StopResult]:
    """The results a report shows: all, or (redacted) no protective stop and none near a site."""
    if not redact:
        return results
    return [r for r in results if r.stop.kind != "protective"
            and not _near_site(plan, r.stop.lat, r.stop.lon, clearance_m)]


def delivered_csv(results: list[StopResult], redact: bool = False) -> str:
    """``delivered.csv``: one row per planned stop, times ISO 8601 with offset.

    Redacted, the times are left empty, as a redacted plan carries no stop times:
    the gaps between hotspot visits would show when a protective visit was made.
    """
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for r in results:
        w.writerow([r.route.unit_id, r.route.date.isoformat(), r.route.shift, r.stop.seq, r.stop.kind,
                    r.stop.ref, "" if redact else r.stop.arrive.isoformat(), r.status,
                    r.first_seen.isoformat() if r.first_seen and not redact else "",
                    f"{r.minutes_present:.2f}"])
    return out.getvalue()


def delivered_json(plan: Plan, results: list[StopResult], unplanned: dict[str, float], rule: VisitRule,
                   pings: int, redact: bool, clearance_m: float) -> str:
    """``delivered.json``: the rule used, the totals, and what the report leaves out when redacted."""
    shown = visible(plan, results, redact, clearance_m)
    doc: dict[str, Any] = {
        "area": plan.area,
        "week_start": plan.week_start.isoformat(),
        "redacted": redact,
        "rule": asdict(rule),
        "pings": pings,
        **totals(plan, shown, unplanned if not redact else
                 {h.hotspot_id: unplanned[h.hotspot_id] for h in plan.hotspots if h.hotspot_id in unplanned
                  and not _near_site(plan, h.lat, h.lon, clearance_m)}),
    }
    if redact:
        del doc["protective"]
        doc["rule"] = {k: v for k, v in doc["rule"].items() if not k.startswith(("protective", "site"))}
    return json.dumps(doc, indent=2) + "\n"
