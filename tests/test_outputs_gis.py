"""The bundle read as a GIS, a dispatcher and a calendar read it.

* ``plan.gpkg``, ``plan.geojson``, ``plan.kml`` and the dispatch files through GDAL's own
  ``ogrinfo`` (Debian's ``gdal-bin``; ``make test`` installs it where it can): layers, geometry
  types, field types (DateTime, Real, Integer, never a time as String), and no degenerate line;
* the values read back (pyogrio, the XSDs) equal to the plan's;
* ``roster.ics`` parsed by ``icalendar``: a VTIMEZONE that gives London's offsets, local times
  with ``TZID``, ``SEQUENCE``/``DTSTAMP`` that grow when the week is planned again, UIDs that do not.

The plan is the small saved fixture of ``test_outputs_formats.py``, with one unit-shift that has
no stops added where a test needs one; nothing is solved here.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from patrols.outputs._features import WAYPOINT_NAME_MAX
from patrols.outputs.bundle import BUNDLE_FOLDERS, bundle_files, write_bundle
from patrols.outputs.dispatch import dispatch_files, dispatch_name
from patrols.outputs.geojson import plan_geojson, plan_geojson_text
from patrols.outputs.gpkg import write_gpkg
from patrols.outputs.gpx import GPX_NS, plan_gpx_text
from patrols.outputs.ics import roster_ics
from patrols.outputs.kml import KML_NS, plan_kml_text
from patrols.outputs.redaction import redact
from patrols.outputs.schemas import gpx_schema, kml_schema, patrol_plan_schema
from patrols.plan import Plan, Route, load_plan

FIXTURE = Path(__file__).parent / "data" / "outputs_plan.json"
LONDON = ZoneInfo("Europe/London")
G = {"g": GPX_NS}
K = {"k": KML_NS}
PROTECTIVE_WORDS = ("protective", "protected", "protection", "required_visits", "unserved", "shortfall",
                    "predictability", "SYNTHETIC")


# --------------------------------------------------------------------------------------------- plans

@pytest.fixture(scope="module")
def plan() -> Plan:
    return load_plan(FIXTURE)


def _empty_shift(route: Route) -> Route:
    """The unit-shift of a unit that leaves its station for nothing: two station stops, a one-point path."""
    first, last = route.stops[0], route.stops[-1]
    return replace(route, unit_id="BG-F9", stops=(replace(first, depart=route.start),
                                                  replace(last, seq=1, arrive=route.start)),
                   path=((first.lon, first.lat),), km=0.0, busy_min=0.0)


@pytest.fixture(scope="module")
def with_empty(plan: Plan) -> Plan:
    """The fixture plan and one unit-shift with no stops besides its station."""
    return replace(plan, routes=(*plan.routes, _empty_shift(plan.routes[0])))


@pytest.fixture(scope="module")
def redacted(plan: Plan, westminster_network) -> Plan:
    return redact(plan, westminster_network)


# ------------------------------------------------------------------------------------------- ogrinfo

@pytest.fixture(scope="session")
def ogrinfo() -> str:
    found = os.environ.get("OGRINFO") or shutil.which("ogrinfo")
    if not found:
        pytest.skip("ogrinfo not found (Debian's gdal-bin; `make test` installs it when run as root with "
                    "apt-get; $OGRINFO may point to one)")
    return found


def _run(ogrinfo: str, *args: str | Path) -> str:
    done = subprocess.run([ogrinfo, "-ro", *map(str, args)], capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 0, done.stderr
    # GDAL says "Warning" for anything it had to guess at or could only partly read.
    assert "Warning" not in done.stderr and "ERROR" not in done.stderr, done.stderr
    return done.stdout


_FIELD = re.compile(r"^(\w+): ([\w()]+) \(\d+\.\d+\)$")


def _layers(summary: str) -> dict[str, dict]:
    """``ogrinfo -so -al`` output as {layer: {geometry, count, fields: {name: type}}}."""
    layers: dict[str, dict] = {}
    current: dict = {}
    for line in summary.splitlines():
        if line.startswith("Layer name: "):
            current = layers.setdefault(line[len("Layer name: "):], {"fields": {}})
        elif line.startswith("Geometry: "):
            current["geometry"] = line[len("Geometry: "):]
        elif line.startswith("Feature Count: "):
            current["count"] = int(line[len("Feature Count: "):])
        elif (m := _FIELD.match(line)) and current is not None:
            current["fields"][m[1]] = m[2]
    return layers


def _features(listing: str) -> list[dict[str, str]]:
    """``ogrinfo -al -q`` output as one {field: value} per feature, its geometry's WKT under ``geometry``."""
    out: list[dict[str, str]] = []
    for line in listing.splitlines():
        if line.startswith("OGRFeature("):
            out.append({})
        elif out and (m := re.match(r"^  (\w+) \([\w()]+\) = (.*)$", line)):
            out[-1][m[1]] = m[2]
        elif out and re.match(r"^  (POINT|LINESTRING|MULTILINESTRING|POLYGON)", line):
            out[-1]["geometry"] = line.strip()
    return out


