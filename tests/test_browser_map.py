"""map.html in a real browser: headless Chromium, network blocked, over the DevTools protocol.

The page is opened from a file with every outside route shut (an unreachable
proxy, a host resolver that resolves nothing, and DevTools' offline mode). The
harness records every request the page makes, every console message and
uncaught exception, and takes screenshots whose pixels are counted to prove the
routes are drawn.

Run as a script it measures a map (load time, size) and can save a screenshot::

    .venv/bin/python tests/test_browser_map.py maps/westminster-demo/map.html --screenshot docs/demo-map.png
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import folium
import pytest

from patrols.outputs.briefing import briefing_name
from patrols.outputs.redaction import redact
from patrols.outputs.webmap import map_html, unit_colours
from patrols.plan import Plan, Route, load_plan

FIXTURE = Path(__file__).parent / "data" / "outputs_plan.json"
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")
LOCAL_SCHEMES = ("file:", "data:", "blob:", "about:", "chrome-error:", "devtools:")


def find_chromium() -> str | None:
    """The Chromium binary: ``$CHROMIUM`` or the first on PATH."""
    if os.environ.get("CHROMIUM"):
        return os.environ["CHROMIUM"]
    return next((p for p in map(shutil.which, CHROMIUM_NAMES) if p), None)


class Browser:
    """Headless Chromium with no way out, driven over the DevTools protocol (one page)."""

    def __init__(self, binary: str, width: int = 1280, height: int = 800) -> None:
        import websocket  # websocket-client, a dev dependency

        self.profile = tempfile.mkdtemp(prefix="patrols-chromium-")
        self.proc = subprocess.Popen(
            [binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--no-first-run", "--no-default-browser-check",
             "--disable-extensions", "--mute-audio", f"--user-data-dir={self.profile}",
             # The network is blocked three ways: nothing resolves, every request goes to a dead
             # proxy, and (below) DevTools puts the page offline.
             "--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=http://127.0.0.1:9",
             "--remote-debugging-port=0", f"--window-size={width},{height}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        port_file = Path(self.profile) / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not port_file.is_file() or not port_file.read_text().strip():
            if time.monotonic() > deadline or self.proc.poll() is not None:
                self.close()
                raise RuntimeError("Chromium did not start its DevTools endpoint")
            time.sleep(0.05)
        port = int(port_file.read_text().split()[0])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as resp:
            targets = json.load(resp)
        page = next(t for t in targets if t.get("type") == "page")
        self.ws = websocket.create_connection(page["webSocketDebuggerUrl"], timeout=30,
                                              suppress_origin=True)
        self.next_id = 0
        self.events: list[dict[str, Any]] = []
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.call(f"{domain}.enable")
        self.call("Network.emulateNetworkConditions", offline=True, latency=0, downloadThroughput=-1,
                  uploadThroughput=-1)
        self.call("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1,
                  mobile=False)

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        """Send one command and return its result; events that arrive meanwhile are kept."""
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == self.next_id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            if "method" in msg:
                self.events.append(msg)

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page."""
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def open(self, path: Path, ready: str = "document.body && document.body.dataset.ready === '1'",
             timeout: float = 60.0) -> float:
        """Open a file and wait until ``ready`` is true; returns the seconds that took."""
        self.events.clear()
        began = time.perf_counter()
        self.call("Page.navigate", url=path.resolve().as_uri())
        deadline = time.monotonic() + timeout
        while not self.evaluate(f"Boolean({ready})"):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{path} was not ready after {timeout:.0f} s")
            time.sleep(0.05)
        took = time.perf_counter() - began
        self.evaluate("new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
        return took

    def requests(self) -> list[str]:
        """URLs of every request the page made since it was opened."""
        return [e["params"]["request"]["url"] for e in self.events
                if e["method"] == "Network.requestWillBeSent"]

    def outside_requests(self) -> list[str]:
        """Requests to anything but the page's own file and inline data."""
        return [u for u in self.requests() if not u.startswith(LOCAL_SCHEMES)]

    def problems(self) -> list[str]:
        """Console errors and warnings, uncaught exceptions and browser log errors."""
        out = []
        for e in self.events:
            p = e["params"]
            if e["method"] == "Runtime.consoleAPICalled" and p["type"] in ("error", "warning", "assert"):
                out.append(f"console.{p['type']}: " + " ".join(str(a.get("value", a.get("description")))
                                                           for a in p["args"]))
            elif e["method"] == "Runtime.exceptionThrown":
                d = p["exceptionDetails"]
                out.append(f"exception: {d.get('exception', {}).get('description', d.get('text'))}")
            elif e["method"] == "Log.entryAdded" and p["entry"]["level"] in ("error", "warning"):
                out.append(f"log.{p['entry']['level']}: {p['entry']['text']} {p['entry'].get('url', '')}")
        return out

    def screenshot(self) -> bytes:
        """The viewport as PNG bytes."""
        return base64.b64decode(self.call("Page.captureScreenshot", format="png")["data"])

    def close(self) -> None:
        """Stop Chromium and remove its profile."""
        try:
            if getattr(self, "ws", None) is not None:
                self.ws.close()
        finally:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
            shutil.rmtree(self.profile, ignore_errors=True)


def colour_pixels(png: bytes, colours: list[str], tolerance: int = 10) -> dict[str, int]:
    """How many pixels of a PNG are within ``tolerance`` (per channel) of each colour."""
    import numpy as np
    from PIL import Image

    rgb = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)
    out = {}
    for c in colours:
        target = np.array([int(c[i:i + 2], 16) for i in (1, 3, 5)])
        out[c] = int((np.abs(rgb - target).max(axis=2) <= tolerance).sum())
    return out


