"""``map.html``: the interactive map a planner reads the plan on, one self-contained file.

The page is written from a small template rather than through folium: folium
links jQuery, Bootstrap and several plugins from CDNs, and a map that fetches
anything from outside fails on a closed police network and tells a third party
which streets were being looked at. Here Leaflet's script and style (from
``node_modules``, see :mod:`patrols.outputs.assets`), the page's own script and
the plan's data are all inside the file, and a Content-Security-Policy forbids
every request the page might still try (only a configured tile host is let in).

The base layer is the area's own streets (``plan.streets``) drawn on a canvas;
raster tiles are used only when the area sets ``[map] tile_url``.
"""

from __future__ import annotations

import html
import json
from datetime import datetime
from importlib import resources
from itertools import cycle
from typing import Any
from urllib.parse import urlsplit

from patrols.outputs.assets import leaflet_assets
from patrols.outputs.summary import summarize
from patrols.plan import Plan, Route

# Ten colours told apart on a light street base; none near the hotspot amber or the site purple.
UNIT_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#17becf", "#8c564b", "#e377c2",
                "#0b3d91", "#7f7f00", "#9467bd", "#000000")
SURFACE_COLOUR = "#f0a202"
SITE_COLOUR = "#6a0dad"
KIND_FILL = {"station": "#ffffff", "protective": SITE_COLOUR, "hotspot": SURFACE_COLOUR, "patrol": "#ffffff"}
KIND_LEGEND = {"station": "police station (start and end)", "protective": "protective visit",
               "hotspot": "hotspot visit", "patrol": "patrol stop"}
# Coordinates are stored to 1e-5 degree (about 1 m): plenty for a screen, half the bytes of 1e-6.
SCALE = 100_000
OSM_ATTRIBUTION = "Leaflet · streets © OpenStreetMap contributors (ODbL)"


def unit_colours(plan: Plan) -> dict[str, str]:
    """The colour of each unit, by unit id (the same in the map and the briefings)."""
    units = sorted({r.unit_id for r in plan.routes})
    return dict(zip(units, cycle(UNIT_COLOURS), strict=False))


def _encode_line(line: tuple[tuple[float, float], ...], origin: tuple[int, int]) -> list[int]:
    """Integer steps from the previous point (the first from ``origin``), x then y."""
    out: list[int] = []
    px, py = origin
    for x, y in line:
        ix, iy = round(x * SCALE), round(y * SCALE)
        out += [ix - px, iy - py]
        px, py = ix, iy
    return out


def _hhmm(moment: datetime | None) -> str:
    return f"{moment:%H:%M}" if moment else ""


def _summary_rows(plan: Plan) -> dict[str, Any]:
    """The summary panel: the headline figures of :func:`summarize` in words."""
    s = summarize(plan)
    routes = s["routes"]
    share = routes["patrol_minutes"] / routes["shift_minutes"] if routes["shift_minutes"] else 0.0
    stops = sum(len(r.stops) - 2 for r in plan.routes)
    rows = [
        ("week of", s["week_start"]),
        ("unit-shifts", f"{s['unit_shifts']} ("
         + ", ".join(f"{n} {m}" for m, n in s["unit_shifts_by_mode"].items()) + ")"),
        ("stops", str(stops)),
    ]
    h = s["hotspots"]
    if not plan.redacted:
        p = s["protective"]
        rows.append(("protective visits", f"{p['planned_visits']} of {p['required_visits']} required"))
    rows += [
        ("hotspot visits", f"{h['planned_visits']} ({h['distinct_visited']} of {h['candidates']} points)"),
        ("harm covered", f"{100 * h['harm_covered_share']:.1f}% of offered"),
        ("distance", f"{routes['km']:.1f} km"),
        ("shift time planned", f"{100 * share:.0f}% (rest kept for calls)"),
    ]
    unserved = [] if plan.redacted else [
        f"{u['date']} {u['shift'] or 'any shift'}{' ' + u['site_id'] if u['site_id'] else ''}: "
        f"{u['reason']}" for u in s["protective"]["unserved"]]
    if not plan.redacted:
        rows.append(("unserved visits", str(len(unserved))))
    # Listed under a heading the page is given, so a redacted page's script names nothing of the kind.
    return {"rows": rows, "notes": unserved, "notes_title": "" if plan.redacted else "Unserved visits"}


def _slots(plan: Plan) -> list[Route]:
    """One route per (date, shift), in time order: the order of the day/shift grid."""
    first: dict[tuple[str, str], Route] = {}
    for r in sorted(plan.routes, key=lambda r: (r.start, r.shift)):
        first.setdefault((r.date.isoformat(), r.shift), r)
    return list(first.values())


