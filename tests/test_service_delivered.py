"""Delivered through the service: track uploads (``POST /plans/{id}/tracks``) and the reports.

The plan is the ready-made Leeds plan (as in ``test_service.py``): one unit,
LC-C1, on the Monday early shift, with visits to the two test sites. Its tracks
are made from the plan itself (:func:`patrols.delivered.simulate.make_tracks`,
a ping every 30 s), the morning sent as CSV and the rest as GPX.
"""

from __future__ import annotations

import json
import os
import re
import stat
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from test_service import LEEDS, SITES, WEEK, Api, config_for, make_leeds_plan, quick_planner, site_leaks

from patrols.area import load_area
from patrols.delivered.measure import measure_plan, unplanned_minutes
from patrols.delivered.report import delivered_csv, delivered_json, visible
from patrols.delivered.simulate import make_tracks
from patrols.delivered.tracks import Pings, read_tracks, tracks_csv, tracks_gpx
from patrols.errors import InputError
from patrols.service.app import create_app
from patrols.service.audit import verify
from patrols.service.config import load_config
from patrols.service.delivered import visit_rule_of
from patrols.service.files import clear_unfinished, replace_dir

CSV = {"Content-Type": "text/csv"}
GPX = {"Content-Type": "application/gpx+xml"}


@pytest.fixture(scope="module")
def pings() -> dict[str, Pings]:
    plan, _network = make_leeds_plan()
    return make_tracks(plan, 30.0, 5.0, seed=1)


def split(tracks: dict[str, Pings], share: float = 0.5) -> tuple[dict[str, Pings], dict[str, Pings]]:
    """Each unit's pings cut in two at ``share`` of them: the morning's and the rest."""
    first, rest = {}, {}
    for unit, p in tracks.items():
        k = int(len(p.t) * share)
        first[unit] = Pings(unit, p.t[:k], p.lat[:k], p.lon[:k])
        rest[unit] = Pings(unit, p.t[k:], p.lat[k:], p.lon[k:])
    return first, rest


def start(tmp_path: Path, **kw) -> tuple[TestClient, Api]:
    app = create_app(config_for(tmp_path, workers=1, **kw), planner=quick_planner(make_leeds_plan()),
                     executor=lambda: ThreadPoolExecutor(1))
    client = TestClient(app)
    client.__enter__()
    return client, Api(client, app.state.store)


@pytest.fixture
def api(tmp_path: Path):
    client, api = start(tmp_path)
    yield api
    client.__exit__(None, None, None)


@pytest.fixture
def done(api: Api) -> str:
    plan_id = api.create().json()["id"]
    assert api.wait(plan_id)["status"] == "done"
    return plan_id


def upload(api: Api, plan_id: str, body: str | bytes, headers: dict[str, str] = CSV, role: str = "planner",
           name: str | None = None):
    params = {"name": name} if name is not None else None
    content = body.encode() if isinstance(body, str) else body
    return api.client.post(f"/plans/{plan_id}/tracks", headers={**api.h(role), **headers},
                           params=params, content=content)


def plan_dir(api: Api, plan_id: str) -> Path:
    return api.client.app.state.config.plans_dir / plan_id


def leftovers(api: Api, plan_id: str) -> list[str]:
    """What an upload may leave in the plan's folder besides its bundles and delivered/."""
    return sorted(p.name for p in plan_dir(api, plan_id).iterdir() if p.name not in ("full", "viewer",
                                                                                    "delivered"))


def entries(api: Api, plan_id: str, action: str) -> list[dict]:
    log = api.get(f"/audit?plan_id={plan_id}&limit=1000", "admin").json()
    return [e for e in log if e["action"] == action]


# ---------------------------------------------------------------------------------


