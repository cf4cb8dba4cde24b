"""What a re-plan's map and briefings show of its changes, and what its redaction leaves of them.

One re-plan of the bundled demo's week (``demo_week``): unit CX-C2 goes off the
road from Wednesday 15:00 to Friday 07:00, re-planned from Wednesday noon. Its
stops go to other units (moved), some of theirs are retimed, some are dropped.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import datetime
from html.parser import HTMLParser
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from test_browser_map import Browser, find_chromium, inline_hashes, policy, select, shift_label
from test_outputs_redact import _words

from patrols.outputs.briefing import briefing_name, briefings
from patrols.outputs.bundle import bundle_files
from patrols.outputs.redaction import redact
from patrols.outputs.webmap import (
    CHANGE_COLOUR,
    DROPPED_LAYER,
    REPLAN_CUT,
    change_note,
    map_data,
    map_html,
    replan_line,
)
from patrols.plan import Plan, Route
from patrols.replan import replan_week
from patrols.tension import read_events

START = datetime(2018, 7, 4, 12, 0, tzinfo=ZoneInfo("Europe/London"))
CHANGES = {"unit_off": [{"unit": "CX-C2", "from": "2018-07-04T15:00:00", "to": "2018-07-06T07:00:00"}]}
PARENT_ID = "0123456789abcdef"


@pytest.fixture(scope="module")
def replanned(demo_week) -> tuple[object, Plan, Plan]:
    """(network, parent, re-plan)."""
    area, network, parent = demo_week
    events = read_events(area.events_path) if area.events_path else []
    plan = replan_week(area, network, parent, PARENT_ID, START, CHANGES, "CHANGES.toml", events=events,
                       workers=2)
    record = plan.extra["replan"]
    # What the tests below look for is there.
    assert record["stops_moved"] and record["stops_retimed"] and record["stops_dropped"]
    return network, parent, plan


def _changed(route: Route) -> list:
    return [s for s in route.stops if s.change]


def _dropped(plan: Plan, route: Route) -> list[dict]:
    return [d for d in plan.extra["replan"]["dropped"]
            if (d["unit"], d["date"], d["shift"]) == (route.unit_id, route.date.isoformat(), route.shift)]


def _json_blocks(page: str) -> list:
    return [json.loads(t) for t in re.findall(r'<script type="application/json" id="[^"]+">(.*?)</script>',
                                              page, re.S)]


# ------------------------------------------------------------------------------------------- map.html

def test_map_data_marks_each_changed_stop_and_lists_the_dropped(replanned) -> None:
    _, _, plan = replanned
    data = map_data(plan)
    record = plan.extra["replan"]
    for r, route in zip(data["routes"], plan.routes, strict=True):
        for row, stop in zip(r["stops"], route.stops, strict=True):
            assert row[9:11] == ([stop.change, change_note(stop)] if stop.change else
                                 ["", ""] if stop.note else [])
            assert row[11:] == ([stop.note] if stop.note else [])
    notes = {change_note(s) for r in plan.routes for s in r.stops if s.change}
    assert any(re.fullmatch(r"moved from [A-Z]+-[A-Z0-9]+ \d\d:\d\d", n) for n in notes)
    assert any(re.fullmatch(r"retimed from \d\d:\d\d", n) for n in notes)
    rp = data["replan"]
    assert rp["line"] == replan_line(record) == (
        f"Re-plan of {PARENT_ID} from Wed 04 Jul 12:00: {record['stops_kept']} kept, "
        f"{record['stops_moved']} moved, {record['stops_retimed']} retimed, {record['stops_added']} added, "
        f"{record['stops_dropped']} dropped")
    assert len(rp["dropped"]) == record["stops_dropped"] == len(record["dropped"])
    first = min(record["dropped"], key=lambda d: (d["arrive"], d["unit"]))
    when = datetime.fromisoformat(first["arrive"])
    assert rp["dropped"][0] == [first["unit"], first["date"], f"{when:%a %d %b}", first["shift"],
                                f"{when:%H:%M}", first["kind"], first["ref"], round(first["lat"], 5),
                                round(first["lon"], 5), first["place"]]


def test_map_page_carries_the_dropped_layer_and_the_marks(replanned) -> None:
    _, parent, plan = replanned
    page = map_html(plan)
    blocks = _json_blocks(page)
    index = next(b for b in blocks if isinstance(b, dict) and "replan" in b)
    assert index["replan"]["line"] == replan_line(plan.extra["replan"])
    assert len(index["replan"]["dropped"]) == plan.extra["replan"]["stops_dropped"]
    # The day-shifts' routes carry the marks.
    marked = [st for b in blocks if isinstance(b, list) for row in b for st in row[2]
              if len(st) > 9 and st[9]]
    assert len(marked) == sum(len(_changed(r)) for r in plan.routes) > 0
    # The layer is in the layer control, drawn by the re-plan's part of the plugin.
    assert page.count("L.patrols.dropped(") == 1 and f'"{DROPPED_LAYER}"' in page
    assert page.count(REPLAN_CUT) == 2  # the re-plan's script and style, once each
    # A plan's map has none of it.
    plain = map_html(parent)
    assert REPLAN_CUT not in plain and DROPPED_LAYER not in plain and "L.patrols.dropped(" not in plain
    assert not any(isinstance(b, dict) and "replan" in b for b in _json_blocks(plain))


def test_policy_hashes_every_inline_script_and_style_of_a_replan_map(replanned) -> None:
    _, parent, plan = replanned
    page = map_html(plan)
    scripts, styles = inline_hashes(page)
    rules = policy(page)
    assert set(rules["script-src"]) == scripts and set(rules["style-src"]) == styles
    assert rules["default-src"] == ["'none'"] and rules["img-src"] == ["data:"]
    sources = {s for v in rules.values() for s in v}
    assert not {"'unsafe-inline'", "'unsafe-eval'", "'unsafe-hashes'"} & sources
    # One more script and one more style than a plan's map: the re-plan's part of the plugin.
    plain_scripts, plain_styles = inline_hashes(map_html(parent))
    assert len(scripts) == len(plain_scripts) + 1 and len(styles) == len(plain_styles) + 1


# ------------------------------------------------------------------------------------------ briefings

class _Tables(HTMLParser):
    """Rows of each table of a page, cells as text."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[list[list[str]]] = []
        self.cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self.cell = []

    def handle_data(self, data):
        if self.cell is not None:
            self.cell.append(data)

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self.cell is not None:
            self.tables[-1][-1].append("".join(self.cell))
            self.cell = None


