"""Printable briefings: one HTML page per unit-shift, what an officer takes out.

Each page has a map extract (an inline SVG of the route on the area's streets,
stops numbered) and the stop list with times, grid references and what to do.
Pages hold no script and load nothing; they print on one A4 sheet where the
route allows. ``briefings/index.html`` links them by day and shift.

In a re-plan, the page of a unit-shift the re-plan changed says so: a line on
what changed, a ring round each changed stop on the extract, a ``change``
column (``added``, ``moved from CX-C1 14:20``, ``retimed from 14:20``) and,
under the stops, the parent's stops this unit-shift no longer makes. The page
of a unit-shift with no change is the parent's, byte for byte (a re-plan takes
those pages from the parent's bundle as they are).
"""

from __future__ import annotations

import html
import math
import re
from datetime import datetime

import numpy as np

from patrols.outputs.roster import to_bng
from patrols.outputs.webmap import (
    CHANGE_COLOUR,
    CHANGE_DASH,
    KIND_FILL,
    change_note,
    dropped_by_route,
    replan_line,
    replan_record,
    unit_colours,
)
from patrols.plan import Plan, Route

FOLDER = "briefings"
SVG_W, SVG_H = 720, 520
# Extra ground shown around the route, as a share of its extent (and at least ~150 m).
MARGIN_SHARE, MARGIN_MIN_DEG = 0.08, 0.0014

_CSS = """
body { font: 12px/1.35 system-ui, sans-serif; margin: 12px; color: #111; }
.banner { background: #b00020; color: #fff; font-weight: 700; text-align: center; letter-spacing: .08em;
  padding: 2px; margin: 0 0 6px; -webkit-print-color-adjust: exact; print-color-adjust: exact; }
.banner.bottom { margin: 6px 0 0; }
h1 { font-size: 17px; margin: 0 0 2px; } p.meta { margin: 0 0 6px; color: #333; }
svg { border: 1px solid #999; background: #f6f5f1; width: 100%; max-width: 720px; height: auto; }
table { border-collapse: collapse; margin-top: 6px; width: 100%; max-width: 720px; }
th, td { border-bottom: 1px solid #ccc; padding: 2px 4px; text-align: left;
  font-variant-numeric: tabular-nums; }
th { background: #eee; }
span.note { font-size: 11px; color: #7a0010; } p.escalation { font-weight: 700; color: #7a0010; }
@page { size: A4; margin: 10mm; }
@media print { a { color: inherit; text-decoration: none; }
  .banner.top { position: fixed; top: 0; left: 0; right: 0; }
  .banner.bottom { position: fixed; bottom: 0; left: 0; right: 0; }
  body { margin: 9mm 0; } }
"""
# Only on the pages of a re-plan's changed unit-shifts (the others keep the parent's bytes).
_CHANGE_CSS = f"""
p.change {{ border-left: 4px solid {CHANGE_COLOUR}; padding-left: 6px; font-weight: 600; }}
td.change {{ font-weight: 700; color: {CHANGE_COLOUR}; }}
h2 {{ font-size: 14px; margin: 10px 0 2px; }}
"""


def briefing_name(route: Route) -> str:
    """File name of a unit-shift's briefing inside the bundle."""
    safe = re.sub(r"[^A-Za-z0-9_-]+", "-", f"{route.unit_id}_{route.date.isoformat()}_{route.shift}")
    return f"{FOLDER}/{safe}.html"


def _frame(route: Route) -> tuple[float, float, float, float]:
    xs = [p[0] for p in route.path] + [s.lon for s in route.stops]
    ys = [p[1] for p in route.path] + [s.lat for s in route.stops]
    w, e, s, n = min(xs), max(xs), min(ys), max(ys)
    mx = max((e - w) * MARGIN_SHARE, MARGIN_MIN_DEG)
    my = max((n - s) * MARGIN_SHARE, MARGIN_MIN_DEG * 0.62)
    return w - mx, s - my, e + mx, n + my


