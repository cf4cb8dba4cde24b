"""``delivered.html``: the week's plan beside what was delivered, on one offline map.

Per unit-shift the map draws the planned route (the plan's street path, in the
unit's colour) and the unit's actual track (its pings from the shift's start to
its end, thinner and dashed, in the same colour), and each planned stop as a
marker coloured by its measured status (:mod:`patrols.delivered.measure`):
done green, late amber, short orange, missed red, no data grey. Missed and
short stops are larger and outlined in black, and drawn above the rest. Each
marker's popup has the unit-shift, the planned time, the status, when the unit
was first seen and for how long it was there, and the place. The layer control
shows or hides the routes, the tracks and each status; the legend counts the
stops of each status.

The page is the plan map's (:func:`patrols.outputs.webmap.base_map`): Leaflet
and the plan map's plugin inline, the area's streets as the base layer, nothing
fetched, and a Content-Security-Policy naming the hash of every inline script
and style. Lines are stored as the plan map stores them (integer steps of 1e-5
degree in JSON blocks), and tracks are thinned for drawing: split where the
pings stop for longer than ``DELIVERED_MAX_GAP_MIN`` (a straight line across a
gap would be a guess), then a point kept only when it is at least
:data:`TRACK_STEP_S` after and :data:`TRACK_STEP_M` away from the last kept
one (a unit standing at a stop is one point, not thirty; a one-second feed is
one point every half minute).

Redacted (``redact=True``, and always for a redacted plan) the map shows what
the redacted ``delivered.csv`` shows (:func:`patrols.delivered.report.visible`):
no protective stop, no stop within ``clearance_m`` of a protected site, and no
planned or seen time in a popup (tracks carry no time on any map), no site
marked or named, and no line at all: neither planned routes nor tracks.
Cutting lines at each site's clearance was tried and rejected: a line that
stops at the edge of a clearance shows that a unit went towards it, and where
many lines pass a site their cuts leave a round gap centred on it at street
zoom. A viewer is shown the hotspot stops and what was delivered there.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import folium
import numpy as np
from branca.element import MacroElement
from folium.map import Layer
from folium.template import Template

from patrols import defaults
from patrols.delivered.measure import STATUSES, StopResult
from patrols.delivered.report import visible
from patrols.delivered.tracks import Pings
from patrols.outputs.map_elements import InlineCode, WithJsonData, json_block
from patrols.outputs.webmap import OSM_ATTRIBUTION, SCALE, base_map, encode_line, unit_colours
from patrols.plan import Plan, Route

STATUS_COLOUR = {"done": "#2ca02c", "late": "#f2b600", "short": "#f57c00", "missed": "#d62728",
                 "no_data": "#9e9e9e"}
STATUS_LABEL = {"done": "done", "late": "late", "short": "short", "missed": "missed", "no_data": "no data"}
# Missed and short stand out (larger, outlined in black); drawn last, so above the rest.
STANDOUT = ("short", "missed")
DRAW_ORDER = ("done", "late", "no_data", "short", "missed")
# Tracks as drawn: at most a point every TRACK_STEP_S (a little under 30 s, so a 30 s feed of a moving
# unit is drawn whole), and only once the unit has moved TRACK_STEP_M from the last point drawn.
TRACK_STEP_S = 25.0
TRACK_STEP_M = 10.0
_M_PER_DEGREE = 111_320.0
POPUP_FIELDS = ("unit-shift", "planned", "status", "first seen", "present", "place", "visit")
# A redacted map's popups have no time, as the redacted delivered.csv: the gaps between hotspot
# visits would show when a protective visit was made.
REDACTED_FIELDS = ("unit-shift", "status", "present", "place", "visit")

DELIVERED_CSS = """\
/* The delivered map has no sheet beside it: the map takes the whole page. */
.folium-map { right: 0; bottom: 0; }
#delivered-legend .row { display: block; white-space: nowrap; }
#delivered-legend .units { max-width: 260px; white-space: normal; }
#delivered-legend .unit { display: inline-block; margin-right: 8px; white-space: nowrap; }
.dot.standout { border-color: #000; width: 11px; height: 11px; }
.line-sample { display: inline-block; width: 26px; vertical-align: middle; margin-right: 5px;
  border-top: 4px solid #666; }
.line-sample.track { border-top: 2px dashed #666; }
"""

DELIVERED_JS = """\
// delivered.html's drawing (patrols/delivered/webmap.py), on the plan map's plugin (L.patrols):
// lines and stops from the page's JSON blocks, the legend, and the page marked ready.
(function () {
  "use strict";
  var P = L.patrols, D = (P.delivered = {}), front = [];

  // Lines per unit-shift, [label, colour, [encoded part, ...]], each with its label as a tooltip.
  D.lines = function (dataId, options) {
    var d = P.readJson(dataId), group = L.featureGroup();
    d.lines.forEach(function (l) {
      var parts = l[2].map(function (a) { return P.decode(a, d.origin, d.scale); });
      L.polyline(parts, L.extend({}, options, {color: l[1]})).bindTooltip(P.esc(l[0]), {sticky: true})
        .addTo(group);
    });
    return group;
  };

  // One status's stops, [lat, lon, value per field]; the popup is made when first opened.
  D.stops = function (dataId, options) {
    var d = P.readJson(dataId), group = L.featureGroup();
    d.stops.forEach(function (s) {
      L.circleMarker([s[0], s[1]], options).bindPopup(function () {
        return "<div class=\\"popup\\">" + d.fields.map(function (f, i) {
          return "<b>" + P.esc(f) + "</b> " + P.esc(s[i + 2]);
        }).join("<br>") + "</div>";
      }).addTo(group);
    });
    front.push(group);
    return group;
  };

  // The legend (stops per status, the two lines, the units' colours) and the attribution.
  D.legend = function (map, legend, attribution) {
    var control = L.control({position: "bottomleft"});
    control.onAdd = function () {
      var box = P.el("div", "panel");
      box.id = "delivered-legend";
      L.DomEvent.disableClickPropagation(box);
      L.DomEvent.disableScrollPropagation(box);
      box.appendChild(P.el("h3", null, legend.title));
      legend.statuses.forEach(function (s) {
        var row = P.el("span", "row"), dot = P.el("span", "dot" + (s[3] ? " standout" : ""));
        dot.style.background = s[1];
        row.appendChild(dot);
        row.appendChild(document.createTextNode(s[0] + ": " + s[2]));
        box.appendChild(row);
      });
      box.appendChild(P.el("h3", null, "Lines"));
      [["line-sample", "planned route"], ["line-sample track", "GPS track (pings)"]].forEach(function (l) {
        var row = P.el("span", "row");
        row.appendChild(P.el("span", l[0]));
        row.appendChild(document.createTextNode(l[1]));
        box.appendChild(row);
      });
      var units = P.el("div", "units");
      legend.units.forEach(function (u) {
        var item = P.el("span", "unit"), sw = P.el("span", "sw");
        sw.style.background = u[1];
        item.appendChild(sw);
        item.appendChild(document.createTextNode(u[0]));
        units.appendChild(item);
      });
      box.appendChild(units);
      return box;
    };
    control.addTo(map);
    map.attributionControl.setPrefix(false);
    map.attributionControl.addAttribution(P.esc(attribution));
    // One canvas draws in the order layers are added: a line layer switched back on stays under the stops.
    map.on("overlayadd", function () {
      front.forEach(function (g) { if (map.hasLayer(g)) { g.bringToFront(); } });
    });
    window.patrolsDelivered = {map: map, legend: legend};
    document.body.setAttribute("data-ready", "1");
  };
})();
"""


class UnitShiftLines(WithJsonData, Layer):
    """Lines per unit-shift, each one polyline (of one or more parts) with its label as a tooltip.

    Parameters
    ----------
    lines
        ``[label, colour, [encoded part, ...]]`` per unit-shift (parts as :func:`encode_line`).
    origin
        Where each part's first step starts from.
    name, show
        As for any folium ``Layer`` (an overlay, in the layer control).
    **style
        Leaflet path options (``weight``, ``opacity``, ``dashArray``...).
    """

    _template = Template("""
        {% macro script(this, kwargs) %}
            var {{ this.get_name() }} = L.patrols.delivered.lines(
                {{ this.data_id|tojson }}, {{ this.style|tojson }});
        {% endmacro %}""")

    def __init__(self, lines: list[list[Any]], origin: list[int], name: str, show: bool = True, **style: Any):
        super().__init__(name=name, overlay=True, control=True, show=show)
        self._name = "UnitShiftLines"
        self.data = json_block({"lines": lines, "origin": origin, "scale": SCALE})
        self.style = style


class StatusStops(WithJsonData, Layer):
    """The planned stops of one status as circle markers with popups.

    Parameters
    ----------
    stops
        ``[lat, lon, value per field]`` per stop.
    fields
        The popup's field names.
    name, show
        As for any folium ``Layer`` (an overlay, in the layer control).
    **style
        Leaflet circle marker options (``radius``, ``color``, ``fillColor``...).
    """

    _template = Template("""
        {% macro script(this, kwargs) %}
            var {{ this.get_name() }} = L.patrols.delivered.stops(
                {{ this.data_id|tojson }}, {{ this.style|tojson }});
        {% endmacro %}""")

    def __init__(self, stops: list[list[Any]], fields: Sequence[str], name: str, show: bool = True,
                 **style: Any):
        super().__init__(name=name, overlay=True, control=True, show=show)
        self._name = "StatusStops"
        self.data = json_block({"fields": list(fields), "stops": stops})
        self.style = style


class StatusLegend(MacroElement):
    """The legend (stops per status, the lines, the units' colours) and the map's attribution; added
    last, it marks the page ready."""

    _template = Template("""
        {% macro script(this, kwargs) %}
            L.patrols.delivered.legend({{ this._parent.get_name() }}, {{ this.legend|tojson }},
                {{ this.attribution|tojson }});
        {% endmacro %}""")

    def __init__(self, legend: dict[str, Any], attribution: str):
        super().__init__()
        self._name = "StatusLegend"
        self.legend = legend
        self.attribution = attribution


def _split(idx: np.ndarray, breaks: np.ndarray) -> list[np.ndarray]:
    """``idx`` cut after each position in ``breaks``; pieces of fewer than two points dropped."""
    return [p for p in np.split(idx, breaks + 1) if len(p) > 1]


def _thin(t: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The pings a track is drawn with: the first, the last, and each one at least ``TRACK_STEP_S``
    after and ``TRACK_STEP_M`` away from the last kept (``x``, ``y`` in metres)."""
    tt, xx, yy = t.tolist(), x.tolist(), y.tolist()
    keep, j = [0], 0
    step2 = TRACK_STEP_M * TRACK_STEP_M
    for i in range(1, len(tt) - 1):
        if tt[i] - tt[j] >= TRACK_STEP_S and (xx[i] - xx[j]) ** 2 + (yy[i] - yy[j]) ** 2 >= step2:
            keep.append(i)
            j = i
    if len(tt) > 1:
        keep.append(len(tt) - 1)
    return np.asarray(keep, dtype=np.intp)


def _parts(lon: np.ndarray, lat: np.ndarray, t: np.ndarray | None, origin: list[int]) -> list[list[int]]:
    """A line as drawn, encoded: a track (with times ``t``) cut at gaps and thinned."""
    lon, lat = np.round(lon, 5), np.round(lat, 5)
    pieces = [np.arange(len(lon))]
    if t is not None:
        max_gap = defaults.DELIVERED_MAX_GAP_MIN * 60.0
        kx = _M_PER_DEGREE * math.cos(math.radians(float(np.mean(lat)))) if len(lat) else 0.0
        pieces = _split(pieces[0], np.flatnonzero(np.diff(t) > max_gap))
        pieces = [p[_thin(t[p], lon[p] * kx, lat[p] * _M_PER_DEGREE)] for p in pieces]
    return [encode_line(list(zip(lon[p].tolist(), lat[p].tolist(), strict=True)), origin)
            for p in pieces if len(p) > 1]


def _label(route: Route) -> str:
    return f"{route.unit_id} · {route.date:%a %d %b} · {route.shift}"


def _hhmm(moment: datetime | None) -> str:
    return f"{moment:%H:%M}" if moment else ""


def _stop_row(r: StopResult, fields: Sequence[str]) -> list[Any]:
    """``[lat, lon, value per field]`` of a stop's marker."""
    s = r.stop
    values = {"unit-shift": _label(r.route),
              "planned": f"{_hhmm(s.arrive)}–{_hhmm(s.depart)} ({s.dwell_min:.0f} min)" if s.arrive else "",
              "status": STATUS_LABEL.get(r.status, r.status), "first seen": _hhmm(r.first_seen) or "not seen",
              "present": f"{r.minutes_present:.1f} min", "place": s.place, "visit": f"{s.kind} {s.ref}"}
    return [round(s.lat, 5), round(s.lon, 5), *(values[f] for f in fields)]


def delivered_map_html(plan: Plan, results: list[StopResult], tracks: Mapping[str, Pings],
                       redact: bool = False, clearance_m: float = defaults.REDACTION_CLEARANCE_M,
                       tile_url: str | None = None) -> str:
    """``delivered.html`` as text: the plan's routes, the units' tracks and each stop's status, one file.

    Parameters
    ----------
    plan
        The plan that was measured.
    results
        Each planned stop's status (:func:`patrols.delivered.measure.measure_plan`).
    tracks
        The units' pings by unit id; each unit-shift draws its unit's pings from its start to its end.
    redact
        Leave out protective stops, stops near sites, times and every line (always for a
        redacted plan).
    clearance_m
        How near a site nothing is shown when redacted.
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
    redact = redact or plan.redacted
    west, south = plan.bbox[:2]
    origin = [round(west * SCALE), round(south * SCALE)]
    colours = unit_colours(plan)
    routes = sorted(plan.routes, key=lambda r: (r.start, r.unit_id))

    planned: list[list[Any]] = []
    actual: list[list[Any]] = []
    for r in routes if not redact else ():
        if len(r.path) > 1:
            path = np.asarray(r.path, dtype=np.float64)
            parts = _parts(path[:, 0], path[:, 1], None, origin)
            if parts:
                planned.append([f"{_label(r)}: planned route", colours[r.unit_id], parts])
        pings = tracks.get(r.unit_id)
        if pings is not None and len(pings.t):
            i = int(np.searchsorted(pings.t, r.start.timestamp(), side="left"))
            j = int(np.searchsorted(pings.t, r.end.timestamp(), side="right"))
            parts = _parts(pings.lon[i:j], pings.lat[i:j], pings.t[i:j], origin)
            if parts:
                actual.append([f"{_label(r)}: GPS track", colours[r.unit_id], parts])

    shown = visible(plan, results, redact, clearance_m)
    counts = Counter(r.status for r in shown)
    title = f"{plan.area}: delivered against the plan, week of {plan.week_start.isoformat()}"
    page, m = base_map(plan, title, tile_url, marked=not redact)
    page.header.add_child(InlineCode("style", DELIVERED_CSS))
    page.header.add_child(InlineCode("script", DELIVERED_JS))
    UnitShiftLines(planned, origin, name="Planned routes", weight=4, opacity=0.45).add_to(m)
    UnitShiftLines(actual, origin, name="GPS tracks (actual)", weight=2, opacity=0.9,
                   dashArray="5 5").add_to(m)
    fields = REDACTED_FIELDS if redact else POPUP_FIELDS
    for status in DRAW_ORDER:
        rows = [_stop_row(r, fields) for r in shown if r.status == status]
        big = status in STANDOUT
        StatusStops(rows, fields, name=f"Stops {STATUS_LABEL[status]} ({counts[status]})",
                    radius=8 if big else 5, weight=3 if big else 1, color="#000000" if big else "#ffffff",
                    fillColor=STATUS_COLOUR[status], fillOpacity=0.95 if big else 0.85).add_to(m)
    folium.Control("Scale", imperial=False).add_to(m)
    folium.LayerControl(position="topright", collapsed=False).add_to(m)
    legend = {"title": f"Planned stops ({len(shown)})",
              "statuses": [[STATUS_LABEL[s], STATUS_COLOUR[s], counts[s], s in STANDOUT] for s in STATUSES],
              "units": sorted([u, c] for u, c in colours.items())}
    StatusLegend(legend, OSM_ATTRIBUTION).add_to(m)
    return page.render()
