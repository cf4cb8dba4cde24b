"""Reading AVL/GPS tracks (CSV, CSV.gz, GPX) and writing them back.

Round trips through both writers, a GPX file per unit, merging, sorting and
repeated times, every refusal with the file, line or track point and field it
names, ping intervals from 5 s to 15 min, and the speed of a week of 30 s pings.
"""

from __future__ import annotations

import gzip
import time
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from patrols.delivered.tracks import Pings, read_tracks, tracks_csv, tracks_gpx
from patrols.errors import InputError
from patrols.outputs.schemas import gpx_schema

UNITS = {"CX-C1", "CX-C2", "CX-F1"}
T0 = datetime(2018, 7, 4, 14, 0, tzinfo=UTC).timestamp()
GPX10 = "http://www.topografix.com/GPX/1/0"
GPX11 = "http://www.topografix.com/GPX/1/1"


def _pings(unit: str, t: list[float], start: tuple[float, float] = (53.8, -1.55)) -> Pings:
    n = len(t)
    lat = np.round(start[0] + 1e-4 * np.arange(n), 6)
    lon = np.round(start[1] - 2e-4 * np.arange(n), 6)
    return Pings(unit, np.asarray(t, dtype=float), lat, lon)


def _tracks() -> dict[str, Pings]:
    return {
        "CX-C1": _pings("CX-C1", [T0 + 30 * k for k in range(20)]),
        # Fractional seconds, and a unit that starts before the other.
        "CX-C2": _pings("CX-C2", [T0 - 600 + 12.5 * k + 0.125 for k in range(10)], (53.79, -1.54)),
        "CX-F1": _pings("CX-F1", [T0 + 3600.000001], (-33.9, 151.2)),
    }


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def _gpx(tracks: list[tuple[str | None, list[tuple[str, str, str | None]]]], ns: str = GPX11) -> str:
    """GPX text with a trk per (name or None, [(lat, lon, time or None), ...])."""
    q = f"{{{ns}}}" if ns else ""
    root = ET.Element(f"{q}gpx", {"version": "1.1" if ns == GPX11 else "1.0", "creator": "test"})
    for name, points in tracks:
        trk = ET.SubElement(root, f"{q}trk")
        if name is not None:
            ET.SubElement(trk, f"{q}name").text = name
        seg = ET.SubElement(trk, f"{q}trkseg")
        for lat, lon, stamp in points:
            pt = ET.SubElement(seg, f"{q}trkpt", {"lat": lat, "lon": lon})
            if stamp is not None:
                ET.SubElement(pt, f"{q}time").text = stamp
    return ET.tostring(root, encoding="unicode")


def _csv(rows: list[str], header: str = "unit,timestamp,lat,lon") -> str:
    return "\n".join([header, *rows]) + "\n"


# ------------------------------------------------------------------------------------------ round trips

def test_csv_round_trip(tmp_path: Path) -> None:
    tracks = _tracks()
    text = tracks_csv(tracks)
    assert text.splitlines()[0] == "unit,timestamp,lat,lon"
    assert "CX-C1,2018-07-04T14:00:00Z,53.800000,-1.550000" in text.splitlines()
    assert "CX-C2,2018-07-04T13:50:00.125Z,53.790000,-1.540000" in text.splitlines()
    back = read_tracks([_write(tmp_path / "pings.csv", text)], UNITS)
    assert list(back) == sorted(tracks)
    assert back == tracks


