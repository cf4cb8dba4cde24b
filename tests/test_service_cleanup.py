"""A service that cleans up after itself, tried the way its defects were found: by killing it.

``patrols serve`` is started as a real process on the demo area, given a plan,
and then stopped (SIGTERM, a clean shutdown) or killed (SIGKILL) while the
plan's worker is busy: no worker may outlive it, and nothing may be written
after. Partial bundles go on start and on delete; the data folder is private
whatever the umask.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from test_service import WEEK, Api, config_for, make_leeds_plan, quick_planner

from patrols.errors import PatrolsError
from patrols.service.app import create_app
from patrols.service.jobs import SHUTDOWN_ERROR, PlanJob, make_plan, write_plan_bundles
from patrols.service.keys import create_key
from patrols.service.store import RESTART_ERROR, Store

LINUX = sys.platform.startswith("linux")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# Data at rest ------------------------------------------------------------------------


def test_the_data_folder_is_private_whatever_the_umask(tmp_path):
    old = os.umask(0)
    try:
        app = create_app(config_for(tmp_path), planner=quick_planner(make_leeds_plan()),
                         executor=lambda: ThreadPoolExecutor(1))
        with TestClient(app) as client:
            api = Api(client, app.state.store)
            plan_id = api.create().json()["id"]
            assert api.wait(plan_id)["status"] == "done"
    finally:
        os.umask(old)
    data = tmp_path / "data"
    files = [p for p in data.rglob("*") if p.is_file()]
    folders = [data, *(p for p in data.rglob("*") if p.is_dir())]
    names = {p.name for p in files}
    assert {"patrols.db", "patrols.db-wal", "patrols.db-shm", "audit-head.json", "map.html"} <= names, names
    assert (data / "plans" / plan_id / "full" / "plan.json").is_file()
    assert {(str(p), oct(mode(p))) for p in files if mode(p) != 0o600} == set()
    assert {(str(p), oct(mode(p))) for p in folders if mode(p) != 0o700} == set()


def test_an_open_data_folder_is_closed_on_start(tmp_path):
    data = tmp_path / "data"
    Store(data / "patrols.db").audit("k" * 12, "viewer", "plan.read", None, "ok")
    bundle = data / "plans" / "11111111-1111-4111-8111-111111111111" / "full"
    bundle.mkdir(parents=True)
    (bundle / "plan.json").write_text("{}")
    store = Store(data / "patrols.db")
    store.add_plan(bundle.parent.name, "leeds", WEEK, 0, None, False, "k")
    store.finish_plan(bundle.parent.name, {}, {})
    for path in (data, data / "plans", bundle.parent, bundle):
        path.chmod(0o755)
    for path in (data / "patrols.db", bundle / "plan.json"):
        path.chmod(0o644)
    create_app(config_for(tmp_path), planner=lambda job: None)
    assert [oct(mode(p)) for p in (data, data / "plans", bundle.parent, bundle)] == [oct(0o700)] * 4
    assert [oct(mode(p)) for p in (data / "patrols.db", bundle / "plan.json")] == [oct(0o600)] * 2


# Partial bundles ------------------------------------------------------------------------


def test_partial_bundles_go_on_start_and_on_delete(tmp_path):
    plans = tmp_path / "data" / "plans"
    done, cut, deleted = (f"{i}0000000-0000-4000-8000-000000000000" for i in range(1, 4))
    store = Store(tmp_path / "data" / "patrols.db")
    for plan_id in (done, cut, deleted):
        store.add_plan(plan_id, "leeds", WEEK, 0, None, False, "k")
    store.finish_plan(done, {}, {})
    # What a worker killed while writing leaves: protected sites in a half-written full bundle.
    for folder in (plans / done / "full", plans / f".{cut}.partial" / "full", plans / cut / "full",
                   plans / "99999999-0000-4000-8000-000000000000" / "viewer"):
        folder.mkdir(parents=True)
        (folder / "plan.json").write_text('{"sites": "secret"}')
    app = create_app(config_for(tmp_path), planner=lambda job: None)
    assert sorted(p.name for p in plans.iterdir()) == [done]
    assert app.state.store.plan(cut).status == "failed"

    (plans / f".{deleted}.partial" / "full").mkdir(parents=True)
    with TestClient(app) as client:
        admin = create_key(app.state.store, "admin")[0]
        r = client.delete(f"/plans/{deleted}", headers={"Authorization": f"Bearer {admin}"})
        assert r.status_code == 204
    assert sorted(p.name for p in plans.iterdir()) == [done]


def test_a_job_of_a_deleted_plan_writes_nothing(tmp_path):
    plan, network = make_leeds_plan()
    out = tmp_path / "plans" / "33333333-3333-4333-8333-333333333333"
    with pytest.raises(PatrolsError, match="deleted"):
        write_plan_bundles(plan, network, out, still_wanted=lambda: False)
    assert list((tmp_path / "plans").iterdir()) == []
    # A job handed to a worker before its plan was deleted stops before it plans.
    store = Store(tmp_path / "data" / "patrols.db")
    job = PlanJob(plan_id=out.name, area_path=str(config_for(tmp_path).areas["leeds"]), week=date(2018, 7, 2),
                  seed=0, time_limit_s=None, redact=False, out_dir=str(out), db_path=str(store.path))
    with pytest.raises(PatrolsError, match="deleted before it started"):
        make_plan(job)
    assert not out.exists()


# Stopping and killing `patrols serve` -----------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _children(pid: int) -> set[int]:
    out = set()
    for stat_file in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat_file.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.add(int(stat_file.parent.name))
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


class Server:
    """``patrols serve`` on the demo area in a process of its own, and a planner key for it."""

    def __init__(self, data: Path) -> None:
        self.data = data
        self.key = create_key(Store(data / "patrols.db"), "planner")[0]
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "patrols.cli", "serve", "--data", str(data), "--port", str(self.port),
             "--no-access-log"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{self.base}/health", timeout=2):
                    break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"the server did not start: {self.proc.stderr.read()}") from None
                time.sleep(0.1)

    def call(self, method: str, path: str, body: dict | None = None) -> tuple[int, dict, dict]:
        request = urllib.request.Request(
            self.base + path, method=method, data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {self.key}", "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=10) as r:
                return r.status, dict(r.headers), json.loads(r.read() or b"null")
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), json.loads(e.read() or b"null")

    def plan_running(self) -> tuple[str, set[int]]:
        """Queue a Westminster plan and wait for its worker to take it; its id and the server's children."""
        status, _, doc = self.call("POST", "/plans", {"area": "westminster", "week": WEEK, "time_limit_s": 5})
        assert status == 202, doc
        deadline = time.monotonic() + 60
        while self.call("GET", f"/plans/{doc['id']}")[2]["status"] != "running":
            assert time.monotonic() < deadline, "the plan did not start"
            time.sleep(0.05)
        return doc["id"], _children(self.proc.pid)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)
        self.proc.stderr.close()


