"""Hotspots: short street pieces scored by harm, recency and network kernel density.

The model (see ``docs/hotspots.md``):

1. Only the categories of the hotspot focus count (``[hotspots] categories``;
   by default the tension categories, :data:`patrols.defaults.HOTSPOT_CATEGORIES`).
   Each incident before the as-of date weighs its category's harm (a proxy of
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
   The surface is then blended with the plain street count (the last 12
   months' incidents per metre, older quarters halved): the count's share is
   chosen by the area's own back-test on the months before the as-of date
   (:func:`choose_blend`), so the surface never predicts worse than counting
   there.
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


@dataclass(frozen=True)
class Focus:
    """What a crime surface counts and how much of it is the plain street count."""

    categories: tuple[str, ...]
    """Incident categories counted (slugs; empty = every category)."""
    blend: float
    """The street count's share of the surface (0 = the harm-weighted model alone)."""
    chosen_on: tuple[str, ...] = ()
    """Months (``YYYY-MM``) the blend was chosen on; empty when fixed or with no month to judge by."""
    caught: dict[float, float] = field(default_factory=dict)
    """Incidents those months' forecasts caught on the top 5% of street length, per candidate blend."""

    def as_dict(self) -> dict[str, object]:
        """JSON-ready: ``categories`` (``["all"]`` for every one), ``blend``, ``chosen_on``, ``caught``."""
        return {"categories": list(self.categories) or ["all"], "blend": self.blend,
                "chosen_on": list(self.chosen_on),
                "caught": {f"{b:g}": round(v, 1) for b, v in self.caught.items()}}


def focus_incidents(incidents: pd.DataFrame, settings: Settings) -> pd.DataFrame:
    """The incidents of the categories the hotspot surface counts (``settings.hotspot_categories``)."""
    if not settings.hotspot_categories:
        return incidents
    return incidents[incidents["category"].isin(settings.hotspot_categories)]


def rank(score: np.ndarray) -> np.ndarray:
    """Pieces in order of selection: highest score first, ties by piece index."""
    return np.lexsort((np.arange(len(score)), -np.asarray(score, dtype=float)))


def select(score: np.ndarray, length_m: np.ndarray, coverage: float) -> np.ndarray:
    """The highest-scoring whole pieces that fit in ``coverage`` of the total street length."""
    order = rank(score)
    cum = np.cumsum(length_m[order])
    return order[: int(np.searchsorted(cum, coverage * float(length_m.sum()), side="right"))]


def _month_index(stamps: pd.Series | np.ndarray) -> np.ndarray:
    return np.asarray(stamps, dtype="datetime64[ns]").astype("datetime64[M]").astype(np.int64)