def test_gpx_round_trip_and_valid_gpx11(tmp_path: Path) -> None:
    tracks = _tracks()
    text = tracks_gpx(tracks)
    root = ET.fromstring(text)
    assert root.tag == f"{{{GPX11}}}gpx" and root.get("creator") == "patrols" and root.get("version") == "1.1"
    names = [trk.findtext(f"{{{GPX11}}}name") for trk in root.findall(f"{{{GPX11}}}trk")]
    assert names == list(tracks)
    assert all(len(trk.findall(f"{{{GPX11}}}trkseg")) == 1 for trk in root.findall(f"{{{GPX11}}}trk"))
    back = read_tracks([_write(tmp_path / "tracks.gpx", text)], UNITS)
    assert back == tracks
    try:
        schema = gpx_schema()
    except RuntimeError as exc:  # the XSD comes from PyPI at setup; say so if it could not
        pytest.skip(f"official XSD not available: {exc}")
    schema.validate(text)


def test_read_arrays_are_float64_increasing_and_read_only(tmp_path: Path) -> None:
    back = read_tracks([_write(tmp_path / "p.csv", tracks_csv(_tracks()))], UNITS)
    for pings in back.values():
        for array in (pings.t, pings.lat, pings.lon):
            assert array.dtype == np.float64 and not array.flags.writeable
        assert np.all(np.diff(pings.t) > 0)


# ------------------------------------------------------------------------------------ GPX layouts

def test_gpx_file_per_unit_named_by_its_id(tmp_path: Path) -> None:
    paths = [
        _write(tmp_path / "CX-C1.gpx", _gpx([(None, [("53.8", "-1.55", "2018-07-04T14:00:00Z"),
                                                      ("53.801", "-1.551", "2018-07-04T15:00:30+01:00")])])),
        _write(tmp_path / "CX-C2.GPX", _gpx([(" ", [("53.7", "-1.5", "2018-07-04T14:00:00Z")])])),
    ]
    back = read_tracks(paths, UNITS)
    assert set(back) == {"CX-C1", "CX-C2"}
    assert back["CX-C1"].t.tolist() == [T0, T0 + 30]
    assert back["CX-C1"].lat.tolist() == [53.8, 53.801]
    assert back["CX-C2"].lon.tolist() == [-1.5]


@pytest.mark.parametrize("ns", [GPX10, ""], ids=["gpx-1.0", "no-namespace"])
def test_gpx_10_and_no_namespace(tmp_path: Path, ns: str) -> None:
    text = _gpx([("CX-F1", [("53.8", "-1.55", "2018-07-04T14:00:00.5Z")])], ns=ns)
    back = read_tracks([_write(tmp_path / "old.gpx", text)], UNITS)
    assert back["CX-F1"].t.tolist() == [T0 + 0.5]


def test_gpx_points_counted_across_segments(tmp_path: Path) -> None:
    text = tracks_gpx({"CX-C1": _pings("CX-C1", [T0, T0 + 30])})
    root = ET.fromstring(text)
    trk = root.find(f"{{{GPX11}}}trk")
    seg = ET.SubElement(trk, f"{{{GPX11}}}trkseg")
    pt = ET.SubElement(seg, f"{{{GPX11}}}trkpt", {"lat": "53.9", "lon": "-1.6"})
    ET.SubElement(pt, f"{{{GPX11}}}time").text = "2018-07-04T14:01:00"
    path = _write(tmp_path / "two-segs.gpx", ET.tostring(root, encoding="unicode"))
    with pytest.raises(InputError, match=r"two-segs\.gpx: field 'trk\[0\]\.trkpt\[2\]\.time': "
                                         r"'2018-07-04T14:01:00' has no UTC offset"):
        read_tracks([path], UNITS)
    pt.find(f"{{{GPX11}}}time").text = "2018-07-04T14:01:00Z"
    _write(path, ET.tostring(root, encoding="unicode"))
    assert read_tracks([path], UNITS)["CX-C1"].t.tolist() == [T0, T0 + 30, T0 + 60]


# ------------------------------------------------------------------------- CSV layouts and merging

