"""The people behind the protected sites, their named police contacts, and election periods.

The 2024 package gives every elected representative and candidate a named
police contact. ``people.csv`` (``person_id,role,contact_id,valid_from,valid_to``)
lists the people, ``contacts.csv`` (``contact_id,name,station_id`` and optional
``phone``, ``email``) the contacts, and ``sites.csv``'s optional ``person_id``
ties a site to its person. Ids are opaque: no file here needs a real name but
the contact's own.

A person is protected from ``valid_from`` to ``valid_to`` (whole days, both
included; an empty end is open). A candidate without dates takes the
``[election]`` period of ``area.toml`` (``start`` to ``polling_day``); anyone
else without dates is protected every day. A site is protected on the days
its person is; a site without a person, every day.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from patrols._csv import Row, read_rows
from patrols.errors import InputError

ROLES = ("mp", "candidate", "councillor", "other")


@dataclass(frozen=True)
class Contact:
    """A named police contact: the officer who sees their people's week."""

    contact_id: str
    name: str
    station_id: str
    phone: str = ""
    email: str = ""
    line: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Election:
    """An election period: candidates are protected from ``start`` to ``polling_day``."""

    start: date
    polling_day: date


@dataclass(frozen=True)
class Person:
    """A protected person: an MP, a candidate, a councillor or another."""

    person_id: str
    role: str
    contact_id: str = ""
    valid_from: date | None = None
    valid_to: date | None = None
    line: int = field(default=0, compare=False)

    def protected_on(self, day: date, election: Election | None = None) -> bool:
        """Whether the person is protected on ``day`` (see the module's notes)."""
        lo, hi = self.period(election)
        return (lo is None or day >= lo) and (hi is None or day <= hi)

    def period(self, election: Election | None = None) -> tuple[date | None, date | None]:
        """First and last day protected (``None`` = open), the election's for an undated candidate."""
        if self.valid_from is None and self.valid_to is None and self.role == "candidate" and election:
            return election.start, election.polling_day
        return self.valid_from, self.valid_to


def _date(row: Row, name: str) -> date | None:
    raw = row.text(name, required=False)
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise row.error(name, f"{raw!r} is not a date YYYY-MM-DD") from None


def read_contacts(path: str | Path, stations: set[str]) -> dict[str, Contact]:
    """Read ``contacts.csv``: ``contact_id,name,station_id`` and optional ``phone,email``.

    Raises
    ------
    InputError
        Naming the row and field: a duplicate id, an empty name, an unknown station.
    """
    out: dict[str, Contact] = {}
    for row in read_rows(path, ["contact_id", "name", "station_id"]):
        cid = row.text("contact_id")
        if cid in out:
            raise row.error("contact_id", f"duplicate contact id {cid!r}")
        station = row.text("station_id")
        if station not in stations:
            raise row.error("station_id", f"unknown station {station!r}")
        out[cid] = Contact(cid, row.text("name"), station, row.text("phone", required=False),
                           row.text("email", required=False), row.line)
    return out


def read_people(path: str | Path, contacts: dict[str, Contact]) -> dict[str, Person]:
    """Read ``people.csv``: ``person_id,role,contact_id,valid_from,valid_to``.

    ``contact_id``, ``valid_from`` and ``valid_to`` may be empty.

    Raises
    ------
    InputError
        Naming the row and field: a duplicate id, an unknown role or contact, a bad
        date, or a period that ends before it starts.
    """
    out: dict[str, Person] = {}
    for row in read_rows(path, ["person_id", "role", "contact_id", "valid_from", "valid_to"]):
        pid = row.text("person_id")
        if pid in out:
            raise row.error("person_id", f"duplicate person id {pid!r}")
        role = row.text("role").lower()
        if role not in ROLES:
            raise row.error("role", f"{role!r} is not one of {', '.join(ROLES)}")
        contact = row.text("contact_id", required=False)
        if contact and contact not in contacts:
            raise row.error("contact_id", f"unknown contact {contact!r} (not in contacts.csv)")
        lo, hi = _date(row, "valid_from"), _date(row, "valid_to")
        if lo is not None and hi is not None and hi < lo:
            raise row.error("valid_to", f"{hi.isoformat()} is before valid_from {lo.isoformat()}")
        out[pid] = Person(pid, role, contact, lo, hi, row.line)
    return out


