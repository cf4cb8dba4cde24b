"""delivered.html (issue 14 item 3): the plan beside what was delivered, one offline file.

The demo week with 30 s tracks (20 stops skipped, 10 cut, one unit-shift with no pings and three
stops marked late): one self-contained page under a hash-only policy, every status's markers with
the right counts, tracks thinned but whole, a redacted map with no time and nothing near or naming
a site, and a size bound. In Chromium (when there is one) the page opens offline with no console
error.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections import Counter
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from test_browser_map import Browser, find_chromium, inline_hashes, policy
from test_outputs_redact import _words

from patrols.area import VisitRule
from patrols.delivered.measure import STATUSES, measure_plan
from patrols.delivered.report import visible
from patrols.delivered.simulate import choose_faults, make_tracks
from patrols.delivered.tracks import Pings
from patrols.delivered.webmap import STATUS_COLOUR, STATUS_LABEL, delivered_map_html
from patrols.outputs import assets

CLEARANCE_M = 50.0
# The demo week's map with 30 s tracks measured 1.29 MB (the plan's own map.html is 0.94 MB, 0.25 MB of
# it the streets); 5 s tracks (six times the pings) 1.40 MB. The bound leaves room for a bigger plan.
MAX_BYTES = 2_000_000


@pytest.fixture(scope="module")
def week(demo_week):
    """The demo plan, its tracks (one unit-shift without pings) and each stop's status (three late)."""
    _, _, plan = demo_week
    skip, cut = choose_faults(plan, 20, 10, 0)
    tracks = make_tracks(plan, 30, 15.0, 1, skip, cut)
    # A unit-shift whose unit sent nothing: its stops are no_data and it has no track.
    silent = max(plan.routes, key=lambda r: (len(r.stops), r.key))
    p = tracks[silent.unit_id]
    off = (p.t >= silent.start.timestamp() - 3600) & (p.t <= silent.end.timestamp() + 3600)
    tracks = {**tracks, silent.unit_id: Pings(p.unit_id, p.t[~off], p.lat[~off], p.lon[~off])}
    results = measure_plan(plan, tracks, VisitRule())
    done = [k for k, r in enumerate(results) if r.status == "done"]
    for k in done[5:8]:
        results[k] = replace(results[k], status="late")
    return plan, tracks, results, silent


@pytest.fixture(scope="module")
def page(week) -> str:
    plan, tracks, results, _ = week
    return delivered_map_html(plan, results, tracks)


@pytest.fixture(scope="module")
def redacted(week) -> str:
    plan, tracks, results, _ = week
    return delivered_map_html(plan, results, tracks, redact=True, clearance_m=CLEARANCE_M)


def blocks(page: str, kind: str) -> list[dict]:
    """The JSON blocks of one kind of layer (``unit-shift-lines``, ``status-stops``), in page order."""
    return [json.loads(m.group(1)) for m in
            re.finditer(rf'<script type="application/json" id="{kind}-[0-9a-f]+-data">(.*?)</script>', page)]


def decoded(block: dict) -> list[tuple[str, list[list[tuple[float, float]]]]]:
    """Each line of a ``unit-shift-lines`` block: its label and its parts as (lon, lat)."""
    out = []
    for label, _, parts in block["lines"]:
        lines = []
        for steps in parts:
            x, y = block["origin"]
            line = []
            for i in range(0, len(steps), 2):
                x, y = x + steps[i], y + steps[i + 1]
                line.append((x / block["scale"], y / block["scale"]))
            lines.append(line)
        out.append((label, lines))
    return out


STATUS_NAMES = {colour: status for status, colour in STATUS_COLOUR.items()}


def call_argument(page: str, call: str) -> dict:
    """The object given after the first argument of a call in the page's script."""
    at = page.index(call) + len(call)
    return json.JSONDecoder().raw_decode(page, page.index("{", at))[0]


