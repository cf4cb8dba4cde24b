"""Every export, validated by an outside tool and read back equal to the plan.

* ``plan.geojson`` against the published JSON Schema ``patrol_plan.v1`` (jsonschema),
* ``plan.gpx`` against the GPX 1.1 XSD and ``plan.kml`` against the OGC KML 2.2 XSD (xmlschema),
* ``roster.ics`` parsed by ``icalendar``, ``roster.csv`` by ``csv`` with the grid checked by pyproj.

The plan is a small saved fixture (two unit-shifts of the demo week), so nothing is solved here.
"""

from __future__ import annotations

import copy
import csv
import io
import json
import xml.etree.ElementTree as ET
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from patrols.outputs import assets
from patrols.outputs.briefing import StreetBoxes, briefing_name, briefings
from patrols.outputs.bundle import BUNDLE_FILES, write_bundle
from patrols.outputs.geojson import plan_geojson
from patrols.outputs.gpx import EXT_NS, GPX_NS, plan_gpx_text
from patrols.outputs.ics import roster_ics
from patrols.outputs.kml import KML_NS, plan_kml_text, stop_fields
from patrols.outputs.redaction import redact
from patrols.outputs.roster import COLUMNS, roster_csv
from patrols.outputs.schemas import gpx_schema, kml_schema, patrol_plan_schema
from patrols.outputs.webmap import map_html
from patrols.plan import Plan, load_plan

FIXTURE = Path(__file__).parent / "data" / "outputs_plan.json"
G = {"g": GPX_NS, "p": EXT_NS}
K = {"k": KML_NS}


@pytest.fixture(scope="module")
def plan() -> Plan:
    return load_plan(FIXTURE)


def _xsd(loader):
    try:
        return loader()
    except RuntimeError as exc:  # the XSDs come from PyPI at setup; say so if they could not
        pytest.skip(f"official XSD not available: {exc}")


# ---------------------------------------------------------------------------------------- roster.csv

def test_roster_columns_and_british_national_grid(plan: Plan) -> None:
    from pyproj import Transformer

    rows = list(csv.DictReader(io.StringIO(roster_csv(plan))))
    assert list(rows[0]) == ["unit", "date", "shift", "seq", "arrive", "depart", "kind", "ref", "place",
                             "lat", "lon", "easting", "northing"] == COLUMNS
    stops = [(r, s) for r in plan.routes for s in r.stops]
    assert len(rows) == len(stops)
    back = Transformer.from_crs("EPSG:27700", "EPSG:4326", always_xy=True)
    for row, (route, stop) in zip(rows, stops, strict=True):
        assert (row["unit"], row["seq"], row["kind"]) == (route.unit_id, str(stop.seq), stop.kind)
        e, n = int(row["easting"]), int(row["northing"])
        assert 500_000 < e < 560_000 and 160_000 < n < 200_000  # Greater London on the grid
        lon, lat = back.transform(e, n)
        # Whole metres: the grid point maps back within about a metre of the stop.
        assert abs(lat - stop.lat) * 111_000 < 1.5 and abs(lon - stop.lon) * 69_000 < 1.5


# -------------------------------------------------------------------------------------- plan.geojson

def test_geojson_valid_against_patrol_plan_v1_and_equal_to_plan(plan: Plan) -> None:
    import jsonschema

    schema = patrol_plan_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    doc = json.loads(json.dumps(plan_geojson(plan)))
    jsonschema.Draft202012Validator(schema).validate(doc)

    routes = [f for f in doc["features"] if f["properties"]["feature"] == "route"]
    stops = [f for f in doc["features"] if f["properties"]["feature"] == "stop"]
    assert [f["properties"]["unit"] for f in routes] == [r.unit_id for r in plan.routes]
    for f, r in zip(routes, plan.routes, strict=True):
        assert [tuple(c) for c in f["geometry"]["coordinates"]] == list(r.path)
        assert datetime.fromisoformat(f["properties"]["start"]) == r.start
    plan_stops = [s for r in plan.routes for s in r.stops]
    for f, s in zip(stops, plan_stops, strict=True):
        p = f["properties"]
        assert f["geometry"]["coordinates"] == [round(s.lon, 6), round(s.lat, 6)]
        assert p["dwell_min"] == round(s.dwell_min, 1)
        assert (datetime.fromisoformat(p["arrive"]) if p["arrive"] else None) == s.arrive


