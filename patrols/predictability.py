"""How predictable protective visits are: the spread of their hours at each site.

For each site, the visit hours (local clock hour at which service starts) form
a distribution; its Shannon entropy in bits measures the spread, and the
largest share of visits in any one hour how much an observer could bank on.
Both are compared with what a uniformly random schedule would give: the same
number of visits, each at a uniformly random time in the site's window on the
same days (the expectation estimated by seeded Monte Carlo draws).
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

# Monte Carlo draws for the uniform reference: enough for +-0.01 bit.
UNIFORM_DRAWS = 400


def hour_entropy(hours: Sequence[int]) -> float:
    """Shannon entropy (bits) of a list of clock hours."""
    n = len(hours)
    if n == 0:
        return 0.0
    # abs(): one hour holding every visit gives -0.0, which reads oddly in a report.
    return abs(-sum(c / n * math.log2(c / n) for c in Counter(hours).values()))


def max_hour_share(hours: Sequence[int]) -> float:
    """The largest share of visits that fall in one clock hour."""
    return max(Counter(hours).values()) / len(hours) if hours else 0.0


def uniform_reference(windows: Sequence[tuple[float, float]], tz: str,
                      seed: int = 0) -> tuple[float, float]:
    """Expected entropy and largest hour share of uniformly random visits.

    Parameters
    ----------
    windows
        For each visit, the (start, end) timestamps of the window it could fall
        in (the site's daily window on that visit's day).
    tz
        Time zone of the clock hours.
    seed
        Seed of the draws.

    Returns
    -------
    (entropy, max_share)
        Means over the draws.
    """
    if not windows:
        return 0.0, 0.0
    zone = ZoneInfo(tz)
    rng = random.Random(seed)
    ent = share = 0.0
    for _ in range(UNIFORM_DRAWS):
        hours = [datetime.fromtimestamp(rng.uniform(a, b), zone).hour for a, b in windows]
        ent += hour_entropy(hours)
        share += max_hour_share(hours)
    return ent / UNIFORM_DRAWS, share / UNIFORM_DRAWS


def site_spread(times: Sequence[datetime], windows: Sequence[tuple[float, float]], tz: str,
                seed: int = 0, memo: dict | None = None) -> dict[str, float]:
    """Spread of one site's visits beside the uniform-random reference.

    ``memo`` holds references already drawn, by their windows (the same windows, time zone and seed
    give the same draws); the reference drawn here is added to it.

    Returns
    -------
    dict
        ``visits``, ``entropy_bits``, ``uniform_entropy_bits``, ``ratio``
        (entropy over uniform), ``max_hour_share``, ``uniform_max_hour_share``.
    """
    zone = ZoneInfo(tz)
    hours = [t.astimezone(zone).hour for t in times]
    ent = hour_entropy(hours)
    key = (tuple(windows), tz, seed)
    if memo is not None and key in memo:
        u_ent, u_share = memo[key]
    else:
        u_ent, u_share = uniform_reference(windows, tz, seed)
        if memo is not None:
            memo[key] = u_ent, u_share
    return {
        "visits": len(hours),
        "entropy_bits": round(ent, 4),
        "uniform_entropy_bits": round(u_ent, 4),
        "ratio": round(ent / u_ent, 4) if u_ent > 0 else 1.0,
        "max_hour_share": round(max_hour_share(hours), 4),
        "uniform_max_hour_share": round(u_share, 4),
    }


def summarize_spread(per_site: dict[str, dict[str, float]]) -> dict[str, object]:
    """Overall figures: mean entropy beside the uniform mean, and the weakest site.

    Only sites with at least two visits count: one visit has no spread.
    """
    rows = {k: v for k, v in per_site.items() if v["visits"] >= 2}
    if not rows:
        return {"spread": 0.0, "spread_uniform": 0.0, "ratio": 1.0, "min_site_ratio": 1.0,
                "sites_below_90pct": 0, "sites": per_site}
    spread = sum(v["entropy_bits"] for v in rows.values()) / len(rows)
    uniform = sum(v["uniform_entropy_bits"] for v in rows.values()) / len(rows)
    return {
        "spread": round(spread, 4),
        "spread_uniform": round(uniform, 4),
        "ratio": round(spread / uniform, 4) if uniform else 1.0,
        "min_site_ratio": round(min(v["ratio"] for v in rows.values()), 4),
        "sites_below_90pct": sum(1 for v in rows.values() if v["ratio"] < 0.9),
        "max_hour_share": round(max(v["max_hour_share"] for v in rows.values()), 4),
        "sites": per_site,
    }
