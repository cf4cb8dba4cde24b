"""The service's requests as an attacker sends them: keys, names, weeks, limits, headers, hosts, timing.

Each test is the attack that found a defect: an admin minting a planner key, a
key name with a newline, weeks of year 1 and 9999, one planner filling the
queue, a page framing the API, a rebinding Host, the time a wrong key takes.
"""

from __future__ import annotations

import json
import socket
import statistics
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path

import pytest
from fastapi.responses import FileResponse
from fastapi.testclient import TestClient
from test_service import WEEK, Api, config_for, make_leeds_plan, quick_planner

from patrols.cli import main as cli_main
from patrols.service.app import create_app
from patrols.service.keys import authenticate, create_key
from patrols.service.middleware import API_CSP
from patrols.service.store import Store

PROBLEM = "application/problem+json"


def instant(job):
    return {}, {}


@pytest.fixture
def make_api(tmp_path: Path) -> Iterator[Callable[..., Api]]:
    """Start apps on ``tmp_path`` with a planner that writes nothing (or the one given)."""
    clients: list[TestClient] = []

    def start(planner: Callable = instant, **kw) -> Api:
        app = create_app(config_for(tmp_path, **kw), planner=planner,
                         executor=lambda: ThreadPoolExecutor(kw.get("workers", 2)))
        client = TestClient(app)
        client.__enter__()
        clients.append(client)
        return Api(client, app.state.store)

    yield start
    for client in reversed(clients):
        client.__exit__(None, None, None)


def is_problem(response, status: int, word: str = "") -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM, response.headers
    body = response.json()
    assert body["status"] == status and body["detail"]
    assert word.lower() in body["detail"].lower(), (word, body)
    return body


# Roles and keys ---------------------------------------------------------------------


def test_an_admin_cannot_mint_a_key_that_reads_protected_sites(make_api):
    api = make_api()
    for role in ("planner", "admin"):
        r = api.client.post("/keys", headers=api.h("admin"), json={"role": role, "name": "backdoor"})
        is_problem(r, 403, "patrols keys create")
    is_problem(api.client.post("/keys", headers=api.h("admin"), json={"role": "root"}), 422, "role")
    assert {k.role for k in api.store.list_keys()} == {"admin", "planner", "viewer"}  # the three of Api
    assert len(api.store.list_keys()) == 3
    refused = [e for e in api.store.audit_entries(1000) if e.action == "key.create"]
    assert [(e.outcome, e.detail) for e in refused] == [
        ("denied", "asked for a planner key"), ("denied", "asked for a admin key"),
        ("invalid", "asked for a root key")]
    made = api.client.post("/keys", headers=api.h("admin"), json={"name": "dispatch desk"})
    assert made.status_code == 201 and made.json()["role"] == "viewer"


@pytest.mark.parametrize("name", ["ops\nadmin\tactive", "ops\r", "desk\x1b[2J", "a\u202eb", "a\u2028b",
                                  "zero\u200bwidth", "x" * 81])