def test_csv_columns_in_any_order_with_extra_columns(tmp_path: Path) -> None:
    text = _csv(["12.5,-1.55,2018-07-04T15:00:00+01:00,CX-C1,53.8",
                 "13.0,-1.56,2018-07-04T10:00:30-04:00,CX-C1,53.81"],
                header="speed_kmh,lon,timestamp,unit,lat")
    back = read_tracks([_write(tmp_path / "avl.csv", text)], UNITS)
    assert back["CX-C1"].t.tolist() == [T0, T0 + 30]
    assert back["CX-C1"].lon.tolist() == [-1.55, -1.56]


def test_merge_across_files_sort_and_drop_repeated_times(tmp_path: Path) -> None:
    first = _write(tmp_path / "a.csv", _csv([
        "CX-C1,2018-07-04T14:01:00Z,53.82,-1.52",
        "CX-C1,2018-07-04T14:00:00Z,53.80,-1.50",
        "CX-C1,2018-07-04T14:01:00Z,53.99,-1.99",   # same time again, later in the file: dropped
        "CX-C2,2018-07-04T14:00:00Z,53.70,-1.40",
    ]))
    second = _write(tmp_path / "b.gpx", _gpx([
        ("CX-C1", [("53.81", "-1.51", "2018-07-04T15:00:30+01:00"),
                   ("53.00", "-1.00", "2018-07-04T14:00:00Z")]),   # same time as a.csv's: dropped
        ("CX-C2", [("53.71", "-1.41", "2018-07-04T14:00:05Z")]),
    ]))
    back = read_tracks([first, second], UNITS)
    c1 = back["CX-C1"]
    assert c1.t.tolist() == [T0, T0 + 30, T0 + 60]
    assert c1.lat.tolist() == [53.80, 53.81, 53.82]
    assert c1.lon.tolist() == [-1.50, -1.51, -1.52]
    assert back["CX-C2"].t.tolist() == [T0, T0 + 5]
    # The other order of files keeps the GPX file's ping at 14:00:00.
    assert read_tracks([second, first], UNITS)["CX-C1"].lat.tolist() == [53.00, 53.81, 53.82]


def test_csv_blank_and_comment_lines_skipped(tmp_path: Path) -> None:
    text = _csv(["# exported 2018-07-05", "", "CX-C1,2018-07-04T14:00:00Z,53.8,-1.55", ",,,"])
    assert read_tracks([_write(tmp_path / "p.csv", text)], UNITS)["CX-C1"].t.tolist() == [T0]


def test_csv_gz(tmp_path: Path) -> None:
    tracks = _tracks()
    path = tmp_path / "pings.CSV.GZ"
    path.write_bytes(gzip.compress(tracks_csv(tracks).encode("utf-8")))
    assert read_tracks([path], UNITS) == tracks


@pytest.mark.parametrize("step", [5.0, 900.0], ids=["5s", "15min"])
def test_ping_intervals_taken_as_they_are(tmp_path: Path, step: float) -> None:
    tracks = {"CX-C1": _pings("CX-C1", [T0 + step * k for k in range(40)])}
    for name, text in (("p.csv", tracks_csv(tracks)), ("p.gpx", tracks_gpx(tracks))):
        back = read_tracks([_write(tmp_path / name, text)], UNITS)
        assert np.all(np.diff(back["CX-C1"].t) == step)
        assert back == tracks


def test_one_path_given_bare(tmp_path: Path) -> None:
    path = _write(tmp_path / "p.csv", _csv(["CX-C1,2018-07-04T14:00:00Z,53.8,-1.55"]))
    assert read_tracks(path, UNITS) == read_tracks([str(path)], UNITS)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------ refusals

GOOD = "CX-C1,2018-07-04T14:00:00Z,53.8,-1.55"


