"""Hotspots: short street pieces scored by harm, recency and network kernel density.

The model (see ``docs/hotspots.md``):

1. Each incident before the as-of date weighs its category's harm (a proxy of
   the Cambridge Crime Harm Index, :data:`patrols.defaults.HARM_WEIGHTS`) times
   its severity times an exponential recency decay with a per-category
   half-life. Incidents on or after the as-of date are never used.
2. Streets are cut into pieces of at most 50 m (:mod:`patrols.kde`) and each
   incident is placed on its nearest piece.
3. A piece's score mixes two views of risk per metre of street: its own
   weighted history divided by its length (police.uk records recur at the same
   anonymised map point, and crime concentrates at exact places), and the
   network kernel density around it (risk spreads to nearby streets by walking
   distance, quartic kernel, 250 m bandwidth). ``Settings.kde_share`` is the
   kernel's share.
4. Active tension assessments and planned events raise the surface
   (:mod:`patrols.tension`).
5. Where incidents carry a time of day (generic CSV), each piece gets
   time-of-shift and day-of-week multipliers from the timed incidents around
   it, shrunk towards flat; month-only data gives flat profiles.

Patrol points are then the places with the most predicted harm within a short
walk, at least a set distance apart, each with that harm as its prize.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

import geopandas as gpd
import numpy as np
import pandas as pd
from shapely import LineString

from patrols import defaults
from patrols.area import Settings
from patrols.kde import StreetPieces, street_pieces
from patrols.network import Network
from patrols.tension import PlannedEvent, TensionArea, active, reference_score, tension_uplift

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# Candidates examined for patrol points, per point wanted: the places with the
# most harm within reach are almost always among the highest-scoring pieces.
_CANDIDATES_PER_POINT = 10
# Tension and events count when they overlap the planning horizon from the as-of date.
HORIZON_DAYS = 7


@dataclass(frozen=True)
class Hotspot:
    """A patrol point: where a unit stands to dose a hot street."""

    hotspot_id: str
    lat: float
    lon: float
    node: int
    score: float
    """Score (predicted harm per metre) of the street piece the point stands on."""
    prize: float
    """What a visit is worth to the solver: predicted harm on the streets within reach."""
    segment_id: int
    shift_weights: dict[str, float] = field(default_factory=dict)
    """Shift name -> multiplier of ``prize`` (1.0 = flat; missing shift = 1.0)."""
    day_weights: tuple[float, ...] = (1.0,) * 7
    """Monday..Sunday multipliers of ``prize`` (1.0 = flat)."""

    def prize_for(self, shift: str, weekday: int) -> float:
        """The prize of a visit in ``shift`` on ``weekday`` (0 = Monday).

        Parameters
        ----------
        shift
            Shift template name.
        weekday
            ``date.weekday()`` of the shift's date.

        Returns
        -------
        float
            ``prize x shift multiplier x day multiplier``.
        """
        return self.prize * self.shift_weights.get(shift, 1.0) * self.day_weights[weekday]


def incident_weights(incidents: pd.DataFrame, as_of: date | datetime | pd.Timestamp,
                     settings: Settings) -> pd.DataFrame:
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
        The rows kept, with ``age_days``, ``harm`` and ``weight`` columns added.
    """
    cutoff = pd.Timestamp(as_of)
    kept = incidents[incidents["timestamp"] < cutoff].copy()
    age = (cutoff - kept["timestamp"]).dt.total_seconds().to_numpy() / 86400.0
    cats = kept["category"].to_numpy()
    # Per category, not per row: a year of incidents has a dozen categories.
    uniq, inv = np.unique(cats.astype(str), return_inverse=True)
    harm = np.array([settings.harm_weight(c) for c in uniq], dtype=float)[inv]
    half = np.array([settings.half_life(c) for c in uniq], dtype=float)[inv]
    kept["age_days"] = age
    kept["harm"] = harm * kept["severity"].to_numpy()
    kept["weight"] = kept["harm"].to_numpy() * np.power(0.5, age / half)
    return kept


def place_incidents(pieces: StreetPieces, network: Network, incidents: pd.DataFrame,
                    max_snap_m: float) -> np.ndarray:
    """The street piece of each incident (-1 if farther than ``max_snap_m`` from any street)."""
    x, y = network.project(incidents["lat"].to_numpy(), incidents["lon"].to_numpy())
    return pieces.snap(x, y, max_snap_m)