HIDE_PANELS = ("document.querySelector('.leaflet-control-container').style.display='none';"
               "var b=document.getElementById('banner'); if (b) b.style.display='none'; true")
DRAWN = "new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))"


def shift_label(route: Route) -> str:
    """How the page's select names a unit-shift."""
    return f"{route.unit_id} · {route.date:%a %d %b} · {route.shift}"


def select(browser: Browser, label: str) -> None:
    """Pick a unit-shift (or "" for all units) in the page's select, as a person would."""
    browser.evaluate(
        "(function(){var s=document.getElementById('pick');"
        f"var t={json.dumps(label)}, o=[...s.options].find(o => o.value === t || o.textContent === t);"
        "s.value=o.value; s.dispatchEvent(new Event('change')); return true;})()")
    browser.evaluate(DRAWN)


def inline_hashes(page: str) -> tuple[set[str], set[str]]:
    """SHA-256 sources of every executable inline script and every inline style, as a browser parses them."""
    from html.parser import HTMLParser

    found: dict[str, set[str]] = {"script": set(), "style": set()}

    class Inline(HTMLParser):
        tag: str | None = None

        def handle_starttag(self, tag, attrs):
            runs = tag == "style" or (tag == "script" and not dict(attrs).get("type"))
            self.tag, self.text = (tag, []) if runs else (None, [])

        def handle_data(self, data):
            if self.tag:
                self.text.append(data)

        def handle_endtag(self, tag):
            if self.tag == tag:
                digest = hashlib.sha256("".join(self.text).encode()).digest()
                found[tag].add(f"'sha256-{base64.b64encode(digest).decode()}'")
            self.tag = None

    Inline(convert_charrefs=False).feed(page)
    return found["script"], found["style"]


def policy(page: str) -> dict[str, list[str]]:
    """The page's Content-Security-Policy meta tag, by directive."""
    content = re.search(r'<meta http-equiv="Content-Security-Policy" content="([^"]*)"', page).group(1)
    return {d.split()[0]: d.split()[1:] for d in content.split(";") if d.strip()}


def later(route: Route, days: int) -> Route:
    """The route made ``days`` later (the fixture has one day only)."""
    step = timedelta(days=days)
    stops = tuple(replace(s, arrive=s.arrive and s.arrive + step, depart=s.depart and s.depart + step)
                  for s in route.stops)
    return replace(route, date=route.date + step, start=route.start + step, end=route.end + step, stops=stops)


