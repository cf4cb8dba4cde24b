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
import io
import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from patrols.outputs.redaction import redact
from patrols.outputs.webmap import map_html, unit_colours
from patrols.plan import Plan, load_plan

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


def test_map_offline_no_requests_no_errors_routes_drawn(browser: Browser, plan: Plan, tmp_path: Path) -> None:
    page = _write(tmp_path, "map.html", map_html(plan))
    browser.open(page)
    state = browser.evaluate("({routes: window.patrolsMap.routes, shown: window.patrolsMap.shown,"
                             " leaflet: L.version, banner: !!document.getElementById('banner'),"
                             " slots: document.querySelectorAll('input[data-slot]').length,"
                             " units: document.querySelectorAll('input[data-unit]').length,"
                             " summary: document.getElementById('summary').textContent,"
                             " legend: document.getElementById('legend').textContent})")
    assert browser.outside_requests() == []
    assert [u for u in browser.requests() if not u.startswith("file:")] == []  # not even data: fetches
    assert browser.problems() == []
    assert state["routes"] == len(plan.routes) and state["shown"] == len(plan.routes)
    assert state["banner"] is True
    assert state["units"] == len({r.unit_id for r in plan.routes})
    assert state["slots"] == len({(r.date, r.shift) for r in plan.routes})
    assert "unserved visits" in state["summary"] and plan.unserved[0].site_id in state["summary"]
    assert "protective visit" in state["legend"] and "Protected sites" in state["legend"]

    # Pixels: each unit's route colour is on the map, and goes when its unit is unticked.
    colours = unit_colours(plan)
    browser.evaluate(HIDE_PANELS)
    drawn = colour_pixels(browser.screenshot(), list(colours.values()))
    assert all(n >= 150 for n in drawn.values()), drawn
    browser.evaluate("document.querySelectorAll('input[data-unit]').forEach(c => c.click()); true")
    assert browser.evaluate("window.patrolsMap.shown") == 0
    browser.evaluate("new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
    gone = colour_pixels(browser.screenshot(), list(colours.values()))
    assert all(gone[c] < 0.05 * drawn[c] for c in colours.values()), (drawn, gone)


def test_stop_popup_says_unit_arrival_dwell_kind(browser: Browser, plan: Plan, tmp_path: Path) -> None:
    page = _write(tmp_path, "map.html", map_html(plan))
    browser.open(page)
    # A stop at a place no other stop of the plan shares, so the marker found is its own.
    places = [(s.lat, s.lon) for r in plan.routes for s in r.stops]
    route, stop = next((r, s) for r in plan.routes for s in r.stops[1:-1]
                       if places.count((s.lat, s.lon)) == 1)
    text = browser.evaluate(
        "(function(){var m=window.patrolsMap.map, hit=null; m.eachLayer(function(l){"
        f" if (l.getPopup && l.getLatLng && l.getPopup() && Math.abs(l.getLatLng().lat-({stop.lat:.5f}))<1e-5"
        f" && Math.abs(l.getLatLng().lng-({stop.lon:.5f}))<1e-5) hit=l;}});"
        " hit.openPopup(); return document.querySelector('.leaflet-popup-content').textContent;})()")
    assert route.unit_id in text
    assert f"arrive {stop.arrive:%H:%M}" in text
    assert f"dwell {stop.dwell_min:.0f} min" in text
    assert f"kind {stop.kind}" in text
    assert browser.problems() == []


def test_redacted_map_in_browser_has_no_sites_and_no_banner(browser: Browser, plan: Plan, tmp_path: Path,
                                                            westminster_network) -> None:
    page = _write(tmp_path, "map.html", map_html(redact(plan, westminster_network)))
    browser.open(page)
    state = browser.evaluate("({banner: !!document.getElementById('banner'),"
                             " sites: !!document.querySelector('input[data-layer=sites]'),"
                             " text: document.body.innerText})")
    assert browser.outside_requests() == [] and browser.problems() == []
    assert state["banner"] is False and state["sites"] is False
    for site in plan.sites:
        assert site.site_id not in state["text"]


def measure(path: Path, runs: int = 3, screenshot: Path | None = None) -> dict[str, Any]:
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
        if screenshot is not None:
            screenshot.write_bytes(b.screenshot())
            out["screenshot"] = str(screenshot)
        return out
    finally:
        b.close()


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=measure.__doc__)
    parser.add_argument("map", type=Path)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--screenshot", type=Path)
    args = parser.parse_args()
    print(json.dumps(measure(args.map, args.runs, args.screenshot), indent=2))