def test_patrol_plan_v1_rejects_what_it_should(plan: Plan, westminster_network) -> None:
    import jsonschema

    validator = jsonschema.Draft202012Validator(patrol_plan_schema())
    good = json.loads(json.dumps(plan_geojson(plan)))
    broken = copy.deepcopy(good)
    del broken["features"][0]["properties"]["unit"]
    assert not validator.is_valid(broken)
    broken = copy.deepcopy(good)
    broken["features"][0]["geometry"]["coordinates"][0] = [51.5, -0.14, 0, 9]  # 4 numbers
    assert not validator.is_valid(broken)
    # A document that says it is redacted may not carry a protective stop.
    leaky = copy.deepcopy(good)
    leaky["patrol_plan"]["redacted"] = True
    assert not validator.is_valid(leaky)
    assert validator.is_valid(json.loads(json.dumps(plan_geojson(redact(plan, westminster_network)))))


# ------------------------------------------------------------------------------------------ plan.gpx

def test_gpx_valid_gpx11_and_equal_to_plan(plan: Plan, tmp_path: Path) -> None:
    schema = _xsd(gpx_schema)
    text = plan_gpx_text(plan)
    schema.validate(text)
    root = ET.fromstring(text)
    visits = [(r, s) for r in plan.routes for s in r.stops[1:-1]]
    wpts = [w for w in root.findall("g:wpt", G) if w.findtext("g:type", namespaces=G) != "station"]
    assert len(wpts) == len(visits)
    for w, (route, stop) in zip(wpts, visits, strict=True):
        assert (float(w.get("lat")), float(w.get("lon"))) == (round(stop.lat, 6), round(stop.lon, 6))
        assert datetime.fromisoformat(w.findtext("g:time", namespaces=G)) == stop.arrive
        assert float(w.findtext("g:extensions/p:dwell_min", namespaces=G)) == stop.dwell_min
        assert w.findtext("g:extensions/p:unit", namespaces=G) == route.unit_id
        assert w.findtext("g:type", namespaces=G) == stop.kind
    rtes, trks = root.findall("g:rte", G), root.findall("g:trk", G)
    assert [r.findtext("g:name", namespaces=G) for r in rtes] == [r.key for r in plan.routes]
    for rte, trk, route in zip(rtes, trks, plan.routes, strict=True):
        assert len(rte.findall("g:rtept", G)) == len(route.stops)
        pts = [(float(p.get("lon")), float(p.get("lat"))) for p in trk.findall("g:trkseg/g:trkpt", G)]
        assert pts == list(route.path)
    # The validator does bite: a waypoint with its name before its time is not GPX 1.1.
    bad = text.replace("<time>", "<xtime>", 1).replace("</time>", "</xtime>", 1)
    assert not schema.is_valid(bad)


# ------------------------------------------------------------------------------------------ plan.kml

def test_kml_valid_ogc22_and_read_back_equal(plan: Plan) -> None:
    schema = _xsd(kml_schema)
    text = plan_kml_text(plan)
    schema.validate(text)
    root = ET.fromstring(text)
    marks = root.findall(".//k:Placemark", K)
    lines = [m for m in marks if m.find("k:LineString", K) is not None]
    points = [m for m in marks if m.find("k:Point", K) is not None]
    by_key = {m.findtext("k:name", namespaces=K): m for m in lines}
    assert set(by_key) == {r.key for r in plan.routes}
    for route in plan.routes:
        coords = by_key[route.key].findtext("k:LineString/k:coordinates", namespaces=K).split()
        assert [tuple(map(float, c.split(","))) for c in coords] == list(route.path)
    read = [{d.get("name"): d.text for d in m.findall("k:ExtendedData/k:SchemaData/k:SimpleData", K)}
            for m in points]
    want = [stop_fields(r, s) for r in sorted(plan.routes, key=lambda r: (r.start, r.unit_id))
            for s in r.stops[1:-1]]
    assert read == want
    # Parsed the schema's way too: xmlschema decodes it without error.
    assert schema.to_dict(text)["Document"]["name"].startswith(plan.area)


