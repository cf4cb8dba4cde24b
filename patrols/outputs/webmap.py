"""``map.html``: the interactive map a planner, an officer or a dispatcher reads the plan on, one file.

The page is a folium map: ``folium.Map(tiles=None)`` whose base layer is the
area's own streets (``plan.streets``), the hotspot surface, police stations,
hotspot patrol points and protected sites as layers in folium's layer control
(stations, points and sites are ``GeoJson`` layers with folium popups and
tooltips), a ``FeatureGroup`` per day and shift, and the controls as folium
elements (:mod:`patrols.outputs.map_elements`) that call the page's Leaflet
plugin (``webmap.js``). One select picks a unit, day and shift; its stops are
numbered on the map and listed beside it with times and places.

A re-plan's map (``patrols replan``) also shows what changed against the parent
plan: a ring round each stop added, moved from another unit or retimed (and an
outline on its number), the change in its popup and in the stop list, the
parent's stops nobody makes now as a layer of their own, and a line saying what
was kept, moved, retimed, added and dropped. The code for that is the last part
of ``webmap.js`` and ``webmap.css`` (after :data:`REPLAN_CUT`), inlined only in
a re-plan's map, so a plan's map is as it was. A redacted plan has no record of
its parent (:mod:`patrols.outputs.redaction`), so its map shows none of this.

Nothing is fetched: folium's CDN links are dropped for this map instance,
Leaflet comes from ``node_modules`` (:mod:`patrols.outputs.assets`), and a
Content-Security-Policy names the hash of every inline script and style, so
nothing else may run and no host may be asked for anything (only a configured
tile host for images). A closed police network has no CDN, and a map that
fetched would tell a third party which streets were being looked at.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from datetime import datetime
from importlib import resources
from itertools import cycle
from typing import Any
from urllib.parse import urlsplit

import folium
from folium.utilities import JsCode

from patrols.outputs.assets import leaflet_assets
from patrols.outputs.map_elements import (
    BrowseControl,
    DroppedStops,
    EncodedLines,
    HotspotSurface,
    InlineCode,
    Legend,
    Marking,
    OfflinePage,
    PlanView,
    ShiftSheet,
    SlotRoutes,
    StartView,
    offline_map,
)
from patrols.outputs.summary import summarize
from patrols.plan import Plan, Route, Stop

# Ten colours told apart on a light street base; none near the hotspot amber or the site purple.
UNIT_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#17becf", "#8c564b", "#e377c2",
                "#0b3d91", "#7f7f00", "#9467bd", "#000000")
SURFACE_COLOUR = "#f0a202"
SITE_COLOUR = "#6a0dad"
KIND_FILL = {"station": "#ffffff", "protective": SITE_COLOUR, "hotspot": SURFACE_COLOUR, "patrol": "#ffffff"}
KIND_LEGEND = {"station": "police station (start and end)", "protective": "protective visit",
               "hotspot": "hotspot visit", "patrol": "patrol stop"}
# The hotspot surface in five classes of equal count, light and thin to dark and wide (ColorBrewer YlOrBr).
SURFACE_CLASSES = (("#fed98e", 3), ("#fec44f", 4), ("#fe9929", 6), ("#ec7014", 8), ("#b34700", 10))
# Coordinates are stored to 1e-5 degree (about 1 m): plenty for a screen, half the bytes of 1e-6.
SCALE = 100_000
OSM_ATTRIBUTION = "Leaflet · folium · streets © OpenStreetMap contributors (ODbL)"
MARKING = "OFFICIAL-SENSITIVE"
# More unit-shifts than this on the first day and the page opens on its first shift only (drawing a force's
# whole day of routes took most of the time to open).
ROUTES_AT_OPEN = 300
# A re-plan's changes: one colour (none of the units', the surface's or the sites'), a dash per change
# (SVG ``stroke-dasharray``; added is solid), the same on the map and the briefings.
CHANGE_COLOUR = "#e6007e"
CHANGE_DASH = {"added": "", "moved": "6 4", "retimed": "2 4"}
CHANGE_LEGEND = {"added": "added since the parent plan", "moved": "moved from another unit",
                 "retimed": "same unit, another time"}
DROPPED_LAYER = "Dropped since the parent plan"
# Where webmap.js and webmap.css end for every map; what follows is inlined in a re-plan's map only.
REPLAN_CUT = "/* ==== re-plan ==== */"


def unit_colours(plan: Plan) -> dict[str, str]:
    """The colour of each unit, by unit id (the same in the map and the briefings)."""
    units = sorted({r.unit_id for r in plan.routes})
    return dict(zip(units, cycle(UNIT_COLOURS), strict=False))


def replan_record(plan: Plan) -> dict[str, Any] | None:
    """The record of what a re-plan changed against its parent (``extra["replan"]``), or ``None``.

    ``None`` too for a redacted plan: its redaction drops the record (it holds the parent's times).
    """
    record = plan.extra.get("replan")
    return record if isinstance(record, dict) and not plan.redacted else None


def replan_line(record: dict[str, Any]) -> str:
    """One line on a re-plan: ``Re-plan of <parent> from <when>: 5 kept, 2 moved, ... 1 dropped``."""
    start = record.get("from", "")
    when = f"{datetime.fromisoformat(start):%a %d %b %H:%M}" if start else "?"
    counts = ", ".join(f"{record.get('stops_' + name, 0)} {name}"
                       for name in ("kept", "moved", "retimed", "added", "dropped"))
    return f"Re-plan of {record.get('parent', '?')} from {when}: {counts}"


def change_note(stop: Stop) -> str:
    """What a re-plan changed about a stop, in words (``moved from CX-C1 14:20``, ``retimed from 14:20``,
    ``added``), or empty."""
    if stop.change == "moved" and stop.was:
        return f"moved from {stop.was}"
    if stop.change == "retimed" and stop.was:
        return f"retimed from {stop.was.rsplit(' ', 1)[-1]}"
    return stop.change


def dropped_by_route(record: dict[str, Any] | None) -> dict[str, list[dict[str, Any]]]:
    """The parent's stops a re-plan no longer makes, in time order, by route key (``unit/date/shift``)."""
    out: dict[str, list[dict[str, Any]]] = {}
    for d in sorted((record or {}).get("dropped", []), key=lambda d: d["arrive"]):
        out.setdefault(f"{d['unit']}/{d['date']}/{d['shift']}", []).append(d)
    return out


def encode_line(line: Sequence[tuple[float, float]], origin: Sequence[int]) -> list[int]:
    """A line as the page stores it: integer steps of ``1 / SCALE`` degree from the previous point.

    Parameters
    ----------
    line
        The points, ``(lon, lat)``.
    origin
        Where the first step starts from, ``(x, y)`` in ``1 / SCALE`` degree (the plan's west and south).

    Returns
    -------
    list of int
        Steps, x then y, per point.
    """
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


def _shown_at_open(plan: Plan, slot_routes: list[Route]) -> list[int]:
    """The day-shifts ticked at open: the first day, or its first shift alone at a force's size."""
    if not slot_routes:
        return []
    first_day = [i for i, r in enumerate(slot_routes) if r.date == slot_routes[0].date]
    routes = sum(1 for r in plan.routes if r.date == slot_routes[0].date)
    return first_day if routes <= ROUTES_AT_OPEN else first_day[:1]


def surface_classes(scores: list[float]) -> list[tuple[float, float]]:
    """Score ranges of the hotspot surface's classes: equal numbers of segments, low to high.

    Parameters
    ----------
    scores
        The segments' scores.

    Returns
    -------
    list of (low, high)
        At most ``len(SURFACE_CLASSES)`` ranges, touching, lowest first (fewer for few segments).
    """
    ordered = sorted(scores)
    n = min(len(SURFACE_CLASSES), len(ordered))
    if not n:
        return []
    cuts = [round(k * len(ordered) / n) for k in range(n + 1)]
    return [(ordered[cuts[k]], ordered[cuts[k + 1] - 1]) for k in range(n)]


def _surface_class(score: float, classes: list[tuple[float, float]]) -> int:
    return next((k for k, (_, high) in enumerate(classes) if score <= high), len(classes) - 1)


def map_data(plan: Plan, tile_url: str | None = None) -> dict[str, Any]:
    """Everything the page draws, as JSON-ready data.

    Parameters
    ----------
    plan
        The plan to show; a redacted plan gives data with no site in it.
    tile_url
        Optional raster tile URL template (``{z}/{x}/{y}``).

    Returns
    -------
    dict
        The page's data (compact: lines as integer steps of 1e-5 degree). Each route has its
        unit and day-shift (indices into ``units`` and ``slots``), figures, briefing page,
        encoded path and stops ``[seq, kind, ref, arrive, depart, dwell, lat, lon, place]``; a
        re-plan's changed stops end with ``change, note`` too, and ``replan`` holds what else its
        map shows (``None`` for a plan, or a redacted re-plan).
    """
    # Imported here: briefing.py takes the unit colours from this module.
    from patrols.outputs.briefing import briefing_name

    west, south = plan.bbox[:2]
    origin = (round(west * SCALE), round(south * SCALE))
    colours = unit_colours(plan)
    units = sorted({(r.unit_id, r.mode) for r in plan.routes})
    unit_index = {u: i for i, (u, _) in enumerate(units)}
    slot_routes = _slots(plan)
    slot_index = {(r.date.isoformat(), r.shift): i for i, r in enumerate(slot_routes)}
    days = sorted({r.date for r in slot_routes})
    shifts = list(dict.fromkeys(r.shift for r in sorted(slot_routes, key=lambda r: r.start.time())))
    kinds = ["station", *dict.fromkeys(s.kind for r in plan.routes for s in r.stops if s.kind != "station")]
    classes = surface_classes([score for score, _ in plan.hot_segments])
    record = replan_record(plan)

    def stop_row(s: Stop) -> list[Any]:
        dwell = round(s.dwell_min) if s.arrive is not None and s.depart is not None else None
        row = [s.seq, s.kind, s.ref, _hhmm(s.arrive), _hhmm(s.depart), dwell,
               round(s.lat, 5), round(s.lon, 5), s.place]
        # Only a re-plan's changed stops have more: the change and the words for it; then a
        # visit made for an event or an escalation, what for (st[11]).
        if record and s.change:
            row += [s.change, change_note(s)]
        if s.note:
            row += ["", ""] * (len(row) == 9) + [s.note]
        return row

    stations: dict[str, list[Any]] = {}
    for r in plan.routes:
        for s in (r.stops[0], r.stops[-1]):
            if s.kind == "station":
                name = s.place or f"station {s.ref}"
                stations.setdefault(s.ref, [s.ref, name, round(s.lat, 5), round(s.lon, 5)])

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
        "kinds": {k: [KIND_FILL.get(k, "#ffffff")] for k in kinds},
        "legend": [[k, KIND_LEGEND.get(k, k)] for k in kinds],
        "text": {"sites": "Protected sites" if show_sites else ""},
        "streets": [encode_line(line, origin) for line in plan.streets if len(line) > 1],
        "hot": [[score, encode_line(line, origin)]
                for score, line in sorted(plan.hot_segments, key=lambda h: -h[0])],
        "surface": [[colour, weight, round(low, 1), round(high, 1)]
                    for (colour, weight), (low, high) in zip(SURFACE_CLASSES, classes, strict=False)],
        # Candidate points would show which stops are not hotspots, i.e. which are protected.
        "hotspots": [] if plan.redacted else
        [[h.hotspot_id, round(h.lat, 5), round(h.lon, 5), h.score] for h in plan.hotspots],
        "sites": [[s.site_id, s.kind, s.tier, s.label, round(s.lat, 5), round(s.lon, 5)]
                  for s in plan.sites] if show_sites else [],
        "stations": sorted(stations.values()),
        "units": [[u, mode, colours[u]] for u, mode in units],
        "shifts": shifts,
        "days": [f"{d:%a %d %b}" for d in days],
        "slots": [[r.date.isoformat(), r.shift, f"{r.date:%a %d %b}", f"{r.date:%a %d}", days.index(r.date)]
                  for r in slot_routes],
        "show": _shown_at_open(plan, slot_routes),
        "routes": [{"u": unit_index[r.unit_id], "s": slot_index[(r.date.isoformat(), r.shift)],
                    "km": round(r.km, 2), "busy": round(r.busy_min, 1),
                    "minutes": round((r.end.timestamp() - r.start.timestamp()) / 60.0, 1),
                    "start": _hhmm(r.start), "end": _hhmm(r.end), "briefing": briefing_name(r),
                    "visits": sum(1 for s in r.stops if s.kind != "station"),
                    "path": encode_line(r.path, origin) if len(r.path) > 1 else [],
                    "stops": [stop_row(s) for s in r.stops]} for r in plan.routes],
        "summary": _summary_rows(plan),
        "replan": _replan_data(record) if record else None,
    }


