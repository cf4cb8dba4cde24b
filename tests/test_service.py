"""The planning service, driven through its real HTTP application.

Most tests bring a fast planner (a plan made once, written as each job's
bundles, in a thread) because they are about the API; ``test_real_plan_*``
plans the tiny Leeds area through the process pool as ``patrols serve`` does.
"""

from __future__ import annotations

import functools
import itertools
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from patrols.cli import main as cli_main
from patrols.errors import PlanningError
from patrols.service.app import create_app, export_formats, preferred_formats
from patrols.service.config import ServiceConfig, load_config
from patrols.service.jobs import PlanJob, write_plan_bundles
from patrols.service.keys import authenticate, create_key
from patrols.service.store import RESTART_ERROR, Store

LEEDS = Path(__file__).parent / "data" / "service_leeds" / "area.toml"
WEEK = "2018-07-02"
# The synthetic protected sites of the Leeds test area: (id, kind, lat, lon, label).
SITES = [("Sa11ce", "home", 53.8091, -1.5532, "SECRET-LABEL-ALPHA"),
         ("Sb0b00", "office", 53.807, -1.556, "SECRET-LABEL-BRAVO")]


@functools.cache
def make_leeds_plan():
    """A real plan of the Leeds test area and the network it was made on, made in-process."""
    from patrols.area import load_area
    from patrols.incidents import read_all
    from patrols.network import Network, load_graph
    from patrols.planning import plan_week

    area = load_area(LEEDS)
    network = Network(load_graph(area.network_path), area.settings.foot_speed_kmh)
    plan = plan_week(area, network, read_all(area.incident_paths), date(2018, 7, 2), seed=0,
                     time_limit_s=0.2)
    return plan, network


@pytest.fixture
def leeds_plan():
    return make_leeds_plan()


def quick_planner(made) -> Callable[[PlanJob], tuple[dict, dict]]:
    """A planner that writes a ready-made plan (and its network) as the job's bundles."""
    plan, network = made

    def run(job: PlanJob):
        Store(job.db_path).mark_running(job.plan_id)
        return write_plan_bundles(plan, network, job.out_dir, job.redact)

    return run


class Api:
    """A running app with one key per role."""

    def __init__(self, client: TestClient, store: Store) -> None:
        self.client = client
        self.store = store
        self.key = {role: create_key(store, role, f"test {role}")[0]
                    for role in ("admin", "planner", "viewer")}

    def h(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key[role]}"}

    def get(self, path: str, role: str, **kw):
        return self.client.get(path, headers=self.h(role), **kw)

    def create(self, role: str = "planner", **body):
        return self.client.post("/plans", headers=self.h(role), json={"area": "leeds", "week": WEEK, **body})

    def wait(self, plan_id: str, timeout: float = 60) -> dict:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            doc = self.get(f"/plans/{plan_id}", "planner").json()
            if doc["status"] in ("done", "failed"):
                return doc
            time.sleep(0.05)
        raise AssertionError(f"plan {plan_id} did not finish in {timeout} s")


def config_for(tmp: Path, **kw) -> ServiceConfig:
    # The test client's requests say Host: testserver.
    kw.setdefault("allowed_hosts", ("localhost", "127.0.0.1", "::1", "testserver"))
    return ServiceConfig(data_dir=tmp / "data", areas={"leeds": LEEDS.resolve()}, **kw)


@pytest.fixture
def make_api(tmp_path: Path, leeds_plan) -> Iterator[Callable[..., Api]]:
    """Start apps on ``tmp_path``; each takes ``planner=`` and config keywords."""
    stack: list[TestClient] = []

    def start(planner=None, executor=None, **kw) -> Api:
        planner = planner or quick_planner(leeds_plan)
        app = create_app(config_for(tmp_path, **kw), planner=planner,
                         executor=executor or (lambda: ThreadPoolExecutor(kw.get("workers", 2))))
        client = TestClient(app)
        client.__enter__()
        stack.append(client)
        return Api(client, app.state.store)

    yield start
    for client in reversed(stack):
        client.__exit__(None, None, None)


def _numbers(text: str) -> list[float]:
    return [float(x) for x in re.findall(r"-?\d+\.\d+", text)]