def copied_plan(plan: Plan, copies: int) -> Plan:
    """The plan with every unit ``copies`` times (ids suffixed): a force-sized map from a smaller plan."""
    routes = tuple(replace(r, unit_id=f"{r.unit_id}-{k}") for k in range(copies) for r in plan.routes)
    return replace(plan, routes=routes)


# ---------------------------------------------------------------------------------------------- tests

@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    binary = find_chromium()
    if binary is None:
        pytest.skip("Chromium is not installed and could not be installed here (make test tries "
                    "`apt-get install -y chromium` when run as root); set $CHROMIUM to a binary")
    b = Browser(binary)
    try:
        yield b
    finally:
        b.close()


@pytest.fixture(scope="module")
def plan() -> Plan:
    return load_plan(FIXTURE)


@pytest.fixture(scope="module")
def page(plan: Plan) -> str:
    return map_html(plan)


def _write(tmp: Path, name: str, text: str) -> Path:
    path = tmp / name
    path.write_text(text, encoding="utf-8")
    return path


def test_harness_sees_outside_requests_and_console_errors(browser: Browser, tmp_path: Path) -> None:
    # The negative control: a page that does reach out and does log an error must be caught.
    page = _write(tmp_path, "leaky.html",
                  '<!DOCTYPE html><html><body><img src="https://tiles.example.com/1/2/3.png">'
                  '<script src="http://cdn.example.com/lib.js"></script>'
                  "<script>console.error('boom'); document.body.dataset.ready='1'</script></body></html>")
    browser.open(page)
    time.sleep(0.3)
    browser.call("Runtime.evaluate", expression="1")  # drain late events
    outside = browser.outside_requests()
    assert any("tiles.example.com" in u for u in outside), browser.requests()
    assert any("cdn.example.com" in u for u in outside), browser.requests()
    assert any("boom" in p for p in browser.problems()), browser.problems()


def test_harness_sees_a_script_the_policy_does_not_hash(browser: Browser, page: str, tmp_path: Path) -> None:
    # The policy's negative control: one changed byte in the map's script and Chromium refuses to run it,
    # says so on the console, and the page never becomes ready.
    assert page.count(".start();") == 1
    tampered = _write(tmp_path, "tampered.html", page.replace(".start();", ".start(); "))
    with pytest.raises(TimeoutError):
        browser.open(tampered, timeout=1.5)
    browser.call("Runtime.evaluate", expression="1")
    assert any("Content Security Policy" in p for p in browser.problems()), browser.problems()


def test_policy_hashes_every_inline_script_and_style_and_nothing_else(page: str) -> None:
    scripts, styles = inline_hashes(page)
    rules = policy(page)
    assert len(scripts) >= 4 and len(styles) >= 4  # Leaflet, folium's, the plugin's, the map's own
    assert set(rules["script-src"]) == scripts and set(rules["style-src"]) == styles
    assert rules["default-src"] == ["'none'"] and rules["img-src"] == ["data:"]
    sources = {s for v in rules.values() for s in v}
    assert not {"'unsafe-inline'", "'unsafe-eval'", "'unsafe-hashes'"} & sources
    assert page.encode().index(b'<meta name="referrer"') < 8192  # the service reads the policy there


