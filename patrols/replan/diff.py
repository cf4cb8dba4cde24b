"""What changed between a parent plan's routes and a re-plan's, stop by stop.

A stop of the new plan is *kept* when the same unit makes a stop of the same
kind at the same place within ``RETIME_TOLERANCE_S`` of its old time, *retimed*
when the same unit makes it further from its time, *moved* when another unit
makes it, and *added* when nobody made it before; a parent stop nobody makes
now is *dropped*.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field, replace
from itertools import pairwise
from typing import Any

import numpy as np

from patrols.errors import PlanningError
from patrols.plan import Route, Stop
from patrols.planning import (
    TravelTable,
)
from patrols.replan.tasks import RETIME_TOLERANCE_S


@dataclass
class StopDiff:
    kept: int = 0
    moved: int = 0
    retimed: int = 0
    added: int = 0
    dropped: int = 0
    items: list[dict[str, Any]] = field(default_factory=list)


def _stop_key(s: Stop) -> tuple[str, str]:
    return (s.kind, s.ref)


def diff_shift(old: list[Route], new: list[Route]) -> tuple[list[Route], dict[str, StopDiff]]:
    """Mark the new routes' stops against the old ones of the same shift; count per unit-shift."""
    pool: dict[tuple[str, str], list[tuple[Route, Stop]]] = defaultdict(list)
    for r in old:
        for s in r.stops[1:-1]:
            pool[_stop_key(s)].append((r, s))
    diffs: dict[str, StopDiff] = {r.key: StopDiff() for r in (*old, *new)}
    marked = []
    matched: set[int] = set()
    # Same unit first, nearest in time; then any unit.
    pairs: dict[tuple[str, int], tuple[Route, Stop]] = {}
    for same_unit in (True, False):
        for r in new:
            for s in r.stops[1:-1]:
                if (r.key, s.seq) in pairs:
                    continue
                options = [(o, os) for o, os in pool[_stop_key(s)] if id(os) not in matched
                           and (o.unit_id == r.unit_id) == same_unit]
                if not options:
                    continue
                o, os = min(options, key=lambda x: abs(x[1].arrive.timestamp() - s.arrive.timestamp()))
                matched.add(id(os))
                pairs[(r.key, s.seq)] = (o, os)
    for r in new:
        stops = [r.stops[0]]
        for s in r.stops[1:-1]:
            hit = pairs.get((r.key, s.seq))
            d = diffs[r.key]
            if hit is None:
                d.added += 1
                stops.append(replace(s, change="added"))
                continue
            o, os = hit
            was = f"{o.unit_id} {os.arrive:%H:%M}"
            if o.unit_id != r.unit_id:
                d.moved += 1
                stops.append(replace(s, change="moved", was=was))
            elif abs(os.arrive.timestamp() - s.arrive.timestamp()) > RETIME_TOLERANCE_S:
                d.retimed += 1
                stops.append(replace(s, change="retimed", was=was))
            else:
                d.kept += 1
                stops.append(s)
        stops.append(r.stops[-1])
        marked.append(replace(r, stops=tuple(stops)))
    for r in old:
        for s in r.stops[1:-1]:
            if id(s) not in matched:
                diffs[r.key].dropped += 1
                diffs[r.key].items.append({
                    "unit": r.unit_id, "date": r.date.isoformat(), "shift": r.shift, "kind": s.kind,
                    "ref": s.ref, "arrive": s.arrive.isoformat(), "lat": s.lat, "lon": s.lon,
                    "place": s.place})
    return marked, diffs


def restore_prefix(made: list[Route], old_routes: list[Route], ts: float) -> list[Route]:
    """New routes with the stops made before the start exactly as the parent had them."""
    old = {r.key: r for r in old_routes}
    out = []
    for r in made:
        o = old.get(r.key)
        if o is None or o.start.timestamp() >= ts:
            out.append(r)
            continue
        prefix = [s for s in o.stops[1:-1] if s.arrive.timestamp() < ts]
        head = list(r.stops[1:1 + len(prefix)])
        if [(s.kind, s.ref) for s in head] != [(s.kind, s.ref) for s in prefix]:
            raise PlanningError(f"{r.key}: the stops made before the re-plan's start could not be kept "
                                "(please report this with the plan and the changes)")
        stops = [o.stops[0], *prefix, *r.stops[1 + len(prefix):]]
        out.append(replace(r, stops=tuple(stops)))
    return out


def hotspot_seconds(route: Route, table: TravelTable) -> float:
    """Patrol time at hotspots: the leg into each hotspot stop and its dwell."""
    m = table.travel[route.mode]
    total = 0.0
    for a, b in pairwise(route.stops):
        if b.kind == "hotspot":
            leg = float(m[table.index[(a.kind, a.ref)], table.index[(b.kind, b.ref)]])
            total += (leg if np.isfinite(leg) else 0.0) + b.dwell_min * 60.0
    return total