def surface(pieces: StreetPieces, piece_weight: np.ndarray, settings: Settings) -> np.ndarray:
    """Score per metre of each piece from the weight placed on the pieces.

    Parameters
    ----------
    pieces
        The street pieces.
    piece_weight
        Weight on each piece; a 2-D array scores several layers at once.
    settings
        ``kde_share`` and ``kde_bandwidth_m``.

    Returns
    -------
    numpy.ndarray
        ``(1 - s) * weight / length + s * network KDE``, same shape as ``piece_weight``.
    """
    w = np.asarray(piece_weight, dtype=float)
    length = pieces.length_m.reshape((-1,) + (1,) * (w.ndim - 1))
    own = w / length
    share = settings.kde_share
    if share <= 0:
        return own
    return (1.0 - share) * own + share * pieces.density(w, settings.kde_bandwidth_m)


def _in_shift(minute: np.ndarray, start: time, end: time) -> np.ndarray:
    a, b = start.hour * 60 + start.minute, end.hour * 60 + end.minute
    if b > a:
        return (minute >= a) & (minute < b)
    return (minute >= a) | (minute < b)  # crosses midnight


def _shift_share(start: time, end: time) -> float:
    a, b = start.hour * 60 + start.minute, end.hour * 60 + end.minute
    return ((b - a) % 1440 or 1440) / 1440.0


def profiles(pieces: StreetPieces, piece: np.ndarray, weighted: pd.DataFrame,
             shifts: dict[str, tuple[time, time]], settings: Settings) -> dict[str, np.ndarray]:
    """Time-of-shift and day-of-week multipliers of every piece, from the timed incidents near it.

    Parameters
    ----------
    pieces
        The street pieces.
    piece
        Piece of each row of ``weighted`` (-1 = not placed).
    weighted
        Incidents with ``weight`` (see :func:`incident_weights`).
    shifts
        Shift templates, name -> (start, end) local time.
    settings
        Kernel settings and ``profile_prior_incidents``.

    Returns
    -------
    dict of str to numpy.ndarray
        ``shift_<name>`` and ``day_<mon..sun>`` columns: 1.0 is flat, 2.0
        twice the flat share of harm. Month-only incidents carry no time and
        leave every multiplier at 1.0.
    """
    n = len(pieces)
    names = [f"shift_{s}" for s in shifts] + [f"day_{d}" for d in DAYS]
    timed = (~weighted["month_only"].to_numpy()) & (piece >= 0)
    if not timed.any():
        return {c: np.ones(n) for c in names}
    stamps = pd.DatetimeIndex(weighted["timestamp"].to_numpy()[timed])
    at = piece[timed]
    w = weighted["weight"].to_numpy()[timed]
    minute = np.asarray(stamps.hour * 60 + stamps.minute)
    member = [_in_shift(minute, a, b) for a, b in shifts.values()]
    member += [np.asarray(stamps.day_of_week == k) for k in range(7)]
    flat = np.array([_shift_share(a, b) for a, b in shifts.values()] + [1.0 / 7.0] * 7)
    layers = np.zeros((n, len(member) + 2))
    for j, m in enumerate(member):
        layers[:, j] = np.bincount(at, weights=w * m, minlength=n)
    layers[:, -2] = np.bincount(at, weights=w, minlength=n)
    layers[:, -1] = np.bincount(at, minlength=n)
    smooth = surface(pieces, layers, settings)
    total, count = smooth[:, -2], smooth[:, -1]
    # A density of n incidents at one point is n x kernel peak; back to "incidents nearby".
    share_k = settings.kde_share
    nearby = count / (share_k * 15.0 / (16.0 * settings.kde_bandwidth_m) + (1.0 - share_k) / pieces.length_m)
    prior = settings.profile_prior_incidents
    out = {}
    with np.errstate(invalid="ignore", divide="ignore"):
        for j, name in enumerate(names):
            share = np.where(total > 0, smooth[:, j] / total, flat[j])
            out[name] = (nearby * share + prior * flat[j]) / (nearby + prior) / flat[j]
    return out