def site_leaks(text: str) -> list[str]:
    """What of the protected sites a response shows: ids, labels, kinds or exact positions."""
    found = []
    for site_id, kind, lat, lon, label in SITES:
        if site_id in text:
            found.append(site_id)
        if label in text:
            found.append(label)
        # The summary's section "protective" (counts only) is allowed; the word anywhere else is not.
        bare = re.sub(r'"protective"\s*:', "", text).lower()
        if re.search(rf"\b{kind}\b", bare) or "protective" in bare:
            found.append(f"kind of {site_id}")
        nums = _numbers(text)
        for a, b in itertools.pairwise(nums):
            if {round(a, 5), round(b, 5)} == {round(lat, 5), round(lon, 5)}:
                found.append(f"position of {site_id}")
                break
    return found


def everything_seen(api: Api, role: str, plan_id: str) -> dict[str, str]:
    """Every response about a plan a role can fetch, by path."""
    seen = {}
    for path in (f"/plans/{plan_id}", "/plans", f"/plans/{plan_id}/map"):
        r = api.get(path, role)
        assert r.status_code == 200, (path, r.text)
        seen[path] = r.text
    exports = api.get(f"/plans/{plan_id}", role).json()["links"]["exports"]
    assert exports, "a done plan lists its exports"
    for fmt in set(export_formats(sorted({Path(u).name for u in exports.values()}))) | set(exports):
        r = api.get(f"/plans/{plan_id}/export/{fmt}", role)
        if r.status_code == 200:
            seen[fmt] = r.text
    return seen


# ---------------------------------------------------------------------------------


def test_health_docs_and_openapi_need_no_key(make_api):
    api = make_api()
    r = api.client.get("/health")
    assert r.status_code == 200 and r.json()["status"] == "ok" and r.json()["database"] == "ok"
    assert r.headers["cache-control"] == "no-store"
    docs = api.client.get("/docs")
    assert docs.status_code == 200
    # Swagger UI comes from the service itself, never from a CDN.
    assert "http://" not in docs.text and "https://" not in docs.text
    assert "/docs/swagger-ui-bundle.js" in docs.text
    js = api.client.get("/docs/swagger-ui-bundle.js")
    assert js.status_code == 200 and len(js.content) > 100_000
    assert api.client.get("/docs/../../pyproject.toml").status_code == 404
    paths = api.client.get("/openapi.json").json()["paths"]
    assert {"/areas", "/plans", "/plans/{plan_id}", "/plans/{plan_id}/map",
            "/plans/{plan_id}/export/{format}", "/audit", "/health"} <= set(paths)


def test_every_other_endpoint_needs_a_valid_key(make_api):
    api = make_api()
    for headers in ({}, {"Authorization": "Bearer nope"},
                    {"Authorization": "Bearer pk_000000000000.wrong"}):
        r = api.client.get("/areas", headers=headers)
        assert r.status_code == 401
        assert r.headers["content-type"] == "application/problem+json"
        assert r.headers["www-authenticate"] == "Bearer"
        assert r.json()["status"] == 401 and r.json()["detail"]
    # A right id with a wrong secret is refused too.
    key_id = api.key["planner"][3:].split(".")[0]
    assert api.client.get("/areas", headers={"Authorization": f"Bearer pk_{key_id}.x"}).status_code == 401


def test_areas_lists_the_servers_areas(make_api):
    api = make_api()
    viewer = api.get("/areas", "viewer").json()
    assert viewer == [{"name": "leeds", "title": "Leeds campus (test)", "available": True,
                       "error": None, "path": None}]
    assert api.get("/areas", "admin").json()[0]["path"] == str(LEEDS.resolve())


def test_planner_makes_reads_exports_and_deletes_a_plan(make_api, tmp_path):
    api = make_api()
    r = api.create(seed=3, time_limit_s=0.5)
    assert r.status_code == 202, r.text
    plan_id = r.json()["id"]
    assert r.headers["location"] == f"/plans/{plan_id}"
    doc = api.wait(plan_id)
    assert doc["status"] == "done" and doc["view"] == "full"
    assert doc["summary"]["protective"]["sites"] == 2
    assert doc["created_by"] == api.key["planner"][3:].split(".")[0]
    exports = doc["links"]["exports"]
    assert {"geojson", "csv", "summary", "plan-json", "html"} <= set(exports)
    media = {"geojson": "application/geo+json", "csv": "text/csv", "summary": "application/json",
             "plan-json": "application/json", "gpkg": "application/geopackage+sqlite3"}
    for fmt, kind in media.items():
        r = api.get(exports[fmt], "planner")
        assert r.status_code == 200 and r.headers["content-type"].startswith(kind), fmt
        assert "attachment" in r.headers["content-disposition"]
    assert api.get(f"/plans/{plan_id}/export/plan.geojson", "planner").text == \
        api.get(exports["geojson"], "planner").text
    # The GeoPackage comes whole, as the SQLite file it is.
    assert api.get(exports["gpkg"], "planner").content.startswith(b"SQLite format 3\x00")
    r = api.get(f"/plans/{plan_id}/map", "planner")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    listing = api.get("/plans", "planner").json()
    assert listing["total"] == 1 and listing["items"][0]["id"] == plan_id
    assert api.get("/plans?status=done&area=leeds", "planner").json()["total"] == 1
    assert api.get("/plans?status=failed", "planner").json()["total"] == 0

    assert api.client.delete(f"/plans/{plan_id}", headers=api.h("planner")).status_code == 204
    assert api.get(f"/plans/{plan_id}", "planner").status_code == 404
    assert not (tmp_path / "data" / "plans" / plan_id).exists()
    assert api.client.delete(f"/plans/{plan_id}", headers=api.h("planner")).status_code == 404


