"""Where patrol units actually were: AVL/GPS pings read from CSV and GPX files.

Two formats are read, chosen by the file's extension (any case):

* ``.csv`` and ``.csv.gz``: pings as AVL systems export them, a header with
  at least ``unit,timestamp,lat,lon`` (any order, other columns ignored).
  ``timestamp`` is ISO 8601 with ``Z`` or an offset (``2018-07-04T15:02:30+01:00``,
  fractional seconds allowed); a time without an offset is refused, since
  it could be local or UTC.
* ``.gpx`` (1.1, 1.0 or without a namespace): a ``trk`` per unit named by the
  unit id, or an unnamed ``trk`` in a file named by the unit id (``CX-C1.gpx``);
  each ``trkpt`` needs ``lat``, ``lon`` and a ``time`` with ``Z`` or an offset.

Pings are taken as they are (any interval, no resampling): merged per unit
across files, sorted by time, and a ping at exactly the time of an earlier one
is dropped (the first read is kept). Any bad value is one ``InputError``
naming the file and the line and column (CSV) or the track point
(``CX-C1.gpx: field 'trk[0].trkpt[12].time': ...``; points are counted
across the track's segments), and nothing is returned.

:func:`tracks_csv` and :func:`tracks_gpx` write pings back in these formats
(times in UTC to the microsecond, coordinates to 6 decimals, about 0.1 m).
"""

from __future__ import annotations

import csv
import gzip
import io
import xml.etree.ElementTree as ET
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from patrols.errors import InputError
from patrols.outputs._xml import sub, to_text
from patrols.outputs.gpx import GPX_NS, XSI_NS

CSV_COLUMNS = ("unit", "timestamp", "lat", "lon")
GPX_NAMESPACES = (GPX_NS, "http://www.topografix.com/GPX/1/0", "")


@dataclass(frozen=True)
class Pings:
    """One unit's positions in time order (pure data).

    Equal when the unit and every time and position are equal.
    """

    unit_id: str
    t: np.ndarray
    """POSIX seconds (UTC), float64, strictly increasing."""
    lat: np.ndarray
    """Latitude, float64."""
    lon: np.ndarray
    """Longitude, float64."""

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Pings):
            return NotImplemented
        return (self.unit_id == other.unit_id and np.array_equal(self.t, other.t)
                and np.array_equal(self.lat, other.lat) and np.array_equal(self.lon, other.lon))


# A unit's pings from one or more files, in reading order: times, lats, lons.
_Columns = tuple[list[float], list[float], list[float]]


def read_tracks(paths: Sequence[str | Path], units: Collection[str]) -> dict[str, Pings]:
    """Read every file; merge pings of the same unit across files; sort by time.

    Parameters
    ----------
    paths
        ``.csv``, ``.csv.gz`` or ``.gpx`` files, in any mix.
    units
        The unit ids the pings may belong to; any other is refused.

    Returns
    -------
    dict[str, Pings]
        Each unit with pings, by unit id in sorted order; arrays are read-only.

    Raises
    ------
    InputError
        One line naming the file, and the line and field (CSV) or track point
        (GPX), for a missing, empty or malformed file, a missing column, an
        unknown unit, a time unparsable or without an offset, or a coordinate
        not a number or out of range.
    """
    if isinstance(paths, str | Path):  # one file given bare: not a sequence of one-letter names
        paths = [paths]
    known = frozenset(units)
    merged: dict[str, _Columns] = {}
    for raw in paths:
        path = Path(raw)
        if not path.is_file():
            raise InputError(path, "file not found")
        name = path.name.lower()
        if name.endswith((".csv", ".csv.gz")):
            found = _read_csv(path, known)
        elif name.endswith(".gpx"):
            found = _read_gpx(path, known)
        else:
            raise InputError(path, "unknown track format; expected .csv, .csv.gz or .gpx")
        for unit, (t, lat, lon) in found.items():
            into = merged.setdefault(unit, ([], [], []))
            into[0].extend(t)
            into[1].extend(lat)
            into[2].extend(lon)
    return {unit: _pings(unit, *merged[unit]) for unit in sorted(merged)}