def read_election(doc: Any, source: str | Path) -> Election | None:
    """The ``[election]`` table of ``area.toml`` (``start``, ``polling_day``), or ``None``."""
    if doc is None:
        return None
    if not isinstance(doc, dict):
        raise InputError(source, "must be a table with start and polling_day", field="election")
    for key in doc:
        if key not in ("start", "polling_day"):
            raise InputError(source, "unknown key (start or polling_day)", field=f"election.{key}")
    days = {}
    for key in ("start", "polling_day"):
        raw = doc.get(key)
        if raw is None:
            raise InputError(source, "missing date", field=f"election.{key}")
        try:
            days[key] = raw if isinstance(raw, date) else date.fromisoformat(str(raw))
        except ValueError:
            raise InputError(source, f"{raw!r} is not a date YYYY-MM-DD", field=f"election.{key}") from None
    if days["polling_day"] < days["start"]:
        raise InputError(source, "polling day is before the start", field="election.polling_day")
    return Election(days["start"], days["polling_day"])


def protected_days(sites: list, people: dict[str, Person], election: Election | None,
                   week_start: date) -> dict[str, frozenset[date]]:
    """The days of the week from ``week_start`` on which each site is protected.

    Parameters
    ----------
    sites
        Sites with ``site_id`` and ``person_id`` ("" = no person: every day).
    people
        The people by id.
    election
        The area's election period, if any.
    week_start
        First day of the week.
    """
    week = [week_start + timedelta(days=i) for i in range(7)]
    out = {}
    for site in sites:
        person = people.get(getattr(site, "person_id", ""))
        out[site.site_id] = frozenset(d for d in week if person is None or person.protected_on(d, election))
    return out


def people_report(sites: list, people: dict[str, Person], contacts: dict[str, Contact],
                  station_names: dict[str, str], election: Election | None,
                  week_start: date) -> dict[str, Any]:
    """The people and contacts as a plan keeps them (``plan.extra["people"]``), JSON-ready.

    Each person lists their sites and the days of the week they are protected;
    each contact its station. Only contacts of someone are kept.
    """
    days = protected_days(sites, people, election, week_start)
    week = [week_start + timedelta(days=i) for i in range(7)]
    persons = []
    for pid in sorted(people):
        person = people[pid]
        lo, hi = person.period(election)
        persons.append({
            "person_id": pid, "role": person.role, "contact_id": person.contact_id,
            "valid_from": lo.isoformat() if lo else None, "valid_to": hi.isoformat() if hi else None,
            "site_ids": sorted(s.site_id for s in sites if getattr(s, "person_id", "") == pid),
            "protected_days": [d.isoformat() for d in week if person.protected_on(d, election)],
        })
    named = {p.contact_id for p in people.values() if p.contact_id}
    contact_rows = [{"contact_id": c.contact_id, "name": c.name, "station_id": c.station_id,
                     "station_name": station_names.get(c.station_id, c.station_id),
                     "phone": c.phone, "email": c.email}
                    for cid, c in sorted(contacts.items()) if cid in named]
    out: dict[str, Any] = {"persons": persons, "contacts": contact_rows,
                           "sites_not_protected_all_week": sorted(s for s, d in days.items() if len(d) < 7)}
    return out


def election_report(election: Election, people: dict[str, Person], week_start: date) -> dict[str, Any]:
    """The election period as the summary reports it: its dates, its candidates, its days this week."""
    week = [week_start + timedelta(days=i) for i in range(7)]
    return {
        "start": election.start.isoformat(),
        "polling_day": election.polling_day.isoformat(),
        "candidates": sum(1 for p in people.values() if p.role == "candidate"),
        "candidates_on_election_dates": sum(1 for p in people.values() if p.role == "candidate"
                                            and p.valid_from is None and p.valid_to is None),
        "days_in_week": sum(1 for d in week if election.start <= d <= election.polling_day),
    }
