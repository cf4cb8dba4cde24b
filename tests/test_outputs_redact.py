"""Redaction, tried as an attacker holding a redacted bundle (or a viewer's) and the public road map.

Each test is an attack that worked on the earlier redaction, run against the
bundled demo's week: grep every file for the sites' ids, labels, kinds and any
word of protective work; look for stops at or near a site; count a route's
protective visits from its planned time and length (exact on every foot route
before); read their times off the timetable. The full bundle is the positive
control each time: the same attack finds what it looks for there.
"""

from __future__ import annotations

import csv
import json
import re
from datetime import UTC, date
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest

from patrols import defaults
from patrols.outputs.bundle import write_bundle
from patrols.outputs.redaction import redact
from patrols.outputs.summary import summarize
from patrols.plan import Plan, load_plan

REPO = Path(__file__).resolve().parent.parent
DEMO_AREA = REPO / "data" / "westminster" / "area.toml"
WEEK = date(2018, 7, 2)
# Words that tell of protective work, besides the sites' own ids, labels and kinds.
PROTECTIVE_WORDS = {"protective", "protected", "protection", "required_visits", "unserved", "shortfall",
                    "predictability", "SYNTHETIC"}


@pytest.fixture(scope="module")
def demo(demo_week):
    """The demo's week (short solver time), its area and network (see conftest)."""
    return demo_week


@pytest.fixture(scope="module")
def bundles(demo, tmp_path_factory):
    _, network, plan = demo
    root = tmp_path_factory.mktemp("bundles")
    return write_bundle(plan, root / "full"), write_bundle(redact(plan, network), root / "redacted")


def _words(plan: Plan) -> set[str]:
    words = {s.site_id for s in plan.sites} | {s.kind for s in plan.sites}
    return words | {s.label for s in plan.sites if s.label} | PROTECTIVE_WORDS


def _hits(folder: Path, words: set[str]) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in sorted(folder.rglob("*")):
        if not path.is_file():
            continue
        text = path.read_bytes().decode("utf-8", "replace")  # plan.gpkg is binary; its text is UTF-8
        for w in words:
            if re.search(rf"(?<![A-Za-z0-9]){re.escape(w)}(?![A-Za-z0-9])", text, re.IGNORECASE):
                found.setdefault(str(path.relative_to(folder)), set()).add(w)
    return found


