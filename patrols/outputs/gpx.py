"""``plan.gpx``: the plan for navigation devices (GPX 1.1).

* a waypoint (``wpt``) for every stop, its arrival as ``time`` and its dwell in
  ``cmt`` and in a ``patrols:dwell_min`` extension; one waypoint per station;
* a route (``rte``) per unit-shift: station, stops, station, for turn-by-turn;
* a track (``trk``) per unit-shift with the exact street path the plan uses.

Times are UTC, as GPX asks. A redacted plan has no dwell (see
:func:`patrols.outputs.bundle.redact`), so its waypoints carry none.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from patrols.outputs._xml import sub, to_text, utc
from patrols.plan import Plan, Route, Stop

GPX_NS = "http://www.topografix.com/GPX/1/1"
EXT_NS = "https://patrols.invalid/gpx/1"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"


def _g(tag: str) -> str:
    return f"{{{GPX_NS}}}{tag}"


def _x(tag: str) -> str:
    return f"{{{EXT_NS}}}{tag}"


def _ll(stop: Stop) -> dict[str, str]:
    return {"lat": f"{stop.lat:.6f}", "lon": f"{stop.lon:.6f}"}


def _stop_name(route: Route, stop: Stop) -> str:
    return f"{route.unit_id} {route.date:%a} {route.shift} #{stop.seq}"


def _has_dwell(stop: Stop) -> bool:
    return stop.arrive is not None and stop.depart is not None


def plan_gpx(plan: Plan) -> ET.Element:
    """The plan as a GPX 1.1 document tree.

    Parameters
    ----------
    plan
        The plan.

    Returns
    -------
    xml.etree.ElementTree.Element
        The ``gpx`` root element.
    """
    ET.register_namespace("", GPX_NS)
    ET.register_namespace("patrols", EXT_NS)
    ET.register_namespace("xsi", XSI_NS)
    root = ET.Element(_g("gpx"), {"version": "1.1", "creator": "patrols",
                                  f"{{{XSI_NS}}}schemaLocation":
                                  f"{GPX_NS} http://www.topografix.com/GPX/1/1/gpx.xsd"})
    meta = sub(root, _g("metadata"))
    sub(meta, _g("name"), f"{plan.area}: patrols, week of {plan.week_start.isoformat()}")
    sub(meta, _g("desc"), f"{len(plan.routes)} unit-shifts; seed {plan.seed}"
        + ("; redacted" if plan.redacted else "; OFFICIAL-SENSITIVE"))
    west, south, east, north = plan.bbox
    sub(meta, _g("bounds"), minlat=f"{south:.6f}", minlon=f"{west:.6f}", maxlat=f"{north:.6f}",
        maxlon=f"{east:.6f}")

    stations: dict[str, Stop] = {}
    for route in plan.routes:
        stations.setdefault(route.station_id, route.stops[0])
    for sid, stop in sorted(stations.items()):
        wpt = sub(root, _g("wpt"), **_ll(stop))
        sub(wpt, _g("name"), f"station {sid}")
        sub(wpt, _g("type"), "station")
    for route in plan.routes:
        for stop in route.stops[1:-1]:
            wpt = sub(root, _g("wpt"), **_ll(stop))
            if stop.arrive is not None:
                sub(wpt, _g("time"), utc(stop.arrive))
            sub(wpt, _g("name"), _stop_name(route, stop))
            if _has_dwell(stop):
                sub(wpt, _g("cmt"), f"dwell {stop.dwell_min:.0f} min")
            sub(wpt, _g("desc"), f"{route.unit_id} {route.date.isoformat()} {route.shift}, stop {stop.seq}, "
                f"{stop.kind}{' ' + stop.ref if stop.ref else ''}")
            sub(wpt, _g("type"), stop.kind)
            ext = sub(wpt, _g("extensions"))
            sub(ext, _x("unit"), route.unit_id)
            sub(ext, _x("seq"), str(stop.seq))
            if _has_dwell(stop):
                sub(ext, _x("dwell_min"), f"{stop.dwell_min:g}")

    for route in plan.routes:
        rte = sub(root, _g("rte"))
        sub(rte, _g("name"), route.key)
        sub(rte, _g("desc"), f"{route.mode} from {route.station_id}, {route.km:.1f} km, "
            f"{len(route.stops) - 2} stops")
        sub(rte, _g("type"), route.mode)
        for stop in route.stops:
            pt = sub(rte, _g("rtept"), **_ll(stop))
            moment = stop.arrive or stop.depart
            if moment is not None:
                sub(pt, _g("time"), utc(moment))
            sub(pt, _g("name"), _stop_name(route, stop))
            sub(pt, _g("type"), stop.kind)

    for route in plan.routes:
        trk = sub(root, _g("trk"))
        sub(trk, _g("name"), route.key)
        sub(trk, _g("desc"), f"street path, {route.km:.1f} km")
        sub(trk, _g("type"), route.mode)
        seg = sub(trk, _g("trkseg"))
        path = route.path or ((route.stops[0].lon, route.stops[0].lat),)
        for lon, lat in path:
            sub(seg, _g("trkpt"), lat=f"{lat:.6f}", lon=f"{lon:.6f}")
    return root


def plan_gpx_text(plan: Plan) -> str:
    """``plan.gpx`` as text."""
    return to_text(plan_gpx(plan))
