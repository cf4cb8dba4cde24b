"""Synthetic protected sites and incidents for demonstrations, tests and benchmarks.

Real representatives' addresses must never be bundled. This module places
made-up sites on real streets by a seeded, documented procedure: pick street
segments at random (weighted by length, so every metre of street is equally
likely), put the site at a random point along the segment, and give it a kind
and a tier from fixed proportions. Ids are opaque; labels say SYNTHETIC.

Where an area has no crime records that may be bundled (Rutland's demo, the
scale benchmark's joined networks), :func:`synthetic_incidents` makes a year of
clustered incidents around street junctions: they exercise the hotspot model
at the right size and shape, and say nothing about any real place.
"""

from __future__ import annotations

import csv
import io
import math
import random
from datetime import date, timedelta

import numpy as np
import pandas as pd
from shapely import LineString

from patrols.network import Network

# Kinds and tiers of the made-up sites, in the proportions a borough might have.
KIND_SHARES = (("home", 0.40), ("office", 0.35), ("surgery", 0.25))
TIER_SHARES = ((1, 0.2), (2, 0.4), (3, 0.4))
# Synthetic incidents: clusters around junctions with a Gaussian spread, a share
# scattered one by one, police.uk categories in shares like a city's, and hours
# weighted like street crime (quiet before dawn, an evening peak).
CLUSTER_SPREAD_M = 60.0
BACKGROUND_SHARE = 0.15
INCIDENTS_PER_CLUSTER = 80
CATEGORY_SHARES = {
    "anti-social-behaviour": 0.18, "violent-crime": 0.15, "public-order": 0.05,
    "criminal-damage-arson": 0.03, "other-theft": 0.20, "theft-from-the-person": 0.10,
    "shoplifting": 0.07, "vehicle-crime": 0.06, "burglary": 0.05, "drugs": 0.04,
    "bicycle-theft": 0.03, "robbery": 0.02, "possession-of-weapons": 0.01, "other-crime": 0.01,
}
HOUR_WEIGHTS = np.array([4.5, 4.0, 3.4, 2.6, 1.8, 1.3, 1.4, 2.0, 3.0, 3.6, 4.0, 4.4,
                         4.9, 5.0, 5.0, 5.4, 5.6, 5.8, 5.7, 5.4, 5.1, 5.0, 5.0, 4.9])
_M_PER_DEG = 111_320.0
COLUMNS = ["site_id", "kind", "lat", "lon", "tier", "window_start", "window_end",
           "dwell_min", "visits_per_week", "label", "person_id"]
# Synthetic people: roles in the proportions of a borough's representatives, each
# with a share of the sites; contacts each look after two people, the last person
# ("other") has none.
ROLE_COUNTS = (("mp", 5), ("candidate", 4), ("councillor", 2), ("other", 1))
PEOPLE_PER_CONTACT = 2
PEOPLE_COLUMNS = ["person_id", "role", "contact_id", "valid_from", "valid_to", "note"]
CONTACT_COLUMNS = ["contact_id", "name", "station_id", "phone", "email"]


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
            "label": f"SYNTHETIC {kind} {i + 1}", "person_id": "",
        })
    # Surgeries are held in set hours; give a few an evening slot as constituents ask.
    for row in rows:
        # (Not tier 1: two visits a day cannot fit one evening window.)
        if row["kind"] == "surgery" and row["tier"] != "1" and rng.random() < 0.3:
            row["window_start"], row["window_end"] = "17:00", "20:00"
    return sorted(rows, key=lambda r: r["site_id"])


def synthetic_people(rows: list[dict[str, str]], stations: list[str],
                     seed: int) -> tuple[list[dict[str, str]], list[dict[str, str]], list[dict[str, str]]]:
    """Made-up people for synthetic sites, and their named contacts.

    Parameters
    ----------
    rows
        Sites from :func:`synthetic_sites`; each is given a ``person_id``.
    stations
        Station ids the contacts work from.
    seed
        Seed of every choice.

    Returns
    -------
    (sites, people, contacts)
        Rows for ``sites.csv``, ``people.csv`` and ``contacts.csv``. People have
        the roles of :data:`ROLE_COUNTS` and no dates (a candidate then takes the
        area's election period); the sites are dealt to them at random, each
        person at least one; every :data:`PEOPLE_PER_CONTACT` people but the
        ``other`` share a contact at a random station. Names and e-mail
        addresses are marked SYNTHETIC (``.invalid`` domains, RFC 2606).
    """
    rng = random.Random(f"people:{seed}")
    roles = [role for role, k in ROLE_COUNTS for _ in range(k)]
    ids: list[str] = []
    while len(ids) < len(roles):
        pid = f"P{rng.getrandbits(24):06x}"
        if pid not in ids:
            ids.append(pid)
    order = list(range(len(rows)))
    rng.shuffle(order)
    sites = [dict(r) for r in rows]
    for k, i in enumerate(order):
        sites[i]["person_id"] = ids[k % len(ids)]
    contacts: list[dict[str, str]] = []
    people = []
    for k, (pid, role) in enumerate(zip(ids, roles, strict=True)):
        contact = ""
        if role != "other":
            if k % PEOPLE_PER_CONTACT == 0:
                n = len(contacts) + 1
                contacts.append({"contact_id": f"C{rng.getrandbits(24):06x}",
                                 "name": f"SYNTHETIC contact {n}",
                                 "station_id": rng.choice(sorted(stations)), "phone": "",
                                 "email": f"contact{n}@synthetic.invalid"})
            contact = contacts[-1]["contact_id"]
        people.append({"person_id": pid, "role": role, "contact_id": contact, "valid_from": "",
                       "valid_to": "", "note": f"SYNTHETIC {role} {k + 1}"})
    people.sort(key=lambda p: p["person_id"])
    return sites, people, sorted(contacts, key=lambda c: c["contact_id"])