def test_map_is_folium_offline_and_draws_every_unit(browser: Browser, plan: Plan, page: str,
                                                     tmp_path: Path) -> None:
    browser.open(_write(tmp_path, "map.html", page))
    state = browser.evaluate(
        "({folium: Object.keys(window).filter(k => /^map_[0-9a-f]{32}$/.test(k)"
        "   && window[k] instanceof L.Map),"
        " div: document.querySelector('.folium-map').id,"
        " same: patrolsMap.map === window[document.querySelector('.folium-map').id],"
        " routes: patrolsMap.routes, shown: patrolsMap.shown, leaflet: L.version,"
        " banner: !!document.getElementById('banner'),"
        " slots: document.querySelectorAll('input[data-slot]').length,"
        " units: document.querySelectorAll('input[data-unit]').length,"
        " layers: document.querySelector('.leaflet-control-layers').textContent,"
        " stations: [...document.querySelectorAll('.station-label')].map(t => t.textContent.trim()),"
        " options: document.getElementById('pick').options.length,"
        " summary: document.getElementById('summary').textContent,"
        " legend: document.getElementById('legend').textContent})")
    browser.evaluate("new Promise(r => setTimeout(r, 300))")
    assert browser.outside_requests() == []
    assert [u for u in browser.requests() if not u.startswith("file:")] == []  # not even data: fetches
    assert browser.problems() == []  # a script or style refused by the policy would be reported here
    assert state["folium"] == [state["div"]] and state["same"]  # folium's map_<id> is the map drawn
    assert state["routes"] == len(plan.routes) and state["shown"] == len(plan.routes)
    assert state["leaflet"] == "1.9.4" and state["banner"] is True
    assert state["units"] == len({r.unit_id for r in plan.routes})
    assert state["slots"] == len({(r.date, r.shift) for r in plan.routes})
    assert state["options"] == len(plan.routes) + 1
    layers = ("Streets", "Hotspot surface", "Hotspot patrol points", "Police stations", "Protected sites")
    assert all(layer in state["layers"] for layer in layers), state["layers"]
    assert state["stations"] == sorted({r.stops[0].place or f"station {r.station_id}" for r in plan.routes})
    assert "unserved visits" in state["summary"] and plan.unserved[0].site_id in state["summary"]
    assert "protective visit" in state["legend"] and "Protected sites" in state["legend"]
    assert "Hotspot surface" in state["legend"] and "–" in state["legend"]  # the surface's score classes

    # Pixels: each unit's route colour is on the map, and goes when its unit is unticked.
    colours = unit_colours(plan)
    browser.evaluate(HIDE_PANELS)
    drawn = colour_pixels(browser.screenshot(), list(colours.values()))
    assert all(n >= 150 for n in drawn.values()), drawn
    browser.evaluate("document.querySelectorAll('input[data-unit]').forEach(c => c.click()); true")
    assert browser.evaluate("window.patrolsMap.shown") == 0
    browser.evaluate(DRAWN)
    gone = colour_pixels(browser.screenshot(), list(colours.values()))
    assert all(gone[c] < 0.05 * drawn[c] for c in colours.values()), (drawn, gone)


def test_one_unit_shift_numbered_listed_summarised_and_linked(browser: Browser, plan: Plan, page: str,
                                                               tmp_path: Path) -> None:
    browser.open(_write(tmp_path, "map.html", page))
    route = plan.routes[-1]
    visits = route.stops[1:-1]
    select(browser, shift_label(route))
    state = browser.evaluate(
        "({shown: patrolsMap.shown,"
        " numbers: [...document.querySelectorAll('.stop-num')].map(m => m.textContent),"
        " rows: [...document.querySelectorAll('#stop-list tbody tr')]"
        "   .map(tr => [...tr.cells].map(c => c.textContent)),"
        " title: document.querySelector('#stops h2').textContent,"
        " link: document.querySelector('#pick-links a').getAttribute('href'),"
        " summary: document.getElementById('summary').innerText,"
        " browse: getComputedStyle(document.querySelector('#browse fieldset')).display})")
    assert state["shown"] == 1
    assert state["numbers"] == [str(s.seq) for s in visits] and len(visits) >= 5
    assert len(state["rows"]) == len(route.stops)
    for row, stop in zip(state["rows"], route.stops, strict=True):
        assert row[3] == stop.kind
        if stop.kind != "station":
            assert row[0] == str(stop.seq)
            assert row[1] == f"{stop.arrive:%H:%M}–{stop.depart:%H:%M}"
            assert row[4] == f"{stop.dwell_min:.0f} min"
            assert row[2] == (stop.place or stop.ref)
    assert state["rows"][0][1] == f"leaves {route.start:%H:%M}"
    assert state["title"] == shift_label(route)
    assert state["link"] == briefing_name(route)  # beside map.html in the bundle
    assert state["browse"] == "none"  # browsing folds away while one unit-shift is read
    # The summary follows the selection.
    summary = state["summary"]
    assert shift_label(route) in summary and f"{len(visits)} (" in summary and f"{route.km:.1f} km" in summary
    select(browser, "")
    back = browser.evaluate("({shown: patrolsMap.shown,"
                            " numbers: document.querySelectorAll('.stop-num').length,"
                            " summary: document.getElementById('summary').innerText,"
                            " list: document.getElementById('stops').hidden})")
    assert back["shown"] == len(plan.routes) and back["numbers"] == 0 and back["list"] is True
    assert shift_label(route) not in back["summary"] and "shown" in back["summary"]
    assert browser.problems() == []