class StreetBoxes:
    """A plan's streets as flat coordinate arrays with bounding boxes, so each page draws only the
    streets in its frame, projected and formatted with numpy.

    Built once per plan: testing every street for every page grew with the
    square of a force's size (600 pages x 200,000 streets), and formatting the
    background point by point in Python was most of a bundle's time.
    """

    def __init__(self, plan: Plan):
        lines = [line for line in plan.streets if len(line) > 1]
        lengths = np.array([len(ln) for ln in lines], dtype=np.int64)
        self.start = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)[:-1]
        self.line_of = np.repeat(np.arange(len(lines)), lengths)
        self.first = np.zeros(int(lengths.sum()), dtype=bool)
        self.first[self.start] = True
        self.points = np.array([pt for ln in lines for pt in ln], dtype=float).reshape(-1, 2)
        if len(lines):
            low = np.minimum.reduceat(self.points, self.start, axis=0)
            high = np.maximum.reduceat(self.points, self.start, axis=0)
            self.box = np.column_stack([low, high])
        else:
            self.box = np.empty((0, 4))

    def within(self, west: float, south: float, east: float, north: float) -> np.ndarray:
        """Indices of the streets whose box meets the frame."""
        b = self.box
        return np.flatnonzero((b[:, 0] <= east) & (b[:, 2] >= west) & (b[:, 1] <= north) & (b[:, 3] >= south))

    def path_d(self, index: np.ndarray, x0: float, kx: float, west: float, y0: float, scale: float,
               north: float) -> str:
        """SVG path data of the streets ``index``, each point at ``x0 + (lon - west) * kx * scale``,
        ``y0 + (north - lat) * scale`` in whole pixels, written as Python's ``.0f`` writes them."""
        if not len(index):
            return ""
        chosen = np.zeros(len(self.box), dtype=bool)
        chosen[index] = True
        keep = chosen[self.line_of]
        pts = self.points[keep]
        seps = np.where(self.first[keep], "M", "L").tolist()
        cols = []
        for v in (x0 + (pts[:, 0] - west) * kx * scale, y0 + (north - pts[:, 1]) * scale):
            r = np.rint(v)
            col: list = r.astype(np.int64).tolist()
            for i in np.flatnonzero((r == 0) & np.signbit(r)).tolist():
                col[i] = "-0"
            cols.append(col)
        return "".join([f"{m}{x},{y}" for m, x, y in zip(seps, cols[0], cols[1], strict=True)])


def route_svg(plan: Plan, route: Route, colour: str, boxes: StreetBoxes | None = None) -> str:
    """An SVG map extract of one route on the streets around it (north up, equal scale).

    Parameters
    ----------
    plan
        The plan (its streets are the background).
    route
        The route to draw.
    colour
        The route's line colour.
    boxes
        The plan's :class:`StreetBoxes` (made here when not given).

    Returns
    -------
    str
        An ``<svg>`` element.
    """
    west, south, east, north = _frame(route)
    kx = math.cos(math.radians((south + north) / 2))  # metres per degree of lon vs lat
    scale = min(SVG_W / ((east - west) * kx), SVG_H / (north - south))
    ox = (SVG_W - (east - west) * kx * scale) / 2
    oy = (SVG_H - (north - south) * scale) / 2

    def xy(lon: float, lat: float) -> str:
        return f"{ox + (lon - west) * kx * scale:.1f},{oy + (north - lat) * scale:.1f}"

    boxes = boxes or StreetBoxes(plan)
    # Whole pixels are enough for the background and keep each page small.
    street_d = boxes.path_d(boxes.within(west, south, east, north), ox, kx, west, oy, scale, north)
    route_d = "M" + " L".join(xy(x, y) for x, y in route.path) if len(route.path) > 1 else ""
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {SVG_W} {SVG_H}" role="img" '
             f'aria-label="map of the route">',
             f'<path d="{street_d}" fill="none" stroke="#b4b8be" stroke-width="1"/>']
    parts += _street_names(plan, (west, south, east, north), xy)
    if route_d:
        parts.append(f'<path d="{route_d}" fill="none" stroke="{colour}" stroke-width="3" '
                     'stroke-linejoin="round" stroke-linecap="round"/>')
    station = route.stops[0]
    sx, sy = xy(station.lon, station.lat).split(",")
    parts.append(f'<rect x="{float(sx) - 7:.1f}" y="{float(sy) - 7:.1f}" width="14" height="14" fill="#fff" '
                 'stroke="#000" stroke-width="2"/>')
    label = html.escape(station.place or f"station {station.ref}")
    parts.append(f'<text x="{float(sx) + 10:.1f}" y="{float(sy) - 9:.1f}" font-size="11" font-weight="700" '
                 f'fill="#000" stroke="#fff" stroke-width="3" paint-order="stroke">{label}</text>')
    parts.append(_north_arrow() + _scale_bar(scale))
    for stop in route.stops[1:-1]:
        cx, cy = xy(stop.lon, stop.lat).split(",")
        if stop.change in CHANGE_DASH and not plan.redacted:
            dash = f' stroke-dasharray="{CHANGE_DASH[stop.change]}"' if CHANGE_DASH[stop.change] else ""
            parts.append(f'<circle cx="{cx}" cy="{cy}" r="13" fill="none" stroke="{CHANGE_COLOUR}" '
                         f'stroke-width="3"{dash}/>')
        fill = KIND_FILL.get(stop.kind, "#ffffff")
        text = "#fff" if stop.kind == "protective" else "#000"
        parts.append(f'<circle cx="{cx}" cy="{cy}" r="9" fill="{fill}" stroke="{colour}" stroke-width="2"/>'
                     f'<text x="{cx}" y="{float(cy) + 3.5:.1f}" text-anchor="middle" font-size="10" '
                     f'font-weight="700" fill="{text}">{stop.seq}</text>')
    parts.append("</svg>")
    return "".join(parts)