def _tables(page: str) -> list[list[list[str]]]:
    parser = _Tables()
    parser.feed(page)
    return parser.tables


def test_briefing_marks_changed_stops_and_lists_the_dropped(replanned) -> None:
    _, _, plan = replanned
    changed = [r for r in plan.routes if _changed(r) or _dropped(plan, r)]
    pages = briefings(plan, {r.key for r in changed})
    with_dropped = 0
    for route in changed:
        page = pages[briefing_name(route)]
        tables = _tables(page)
        stops = tables[0]
        assert stops[0][-1] == "change" and len(stops) == len(route.stops) + 1
        assert [row[-1] for row in stops[1:]] == [change_note(s) for s in route.stops]
        assert page.count(f'stroke="{CHANGE_COLOUR}"') == len(_changed(route))  # a ring on the extract
        assert "Re-planned from Wed 04 Jul 12:00" in page
        dropped = _dropped(plan, route)
        if dropped:
            with_dropped += 1
            assert "Dropped since the parent plan" in page
            assert tables[1][1:] == [[f"{datetime.fromisoformat(d['arrive']):%H:%M}", d["kind"], d["ref"],
                                      d["place"]] for d in sorted(dropped, key=lambda d: d["arrive"])]
        else:
            assert len(tables) == 1 and "Dropped since" not in page
    assert with_dropped
    index = pages["briefings/index.html"]
    assert replan_line(plan.extra["replan"]) in index
    assert index.count("changed since the parent plan") == len(changed)
    # The parent's unit-shifts that are gone are named with the count of their stops.
    gone = {f"{d['unit']}/{d['date']}/{d['shift']}" for d in plan.extra["replan"]["dropped"]}
    gone -= {r.key for r in plan.routes}
    assert gone and all(f"<p>{k}: " in index for k in gone)


def _as_printed(route: Route) -> tuple:
    """What a briefing prints of a route (times to the minute)."""
    return (route.path, route.km, round(route.busy_min), route.start, route.end,
            [(s.seq, s.kind, s.ref, s.lat, s.lon, s.place, s.change, s.was,
              f"{s.arrive:%H:%M}" if s.arrive else "", f"{s.depart:%H:%M}" if s.depart else "")
             for s in route.stops])


def test_unchanged_routes_briefings_are_the_parents_byte_for_byte(replanned) -> None:
    _, parent, plan = replanned
    old = {r.key: r for r in parent.routes}
    solved = set(plan.extra["replan"]["shifts_solved"])
    kept = [r for r in plan.routes if f"{r.date.isoformat()}/{r.shift}" not in solved]
    assert kept and all(old[r.key] == r for r in kept)
    # In the shifts solved again, a route with no change printed as the parent's is the parent's page too.
    same = [r for r in plan.routes if r.key in old and not _changed(r) and not _dropped(plan, r)
            and _as_printed(r) == _as_printed(old[r.key])]
    compared = kept[::4] + same  # a page takes a moment: every fourth kept one is enough
    keys = {r.key for r in compared}
    new_pages, old_pages = briefings(plan, keys), briefings(parent, keys)
    for r in compared:
        assert new_pages[briefing_name(r)] == old_pages[briefing_name(r)], r.key
    assert "Re-plan" not in old_pages["briefings/index.html"]


# ------------------------------------------------------------------------------------------ redaction