def _replan_data(record: dict[str, Any]) -> dict[str, Any]:
    """What a re-plan's map adds: its line, the change styles and the parent's dropped stops.

    Each dropped stop is ``[unit, date, day, shift, time, kind, ref, lat, lon, place]``.
    """
    rows = []
    for d in sorted(record.get("dropped", []), key=lambda d: (d["arrive"], d["unit"])):
        arrive = datetime.fromisoformat(d["arrive"])
        rows.append([d["unit"], d["date"], f"{arrive:%a %d %b}", d["shift"], f"{arrive:%H:%M}", d["kind"],
                     d["ref"], round(d["lat"], 5), round(d["lon"], 5), d.get("place", "")])
    return {"line": replan_line(record), "colour": CHANGE_COLOUR,
            "legend": [[k, CHANGE_LEGEND[k], CHANGE_DASH[k]] for k in CHANGE_DASH],
            "droppedLayer": DROPPED_LAYER, "dropped": rows}


def _text(value: str) -> str:
    # folium's popups and tooltips insert properties as HTML, and its templates read braces.
    return html.escape(value).replace("{", "&#123;").replace("}", "&#125;")


def _points(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """GeoJSON points for a folium ``GeoJson`` layer, text properties escaped."""
    return {"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [r.pop("lon"), r.pop("lat")]},
         "properties": {k: _text(v) if isinstance(v, str) else v for k, v in r.items()}} for r in rows]}