def _xsd(loader):
    try:
        return loader()
    except RuntimeError as exc:  # the XSDs come from PyPI at setup; say so if they could not
        pytest.skip(f"official XSD not available: {exc}")


# ------------------------------------------------------------------------------------------ plan.gpkg

def test_gpkg_three_typed_layers_by_ogrinfo(with_empty: Plan, ogrinfo: str, tmp_path: Path) -> None:
    path = write_gpkg(with_empty, tmp_path / "plan.gpkg")
    layers = _layers(_run(ogrinfo, "-so", "-al", path))
    assert set(layers) == {"routes", "stops", "hotspots"}
    assert (layers["routes"]["geometry"], layers["stops"]["geometry"], layers["hotspots"]["geometry"]) == (
        "Line String", "Point", "Point")
    assert layers["routes"]["count"] == len(with_empty.routes)
    assert layers["stops"]["count"] == sum(len(r.stops) for r in with_empty.routes)
    assert layers["hotspots"]["count"] == len(with_empty.hotspots)
    routes, stops, spots = (layers[n]["fields"] for n in ("routes", "stops", "hotspots"))
    assert {k: routes[k] for k in ("start", "end", "km", "busy_min", "stops", "unit", "date")} == {
        "start": "DateTime", "end": "DateTime", "km": "Real", "busy_min": "Real", "stops": "Integer",
        "unit": "String", "date": "String"}
    assert {k: stops[k] for k in ("arrive", "depart", "dwell_min", "lat", "lon", "seq", "easting", "northing",
                                  "place")} == {
        "arrive": "DateTime", "depart": "DateTime", "dwell_min": "Real", "lat": "Real", "lon": "Real",
        "seq": "Integer", "easting": "Integer", "northing": "Integer", "place": "String"}
    assert {k: spots[k] for k in ("score", "lat", "lon", "easting")} == {
        "score": "Real", "lat": "Real", "lon": "Real", "easting": "Integer"}
    # The unit-shift with no stops keeps its row, without a line (not a zero-length one).
    rows = _features(_run(ogrinfo, "-al", "-q", "-fid", str(len(with_empty.routes)), path, "routes"))
    assert len(rows) == 1 and rows[0]["unit"] == "BG-F9" and rows[0]["stops"] == "0"
    assert "geometry" not in rows[0]
    others = _features(_run(ogrinfo, "-al", "-q", "-where", "stops > 0", path, "routes"))
    assert len(others) == len(with_empty.routes) - 1
    assert all(f["geometry"].startswith("LINESTRING") for f in others)
    # Times are aware (UTC, as GeoPackage stores them) and equal to the plan's.
    first = _features(_run(ogrinfo, "-al", "-q", "-fid", "1", path, "routes"))[0]
    assert first["start"] == f"{with_empty.routes[0].start.astimezone(UTC):%Y/%m/%d %H:%M:%S}+00"