# ---------------------------------------------------------------------------------------- roster.ics

def test_ics_parsed_by_icalendar_equal_to_plan(plan: Plan) -> None:
    import icalendar

    text = roster_ics(plan)
    assert all(len(line.encode()) <= 75 for line in text.split("\r\n"))
    cal = icalendar.Calendar.from_ical(text)
    events = list(cal.walk("VEVENT"))
    assert len(events) == len(plan.routes)
    for ev, route in zip(events, plan.routes, strict=True):
        assert ev.decoded("DTSTART") == route.start.astimezone(UTC)
        assert ev.decoded("DTEND") == route.end.astimezone(UTC)
        desc = str(ev["DESCRIPTION"])
        for stop in route.stops[1:-1]:
            assert f"{stop.seq}. {stop.arrive:%H:%M}-{stop.depart:%H:%M} {stop.kind} {stop.ref}" in desc
        assert route.unit_id in str(ev["SUMMARY"])
    assert len({str(ev["UID"]) for ev in events}) == len(events)


# -------------------------------------------------------------------------------- briefings, bundle

def test_briefings_one_page_per_unit_shift_with_map_and_times(plan: Plan) -> None:
    pages = briefings(plan)
    assert set(pages) == {briefing_name(r) for r in plan.routes} | {"briefings/index.html"}
    for route in plan.routes:
        page = pages[briefing_name(route)]
        svg = ET.fromstring(page[page.index("<svg"):page.index("</svg>") + 6])
        paths = svg.findall("{http://www.w3.org/2000/svg}path")
        assert len(paths) == 2 and paths[0].get("d").count("M") > 50  # streets, then the route
        assert len(svg.findall("{http://www.w3.org/2000/svg}circle")) == len(route.stops) - 2
        for stop in route.stops[1:-1]:
            assert f"<td>{stop.arrive:%H:%M}</td><td>{stop.depart:%H:%M}</td>" in page
        assert "<script" not in page
        assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
        assert "OFFICIAL-SENSITIVE" in page


def test_street_background_written_as_point_by_point_formatting_writes_it(plan: Plan) -> None:
    # The background is projected and formatted with numpy; it must read exactly as the plain
    # ``f"{x:.0f},{y:.0f}"`` of each point, "-0" (a point just outside the frame) included.
    streets = [[(0.0, 0.0), (0.00049, 0.001), (-0.00049, 0.0)], [(0.5, 0.5)],
               [(0.001, -0.002), (0.0015, 0.0025)]]
    boxes = StreetBoxes(replace(plan, streets=streets))
    x0, kx, west, y0, scale, north = 0.25, 0.62, 0.0, -0.3, 1000.0, 0.0
    index = boxes.within(-1, -1, 1, 1)
    assert index.tolist() == [0, 1]  # the one-point street is not drawn
    expect = "".join("M" + "L".join(f"{x0 + (x - west) * kx * scale:.0f},{y0 + (north - y) * scale:.0f}"
                                    for x, y in line) for line in (streets[0], streets[2]))
    assert "-0," in expect and ",-0" in expect
    assert boxes.path_d(index, x0, kx, west, y0, scale, north) == expect
    assert boxes.path_d(index[:0], x0, kx, west, y0, scale, north) == ""