def _index(data: dict[str, Any]) -> dict[str, Any]:
    """What the page's script needs at once: everything but the lines, points and stops."""
    keep = ("title", "redacted", "bbox", "attribution", "scale", "origin", "kinds", "legend", "surface",
            "units", "shifts", "days", "slots", "show", "summary")
    index = {k: data[k] for k in keep}
    index["routes"] = [[r["u"], r["s"], r["km"], r["busy"], r["minutes"], r["start"], r["end"], r["briefing"],
                        r["visits"]] for r in data["routes"]]
    index["extraLegend"] = [[SITE_COLOUR, data["text"]["sites"]]] if data["sites"] else []
    if data["replan"]:
        index["replan"] = data["replan"]
    return index


def _plugin(name: str, replan: bool) -> tuple[str, str]:
    """A file of the page's plugin: the part every map has, and the re-plan's part (empty unless asked)."""
    text = resources.files("patrols.outputs").joinpath(name).read_text(encoding="utf-8")
    common, cut, rest = text.partition(REPLAN_CUT)
    return common, (cut + rest if replan else "")


def base_map(plan: Plan, title: str, tile_url: str | None = None, *, marked: bool = True,
             replan: bool = False, streets: list[list[int]] | None = None) -> tuple[OfflinePage, folium.Map]:
    """The offline page a map of the plan's area starts from, and its folium map, with no layer of the plan's.

    The page holds Leaflet and the plan map's plugin (script and style) inline; the map is fitted to
    the plan's area and has the area's streets as its base layer (and a tile layer when asked).
    Layers, controls and further inline code are added by the caller.

    Parameters
    ----------
    plan
        The plan whose area (bounding box, streets) the map shows.
    title
        The page title (plain text).
    tile_url
        Optional raster tile URL template; its host is the only one the page may ask (for images).
    marked
        Whether the security marking runs across the top (not on a redacted map).
    replan
        Whether the plugin's re-plan part is inlined too.
    streets
        The streets already encoded (:func:`encode_line` from the plan's origin), or ``None`` to
        encode ``plan.streets``.

    Returns
    -------
    (OfflinePage, folium.Map)
        The page (render it with ``.render()``) and the map in it.

    Raises
    ------
    patrols.outputs.assets.MapAssetsMissing
        When Leaflet is not installed (``make setup`` installs it).
    """
    leaflet = leaflet_assets()
    west, south, east, north = plan.bbox
    origin = (round(west * SCALE), round(south * SCALE))
    if streets is None:
        streets = [encode_line(line, origin) for line in plan.streets if len(line) > 1]
    css, replan_css = _plugin("webmap.css", replan)
    js, replan_js = _plugin("webmap.js", replan)
    tile_host = ""
    if tile_url:
        parts = urlsplit(tile_url)
        tile_host = f"{parts.scheme}://{parts.netloc}"
    page = OfflinePage(title, img_hosts=tile_host)
    origin_note = f"{leaflet.name} {leaflet.version} (BSD-2-Clause), inlined from the npm package"
    page.header.add_child(InlineCode("style", leaflet.css, origin_note))
    page.header.add_child(InlineCode("script", leaflet.js))
    page.header.add_child(InlineCode("style", css))
    page.header.add_child(InlineCode("script", js))
    if replan:
        page.header.add_child(InlineCode("style", replan_css))
        page.header.add_child(InlineCode("script", replan_js))
    if marked:
        page.add_child(Marking(MARKING))

    m = offline_map(location=[(south + north) / 2, (west + east) / 2], zoom_start=14, prefer_canvas=True,
                    zoom_snap=0.25, position="absolute")
    page.add_child(m)
    # Fitted before any layer is added and without a zoom animation, so every layer is projected once,
    # at the zoom it opens at (a force's streets took 0.3 s each time).
    fit = folium.FitBounds([[south, west], [north, east]])
    fit.options["animate"] = False
    fit.add_to(m)
    if tile_url:
        folium.TileLayer(tile_url, attr="tiles: " + (urlsplit(tile_url).hostname or ""), name="Map tiles",
                         overlay=True, max_zoom=19).add_to(m)
    # One canvas draws every vector layer (a second one, in a pane of its own, came out blank when
    # printed); the plugin keeps the streets at the bottom of it.
    EncodedLines(streets, list(origin), SCALE, name="Streets (this area's, offline)", overlay=False,
                 color="#a9adb3", weight=1, opacity=1, interactive=False).add_to(m)
    return page, m