def test_gpkg_values_read_back_equal_to_plan(with_empty: Plan, tmp_path: Path) -> None:
    import pyogrio

    path = write_gpkg(with_empty, tmp_path / "plan.gpkg")
    routes = pyogrio.read_dataframe(path, layer="routes")
    assert list(routes["unit"]) == [r.unit_id for r in with_empty.routes]
    for row, route in zip(routes.itertuples(), with_empty.routes, strict=True):
        assert row.start.to_pydatetime() == route.start and row.end.to_pydatetime() == route.end
        assert (row.km, row.busy_min, row.stops) == (route.km, route.busy_min, len(route.stops) - 2)
        if len(route.stops) > 2:
            assert list(row.geometry.coords) == list(route.path)
        else:
            assert row.geometry is None
    stops = pyogrio.read_dataframe(path, layer="stops")
    pairs = [(r, s) for r in with_empty.routes for s in r.stops]
    assert len(stops) == len(pairs)
    for row, (route, stop) in zip(stops.itertuples(), pairs, strict=True):
        assert (row.unit, row.seq, row.kind, row.ref) == (route.unit_id, stop.seq, stop.kind, stop.ref)
        assert (row.geometry.x, row.geometry.y) == (stop.lon, stop.lat)
        for got, want in ((row.arrive, stop.arrive), (row.depart, stop.depart)):
            assert (None if got is None or got != got else got.to_pydatetime()) == want
        assert row.place == (stop.place or f"{stop.kind} {stop.ref}")
    spots = pyogrio.read_dataframe(path, layer="hotspots")
    assert sorted(zip(spots["hotspot_id"], spots["score"], strict=True)) == sorted(
        (h.hotspot_id, h.score) for h in with_empty.hotspots)


def test_gpkg_of_a_redacted_plan_has_null_times_still_typed(redacted: Plan, ogrinfo: str,
                                                           tmp_path: Path) -> None:
    path = write_gpkg(redacted, tmp_path / "plan.gpkg")
    fields = _layers(_run(ogrinfo, "-so", "-al", path))["stops"]["fields"]
    assert (fields["arrive"], fields["depart"], fields["dwell_min"]) == ("DateTime", "DateTime", "Real")
    rows = _features(_run(ogrinfo, "-al", "-q", path, "stops"))
    assert rows and all(r["arrive"] == r["depart"] == r["dwell_min"] == "(null)" for r in rows)
    assert {r["kind"] for r in rows} <= {"station", "hotspot"}


# --------------------------------------------------------------------------------------- plan.geojson

def test_geojson_times_typed_datetime_by_ogrinfo_never_empty(plan: Plan, redacted: Plan, ogrinfo: str,
                                                             tmp_path: Path) -> None:
    for name, p in (("full", plan), ("redacted", redacted)):
        text = plan_geojson_text(p)
        doc = json.loads(text)
        for f in doc["features"]:
            for key in ("arrive", "depart", "start", "end"):
                value = f["properties"].get(key, None)
                assert value is None or datetime.fromisoformat(value).tzinfo is not None, (name, key)
        assert not re.search(r'"(arrive|depart|start|end)":""', text)
        (tmp_path / name).mkdir()
        (tmp_path / name / "plan.geojson").write_text(text, encoding="utf-8")
    fields = _layers(_run(ogrinfo, "-so", "-al", tmp_path / "full" / "plan.geojson"))["plan"]["fields"]
    typed = ("arrive", "depart", "start", "end", "seq", "km", "easting", "dwell_min")
    assert {k: fields[k] for k in typed} == {
        "arrive": "DateTime", "depart": "DateTime", "start": "DateTime", "end": "DateTime", "seq": "Integer",
        "km": "Real", "easting": "Integer", "dwell_min": "Real"}
    # A redacted plan's stops have no time at all (so GDAL cannot type arrive from values); its shifts do.
    fields = _layers(_run(ogrinfo, "-so", "-al", tmp_path / "redacted" / "plan.geojson"))["plan"]["fields"]
    assert (fields["start"], fields["end"]) == ("DateTime", "DateTime")
    rows = _features(_run(ogrinfo, "-al", "-q", "-where", "feature = 'stop'",
                          tmp_path / "redacted" / "plan.geojson"))
    assert rows and all("arrive" not in r or r["arrive"] == "(null)" for r in rows)


