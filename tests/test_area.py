"""Area configuration, the bundled demo data and the plan's JSON form."""

from __future__ import annotations

import csv
from datetime import date

import pytest

from patrols.area import load_area
from patrols.errors import InputError
from patrols.plan import load_plan, plan_from_dict, plan_to_dict, save_plan
from patrols.planning import plan_week
from patrols.synthetic import (
    CONTACT_COLUMNS,
    PEOPLE_COLUMNS,
    sites_csv,
    synthetic_people,
    synthetic_sites,
    table_csv,
)

from conftest import LEEDS_AREA, WESTMINSTER_AREA


def test_bundled_area_meets_the_demo_brief():
    area = load_area(WESTMINSTER_AREA)
    cars = [u for u in area.units if u.mode == "car"]
    feet = [u for u in area.units if u.mode == "foot"]
    assert len(cars) >= 3 and len(feet) >= 4
    assert {u.shift for u in area.units} == {"early", "late", "night"}
    assert {u.station_id for u in area.units} <= set(area.stations)
    assert len(area.sites) >= 30
    assert {s.kind for s in area.sites} == {"home", "office", "surgery"}
    assert {s.tier for s in area.sites} == {1, 2, 3}
    assert all(s.label.startswith("SYNTHETIC") for s in area.sites)


def test_bundled_sites_are_reproduced_by_the_documented_procedure(westminster_network):
    rows = synthetic_sites(westminster_network, 36, 2018)
    stations = sorted(load_area(WESTMINSTER_AREA).stations)
    rows, people, contacts = synthetic_people(rows, stations, 2018)
    folder = WESTMINSTER_AREA.parent
    assert sites_csv(rows) == (folder / "sites.csv").read_text()
    assert table_csv(people, PEOPLE_COLUMNS) == (folder / "people.csv").read_text()
    assert table_csv(contacts, CONTACT_COLUMNS) == (folder / "contacts.csv").read_text()
    assert all(p["note"].startswith("SYNTHETIC") for p in people)
    assert all(c["name"].startswith("SYNTHETIC") and c["email"].endswith(".invalid") for c in contacts)


def test_defaults_can_be_overridden_in_area_toml(tmp_path):
    text = LEEDS_AREA.read_text()
    (tmp_path / "area.toml").write_text(
        text.replace("[defaults]", "[weights]\nrobbery = 500\n\n[half_life_days]\ndrugs = 7\n\n"
                 "[shifts]\nmid = { start = \"11:00\", end = \"19:00\" }\n\n[defaults]\nreserve_share = 0.5")
    )
    for name in ("its_leeds_network.osm.bz2", "stations.csv", "units.csv", "sites.csv", "incidents.csv"):
        (tmp_path / name).symlink_to(LEEDS_AREA.parent / name)
    area = load_area(tmp_path / "area.toml")
    assert area.settings.harm_weight("robbery") == 500
    assert area.settings.harm_weight("burglary") == 60  # untouched defaults stay
    assert area.settings.half_life("drugs") == 7
    assert area.settings.reserve_share == 0.5
    assert area.shifts["mid"][0].hour == 11


@pytest.mark.parametrize(("old", "new", "field"), [
    ("[defaults]", "[defaults]\nwarp_speed = 9", "defaults.warp_speed"),
    ("[defaults]", "[defaults]\nreserve_share = 1.5", "defaults.reserve_share"),
    ("[defaults]", "[weights]\nrobbery = -1\n[defaults]", "weights.robbery"),
    ('network = "its_leeds_network.osm.bz2"\n', "", "network"),
    ('name = "Leeds campus (test)"', 'name = "Leeds"\nincident = "x.csv"', "incident"),
])
def test_bad_area_settings_name_the_field(tmp_path, old, new, field):
    (tmp_path / "area.toml").write_text(LEEDS_AREA.read_text().replace(old, new, 1))
    for name in ("its_leeds_network.osm.bz2", "stations.csv", "units.csv", "sites.csv", "incidents.csv"):
        (tmp_path / name).symlink_to(LEEDS_AREA.parent / name)
    with pytest.raises(InputError) as err:
        load_area(tmp_path / "area.toml")
    assert err.value.field == field


def test_plan_round_trips_through_json(tmp_path, leeds_area, leeds_network, leeds_incidents):
    plan = plan_week(leeds_area, leeds_network, leeds_incidents, date(2018, 7, 2), seed=1,
                     time_limit_s=0.2)
    assert plan_from_dict(plan_to_dict(plan)) == plan
    save_plan(plan, tmp_path / "plan.json")
    assert load_plan(tmp_path / "plan.json") == plan


def test_future_incidents_are_ignored(leeds_area, leeds_network, leeds_incidents):
    from patrols.hotspots import score_segments

    early = score_segments(leeds_network, leeds_incidents, date(2018, 3, 1), leeds_area.settings)
    later = score_segments(leeds_network, leeds_incidents, date(2018, 7, 1), leeds_area.settings)
    n_before = int((leeds_incidents["timestamp"] < "2018-03-01").sum())
    assert early["count"].sum() <= n_before < later["count"].sum()


def test_sites_csv_header_is_on_line_one():
    with open(WESTMINSTER_AREA.parent / "sites.csv", newline="") as fh:
        header = next(csv.reader(fh))
    assert header[:5] == ["site_id", "kind", "lat", "lon", "tier"]