@contextmanager
def server(data: Path) -> Iterator[Server]:
    s = Server(data)
    try:
        yield s
    finally:
        s.stop()


def _gone(pids: set[int], within: float) -> set[int]:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.05)
    return {p for p in pids if _alive(p)}


@pytest.mark.skipif(not LINUX, reason="reads /proc")
def test_killed_server_leaves_no_worker_and_nothing_written(tmp_path):
    data = tmp_path / "data"
    with server(data) as s:
        # While it runs: a real uvicorn answers with the headers and no banner, and
        # a request that is not HTTP at all still gets a problem, not plain text.
        status, headers, _ = s.call("GET", "/health")
        lower = {k.lower(): v for k, v in headers.items()}
        assert status == 200 and "server" not in lower and lower["x-frame-options"] == "DENY"
        with socket.create_connection(("127.0.0.1", s.port), timeout=5) as raw:
            raw.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nBad Header\r\n\r\n")
            answer = raw.recv(4096).decode("latin-1")
        assert answer.startswith("HTTP/1.1 400") and "application/problem+json" in answer, answer
        assert "server:" not in answer.lower()

        plan_id, workers = s.plan_running()
        assert workers, "the plan runs in a worker process of the server"
        s.proc.send_signal(signal.SIGKILL)
        s.proc.wait(10)
        assert _gone(workers, 3) == set(), "pool workers outlived the server"
        time.sleep(1)
    plans = data / "plans"
    assert sorted(p.name for p in plans.iterdir()) == [], "written after the server was killed"
    # The next start fails the cut-off job; the chain has every request of the killed run.
    app = create_app(config_for(tmp_path), planner=lambda job: None)
    record = app.state.store.plan(plan_id)
    assert record.status == "failed" and record.error == RESTART_ERROR
    entries = app.state.store.audit_entries(1000)
    assert any(e.plan_id == plan_id and e.action == "plan.create" for e in entries)


@pytest.mark.skipif(not LINUX, reason="reads /proc")
def test_clean_shutdown_fails_the_running_job_and_stops_its_worker(tmp_path):
    data = tmp_path / "data"
    with server(data) as s:
        plan_id, workers = s.plan_running()
        status, _, queued = s.call("POST", "/plans", {"area": "westminster", "week": WEEK})
        assert status == 202
        s.proc.send_signal(signal.SIGTERM)  # what systemd does; Ctrl-C is the same
        # uvicorn shuts down cleanly, then ends with the signal it was sent.
        assert s.proc.wait(20) in (0, -signal.SIGTERM)
        assert "Application shutdown complete" in s.proc.stderr.read()
        assert _gone(workers, 3) == set(), "pool workers outlived the server"
        time.sleep(0.5)
    store = Store(data / "patrols.db")
    for pid in (plan_id, queued["id"]):
        record = store.plan(pid)
        assert record.status == "failed" and record.error == SHUTDOWN_ERROR, record
    assert list((data / "plans").iterdir()) == []