def test_a_planner_uploads_csv_and_gpx_and_everyone_reads_what_was_delivered(api: Api, done: str, pings,
                                                                            tmp_path: Path):
    plan, _network = make_leeds_plan()
    morning, rest = split(pings)
    csv_text, gpx_text = tracks_csv(morning), tracks_gpx(rest)

    r = upload(api, done, csv_text, name="morning")
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["stored"] == "morning.csv" and doc["units"] == 1
    assert doc["pings"] == doc["tracks"][0]["pings_added"] == len(morning["LC-C1"].t)
    assert doc["links"] == {"json": f"/plans/{done}/delivered", "csv": f"/plans/{done}/delivered.csv"}
    r = upload(api, done, gpx_text, GPX)
    assert r.status_code == 200, r.text
    doc = r.json()
    assert [(t["name"], t["format"]) for t in doc["tracks"]] == [("morning.csv", "csv"),
                                                                 ("tracks-2.gpx", "gpx")]
    assert doc["pings"] == len(pings["LC-C1"].t) and doc["tracks"][1]["pings_added"] == len(rest["LC-C1"].t)
    assert sum(doc["status"].values()) == sum(len(r.stops) - 2 for r in plan.routes)
    assert doc["status"]["done"] > 0

    # The planner's report is what `patrols delivered` makes of both files together.
    (tmp_path / "a.csv").write_text(csv_text)
    (tmp_path / "b.gpx").write_text(gpx_text)
    tracks = read_tracks([tmp_path / "a.csv", tmp_path / "b.gpx"], {"LC-C1"})
    rule, clearance = visit_rule_of(plan, None), load_area(LEEDS).settings.redaction_clearance_m
    results = measure_plan(plan, tracks, rule)
    full = api.get(f"/plans/{done}/delivered", "planner")
    assert full.status_code == 200 and full.headers["content-type"] == "application/json"
    unplanned = unplanned_minutes(plan, tracks, rule)
    assert full.json() == json.loads(delivered_json(plan, results, unplanned, rule, doc["pings"], False,
                                                    clearance))
    assert full.json()["protective"]["planned"] > 0
    full_csv = api.get(f"/plans/{done}/delivered.csv", "planner")
    assert full_csv.status_code == 200 and full_csv.headers["content-type"].startswith("text/csv")
    assert "attachment" in full_csv.headers["content-disposition"]
    assert full_csv.text == delivered_csv(results)
    assert any(row.split(",")[4] == "protective" for row in full_csv.text.splitlines()[1:])
    assert site_leaks(full.text + full_csv.text)  # the check can fail: the planner's show the sites

    # Viewers and admins get the redacted report: no protective row, no site.
    for role in ("viewer", "admin"):
        seen = api.get(f"/plans/{done}/delivered", role)
        assert seen.status_code == 200
        report = seen.json()
        assert report["redacted"] is True and "protective" not in report
        assert report["stops"] < full.json()["stops"]
        seen_csv = api.get(f"/plans/{done}/delivered.csv", role)
        assert seen_csv.text == delivered_csv(visible(plan, results, True, clearance))
        assert all(row.split(",")[4] == "hotspot" for row in seen_csv.text.splitlines()[1:])
        for text in (seen.text, seen_csv.text):
            # The rule's protective dose is a setting of the area, not of a site.
            assert site_leaks(text.replace('"protective_dose_min"', '"dose"')) == [], role
            assert not any(site_id in text for site_id, *_ in SITES)
    # The plan links its report once there is one.
    assert api.get(f"/plans/{done}", "viewer").json()["links"]["delivered"] == f"/plans/{done}/delivered"


def test_tracks_are_private_files_kept_with_the_plan_never_in_the_viewer_bundle(api: Api, done: str, pings):
    text = tracks_csv(pings)
    assert upload(api, done, text, name="week").status_code == 200
    folder = plan_dir(api, done) / "delivered"
    assert (folder / "tracks" / "week.csv").read_text() == text
    assert sorted(p.name for p in folder.iterdir()) == ["full", "tracks", "tracks.json", "viewer"]
    for path in [folder, *folder.rglob("*")]:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == (0o700 if path.is_dir() else 0o600), path
    assert leftovers(api, done) == []
    viewer_bundle = plan_dir(api, done) / "viewer"
    assert not any("tracks" in p.name for p in viewer_bundle.rglob("*"))
    # No export serves them either.
    exports = api.get(f"/plans/{done}", "planner").json()["links"]["exports"]
    assert not any("track" in k for k in exports)