def stop_styles(page: str) -> list[dict]:
    """The marker options of each layer of stops."""
    out, at = [], 0
    while (at := page.find("L.patrols.delivered.stops(", at) + 1) > 0:
        out.append(call_argument(page[at - 1:], "L.patrols.delivered.stops("))
    return out


def metres(lon: float, lat: float, lon0: float, lat0: float) -> tuple[float, float]:
    """A point's offset from another, in metres on a plane through the other."""
    return (lon - lon0) * 111_320.0 * np.cos(np.radians(lat0)), (lat - lat0) * 111_320.0


def nearest_site_m(plan, line: list[tuple[float, float]]) -> float:
    """How near any point or segment of a line comes to a protected site, in metres."""
    lon, lat = np.array(line).T
    slon, slat = (np.array([[getattr(s, k)] for s in plan.sites]) for k in ("lon", "lat"))
    x, y = metres(lon[None, :], lat[None, :], slon, slat)  # a row per site
    ax, ay, dx, dy = x[:, :-1], y[:, :-1], np.diff(x), np.diff(y)
    u = np.clip(-(ax * dx + ay * dy) / np.maximum(dx * dx + dy * dy, 1e-12), 0.0, 1.0)
    return float(np.hypot(ax + u * dx, ay + u * dy).min())


# ---------------------------------------------------------------------------------- one offline file

def test_one_file_that_links_to_nothing(page: str) -> None:
    tags: list[tuple[str, dict[str, str | None]]] = []

    class Tags(HTMLParser):
        def handle_starttag(self, tag, attrs):
            tags.append((tag, dict(attrs)))

    Tags().feed(page)
    assert {t for t, _ in tags} >= {"script", "style", "div"}
    assert not [(t, a) for t, a in tags if {"src", "href", "data", "srcset", "poster"} & set(a)]
    assert "@import" not in page and "sourceMappingURL" not in page
    assert not re.search(r"url\(\s*['\"]?(?:https?:)?//", page)
    leaflet = assets.leaflet_assets()
    assert leaflet.js.replace("</", "<\\/") in page and leaflet.css in page
    assert "OFFICIAL-SENSITIVE" in page


def test_policy_hashes_every_inline_script_and_style(page: str) -> None:
    scripts, styles = inline_hashes(page)
    rules = policy(page)
    assert set(rules["script-src"]) == scripts and set(rules["style-src"]) == styles
    assert rules["default-src"] == ["'none'"] and rules["img-src"] == ["data:"]
    sources = {s for v in rules.values() for s in v}
    assert not {"'unsafe-inline'", "'unsafe-eval'", "'unsafe-hashes'"} & sources


def test_tile_url_lets_only_that_host(week) -> None:
    plan, _, results, _ = week
    page = delivered_map_html(plan, results[:50], {}, tile_url="https://tiles.force.police.uk/{z}/{x}/{y}.png")
    assert policy(page)["img-src"] == ["data:", "https://tiles.force.police.uk"]


# ---------------------------------------------------------------------------------- what it shows

