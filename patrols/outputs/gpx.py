"""GPX 1.1: ``plan.gpx`` for navigation devices, and one unit-shift's dispatch file.

``plan.gpx`` has

* a waypoint (``wpt``) for every stop, its arrival as ``time`` and its dwell in
  ``cmt`` and in a ``patrols:dwell_min`` extension; one waypoint per station;
* a route (``rte``) per unit-shift: station, stops, station, for turn-by-turn;
* a track (``trk``) per unit-shift with the exact street path the plan uses.

A dispatch file (``dispatch/<unit>/<date>-<shift>.gpx``, what a dispatcher
sends to one car) has the same three parts for one unit-shift: a waypoint per
stop in order, the station first and last, each named in at most 14 characters
(``03 H04``: stop number and ref, so unique within the file) and described by
its place and its Europe/London times; the route through those waypoints; and
the track along the streets.

``time`` elements are UTC, as GPX asks. A redacted plan has no times or dwell
(see :func:`patrols.outputs.redaction.redact`), so its waypoints carry none.
GPX has no feature without geometry, so a unit-shift with no stops besides its
station has no ``rte`` or ``trk`` (a route or track of one place is not drawn).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from patrols.outputs._features import has_stops, route_line, waypoint_name, waypoint_text
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


def _route_desc(route: Route) -> str:
    return f"{route.mode} from {route.station_id}, {route.km:.1f} km, {len(route.stops) - 2} stops"


def _has_dwell(stop: Stop) -> bool:
    return stop.arrive is not None and stop.depart is not None


def _marking(plan: Plan) -> str:
    return "redacted" if plan.redacted else "OFFICIAL-SENSITIVE"


def _root(name: str, desc: str, bbox: tuple[float, float, float, float]) -> ET.Element:
    ET.register_namespace("", GPX_NS)
    ET.register_namespace("patrols", EXT_NS)
    ET.register_namespace("xsi", XSI_NS)
    root = ET.Element(_g("gpx"), {"version": "1.1", "creator": "patrols",
                                  f"{{{XSI_NS}}}schemaLocation":
                                  f"{GPX_NS} http://www.topografix.com/GPX/1/1/gpx.xsd"})
    meta = sub(root, _g("metadata"))
    sub(meta, _g("name"), name)
    sub(meta, _g("desc"), desc)
    west, south, east, north = bbox
    sub(meta, _g("bounds"), minlat=f"{south:.6f}", minlon=f"{west:.6f}", maxlat=f"{north:.6f}",
        maxlon=f"{east:.6f}")
    return root


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
    root = _root(f"{plan.area}: patrols, week of {plan.week_start.isoformat()}",
                 f"{len(plan.routes)} unit-shifts; seed {plan.seed}; {_marking(plan)}", plan.bbox)

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
            place = f", {stop.place}" if stop.place else ""
            sub(wpt, _g("desc"), f"{route.unit_id} {route.date.isoformat()} {route.shift}, stop {stop.seq}, "
                f"{stop.kind}{' ' + stop.ref if stop.ref else ''}{place}")
            sub(wpt, _g("type"), stop.kind)
            ext = sub(wpt, _g("extensions"))
            sub(ext, _x("unit"), route.unit_id)
            sub(ext, _x("seq"), str(stop.seq))
            if _has_dwell(stop):
                sub(ext, _x("dwell_min"), f"{stop.dwell_min:g}")

    for route in plan.routes:
        if not has_stops(route):
            continue
        rte = sub(root, _g("rte"))
        sub(rte, _g("name"), route.key)
        sub(rte, _g("desc"), _route_desc(route))
        sub(rte, _g("type"), route.mode)
        for stop in route.stops:
            pt = sub(rte, _g("rtept"), **_ll(stop))
            moment = stop.arrive or stop.depart
            if moment is not None:
                sub(pt, _g("time"), utc(moment))
            sub(pt, _g("name"), _stop_name(route, stop))
            sub(pt, _g("type"), stop.kind)

    for route in plan.routes:
        _track(root, route)
    return root


def _track(root: ET.Element, route: Route) -> None:
    line = route_line(route)
    if line is None:
        return
    trk = sub(root, _g("trk"))
    sub(trk, _g("name"), route.key)
    sub(trk, _g("desc"), f"street path, {route.km:.1f} km")
    sub(trk, _g("type"), route.mode)
    seg = sub(trk, _g("trkseg"))
    for lon, lat in line:
        sub(seg, _g("trkpt"), lat=f"{lat:.6f}", lon=f"{lon:.6f}")


def plan_gpx_text(plan: Plan) -> str:
    """``plan.gpx`` as text."""
    return to_text(plan_gpx(plan))


def _waypoint(parent: ET.Element, tag: str, route: Route, stop: Stop) -> ET.Element:
    """A dispatch file's waypoint (``wpt`` or ``rtept``): short name, place and local times."""
    pt = sub(parent, _g(tag), **_ll(stop))
    moment = stop.arrive or stop.depart
    if moment is not None:
        sub(pt, _g("time"), utc(moment))
    sub(pt, _g("name"), waypoint_name(stop))
    if _has_dwell(stop) and stop.dwell_min > 0:
        sub(pt, _g("cmt"), f"dwell {stop.dwell_min:.0f} min")
    sub(pt, _g("desc"), waypoint_text(route, stop))
    sub(pt, _g("type"), stop.kind)
    return pt


def route_gpx(plan: Plan, route: Route) -> ET.Element:
    """One unit-shift's dispatch file as a GPX 1.1 document tree.

    Parameters
    ----------
    plan
        The plan the route belongs to (for its area and marking).
    route
        The unit-shift (with stops: one without has nothing to send).

    Returns
    -------
    xml.etree.ElementTree.Element
        The ``gpx`` root: a waypoint per stop (the station first and last), the
        route through them and the track along the streets.
    """
    points = [(s.lon, s.lat) for s in route.stops] + list(route.path)
    xs, ys = [x for x, _ in points], [y for _, y in points]
    root = _root(f"{route.unit_id} {route.date:%a %d %b %Y} {route.shift}",
                 f"{_marking(plan)}. {plan.area}: {route.mode} from station {route.station_id}, "
                 f"{route.km:.1f} km, {len(route.stops) - 2} stops; times Europe/London",
                 (min(xs), min(ys), max(xs), max(ys)))
    for stop in route.stops:
        wpt = _waypoint(root, "wpt", route, stop)
        ext = sub(wpt, _g("extensions"))
        sub(ext, _x("unit"), route.unit_id)
        sub(ext, _x("seq"), str(stop.seq))
        if _has_dwell(stop):
            sub(ext, _x("dwell_min"), f"{stop.dwell_min:g}")
    rte = sub(root, _g("rte"))
    sub(rte, _g("name"), route.key)
    sub(rte, _g("desc"), _route_desc(route))
    sub(rte, _g("type"), route.mode)
    for stop in route.stops:
        _waypoint(rte, "rtept", route, stop)
    _track(root, route)
    return root


def route_gpx_text(plan: Plan, route: Route) -> str:
    """A dispatch GPX file as text."""
    return to_text(route_gpx(plan, route))