@pytest.mark.parametrize(("row", "match"), [
    ("CX-Z9,2018-07-04T14:00:00Z,53.8,-1.55", r"line 3: field 'unit': unknown unit 'CX-Z9'"),
    (",2018-07-04T14:00:00Z,53.8,-1.55", r"line 3: field 'unit': is empty"),
    ("CX-C1,yesterday,53.8,-1.55", r"line 3: field 'timestamp': 'yesterday' is not an ISO 8601 date-time"),
    ("CX-C1,2018-07-04 25:00:00Z,53.8,-1.55", r"line 3: field 'timestamp': .* is not an ISO 8601"),
    ("CX-C1,2018-07-04T15:00:00,53.8,-1.55",
     r"line 3: field 'timestamp': '2018-07-04T15:00:00' has no UTC offset \(ambiguous\); add Z or \+HH:MM"),
    ("CX-C1,,53.8,-1.55", r"line 3: field 'timestamp': is empty"),
    ("CX-C1,2018-07-04T14:00:00Z,90.5,-1.55", r"line 3: field 'lat': 90.5 is out of range \[-90.0, 90.0\]"),
    ("CX-C1,2018-07-04T14:00:00Z,53.8,-180.01",
     r"line 3: field 'lon': -180.01 is out of range \[-180.0, 180.0\]"),
    ("CX-C1,2018-07-04T14:00:00Z,north,-1.55", r"line 3: field 'lat': 'north' is not a number"),
    ("CX-C1,2018-07-04T14:00:00Z,53.8,nan", r"line 3: field 'lon': 'nan' is not a number"),
    ("CX-C1,2018-07-04T14:00:00Z,53.8", r"line 3: field 'lon': is empty"),
    ("CX-C1,2018-07-04T14:00:00Z,53.8,-1.55,9", r"line 3: 5 values for 4 columns"),
])
def test_csv_refusals_name_file_line_and_field(tmp_path: Path, row: str, match: str) -> None:
    path = _write(tmp_path / "avl.csv", _csv([GOOD, row, GOOD]))
    with pytest.raises(InputError, match=r"avl\.csv: " + match):
        read_tracks([path], UNITS)


@pytest.mark.parametrize(("text", "match"), [
    ("", r"avl\.csv: line 1: file is empty"),
    ("unit,timestamp,lat,lon\n", r"avl\.csv: no pings"),
    ("unit,time,lat\nCX-C1,2018-07-04T14:00:00Z,53.8\n",
     r"avl\.csv: line 1: missing column\(s\) timestamp, lon in the header"),
])
def test_csv_file_refusals(tmp_path: Path, text: str, match: str) -> None:
    with pytest.raises(InputError, match=match):
        read_tracks([_write(tmp_path / "avl.csv", text)], UNITS)


def test_bad_file_refusals(tmp_path: Path) -> None:
    good = _write(tmp_path / "good.csv", _csv([GOOD]))
    with pytest.raises(InputError, match=r"missing\.csv: file not found"):
        read_tracks([good, tmp_path / "missing.csv"], UNITS)
    with pytest.raises(InputError, match=r"pings\.txt: unknown track format"):
        read_tracks([_write(tmp_path / "pings.txt", _csv([GOOD]))], UNITS)
    bad_gz = tmp_path / "p.csv.gz"
    bad_gz.write_bytes(b"not gzip at all")
    with pytest.raises(InputError, match=r"p\.csv\.gz: cannot read"):
        read_tracks([bad_gz], UNITS)


POINT = ("53.8", "-1.55", "2018-07-04T14:00:00Z")


