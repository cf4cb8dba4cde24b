"""``plan.gpkg``: the plan as typed GIS layers (OGC GeoPackage, WGS84), written with geopandas and pyogrio.

Three layers, each one geometry type, so QGIS, ArcGIS and ``ogr2ogr`` (to a
Shapefile too) take them as they are:

* ``routes`` (LineString): one row per unit-shift: ``unit``, ``date``,
  ``shift``, ``mode``, ``station`` (text), ``start``, ``end`` (DateTime),
  ``km``, ``busy_min`` (Real), ``stops`` (Integer). A unit-shift with no stops
  besides its station keeps its row with a NULL geometry, never a zero-length line.
* ``stops`` (Point): one row per stop, the roster's columns typed: ``seq``,
  ``easting``, ``northing`` (Integer), ``lat``, ``lon``, ``dwell_min`` (Real),
  ``arrive``, ``depart`` (DateTime, NULL where the plan gives no time: every
  stop of a redacted plan, whose ``dwell_min`` is NULL too), ``place`` (the
  stop in words, else its kind and ref).
* ``hotspots`` (Point): ``hotspot_id``, ``score`` (Real), ``lat``, ``lon``
  (Real), ``easting``, ``northing`` (Integer).

Times are stored in UTC, as the GeoPackage standard asks of DateTime fields
(GDAL reads them back as aware times, ``+00``); the plan's own local times are
in ``plan.json`` and the roster. ``date`` is the shift's day as ISO 8601 text:
pyogrio types a column as Date only from an Arrow table, and pyarrow is not a
dependency. The file is GeoPackage 1.3, which GDAL releases before 3.7
(Debian 12's) read without a warning.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely

from patrols.outputs._features import dwell_or_none, place_of, route_line
from patrols.outputs.roster import to_bng
from patrols.plan import Plan

LAYERS = ("routes", "stops", "hotspots")
CRS = "EPSG:4326"
_DATASET_OPTIONS = {"VERSION": "1.3"}


def _times(values: list[Any]) -> pd.Series:
    # Aware datetimes in UTC; None becomes NaT, written as NULL. An all-NULL column stays a time column.
    return pd.Series(pd.to_datetime(values, utc=True), dtype="datetime64[ms, UTC]")


def _ints(values: list[int]) -> np.ndarray:
    return np.asarray(values, dtype=np.int32)  # Integer, not Integer64, in OGR


def _grid(lons: list[float], lats: list[float]) -> tuple[np.ndarray, np.ndarray]:
    if not lons:
        return _ints([]), _ints([])
    east, north = to_bng(lons, lats)
    return _ints(np.rint(east).tolist()), _ints(np.rint(north).tolist())


def plan_layers(plan: Plan) -> dict[str, gpd.GeoDataFrame]:
    """The plan's three typed layers, by name.

    Parameters
    ----------
    plan
        The plan.

    Returns
    -------
    dict
        ``routes``, ``stops`` and ``hotspots`` as GeoDataFrames in WGS84.
    """
    routes = plan.routes
    lines = [route_line(r) for r in routes]
    route_layer = gpd.GeoDataFrame({
        "unit": [r.unit_id for r in routes],
        "date": [r.date.isoformat() for r in routes],
        "shift": [r.shift for r in routes],
        "mode": [r.mode for r in routes],
        "station": [r.station_id for r in routes],
        "start": _times([r.start for r in routes]),
        "end": _times([r.end for r in routes]),
        "km": np.asarray([r.km for r in routes], dtype=float),
        "busy_min": np.asarray([r.busy_min for r in routes], dtype=float),
        "stops": _ints([len(r.stops) - 2 for r in routes]),
    }, geometry=gpd.GeoSeries([None if line is None else shapely.LineString(line) for line in lines],
                              crs=CRS), crs=CRS)

    pairs = [(r, s) for r in routes for s in r.stops]
    lons = np.asarray([s.lon for _, s in pairs], dtype=float)
    lats = np.asarray([s.lat for _, s in pairs], dtype=float)
    east, north = _grid(lons.tolist(), lats.tolist())
    dwell = [dwell_or_none(s) for _, s in pairs]
    stop_layer = gpd.GeoDataFrame({
        "unit": [r.unit_id for r, _ in pairs],
        "date": [r.date.isoformat() for r, _ in pairs],
        "shift": [r.shift for r, _ in pairs],
        "seq": _ints([s.seq for _, s in pairs]),
        "kind": [s.kind for _, s in pairs],
        "ref": [s.ref for _, s in pairs],
        "place": [place_of(s) for _, s in pairs],
        "arrive": _times([s.arrive for _, s in pairs]),
        "depart": _times([s.depart for _, s in pairs]),
        "dwell_min": np.asarray([np.nan if d is None else d for d in dwell], dtype=float),
        "lat": lats,
        "lon": lons,
        "easting": east,
        "northing": north,
    }, geometry=gpd.GeoSeries(shapely.points(lons, lats), crs=CRS), crs=CRS)

    spots = plan.hotspots
    h_lons = np.asarray([h.lon for h in spots], dtype=float)
    h_lats = np.asarray([h.lat for h in spots], dtype=float)
    h_east, h_north = _grid(h_lons.tolist(), h_lats.tolist())
    hotspot_layer = gpd.GeoDataFrame({
        "hotspot_id": [h.hotspot_id for h in spots],
        "score": np.asarray([h.score for h in spots], dtype=float),
        "lat": h_lats,
        "lon": h_lons,
        "easting": h_east,
        "northing": h_north,
    }, geometry=gpd.GeoSeries(shapely.points(h_lons, h_lats), crs=CRS), crs=CRS)
    return {"routes": route_layer, "stops": stop_layer, "hotspots": hotspot_layer}


_GEOMETRY_TYPES = {"routes": "LineString", "stops": "Point", "hotspots": "Point"}


def write_gpkg(plan: Plan, path: str | Path) -> Path:
    """Write ``plan.gpkg`` (a new file: remove an old one first).

    Parameters
    ----------
    plan
        The plan.
    path
        Where to write it.

    Returns
    -------
    Path
        ``path``.
    """
    path = Path(path)
    for name, layer in plan_layers(plan).items():
        # The layer's type is stated, not guessed from its rows: an empty or all-NULL layer keeps it.
        pyogrio.write_dataframe(layer, path, layer=name, driver="GPKG", geometry_type=_GEOMETRY_TYPES[name],
                                promote_to_multi=False, dataset_options=_DATASET_OPTIONS)
    return path


def plan_gpkg_bytes(plan: Plan) -> bytes:
    """``plan.gpkg`` as bytes (what :func:`patrols.outputs.bundle.bundle_files` holds)."""
    with tempfile.TemporaryDirectory(prefix="patrols-gpkg-") as tmp:
        return write_gpkg(plan, Path(tmp) / "plan.gpkg").read_bytes()