@pytest.mark.parametrize("role", ["viewer", "admin"])
def test_only_planners_upload_tracks(api: Api, done: str, pings, role: str):
    r = upload(api, done, tracks_csv(pings), role=role)
    assert r.status_code == 403 and r.headers["content-type"] == "application/problem+json"
    assert "plans.tracks" in r.json()["detail"]
    assert not (plan_dir(api, done) / "delivered").exists() and leftovers(api, done) == []
    [entry] = entries(api, done, "tracks.upload")
    assert entry["outcome"] == "denied"


def test_no_report_before_tracks_and_none_of_a_plan_not_done(api: Api, done: str, pings):
    for role in ("planner", "viewer"):
        for path in (f"/plans/{done}/delivered", f"/plans/{done}/delivered.csv"):
            r = api.get(path, role)
            assert r.status_code == 404 and r.headers["content-type"] == "application/problem+json"
            assert "no tracks yet" in r.json()["detail"]
    assert api.get(f"/plans/{done}", "planner").json()["links"]["delivered"] is None
    unknown = str(uuid.uuid4())
    assert upload(api, unknown, tracks_csv(pings)).status_code == 404
    assert api.get(f"/plans/{unknown}/delivered", "planner").status_code == 404
    queued = str(uuid.uuid4())
    api.store.add_plan(queued, "leeds", WEEK, 0, None, False, "k")
    r = upload(api, queued, tracks_csv(pings))
    assert r.status_code == 409 and "not done" in r.json()["detail"]
    assert api.get(f"/plans/{queued}/delivered", "planner").status_code == 409


BAD = [
    # (file, content type, what the refusal names)
    ("unit,timestamp,lat,lon\nLC-C1,2018-07-02T07:00:00Z,53.8,-1.55\nLC-C1,2018-07-02T07:00:30Z,95.5,-1.55\n",
     CSV, "line 3: field 'lat'"),
    ("unit,timestamp,lat,lon\nLC-C1,2018-07-02T07:00:00,53.8,-1.55\n", CSV, "line 2: field 'timestamp'"),
    ("unit,timestamp,lat,lon\nXX-9,2018-07-02T07:00:00Z,53.8,-1.55\n", CSV, "line 2: field 'unit'"),
    ("unit,timestamp,lat\nLC-C1,2018-07-02T07:00:00Z,53.8\n", CSV, "line 1: missing column(s) lon"),
    ("", CSV, "file is empty"),
    ('<gpx xmlns="http://www.topografix.com/GPX/1/1"><trk><name>LC-C1</name><trkseg>'
     '<trkpt lat="53.8" lon="-1.55"><time>2018-07-02T07:00:00Z</time></trkpt>'
     '<trkpt lat="53.8"><time>2018-07-02T07:00:30Z</time></trkpt></trkseg></trk></gpx>',
     GPX, "field 'trk[0].trkpt[1].lon'"),
    ("<gpx", GPX, "not valid XML"),
]