def _pings(unit: str, t: list[float], lat: list[float], lon: list[float]) -> Pings:
    """Sort by time (stable, so the first read of a time comes first) and drop repeated times."""
    times = np.asarray(t, dtype=np.float64)
    order = np.argsort(times, kind="stable")
    times = times[order]
    keep = np.ones(len(times), dtype=bool)
    keep[1:] = times[1:] != times[:-1]
    arrays = [times[keep], np.asarray(lat, dtype=np.float64)[order][keep],
              np.asarray(lon, dtype=np.float64)[order][keep]]
    for array in arrays:
        array.flags.writeable = False
    return Pings(unit, *arrays)


def _posix(raw: str) -> float:
    """POSIX seconds of an ISO 8601 time with ``Z`` or an offset; ``ValueError`` says what is wrong."""
    text = raw.strip()
    if not text:
        raise ValueError("is empty")
    try:
        moment = datetime.fromisoformat(text[:-1] + "Z" if text.endswith("z") else text)
    except ValueError:
        raise ValueError(f"{text!r} is not an ISO 8601 date-time") from None
    if moment.tzinfo is None:
        raise ValueError(f"{text!r} has no UTC offset (ambiguous); add Z or +HH:MM")
    return moment.timestamp()


def _degrees(raw: str, limit: float) -> float:
    """A latitude (``limit`` 90) or longitude (180); ``ValueError`` says what is wrong."""
    text = raw.strip()
    if not text:
        raise ValueError("is empty")
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a number") from None
    if value != value:
        raise ValueError(f"{text!r} is not a number")
    if not -limit <= value <= limit:
        raise ValueError(f"{text} is out of range [{-limit}, {limit}]")
    return value


def _open_text(path: Path) -> io.TextIOBase:
    if path.name.lower().endswith(".gz"):
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8-sig", newline="")
    return open(path, encoding="utf-8-sig", newline="")


def _read_csv(path: Path, units: frozenset[str]) -> dict[str, _Columns]:
    # The csv module and a plain loop rather than a Row per line: a week of 30 s pings
    # is some 60,000 rows, and errors still name the first bad line and its field.
    found: dict[str, _Columns] = {}
    try:
        with _open_text(path) as fh:
            reader = csv.reader(fh)
            header = next(reader, None)
            if not header:
                raise InputError(path, "file is empty; expected a header on line 1", row=1)
            header = [h.strip() for h in header]
            missing = [c for c in CSV_COLUMNS if c not in header]
            if missing:
                raise InputError(path, "missing column(s) " + ", ".join(missing) + " in the header", row=1)
            width = len(header)
            i_unit, i_time, i_lat, i_lon = (header.index(c) for c in CSV_COLUMNS)
            for line, values in enumerate(reader, start=2):
                if len(values) != width:
                    if not values:
                        continue
                    if len(values) > width:
                        raise InputError(path, f"{len(values)} values for {width} columns", row=line)
                    values = values + [""] * (width - len(values))
                unit = values[i_unit].strip()
                if unit not in units:
                    if all(not v.strip() for v in values) or values[0].lstrip().startswith("#"):
                        continue
                    message = f"unknown unit {unit!r}" if unit else "is empty"
                    raise InputError(path, message, row=line, field="unit")
                field = "timestamp"
                try:
                    t = _posix(values[i_time])
                    field = "lat"
                    lat = _degrees(values[i_lat], 90.0)
                    field = "lon"
                    lon = _degrees(values[i_lon], 180.0)
                except ValueError as exc:
                    raise InputError(path, str(exc), row=line, field=field) from None
                columns = found.get(unit)
                if columns is None:
                    columns = found[unit] = ([], [], [])
                columns[0].append(t)
                columns[1].append(lat)
                columns[2].append(lon)
    except (OSError, UnicodeDecodeError, EOFError, csv.Error) as exc:
        raise InputError(path, f"cannot read: {exc}") from None
    if not found:
        raise InputError(path, "no pings (a header and no rows)")
    return found


