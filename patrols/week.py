"""Shifts and units: the week's unit-shifts in Europe/London time.

A unit works a named shift template (``early``, ``late``, ``night`` or one the
area defines) on some days of the week. A unit-shift is one unit on one shift
on one date, with aware start and end datetimes; a shift that crosses a clock
change keeps its real length (a 7- or 9-hour night).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from patrols import defaults
from patrols._csv import read_rows
from patrols.errors import InputError

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class Unit:
    """A patrol unit: a car or a foot patrol based at a station."""

    unit_id: str
    mode: str
    station_id: str
    shift: str
    days: frozenset[int]
    """Weekdays worked, Monday = 0."""


@dataclass(frozen=True)
class UnitShift:
    """One unit on one shift on one date."""

    unit_id: str
    mode: str
    station_id: str
    shift: str
    date: date
    start: datetime
    end: datetime

    @property
    def hours(self) -> float:
        """Real length of the shift in hours (clock changes included)."""
        # Aware datetimes in one zone subtract by wall clock; timestamps do not.
        return (self.end.timestamp() - self.start.timestamp()) / 3600.0


def parse_days(text: str) -> frozenset[int]:
    """Parse ``Mon-Fri``, ``Sat,Sun``, ``all`` or a mix such as ``Mon,Wed-Fri``."""
    text = text.strip().lower()
    if text in ("all", "daily", "*"):
        return frozenset(range(7))
    days: set[int] = set()
    for part in text.split(","):
        part = part.strip()
        if "-" in part:
            a, b = (p.strip()[:3] for p in part.split("-", 1))
            if a not in DAY_NAMES or b not in DAY_NAMES:
                raise ValueError(part)
            i, j = DAY_NAMES.index(a), DAY_NAMES.index(b)
            span = range(i, j + 1) if i <= j else [*range(i, 7), *range(0, j + 1)]
            days.update(span)
        else:
            if part[:3] not in DAY_NAMES:
                raise ValueError(part)
            days.add(DAY_NAMES.index(part[:3]))
    if not days:
        raise ValueError(text)
    return frozenset(days)


def read_units(path: str | Path, stations: set[str], shifts: dict[str, tuple[time, time]]) -> list[Unit]:
    """Read ``units.csv``: ``unit_id,mode,station_id,shift,days``.

    Parameters
    ----------
    path
        The CSV file.
    stations
        Known station ids; a unit at any other station is refused.
    shifts
        Known shift templates by name.
    """
    units: list[Unit] = []
    seen: set[str] = set()
    for row in read_rows(path, ["unit_id", "mode", "station_id", "shift", "days"]):
        unit_id = row.text("unit_id")
        if unit_id in seen:
            raise row.error("unit_id", f"duplicate unit id {unit_id!r}")
        seen.add(unit_id)
        mode = row.text("mode").lower()
        if mode not in ("car", "foot"):
            raise row.error("mode", f"{mode!r} is not car or foot")
        station = row.text("station_id")
        if station not in stations:
            raise row.error("station_id", f"unknown station {station!r}")
        shift = row.text("shift").lower()
        if shift not in shifts:
            raise row.error("shift", f"unknown shift {shift!r} (known: {', '.join(shifts)})")
        try:
            days = parse_days(row.text("days"))
        except ValueError:
            raise row.error("days", f"{row.text('days')!r} is not like Mon-Fri, Sat,Sun or all") from None
        units.append(Unit(unit_id, mode, station, shift, days))
    return units


def shift_bounds(day: date, template: tuple[time, time],
                 tz: str = defaults.TIMEZONE) -> tuple[datetime, datetime]:
    """Aware start and end of a shift template worked on ``day``.

    The end falls on the next day when it is not after the start. Local times
    that do not exist (spring forward) move forward; ambiguous ones (fall back)
    take the first occurrence.
    """
    zone = ZoneInfo(tz)
    begin, finish = template
    end_day = day + timedelta(days=1) if finish <= begin else day
    return local_time(day, begin, zone), local_time(end_day, finish, zone)


def local_time(day: date, clock: time, zone: ZoneInfo) -> datetime:
    """The aware time of a wall clock on a day in ``zone`` (a time skipped by a clock change moves on)."""
    naive = datetime.combine(day, clock)
    aware = naive.replace(tzinfo=zone)
    # A nonexistent local time round-trips to a different wall time; normalise via UTC.
    return aware.astimezone(ZoneInfo("UTC")).astimezone(zone)


def unit_shifts(units: list[Unit], week_start: date, shifts: dict[str, tuple[time, time]],
                tz: str = defaults.TIMEZONE, source: str = "units.csv") -> list[UnitShift]:
    """All unit-shifts of the seven days from ``week_start``, ordered by start then unit."""
    out: list[UnitShift] = []
    for offset in range(7):
        day = week_start + timedelta(days=offset)
        for unit in units:
            if day.weekday() in unit.days:
                start, end = shift_bounds(day, shifts[unit.shift], tz)
                out.append(UnitShift(unit.unit_id, unit.mode, unit.station_id, unit.shift, day, start, end))
    if not out:
        raise InputError(source, f"no unit works in the week from {week_start.isoformat()}")
    out.sort(key=lambda us: (us.start, us.unit_id))
    return out
