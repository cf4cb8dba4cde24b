"""Protected sites: the homes, offices and surgery venues of elected representatives.

Sites carry opaque ids; a human label is optional and never needed for
planning. The planner reads tier (1 = highest risk), kind and any visiting
window from ``sites.csv``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import time
from pathlib import Path

from patrols._csv import Row, read_rows

KINDS = ("home", "office", "surgery", "other")


@dataclass(frozen=True)
class Site:
    """A protected site (pure data)."""

    site_id: str
    kind: str
    lat: float
    lon: float
    tier: int
    window_start: time | None = None
    window_end: time | None = None
    dwell_min: float | None = None
    visits_per_week: int | None = None
    label: str = ""
    person_id: str = ""
    """The person (``people.csv``) the site protects; empty when none is named."""
    line: int = field(default=0, compare=False)
    """Line of ``sites.csv`` the site came from (for error messages)."""


def read_sites(path: str | Path) -> list[Site]:
    """Read ``sites.csv``: ``site_id,kind,lat,lon,tier`` and optional columns.

    Optional columns: ``window_start,window_end`` (HH:MM local; an end before the
    start crosses midnight), ``dwell_min``, ``visits_per_week``, ``label``,
    ``person_id`` (checked against ``people.csv`` by :func:`patrols.area.load_area`).
    """
    sites: list[Site] = []
    seen: set[str] = set()
    for row in read_rows(path, ["site_id", "kind", "lat", "lon", "tier"]):
        site = site_from_row(row)
        if site.site_id in seen:
            raise row.error("site_id", f"duplicate site id {site.site_id!r}")
        seen.add(site.site_id)
        sites.append(site)
    return sites


def site_from_row(row: Row) -> Site:
    """One site from a row of ``sites.csv``'s columns (or a table holding them), checked.

    Raises
    ------
    InputError
        Naming the row and the field that is wrong.
    """
    site_id = row.text("site_id")
    kind = row.text("kind").lower()
    if kind not in KINDS:
        raise row.error("kind", f"{kind!r} is not one of {', '.join(KINDS)}")
    lat, lon = row.latlon()
    tier = row.number("tier", low=1, high=3)
    if tier != int(tier):
        raise row.error("tier", "must be 1, 2 or 3")
    ws, we = row.clock("window_start"), row.clock("window_end")
    if (ws is None) != (we is None):
        raise row.error("window_end" if we is None else "window_start",
                        "give both window_start and window_end, or neither")
    if ws is not None and ws == we:
        raise row.error("window_end", "window is empty (start equals end)")
    dwell = row.number("dwell_min", required=False, low=1, high=240)
    vpw = row.number("visits_per_week", required=False, low=0, high=42)
    if vpw is not None and vpw != int(vpw):
        raise row.error("visits_per_week", "must be a whole number")
    return Site(
        site_id=site_id, kind=kind, lat=lat, lon=lon, tier=int(tier),
        window_start=ws, window_end=we, dwell_min=dwell,
        visits_per_week=None if vpw is None else int(vpw),
        label=row.text("label", required=False), person_id=row.text("person_id", required=False),
        line=row.line,
    )
