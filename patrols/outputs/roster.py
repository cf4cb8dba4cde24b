"""``roster.csv``: one row per stop, for dispatch and for people.

Each stop is given in WGS84 (``lat``, ``lon``) and on the British National Grid
(``easting``, ``northing``, EPSG:27700), the grid UK forces' systems use.
"""

from __future__ import annotations

import csv
import io
from functools import cache

from pyproj import Transformer

from patrols.plan import Plan

COLUMNS = ["unit", "date", "shift", "seq", "arrive", "depart", "kind", "ref", "place", "lat", "lon",
           "easting", "northing"]


@cache
def _to_bng() -> Transformer:
    return Transformer.from_crs("EPSG:4326", "EPSG:27700", always_xy=True)


def to_bng(lons: list[float], lats: list[float]) -> tuple[list[float], list[float]]:
    """British National Grid easting and northing (metres) of WGS84 points.

    Parameters
    ----------
    lons, lats
        Longitudes and latitudes in degrees.

    Returns
    -------
    (eastings, northings)

    Notes
    -----
    PROJ's default WGS84 -> OSGB36 transformation is used. Without the OSTN15
    grid (not bundled, and the grid download is off) it is a Helmert
    transformation good to a few metres: enough to find a street corner, which
    is why the roster gives whole metres.
    """
    east, north = _to_bng().transform(lons, lats)
    return list(east), list(north)


def roster_rows(plan: Plan) -> list[dict[str, str]]:
    """Rows of the roster in route order (times ISO 8601 with offset, empty where none)."""
    rows = []
    for route in plan.routes:
        for stop in route.stops:
            rows.append({
                "unit": route.unit_id,
                "date": route.date.isoformat(),
                "shift": route.shift,
                "seq": str(stop.seq),
                "arrive": stop.arrive.isoformat() if stop.arrive else "",
                "depart": stop.depart.isoformat() if stop.depart else "",
                "kind": stop.kind,
                "ref": stop.ref,
                "place": stop.place,
                "lat": f"{stop.lat:.6f}",
                "lon": f"{stop.lon:.6f}",
            })
    if rows:
        east, north = to_bng([float(r["lon"]) for r in rows], [float(r["lat"]) for r in rows])
        for row, e, n in zip(rows, east, north, strict=True):
            row["easting"], row["northing"] = f"{e:.0f}", f"{n:.0f}"
    return rows


def roster_csv(plan: Plan) -> str:
    """The roster as CSV text with its header on the first line."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(roster_rows(plan))
    return out.getvalue()
