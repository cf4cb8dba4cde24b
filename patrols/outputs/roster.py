"""``roster.csv``: one row per stop, for dispatch and for people."""

from __future__ import annotations

import csv
import io

from patrols.plan import Plan

COLUMNS = ["unit", "date", "shift", "seq", "arrive", "depart", "kind", "ref", "lat", "lon"]


def roster_rows(plan: Plan) -> list[dict[str, str]]:
    """Rows of the roster in route order (times ISO 8601 with offset, empty where none)."""
    rows = []
    for route in plan.routes:
        for stop in route.stops:
            rows.append({
                "unit": route.unit_id,
                "date": route.date.isoformat(),
                "shift": route.shift,
                "seq": str(stop.seq),
                "arrive": stop.arrive.isoformat() if stop.arrive else "",
                "depart": stop.depart.isoformat() if stop.depart else "",
                "kind": stop.kind,
                "ref": stop.ref,
                "lat": f"{stop.lat:.6f}",
                "lon": f"{stop.lon:.6f}",
            })
    return rows


def roster_csv(plan: Plan) -> str:
    """The roster as CSV text with its header on the first line."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(roster_rows(plan))
    return out.getvalue()
