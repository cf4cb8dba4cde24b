"""Reading tension layers and planned events, and refusing bad ones with a clear place."""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from patrols.errors import InputError
from patrols.tension import active, read_events, read_tension


def _layer(tmp_path, features):
    path = tmp_path / "tension.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    return path


def _feature(geom, **props):
    return {"type": "Feature", "geometry": geom, "properties": props}


SQUARE = {"type": "Polygon", "coordinates": [[[-0.14, 51.51], [-0.13, 51.51], [-0.13, 51.52],
                                              [-0.14, 51.52], [-0.14, 51.51]]]}
POINT = {"type": "Point", "coordinates": [-0.135, 51.515]}


def test_read_tension_polygons_and_points(tmp_path):
    path = _layer(tmp_path, [
        _feature(SQUARE, tension_id="soho", level=4, valid_from="2018-06-01", valid_to="2018-06-30"),
        _feature(POINT, level=6, valid_from="2018-07-01T18:00", valid_to="2018-07-02T02:00"),
    ])
    areas = read_tension(path)
    assert [a.tension_id for a in areas] == ["soho", "T2"]
    assert areas[0].level == 4 and areas[0].geometry.geom_type == "Polygon"
    # A bare valid_to date includes that whole day.
    assert areas[0].valid_to == datetime(2018, 7, 1)
    assert active(areas, datetime(2018, 6, 30, 23), datetime(2018, 7, 1)) == [areas[0]]
    assert active(areas, datetime(2018, 7, 2), datetime(2018, 7, 9)) == [areas[1]]
    assert active(areas, datetime(2018, 7, 3), datetime(2018, 7, 9)) == []


@pytest.mark.parametrize(("props", "field"), [
    ({"level": 7, "valid_from": "2018-06-01", "valid_to": "2018-06-30"}, "features[0].properties.level"),
    ({"level": 2.5, "valid_from": "2018-06-01", "valid_to": "2018-06-30"}, "features[0].properties.level"),
    ({"level": 3, "valid_to": "2018-06-30"}, "features[0].properties.valid_from"),
    ({"level": 3, "valid_from": "June", "valid_to": "2018-06-30"}, "features[0].properties.valid_from"),
    ({"level": 3, "valid_from": "2018-06-30", "valid_to": "2018-06-01"}, "features[0].properties.valid_to"),
])
def test_bad_tension_feature_is_refused_with_its_place(tmp_path, props, field):
    path = _layer(tmp_path, [_feature(SQUARE, **props)])
    with pytest.raises(InputError) as err:
        read_tension(path)
    assert err.value.field == field
    assert str(path) in str(err.value)


def test_tension_needs_polygons_or_points(tmp_path):
    line = {"type": "LineString", "coordinates": [[-0.14, 51.51], [-0.13, 51.52]]}
    with pytest.raises(InputError, match="not a polygon or point"):
        read_tension(_layer(tmp_path, [_feature(line, level=2, valid_from="2018-06-01",
                                                valid_to="2018-06-02")]))
    bad = tmp_path / "bad.geojson"
    bad.write_text("{not json")
    with pytest.raises(InputError, match="not valid GeoJSON"):
        read_tension(bad)


def test_read_events(tmp_path):
    path = tmp_path / "events.csv"
    path.write_text("event_id,kind,lat,lon,start,end,level\n"
                    "E1,demonstration,51.5010,-0.1416,2018-07-07T11:00,2018-07-07T16:00,5\n"
                    "E2,surgery,51.4975,-0.1357,2018-07-06T17:00,2018-07-06T19:00,2\n")
    events = read_events(path)
    assert [(e.event_id, e.kind, e.level) for e in events] == [("E1", "demonstration", 5),
                                                               ("E2", "surgery", 2)]
    assert events[0].start == datetime(2018, 7, 7, 11) and events[0].end == datetime(2018, 7, 7, 16)
    assert active(events, datetime(2018, 7, 7), datetime(2018, 7, 8)) == [events[0]]


@pytest.mark.parametrize(("row", "field"), [
    ("E1,demo,51.5,-0.14,2018-07-07T11:00,2018-07-07T16:00,0", "level"),
    ("E1,demo,51.5,-0.14,2018-07-07T11:00,2018-07-07T10:00,3", "end"),
    ("E1,demo,95,-0.14,2018-07-07T11:00,2018-07-07T16:00,3", "lat"),
    ("E1,demo,51.5,-0.14,soon,2018-07-07T16:00,3", "start"),
])
def test_bad_event_row_is_refused_with_line_and_field(tmp_path, row, field):
    path = tmp_path / "events.csv"
    path.write_text("event_id,kind,lat,lon,start,end,level\n" + row + "\n")
    with pytest.raises(InputError) as err:
        read_events(path)
    assert (err.value.row, err.value.field) == (2, field)