def test_numbered_stop_popup_says_unit_day_shift_times_place(browser: Browser, plan: Plan, page: str,
                                                             tmp_path: Path) -> None:
    browser.open(_write(tmp_path, "map.html", page))
    route = plan.routes[0]
    select(browser, shift_label(route))
    stop = route.stops[3]
    text = browser.evaluate(f"(function(){{var m=[...document.querySelectorAll('.stop-num')].find("
                            f"m => m.textContent === '{stop.seq}'); m.click();"
                            " return document.querySelector('.leaflet-popup-content').textContent;})()")
    assert f"unit {route.unit_id} ({route.mode})" in text
    assert f"day {route.date:%a %d %b}" in text
    assert f"shift {route.shift} {route.start:%H:%M}–{route.end:%H:%M}" in text
    assert f"stop {stop.seq} of {len(route.stops) - 2}" in text
    assert f"arrive {stop.arrive:%H:%M}" in text and f"leave {stop.depart:%H:%M}" in text
    assert f"dwell {stop.dwell_min:.0f} min" in text and f"kind {stop.kind}" in text
    # A row of the list opens the same popup.
    browser.evaluate("document.querySelector('.leaflet-popup-close-button').click();"
                     "document.querySelector('#stop-list tbody tr[data-stop=\"3\"]').click(); true")
    assert browser.evaluate("document.querySelector('.leaflet-popup-content').textContent") == text
    assert browser.problems() == []


def test_names_are_text_never_markup_or_template(browser: Browser, plan: Plan, tmp_path: Path) -> None:
    # Street and station names come from OpenStreetMap: shown as written, never run as HTML or Jinja.
    odd = "<b>{{ 7*7 }}</b> & Co's {% raw %}"
    route = plan.routes[0]
    # Its own station too, so the map has two, each labelled.
    own = {"ref": "XX", "lat": route.stops[0].lat + 0.004}
    stops = tuple(replace(s, place=odd, **(own if s.kind == "station" else {})) for s in route.stops)
    page = map_html(replace(plan, routes=(replace(route, stops=stops), *plan.routes[1:])))
    browser.open(_write(tmp_path, "map.html", page))
    select(browser, shift_label(route))
    state = browser.evaluate("({labels: [...document.querySelectorAll('.station-label')]"
                             "   .map(t => t.textContent.trim()),"
                             " place: document.querySelector('#stop-list tbody tr[data-stop=\"1\"] .c2')"
                             "   .textContent,"
                             " bold: document.querySelectorAll('.leaflet-container b, #sheet b').length})")
    assert sorted(state["labels"]) == sorted([odd, plan.routes[1].stops[0].place or "station BG"])
    assert state["place"] == odd and state["bold"] == 0
    assert browser.problems() == []