def street_count(pieces: StreetPieces, incidents: pd.DataFrame, piece: np.ndarray,
                 as_of: date | datetime | pd.Timestamp) -> np.ndarray:
    """The plain street count: incidents per metre over the last 12 months, older quarters halved.

    Months count back from the as-of date's month (its own days before the as-of
    date count with the month before): months 1-3 back weigh 1, 4-6 1/2, 7-9 1/4,
    10-12 1/8 (:data:`patrols.defaults.STREET_COUNT_MONTHS`). At the first of a
    month this is the back-test's ``months12_halved`` baseline.

    Parameters
    ----------
    pieces
        The street pieces.
    incidents
        Incidents with ``timestamp``; rows on or after ``as_of`` are left out.
    piece
        Piece of each row of ``incidents`` (-1 = not placed).
    as_of
        The date the count is made on.

    Returns
    -------
    numpy.ndarray
        Weighted incidents per metre of each piece.
    """
    at = pd.Timestamp(as_of)
    keep = (incidents["timestamp"] < at).to_numpy() & (piece >= 0)
    now = _month_index([at.to_datetime64()])[0]
    back = np.maximum(now - _month_index(incidents["timestamp"].to_numpy()[keep]), 1)
    recent = back <= defaults.STREET_COUNT_MONTHS
    weight = np.power(0.5, (back[recent] - 1) // defaults.STREET_COUNT_HALVING_MONTHS)
    return np.bincount(piece[keep][recent], weights=weight, minlength=len(pieces)) / pieces.length_m


def model_surface(pieces: StreetPieces, incidents: pd.DataFrame, piece: np.ndarray,
                  as_of: date | datetime | pd.Timestamp, settings: Settings) -> np.ndarray:
    """The harm-weighted model alone (harm x severity x recency, own history and network kernel)."""
    keep = (incidents["timestamp"] < pd.Timestamp(as_of)).to_numpy()
    weight = incident_weights(incidents[keep], as_of, settings)["weight"].to_numpy()
    at = piece[keep]
    ok = at >= 0
    return surface(pieces, np.bincount(at[ok], weights=weight[ok], minlength=len(pieces)), settings)


def mix(model: np.ndarray, count: np.ndarray, blend: float, length_m: np.ndarray) -> np.ndarray:
    """``(1 - blend) x model + blend x count``, the count scaled to the model's total (harm).

    Each layer's total is its ``score x length`` summed over the pieces, so the
    blend mixes where harm is predicted, not the layers' units; the result keeps
    the model's total, so scores stay predicted harm per metre.
    """
    total_model = float((model * length_m).sum())
    total_count = float((count * length_m).sum())
    if blend <= 0.0 or total_count <= 0.0:
        return model
    scaled = count * (total_model / total_count if total_model > 0 else 1.0)
    return scaled if blend >= 1.0 else (1.0 - blend) * model + blend * scaled


def choose_blend(pieces: StreetPieces, incidents: pd.DataFrame, piece: np.ndarray,
                 as_of: date | datetime | pd.Timestamp, settings: Settings
                 ) -> tuple[float, tuple[str, ...], dict[float, float]]:
    """The street count's share of the surface, chosen by the area's own back-test before ``as_of``.

    Each of the last whole months before the as-of date's month
    (:data:`patrols.defaults.HOTSPOT_BLEND_MONTHS`) is predicted from the
    incidents before it, at every candidate share
    (:data:`~patrols.defaults.HOTSPOT_BLEND_CHOICES`), and the incidents caught
    on the top 5% of street length are added up. The count alone (1) stands
    unless a share with more of the model catches more than
    :data:`~patrols.defaults.HOTSPOT_BLEND_MARGIN` more; among those, the one
    that catches most (ties to more counting). Nothing on or after the as-of
    date is used.

    Parameters
    ----------
    pieces
        The street pieces.
    incidents
        Incidents of the focus categories (rows on or after ``as_of`` are left out).
    piece
        Piece of each row of ``incidents`` (-1 = not placed).
    as_of
        The date the surface is made for.
    settings
        Harm weights, half-lives and kernel of the model.

    Returns
    -------
    tuple
        The share, the months it was chosen on (``YYYY-MM``; empty = none had a
        month before it to learn from, and the share is
        :data:`~patrols.defaults.HOTSPOT_BLEND_FALLBACK`), and the incidents
        caught per candidate share.
    """
    at = pd.Timestamp(as_of)
    before = (incidents["timestamp"] < at).to_numpy()
    stamps = incidents["timestamp"].to_numpy()
    month = _month_index(stamps)
    now = _month_index([at.to_datetime64()])[0]
    choices = sorted(set(defaults.HOTSPOT_BLEND_CHOICES) | {1.0})
    caught = dict.fromkeys(choices, 0.0)
    used: list[str] = []
    for back in range(defaults.HOTSPOT_BLEND_MONTHS, 0, -1):
        start = pd.Timestamp(np.datetime64(int(now - back), "M"))
        test = before & (month == now - back) & (piece >= 0)
        if not test.any() or not (stamps < start.to_datetime64()).any():
            continue
        test_count = np.bincount(piece[test], minlength=len(pieces))
        model = model_surface(pieces, incidents, piece, start, settings)
        count = street_count(pieces, incidents, piece, start)
        for b in choices:
            chosen = select(mix(model, count, b, pieces.length_m), pieces.length_m,
                            defaults.HOTSPOT_BLEND_COVERAGE)
            caught[b] += float(test_count[chosen].sum())
        used.append(str(start.to_period("M")))
    if not used:
        return defaults.HOTSPOT_BLEND_FALLBACK, (), {}
    best = 1.0
    for b in reversed(choices):
        if caught[b] > caught[best] and caught[b] > caught[1.0] * (1.0 + defaults.HOTSPOT_BLEND_MARGIN):
            best = b
    return best, tuple(used), caught


def crime_surface(pieces: StreetPieces, incidents: pd.DataFrame, piece: np.ndarray,
                  as_of: date | datetime | pd.Timestamp, settings: Settings
                  ) -> tuple[np.ndarray, Focus]:
    """The crime score per metre of each piece: the model blended with the street count.

    Parameters
    ----------
    pieces
        The street pieces.
    incidents
        Incidents of the focus categories (rows on or after ``as_of`` are left out).
    piece
        Piece of each row of ``incidents`` (-1 = not placed).
    as_of
        The date the surface is made for.
    settings
        The model's settings; ``hotspot_blend`` fixes the street count's share
        (None: chosen by :func:`choose_blend`).

    Returns
    -------
    tuple
        Score per piece, and the :class:`Focus` it was made with.
    """
    model = model_surface(pieces, incidents, piece, as_of, settings)
    count = street_count(pieces, incidents, piece, as_of)
    if settings.hotspot_blend is None:
        blend, months, caught = choose_blend(pieces, incidents, piece, as_of, settings)
    else:
        blend, months, caught = settings.hotspot_blend, (), {}
    focus = Focus(tuple(settings.hotspot_categories), blend, months, caught)
    return mix(model, count, blend, pieces.length_m), focus


def score_segments(network: Network, incidents: pd.DataFrame, as_of: date, settings: Settings, *,
                   tension: list[TensionArea] | tuple = (), events: list[PlannedEvent] | tuple = (),
                   shifts: dict[str, tuple[time, time]] | None = None) -> gpd.GeoDataFrame:
    """Score every street piece by harm, recency and network kernel density, blended with counts.

    Parameters
    ----------
    network
        The area's streets.
    incidents
        Incident table (see :mod:`patrols.incidents`); only the categories of
        ``settings.hotspot_categories`` count.
    as_of
        Incidents on or after this date are ignored; tension areas and events
        count when valid at any time in the week from this date.
    settings
        Focus categories, blend, harm weights, half-lives, snapping distance,
        piece length and kernel.
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
        ``segment_id``. ``attrs["hotspots"]`` holds the :class:`Focus` as a dict
        (categories, the street count's share and the months it was chosen on).
    """
    shifts = dict(defaults.SHIFTS if shifts is None else shifts)
    pieces = street_pieces(network, settings.street_piece_m)
    n = len(pieces)
    weighted = incident_weights(focus_incidents(incidents, settings), as_of, settings)
    piece = place_incidents(pieces, network, weighted, settings.max_snap_m)
    ok = piece >= 0
    count = np.bincount(piece[ok], minlength=n).astype(float)
    harm = np.bincount(piece[ok], weights=weighted["harm"].to_numpy()[ok], minlength=n)
    crime, focus = crime_surface(pieces, weighted, piece, as_of, settings)
    start = datetime.combine(as_of, time()) if not isinstance(as_of, datetime) else as_of
    items = active(list(tension), start, start + timedelta(days=HORIZON_DAYS))
    items += active(list(events), start, start + timedelta(days=HORIZON_DAYS))
    # The street count alone can be non-zero on less than the top 5% of street length where
    # incidents are few; the kernel-smoothed model (same total) then sets the tension reference.
    reference = reference_score(crime, pieces.length_m) if items else 0.0
    if items and reference <= 0.0:
        reference = reference_score(model_surface(pieces, weighted, piece, as_of, settings), pieces.length_m)
    uplift = tension_uplift(pieces, network.project, items, reference,
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
    frame.attrs["hotspots"] = focus.as_dict()
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