def test_markers_carry_each_status_with_the_right_counts(week, page: str) -> None:
    _, _, results, silent = week
    counts = Counter(r.status for r in results)
    assert all(counts[s] for s in STATUSES), counts  # the fixture has every status
    assert counts["late"] == 3 and counts["no_data"] >= len(silent.stops) - 2
    stops = blocks(page, "status-stops")
    shown = Counter(row[2 + stops[0]["fields"].index("status")] for b in stops for row in b["stops"])
    assert shown == {STATUS_LABEL[s]: n for s, n in counts.items()}
    for s in STATUSES:
        assert f"Stops {STATUS_LABEL[s]} ({counts[s]})" in page  # the layer control's names
    # Missed and short stand out: larger and outlined in black; the rest small with a white rim.
    styles = {STATUS_NAMES[st["fillColor"]]: st for st in stop_styles(page)}
    assert set(styles) == set(STATUSES)
    for s, st in styles.items():
        big = s in ("missed", "short")
        assert (st["radius"], st["color"]) == ((8, "#000000") if big else (5, "#ffffff")), s
    legend = call_argument(page, "L.patrols.delivered.legend(")
    assert legend["title"] == f"Planned stops ({len(results)})"
    assert [[row[0], row[2]] for row in legend["statuses"]] == [[STATUS_LABEL[s], counts[s]]
                                                                 for s in STATUSES]
    # A popup has the unit-shift, the planned time, the status, first seen, minutes present and the place.
    missed = next(r for r in results if r.status == "missed")
    visit = f"{missed.stop.kind} {missed.stop.ref}"
    row = next(row for b in stops for row in b["stops"] if row[2].startswith(missed.route.unit_id)
               and row[-1] == visit and row[3].startswith(f"{missed.stop.arrive:%H:%M}"))
    assert stops[0]["fields"] == ["unit-shift", "planned", "status", "first seen", "present", "place",
                                  "visit"]
    seen = "not seen" if missed.first_seen is None else f"{missed.first_seen:%H:%M}"
    assert row[4:] == ["missed", seen, f"{missed.minutes_present:.1f} min", missed.stop.place, visit]


def test_each_unit_shift_has_its_route_and_its_track_thinned_not_cut_short(week, page: str) -> None:
    plan, tracks, _, silent = week
    routes, tracks_drawn = (dict(decoded(b)) for b in blocks(page, "unit-shift-lines"))
    label = "{0.unit_id} · {0.date:%a %d %b} · {0.shift}".format
    assert set(routes) == {f"{label(r)}: planned route" for r in plan.routes}
    assert set(tracks_drawn) == {f"{label(r)}: GPS track" for r in plan.routes if r is not silent}
    points = sum(len(part) for parts in tracks_drawn.values() for part in parts)
    pings = sum(len(p.t) for p in tracks.values())
    assert 0.2 * pings < points < pings  # thinned (a unit standing still is fewer points), not emptied
    # The planned route is the plan's street path, to 1e-5 degree.
    r = plan.routes[0]
    drawn = routes[f"{label(r)}: planned route"]
    assert len(drawn) == 1 and np.allclose(drawn[0], r.path, atol=6e-6)
    # A track ends and starts again around a gap in the pings: no straight line across it.
    track = tracks_drawn[f"{label(r)}: GPS track"]
    assert len(track) == 1
    p = tracks[r.unit_id]
    mid = (r.start.timestamp() + r.end.timestamp()) / 2
    hole = (p.t > mid - 1800) & (p.t < mid + 1800)
    gapped = {**tracks, r.unit_id: Pings(p.unit_id, p.t[~hole], p.lat[~hole], p.lon[~hole])}
    other = delivered_map_html(plan, [], gapped)
    assert len(dict(decoded(blocks(other, "unit-shift-lines")[1]))[f"{label(r)}: GPS track"]) == 2


def test_redacted_map_shows_nothing_near_or_naming_a_site(week, redacted: str) -> None:
    plan, _, results, _ = week
    assert plan.sites
    words = sorted(_words(plan), key=len, reverse=True)  # site ids, kinds, labels, "protective"...
    naming = re.compile(r"(?<![A-Za-z0-9])(?:" + "|".join(map(re.escape, words)) + r")(?![A-Za-z0-9])", re.I)
    assert naming.findall(redacted) == []
    assert "OFFICIAL-SENSITIVE" not in redacted
    # Stops: those of the redacted report, none protective, none near a site.
    shown = visible(plan, results, True, CLEARANCE_M)
    stops = [row for b in blocks(redacted, "status-stops") for row in b["stops"]]
    assert len(stops) == len(shown) < len(results)
    assert not [row for row in stops if not row[-1].startswith("hotspot ")]
    # ... and no time: the gaps between hotspot visits would tell when a protective visit was made.
    fields = blocks(redacted, "status-stops")[0]["fields"]
    assert fields == ["unit-shift", "status", "present", "place", "visit"]
    assert not [row for row in stops if re.search(r"\d\d:\d\d", " ".join(map(str, row[2:])))]
    for lat, lon, *_ in stops:
        assert min(math.hypot(*metres(lon, lat, s.lon, s.lat)) for s in plan.sites) > CLEARANCE_M
    # No line at all: a route or a track cut at each site's clearance would leave a gap centred on it.
    lines = [part for b in blocks(redacted, "unit-shift-lines") for _, parts in decoded(b) for part in parts]
    assert lines == []
    # ... while the full map's lines do come near sites.
    full = delivered_map_html(plan, results, week[1])
    assert naming.findall(full)
    full_lines = [part for b in blocks(full, "unit-shift-lines")[1:]
                  for _, parts in decoded(b) for part in parts]
    assert min(nearest_site_m(plan, line) for line in full_lines) < 10.0