def test_redacted_replan_keeps_no_change_no_record_no_warning(replanned) -> None:
    network, parent, plan = replanned
    site = parent.sites[0]
    warned = replace(plan, extra={**plan.extra, "warnings": [
        {"site_id": site.site_id, "kind": "timing", "by": "pin", "message": f"{site.site_id} at 14:20"}]})
    seen = redact(warned, network)
    assert all(s.was == "" and s.change == "" for r in seen.routes for s in r.stops)
    assert "replan" not in seen.extra and "warnings" not in seen.extra
    assert site.site_id not in json.dumps(seen.extra)
    assert map_data(seen)["replan"] is None
    page = map_html(seen)
    assert REPLAN_CUT not in page and DROPPED_LAYER not in page and "moved from" not in page
    pages = briefings(seen)
    assert not any(w in p for p in pages.values() for w in ('class="change"', "<th>change</th>", "Re-plan",
                                                            "Dropped since"))


def _found(files: dict[str, str | bytes], words: set[str]) -> dict[str, set[str]]:
    """The words (whole, any case) in each file of a bundle: ``test_outputs_redact``'s grep, faster."""

    def whole(text: str, word: str) -> bool:
        at = text.find(word)
        while at >= 0:
            before, after = text[at - 1:at], text[at + len(word):at + len(word) + 1]
            if not (before.isascii() and before.isalnum()) and not (after.isascii() and after.isalnum()):
                return True
            at = text.find(word, at + 1)
        return False

    found = {}
    for name, content in sorted(files.items()):
        # plan.gpkg is bytes; its text is UTF-8 too.
        text = (content.decode("utf-8", "replace") if isinstance(content, bytes) else content).lower()
        hits = {w for w in words if whole(text, w.lower())}
        if hits:
            found[name] = hits
    return found


def test_redacted_replan_bundle_names_no_site_and_no_change(replanned) -> None:
    network, parent, plan = replanned
    changes = {"moved from", "retimed from", "Dropped since", "Re-plan of"}
    words = _words(parent) | _words(plan) | changes
    # Positive control: the full re-plan's map and briefings name the sites and the changes.
    full = {"map.html": map_html(plan), **briefings(plan, {r.key for r in plan.routes if _changed(r)})}
    assert set().union(*_found(full, words).values()) >= changes | {s.site_id for s in plan.sites}
    assert _found(bundle_files(redact(plan, network)), words) == {}


# ---------------------------------------------------------------------------------------- in a browser

def test_replan_map_in_a_browser(replanned, tmp_path: Path) -> None:
    binary = find_chromium()
    if binary is None:
        pytest.skip("Chromium is not installed; set $CHROMIUM to a binary")
    _, _, plan = replanned
    path = tmp_path / "map.html"
    path.write_text(map_html(plan), encoding="utf-8")
    # A unit-shift with changed stops and dropped ones, the most changed.
    route = max(plan.routes, key=lambda r: (bool(_changed(r)), bool(_dropped(plan, r)), len(_changed(r))))
    browser = Browser(binary)
    try:
        browser.open(path)
        state = browser.evaluate(
            "({line: document.querySelector('.replan-line').textContent,"
            " layers: document.querySelector('.leaflet-control-layers').textContent,"
            " keys: [...document.querySelectorAll('.change-key')].map(e => e.dataset.change)})")
        assert state["line"] == replan_line(plan.extra["replan"])
        assert DROPPED_LAYER in state["layers"]
        assert state["keys"] == ["added", "moved", "retimed", "dropped"]
        select(browser, shift_label(route))
        state = browser.evaluate(
            "({rows: [...document.querySelectorAll('#stop-list tbody tr')]"
            "   .map(tr => tr.lastChild.textContent),"
            " head: document.querySelector('#stop-list thead tr').lastChild.textContent,"
            " badges: [...document.querySelectorAll('.num.chg')]"
            "   .map(b => [b.textContent, b.parentNode.title]),"
            " dropped: document.querySelectorAll('.dropped-stop').length,"
            " listed: document.querySelectorAll('.dropped-list li').length})")
        assert state["head"] == "change"
        assert state["rows"] == [change_note(s) for s in route.stops]
        assert state["badges"] == [[str(s.seq), f"stop {s.seq}: {change_note(s)}"] for s in _changed(route)]
        assert state["dropped"] == state["listed"] == len(_dropped(plan, route))
        stop = _changed(route)[0]
        text = browser.evaluate(
            f"(function(){{var m=[...document.querySelectorAll('.stop-num')].find(m => m.textContent === "
            f"'{stop.seq}'); m.click();"
            " return document.querySelector('.leaflet-popup-content').textContent;})()")
        assert f"change {change_note(stop)}" in text
        if state["dropped"]:
            d = _dropped(plan, route)[0]
            text = browser.evaluate(
                "(function(){document.querySelector('.leaflet-popup-close-button').click();"
                "document.querySelector('.dropped-stop').click();"
                "return [...document.querySelectorAll('.leaflet-popup-content')].pop().textContent;})()")
            assert f"unit {d['unit']}" in text and f"place {d['place']}" in text and "was at " in text
        assert browser.problems() == [] and browser.outside_requests() == []
    finally:
        browser.close()