def score_segments(network: Network, incidents: pd.DataFrame, as_of: date, settings: Settings, *,
                   tension: list[TensionArea] | tuple = (), events: list[PlannedEvent] | tuple = (),
                   shifts: dict[str, tuple[time, time]] | None = None) -> gpd.GeoDataFrame:
    """Score every street piece by harm, recency and network kernel density.

    Parameters
    ----------
    network
        The area's streets.
    incidents
        Incident table (see :mod:`patrols.incidents`).
    as_of
        Incidents on or after this date are ignored; tension areas and events
        count when valid at any time in the week from this date.
    settings
        Harm weights, half-lives, snapping distance, piece length and kernel.
    tension, events
        Tension areas and planned events (see :mod:`patrols.tension`).
    shifts
        Shift templates for the time-of-shift profiles (default: the standard three).

    Returns
    -------
    geopandas.GeoDataFrame
        One row per street piece: ``segment_id`` (the piece), ``street_id``,
        ``length_m``, ``count``, ``harm`` (not decayed), ``crime_score`` (per
        metre), ``tension`` (the uplift), ``score`` (their sum), ``shift_<name>``
        and ``day_<mon..sun>`` multipliers, and a WGS84 LineString; sorted by
        ``segment_id``.
    """
    shifts = dict(defaults.SHIFTS if shifts is None else shifts)
    pieces = street_pieces(network, settings.street_piece_m)
    n = len(pieces)
    weighted = incident_weights(incidents, as_of, settings)
    piece = place_incidents(pieces, network, weighted, settings.max_snap_m)
    ok = piece >= 0
    count = np.bincount(piece[ok], minlength=n).astype(float)
    harm = np.bincount(piece[ok], weights=weighted["harm"].to_numpy()[ok], minlength=n)
    weight = np.bincount(piece[ok], weights=weighted["weight"].to_numpy()[ok], minlength=n)
    crime = surface(pieces, weight, settings)
    start = datetime.combine(as_of, time()) if not isinstance(as_of, datetime) else as_of
    items = active(list(tension), start, start + timedelta(days=HORIZON_DAYS))
    items += active(list(events), start, start + timedelta(days=HORIZON_DAYS))
    uplift = tension_uplift(pieces, network.project, items, reference_score(crime, pieces.length_m),
                            settings.kde_bandwidth_m, settings.tension_gain)
    columns = {
        "segment_id": np.arange(n),
        "street_id": pieces.street,
        "length_m": pieces.length_m,
        "count": count,
        "harm": harm,
        "crime_score": crime,
        "tension": uplift,
        "score": crime + uplift,
    }
    columns.update(profiles(pieces, piece, weighted, shifts, settings))
    frame = gpd.GeoDataFrame(columns, geometry=[LineString(c) for c in pieces.lonlat], crs="EPSG:4326")
    frame.attrs["street_piece_m"] = settings.street_piece_m
    return frame


def choose_patrol_points(segments: gpd.GeoDataFrame, network: Network, n: int,
                         min_separation_m: float) -> list[Hotspot]:
    """Pick up to ``n`` patrol points: the most harm within reach, far enough apart.

    A unit standing at a point covers the streets within half the separation
    on foot; that covered harm (score x length, summed) is the point's prize
    and its rank. Candidates are the highest-scoring pieces.

    Parameters
    ----------
    segments
        As from :func:`score_segments` (possibly filtered to some rows).
    network
        The same network (for the pieces and snapping).
    n
        How many patrol points at most.
    min_separation_m
        Smallest straight-line distance between two chosen points.

    Returns
    -------
    list of Hotspot
        Highest prize first, ids ``H01``, ``H02``, ...
    """
    pieces = street_pieces(network, float(segments.attrs.get("street_piece_m", defaults.STREET_PIECE_M)))
    score = np.zeros(len(pieces))
    ids = segments["segment_id"].to_numpy()
    score[ids] = segments["score"].to_numpy()
    hot = segments[segments["score"] > 0]
    if n <= 0 or hot.empty:
        return []
    top = hot.sort_values(["score", "segment_id"], ascending=[False, True], kind="stable")
    cand = top["segment_id"].to_numpy()[: max(n * _CANDIDATES_PER_POINT, n)]
    reach = max(min_separation_m / 2.0, pieces.max_length_m / 2.0)
    mass = score * pieces.length_m
    prize = np.array([mass[near].sum() for near, _ in pieces.distances_from(cand, reach)])
    order = np.lexsort((cand, -prize))
    profile_cols = [c for c in segments.columns if c.startswith("shift_")]
    day_cols = [f"day_{d}" for d in DAYS]
    by_id = segments.set_index("segment_id")
    chosen: list[tuple[int, float]] = []
    for k in order:
        p = int(cand[k])
        if any(np.hypot(pieces.mid_x[p] - pieces.mid_x[q], pieces.mid_y[p] - pieces.mid_y[q])
               < min_separation_m for q, _ in chosen):
            continue
        chosen.append((p, float(prize[k])))
        if len(chosen) >= n:
            break
    snap = network.snap([pieces.mid_lat[p] for p, _ in chosen], [pieces.mid_lon[p] for p, _ in chosen])
    width = max(2, len(str(len(chosen))))
    out = []
    for i, (p, pz) in enumerate(chosen):
        row = by_id.loc[p]
        out.append(Hotspot(
            hotspot_id=f"H{i + 1:0{width}d}",
            lat=round(float(pieces.mid_lat[p]), 6), lon=round(float(pieces.mid_lon[p]), 6),
            node=int(snap.node[i]), score=float(score[p]), prize=pz, segment_id=p,
            shift_weights={c.removeprefix("shift_"): round(float(row[c]), 4) for c in profile_cols},
            day_weights=tuple(round(float(row[c]), 4) if c in by_id.columns else 1.0 for c in day_cols),
        ))
    return out
