"""Tracks made from a plan: the test harness of delivered-against-planned.

Each unit pings every ``interval_s`` seconds through its shifts (a random
phase per unit), from positions along its planned street path: at the station
before it leaves and after it is back, standing at each stop from its planned
arrival to its planned departure, and moving along the path between stops at
walking pace or a car's (``SPEED_M_S``), waiting before it sets off when the
plan leaves it time. Positions get Gaussian noise of ``noise_m`` metres on each axis.

A stop can be *skipped* (the unit does not go: it leaves its previous stop on
time for a point 500 m from the skipped one, on the side that keeps it clear
of it, and reaches its next stop on time) or *cut* to a share of its dwell (it
leaves for such a point early). The harness knows the truth, so each measured
status can be checked against what happened.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from patrols.delivered.tracks import Pings
from patrols.plan import Plan, Route

_EARTH_M = 6_371_000.0
DETOUR_M = 500.0
# Stops chosen to skip or cut are at least this far from their neighbours (twice the hotspot radius).
CLEAR_M = 300.0
# How fast a unit moves between stops in the harness: walking pace, and a car in town.
SPEED_M_S = {"foot": 1.4, "car": 8.0}


@dataclass(frozen=True)
class _Knot:
    t: float
    lon: float
    lat: float


def _offset(lon: float, lat: float, dx: float, dy: float) -> tuple[float, float]:
    return (lon + math.degrees(dx / (_EARTH_M * math.cos(math.radians(lat)))),
            lat + math.degrees(dy / _EARTH_M))


def _dist_to_segment(p: tuple[float, float], a: tuple[float, float], b: tuple[float, float]) -> float:
    """Metres from ``p`` to segment ``ab`` (lon, lat), in a local plane."""
    k = math.cos(math.radians(p[1])) * math.pi / 180.0 * _EARTH_M
    m = math.pi / 180.0 * _EARTH_M
    ax, ay, bx, by = (a[0] - p[0]) * k, (a[1] - p[1]) * m, (b[0] - p[0]) * k, (b[1] - p[1]) * m
    dx, dy = bx - ax, by - ay
    n = dx * dx + dy * dy
    u = 0.0 if n == 0 else max(0.0, min(1.0, -(ax * dx + ay * dy) / n))
    return math.hypot(ax + u * dx, ay + u * dy)


def _detour(before: tuple[float, float] | None, here: tuple[float, float], after: tuple[float, float]
            ) -> tuple[float, float]:
    """A point ``DETOUR_M`` from ``here`` whose legs from ``before`` (if any) and to ``after`` keep
    furthest from it."""
    best, point = -1.0, here
    for k in range(16):
        ang = 2 * math.pi * k / 16
        cand = _offset(here[0], here[1], DETOUR_M * math.cos(ang), DETOUR_M * math.sin(ang))
        clear = _dist_to_segment(here, cand, after)
        if before is not None:
            clear = min(clear, _dist_to_segment(here, before, cand))
        if clear > best:
            best, point = clear, cand
    return point


def _leg(path: list[tuple[float, float]], i: int, j: int, t0: float, t1: float, speed: float) -> list[_Knot]:
    """Knots moving along ``path[i..j]`` to arrive at ``t1``: waiting at the start, then at ``speed``
    (m/s), or at an even pace from ``t0`` when that is too slow to make it."""
    pts = path[i:j + 1] if j >= i else [path[i]]
    if len(pts) < 2 or t1 <= t0:
        return [_Knot(t1, *pts[-1])]
    d = [0.0]
    for (x1, y1), (x2, y2) in itertools.pairwise(pts):
        kx = math.cos(math.radians(y1)) * math.pi / 180.0 * _EARTH_M
        d.append(d[-1] + math.hypot((x2 - x1) * kx, (y2 - y1) * math.pi / 180.0 * _EARTH_M))
    total = d[-1] or 1.0
    t0 = max(t0, t1 - total / speed)
    moving = [_Knot(t0 + (t1 - t0) * dd / total, x, y) for dd, (x, y) in zip(d, pts, strict=True)]
    return [_Knot(t0, *pts[0]), *moving[1:]]


def _path_index(path: list[tuple[float, float]], start: int, lon: float, lat: float) -> int:
    """The first path vertex from ``start`` nearest the stop (stops stand on path vertices)."""
    best, at = float("inf"), start
    for k in range(start, len(path)):
        d = abs(path[k][0] - lon) + abs(path[k][1] - lat)
        if d < best - 1e-12:
            best, at = d, k
        if d < 1e-6:
            return k
    return at


def route_knots(route: Route, skip: set[int] = frozenset(), cut: Mapping[int, float] | None = None
                ) -> list[_Knot]:
    """Where the unit is when: knots to interpolate between (time, lon, lat)."""
    cut = cut or {}
    speed = SPEED_M_S.get(route.mode, SPEED_M_S["car"])
    path = [tuple(p) for p in route.path]
    stops = route.stops
    home = (stops[0].lon, stops[0].lat)
    knots = [_Knot(route.start.timestamp(), *home)]
    if len(stops) <= 2 or not path:
        return [*knots, _Knot(route.end.timestamp(), *home)]
    where = [0]
    for s in stops[1:]:
        where.append(_path_index(path, where[-1], s.lon, s.lat))
    leave = stops[0].depart.timestamp()
    knots.append(_Knot(leave, *home))
    arrived = False  # whether the knot of the arrival at stops[k] is in already
    k = 1
    while k < len(stops):
        s = stops[k]
        pos = (s.lon, s.lat)
        if k in skip and k < len(stops) - 1:
            nxt = stops[k + 1]
            away = _detour((knots[-1].lon, knots[-1].lat), pos, (nxt.lon, nxt.lat))
            knots.append(_Knot((s.arrive.timestamp() + s.depart.timestamp()) / 2, *away))
            knots.append(_Knot(nxt.arrive.timestamp(), nxt.lon, nxt.lat))
            arrived = True
            k += 1
            continue
        if not arrived:
            knots += _leg(path, where[k - 1], where[k], leave, s.arrive.timestamp(), speed)
        arrived = False
        if s.depart is None:
            break
        if k in cut:
            nxt = stops[k + 1]
            go = s.arrive.timestamp() + cut[k] * (s.depart.timestamp() - s.arrive.timestamp())
            away = _detour(None, pos, (nxt.lon, nxt.lat))
            knots.append(_Knot(go, *pos))
            knots.append(_Knot(min(go + DETOUR_M / speed, s.depart.timestamp()), *away))
            knots.append(_Knot(s.depart.timestamp(), *away))
            knots.append(_Knot(nxt.arrive.timestamp(), nxt.lon, nxt.lat))
            arrived = True
            k += 1
            continue
        knots.append(_Knot(s.depart.timestamp(), *pos))
        leave = s.depart.timestamp()
        k += 1
    knots.append(_Knot(route.end.timestamp(), *home))
    return knots


def make_tracks(plan: Plan, interval_s: float, noise_m: float, seed: int = 0,
                skip: set[tuple[str, int]] = frozenset(),
                cut: Mapping[tuple[str, int], float] | None = None) -> dict[str, Pings]:
    """Pings of every unit of the plan, as if it had patrolled as planned but for ``skip`` and ``cut``.

    Parameters
    ----------
    plan
        The plan.
    interval_s
        Seconds between pings (5 s to 15 min as AVL systems send them).
    noise_m
        Standard deviation of the position noise on each axis, metres.
    seed
        Seed of the phases and the noise.
    skip
        ``(route key, stop seq)`` of stops the unit does not make.
    cut
        ``(route key, stop seq) -> share`` of stops the unit leaves after that share of its dwell.

    Returns
    -------
    dict
        ``unit_id -> Pings``.
    """
    rng = random.Random(seed)
    noise = np.random.default_rng(seed)
    cut = cut or {}
    by_unit: dict[str, list[Route]] = {}
    for r in sorted(plan.routes, key=lambda r: r.start):
        by_unit.setdefault(r.unit_id, []).append(r)
    out = {}
    for unit in sorted(by_unit):
        phase = rng.random() * interval_s
        ts, lons, lats = [], [], []
        for r in by_unit[unit]:
            knots = route_knots(r, {seq for key, seq in skip if key == r.key},
                                {seq: share for (key, seq), share in cut.items() if key == r.key})
            kt = np.array([k.t for k in knots])
            order = np.argsort(kt, kind="stable")
            kt = kt[order]
            kx = np.array([knots[i].lon for i in order])
            ky = np.array([knots[i].lat for i in order])
            first = r.start.timestamp() + phase
            t = np.arange(first, r.end.timestamp(), interval_s)
            ts.append(t)
            lons.append(np.interp(t, kt, kx))
            lats.append(np.interp(t, kt, ky))
        t = np.concatenate(ts)
        lat = np.concatenate(lats)
        lon = np.concatenate(lons)
        dy = noise.normal(0.0, noise_m, len(t))
        dx = noise.normal(0.0, noise_m, len(t))
        lat = lat + np.degrees(dy / _EARTH_M)
        lon = lon + np.degrees(dx / (_EARTH_M * np.cos(np.radians(lat))))
        keep = np.concatenate([[True], np.diff(t) > 0])
        out[unit] = Pings(unit, t[keep], np.round(lat[keep], 6), np.round(lon[keep], 6))
    return out


def choose_faults(plan: Plan, skipped: int, cut: int, seed: int = 0, share: float = 1 / 3
                  ) -> tuple[set[tuple[str, int]], dict[tuple[str, int], float]]:
    """Stops to skip and to cut to ``share`` of their dwell, at random, no two next to each other.

    Only stops at least ``CLEAR_M`` from the stops before and after them are
    chosen: a unit cut short at a stop 100 m from its next one is, as far as any
    positions can tell, still there, so its truth would be ambiguous.

    Returns
    -------
    (skip, cut)
        As :func:`make_tracks` takes them.
    """
    rng = random.Random(seed)

    def clear(r: Route, k: int) -> bool:
        here = (r.stops[k].lon, r.stops[k].lat)
        return all(_dist_to_segment(here, (o.lon, o.lat), (o.lon, o.lat)) >= CLEAR_M
                   for o in (r.stops[k - 1], r.stops[k + 1]))

    stops = [(r.key, k) for r in plan.routes for k in range(1, len(r.stops) - 1) if clear(r, k)]
    rng.shuffle(stops)
    skip: set[tuple[str, int]] = set()
    cuts: dict[tuple[str, int], float] = {}
    taken: set[tuple[str, int]] = set()
    for key, seq in stops:
        if len(skip) >= skipped and len(cuts) >= cut:
            break
        if any((key, q) in taken for q in (seq - 1, seq, seq + 1)):
            continue
        if len(skip) < skipped:
            skip.add((key, seq))
        else:
            cuts[(key, seq)] = share
        taken.add((key, seq))
    return skip, cuts