def build_map(plan: Plan, tile_url: str | None = None) -> OfflinePage:
    """The folium map of a plan, in its offline page (render it with ``.render()``).

    Parameters
    ----------
    plan
        The plan to show.
    tile_url
        Optional raster tile URL template; ``None`` (the default) draws only the area's streets.

    Returns
    -------
    OfflinePage
        The branca figure holding the ``folium.Map``.

    Raises
    ------
    patrols.outputs.assets.MapAssetsMissing
        When Leaflet is not installed (``make setup`` installs it).
    """
    data = map_data(plan, tile_url)
    page, m = base_map(plan, f"{plan.area}: patrols, week of {plan.week_start.isoformat()}", tile_url,
                       marked=not plan.redacted, replan=bool(data["replan"]), streets=data["streets"])
    if data["hot"]:
        by_class: list[list[list[int]]] = [[] for _ in data["surface"]]
        classes = [(c[2], c[3]) for c in data["surface"]]
        for score, line in data["hot"]:
            by_class[_surface_class(round(score, 1), classes)].append(line)
        HotspotSurface(data["surface"], by_class, data["origin"], SCALE,
                       name="Hotspot surface (harm × recency)", opacity=0.8, lineCap="round").add_to(m)
    if data["hotspots"]:
        folium.GeoJson(
            _points([{"hotspot": h, "score": round(score, 1), "lat": lat, "lon": lon}
                     for h, lat, lon, score in data["hotspots"]]),
            name="Hotspot patrol points", show=False,
            marker=folium.CircleMarker(radius=4, color=SURFACE_COLOUR, weight=1, fill_color=SURFACE_COLOUR,
                                       fill_opacity=0.6),
            tooltip=folium.GeoJsonTooltip(fields=["hotspot", "score"])).add_to(m)
    folium.GeoJson(
        _points([{"station": ref, "name": name, "lat": lat, "lon": lon}
                 for ref, name, lat, lon in data["stations"]]),
        name="Police stations",
        marker=folium.CircleMarker(radius=7, color="#000000", weight=3, fill_color="#ffffff", fill_opacity=1),
        # A label on each station (a GeoJsonTooltip is one tooltip for the whole layer: one label shown).
        on_each_feature=JsCode("function (feature, layer) { layer.bindTooltip(feature.properties.name, "
                               "{permanent: true, direction: 'right', offset: [9, 0], "
                               "className: 'station-label'}); }"),
    ).add_to(m)
    if data["sites"]:
        folium.GeoJson(
            _points([{"site": site, "kind": kind, "tier": tier, "label": label, "lat": lat, "lon": lon}
                     for site, kind, tier, label, lat, lon in data["sites"]]),
            name=data["text"]["sites"],
            marker=folium.CircleMarker(radius=9, color=SITE_COLOUR, weight=3, fill_color=SITE_COLOUR,
                                       fill_opacity=0.15),
            popup=folium.GeoJsonPopup(fields=["site", "kind", "tier", "label"])).add_to(m)

    view = PlanView(_index(data))
    view.add_to(m)
    if data["replan"] and data["replan"]["dropped"]:
        DroppedStops(view, name=DROPPED_LAYER).add_to(m)
    for i, slot in enumerate(data["slots"]):
        group = folium.FeatureGroup(name=f"{slot[2]} {slot[1]}", control=False, show=False)
        SlotRoutes(view, i, [[k, r["path"], r["stops"]] for k, r in enumerate(data["routes"]) if r["s"] == i]
                   ).add_to(group)
        group.add_to(m)
    # In Leaflet's default corner: folium 0.20's Control loses its arguments when given a position.
    folium.Control("Scale", imperial=False).add_to(m)
    folium.LayerControl(position="topright", collapsed=False).add_to(m)
    BrowseControl(view).add_to(m)
    Legend(view).add_to(m)
    ShiftSheet(view).add_to(m)
    StartView(view).add_to(m)
    return page


def map_html(plan: Plan, tile_url: str | None = None) -> str:
    """``map.html`` as text: one file with Leaflet, the folium map, its plugin and the plan's data.

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
    return build_map(plan, tile_url).render()