def test_a_redacted_plan_is_always_shown_redacted(week) -> None:
    plan, tracks, results, _ = week
    forced = delivered_map_html(replace(plan, redacted=True), results, tracks)
    assert "OFFICIAL-SENSITIVE" not in forced
    assert not [row for b in blocks(forced, "status-stops") for row in b["stops"] if "protective" in row[-1]]


def test_demo_week_map_is_small_and_quick(week, page: str) -> None:
    plan, _, results, _ = week
    assert len(page.encode()) < MAX_BYTES, len(page.encode())
    # Six times the pings (every 5 s) is about the same page: tracks are thinned for drawing.
    skip, cut = choose_faults(plan, 20, 10, 0)
    dense = make_tracks(plan, 5, 15.0, 1, skip, cut)
    began = time.perf_counter()
    text = delivered_map_html(plan, results, dense)
    took = time.perf_counter() - began
    assert len(text.encode()) < MAX_BYTES, len(text.encode())
    assert took < 10.0, took


# ---------------------------------------------------------------------------------------- in a browser

def test_map_opens_offline_without_console_errors(week, page: str, redacted: str, tmp_path: Path) -> None:
    binary = find_chromium()
    if binary is None:
        pytest.skip("Chromium is not installed; set $CHROMIUM to a binary")
    _, _, results, _ = week
    counts = Counter(r.status for r in results)
    browser = Browser(binary)
    try:
        for name, text in (("delivered.html", page), ("delivered-redacted.html", redacted)):
            path = tmp_path / name
            path.write_text(text, encoding="utf-8")
            browser.open(path)
            state = browser.evaluate(
                "(function(){var by={}; patrolsDelivered.map.eachLayer(function(l){"
                "  if (l instanceof L.CircleMarker) { var k=l.options.fillColor+'/'+l.options.radius+'/'"
                "    +l.options.color; by[k]=(by[k]||0)+1; }});"
                " return {markers: by, legend: document.getElementById('delivered-legend').textContent,"
                "  layers: document.querySelector('.leaflet-control-layers').textContent};})()")
            if name == "delivered.html":
                big = {"short", "missed"}
                assert state["markers"] == {
                    f"{STATUS_COLOUR[s]}/{8 if s in big else 5}/{'#000000' if s in big else '#ffffff'}": n
                    for s, n in counts.items()}
                for s in STATUSES:
                    assert f"{STATUS_LABEL[s]}: {counts[s]}" in state["legend"]
                # A missed stop's popup.
                red = STATUS_COLOUR["missed"]
                text = browser.evaluate(
                    "(function(){var m; patrolsDelivered.map.eachLayer(function(l){ if (!m && l instanceof"
                    f" L.CircleMarker && l.options.fillColor === '{red}') {{ m = l; }}}}); m.openPopup();"
                    " return document.querySelector('.leaflet-popup-content').textContent;})()")
                assert "status missed" in text and "first seen" in text and "present" in text
            assert "Planned routes" in state["layers"] and "GPS tracks (actual)" in state["layers"]
            time.sleep(0.2)
            browser.call("Runtime.evaluate", expression="1")  # drain late events
            assert browser.problems() == [] and browser.outside_requests() == [], name
    finally:
        browser.close()