def table_csv(rows: list[dict[str, str]], columns: list[str]) -> str:
    """Rows as CSV text with a header, ``\n`` line ends."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def _snappable_streets(network: Network) -> list[tuple[float, LineString]]:
    """(length, line) of each graph edge whose parts all snap by car, in the graph's order."""
    snap = np.zeros(len(network.edge_u), dtype=bool)
    snap[network.snap_edges] = True
    out = []
    for a, b in zip(*(s.tolist() for s in network.graph_edges()), strict=True):
        if not snap[a:b].all():
            continue
        out.append((float(network.edge_length[a:b].sum()), LineString(network.joined(a, b))))
    return out


def sites_csv(rows: list[dict[str, str]]) -> str:
    """Rows from :func:`synthetic_sites` as the text of ``sites.csv``."""
    return table_csv(rows, COLUMNS)


def spread_m(network: Network, rows: list[dict[str, str]]) -> float:
    """Median distance between synthetic sites (a check that they are spread out)."""
    x, y = network.project([float(r["lat"]) for r in rows], [float(r["lon"]) for r in rows])
    d = np.hypot(x[:, None] - x[None, :], y[:, None] - y[None, :])
    return float(np.median(d[np.triu_indices(len(rows), 1)]))


def synthetic_incidents(network: Network, n: int, seed: int, before: date,
                        prefix: str = "SYN-") -> pd.DataFrame:
    """A year of ``n`` clustered synthetic incidents on the network's streets.

    Cluster centres are random junctions (split points of long streets are not
    used); cluster sizes are heavy-tailed (Pareto, shape 1.2), about
    ``INCIDENTS_PER_CLUSTER`` a cluster on average; points spread around their
    centre with a Gaussian of ``CLUSTER_SPREAD_M``; a share
    ``BACKGROUND_SHARE`` are single incidents at random junctions. Days are
    uniform over the 365 before ``before``, hours weighted by ``HOUR_WEIGHTS``.

    Parameters
    ----------
    network
        Streets to place the incidents on.
    n
        How many incidents.
    seed
        Seed of every choice.
    before
        The incidents fall in the year before this date.
    prefix
        Start of every ``incident_id``.

    Returns
    -------
    pandas.DataFrame
        The generic incidents CSV's columns
        (``incident_id,timestamp,lat,lon,category``), sorted by time.
    """
    real = np.flatnonzero(network.node_ids >= 0)
    return incidents_around(network.lon[real], network.lat[real], n, np.random.default_rng(seed), before,
                            prefix)


def incidents_around(lon: np.ndarray, lat: np.ndarray, n: int, rng: np.random.Generator, before: date,
                     prefix: str) -> pd.DataFrame:
    """The procedure of :func:`synthetic_incidents` around given junctions (lon, lat arrays)."""
    n_background = round(n * BACKGROUND_SHARE)
    n_clustered = n - n_background
    k = max(10, n_clustered // INCIDENTS_PER_CLUSTER)
    centres = rng.integers(0, len(lon), size=k)
    sizes = rng.pareto(1.2, size=k) + 1.0
    counts = rng.multinomial(n_clustered, sizes / sizes.sum())
    at = np.concatenate([np.repeat(centres, counts), rng.integers(0, len(lon), size=n_background)])
    jitter = rng.normal(0.0, CLUSTER_SPREAD_M, size=(n, 2))
    out_lat = lat[at] + jitter[:, 1] / _M_PER_DEG
    out_lon = lon[at] + jitter[:, 0] / (_M_PER_DEG * math.cos(math.radians(float(np.median(lat)))))
    start = np.datetime64(before - timedelta(days=365), "s")
    days = rng.integers(0, 365, size=n)
    hours = rng.choice(24, size=n, p=HOUR_WEIGHTS / HOUR_WEIGHTS.sum())
    seconds = rng.integers(0, 3600, size=n)
    stamps = start + (days * 86400 + hours * 3600 + seconds).astype("timedelta64[s]")
    names = list(CATEGORY_SHARES)
    shares = np.array([CATEGORY_SHARES[c] for c in names])
    category = np.array(names)[rng.choice(len(names), size=n, p=shares / shares.sum())]
    order = np.argsort(stamps, kind="stable")
    return pd.DataFrame({
        "incident_id": np.char.add(prefix, np.arange(n).astype(str)),
        "timestamp": np.datetime_as_string(stamps[order], unit="s"),
        "lat": np.round(out_lat[order], 6), "lon": np.round(out_lon[order], 6),
        "category": category[order],
    })