def test_geojson_empty_shift_has_null_geometry_and_validates(with_empty: Plan, redacted: Plan) -> None:
    import jsonschema

    validator = jsonschema.Draft202012Validator(patrol_plan_schema())
    doc = json.loads(json.dumps(plan_geojson(with_empty)))
    validator.validate(doc)
    routes = [f for f in doc["features"] if f["properties"]["feature"] == "route"]
    assert routes[-1]["properties"]["unit"] == "BG-F9" and routes[-1]["geometry"] is None
    assert all(f["geometry"]["type"] == "LineString" and len(f["geometry"]["coordinates"]) >= 2
               for f in routes[:-1])
    validator.validate(json.loads(json.dumps(plan_geojson(redacted))))
    # null, and the empty string older documents carried, are the only ways to say "no time".
    stop = next(f for f in doc["features"] if f["properties"]["feature"] == "stop")
    for value, ok in ((None, True), ("", True), ("soon", False), ("2018-07-02T07:00:00", False)):
        stop["properties"]["arrive"] = value
        assert validator.is_valid(doc) is ok, value
    # A route without geometry is a null, not a LineString of one point.
    routes[-1]["geometry"] = {"type": "LineString", "coordinates": [[-0.14, 51.5]]}
    assert not validator.is_valid(doc)


# ------------------------------------------------------------------------------- plan.kml, plan.gpx

def test_plan_kml_schema_types_numbers_and_no_degenerate_line(with_empty: Plan, ogrinfo: str,
                                                              tmp_path: Path) -> None:
    text = plan_kml_text(with_empty)
    path = tmp_path / "plan.kml"
    path.write_text(text, encoding="utf-8")
    layers = _layers(_run(ogrinfo, "-so", "-al", path))
    assert layers
    for layer in layers.values():
        fields = layer["fields"]
        assert {k: fields[k] for k in ("km", "busy_min", "stops", "seq", "dwell_min")} == {
            "km": "Real", "busy_min": "Real", "stops": "Integer", "seq": "Integer", "dwell_min": "Real"}
    empty = with_empty.routes[-1]
    rows = [r for layer in layers for r in _features(_run(ogrinfo, "-al", "-q", path, layer))]
    lines = [r for r in rows if r.get("geometry", "").startswith("LINESTRING")]
    assert len(lines) == len(with_empty.routes) - 1
    (mark,) = [r for r in rows if r.get("Name") == empty.key]
    assert "geometry" not in mark and mark["stops"] == "0"
    _xsd(kml_schema).validate(text)


def test_plan_gpx_leaves_out_the_route_and_track_of_an_empty_shift(with_empty: Plan) -> None:
    text = plan_gpx_text(with_empty)
    _xsd(gpx_schema).validate(text)
    root = ET.fromstring(text)
    for tag in ("rte", "trk"):
        names = [e.findtext("g:name", namespaces=G) for e in root.findall(f"g:{tag}", G)]
        assert names == [r.key for r in with_empty.routes[:-1]]
    assert all(len(t.findall("g:trkseg/g:trkpt", G)) >= 2 for t in root.findall("g:trk", G))


# ---------------------------------------------------------------------------------- dispatch files

def test_dispatch_files_one_gpx_and_kml_per_unit_shift_with_stops(with_empty: Plan) -> None:
    files = dispatch_files(with_empty)
    want = {dispatch_name(r, ext) for r in with_empty.routes[:-1] for ext in ("gpx", "kml")}
    assert set(files) == want
    assert "dispatch/BG-F1/2018-07-02-early.gpx" in files
    bundle = bundle_files(with_empty)
    assert want <= set(bundle) and "dispatch" in BUNDLE_FOLDERS