def test_viewer_never_receives_a_protected_sites_position_label_or_kind(make_api):
    api = make_api()
    plan_id = api.create().json()["id"]
    assert api.wait(plan_id)["status"] == "done"
    # The check itself can fail: the planner's responses show the sites.
    planner_seen = everything_seen(api, "planner", plan_id)
    assert any(site_leaks(text) for text in planner_seen.values())
    for role in ("viewer", "admin"):
        seen = everything_seen(api, role, plan_id)
        assert len(seen) >= 7
        for path, text in seen.items():
            assert site_leaks(text) == [], (role, path)
        doc = api.get(f"/plans/{plan_id}", role).json()
        assert doc["view"] == "viewer" and doc["created_by"] is None
        assert doc["summary"]["redacted"] is True


def test_role_limits(make_api):
    api = make_api()
    plan_id = api.create().json()["id"]
    api.wait(plan_id)
    forbidden = [
        ("viewer", "POST", "/plans"), ("admin", "POST", "/plans"),
        ("viewer", "DELETE", f"/plans/{plan_id}"),
        ("viewer", "GET", "/audit"), ("planner", "GET", "/audit"),
        ("viewer", "GET", "/keys"), ("planner", "POST", "/keys"),
        ("planner", "DELETE", "/keys/whatever"),
    ]
    for role, method, path in forbidden:
        body = {"area": "leeds", "week": WEEK} if path == "/plans" else {"role": "viewer"}
        r = api.client.request(method, path, headers=api.h(role),
                               json=body if method == "POST" else None)
        assert r.status_code == 403, (role, method, path, r.text)
        assert r.headers["content-type"] == "application/problem+json"
        assert role in r.json()["detail"]
    assert api.get(f"/plans/{plan_id}", "viewer").status_code == 200
    assert api.client.delete(f"/plans/{plan_id}", headers=api.h("admin")).status_code == 204


def test_admin_manages_keys_over_http(make_api):
    api = make_api()
    r = api.client.post("/keys", headers=api.h("admin"), json={"role": "viewer", "name": "dispatch"})
    assert r.status_code == 201
    new = r.json()
    assert new["key"].startswith("pk_") and new["role"] == "viewer"
    listed = api.get("/keys", "admin").json()
    assert new["id"] in {k["id"] for k in listed}
    assert all("key" not in k for k in listed)
    assert api.client.get("/areas", headers={"Authorization": f"Bearer {new['key']}"}).status_code == 200
    assert api.client.delete(f"/keys/{new['id']}", headers=api.h("admin")).status_code == 204
    assert api.client.get("/areas", headers={"Authorization": f"Bearer {new['key']}"}).status_code == 401
    assert api.client.delete(f"/keys/{new['id']}", headers=api.h("admin")).status_code == 404
    assert api.client.post("/keys", headers=api.h("admin"), json={"role": "root"}).status_code == 422