def _metres(lat1, lon1, lat2, lon2) -> np.ndarray:
    """Haversine distances (metres) between points and sites, as an attacker would measure them."""
    p1, p2 = np.radians(lat1)[:, None], np.radians(lat2)[None, :]
    dl = np.radians(lon2)[None, :] - np.radians(lon1)[:, None]
    a = np.sin((p2 - p1) / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return 2 * 6_371_000 * np.arcsin(np.sqrt(a))


def _stop_points(folder: Path) -> np.ndarray:
    """Every stop position a bundle gives, from the roster and from the GeoJSON."""
    with (folder / "roster.csv").open(encoding="utf-8") as fh:
        pts = [(float(r["lat"]), float(r["lon"])) for r in csv.DictReader(fh) if r["kind"] != "station"]
    doc = json.loads((folder / "plan.geojson").read_text(encoding="utf-8"))
    pts += [(f["geometry"]["coordinates"][1], f["geometry"]["coordinates"][0]) for f in doc["features"]
            if (f["geometry"] or {}).get("type") == "Point" and f["properties"].get("kind") != "station"]
    return np.array(pts)


def test_full_bundle_names_the_sites(demo, bundles) -> None:
    # Positive control: the same grep finds every id and kind, and protective work, in the full bundle.
    _, _, plan = demo
    hits = _hits(bundles[0], _words(plan))
    everywhere = set().union(*hits.values())
    assert everywhere >= {s.site_id for s in plan.sites} | {s.kind for s in plan.sites} | {"protective"}
    assert "OFFICIAL-SENSITIVE" in (bundles[0] / "map.html").read_text(encoding="utf-8")


def test_redacted_bundle_has_no_word_of_protective_work(demo, bundles) -> None:
    _, _, plan = demo
    assert _hits(bundles[1], _words(plan)) == {}
    assert (bundles[1] / "briefings" / "index.html").is_file()


def test_no_stop_near_a_site(demo, bundles) -> None:
    _, _, plan = demo
    sites = np.array([(s.lat, s.lon) for s in plan.sites])
    full, redacted = (_stop_points(b) for b in bundles)
    # Positive control: every protective stop of the full bundle is at its site's street.
    assert (_metres(full[:, 0], full[:, 1], sites[:, 0], sites[:, 1]).min(axis=1) < 25).sum() >= 100
    near = _metres(redacted[:, 0], redacted[:, 1], sites[:, 0], sites[:, 1])
    assert len(redacted) > 50 and near.min() > 25


def _estimated_visits(plan: Plan, foot_kmh: float) -> dict[str, int]:
    """Protective visits on each foot route, as a viewer counts them: the planned time the
    route's length and its visible stops' dwell do not explain, in protective dwells."""
    est = {}
    for r in plan.routes:
        if r.mode != "foot":
            continue
        visible = sum(1 for s in r.stops if s.kind == "hotspot")
        rest = r.busy_min - r.km / foot_kmh * 60.0 - visible * defaults.HOTSPOT_DWELL_MIN
        est[r.key] = round(rest / defaults.PROTECTIVE_DWELL_MIN)
    return est


def test_a_viewer_cannot_count_protective_visits(demo) -> None:
    area, network, plan = demo
    truth = {r.key: sum(1 for s in r.stops if s.kind == "protective")
             for r in plan.routes if r.mode == "foot"}
    with_visits = [k for k, n in truth.items() if n > 0]
    assert len(with_visits) >= 10
    # Positive control: the figures as planned, protective stops taken out (the earlier viewer bundle).
    old = _estimated_visits(plan, area.settings.foot_speed_kmh)
    assert sum(old[k] == truth[k] for k in with_visits) >= 0.8 * len(with_visits)
    seen = redact(plan, network, area.settings.redaction_clearance_m)
    new = _estimated_visits(seen, area.settings.foot_speed_kmh)
    assert sum(new[k] == truth[k] for k in with_visits) == 0
    assert set(new.values()) == {0}


def test_redacted_paths_follow_the_visible_stops_alone(demo) -> None:
    # No detour to a hidden visit: each route is the fastest way between the stops it shows.
    _, network, plan = demo
    seen = redact(plan, network)
    for r in seen.routes:
        if len(r.stops) <= 2:
            assert r.path == () and r.km == 0 and r.busy_min == 0
            continue
        nodes = network.snap([s.lat for s in r.stops], [s.lon for s in r.stops], r.mode).node.tolist()
        fastest = network.fastest(r.mode, list(pairwise(nodes)))
        travel = sum(t for t, _ in fastest)
        dwell = defaults.HOTSPOT_DWELL_MIN * (len(r.stops) - 2)
        assert abs(r.busy_min - (travel / 60.0 + dwell)) <= 0.1, r.key
        length = sum(network.path_length_m(c) for _, c in fastest) / 1000.0
        assert abs(r.km - length) <= 0.01 + 0.001 * length, r.key


def test_redacted_timetable_gives_no_time(demo, bundles) -> None:
    _, _, plan = demo
    with (bundles[1] / "roster.csv").open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert rows and all(r["arrive"] == "" and r["depart"] == "" for r in rows)
    ics = (bundles[1] / "roster.ics").read_text(encoding="utf-8").replace("\r\n ", "")
    descriptions = re.findall(r"^DESCRIPTION:(.*)$", ics, re.MULTILINE)
    assert descriptions and not any(re.search(r"\d\d:\d\d", d) for d in descriptions)
    assert "CLASS:PUBLIC" not in ics and ics.count("CLASS:CONFIDENTIAL") == len(plan.routes)
    assert "<time>" not in re.sub(r"<metadata>.*?</metadata>", "", (bundles[1] / "plan.gpx").read_text(
        encoding="utf-8"), flags=re.DOTALL)
    # KML times only whole shifts (a route's placemark), never a stop.
    kml = (bundles[1] / "plan.kml").read_text(encoding="utf-8")
    shifts = {f"{r.start.astimezone(UTC):%Y-%m-%dT%H:%M:%S}Z" for r in plan.routes}
    assert set(re.findall(r"<begin>([^<]+)</begin>", kml)) <= shifts
    # Positive control: the full bundle's roster has the times.
    with (bundles[0] / "roster.csv").open(encoding="utf-8") as fh:
        assert all(r["arrive"] or r["depart"] for r in csv.DictReader(fh))


def test_redacted_summary_has_no_site_figure(demo) -> None:
    _, network, plan = demo
    full = summarize(plan)
    seen = summarize(redact(plan, network))
    assert full["protective"]["required_visits"] > 0
    assert set(seen) & {"protective", "predictability", "baseline", "shortfall", "districts", "timing",
                        "solve_seconds"} == set()
    assert seen["redacted"] is True and seen["hotspots"]["planned_visits"] > 0


def test_redaction_of_the_outputs_fixture_keeps_every_file_valid(westminster_network, tmp_path) -> None:
    # A saved plan from an older run: stops off today's nodes still route, and every file is written.
    plan = load_plan(Path(__file__).parent / "data" / "outputs_plan.json")
    out = write_bundle(redact(plan, westminster_network), tmp_path / "redacted")
    assert json.loads((out / "summary.json").read_text(encoding="utf-8"))["redacted"] is True
    assert _hits(out, _words(plan)) == {}