def map_data(plan: Plan, tile_url: str | None = None) -> dict[str, Any]:
    """Everything the page's script draws, as JSON-ready data.

    Parameters
    ----------
    plan
        The plan to show; a redacted plan gives data with no site in it.
    tile_url
        Optional raster tile URL template (``{z}/{x}/{y}``).

    Returns
    -------
    dict
        The page's data (compact: lines as integer steps of 1e-5 degree).
    """
    west, south = plan.bbox[:2]
    origin = (round(west * SCALE), round(south * SCALE))
    colours = unit_colours(plan)
    units = sorted({(r.unit_id, r.mode) for r in plan.routes})
    unit_index = {u: i for i, (u, _) in enumerate(units)}
    slot_routes = _slots(plan)
    slot_index = {(r.date.isoformat(), r.shift): i for i, r in enumerate(slot_routes)}
    shifts = list(dict.fromkeys(r.shift for r in sorted(slot_routes, key=lambda r: r.start.time())))
    first_day = slot_routes[0].date if slot_routes else None
    kinds = ["station", *dict.fromkeys(s.kind for r in plan.routes for s in r.stops if s.kind != "station")]

    def stop_row(s: Any) -> list[Any]:
        dwell = round(s.dwell_min) if s.arrive is not None and s.depart is not None else None
        return [s.seq, s.kind, s.ref,
                _hhmm(s.arrive) or (_hhmm(s.depart) and f"leaves {_hhmm(s.depart)}"), dwell,
                round(s.lat, 5), round(s.lon, 5), s.place]

    show_sites = bool(plan.sites) and not plan.redacted
    return {
        "title": plan.area,
        "redacted": plan.redacted,
        "bbox": list(plan.bbox),
        "attribution": OSM_ATTRIBUTION,
        "tile": {"url": tile_url, "attribution": "tiles: " + (urlsplit(tile_url).hostname or "")}
        if tile_url else None,
        "scale": SCALE,
        "origin": list(origin),
        "style": {"surface": SURFACE_COLOUR, "site": SITE_COLOUR,
                  "kind": {k: KIND_FILL.get(k, "#ffffff") for k in kinds}},
        "text": {"sites": "Protected sites" if show_sites else ""},
        "legend": [[k, KIND_LEGEND.get(k, k)] for k in kinds],
        "streets": [_encode_line(line, origin) for line in plan.streets if len(line) > 1],
        "hot": [[score, _encode_line(line, origin)]
                for score, line in sorted(plan.hot_segments, key=lambda h: -h[0])],
        # Candidate points would show which stops are not hotspots, i.e. which are protected.
        "hotspots": [] if plan.redacted else
        [[h.hotspot_id, round(h.lat, 5), round(h.lon, 5), h.score] for h in plan.hotspots],
        "sites": [[s.site_id, s.kind, s.tier, s.label, round(s.lat, 5), round(s.lon, 5)]
                  for s in plan.sites] if show_sites else [],
        "units": [[u, mode, colours[u]] for u, mode in units],
        "shifts": shifts,
        "slots": [[r.date.isoformat(), r.shift, f"{r.date:%a %d %b} {r.shift}", f"{r.date:%a %d}"]
                  for r in slot_routes],
        "show": [i for i, r in enumerate(slot_routes) if r.date == first_day],
        "routes": [{"u": unit_index[r.unit_id], "s": slot_index[(r.date.isoformat(), r.shift)],
                    "km": r.km, "path": _encode_line(r.path, origin) if len(r.path) > 1 else [],
                    "stops": [stop_row(s) for s in r.stops]} for r in plan.routes],
        "summary": _summary_rows(plan),
    }


def _csp(tile_url: str | None) -> str:
    img = "data:"
    if tile_url:
        parts = urlsplit(tile_url)
        img += f" {parts.scheme}://{parts.netloc}"
    return (f"default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
            f"img-src {img}; base-uri 'none'; form-action 'none'")


def _script_safe(text: str) -> str:
    # Inside <script>, "</" could close the element early; "<\/" means the same in JS and JSON.
    return text.replace("</", "<\\/")


def map_html(plan: Plan, tile_url: str | None = None) -> str:
    """``map.html`` as text: one file with Leaflet, the page's script and the plan's data.

    Parameters
    ----------
    plan
        The plan to show.
    tile_url
        Optional raster tile URL template; ``None`` (the default) draws only the area's streets
        and the page may contact no host at all.

    Returns
    -------
    str
        The page.

    Raises
    ------
    patrols.outputs.assets.MapAssetsMissing
        When Leaflet is not installed (``make setup`` installs it).
    """
    leaflet = leaflet_assets()
    own = resources.files("patrols.outputs")
    css = own.joinpath("webmap.css").read_text(encoding="utf-8")
    js = own.joinpath("webmap.js").read_text(encoding="utf-8")
    data = json.dumps(map_data(plan, tile_url), separators=(",", ":"), ensure_ascii=False)
    title = html.escape(f"{plan.area}: patrols, week of {plan.week_start.isoformat()}")
    banner = "" if plan.redacted else '<div id="banner">OFFICIAL-SENSITIVE</div>\n'
    marked = "" if plan.redacted else ' class="marked"'
    return (
        "<!DOCTYPE html>\n<html lang=\"en-GB\">\n<head>\n<meta charset=\"utf-8\">\n"
        f"<meta http-equiv=\"Content-Security-Policy\" content=\"{_csp(tile_url)}\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        "<meta name=\"referrer\" content=\"no-referrer\">\n"
        f"<title>{title}</title>\n"
        f"<!-- {leaflet.name} {leaflet.version} (BSD-2-Clause), inlined from the npm package -->\n"
        f"<style>\n{leaflet.css}\n</style>\n<style>\n{css}</style>\n</head>\n"
        f"<body{marked}>\n{banner}<div id=\"map\"></div>\n"
        f"<script>\n{_script_safe(leaflet.js)}\n</script>\n"
        f"<script type=\"application/json\" id=\"plan-data\">{_script_safe(data)}</script>\n"
        f"<script>\n{_script_safe(js)}</script>\n</body>\n</html>\n"
    )
