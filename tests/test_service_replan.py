"""Re-planning through the service: ``POST /plans/{id}/replan``, the versions of a week, their audit.

The first plan of each test is the ready-made Leeds plan (as in
``test_service.py``); re-plans run the real worker function
(:func:`patrols.service.jobs.make_plan`) in a thread, so they re-plan that plan
for real. The Leeds test area has one unit, LC-C1, on the Monday early shift
(07:00 to 15:00).
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from test_service import (
    SITES,
    WEEK,
    Api,
    config_for,
    everything_seen,
    make_leeds_plan,
    quick_planner,
    site_leaks,
)

from patrols.service.app import create_app
from patrols.service.audit import verify
from patrols.service.jobs import PlanJob, make_plan
from patrols.service.store import Store

FROM = "2018-07-02T09:00:00"
UNIT_OFF = {"unit_off": [{"unit": "LC-C1", "from": "2018-07-02T10:00:00", "to": "2018-07-02T11:00:00"}]}


def planner(job: PlanJob):
    """The ready-made plan for a new plan; the real re-plan for a re-plan."""
    if job.parent_id is None:
        return quick_planner(make_leeds_plan())(job)
    return make_plan(job)


@pytest.fixture
def api(tmp_path: Path):
    app = create_app(config_for(tmp_path, workers=2), planner=planner, executor=lambda: ThreadPoolExecutor(2))
    with TestClient(app) as client:
        yield Api(client, app.state.store)


@pytest.fixture
def done(api: Api) -> str:
    """A finished plan of the Leeds week."""
    plan_id = api.create().json()["id"]
    assert api.wait(plan_id)["status"] == "done"
    return plan_id


def replan(api: Api, plan_id: str, role: str = "planner", **body):
    body = {"from": FROM, "changes": UNIT_OFF, **body}
    return api.client.post(f"/plans/{plan_id}/replan", headers=api.h(role), json=body)


def plan_dirs(api: Api) -> list[str]:
    return sorted(p.name for p in (api.client.app.state.config.plans_dir).iterdir())


def test_a_planner_replans_a_finished_plan_into_a_new_plan_naming_its_parent(api: Api, done: str):
    r = replan(api, done)
    assert r.status_code == 202, r.text
    new = r.json()
    assert r.headers["location"] == f"/plans/{new['id']}"
    assert new["id"] != done and new["parent_id"] == done
    assert new["from"] == "2018-07-02T09:00:00+01:00"  # naive times are the area's (Europe/London)
    assert new["area"] == "leeds" and new["week"] == WEEK and new["redact"] is False
    assert [v["id"] for v in new["versions"]] == [done, new["id"]]
    assert api.wait(new["id"])["status"] == "done"

    doc = api.get(f"/plans/{new['id']}", "planner").json()
    block = doc["summary"]["replan"]
    assert block["parent"] == done and block["from"] == new["from"]
    assert block["applied"] == {"unit_off": [{"unit": "LC-C1", "from": "2018-07-02T10:00:00+01:00",
                                              "to": "2018-07-02T11:00:00+01:00"}]}
    assert block["shifts_solved"] == ["2018-07-02/early"]
    assert isinstance(doc["summary"]["warnings"], list)
    # The bundle on disk holds the re-plan, and summary.json says so.
    summary = api.get(f"/plans/{new['id']}/export/summary", "planner").json()
    assert summary["replan"]["parent"] == done
    plan = api.get(f"/plans/{new['id']}/export/plan-json", "planner").json()
    assert plan["extra"]["replan"]["parent"] == done

    # Both plans list both versions, oldest first, with the moment each re-plans from.
    for pid in (done, new["id"]):
        versions = api.get(f"/plans/{pid}", "planner").json()["versions"]
        assert [(v["id"], v["parent_id"], v["status"], v["from"]) for v in versions] == [
            (done, None, "done", None), (new["id"], done, "done", new["from"])]
    parent = api.get(f"/plans/{done}", "planner").json()
    assert parent["parent_id"] is None and parent["from"] is None
    # Listings carry the parent link but no versions (one query per page, not per plan).
    items = {p["id"]: p for p in api.get("/plans", "planner").json()["items"]}
    assert items[new["id"]]["parent_id"] == done and items[new["id"]]["versions"] is None


def test_a_viewer_sees_the_versions_but_not_the_replan_block(api: Api, done: str):
    new = replan(api, done).json()["id"]
    api.wait(new)
    doc = api.get(f"/plans/{new}", "viewer").json()
    assert doc["view"] == "viewer" and doc["parent_id"] == done
    assert [v["id"] for v in doc["versions"]] == [done, new]
    assert "replan" not in doc["summary"] and "warnings" not in doc["summary"]
    summary = api.get(f"/plans/{new}/export/summary", "viewer").json()
    assert "replan" not in summary and "warnings" not in summary
    text = api.get(f"/plans/{new}/export/plan-json", "viewer").text
    assert "replan" not in text
    for site_id, _kind, _lat, _lon, label in SITES:
        assert site_id not in json.dumps(doc) and label not in text


@pytest.mark.parametrize("role", ["viewer", "admin"])
def test_only_planners_replan(api: Api, done: str, role: str):
    before = plan_dirs(api)
    r = replan(api, done, role)
    assert r.status_code == 403 and r.headers["content-type"] == "application/problem+json"
    assert "plans.create" in r.json()["detail"]
    assert api.store.plans(10, 0)[1] == 1 and plan_dirs(api) == before


def test_an_unknown_parent_is_404(api: Api):
    r = replan(api, str(uuid.uuid4()))
    assert r.status_code == 404 and r.json()["detail"].startswith("no plan ")
    assert api.store.plans(10, 0)[1] == 0


BAD = [
    # (body changes, from, the field the refusal names)
    ({"pin": [{"site_id": "Sa11ce", "unit": "LC-C1", "at": "2018-07-02T08:00:00"}]}, FROM, "pin[0].at"),
    ({"unit_off": [{"unit": "NOPE", "from": "2018-07-02T10:00:00", "to": "2018-07-02T11:00:00"}]}, FROM,
     "unit_off[0].unit"),
    ({"unit_off": [{"unit": "LC-C1", "from": "2018-07-02T10:00:00"}]}, FROM, "unit_off[0].to"),
    ({"site_off": [{"site_id": "Sa11ce", "from": "2018-07-02T07:00:00", "to": "2018-07-02T08:00:00"}]}, FROM,
     "site_off[0].to"),
    (UNIT_OFF, "2018-07-09T09:00:00", "from"),
    (UNIT_OFF, "2018-02-30T09:00:00", "from"),
]


@pytest.mark.parametrize(("changes", "moment", "field"), BAD)
def test_bad_changes_are_refused_naming_the_field_and_nothing_is_made(api: Api, done: str, changes, moment,
                                                                      field):
    before = plan_dirs(api)
    r = replan(api, done, changes=changes, **{"from": moment})
    assert r.status_code == 422, r.text
    problem = r.json()
    assert r.headers["content-type"] == "application/problem+json"
    assert "\n" not in problem["detail"]
    assert f"'{field}'" in problem["detail"] or problem["detail"].startswith(f"{field}:"), problem
    assert problem["errors"] == [problem["detail"]]
    assert api.store.plans(10, 0)[1] == 1 and plan_dirs(api) == before
    # The refusal is audited by field, without the change's content (a site id here).
    [entry] = [e for e in api.get(f"/audit?plan_id={done}", "admin").json() if e["action"] == "plan.replan"]
    assert entry["outcome"] == "invalid"
    assert "Sa11ce" not in entry["detail"] and "NOPE" not in entry["detail"]


@pytest.mark.parametrize("body", [
    {"from": FROM, "changes": {"unit_of": []}},  # a typo of a table
    {"from": FROM, "changes": UNIT_OFF, "colour": "red"},  # an unknown key
    {"from": "next tuesday", "changes": UNIT_OFF},
    {"changes": UNIT_OFF},
    {"from": FROM, "changes": UNIT_OFF, "seed": "3"},
    {"from": FROM, "changes": {"pin": {"site_id": "Sa11ce"}}},  # a table, not a list of tables
])
def test_malformed_bodies_are_one_problem(api: Api, done: str, body):
    r = api.client.post(f"/plans/{done}/replan", headers=api.h("planner"), json=body)
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
    assert r.json()["errors"]
    assert api.store.plans(10, 0)[1] == 1


def test_a_plan_not_done_or_redacted_is_not_replanned(api: Api, done: str):
    queued = str(uuid.uuid4())
    api.store.add_plan(queued, "leeds", WEEK, 0, None, False, "k")
    r = replan(api, queued)
    assert r.status_code == 409 and "not done" in r.json()["detail"]
    redacted = api.create(redact=True).json()["id"]
    assert api.wait(redacted)["status"] == "done"
    r = replan(api, redacted)
    assert r.status_code == 409 and "redact" in r.json()["detail"]


def test_replans_chain_and_survive_their_parents_deletion(api: Api, done: str):
    child = replan(api, done).json()["id"]
    assert api.wait(child)["status"] == "done"
    pin = {"pin": [{"site_id": "Sb0b00", "unit": "LC-C1", "at": "2018-07-02T12:00:00"}]}
    r = replan(api, child, changes=pin, **{"from": "2018-07-02T11:30:00"})
    assert r.status_code == 202, r.text
    grandchild = r.json()["id"]
    doc = api.wait(grandchild)
    assert doc["status"] == "done", doc["error"]
    summary = api.get(f"/plans/{grandchild}", "planner").json()["summary"]
    # A re-plan of a re-plan carries the changes of both.
    assert set(summary["replan"]["changes"]) == {"unit_off", "pin"} and summary["replan"]["parent"] == child
    assert [v["id"] for v in api.get(f"/plans/{done}", "viewer").json()["versions"]] == [
        done, child, grandchild]

    # Deleting a plan leaves its re-plans whole: each holds its own bundles.
    assert api.client.delete(f"/plans/{child}", headers=api.h("planner")).status_code == 204
    doc = api.get(f"/plans/{grandchild}", "planner").json()
    assert doc["parent_id"] == child  # still named, though gone
    assert [v["id"] for v in doc["versions"]] == [done, grandchild]
    assert api.get(f"/plans/{grandchild}/export/summary", "planner").status_code == 200
    assert api.get(f"/plans/{grandchild}/map", "viewer").status_code == 200
    assert replan(api, child).status_code == 404


def test_each_replan_is_audited_with_counts_not_content_and_the_chain_verifies(api: Api, done: str):
    body = {**UNIT_OFF, "pin": [{"site_id": "Sb0b00", "unit": "LC-C1", "at": "2018-07-02T12:00:00"}]}
    new = replan(api, done, changes=body).json()["id"]
    api.wait(new)
    planner_id = api.key["planner"][3:].split(".")[0]
    entries = [e for e in api.get("/audit?limit=1000", "admin").json() if e["action"] == "plan.replan"]
    assert {e["plan_id"] for e in entries} == {done, new}
    for e in entries:
        assert e["key_id"] == planner_id and e["role"] == "planner" and e["outcome"] == "ok"
        assert e["detail"] == (f"re-plan of {done} as {new} from 2018-07-02T09:00:00+01:00; "
                               "changes: unit_off=1 pin=1")
        assert "Sb0b00" not in e["detail"] and "LC-C1" not in e["detail"]
    assert verify(api.store.path).intact


def test_replan_through_the_process_pool_shows_viewers_no_site(tmp_path: Path):
    # No injected planner or executor: what `patrols serve` runs, the re-plan job included.
    app = create_app(config_for(tmp_path, workers=1, queue=2))
    with TestClient(app) as client:
        api = Api(client, app.state.store)
        parent = api.create(time_limit_s=0.2).json()["id"]
        assert api.wait(parent, timeout=90)["status"] == "done"
        r = replan(api, parent, changes={"pin": [{"site_id": "Sb0b00", "unit": "LC-C1",
                                                   "at": "2018-07-02T12:00:00"}]})
        assert r.status_code == 202, r.text
        doc = api.wait(r.json()["id"], timeout=90)
        assert doc["status"] == "done", doc["error"]
        assert doc["summary"]["replan"]["applied"]["pin"][0]["site_id"] == "Sb0b00"
        for text in everything_seen(api, "viewer", doc["id"]).values():
            assert site_leaks(text) == []


def test_a_database_of_the_previous_schema_opens_with_the_parent_columns(tmp_path: Path):
    path = tmp_path / "data" / "patrols.db"
    path.parent.mkdir()
    db = sqlite3.connect(path, isolation_level=None)
    db.executescript("""
        CREATE TABLE plans (plan_id TEXT PRIMARY KEY, area TEXT NOT NULL, week TEXT NOT NULL,
            seed INTEGER NOT NULL, time_limit_s REAL, redact INTEGER NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('queued', 'running', 'done', 'failed')),
            created_by TEXT NOT NULL, created_at TEXT NOT NULL, started_at TEXT, finished_at TEXT,
            error TEXT, summary_full TEXT, summary_viewer TEXT);
        INSERT INTO plans (plan_id, area, week, seed, redact, status, created_by, created_at)
            VALUES ('old', 'leeds', '2018-07-02', 0, 0, 'done', 'k', '2025-01-01T00:00:00.000Z');
        PRAGMA user_version = 2;
    """)
    db.close()
    store = Store(path)
    old = store.plan("old")
    assert old is not None and old.parent_id is None and old.lineage == "old"
    child = store.add_plan("new", "leeds", "2018-07-02", 0, None, False, "k", parent=old,
                           replan_from="2018-07-02T09:00:00+01:00")
    assert (child.parent_id, child.root_id) == ("old", "old")
    assert [v.plan_id for v in store.versions(child)] == ["old", "new"]
    assert Store(path).plan("new") == child  # and it opens again
