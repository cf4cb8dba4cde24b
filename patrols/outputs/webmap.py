"""``map.html``: the interactive map a planner reads the plan on (folium / Leaflet).

The base layer is drawn from the area's own streets, so no tile server is
asked for anything unless the area configures a tile URL.
"""

from __future__ import annotations

import html
from itertools import cycle

import folium

from patrols.plan import Plan

UNIT_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf",
                "#8c564b", "#e377c2", "#bcbd22", "#7f7f7f")
KIND_STYLE = {
    "protective": ("#6a0dad", 6),
    "hotspot": ("#e4572e", 5),
    "patrol": ("#333333", 5),
    "station": ("#000000", 7),
}


def _popup(lines: list[tuple[str, str]]) -> folium.Popup:
    body = "<br>".join(f"<b>{html.escape(k)}</b> {html.escape(v)}" for k, v in lines)
    return folium.Popup(body, max_width=260)


def make_map(plan: Plan, tile_url: str | None = None) -> folium.Map:
    """Build the folium map of a plan.

    Parameters
    ----------
    plan
        The plan to show.
    tile_url
        Optional raster tile URL template; ``None`` draws the area's streets instead.

    Returns
    -------
    folium.Map
    """
    west, south, east, north = plan.bbox
    fmap = folium.Map(location=[(south + north) / 2, (west + east) / 2], zoom_start=14,
                      tiles=tile_url, attr="© OpenStreetMap contributors" if tile_url else None,
                      control_scale=True, prefer_canvas=True)
    fmap.fit_bounds([[south, west], [north, east]])

    streets = folium.FeatureGroup(name="Streets", control=False)
    folium.PolyLine([[[y, x] for x, y in line] for line in plan.streets], color="#9aa0a6",
                    weight=1, opacity=0.8).add_to(streets)
    streets.add_to(fmap)

    if plan.hot_segments:
        surface = folium.FeatureGroup(name="Hotspot surface (harm x recency)")
        top = max(s for s, _ in plan.hot_segments) or 1.0
        for score, line in plan.hot_segments:
            folium.PolyLine([[y, x] for x, y in line], color="#d7301f",
                            weight=2 + 6 * score / top, opacity=0.35 + 0.5 * score / top,
                            tooltip=f"score {score:.1f}").add_to(surface)
        surface.add_to(fmap)

    points = folium.FeatureGroup(name="Hotspot patrol points")
    for h in plan.hotspots:
        folium.CircleMarker([h.lat, h.lon], radius=4, color="#e4572e", fill=True, fill_opacity=0.9,
                            tooltip=f"{h.hotspot_id} score {h.score:.1f}").add_to(points)
    points.add_to(fmap)

    if plan.sites and not plan.redacted:
        sites = folium.FeatureGroup(name="Protected sites")
        for s in plan.sites:
            folium.RegularPolygonMarker(
                [s.lat, s.lon], number_of_sides=4, radius=7, color="#6a0dad", fill=True,
                fill_opacity=0.8,
                popup=_popup([("site", s.site_id), ("kind", s.kind), ("tier", str(s.tier)),
                              ("label", s.label)]),
            ).add_to(sites)
        sites.add_to(fmap)

    colour = dict(zip(sorted({r.unit_id for r in plan.routes}), cycle(UNIT_COLOURS), strict=False))
    slots: dict[tuple[str, str], folium.FeatureGroup] = {}
    for route in plan.routes:
        key = (route.date.isoformat(), route.shift)
        if key not in slots:
            slots[key] = folium.FeatureGroup(name=f"{route.date:%a %d %b} {route.shift}",
                                             show=len(slots) == 0)
        group = slots[key]
        if len(route.path) > 1:
            folium.PolyLine([[y, x] for x, y in route.path], color=colour[route.unit_id], weight=4,
                            opacity=0.85,
                            tooltip=f"{route.unit_id} ({route.mode}) {route.km:.1f} km").add_to(group)
        for stop in route.stops[1:-1]:
            style, radius = KIND_STYLE.get(stop.kind, KIND_STYLE["patrol"])
            folium.CircleMarker(
                [stop.lat, stop.lon], radius=radius, color=colour[route.unit_id], weight=2,
                fill=True, fill_color=style, fill_opacity=0.9,
                popup=_popup([("unit", route.unit_id), ("stop", str(stop.seq)), ("kind", stop.kind),
                              ("arrive", f"{stop.arrive:%H:%M}" if stop.arrive else ""),
                              ("dwell", f"{stop.dwell_min:.0f} min")]),
            ).add_to(group)
    for group in slots.values():
        group.add_to(fmap)

    folium.LayerControl(collapsed=False).add_to(fmap)
    if not plan.redacted:
        banner = ('<div style="position:fixed;top:0;left:0;right:0;z-index:9999;background:#b00020;'
                  'color:white;text-align:center;font:bold 13px sans-serif;padding:3px">'
                  'OFFICIAL-SENSITIVE</div>')
        fmap.get_root().html.add_child(folium.Element(banner))
    return fmap


def map_html(plan: Plan, tile_url: str | None = None) -> str:
    """``map.html`` as text."""
    return make_map(plan, tile_url).get_root().render()