@pytest.mark.parametrize(("tracks", "name", "match"), [
    ([("CX-Z9", [POINT])], "x.gpx", r"x\.gpx: field 'trk\[0\]\.name': unknown unit 'CX-Z9'"),
    ([("CX-C1", [POINT]), (None, [POINT])], "CX-Z9.gpx",
     r"CX-Z9\.gpx: field 'trk\[1\]': the track has no name and the file name 'CX-Z9' is not a known unit"),
    ([("CX-C1", [POINT] * 12 + [("53.8", "-1.55", "2018-07-04T15:00:00")])], "CX-C1.gpx",
     r"CX-C1\.gpx: field 'trk\[0\]\.trkpt\[12\]\.time': '2018-07-04T15:00:00' has no UTC offset"),
    ([("CX-C1", [("53.8", "-1.55", "soon")])], "x.gpx",
     r"x\.gpx: field 'trk\[0\]\.trkpt\[0\]\.time': 'soon' is not an ISO 8601 date-time"),
    ([("CX-C1", [POINT, ("53.8", "-1.55", None)])], "x.gpx",
     r"x\.gpx: field 'trk\[0\]\.trkpt\[1\]\.time': is missing"),
    ([("CX-C1", [("-91", "-1.55", POINT[2])])], "x.gpx",
     r"x\.gpx: field 'trk\[0\]\.trkpt\[0\]\.lat': -91 is out of range \[-90.0, 90.0\]"),
    ([("CX-C1", [("53.8", "west", POINT[2])])], "x.gpx",
     r"x\.gpx: field 'trk\[0\]\.trkpt\[0\]\.lon': 'west' is not a number"),
    ([("CX-C1", [("53.8", "181", POINT[2])])], "x.gpx",
     r"x\.gpx: field 'trk\[0\]\.trkpt\[0\]\.lon': 181 is out of range \[-180.0, 180.0\]"),
    ([("CX-C1", [])], "x.gpx", r"x\.gpx: no pings"),
    ([], "x.gpx", r"x\.gpx: no pings"),
])
def test_gpx_refusals_name_file_track_point_and_field(tmp_path: Path, tracks, name: str, match: str) -> None:
    with pytest.raises(InputError, match=match):
        read_tracks([_write(tmp_path / name, _gpx(tracks))], UNITS)


def test_gpx_missing_lat_attribute(tmp_path: Path) -> None:
    text = _gpx([("CX-C1", [POINT])]).replace('lat="53.8" ', "")
    with pytest.raises(InputError, match=r"x\.gpx: field 'trk\[0\]\.trkpt\[0\]\.lat': is missing"):
        read_tracks([_write(tmp_path / "x.gpx", text)], UNITS)


@pytest.mark.parametrize(("text", "match"), [
    ("", r"x\.gpx: file is empty"),
    ("<gpx><trk><name>CX-C1</trk></gpx>", r"x\.gpx: not valid XML: mismatched tag: line 1"),
    ('<kml xmlns="http://www.opengis.net/kml/2.2"/>', r"x\.gpx: not GPX"),
])
def test_gpx_file_refusals(tmp_path: Path, text: str, match: str) -> None:
    with pytest.raises(InputError, match=match):
        read_tracks([_write(tmp_path / "x.gpx", text)], UNITS)


# ------------------------------------------------------------------------------------------- speed

def test_a_week_of_30s_pings_reads_in_under_2s(tmp_path: Path) -> None:
    # 63 unit-shifts of 8 h at one ping per 30 s, with a column AVL exports carry: about 60,000 rows.
    units = [f"U{i:02d}" for i in range(63)]
    start = datetime(2018, 7, 2, 6, tzinfo=UTC)
    lines = ["unit,timestamp,lat,lon,speed_kmh"]
    for i, unit in enumerate(units):
        shift_start = start + timedelta(hours=8 * i)
        for k in range(960):
            stamp = (shift_start + timedelta(seconds=30 * k)).strftime("%Y-%m-%dT%H:%M:%SZ")
            lines.append(f"{unit},{stamp},{53.8 + 1e-5 * k:.6f},{-1.55 - 1e-5 * k:.6f},31.5")
    path = _write(tmp_path / "week.csv", "\n".join(lines) + "\n")
    began = time.perf_counter()
    tracks = read_tracks([path], units)
    took = time.perf_counter() - began
    assert sum(len(p.t) for p in tracks.values()) == 63 * 960 == 60_480
    assert took < 2.0, f"read {60_480} rows in {took:.2f} s"