def test_audit_records_who_did_what_to_which_plan_and_cannot_be_rewritten(make_api):
    api = make_api()
    plan_id = api.create().json()["id"]
    api.wait(plan_id)
    api.get(f"/plans/{plan_id}/export/geojson", "viewer")
    api.get(f"/plans/{plan_id}/map", "viewer")
    api.client.post("/plans", headers=api.h("viewer"), json={"area": "leeds", "week": WEEK})
    api.client.delete(f"/plans/{plan_id}", headers=api.h("planner"))
    entries = api.get(f"/audit?plan_id={plan_id}", "admin").json()
    ids = {role: api.key[role][3:].split(".")[0] for role in api.key}
    got = {(e["action"], e["key_id"], e["outcome"]) for e in entries}
    assert ("plan.create", ids["planner"], "ok") in got
    assert ("plan.read", ids["planner"], "ok") in got
    assert ("plan.export", ids["viewer"], "ok") in got
    assert ("plan.map", ids["viewer"], "ok") in got
    assert ("plan.delete", ids["planner"], "ok") in got
    assert all(e["at"].endswith("Z") for e in entries)
    everything = api.get("/audit?limit=1000", "admin").json()
    assert ("plan.create", ids["viewer"], "denied") in {(e["action"], e["key_id"], e["outcome"])
                                                        for e in everything}
    assert [e["id"] for e in everything] == sorted(e["id"] for e in everything)
    # Paging on from the last id seen gives only what came after.
    last = everything[-1]["id"]
    later = api.get(f"/audit?after_id={last}", "admin").json()
    assert [e["action"] for e in later] == ["audit.read"]

    db = sqlite3.connect(api.store.path)
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        db.execute("UPDATE audit SET key_id = 'someone else'")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        db.execute("DELETE FROM audit")
    db.close()


def test_bad_requests_get_problem_details(make_api):
    api = make_api(max_body_bytes=2000)
    cases = [
        (api.create(week="2018-13-40"), 422, "week"),
        (api.create(area="atlantis"), 422, "atlantis"),
        (api.create(time_limit_s=-1), 422, "time_limit_s"),
        (api.create(colour="blue"), 422, "colour"),
        (api.client.post("/plans", headers={**api.h("planner"), "content-type": "application/json"},
                         content=b"{not json"), 422, "json"),
        (api.client.post("/plans", headers={**api.h("planner"), "content-type": "application/json"},
                         content=b'{"area": "' + b"x" * 5000 + b'"}'), 413, "2000 bytes"),
        # Sent in chunks, without a Content-Length: counted as it arrives.
        (api.client.post("/plans", headers={**api.h("planner"), "content-type": "application/json"},
                         content=iter([b'{"area": "', b"x" * 1500, b"x" * 1500, b'"}'])), 413, "2000 bytes"),
        (api.get("/plans/not-a-uuid", "planner"), 422, "plan_id"),
        (api.get("/plans?stauts=done", "planner"), 422, "stauts"),
        (api.get("/plans/00000000-0000-4000-8000-000000000000", "planner"), 404, "no plan"),
        (api.get("/nowhere", "planner"), 404, "/nowhere"),
        (api.get("/plans?limit=0", "planner"), 422, "limit"),
    ]
    for r, status, word in cases:
        assert r.status_code == status, (status, r.text)
        assert r.headers["content-type"] == "application/problem+json"
        body = r.json()
        assert body["status"] == status and body["title"] and body["type"].startswith("https://")
        assert word.lower() in body["detail"].lower(), (word, body)
    # A plan that is not done has no map yet; an unknown export names those there are.
    gate = threading.Event()
    slow = make_api(planner=lambda job: gate.wait(30) and None, workers=1)
    plan_id = slow.create().json()["id"]
    r = slow.get(f"/plans/{plan_id}/map", "planner")
    assert r.status_code == 409 and "not done" in r.json()["detail"]
    gate.set()


def test_unknown_export_lists_the_formats_there_are(make_api):
    api = make_api()
    plan_id = api.create().json()["id"]
    api.wait(plan_id)
    r = api.get(f"/plans/{plan_id}/export/docx", "planner")
    assert r.status_code == 404 and "geojson" in r.json()["detail"]
    assert api.get(f"/plans/{plan_id}/export/..%2Fplan.json", "planner").status_code in (404, 422)


def test_full_queue_answers_429(make_api):
    gate = threading.Event()
    api = make_api(planner=lambda job: (gate.wait(30), ({}, {}))[1], workers=1, queue=1)
    assert api.create().status_code == 202
    assert api.create().status_code == 202
    r = api.create()
    assert r.status_code == 429
    assert r.headers["content-type"] == "application/problem+json" and r.headers["retry-after"]
    assert api.get("/plans", "planner").json()["total"] == 2
    gate.set()
    time.sleep(0.3)
    assert api.create().status_code == 202


def test_a_failed_job_is_reported_and_viewers_do_not_see_why(make_api):
    def broken(job):
        raise PlanningError("sites.csv line 2 says something private")

    api = make_api(planner=broken)
    plan_id = api.create().json()["id"]
    doc = api.wait(plan_id)
    assert doc["status"] == "failed" and "private" in doc["error"]
    seen = api.get(f"/plans/{plan_id}", "viewer").json()
    assert seen["status"] == "failed" and "private" not in seen["error"]
    assert api.get(f"/plans/{plan_id}/map", "planner").status_code == 409