def _read_gpx(path: Path, units: frozenset[str]) -> dict[str, _Columns]:
    if path.stat().st_size == 0:
        raise InputError(path, "file is empty")
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as exc:
        raise InputError(path, f"not valid XML: {exc}") from None
    except OSError as exc:
        raise InputError(path, f"cannot read: {exc}") from None
    space, _, tag = root.tag[1:].partition("}") if root.tag.startswith("{") else ("", "", root.tag)
    if tag != "gpx" or space not in GPX_NAMESPACES:
        raise InputError(path, f"not GPX: the root element is {root.tag!r}, not gpx (1.1 or 1.0)")
    ns = f"{{{space}}}" if space else ""
    stem = path.name[:-len(".gpx")]
    found: dict[str, _Columns] = {}
    for i, trk in enumerate(root.findall(f"{ns}trk")):
        where = f"trk[{i}]"
        name = (trk.findtext(f"{ns}name") or "").strip()
        unit = name or stem
        if unit not in units:
            if name:
                raise InputError(path, f"unknown unit {unit!r}", field=f"{where}.name")
            raise InputError(path, f"the track has no name and the file name {stem!r} is not a known unit",
                             field=where)
        columns = found.setdefault(unit, ([], [], []))
        points = (pt for seg in trk.findall(f"{ns}trkseg") for pt in seg.findall(f"{ns}trkpt"))
        for k, pt in enumerate(points):
            field = f"{where}.trkpt[{k}].time"
            try:
                stamp = pt.findtext(f"{ns}time")
                if stamp is None:
                    raise ValueError("is missing (a track point needs a time)")
                t = _posix(stamp)
                values = []
                for attr, limit in (("lat", 90.0), ("lon", 180.0)):
                    field = f"{where}.trkpt[{k}].{attr}"
                    raw = pt.get(attr)
                    if raw is None:
                        raise ValueError("is missing")
                    values.append(_degrees(raw, limit))
            except ValueError as exc:
                raise InputError(path, str(exc), field=field) from None
            columns[0].append(t)
            columns[1].append(values[0])
            columns[2].append(values[1])
    found = {unit: columns for unit, columns in found.items() if columns[0]}
    if not found:
        raise InputError(path, "no pings (no trk with a trkpt)")
    return found


def _utc(t: float) -> str:
    """POSIX seconds as ``YYYY-MM-DDTHH:MM:SS[.ffffff]Z``, the fraction only when not whole."""
    text = datetime.fromtimestamp(float(t), UTC).replace(tzinfo=None).isoformat()
    return (text.rstrip("0") if "." in text else text) + "Z"


def tracks_csv(tracks: Mapping[str, Pings]) -> str:
    """Pings as CSV text that :func:`read_tracks` reads back to the same pings.

    Parameters
    ----------
    tracks
        Pings by unit id, written in the mapping's order, each unit's in its own order.

    Returns
    -------
    str
        ``unit,timestamp,lat,lon``: UTC ``Z`` times, to the second unless a fraction
        is needed, and coordinates to 6 decimals.
    """
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for pings in tracks.values():
        writer.writerows((pings.unit_id, _utc(t), f"{lat:.6f}", f"{lon:.6f}")
                         for t, lat, lon in zip(pings.t, pings.lat, pings.lon, strict=True))
    return out.getvalue()


def tracks_gpx(tracks: Mapping[str, Pings]) -> str:
    """Pings as GPX 1.1 text that :func:`read_tracks` reads back to the same pings.

    Parameters
    ----------
    tracks
        Pings by unit id, written in the mapping's order.

    Returns
    -------
    str
        A ``gpx`` document (creator ``patrols``) with one ``trk`` per unit named by
        its id, one ``trkseg``, and a ``trkpt`` per ping with its UTC ``time``.
    """
    ET.register_namespace("", GPX_NS)
    ET.register_namespace("xsi", XSI_NS)
    root = ET.Element(f"{{{GPX_NS}}}gpx", {"version": "1.1", "creator": "patrols",
                                           f"{{{XSI_NS}}}schemaLocation":
                                           f"{GPX_NS} http://www.topografix.com/GPX/1/1/gpx.xsd"})
    for pings in tracks.values():
        trk = sub(root, f"{{{GPX_NS}}}trk")
        sub(trk, f"{{{GPX_NS}}}name", pings.unit_id)
        seg = sub(trk, f"{{{GPX_NS}}}trkseg")
        for t, lat, lon in zip(pings.t, pings.lat, pings.lon, strict=True):
            pt = sub(seg, f"{{{GPX_NS}}}trkpt", lat=f"{lat:.6f}", lon=f"{lon:.6f}")
            sub(pt, f"{{{GPX_NS}}}time", _utc(t))
    return to_text(root)
