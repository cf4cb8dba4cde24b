"""End to end through the command line: plans, bundles, bad input, determinism."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from patrols.cli import main
from patrols.plan import load_plan

from conftest import LEEDS_AREA

BUNDLE = {"plan.json", "summary.json", "roster.csv", "plan.geojson", "map.html"}
ARGS = ["--week", "2018-07-02", "--time-limit", "0.3", "--quiet"]


@pytest.fixture(scope="module")
def leeds_bundle(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("bundle") / "leeds"
    assert main(["plan", "--area", str(LEEDS_AREA), *ARGS, "--out", str(out), "--seed", "3"]) == 0
    return out


def test_plan_writes_the_whole_bundle(leeds_bundle):
    assert {p.name for p in leeds_bundle.iterdir()} >= BUNDLE
    summary = json.loads((leeds_bundle / "summary.json").read_text())
    for key in ("week_start", "seed", "unit_shifts", "solve_seconds"):
        assert key in summary
    assert summary["week_start"] == "2018-07-02" and summary["seed"] == 3
    assert summary["unit_shifts"] == 5 + 7  # a car early Mon-Fri, a foot late every day
    prot = summary["protective"]
    assert prot["required_visits"] == prot["planned_visits"] + len(prot["unserved"])
    for miss in prot["unserved"]:
        assert miss["site_id"] and miss["reason"]
    assert summary["hotspots"]["candidates"] > 0
    assert 0 < summary["hotspots"]["harm_covered"] <= summary["hotspots"]["harm_total"]
    assert summary["routes"]["km"] > 0 and summary["routes"]["patrol_minutes"] > 0


def test_roster_rows_follow_the_routes(leeds_bundle):
    with open(leeds_bundle / "roster.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0])[:11] == ["unit", "date", "shift", "seq", "arrive", "depart", "kind", "ref",
                                  "place", "lat", "lon"]
    assert all(r["place"] for r in rows)
    plan = load_plan(leeds_bundle / "plan.json")
    assert len(rows) == sum(len(r.stops) for r in plan.routes)
    assert {r["kind"] for r in rows} == {"station", "protective", "hotspot"}
    by_route: dict[tuple[str, str, str], list[dict[str, str]]] = {}
    for r in rows:
        by_route.setdefault((r["unit"], r["date"], r["shift"]), []).append(r)
    for stops in by_route.values():
        assert stops[0]["kind"] == stops[-1]["kind"] == "station"
        times = [s["arrive"] or s["depart"] for s in stops]
        assert times == sorted(times)  # ISO with the same offset sorts by time
        for s in stops[1:-1]:
            assert s["arrive"].endswith("+01:00") and s["arrive"] < s["depart"]


def test_geojson_routes_follow_streets_and_stops_match_roster(leeds_bundle):
    doc = json.loads((leeds_bundle / "plan.geojson").read_text())
    routes = [f for f in doc["features"] if f["properties"]["feature"] == "route"]
    stops = [f for f in doc["features"] if f["properties"]["feature"] == "stop"]
    assert len(routes) == 12
    busy = [r for r in routes if r["properties"]["stops"] > 0]
    assert busy and all(len(r["geometry"]["coordinates"]) > 2 for r in busy)
    for f in stops:
        lon, lat = f["geometry"]["coordinates"]
        assert (f["properties"]["lat"], f["properties"]["lon"]) == (lat, lon)


def test_protective_visits_hit_their_windows_and_required_ones_are_kept(leeds_bundle):
    plan = load_plan(leeds_bundle / "plan.json")
    for route in plan.routes:
        for stop in route.stops[1:-1]:
            assert route.start <= stop.arrive < stop.depart <= route.end
        # 40% of the shift stays free for calls.
        assert route.busy_min <= 0.6 * (route.end.timestamp() - route.start.timestamp()) / 60 + 0.5


def test_same_seed_gives_byte_identical_geojson(tmp_path, leeds_bundle):
    out = tmp_path / "again"
    assert main(["plan", "--area", str(LEEDS_AREA), *ARGS, "--out", str(out), "--seed", "3"]) == 0
    assert (out / "plan.geojson").read_bytes() == (leeds_bundle / "plan.geojson").read_bytes()


def test_redacted_bundle_names_no_site(tmp_path):
    out = tmp_path / "redacted"
    assert main(["plan", "--area", str(LEEDS_AREA), *ARGS, "--out", str(out), "--redact"]) == 0
    with open(LEEDS_AREA.parent / "sites.csv", newline="") as fh:
        ids = [r["site_id"] for r in csv.DictReader(fh)]
    files = [p for p in out.rglob("*") if p.is_file()]
    assert len(files) >= len(BUNDLE)
    for path in files:
        text = path.read_bytes().decode("utf-8", "replace")  # plan.gpkg is binary; its text is UTF-8
        assert not any(i in text for i in ids), path.name
        assert "SYNTHETIC" not in text


# ----------------------------------------------------------------- bad input
def _area_copy(tmp_path: Path) -> Path:
    dest = tmp_path / "area"
    shutil.copytree(LEEDS_AREA.parent, dest)
    return dest


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))


BAD_INPUTS = [
    # (file, old, new, expected words in the error)
    ("sites.csv", "S1600a3,surgery,53.809371", "S1600a3,surgery,93.809371", ["sites.csv", "line 2", "lat"]),
    ("sites.csv", "-1.551148", "-1.590000", ["sites.csv", "line 2", "off the network"]),
    ("sites.csv", "site_id,kind", "site,kind", ["sites.csv", "line 1", "site_id"]),
    ("sites.csv", ",2,,,,,SYNTHETIC surgery 1", ",7,,,,,SYNTHETIC surgery 1",
     ["sites.csv", "line 2", "tier"]),
    ("units.csv", "LU-F1,foot,LU", "LU-F1,foot,XX", ["units.csv", "line 3", "unknown station"]),
    ("units.csv", "LU-C1,car", "LU-C1,bicycle", ["units.csv", "line 2", "mode"]),
    ("units.csv", "Mon-Fri", "someday", ["units.csv", "line 2", "days"]),
    ("stations.csv", "53.807514", "53.9", ["stations.csv", "line 2", "off the network"]),
    ("incidents.csv", "L0001,2018-04-13T20:55:00,53.807688", "L0001,2018-04-13T20:55:00,153.8",
     ["incidents.csv", "line 3", "latitude"]),
    ("area.toml", 'units = "units.csv"', 'units = "nope.csv"', ["area.toml", "units", "not found"]),
    ("area.toml", 'name = "Leeds campus (test)"', 'name = "Leeds', ["area.toml", "TOML"]),
]


@pytest.mark.parametrize(("name", "old", "new", "words"), BAD_INPUTS)
def test_bad_input_gives_one_line_and_no_bundle(tmp_path, capsys, name, old, new, words):
    area = _area_copy(tmp_path)
    _edit(area / name, old, new)
    out = tmp_path / "out"
    status = main(["plan", "--area", str(area / "area.toml"), *ARGS, "--out", str(out)])
    err = capsys.readouterr().err.strip()
    assert status == 2
    assert len(err.splitlines()) == 1, err
    for word in words:
        assert word in err, (word, err)
    assert not out.exists()
    assert not list(tmp_path.glob(".out*"))


def test_missing_sites_file_and_no_unit_shift(tmp_path, capsys):
    area = _area_copy(tmp_path)
    (area / "sites.csv").unlink()
    assert main(["plan", "--area", str(area / "area.toml"), *ARGS, "--out", str(tmp_path / "o")]) == 2
    assert "sites" in capsys.readouterr().err
    area = _area_copy(tmp_path / "b")
    # Every week holds all seven days, so a week without unit-shifts is a roster without units.
    (area / "units.csv").write_text("unit_id,mode,station_id,shift,days\n")
    assert main(["plan", "--area", str(area / "area.toml"), *ARGS, "--out", str(tmp_path / "o")]) == 2
    assert "no unit works" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_console_script_prints_no_traceback(tmp_path):
    area = _area_copy(tmp_path)
    _edit(area / "units.csv", "LU-F1,foot,LU", "LU-F1,foot,XX")
    proc = subprocess.run(
        [sys.executable, "-m", "patrols.cli", "plan", "--area", str(area / "area.toml"),
         "--week", "2018-07-02", "--out", str(tmp_path / "o")],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().startswith("patrols: error:") and "units.csv: line 3" in proc.stderr