def test_restart_keeps_finished_plans_and_fails_cut_off_jobs(make_api, tmp_path, leeds_plan):
    first = make_api()
    done_id = first.create().json()["id"]
    assert first.wait(done_id)["status"] == "done"
    geojson = first.get(f"/plans/{done_id}/export/geojson", "planner").text
    # A job left running by a server that stopped without finishing it.
    cut_id = "11111111-1111-4111-8111-111111111111"
    first.store.add_plan(cut_id, "leeds", WEEK, 0, None, False, "k")
    first.store.mark_running(cut_id)

    second = make_api()  # a new app on the same data folder
    second.key = first.key  # keys live in the database, so the old ones still work
    doc = second.get(f"/plans/{done_id}", "planner").json()
    assert doc["status"] == "done"
    assert second.get(f"/plans/{done_id}/export/geojson", "planner").text == geojson
    cut = second.get(f"/plans/{cut_id}", "planner").json()
    assert cut["status"] == "failed" and cut["error"] == RESTART_ERROR


def test_real_plan_through_the_process_pool(tmp_path):
    # No injected planner or executor: what `patrols serve` runs.
    app = create_app(config_for(tmp_path, workers=1, queue=2))
    key = create_key(app.state.store, "planner")[0]
    viewer = create_key(app.state.store, "viewer")[0]
    with TestClient(app) as client:
        api = Api(client, app.state.store)
        api.key.update(planner=key, viewer=viewer)
        plan_id = api.create(time_limit_s=0.2, seed=1).json()["id"]
        doc = api.wait(plan_id, timeout=90)
        assert doc["status"] == "done", doc
        assert doc["summary"]["unit_shifts"] == 1 and doc["summary"]["seed"] == 1
        full = api.get(f"/plans/{plan_id}/export/plan-json", "planner").json()
        assert {s["site_id"] for s in full["sites"]} == {"Sa11ce", "Sb0b00"}
        assert any(s["kind"] == "protective" for r in full["routes"] for s in r["stops"])
        for text in everything_seen(api, "viewer", plan_id).values():
            assert site_leaks(text) == []


def test_keys_command_creates_lists_and_revokes(tmp_path, capsys):
    data = tmp_path / "svc"
    assert cli_main(["keys", "create", "--role", "viewer", "--name", "desk", "--data", str(data)]) == 0
    key = capsys.readouterr().out.strip()
    store = Store(data / "patrols.db")
    who = authenticate(store, key)
    assert who is not None and who.role == "viewer"
    assert key not in (data / "patrols.db").read_bytes().decode("latin-1")
    assert cli_main(["keys", "list", "--data", str(data)]) == 0
    line = capsys.readouterr().out
    assert who.key_id in line and "desk" in line and "active" in line and key not in line
    assert cli_main(["keys", "revoke", who.key_id, "--data", str(data)]) == 0
    assert authenticate(store, key) is None
    assert cli_main(["keys", "revoke", who.key_id, "--data", str(data)]) == 2


def test_server_config_file(tmp_path):
    cfg = tmp_path / "server.toml"
    cfg.write_text(f'data = "d"\nworkers = 1\nqueue = 3\n[areas]\nleeds = "{LEEDS.resolve()}"\n')
    config = load_config(cfg)
    assert config.areas == {"leeds": LEEDS.resolve()} and config.workers == 1 and config.queue == 3
    assert config.db_path == tmp_path / "d" / "patrols.db"
    assert load_config(cfg, tmp_path / "other").data_dir == tmp_path / "other"
    assert load_config(None).areas.keys() == {"westminster"}
    cfg.write_text('[areas]\nleeds = "missing.toml"\n')
    with pytest.raises(ValueError, match=r"areas\.leeds"):
        load_config(cfg)


def test_export_format_names_follow_the_bundle_files():
    files = ["map.html", "plan.geojson", "plan.gpx", "plan.json", "plan.kml", "roster.csv",
             "roster.ics", "summary.json"]
    formats = export_formats(files)
    assert formats["gpx"] == "plan.gpx" and formats["kml"] == "plan.kml" and formats["ics"] == "roster.ics"
    assert formats["summary"] == "summary.json" and formats["plan-json"] == "plan.json"
    assert formats["roster-csv"] == "roster.csv" and formats["csv"] == "roster.csv"
    assert "json" not in formats and "plan" not in formats and "roster" not in formats
    assert set(preferred_formats(files)) == {"html", "geojson", "gpx", "plan-json", "kml", "csv", "ics",
                                             "summary"}
