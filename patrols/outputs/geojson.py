"""``plan.geojson``: routes along the streets and their stops (RFC 7946, WGS84).

The document follows the published JSON Schema ``schemas/patrol_plan.v1.json``;
its ``patrol_plan`` member (an RFC 7946 foreign member) names that schema.

A time the plan does not give (the arrival at the station a route leaves, the
departure from the one it ends at, any time of a redacted plan's stops) is
``null``, never ``""``, so GDAL and QGIS type every time field as DateTime. A
unit-shift with no stops besides its station keeps its route feature with a
``null`` geometry (RFC 7946 3.2) rather than a zero-length line.
"""

from __future__ import annotations

import json
from typing import Any

from patrols.outputs._features import route_line
from patrols.outputs.roster import roster_rows
from patrols.plan import Plan

SCHEMA_ID = "patrol_plan.v1"


def plan_geojson(plan: Plan) -> dict[str, Any]:
    """A FeatureCollection: one LineString per route, one Point per stop.

    Parameters
    ----------
    plan
        The plan.

    Returns
    -------
    dict
        Route properties: ``feature`` = ``route``, ``unit``, ``date``, ``shift``,
        ``mode``, ``station``, ``start``, ``end``, ``km``, ``busy_min``, ``stops``;
        the geometry is ``null`` for a unit-shift with no stops. Stop properties:
        ``feature`` = ``stop``, the roster's columns (``seq``, ``lat``, ``lon``,
        ``easting``, ``northing`` as numbers, ``arrive``/``depart`` ``null``
        where the plan gives none) and ``dwell_min``.
    """
    features: list[dict[str, Any]] = []
    for route in plan.routes:
        line = route_line(route)
        features.append({
            "type": "Feature",
            "geometry": None if line is None else {"type": "LineString",
                                                   "coordinates": [list(p) for p in line]},
            "properties": {
                "feature": "route", "unit": route.unit_id, "date": route.date.isoformat(),
                "shift": route.shift, "mode": route.mode, "station": route.station_id,
                "start": route.start.isoformat(), "end": route.end.isoformat(),
                "km": route.km, "busy_min": route.busy_min, "stops": len(route.stops) - 2,
            },
        })
    stops = [s for r in plan.routes for s in r.stops]
    for row, stop in zip(roster_rows(plan), stops, strict=True):
        props: dict[str, Any] = {"feature": "stop", **row}
        props["seq"] = int(row["seq"])
        props["arrive"], props["depart"] = row["arrive"] or None, row["depart"] or None
        props["lat"], props["lon"] = float(row["lat"]), float(row["lon"])
        props["easting"], props["northing"] = int(row["easting"]), int(row["northing"])
        props["dwell_min"] = round(stop.dwell_min, 1)
        features.append({
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [props["lon"], props["lat"]]},
            "properties": props,
        })
    return {
        "type": "FeatureCollection",
        "patrol_plan": {"schema": SCHEMA_ID, "area": plan.area, "week_start": plan.week_start.isoformat(),
                        "seed": plan.seed, "redacted": plan.redacted},
        "features": features,
    }


def plan_geojson_text(plan: Plan) -> str:
    """``plan.geojson`` as text: stable key order, so the same plan gives the same bytes."""
    return json.dumps(plan_geojson(plan), separators=(",", ":"), ensure_ascii=False) + "\n"