def test_print_hides_the_panels_and_prints_the_stop_list(browser: Browser, plan: Plan, page: str,
                                                         tmp_path: Path) -> None:
    browser.open(_write(tmp_path, "map.html", page))
    route = plan.routes[-1]
    select(browser, shift_label(route))
    shown = ("(function(){var d = s => { var e = document.querySelector(s); return e &&"
             " getComputedStyle(e).display !== 'none' && e.getBoundingClientRect().height > 0; };"
             " return {controls: ['.leaflet-control-layers', '.leaflet-control-zoom', '#legend', '#browse']"
             "   .map(d),"
             " pick: d('#sheet .pick'), summary: d('#summary'),"
             " list: d('#stop-list'), banner: d('#banner'), map: d('.folium-map'),"
             " rows: document.querySelectorAll('#stop-list tbody tr').length};})()")
    on_screen = browser.evaluate(shown)
    assert all(on_screen["controls"])
    assert all(on_screen[k] for k in ("pick", "summary", "list", "banner", "map"))
    browser.call("Emulation.setEmulatedMedia", media="print")
    try:
        printed = browser.evaluate(shown)
    finally:
        browser.call("Emulation.setEmulatedMedia", media="")
    assert not any(printed["controls"]) and not printed["pick"] and not printed["summary"]
    assert printed["list"] and printed["banner"] and printed["map"]
    assert printed["rows"] == len(route.stops)
    # Before printing, the map takes its printed size and fits the unit-shift; after, it is put back.
    lats, lons = [s.lat for s in route.stops], [s.lon for s in route.stops]
    fits = (f"patrolsMap.map.getBounds().contains([[{min(lats)}, {min(lons)}], [{max(lats)}, {max(lons)}]])")
    browser.evaluate("window.dispatchEvent(new Event('beforeprint')); true")
    sized = browser.evaluate(f"({{size: patrolsMap.map.getSize().x, fits: {fits}}})")
    browser.evaluate("window.dispatchEvent(new Event('afterprint')); true")
    assert sized == {"size": 718, "fits": True}  # 190 mm at 96 px per inch
    assert browser.evaluate("patrolsMap.map.getSize().x") > 718 and browser.problems() == []


def test_days_told_apart_when_several_are_shown(browser: Browser, plan: Plan, tmp_path: Path) -> None:
    two_days = replace(plan, routes=(*plan.routes[:-1], later(plan.routes[-1], 1)))
    browser.open(_write(tmp_path, "map.html", map_html(two_days)))
    days = [f"{d:%a %d %b}" for d in sorted({r.date for r in two_days.routes})]
    one = browser.evaluate("document.querySelector('#legend .days').textContent")
    assert days[0] in one and days[1] not in one
    moved = two_days.routes[-1]
    browser.evaluate(f"document.querySelector('input[data-slot=\"{moved.date.isoformat()}/{moved.shift}\"]')"
                     ".click(); true")
    state = browser.evaluate("({legend: document.querySelector('#legend .days').textContent,"
                             " samples: [...document.querySelectorAll('#legend .days line')].map("
                             "   l => l.getAttribute('stroke-dasharray')),"
                             " dashes: Object.values(patrolsMap.view.layers)"
                             "   .map(l => l.line.options.dashArray)})")
    assert days[0] in state["legend"] and days[1] in state["legend"]
    assert state["samples"][0] is None and state["samples"][1]  # solid, then dashed
    assert sorted(state["dashes"], key=str) == sorted(state["samples"], key=str)
    assert browser.problems() == []


def test_redacted_map_in_browser_has_no_sites_and_no_banner(browser: Browser, plan: Plan, tmp_path: Path,
                                                            westminster_network) -> None:
    page = map_html(redact(plan, westminster_network))
    browser.open(_write(tmp_path, "map.html", page))
    state = browser.evaluate("({banner: !!document.getElementById('banner'),"
                             " layers: document.querySelector('.leaflet-control-layers').textContent,"
                             " text: document.body.innerText})")
    select(browser, shift_label(plan.routes[0]))
    listed = browser.evaluate("document.getElementById('sheet').innerText")
    assert browser.outside_requests() == [] and browser.problems() == []
    assert state["banner"] is False
    assert "sites" not in state["layers"] and "Hotspot patrol points" not in state["layers"]
    assert "protect" not in page.lower()
    for site in plan.sites:
        assert site.site_id not in state["text"] and site.site_id not in listed


