"""``plan.geojson``: routes along the streets and their stops (RFC 7946, WGS84)."""

from __future__ import annotations

import json
from typing import Any

from patrols.outputs.roster import roster_rows
from patrols.plan import Plan


def plan_geojson(plan: Plan) -> dict[str, Any]:
    """A FeatureCollection: one LineString per route, one Point per stop.

    Route properties: ``feature`` = ``route``, ``unit``, ``date``, ``shift``,
    ``mode``, ``station``, ``start``, ``end``, ``km``, ``busy_min``, ``stops``.
    Stop properties: ``feature`` = ``stop`` and the roster's columns.
    """
    features: list[dict[str, Any]] = []
    for route in plan.routes:
        coords = [list(p) for p in route.path]
        if len(coords) < 2:  # a route with no stops stays at the station
            st = route.stops[0]
            coords = [[st.lon, st.lat], [st.lon, st.lat]]
        features.append({
            "type": "Feature",
            "geometry": {"type": "LineString", "coordinates": coords},
            "properties": {
                "feature": "route", "unit": route.unit_id, "date": route.date.isoformat(),
                "shift": route.shift, "mode": route.mode, "station": route.station_id,
                "start": route.start.isoformat(), "end": route.end.isoformat(),
                "km": route.km, "busy_min": route.busy_min, "stops": len(route.stops) - 2,
            },
        })
    for row in roster_rows(plan):
        props: dict[str, Any] = {"feature": "stop", **row}
        props["seq"] = int(row["seq"])
        props["lat"], props["lon"] = float(row["lat"]), float(row["lon"])
        features.append({
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [props["lon"], props["lat"]]},
            "properties": props,
        })
    return {"type": "FeatureCollection", "features": features}


def plan_geojson_text(plan: Plan) -> str:
    """``plan.geojson`` as text: stable key order, so the same plan gives the same bytes."""
    return json.dumps(plan_geojson(plan), separators=(",", ":"), ensure_ascii=False) + "\n"