def test_dispatch_gpx_route_waypoints_and_track(plan: Plan) -> None:
    schema = _xsd(gpx_schema)
    for route in plan.routes:
        text = dispatch_files(plan)[dispatch_name(route, "gpx")]
        schema.validate(text)
        root = ET.fromstring(text)
        wpts = root.findall("g:wpt", G)
        names = [w.findtext("g:name", namespaces=G) for w in wpts]
        assert len(names) == len(set(names)) == len(route.stops)
        assert all(0 < len(n) <= WAYPOINT_NAME_MAX for n in names)
        for w, stop in zip(wpts, route.stops, strict=True):
            assert (float(w.get("lat")), float(w.get("lon"))) == (round(stop.lat, 6), round(stop.lon, 6))
            desc = w.findtext("g:desc", namespaces=G)
            for moment in (stop.arrive, stop.depart):
                if moment is not None:  # local clock times, e.g. 07:00 for 06:00Z in July
                    assert f"{moment.astimezone(LONDON):%H:%M}" in desc
            assert "BST" in desc
        (rte,) = root.findall("g:rte", G)
        assert [p.findtext("g:name", namespaces=G) for p in rte.findall("g:rtept", G)] == names
        (trk,) = root.findall("g:trk", G)
        pts = [(float(p.get("lon")), float(p.get("lat"))) for p in trk.findall("g:trkseg/g:trkpt", G)]
        assert pts == list(route.path)


def test_dispatch_gpx_read_by_ogrinfo(plan: Plan, ogrinfo: str, tmp_path: Path) -> None:
    for route in plan.routes:
        text = dispatch_files(plan)[dispatch_name(route, "gpx")]
        names = [w.findtext("g:name", namespaces=G) for w in ET.fromstring(text).findall("g:wpt", G)]
        path = tmp_path / f"{route.unit_id}.gpx"
        path.write_text(text, encoding="utf-8")
        layers = _layers(_run(ogrinfo, "-so", "-al", path))
        assert (layers["waypoints"]["count"], layers["routes"]["count"], layers["tracks"]["count"]) == (
            len(route.stops), 1, 1)
        assert layers["route_points"]["count"] == len(route.stops)
        assert layers["track_points"]["count"] == len(route.path)
        (read,) = _features(_run(ogrinfo, "-al", "-q", path, "routes"))
        assert read["name"] == route.key and read["geometry"].startswith("LINESTRING")
        read_wpts = _features(_run(ogrinfo, "-al", "-q", path, "waypoints"))
        assert [w["name"] for w in read_wpts] == names
        assert read_wpts[1]["time"].startswith(f"{route.stops[1].arrive.astimezone(UTC):%Y/%m/%d %H:%M:%S}")


def test_dispatch_kml_route_and_waypoints_typed(plan: Plan, ogrinfo: str, tmp_path: Path) -> None:
    schema = _xsd(kml_schema)
    for route in plan.routes:
        text = dispatch_files(plan)[dispatch_name(route, "kml")]
        schema.validate(text)
        path = tmp_path / f"{route.unit_id}.kml"
        path.write_text(text, encoding="utf-8")
        layers = _layers(_run(ogrinfo, "-so", "-al", path))
        assert (layers["route"]["count"], layers["waypoints"]["count"]) == (1, len(route.stops))
        assert (layers["waypoints"]["fields"]["seq"], layers["waypoints"]["fields"]["dwell_min"]) == (
            "Integer", "Real")
        assert layers["route"]["fields"]["km"] == "Real"
        (line,) = _features(_run(ogrinfo, "-al", "-q", path, "route"))
        assert line["Name"] == route.key and float(line["km"]) == route.km
        coords = line["geometry"][line["geometry"].index("(") + 1:-1].split(",")
        assert [tuple(map(float, c.split())) for c in coords] == list(route.path)
        marks = _features(_run(ogrinfo, "-al", "-q", path, "waypoints"))
        names = [m["Name"] for m in marks]
        assert len(set(names)) == len(route.stops) and all(len(n) <= WAYPOINT_NAME_MAX for n in names)
        assert [int(m["seq"]) for m in marks] == [s.seq for s in route.stops]
        for mark, stop in zip(marks[1:-1], route.stops[1:-1], strict=True):
            arrive, depart = stop.arrive.astimezone(LONDON), stop.depart.astimezone(LONDON)
            assert f"arrive {arrive:%H:%M}, leave {depart:%H:%M} BST" in mark["description"]
        assert marks[0]["description"].endswith(f"leave {route.start.astimezone(LONDON):%H:%M} BST")