@pytest.mark.parametrize(("body", "headers", "named"), BAD)
def test_a_bad_track_file_is_refused_naming_where_and_nothing_is_stored(api: Api, done: str, pings, body,
                                                                       headers, named):
    # A good file first: a bad one after it changes nothing of what is there.
    assert upload(api, done, tracks_csv(pings), name="good").status_code == 200
    before = {p: p.read_bytes() for p in (plan_dir(api, done) / "delivered").rglob("*") if p.is_file()}
    report = api.get(f"/plans/{done}/delivered", "planner").text
    r = upload(api, done, body, headers, name="bad")
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json", r.text
    problem = r.json()
    ext = "gpx" if headers is GPX else "csv"
    assert problem["detail"].startswith(f"bad.{ext}: ") and named in problem["detail"], problem
    assert "\n" not in problem["detail"] and problem["errors"] == [problem["detail"]]
    assert str(plan_dir(api, done)) not in r.text  # the server's folders are not shown
    after = {p: p.read_bytes() for p in (plan_dir(api, done) / "delivered").rglob("*") if p.is_file()}
    assert after == before and leftovers(api, done) == []
    assert api.get(f"/plans/{done}/delivered", "planner").text == report
    # Audited by where, never the value (a position).
    entry = entries(api, done, "tracks.upload")[-1]
    assert entry["outcome"] == "invalid" and entry["detail"].startswith(f"tracks bad.{ext} (")
    assert "95.5" not in entry["detail"] and "53.8" not in entry["detail"]


def test_format_name_and_copies_are_checked(api: Api, done: str, pings):
    text = tracks_csv(pings)
    r = upload(api, done, text, {"Content-Type": "application/json"})
    assert r.status_code == 415 and "text/csv" in r.json()["detail"]
    assert upload(api, done, text, {"Content-Type": "text/plain"}).status_code == 415
    r = upload(api, done, text, name="../etc/passwd")
    assert r.status_code == 422 and r.json()["errors"][0].startswith("query.name")
    r = upload(api, done, text, name="week.gpx")
    assert r.status_code == 422 and "names a .gpx file" in r.json()["detail"]
    assert not (plan_dir(api, done) / "delivered").exists()
    assert upload(api, done, text, {"Content-Type": "text/csv; charset=utf-8"}, name="week.CSV").json()[
        "stored"] == "week.csv"
    r = upload(api, done, tracks_csv(split(pings)[0]), name="week")
    assert r.status_code == 409 and "already has a track file named 'week.csv'" in r.json()["detail"]
    r = upload(api, done, text, name="again")
    assert r.status_code == 409 and "already uploaded to this plan, as 'week.csv'" in r.json()["detail"]
    # A GPX track without a name is read as the unit its file is named after.
    unnamed = tracks_gpx(split(pings)[1]).replace("<name>LC-C1</name>", "")
    r = upload(api, done, unnamed, GPX, name="LC-C1")
    assert r.status_code == 200 and r.json()["stored"] == "LC-C1.gpx"
    assert leftovers(api, done) == []


def test_uploads_and_reads_are_audited_with_counts_and_no_positions(api: Api, done: str, pings):
    ids = {role: api.key[role][3:].split(".")[0] for role in ("planner", "viewer")}
    n = len(pings["LC-C1"].t)
    upload(api, done, tracks_csv(pings), name="week")
    api.get(f"/plans/{done}/delivered", "planner")
    api.get(f"/plans/{done}/delivered.csv", "viewer")
    [up] = entries(api, done, "tracks.upload")
    assert (up["key_id"], up["role"], up["outcome"]) == (ids["planner"], "planner", "ok")
    assert up["detail"] == (f"tracks week.csv (csv, {len(tracks_csv(pings))} bytes): {n} pings added; "
                            f"delivered measured from 1 files, {n} pings of 1 units")
    reads = entries(api, done, "delivered.read")
    assert [(e["key_id"], e["outcome"], e["detail"]) for e in reads] == [
        (ids["planner"], "ok", f"delivered.json (full): measured from 1 track files, {n} pings of 1 units"),
        (ids["viewer"], "ok", f"delivered.csv (viewer): measured from 1 track files, {n} pings of 1 units")]
    for entry in [up, *reads]:
        assert not re.search(r"-?\d+\.\d{3,}", entry["detail"])  # no coordinate
    report = verify(api.client.app.state.config.db_path)
    assert report.intact, report.line()