# Street names on an extract: at most this many, none overlapping, bigger streets first.
MAX_STREET_NAMES = 40
_CHAR_W, _TEXT_H = 5.6, 11.0


def _street_names(plan: Plan, frame: tuple[float, float, float, float], xy) -> list[str]:
    """SVG text of the plan's street labels inside the frame, along their streets, without overlaps."""
    west, south, east, north = frame
    inside = sorted((lab for lab in plan.street_labels if west < lab[1] < east and south < lab[2] < north),
                    key=lambda lab: (lab[4], lab[0]))
    placed: list[tuple[float, float, float, float]] = []
    out = []
    for name, lon, lat, angle, _rank in inside:
        x, y = (float(v) for v in xy(lon, lat).split(","))
        half_w = len(name) * _CHAR_W / 2
        # The rotated text's bounding box (axis-aligned), for the overlap test.
        a = math.radians(angle)
        bw = abs(half_w * math.cos(a)) + abs(_TEXT_H / 2 * math.sin(a))
        bh = abs(half_w * math.sin(a)) + abs(_TEXT_H / 2 * math.cos(a))
        box = (x - bw, y - bh, x + bw, y + bh)
        if box[0] < 0 or box[2] > SVG_W or box[1] < 0 or box[3] > SVG_H:
            continue
        if any(box[0] < b[2] and b[0] < box[2] and box[1] < b[3] and b[1] < box[3] for b in placed):
            continue
        placed.append(box)
        # SVG's y axis points down, so a street rising to the north-east turns the text anticlockwise.
        out.append(f'<text x="{x:.1f}" y="{y:.1f}" transform="rotate({-angle:.0f} {x:.1f} {y:.1f})" '
                   f'text-anchor="middle" dominant-baseline="middle" font-size="9" fill="#555" '
                   f'stroke="#f6f5f1" stroke-width="2.5" paint-order="stroke">{html.escape(name)}</text>')
        if len(out) >= MAX_STREET_NAMES:
            break
    return out


def _north_arrow() -> str:
    """A north arrow in the top right corner (the extract is drawn north up)."""
    x, y = SVG_W - 26, 14
    return (f'<g aria-label="north"><path d="M{x},{y} L{x + 8},{y + 22} L{x},{y + 17} L{x - 8},{y + 22} Z" '
            'fill="#111"/>'
            f'<text x="{x}" y="{y + 36}" text-anchor="middle" font-size="12" font-weight="700">N</text></g>')


def _scale_bar(px_per_deg_lat: float) -> str:
    """A scale bar in the bottom left corner: a round length of about a fifth of the extract."""
    metres_per_px = 111_320.0 / px_per_deg_lat
    target = SVG_W / 5 * metres_per_px
    length = max((n for n in (10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 2500, 5000, 10000, 20000)
                  if n <= target), default=10)
    w = length / metres_per_px
    x, y = 12, SVG_H - 14
    text = f"{length / 1000:g} km" if length >= 1000 else f"{length} m"
    return (f'<g aria-label="scale"><rect x="{x - 4}" y="{y - 18}" width="{w + 8:.1f}" height="26" '
            f'fill="#fff" fill-opacity="0.8"/><path d="M{x},{y - 5} V{y} H{x + w:.1f} V{y - 5}" fill="none" '
            f'stroke="#111" stroke-width="2"/><text x="{x}" y="{y - 8}" font-size="11">{text}</text></g>')


