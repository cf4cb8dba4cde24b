"""Incidents: police.uk and generic CSV readers."""

from __future__ import annotations

import pandas as pd
import pytest

from patrols.errors import InputError
from patrols.incidents import read_incidents

from conftest import DATA


def test_reads_police_uk_csv_as_published():
    df = read_incidents(DATA / "police_uk_sample.csv")
    assert len(df) == 200
    assert df["month_only"].all()
    assert (df["timestamp"] == pd.Timestamp("2017-07-15")).all()  # mid-month
    assert set(df["category"]) <= {
        "anti-social-behaviour", "bicycle-theft", "burglary", "criminal-damage-arson", "drugs",
        "other-theft", "possession-of-weapons", "public-order", "robbery", "shoplifting",
        "theft-from-the-person", "vehicle-crime", "violent-crime", "other-crime"}
    assert df["lat"].between(51.4, 51.6).all()


def test_police_uk_rows_without_location_are_skipped(tmp_path):
    lines = (DATA / "police_uk_sample.csv").read_text().splitlines()
    parts = lines[1].split(",")
    parts[4] = parts[5] = ""
    (tmp_path / "p.csv").write_text("\n".join([lines[0], ",".join(parts), lines[2]]) + "\n")
    assert len(read_incidents(tmp_path / "p.csv")) == 1


def test_reads_generic_csv_with_severity():
    df = read_incidents(DATA / "leeds" / "incidents.csv")
    assert len(df) == 300
    assert not df["month_only"].any()
    assert df["severity"].isin([1.0, 2.0]).all()
    assert df["timestamp"].dt.hour.nunique() > 12


@pytest.mark.parametrize(("row", "field"), [
    ("a,2018-01-01T10:00,95,0,robbery", "lat"),
    ("a,2018-01-01T10:00,51.5,-190,robbery", "lon"),
    ("a,yesterday,51.5,0,robbery", "timestamp"),
    ("a,2018-01-01T10:00,north,0,robbery", "lat"),
    ("a,2018-01-01T10:00,51.5,0,", "category"),
])
def test_generic_csv_errors_name_line_and_field(tmp_path, row, field):
    path = tmp_path / "inc.csv"
    path.write_text("incident_id,timestamp,lat,lon,category\nok,2018-01-01T09:00,51.5,0,drugs\n" + row + "\n")
    with pytest.raises(InputError) as err:
        read_incidents(path)
    assert err.value.row == 3 and err.value.field == field
    assert "inc.csv: line 3" in str(err.value)


def test_unrecognised_header_is_refused(tmp_path):
    path = tmp_path / "inc.csv"
    path.write_text("id,when,where\n1,2,3\n")
    with pytest.raises(InputError, match="missing generic column"):
        read_incidents(path)