def test_bundle_holds_every_output(plan: Plan, tmp_path: Path) -> None:
    out = write_bundle(plan, tmp_path / "b")
    for name in BUNDLE_FILES:
        assert (out / name).stat().st_size > 0, name
    assert len(list((out / "briefings").glob("*.html"))) == len(plan.routes) + 1
    assert (out / "roster.ics").read_bytes().count(b"\r\n") > 10  # CRLF kept on disk


# ----------------------------------------------------------------------------------------- map.html

def test_map_self_contained_with_csp(plan: Plan) -> None:
    page = map_html(plan)
    assert "default-src 'none'" in page
    # Every element of the page, as a browser parses it: none links to anything.
    from html.parser import HTMLParser

    tags: list[tuple[str, dict[str, str | None]]] = []

    class Tags(HTMLParser):
        def handle_starttag(self, tag, attrs):
            tags.append((tag, dict(attrs)))

    Tags().feed(page)
    assert {t for t, _ in tags} >= {"script", "style", "div"}
    assert not [(t, a) for t, a in tags if {"src", "href", "data", "srcset", "poster"} & set(a)]
    assert "@import" not in page
    assert "sourceMappingURL" not in page
    leaflet = assets.leaflet_assets()
    assert leaflet.js.replace("</", "<\\/") in page and leaflet.css in page  # Leaflet itself is inline
    assert "url(images/" not in page  # its images are data: URIs
    assert "OFFICIAL-SENSITIVE" in page


def test_map_tile_url_opt_in_lets_only_that_host(plan: Plan) -> None:
    page = map_html(plan, tile_url="https://tiles.force.police.uk/{z}/{x}/{y}.png")
    assert "img-src data: https://tiles.force.police.uk;" in page
    assert "tiles.force.police.uk" not in map_html(plan)


def test_map_without_leaflet_fails_clearly(plan: Plan, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv(assets.ENV_NODE_MODULES, str(tmp_path))
    with pytest.raises(assets.MapAssetsMissing, match="make setup"):
        map_html(plan)


def test_map_data_units_slots_and_layers(plan: Plan) -> None:
    from patrols.outputs.webmap import map_data

    data = map_data(plan)
    assert [u[0] for u in data["units"]] == sorted({r.unit_id for r in plan.routes})
    assert {(s[0], s[1]) for s in data["slots"]} == {(r.date.isoformat(), r.shift) for r in plan.routes}
    assert len(data["sites"]) == len(plan.sites) and data["hot"] and data["streets"]
    # Decoding a line gives back the plan's coordinates to 1e-5 degree.
    ox, oy = data["origin"]
    steps = data["routes"][0]["path"]
    x, y, pts = ox, oy, []
    for i in range(0, len(steps), 2):
        x, y = x + steps[i], y + steps[i + 1]
        pts.append((x / data["scale"], y / data["scale"]))
    assert all(abs(a - c) < 1e-5 and abs(b - d) < 1e-5
               for (a, b), (c, d) in zip(pts, plan.routes[0].path, strict=True))


def test_redacted_plan_keeps_no_figure_of_the_full_plan(plan: Plan, westminster_network) -> None:
    seen = redact(replace(plan, extra={"predictability": {"sites": {plan.sites[0].site_id: 1}, "mean": 2},
                                       "shortfall": [{"sites": [plan.sites[1].site_id], "n": 1}],
                                       "dosage": {"daily_cap": 2}}), westminster_network)
    assert seen.sites == () and seen.unserved == () and seen.required_visits == 0 and seen.redacted
    assert set(seen.extra) == {"dosage", "hotspot_patrol_minutes", "harm_per_patrol_hour",
                               "hotspot_dwell_minutes"}
    for r0, r1 in zip(plan.routes, seen.routes, strict=True):
        hot = [s for s in r0.stops if s.kind == "hotspot"]
        assert [(s.ref, s.lat, s.lon) for s in r1.stops[1:-1]] == [(s.ref, s.lat, s.lon) for s in hot]
        assert all(s.arrive is None and s.depart is None for s in r1.stops)
    assert plan.sites[0].site_id not in json.dumps(seen.extra)