def _changed(plan: Plan, route: Route, dropped: list[dict]) -> bool:
    """Whether the route's page shows a re-plan's changes: it has a changed stop or a dropped one."""
    return not plan.redacted and (bool(dropped) or any(s.change for s in route.stops))


def _change_line(plan: Plan, route: Route, dropped: list[dict]) -> str:
    """What the re-plan changed on this unit-shift, in one line."""
    record = replan_record(plan) or {}
    counts = {name: sum(1 for s in route.stops if s.change == name) for name in CHANGE_DASH}
    said = [f"{counts['moved']} moved to this unit", f"{counts['retimed']} retimed",
            f"{counts['added']} added", f"{len(dropped)} dropped"]
    start = record.get("from", "")
    when = f" from {datetime.fromisoformat(start):%a %d %b %H:%M}" if start else ""
    return (f"Re-planned{when} (parent plan {record.get('parent', '?')}): " + ", ".join(said)
            + " stops; the others as in the parent plan.")


def _dropped_table(route: Route, dropped: list[dict]) -> str:
    """The parent's stops this unit-shift no longer makes: time, kind, ref, place."""
    e = html.escape
    rows = "\n".join(
        f"<tr><td>{datetime.fromisoformat(d['arrive']):%H:%M}</td><td>{e(d['kind'])}</td><td>{e(d['ref'])}</td>"
        f"<td>{e(d.get('place', ''))}</td></tr>" for d in dropped)
    return ("<h2>Dropped since the parent plan</h2>\n<table><thead><tr><th>was at</th><th>what</th>"
            f"<th>ref</th><th>place</th></tr></thead><tbody>\n{rows}\n</tbody></table>\n")


def briefing_html(plan: Plan, route: Route, colour: str = "#1f77b4", boxes: StreetBoxes | None = None,
                  dropped: list[dict] | None = None) -> str:
    """The printable briefing of one unit-shift.

    Parameters
    ----------
    plan
        The plan the route is part of.
    route
        The unit-shift.
    colour
        The unit's colour (as on the map).
    boxes
        The plan's :class:`StreetBoxes` (made here when not given).
    dropped
        In a re-plan, the parent's stops this unit-shift no longer makes (items of
        ``extra["replan"]["dropped"]``); read from the plan when not given.

    Returns
    -------
    str
        A self-contained HTML page.
    """
    e = html.escape
    if dropped is None:
        dropped = dropped_by_route(replan_record(plan)).get(route.key, [])
    changed = _changed(plan, route, dropped)
    east, north = to_bng([s.lon for s in route.stops], [s.lat for s in route.stops])
    rows = []
    for stop, ea, no in zip(route.stops, east, north, strict=True):
        dwell = f"{stop.dwell_min:.0f} min" if stop.arrive and stop.depart else ""
        what = e("station" if stop.kind == "station" else stop.kind)
        if stop.note and not plan.redacted:  # the event or escalation the visit is for
            what += f'<br><span class="note">{e(stop.note)}</span>'
        change = f'<td class="change">{e(change_note(stop))}</td>' if changed else ""
        rows.append(
            f"<tr><td>{stop.seq}</td><td>{f'{stop.arrive:%H:%M}' if stop.arrive else ''}</td>"
            f"<td>{f'{stop.depart:%H:%M}' if stop.depart else ''}</td><td>{dwell}</td>"
            f"<td>{what}</td><td>{e(stop.ref)}</td><td>{e(stop.place)}</td><td>{ea:.0f} {no:.0f}</td>"
            f"<td>{stop.lat:.5f}, {stop.lon:.5f}</td>{change}</tr>")
    banner = "" if plan.redacted else '<div class="banner top">OFFICIAL-SENSITIVE</div>'
    footer = "" if plan.redacted else '<div class="banner bottom">OFFICIAL-SENSITIVE</div>'
    title = f"{route.unit_id}: {route.date:%A %d %B %Y}, {route.shift} shift"
    return (
        "<!DOCTYPE html>\n<html lang=\"en-GB\"><head><meta charset=\"utf-8\">"
        "<meta http-equiv=\"Content-Security-Policy\" "
        "content=\"default-src 'none'; style-src 'unsafe-inline'\">"
        f"<title>{e(title)}</title><style>{_CSS}{_CHANGE_CSS if changed else ''}</style></head><body>\n"
        f"{banner}<h1>{e(title)}</h1>"
        f"<p class=\"meta\">{e(plan.area)} · {e(route.mode)} from station {e(route.station_id)} · "
        f"{route.start:%H:%M}–{route.end:%H:%M} · {route.km:.1f} km · {len(route.stops) - 2} stops · "
        f"planned {route.busy_min:.0f} min of the shift</p>\n"
        + (f'<p class="meta change">{e(_change_line(plan, route, dropped))}</p>\n' if changed else "")
        + "".join(f'<p class="meta escalation">{e(n[0].upper() + n[1:])}: a visit at least every '
                  f'{_every(plan, n)} through the watch.</p>\n' for n in _escalations(plan, route))
        + f"{route_svg(plan, route, colour, boxes)}\n"
        "<table><thead><tr><th>#</th><th>arrive</th><th>leave</th><th>stay</th><th>what</th><th>ref</th>"
        "<th>place</th><th>grid ref (E N)</th><th>lat, lon</th>" + ("<th>change</th>" if changed else "")
        + "</tr></thead><tbody>\n" + "\n".join(rows) + "\n</tbody></table>\n"
        + (_dropped_table(route, dropped) if changed and dropped else "")
        + f"{footer}</body></html>\n"
    )