def test_redacted_dispatch_and_gpkg_hold_no_time_and_no_word_of_protective_work(
        plan: Plan, redacted: Plan, tmp_path: Path) -> None:
    out = write_bundle(redacted, tmp_path / "redacted", written_at=datetime(2026, 12, 1, tzinfo=UTC))
    words = ({s.site_id for s in plan.sites} | {s.kind for s in plan.sites}
             | {s.label for s in plan.sites if s.label} | set(PROTECTIVE_WORDS))
    checked = [out / "plan.gpkg", *sorted((out / "dispatch").rglob("*.*"))]
    assert len(checked) == 1 + 2 * sum(1 for r in redacted.routes if len(r.stops) > 2)
    for path in checked:
        # The GeoPackage is SQLite: its text is stored as UTF-8 between binary pages.
        text = path.read_bytes().decode("utf-8", errors="replace")
        hits = [w for w in words if re.search(rf"(?<![A-Za-z0-9]){re.escape(w)}(?![A-Za-z0-9])", text, re.I)]
        assert hits == [], path.name
        if path.suffix in (".gpx", ".kml"):
            assert "<time>" not in text and "<begin>" not in text.split("<Folder>", 2)[-1]
            assert not re.search(r"\b\d\d:\d\d\b", re.sub(r"<(begin|end)>[^<]*</\1>", "", text)), path.name


# ----------------------------------------------------------------------------------------- roster.ics

def _unfold(text: str) -> list[str]:
    return text.replace("\r\n ", "").split("\r\n")


def _props(text: str, name: str) -> list[str]:
    """Every content line of the property ``name`` (with its parameters)."""
    return [line for line in _unfold(text) if re.match(rf"^{name}[;:]", line)]


def test_ics_vtimezone_gives_london_offsets(plan: Plan) -> None:
    icalendar = pytest.importorskip("icalendar", reason="icalendar (a dev dependency) parses roster.ics")
    cal = icalendar.Calendar.from_ical(roster_ics(plan, datetime(2026, 12, 1, tzinfo=UTC)))
    (vtz,) = cal.walk("VTIMEZONE")
    assert str(vtz["TZID"]) == "Europe/London"
    assert {c.name for c in vtz.subcomponents} == {"STANDARD", "DAYLIGHT"}
    # Built from the block's own rules (not looked up by name), it agrees with the tz database on each
    # side of every change from 1996 to 2040, and through a year hour by hour.
    zone = vtz.to_tz(lookup_tzid=False)
    moments = []
    for year in range(1996, 2041):
        for month in (3, 10):
            last = max(date(year, month, d) for d in range(25, 32) if date(year, month, d).weekday() == 6)
            change = datetime(last.year, last.month, last.day, 1, tzinfo=UTC)
            moments += [change - timedelta(seconds=1), change, change + timedelta(hours=1)]
    moments += [datetime(2018, 1, 1, tzinfo=UTC) + timedelta(hours=h) for h in range(0, 366 * 24, 1)]
    wrong = [m for m in moments if m.astimezone(zone).utcoffset() != m.astimezone(LONDON).utcoffset()]
    assert wrong == []