def test_a_key_name_is_one_printable_line(make_api, tmp_path, capsys, name):
    api = make_api()
    r = api.client.post("/keys", headers=api.h("admin"), json={"role": "viewer", "name": name})
    body = is_problem(r, 422, "name")
    assert body["errors"][0].startswith("name:")
    data = tmp_path / "cli"
    assert cli_main(["keys", "create", "--role", "viewer", "--name", name, "--data", str(data)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "field 'name'" in err
    assert not (data / "patrols.db").exists()  # nothing made


def test_keys_list_shows_one_line_per_key_even_for_an_old_forged_name(tmp_path, capsys):
    data = tmp_path / "svc"
    made = cli_main(["keys", "create", "--role", "viewer", "--name", "Siân O'Brien", "--data", str(data)])
    assert made == 0
    store = Store(data / "patrols.db")
    # A name made before names were checked, forging a second, admin line.
    store.add_key("0123456789ab", "viewer", "x\n999999999999\tadmin\t2026-01-01\tactive\tops", "0" * 64)
    capsys.readouterr()
    assert cli_main(["keys", "list", "--data", str(data)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and "Siân O'Brien" in lines[0] and "\\u000a999999999999" in lines[1]


# Weeks ---------------------------------------------------------------------------------


@pytest.mark.parametrize("week", ["0001-01-01", "9999-12-31", "2018-07-02T10:00:00", "2018-07-02T00:00:00",
                                  "2018-07-02 00:00", "2018-W27", "02/07/2018", "next monday", 20180702,
                                  1530489600, None, "2018-07-02\n", "2018-02-30", "2018-07-03", "1999-01-04",
                                  "2018-12-31"])
def test_a_week_that_is_not_a_monday_date_in_range_is_refused(make_api, week):
    api = make_api()
    r = api.create(week=week)
    body = is_problem(r, 422, "week")
    assert any(e.startswith("week") for e in body["errors"]), body
    assert api.get("/plans", "planner").json()["total"] == 0


def test_weeks_the_service_accepts(make_api):
    api = make_api(jobs_per_key=20, weeks_ahead=2, weeks_back=1, weeks_after_data=1)
    monday = date.today() - timedelta(days=date.today().weekday())
    # The Leeds incidents run 2018-06-01 to 2018-06-28: from June 2018 to a week after the last.
    for week in (WEEK, "2018-06-04", "2018-06-25", monday.isoformat(),
                 (monday + timedelta(weeks=2)).isoformat()):
        assert api.create(week=week).status_code == 202, week
    for week in ("2018-07-09", "2018-05-28", (monday + timedelta(weeks=3)).isoformat(),
                 (monday - timedelta(weeks=2)).isoformat()):
        is_problem(api.create(week=week), 422, "outside the weeks")
    r = api.create(week="2018-07-03")
    assert "Tuesday" in is_problem(r, 422, "monday")["detail"]
    assert api.create(week="2018-07-03", any_start_day=True).status_code == 202


# The per-key limit ------------------------------------------------------------------------


def test_one_planner_cannot_fill_the_queue_for_everyone(make_api, tmp_path):
    gate = threading.Event()
    ran: list[str] = []

    def held(job):
        ran.append(job.plan_id)
        gate.wait(30)
        return {}, {}

    api = make_api(planner=held, workers=1, queue=8)
    other = Api(api.client, api.store)  # a second planner key, among others
    first, second = api.create().json()["id"], api.create().json()["id"]
    r = api.create()
    assert "this key already has 2" in is_problem(r, 429)["detail"] and r.headers["retry-after"]
    assert other.create().status_code == 202
    # Deleting a queued plan cancels its job: it stops counting, and never runs.
    assert api.client.delete(f"/plans/{second}", headers=api.h("planner")).status_code == 204
    third = api.create()
    assert third.status_code == 202
    gate.set()
    for plan_id in (first, third.json()["id"]):
        assert api.wait(plan_id)["status"] == "done"
    assert second not in ran
    assert not (tmp_path / "data" / "plans" / second).exists()


# Every 4xx a problem, every answer its headers ----------------------------------------------


def test_every_client_error_is_a_problem_with_the_security_headers(make_api):
    api = make_api(max_body_bytes=500)
    h = api.h("planner")
    cases = [
        (api.client.get("/nowhere", headers=h), 404),
        (api.client.get("/nowhere"), 404),
        (api.client.put("/plans", headers=h), 405),
        (api.client.post("/plans", headers={**h, "content-type": "application/json"}, content=b"{not json"),
         422),
        (api.client.get("/areas"), 401),
        (api.client.get("/areas", headers={"Authorization": "Basic dXNlcjpwYXNz"}), 401),
        (api.client.post("/plans", headers=h, content=b"x" * 600), 413),
        (api.client.get("/audit", headers=h), 403),
        (api.client.get("/areas", headers={**h, "host": "attacker.example"}), 400),
        (api.client.get("/plans/00000000-0000-4000-8000-000000000000", headers=h), 404),
    ]
    for r, status in cases:
        is_problem(r, status)
        assert_security_headers(r)


def assert_security_headers(r, csp: str = API_CSP) -> None:
    assert r.headers["content-security-policy"] == csp, r.headers
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["referrer-policy"] == "no-referrer"
    assert r.headers["cache-control"] == "no-store"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert "server" not in r.headers


def test_security_headers_on_pages_data_and_errors(make_api):
    api = make_api(planner=quick_planner(make_leeds_plan()))
    plan_id = api.create().json()["id"]
    assert api.wait(plan_id)["status"] == "done"
    for r in (api.get("/areas", "viewer"), api.client.get("/health"), api.client.get("/areas"),
              api.get("/nothing-here", "viewer"), api.get(f"/plans/{plan_id}/export/geojson", "viewer")):
        assert_security_headers(r)
    for role in ("planner", "viewer"):
        page = api.get(f"/plans/{plan_id}/map", role)
        assert page.status_code == 200
        csp = page.headers["content-security-policy"]
        # The map's own policy (hashes of its inline scripts and styles, nothing unsafe), framing refused.
        assert csp.startswith("default-src 'none'; img-src data:; script-src 'sha256-")
        assert "'unsafe-inline'" not in csp and csp.endswith("frame-ancestors 'none'")
        assert_security_headers(page, csp)
        assert_security_headers(api.get(f"/plans/{plan_id}/export/html", role), csp)
    docs = api.client.get("/docs")
    assert "script-src 'self' 'unsafe-inline'" in docs.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in docs.headers["content-security-policy"]


def test_a_host_not_in_the_list_is_refused(make_api):
    api = make_api(allowed_hosts=("localhost", "127.0.0.1", "::1", "*.patrols.example"))
    for host in ("localhost", "localhost:8000", "127.0.0.1:8000", "[::1]:8000", "desk.patrols.example",
                 "LOCALHOST."):
        assert api.client.get("/health", headers={"host": host}).status_code == 200, host
    for host in ("attacker.example", "patrols.example.attacker.example", "patrols.example", "localhost.evil",
                 "127.0.0.2", "testserver"):
        is_problem(api.client.get("/health", headers={"host": host}), 400, "host name")


# Timing ---------------------------------------------------------------------------------------


def _median_ratio(a: Callable[[], object], b: Callable[[], object], n: int) -> tuple[float, float, float]:
    ta, tb = [], []
    for _ in range(n):  # interleaved, so drift in the machine's load hits both alike
        t = time.perf_counter()
        a()
        ta.append(time.perf_counter() - t)
        t = time.perf_counter()
        b()
        tb.append(time.perf_counter() - t)
    ma, mb = statistics.median(ta), statistics.median(tb)
    return ma / mb, ma, mb


def test_a_refused_key_takes_as_long_whether_or_not_its_id_exists(make_api):
    api = make_api()
    known_id = api.key["planner"][3:].split(".")[0]
    wrong_secret = f"pk_{known_id}.{'A' * 43}"
    unknown_id = f"pk_{'0' * 12}.{'A' * 43}"

    def ask(key: str) -> Callable[[], None]:
        def run() -> None:
            assert api.client.get("/areas", headers={"Authorization": f"Bearer {key}"}).status_code == 401
        return run

    for _ in range(20):  # warm up both paths
        ask(wrong_secret)()
        ask(unknown_id)()
    ratio, known, unknown = _median_ratio(ask(wrong_secret), ask(unknown_id), 300)
    print(f"requests: known id, wrong secret {known * 1e6:.0f} us; unknown id {unknown * 1e6:.0f} us; "
          f"ratio {ratio:.3f}")
    assert 0.9 < ratio < 1.1
    # The lookup alone, where a difference is easiest to see: 1.9 before the decoy row.
    store = api.store
    ratio, known, unknown = _median_ratio(lambda: authenticate(store, wrong_secret),
                                          lambda: authenticate(store, unknown_id), 3000)
    print(f"authenticate(): known id {known * 1e6:.1f} us; unknown id {unknown * 1e6:.1f} us; "
          f"ratio {ratio:.3f}")
    assert 0.8 < ratio < 1.25


# The map, served, in a real browser -------------------------------------------------------------


@contextmanager
def running(app) -> Iterator[str]:
    """The app under uvicorn on a free loopback port, in a thread; yields its base URL."""
    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           server_header=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def test_the_served_map_works_offline_in_chromium_under_its_policy(tmp_path, monkeypatch):
    import test_browser_map
    from test_browser_map import Browser, find_chromium

    binary = find_chromium()
    if binary is None:
        pytest.skip("Chromium is not installed; set $CHROMIUM to a binary")
    app = create_app(config_for(tmp_path, allowed_hosts=("127.0.0.1",)),
                     planner=quick_planner(make_leeds_plan()), executor=lambda: ThreadPoolExecutor(1))
    keys = {role: create_key(app.state.store, role)[0] for role in ("planner", "viewer")}
    plans_dir = app.state.config.plans_dir

    @app.get("/control/{plan_id}")  # the negative control: the map under the API's own policy
    def control(plan_id: str) -> FileResponse:
        return FileResponse(plans_dir / plan_id / "viewer" / "map.html", media_type="text/html")

    # The harness' browser, with one way out: to this server on 127.0.0.1 (its resolver
    # resolves nothing else, and everything else goes to a dead proxy).
    popen = test_browser_map.subprocess.Popen

    def loopback_only(args, *more, **kw):
        rules = "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1"
        return popen([rules if a.startswith("--host-resolver-rules") else a for a in args], *more, **kw)

    monkeypatch.setattr(test_browser_map.subprocess, "Popen", loopback_only)
    browser = Browser(binary)
    monkeypatch.undo()
    try:
        with running(app) as base:
            browser.call("Network.emulateNetworkConditions", offline=False, latency=0, downloadThroughput=-1,
                         uploadThroughput=-1)
            plan_id = json.loads(urllib.request.urlopen(urllib.request.Request(
                f"{base}/plans", data=json.dumps({"area": "leeds", "week": WEEK}).encode(), method="POST",
                headers={"Authorization": f"Bearer {keys['planner']}", "Content-Type": "application/json"}),
                timeout=10).read())["id"]

            def ready_when(condition: str, timeout: float) -> bool:
                deadline = time.monotonic() + timeout
                while time.monotonic() < deadline:
                    if browser.evaluate(f"Boolean({condition})"):
                        return True
                    time.sleep(0.05)
                return False

            def ready(timeout: float) -> bool:
                return ready_when("document.body && document.body.dataset.ready === '1'", timeout)

            def open_page(url: str) -> None:
                browser.events.clear()
                browser.call("Page.navigate", url=url)

            deadline = time.monotonic() + 30
            while json.loads(urllib.request.urlopen(urllib.request.Request(
                    f"{base}/plans/{plan_id}", headers={"Authorization": f"Bearer {keys['planner']}"}),
                    timeout=10).read())["status"] != "done":
                assert time.monotonic() < deadline
                time.sleep(0.05)
            for role in ("planner", "viewer"):
                browser.call("Network.setExtraHTTPHeaders", headers={"Authorization": f"Bearer {keys[role]}"})
                open_page(f"{base}/plans/{plan_id}/map")
                assert ready(30), (browser.problems(), browser.requests())
                assert browser.evaluate("window.patrolsMap.routes") > 0
                assert browser.problems() == []
                assert [u for u in browser.requests() if not u.startswith((base, "data:"))] == []
            # Swagger UI under its own policy: its script, style and the schema from this server.
            open_page(f"{base}/docs")
            assert ready_when("document.querySelectorAll('.opblock').length > 5", 30), browser.problems()
            assert browser.problems() == []
            open_page(f"{base}/control/{plan_id}")
            assert not ready(2)
            assert any("Content Security Policy" in p for p in browser.problems()), browser.problems()
    finally:
        browser.close()


def test_the_limits_are_server_config_keys(tmp_path):
    from test_service import LEEDS

    from patrols.service.config import load_config

    cfg = tmp_path / "server.toml"
    cfg.write_text(f'jobs_per_key = 1\nallowed_hosts = ["Patrols.Example", "[::1]"]\nweeks_ahead = 4\n'
                   f'weeks_back = 0\nweeks_after_data = 2\n[areas]\nleeds = "{LEEDS.resolve()}"\n')
    config = load_config(cfg)
    assert (config.jobs_per_key, config.allowed_hosts, config.weeks_ahead, config.weeks_back,
            config.weeks_after_data) == (1, ("patrols.example", "::1"), 4, 0, 2)
    defaults = load_config(None)
    assert (defaults.jobs_per_key, defaults.allowed_hosts) == (2, ("localhost", "127.0.0.1", "::1"))
    for bad, field in (('allowed_hosts = ["bad host/"]', "allowed_hosts"),
                       ("allowed_hosts = []", "allowed_hosts"), ("jobs_per_key = 0", "jobs_per_key"),
                       ("weeks_ahead = -1", "weeks_ahead")):
        cfg.write_text(f'{bad}\n[areas]\nleeds = "{LEEDS.resolve()}"\n')
        with pytest.raises(ValueError, match=f"field '{field}'"):
            load_config(cfg)