def _escalations(plan: Plan, route: Route) -> list[str]:
    """The escalation notes of the route's visits, each once, in route order."""
    if plan.redacted:
        return []
    return list(dict.fromkeys(s.note for s in route.stops if s.note.startswith("escalation")))


def _every(plan: Plan, note: str) -> str:
    """The watch's interval in words (``2 hours``) for an escalation note."""
    hours = next((e["every_h"] for e in plan.extra.get("escalations", ())
                  if f" {e['event_id']} " in f"{note} "), None)
    return "few hours" if hours is None else f"{hours:g} hours"


def briefings(plan: Plan, only: set[str] | None = None) -> dict[str, str]:
    """Every briefing page and their index, by file name inside the bundle.

    Parameters
    ----------
    plan
        The plan.
    only
        Route keys (``unit/date/shift``) whose pages to make; all when ``None``.

    Returns
    -------
    dict
        ``briefings/index.html`` and one ``briefings/<unit>_<date>_<shift>.html`` per unit-shift.
    """
    colours = unit_colours(plan)
    boxes = StreetBoxes(plan)
    record = replan_record(plan)
    dropped = dropped_by_route(record)
    pages = {briefing_name(r): briefing_html(plan, r, colours[r.unit_id], boxes, dropped.get(r.key, []))
             for r in plan.routes if only is None or r.key in only}
    items, day = [], None
    for r in sorted(plan.routes, key=lambda r: (r.start, r.unit_id)):
        if (r.date, r.shift) != day:
            day = (r.date, r.shift)
            items.append(f"<h2>{r.date:%a %d %b} {html.escape(r.shift)}</h2>")
        link = briefing_name(r).split("/", 1)[1]
        note = " · changed since the parent plan" if _changed(plan, r, dropped.get(r.key, [])) else ""
        items.append(f'<p><a href="{html.escape(link)}">{html.escape(r.unit_id)}</a> '
                     f"({html.escape(r.mode)}, {len(r.stops) - 2} stops, {r.km:.1f} km){note}</p>")
    if record:
        # The parent's unit-shifts that are gone (a unit off the whole shift): no page; their stops counted.
        keys = {r.key for r in plan.routes}
        gone = [(k, ds) for k, ds in dropped.items() if k not in keys]
        if gone:
            items.append("<h2>Unit-shifts no longer planned</h2>")
        items += [f"<p>{html.escape(k)}: {len(ds)} stops dropped since the parent plan</p>" for k, ds in gone]
    head = f'<p class="meta">{html.escape(replan_line(record))}</p>\n' if record else ""
    banner = "" if plan.redacted else '<div class="banner">OFFICIAL-SENSITIVE</div>'
    pages[f"{FOLDER}/index.html"] = (
        "<!DOCTYPE html>\n<html lang=\"en-GB\"><head><meta charset=\"utf-8\">"
        f"<title>Briefings</title><style>{_CSS} h2 {{ font-size: 14px; margin: 10px 0 2px; }} "
        "p { margin: 0; }</style></head><body>\n"
        f"{banner}<h1>{html.escape(plan.area)}: briefings, week of {plan.week_start.isoformat()}</h1>\n"
        + head + "\n".join(items) + "\n</body></html>\n")
    return pages
