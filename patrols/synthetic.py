"""Synthetic protected sites for demonstrations and tests.

Real representatives' addresses must never be bundled. This module places
made-up sites on real streets by a seeded, documented procedure: pick street
segments at random (weighted by length, so every metre of street is equally
likely), put the site at a random point along the segment, and give it a kind
and a tier from fixed proportions. Ids are opaque; labels say SYNTHETIC.
"""

from __future__ import annotations

import csv
import io
import random

import numpy as np
from shapely import LineString

from patrols.network import Network

# Kinds and tiers of the made-up sites, in the proportions a borough might have.
KIND_SHARES = (("home", 0.40), ("office", 0.35), ("surgery", 0.25))
TIER_SHARES = ((1, 0.2), (2, 0.4), (3, 0.4))
COLUMNS = ["site_id", "kind", "lat", "lon", "tier", "window_start", "window_end",
           "dwell_min", "visits_per_week", "label"]


def synthetic_sites(network: Network, n: int, seed: int) -> list[dict[str, str]]:
    """Make ``n`` synthetic sites on the network's streets.

    Parameters
    ----------
    network
        Streets to place the sites on (only car-routable ones are used).
    n
        How many sites.
    seed
        Seed of every choice: the same network and seed give the same rows.

    Returns
    -------
    list of dict
        Rows for ``sites.csv`` (see ``COLUMNS``).
    """
    rng = random.Random(seed)
    # Only streets that points snap to, so every site is reachable by every mode; whole
    # streets as the graph has them (not the parts long streets are split into), so the
    # same graph and seed give the same sites whatever the split length.
    streets = _snappable_streets(network)
    usable = [s for s in streets if s[0] >= 20.0]
    weights = [s[0] for s in usable]
    kinds = [k for k, share in KIND_SHARES for _ in range(round(share * n))]
    kinds = (kinds + ["home"] * n)[:n]
    tiers = [t for t, share in TIER_SHARES for _ in range(round(share * n))]
    tiers = (tiers + [3] * n)[:n]
    rng.shuffle(kinds)
    rng.shuffle(tiers)
    rows = []
    used: set[str] = set()
    for i in range(n):
        line = rng.choices(usable, weights=weights)[0][1]
        at = line.interpolate(rng.uniform(0.2, 0.8), normalized=True)
        site_id = f"S{rng.getrandbits(24):06x}"
        while site_id in used:
            site_id = f"S{rng.getrandbits(24):06x}"
        used.add(site_id)
        kind = kinds[i]
        rows.append({
            "site_id": site_id, "kind": kind,
            "lat": f"{at.y:.6f}", "lon": f"{at.x:.6f}", "tier": str(tiers[i]),
            "window_start": "", "window_end": "", "dwell_min": "", "visits_per_week": "",
            "label": f"SYNTHETIC {kind} {i + 1}",
        })
    # Surgeries are held in set hours; give a few an evening slot as constituents ask.
    for row in rows:
        # (Not tier 1: two visits a day cannot fit one evening window.)
        if row["kind"] == "surgery" and row["tier"] != "1" and rng.random() < 0.3:
            row["window_start"], row["window_end"] = "17:00", "20:00"
    return sorted(rows, key=lambda r: r["site_id"])


def _snappable_streets(network: Network) -> list[tuple[float, LineString]]:
    """(length, line) of each graph edge whose parts all snap by car, in the graph's order."""
    snap = np.zeros(len(network.edge_u), dtype=bool)
    snap[network.snap_edges] = True
    origin = network.edge_origin
    starts = np.flatnonzero(np.r_[True, origin[1:] != origin[:-1]])
    ends = np.r_[starts[1:], len(origin)]
    out = []
    for a, b in zip(starts.tolist(), ends.tolist(), strict=True):
        if not snap[a:b].all():
            continue
        coords = [network.edge_lonlat[a]] + [p[1:] for p in network.edge_lonlat[a + 1:b]]
        out.append((float(network.edge_length[a:b].sum()), LineString(np.concatenate(coords))))
    return out


def sites_csv(rows: list[dict[str, str]]) -> str:
    """Rows from :func:`synthetic_sites` as the text of ``sites.csv``."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def spread_m(network: Network, rows: list[dict[str, str]]) -> float:
    """Median distance between synthetic sites (a check that they are spread out)."""
    x, y = network.project([float(r["lat"]) for r in rows], [float(r["lon"]) for r in rows])
    d = np.hypot(x[:, None] - x[None, :], y[:, None] - y[None, :])
    return float(np.median(d[np.triu_indices(len(rows), 1)]))