def test_tracks_are_erased_with_the_plan(api: Api, done: str, pings):
    assert upload(api, done, tracks_csv(pings), name="week").status_code == 200
    stored = plan_dir(api, done) / "delivered" / "tracks" / "week.csv"
    assert stored.is_file()
    assert api.client.delete(f"/plans/{done}", headers=api.h("planner")).status_code == 204
    assert not stored.exists() and not plan_dir(api, done).exists()
    assert api.get(f"/plans/{done}/delivered", "planner").status_code == 404
    assert upload(api, done, tracks_csv(pings)).status_code == 404
    assert not plan_dir(api, done).exists()


def test_track_uploads_have_their_own_body_limit(tmp_path: Path, pings):
    client, api = start(tmp_path, max_body_bytes=2000, max_tracks_bytes=100_000)
    try:
        plan_id = api.create().json()["id"]
        assert api.wait(plan_id)["status"] == "done"
        text = tracks_csv(pings)
        assert 2000 < len(text) < 100_000
        # Far over the general limit, within the tracks' own.
        assert upload(api, plan_id, text).status_code == 200
        big = text + "".join(f"LC-C1,2018-07-03T{h:02d}:{m:02d}:00Z,53.808000,-1.553000\n"
                             for h in range(24) for m in range(60)) * 2
        assert len(big) > 100_000
        for body in (big.encode(), iter([big[:60_000].encode(), big[60_000:].encode()])):  # sized, chunked
            r = api.client.post(f"/plans/{plan_id}/tracks", headers={**api.h("planner"), **CSV}, content=body)
            assert r.status_code == 413 and r.headers["content-type"] == "application/problem+json"
            assert "100000 bytes (max_tracks_bytes" in r.json()["detail"]
        stored = plan_dir(api, plan_id) / "delivered" / "tracks"
        assert [t.name for t in stored.iterdir()] == ["tracks-1.csv"]
        assert leftovers(api, plan_id) == []
        # Every other request keeps the general limit.
        r = api.client.post("/plans", headers=api.h("planner"), content=b'{"area": "' + b"x" * 3000 + b'"}')
        assert r.status_code == 413 and "2000 bytes" in r.json()["detail"]
    finally:
        client.__exit__(None, None, None)


def test_a_stopped_upload_is_cleared_and_a_half_swapped_report_put_back_on_start(tmp_path: Path):
    plan = tmp_path / "plans" / "p1"
    (plan / "delivered" / "tracks").mkdir(parents=True)
    (plan / "delivered" / "tracks.json").write_text("old")
    staged = plan / ".delivered.partial"
    (staged / "tracks").mkdir(parents=True)
    (staged / "tracks.json").write_text("new")
    replace_dir(staged, plan / "delivered")
    assert (plan / "delivered" / "tracks.json").read_text() == "new"
    assert sorted(os.listdir(plan)) == ["delivered"]
    # Stopped between the two renames: the old report comes back, the rest goes.
    os.rename(plan / "delivered", plan / ".delivered.old")
    (plan / ".delivered.partial").mkdir()
    (plan / ".upload-1.partial").mkdir()
    (plan / ".upload-1.partial" / "week.csv").write_text("unit,timestamp,lat,lon\n")
    assert clear_unfinished(tmp_path / "plans", ["p1"])
    assert sorted(os.listdir(plan)) == ["delivered"]
    assert (plan / "delivered" / "tracks.json").read_text() == "new"


def test_the_tracks_limit_is_a_setting_of_its_own(tmp_path: Path):
    toml = tmp_path / "server.toml"
    toml.write_text(f'max_body_bytes = 1000\nmax_tracks_bytes = 5000000\n[areas]\nleeds = "{LEEDS}"\n')
    config = load_config(toml)
    assert (config.max_body_bytes, config.max_tracks_bytes) == (1000, 5_000_000)
    toml.write_text(f'[areas]\nleeds = "{LEEDS}"\n')
    assert load_config(toml).max_tracks_bytes == 64 * 1024 * 1024
    toml.write_text(f'max_tracks_bytes = 0\n[areas]\nleeds = "{LEEDS}"\n')
    with pytest.raises(InputError, match="field 'max_tracks_bytes'"):
        load_config(toml)
