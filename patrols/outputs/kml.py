"""KML 2.2 (OGC): ``plan.kml`` for Google Earth and GIS desktops, and one unit-shift's dispatch file.

``plan.kml`` has a folder per day and shift; in it, a placemark per unit-shift
route (its street path) and a placemark per stop with its times as a
``TimeSpan``. A dispatch file (``dispatch/<unit>/<date>-<shift>.kml``) holds
one unit-shift: a ``route`` folder with its line and a ``waypoints`` folder
with its stops in order, named as in the GPX dispatch file.

Every placemark's fields are ``ExtendedData/SchemaData`` of a ``<Schema>``
(``route`` or ``stop``) with typed ``SimpleField``s, so GDAL (LIBKML) and
Google Earth read numbers as numbers; a field the plan has no value for (a
redacted stop's times) is left out, which readers take as null. A unit-shift
with no stops keeps its route placemark without a geometry rather than a
zero-length line. Route lines take their unit's map colour.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from patrols.outputs._features import (
    clock,
    dwell_or_none,
    place_of,
    route_line,
    waypoint_name,
    waypoint_text,
)
from patrols.outputs._xml import sub, to_text, utc
from patrols.outputs.webmap import KIND_FILL, unit_colours
from patrols.plan import Plan, Route, Stop

KML_NS = "http://www.opengis.net/kml/2.2"

ROUTE_SCHEMA = {"unit": "string", "date": "string", "shift": "string", "mode": "string", "station": "string",
                "km": "double", "busy_min": "double", "stops": "int"}
"""Fields of a route placemark and their KML ``SimpleField`` types."""
STOP_SCHEMA = {"unit": "string", "date": "string", "shift": "string", "seq": "int", "kind": "string",
               "ref": "string", "place": "string", "arrive": "string", "depart": "string",
               "dwell_min": "double"}
"""Fields of a stop placemark and their KML ``SimpleField`` types (KML has no time type: ISO 8601 text)."""


def _k(tag: str) -> str:
    return f"{{{KML_NS}}}{tag}"


def _kml_colour(hex_rgb: str, alpha: str = "ff") -> str:
    # KML colours are aabbggrr.
    r, g, b = hex_rgb[1:3], hex_rgb[3:5], hex_rgb[5:7]
    return f"{alpha}{b}{g}{r}".lower()


def _coords(points: list[tuple[float, float]]) -> str:
    return " ".join(f"{x:.6f},{y:.6f}" for x, y in points)


def route_fields(route: Route) -> dict[str, str]:
    """The ``SchemaData`` of a route placemark."""
    return {"unit": route.unit_id, "date": route.date.isoformat(), "shift": route.shift, "mode": route.mode,
            "station": route.station_id, "km": f"{route.km:g}", "busy_min": f"{route.busy_min:g}",
            "stops": str(len(route.stops) - 2)}


def stop_fields(route: Route, stop: Stop) -> dict[str, str]:
    """The ``SchemaData`` of a stop placemark (also what the tests read back); no entry where no value."""
    dwell = dwell_or_none(stop)
    fields = {
        "unit": route.unit_id, "date": route.date.isoformat(), "shift": route.shift,
        "seq": str(stop.seq), "kind": stop.kind, "ref": stop.ref, "place": stop.place,
        "arrive": stop.arrive.isoformat() if stop.arrive else None,
        "depart": stop.depart.isoformat() if stop.depart else None,
        "dwell_min": None if dwell is None else f"{dwell:g}",
    }
    return {name: value for name, value in fields.items() if value}


def _schemas(doc: ET.Element) -> None:
    for schema_id, fields in (("route", ROUTE_SCHEMA), ("stop", STOP_SCHEMA)):
        schema = sub(doc, _k("Schema"), name=schema_id, id=schema_id)
        for name, kind in fields.items():
            sub(schema, _k("SimpleField"), type=kind, name=name)


def _schema_data(parent: ET.Element, schema_id: str, fields: dict[str, str]) -> None:
    data = sub(sub(parent, _k("ExtendedData")), _k("SchemaData"), schemaUrl=f"#{schema_id}")
    for name, value in fields.items():
        sub(data, _k("SimpleData"), value, name=name)


def _styles(doc: ET.Element, plan: Plan, routes: list[Route]) -> None:
    colours = unit_colours(plan)
    for unit in sorted({r.unit_id for r in routes}):
        style = sub(doc, _k("Style"), id=f"unit-{unit}")
        line_style = sub(style, _k("LineStyle"))
        sub(line_style, _k("color"), _kml_colour(colours[unit]))
        sub(line_style, _k("width"), "3")
    for kind in sorted({s.kind for r in routes for s in r.stops}):
        style = sub(doc, _k("Style"), id=f"stop-{kind}")
        icon = sub(style, _k("IconStyle"))
        sub(icon, _k("color"), _kml_colour(KIND_FILL.get(kind, "#555555")))
        sub(icon, _k("scale"), "0.8")


def _route_placemark(parent: ET.Element, route: Route) -> None:
    mark = sub(parent, _k("Placemark"))
    sub(mark, _k("name"), route.key)
    sub(mark, _k("description"), f"{route.mode} from {route.station_id}, {route.km:.1f} km, "
        f"{len(route.stops) - 2} stops")
    span = sub(mark, _k("TimeSpan"))
    sub(span, _k("begin"), utc(route.start))
    sub(span, _k("end"), utc(route.end))
    sub(mark, _k("styleUrl"), f"#unit-{route.unit_id}")
    _schema_data(mark, "route", route_fields(route))
    line = route_line(route)
    if line is not None:
        sub(sub(mark, _k("LineString")), _k("coordinates"), _coords(line))


def _stop_placemark(parent: ET.Element, route: Route, stop: Stop, name: str, description: str) -> None:
    mark = sub(parent, _k("Placemark"))
    sub(mark, _k("name"), name)
    if description:
        sub(mark, _k("description"), description)
    if stop.arrive is not None or stop.depart is not None:
        span = sub(mark, _k("TimeSpan"))
        if stop.arrive is not None:
            sub(span, _k("begin"), utc(stop.arrive))
        if stop.depart is not None:
            sub(span, _k("end"), utc(stop.depart))
    sub(mark, _k("styleUrl"), f"#stop-{stop.kind}")
    _schema_data(mark, "stop", stop_fields(route, stop))
    sub(sub(mark, _k("Point")), _k("coordinates"), _coords([(stop.lon, stop.lat)]))


def _document(plan: Plan, name: str, description: str, routes: list[Route]) -> tuple[ET.Element, ET.Element]:
    ET.register_namespace("", KML_NS)
    root = ET.Element(_k("kml"))
    doc = sub(root, _k("Document"))
    sub(doc, _k("name"), name)
    sub(doc, _k("description"), description)
    _styles(doc, plan, routes)
    _schemas(doc)
    return root, doc


def _marking(plan: Plan) -> str:
    return "redacted" if plan.redacted else "OFFICIAL-SENSITIVE"


def plan_kml(plan: Plan) -> ET.Element:
    """The plan as a KML 2.2 document tree.

    Parameters
    ----------
    plan
        The plan.

    Returns
    -------
    xml.etree.ElementTree.Element
        The ``kml`` root element.
    """
    root, doc = _document(plan, f"{plan.area}: patrols, week of {plan.week_start.isoformat()}",
                          _marking(plan), list(plan.routes))
    folders: dict[tuple[str, str], ET.Element] = {}
    for route in sorted(plan.routes, key=lambda r: (r.start, r.unit_id)):
        key = (route.date.isoformat(), route.shift)
        if key not in folders:
            folders[key] = sub(doc, _k("Folder"))
            sub(folders[key], _k("name"), f"{route.date:%a %d %b} {route.shift}")
        folder = folders[key]
        _route_placemark(folder, route)
        for stop in route.stops[1:-1]:
            when = f" {clock(stop.arrive)}" if stop.arrive else ""
            _stop_placemark(folder, route, stop, f"{route.unit_id} #{stop.seq}{when} {place_of(stop)}", "")
    return root


def plan_kml_text(plan: Plan) -> str:
    """``plan.kml`` as text."""
    return to_text(plan_kml(plan))


def route_kml(plan: Plan, route: Route) -> ET.Element:
    """One unit-shift's dispatch file as a KML 2.2 document tree.

    Parameters
    ----------
    plan
        The plan the route belongs to (for its area, marking and unit colours).
    route
        The unit-shi

    Returns
    -------
    xml.etree.ElementTree.Element
        The ``kml`` root: a ``route`` folder with the route's placemark and a
        ``waypoints`` folder with a placemark per stop, the station first and
        last, each named by :func:`patrols.outputs._features.waypoint_name` and
        described by its place and its Europe/London times.
    """
    root, doc = _document(plan, f"{route.unit_id} {route.date:%a %d %b %Y} {route.shift}",
                          f"{_marking(plan)}. {plan.area}: {route.mode} from station {route.station_id}, "
                          f"{route.km:.1f} km, {len(route.stops) - 2} stops; times Europe/London",
                          [route])
    folder = sub(doc, _k("Folder"))
    sub(folder, _k("name"), "route")
    _route_placemark(folder, route)
    folder = sub(doc, _k("Folder"))
    sub(folder, _k("name"), "waypoints")
    for stop in route.stops:
        _stop_placemark(folder, route, stop, waypoint_name(stop), waypoint_text(route, stop))
    return root


def route_kml_text(plan: Plan, route: Route) -> str:
    """A dispatch KML file as text."""
    return to_text(route_kml(plan, route))
