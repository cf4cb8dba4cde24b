"""Hotspots: street segments scored by harm and recency, and patrol points on them.

Each incident before the as-of date is weighted by the harm of its category,
its severity, and an exponential recency decay with a per-category half-life;
it is placed on the nearest street. A street segment's score is the weight of
the incidents on it. Patrol points are the highest-scoring places, at least a
set distance apart, each with a prize equal to the harm it stands for.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import geopandas as gpd
import numpy as np
import pandas as pd
from shapely import LineString

from patrols.area import Settings
from patrols.network import Network


@dataclass(frozen=True)
class Hotspot:
    """A patrol point: where a unit stands to dose a hot street."""

    hotspot_id: str
    lat: float
    lon: float
    node: int
    score: float
    """Harm-weighted, recency-decayed incidents on the segment."""
    prize: float
    """What a visit in one shift is worth to the solver (here: the score)."""
    segment_id: int


def incident_weights(incidents: pd.DataFrame, as_of: date, settings: Settings) -> pd.DataFrame:
    """Incidents before ``as_of`` with their weight (harm x severity x recency).

    Parameters
    ----------
    incidents
        As from :func:`patrols.incidents.read_all`.
    as_of
        Only incidents strictly before this date count.
    settings
        Harm weights and half-lives.

    Returns
    -------
    pandas.DataFrame
        The rows kept, with ``age_days`` and ``weight`` columns added.
    """
    cutoff = pd.Timestamp(as_of)
    kept = incidents[incidents["timestamp"] < cutoff].copy()
    age = (cutoff - kept["timestamp"]).dt.total_seconds().to_numpy() / 86400.0
    cats = kept["category"].to_numpy()
    harm = np.array([settings.harm_weight(c) for c in cats], dtype=float)
    half = np.array([settings.half_life(c) for c in cats], dtype=float)
    kept["age_days"] = age
    kept["weight"] = harm * kept["severity"].to_numpy() * np.power(0.5, age / half)
    return kept


def score_segments(network: Network, incidents: pd.DataFrame, as_of: date,
                   settings: Settings) -> gpd.GeoDataFrame:
    """Score every street segment by the weighted incidents placed on it.

    Parameters
    ----------
    network
        The area's streets.
    incidents
        Incident table (see :mod:`patrols.incidents`).
    as_of
        Incidents on or after this date are ignored.
    settings
        Harm weights, half-lives and the snapping distance.

    Returns
    -------
    geopandas.GeoDataFrame
        One row per undirected street segment: ``segment_id``, ``u``, ``v``
        (node indices), ``length_m``, ``count``, ``harm`` (unweighted by
        recency), ``score`` and a WGS84 LineString; sorted by ``segment_id``.
    """
    weighted = incident_weights(incidents, as_of, settings)
    # One segment per undirected street: both directions of a two-way street share it.
    lo = np.minimum(network.edge_u, network.edge_v)
    hi = np.maximum(network.edge_u, network.edge_v)
    keys = pd.MultiIndex.from_arrays([lo, hi])
    seg_codes, uniques = pd.factorize(keys)
    first_edge = pd.Series(np.arange(len(lo))).groupby(seg_codes).first().to_numpy()
    n_seg = len(uniques)
    count = np.zeros(n_seg)
    harm = np.zeros(n_seg)
    score = np.zeros(n_seg)
    if len(weighted):
        snap = network.snap(weighted["lat"].to_numpy(), weighted["lon"].to_numpy())
        near = snap.distance_m <= settings.max_snap_m
        seg = seg_codes[snap.edge[near]]
        cats = weighted["category"].to_numpy()[near]
        np.add.at(count, seg, 1.0)
        np.add.at(harm, seg, np.array([settings.harm_weight(c) for c in cats]))
        np.add.at(score, seg, weighted["weight"].to_numpy()[near])
    geoms = [LineString(network.edge_lonlat[e]) for e in first_edge]
    return gpd.GeoDataFrame({
        "segment_id": np.arange(n_seg),
        "u": network.edge_u[first_edge],
        "v": network.edge_v[first_edge],
        "length_m": network.edge_length[first_edge],
        "count": count,
        "harm": harm,
        "score": score,
    }, geometry=geoms, crs="EPSG:4326")


def choose_patrol_points(segments: gpd.GeoDataFrame, network: Network, n: int,
                         min_separation_m: float) -> list[Hotspot]:
    """Pick the ``n`` highest-scoring segments whose midpoints are far enough apart.

    Parameters
    ----------
    segments
        As from :func:`score_segments`.
    network
        The same network (for projection and snapping).
    n
        How many patrol points at most.
    min_separation_m
        Smallest straight-line distance between two chosen points.

    Returns
    -------
    list of Hotspot
        Highest score first, ids ``H01``, ``H02``, ...
    """
    ranked = segments[segments["score"] > 0].sort_values(
        ["score", "segment_id"], ascending=[False, True], kind="stable")
    chosen: list[tuple[int, float, float, float, float]] = []
    xy: list[tuple[float, float]] = []
    for row in ranked.itertuples(index=False):
        mid = row.geometry.interpolate(0.5, normalized=True)
        x, y = network.project([mid.y], [mid.x])
        px, py = float(x[0]), float(y[0])
        if any(np.hypot(px - qx, py - qy) < min_separation_m for qx, qy in xy):
            continue
        xy.append((px, py))
        chosen.append((int(row.segment_id), mid.y, mid.x, float(row.score), 0.0))
        if len(chosen) >= n:
            break
    if not chosen:
        return []
    snap = network.snap([c[1] for c in chosen], [c[2] for c in chosen])
    width = max(2, len(str(len(chosen))))
    return [
        Hotspot(
            hotspot_id=f"H{i + 1:0{width}d}", lat=round(lat, 6), lon=round(lon, 6),
            node=int(snap.node[i]), score=score, prize=score, segment_id=seg,
        )
        for i, (seg, lat, lon, score, _) in enumerate(chosen)
    ]
