"""``plan.kml``: the plan for Google Earth and GIS desktops (OGC KML 2.2).

A folder per day and shift; in it, a placemark per unit-shift route (its street
path) and a placemark per stop with its times as a ``TimeSpan`` and every roster
field as ``ExtendedData``. Route lines take their unit's map colour.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from patrols.outputs._xml import sub, to_text, utc
from patrols.outputs.webmap import KIND_FILL, unit_colours
from patrols.plan import Plan, Route, Stop

KML_NS = "http://www.opengis.net/kml/2.2"


def _k(tag: str) -> str:
    return f"{{{KML_NS}}}{tag}"


def _kml_colour(hex_rgb: str, alpha: str = "ff") -> str:
    # KML colours are aabbggrr.
    r, g, b = hex_rgb[1:3], hex_rgb[3:5], hex_rgb[5:7]
    return f"{alpha}{b}{g}{r}".lower()


def _data(parent: ET.Element, fields: dict[str, str]) -> None:
    ext = sub(parent, _k("ExtendedData"))
    for name, value in fields.items():
        sub(sub(ext, _k("Data"), name=name), _k("value"), value)


def _coords(points: list[tuple[float, float]]) -> str:
    return " ".join(f"{x:.6f},{y:.6f}" for x, y in points)


def stop_fields(route: Route, stop: Stop) -> dict[str, str]:
    """The ``ExtendedData`` of a stop placemark (also what the tests read back)."""
    return {
        "unit": route.unit_id, "date": route.date.isoformat(), "shift": route.shift,
        "seq": str(stop.seq), "kind": stop.kind, "ref": stop.ref,
        "arrive": stop.arrive.isoformat() if stop.arrive else "",
        "depart": stop.depart.isoformat() if stop.depart else "",
        "dwell_min": f"{stop.dwell_min:g}" if stop.arrive and stop.depart else "",
    }


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
    ET.register_namespace("", KML_NS)
    root = ET.Element(_k("kml"))
    doc = sub(root, _k("Document"))
    sub(doc, _k("name"), f"{plan.area}: patrols, week of {plan.week_start.isoformat()}")
    sub(doc, _k("description"), "redacted" if plan.redacted else "OFFICIAL-SENSITIVE")
    colours = unit_colours(plan)
    for unit, colour in colours.items():
        style = sub(doc, _k("Style"), id=f"unit-{unit}")
        line_style = sub(style, _k("LineStyle"))
        sub(line_style, _k("color"), _kml_colour(colour))
        sub(line_style, _k("width"), "3")
    kinds = sorted({s.kind for r in plan.routes for s in r.stops})
    for kind in kinds:
        style = sub(doc, _k("Style"), id=f"stop-{kind}")
        icon = sub(style, _k("IconStyle"))
        sub(icon, _k("color"), _kml_colour(KIND_FILL.get(kind, "#555555")))
        sub(icon, _k("scale"), "0.8")

    folders: dict[tuple[str, str], ET.Element] = {}
    for route in sorted(plan.routes, key=lambda r: (r.start, r.unit_id)):
        key = (route.date.isoformat(), route.shift)
        if key not in folders:
            folders[key] = sub(doc, _k("Folder"))
            sub(folders[key], _k("name"), f"{route.date:%a %d %b} {route.shift}")
        folder = folders[key]
        line = sub(folder, _k("Placemark"))
        sub(line, _k("name"), route.key)
        sub(line, _k("description"), f"{route.mode} from {route.station_id}, {route.km:.1f} km, "
            f"{len(route.stops) - 2} stops")
        span = sub(line, _k("TimeSpan"))
        sub(span, _k("begin"), utc(route.start))
        sub(span, _k("end"), utc(route.end))
        sub(line, _k("styleUrl"), f"#unit-{route.unit_id}")
        _data(line, {"unit": route.unit_id, "date": route.date.isoformat(), "shift": route.shift,
                     "mode": route.mode, "station": route.station_id, "km": f"{route.km:g}"})
        path = list(route.path) or [(route.stops[0].lon, route.stops[0].lat)] * 2
        sub(sub(line, _k("LineString")), _k("coordinates"), _coords(path))
        for stop in route.stops[1:-1]:
            mark = sub(folder, _k("Placemark"))
            sub(mark, _k("name"), f"{route.unit_id} #{stop.seq}"
                + (f" {stop.arrive:%H:%M}" if stop.arrive else ""))
            if stop.arrive is not None:
                span = sub(mark, _k("TimeSpan"))
                sub(span, _k("begin"), utc(stop.arrive))
                if stop.depart is not None:
                    sub(span, _k("end"), utc(stop.depart))
            sub(mark, _k("styleUrl"), f"#stop-{stop.kind}")
            _data(mark, stop_fields(route, stop))
            sub(sub(mark, _k("Point")), _k("coordinates"), _coords([(stop.lon, stop.lat)]))
    return root


def plan_kml_text(plan: Plan) -> str:
    """``plan.kml`` as text."""
    return to_text(plan_kml(plan))
