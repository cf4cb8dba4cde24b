"""Naming places from the street network: "Old Compton Street / Dean Street".

An officer acts on a street name, not on ``H04`` or a pair of coordinates. A
stop's point is a network node (the point its unit stands on), so it is named
from the streets that meet there:

- at a junction of named streets, the two most important of them (by OSM
  ``highway`` class, then name): ``"Dean Street / Old Compton Street"``;
- along a street, that street and the nearest junction on it with another
  named street: ``"Old Compton Street / Dean Street"`` (the street stood on
  first), or the street alone when none is within ``reach_m``;
- on an unnamed way (a footpath, a service road), its kind and the nearest named
  junction or street: ``"footway near Soho Square"``.

Written here rather than taken from a geocoder: the product runs offline, and
reverse geocoders (Nominatim and the like) name addresses, not the crossing an
officer is told to stand at; the network already holds every street's name.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

from patrols.network import Network

# Importance of OSM highway classes when two or more streets meet: the bigger road names the place.
_RANK = {k: i for i, k in enumerate((
    "motorway", "trunk", "primary", "secondary", "tertiary", "unclassified", "residential",
    "living_street", "pedestrian", "service", "track", "footway", "path", "cycleway", "steps"))}
# Words for unnamed ways, by OSM highway class.
_UNNAMED = {"service": "service road", "footway": "footpath", "path": "path", "steps": "steps",
            "cycleway": "cycle path", "pedestrian": "pedestrian area", "track": "track"}
REACH_M = 250.0
"""Farthest a crossing street may be to be named beside the street a stop is on."""


class Places:
    """Names of network nodes, made once per network.

    Parameters
    ----------
    network
        The area's network (its edges carry the streets' names and classes).
    reach_m
        Farthest junction (straight line) named as a stop's crossing street.
    """

    def __init__(self, network: Network, reach_m: float = REACH_M) -> None:
        self.network = network
        self.reach_m = reach_m
        n = len(network.node_ids)
        # Named streets at each node, with their class rank.
        streets: list[dict[str, int]] = [{} for _ in range(n)]
        kind_at: list[str] = [""] * n
        origin = network.edge_origin
        for e, (u, v) in enumerate(zip(network.edge_u.tolist(), network.edge_v.tolist(), strict=True)):
            g = int(origin[e])
            name, kind = network.street_name[g], network.street_kind[g]
            rank = _RANK.get(kind, len(_RANK))
            for node in (u, v):
                if name:
                    held = streets[node].get(name)
                    streets[node][name] = rank if held is None else min(held, rank)
                elif not kind_at[node]:
                    kind_at[node] = kind
        self._streets = [sorted(d, key=lambda k, d=d: (d[k], k)) for d in streets]
        self._kind = kind_at
        junctions = np.flatnonzero([len(s) >= 2 for s in self._streets])
        named = np.flatnonzero([len(s) >= 1 for s in self._streets])
        self._junctions = junctions
        self._named = named
        xy = np.column_stack([network.x, network.y])
        self._junction_tree = cKDTree(xy[junctions]) if len(junctions) else None
        self._named_tree = cKDTree(xy[named]) if len(named) else None

    def _nearest(self, tree: cKDTree | None, ids: np.ndarray, node: int, k: int) -> list[int]:
        if tree is None:
            return []
        x, y = float(self.network.x[node]), float(self.network.y[node])
        k = min(k, len(ids))
        dist, idx = tree.query((x, y), k=k, distance_upper_bound=self.reach_m)
        dist, idx = np.atleast_1d(dist), np.atleast_1d(idx)
        return [int(ids[i]) for d, i in zip(dist.tolist(), idx.tolist(), strict=True) if np.isfinite(d)]

    def name(self, node: int) -> str:
        """The place name of one network node (see the module's notes)."""
        here = self._streets[node]
        if len(here) >= 2:
            return f"{here[0]} / {here[1]}"
        if len(here) == 1:
            street = here[0]
            for j in self._nearest(self._junction_tree, self._junctions, node, 24):
                others = [s for s in self._streets[j] if s != street]
                if street in self._streets[j] and others:
                    return f"{street} / {others[0]}"
            return street
        what = _UNNAMED.get(self._kind[node], "unnamed way")
        near = self._nearest(self._named_tree, self._named, node, 1)
        if not near:
            return what
        there = self._streets[near[0]]
        return f"{what} near {there[0]}" + (f" / {there[1]}" if len(there) >= 2 else "")


# Street labels: only streets at least this long get one, and labels of the same street keep apart.
LABEL_MIN_M = 80.0
LABEL_SPACING_M = 300.0


def street_labels(network: Network, min_m: float = LABEL_MIN_M,
                  spacing_m: float = LABEL_SPACING_M) -> tuple[tuple[str, float, float, float, int], ...]:
    """Where to write street names on a map: ``(name, lon, lat, angle, rank)`` per label.

    One label at the middle of each named street piece at least ``min_m`` long,
    dropped when a label of the same street lies within ``spacing_m``; the angle
    (degrees, counter-clockwise from east, kept within +-90 so text reads left to
    right) follows the street there; ``rank`` is the street's class (0 for
    motorways, larger for smaller streets), so a map can label the big ones first.
    """
    start, stop = network.graph_edges()
    lengths = np.add.reduceat(network.edge_length, start) if len(start) else np.array([])
    order = np.argsort(-lengths, kind="stable")
    kept: dict[str, list[tuple[float, float]]] = {}
    out = []
    for g in order.tolist():
        name = network.street_name[g]
        if not name or lengths[g] < min_m:
            continue
        xy = network.joined(int(start[g]), int(stop[g]), projected=True)
        steps = np.hypot(np.diff(xy[:, 0]), np.diff(xy[:, 1]))
        cum = np.concatenate([[0.0], np.cumsum(steps)])
        k = int(np.clip(np.searchsorted(cum, cum[-1] / 2) - 1, 0, len(steps) - 1))
        frac = (cum[-1] / 2 - cum[k]) / steps[k] if steps[k] > 0 else 0.0
        mx, my = xy[k] + frac * (xy[k + 1] - xy[k])
        if any((mx - x) ** 2 + (my - y) ** 2 < spacing_m ** 2 for x, y in kept.get(name, ())):
            continue
        kept.setdefault(name, []).append((mx, my))
        angle = float(np.degrees(np.arctan2(xy[k + 1, 1] - xy[k, 1], xy[k + 1, 0] - xy[k, 0])))
        angle = angle - 180.0 if angle > 90.0 else angle + 180.0 if angle < -90.0 else angle
        ll = network.joined(int(start[g]), int(stop[g]))
        lon, lat = ll[k] + frac * (ll[k + 1] - ll[k])
        out.append((name, round(float(lon), 6), round(float(lat), 6), round(angle, 1),
                    _RANK.get(network.street_kind[g], len(_RANK))))
    return tuple(out)