def test_folium_defaults_untouched_for_other_maps(plan: Plan) -> None:
    # The CDN links are dropped on our map instance only: a plain folium map made afterwards in the
    # same process (the service makes many) still has folium's own.
    before = (list(folium.Map.default_js), list(folium.Map.default_css))
    page = map_html(plan)
    assert (folium.Map.default_js, folium.Map.default_css) == before
    other = folium.Map().get_root().render()
    assert "cdn.jsdelivr.net/npm/leaflet" in other and "cdn.jsdelivr.net" not in page


def test_a_force_sized_map_opens_fast_with_days_on_demand(browser: Browser, plan: Plan,
                                                          tmp_path: Path) -> None:
    # Over 4,000 unit-shifts (the fixture's two routes on each day of the week, for 286 copies of its
    # units): the page parses and draws only the first shift's at load (a day has more than
    # ROUTES_AT_OPEN), is ready inside 3 s, and reads another day's when a unit-shift of it is picked.
    week = replace(plan, routes=tuple(later(r, d) for d in range(7) for r in plan.routes))
    big = copied_plan(week, 286)
    assert len(big.routes) == 4004
    path = _write(tmp_path, "big.html", map_html(big))
    took = min(browser.open(path) for _ in range(2))
    state = browser.evaluate("({loaded: patrolsMap.view.slots.filter(s => s.routes).length,"
                             " shown: patrolsMap.shown, routes: patrolsMap.routes})")
    assert state["routes"] == 4004 and state["loaded"] == 1 and state["shown"] == 286
    assert took < 3.0, took
    select(browser, shift_label(big.routes[-1]))
    state = browser.evaluate("({loaded: patrolsMap.view.slots.filter(s => s.routes).length,"
                             " numbers: document.querySelectorAll('.stop-num').length})")
    assert state == {"loaded": 2, "numbers": len(big.routes[-1].stops) - 2}
    assert browser.problems() == []


def measure(path: Path, runs: int = 3, screenshot: Path | None = None, label: str = "") -> dict[str, Any]:
    """Open a map ``runs`` times in a fresh offline Chromium; report size, timings, requests, problems."""
    binary = find_chromium()
    if binary is None:
        raise SystemExit("no Chromium found")
    b = Browser(binary, 1400, 900)
    try:
        loads, builds = [], []
        for _ in range(runs):
            loads.append(b.open(path))
            builds.append(b.evaluate("window.patrolsMap.builtMs"))
        out = {"file": str(path), "bytes": path.stat().st_size,
               "open_to_ready_s": [round(x, 3) for x in loads],
               "page_script_done_ms": [round(x) for x in builds],
               "outside_requests": b.outside_requests(), "problems": b.problems()}
        if label:
            began = time.perf_counter()
            select(b, label)
            out["select_s"] = round(time.perf_counter() - began, 3)
        if screenshot is not None:
            screenshot.write_bytes(b.screenshot())
            out["screenshot"] = str(screenshot)
        return out
    finally:
        b.close()


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=measure.__doc__)
    parser.add_argument("map", type=Path, help="a map.html, or a plan.json with --copies")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--screenshot", type=Path)
    parser.add_argument("--select", default="", help='a unit-shift to show, e.g. "BG-F2 · Tue 03 Jul · late"')
    parser.add_argument("--copies", type=int, default=0,
                        help="make the map of a plan.json with every unit copied N times (a force-sized map)")
    args = parser.parse_args()
    target = args.map
    if args.copies:
        began = time.perf_counter()
        target = Path(tempfile.mkdtemp(prefix="patrols-map-")) / "map.html"
        target.write_text(map_html(copied_plan(load_plan(args.map), args.copies)), encoding="utf-8")
        print(f"wrote {target} in {time.perf_counter() - began:.1f} s", flush=True)
    print(json.dumps(measure(target, args.runs, args.screenshot, args.select), indent=2, ensure_ascii=False))