def test_ics_events_local_times_with_tzid(plan: Plan) -> None:
    icalendar = pytest.importorskip("icalendar", reason="icalendar (a dev dependency) parses roster.ics")
    text = roster_ics(plan, datetime(2026, 12, 1, tzinfo=UTC))
    assert all(len(line.encode()) <= 75 for line in text.split("\r\n"))
    starts = _props(text, "DTSTART")
    assert starts[2:] == [f"DTSTART;TZID=Europe/London:{r.start.astimezone(LONDON):%Y%m%dT%H%M%S}"
                          for r in plan.routes]  # the first two are the VTIMEZONE's
    assert starts[2] == "DTSTART;TZID=Europe/London:20180702T070000"
    events = list(icalendar.Calendar.from_ical(text).walk("VEVENT"))
    for ev, route in zip(events, plan.routes, strict=True):
        assert ev["DTSTART"].params["TZID"] == ev["DTEND"].params["TZID"] == "Europe/London"
        assert ev.decoded("DTSTART") == route.start and ev.decoded("DTEND") == route.end
        assert str(ev["CLASS"]) == "CONFIDENTIAL"


def test_ics_repeated_october_hour_stays_exact(plan: Plan) -> None:
    icalendar = pytest.importorskip("icalendar", reason="icalendar (a dev dependency) parses roster.ics")
    # 2018-10-28: 01:30 on the London clock happens twice (00:30Z in BST, 01:30Z in GMT).
    first, second = datetime(2018, 10, 28, 0, 30, tzinfo=UTC), datetime(2018, 10, 28, 1, 30, tzinfo=UTC)
    routes = tuple(replace(plan.routes[0], start=s, end=s + timedelta(hours=8), shift=name)
                   for s, name in ((first, "night-a"), (second, "night-b")))
    text = roster_ics(replace(plan, routes=routes), datetime(2026, 12, 1, tzinfo=UTC))
    assert _props(text, "DTSTART")[2:] == ["DTSTART;TZID=Europe/London:20181028T013000",
                                           "DTSTART:20181028T013000Z"]
    events = list(icalendar.Calendar.from_ical(text).walk("VEVENT"))
    # (by timestamp: Python never finds a repeated local time equal to a time in another zone)
    assert [ev.decoded("DTSTART").timestamp() for ev in events] == [first.timestamp(), second.timestamp()]


def test_ics_sequence_and_dtstamp_grow_when_replanned_uids_stay(plan: Plan, tmp_path: Path) -> None:
    icalendar = pytest.importorskip("icalendar", reason="icalendar (a dev dependency) parses roster.ics")
    monday = datetime.now(UTC).replace(microsecond=0) - timedelta(days=7)
    read = []
    for when in (monday, monday + timedelta(seconds=1), monday + timedelta(days=3)):
        out = write_bundle(plan, tmp_path / "b", written_at=when)
        events = list(icalendar.Calendar.from_ical((out / "roster.ics").read_bytes()).walk("VEVENT"))
        read.append([(str(e["UID"]), int(e["SEQUENCE"]), e.decoded("DTSTAMP")) for e in events])
    for earlier, later in pairwise(read):
        assert [uid for uid, _, _ in earlier] == [uid for uid, _, _ in later]
        assert all(b[1] > a[1] and b[2] > a[2] for a, b in zip(earlier, later, strict=True))
    assert read[0][0][2] == monday and len({uid for uid, _, _ in read[0]}) == len(plan.routes)
    # Written without a time given, the stamp is now and above any earlier plan's.
    text = roster_ics(plan)
    stamp = datetime.strptime(_props(text, "DTSTAMP")[0], "DTSTAMP:%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    assert abs(stamp - datetime.now(UTC)) < timedelta(minutes=1)
    assert int(_props(text, "SEQUENCE")[0].split(":")[1]) > read[-1][0][1]
    # The same moment gives the same bytes.
    assert roster_ics(plan, monday) == roster_ics(plan, monday)
