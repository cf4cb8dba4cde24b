"""plan-many on Dask (issue 16): a LocalCluster, a scheduler and workers on loopback, faults."""

from __future__ import annotations

import io
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from datetime import date
from pathlib import Path

import pytest

from patrols.outputs.geojson import plan_geojson_text
from patrols.plan_many import ProgressBar, folder_name, local_cluster, plan_many, scheduler_env

from conftest import LEEDS_AREA, REPO, WESTMINSTER_AREA

WEEK = date(2018, 7, 2)
LIMIT = 0.3


@pytest.fixture(scope="module")
def client():
    from distributed import Client

    cluster = local_cluster(2)
    with Client(cluster) as c:
        yield c
    cluster.close()


@pytest.fixture(scope="module")
def leeds_alone(tmp_path_factory):
    """Leeds planned by `patrols plan` (the reference every plan-many bundle must equal)."""
    out = tmp_path_factory.mktemp("single") / "leeds"
    subprocess.run([sys.executable, "-m", "patrols.cli", "plan", "--area", str(LEEDS_AREA), "--week",
                    WEEK.isoformat(), "--time-limit", str(LIMIT), "--out", str(out), "--quiet"],
                   check=True, cwd=REPO)
    return out


def test_local_workers_start_ready_and_quiet(client):
    """Forked from a server that imported the tasks' modules; no profiler, slow monitors."""
    import dask

    def state() -> tuple:
        return ("patrols.planning" in sys.modules, dask.config.get("distributed.worker.profile.enabled"),
                dask.config.get("distributed.worker.memory.monitor-interval"))

    assert set(client.run(state).values()) == {(True, False, "1s")}


def test_areas_as_tasks_give_the_bundles_patrols_plan_gives(client, tmp_path, demo_week, leeds_alone):
    bad = tmp_path / "bad" / "area.toml"
    bad.parent.mkdir()
    bad.write_text(LEEDS_AREA.read_text())  # without the files it names
    seen = []
    index = plan_many([WESTMINSTER_AREA, LEEDS_AREA, bad], WEEK, tmp_path / "out", seed=0,
                      time_limit_s=LIMIT, client=client, on_area=lambda r: seen.append(r.status))
    by_name = {a["folder"]: a for a in index["areas"]}
    assert index["areas_planned"] == 2 and index["areas_failed"] == 1
    west, leeds = by_name["city-of-westminster"], by_name["leeds-campus-test"]
    assert west["status"] == leeds["status"] == "done"
    # The demo fixture is `plan_week` in one process with the same seed and limit.
    _, _, plan = demo_week
    assert (tmp_path / "out" / "city-of-westminster" / "plan.geojson").read_text() == plan_geojson_text(plan)
    assert ((tmp_path / "out" / "leeds-campus-test" / "plan.geojson").read_bytes()
            == (leeds_alone / "plan.geojson").read_bytes())
    # The bad area is reported with its reason; nothing of it is written.
    (failed,) = [a for a in index["areas"] if a["status"] == "failed"]
    assert "file not found: stations.csv" in failed["reason"] and "\n" not in failed["reason"]
    assert not (tmp_path / "out" / failed["folder"]).exists()
    assert sorted(seen) == ["done", "done"]
    # The index: totals over the areas planned, the same on disk; the page links each map, offline.
    on_disk = json.loads((tmp_path / "out" / "index.json").read_text())
    assert on_disk == index
    assert west["unit_shifts"] == len(plan.routes)
    assert index["totals"]["unit_shifts"] == west["unit_shifts"] + leeds["unit_shifts"]
    # Worker-seconds: every planned area's tasks computed for a while; none for the bad one; their
    # sum is the run's, and two workers cannot have computed for more than twice the wall time.
    assert west["worker_s"] > leeds["worker_s"] > 0 and failed["worker_s"] == 0
    assert index["worker_s"] == pytest.approx(west["worker_s"] + leeds["worker_s"], abs=0.02)
    assert 0 < index["worker_share"] <= 1
    page = (tmp_path / "out" / "index.html").read_text()
    assert 'href="city-of-westminster/map.html"' in page and "file not found" in page
    assert not re.search(r"(src|href)=\"https?:", page)
    # The scheduler held shifts in its one queue (SCHEDULING) rather than sending each to the worker
    # holding its week.
    assert _queued_shifts(client)


def _queued_shifts(c) -> bool:
    """Whether the scheduler queued any ``solve`` task (a shift) before handing it to a worker."""
    def seen(dask_scheduler) -> bool:
        return any(str(t[0]).startswith("solve-") and t[2] == "queued" for t in dask_scheduler.transition_log)

    return c.run_on_scheduler(seen)


def test_an_area_that_fails_while_planning_fails_alone(client, tmp_path):
    # Loads fine, fails in the worker: its network file is not a network.
    broken = tmp_path / "broken"
    broken.mkdir()
    for name in ("stations.csv", "units.csv", "sites.csv", "incidents.csv"):
        (broken / name).write_bytes((LEEDS_AREA.parent / name).read_bytes())
    (broken / "net.osm").write_text("<osm><node id='1'")
    (broken / "area.toml").write_text(LEEDS_AREA.read_text().replace("its_leeds_network.osm.bz2", "net.osm")
                                      .replace("Leeds campus (test)", "Broken"))
    index = plan_many([broken / "area.toml", LEEDS_AREA], WEEK, tmp_path / "out", time_limit_s=LIMIT,
                      client=client)
    status = {a["name"]: a for a in index["areas"]}
    assert status["Leeds campus (test)"]["status"] == "done"
    assert status["Broken"]["status"] == "failed" and status["Broken"]["reason"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["index.html", "index.json",
                                                                     "leeds-campus-test"]


def test_a_killed_worker_costs_a_retry_not_a_result(tmp_path, leeds_alone):
    from distributed import Client

    cluster = local_cluster(2)
    try:
        with Client(cluster) as c:
            pids = c.run(os.getpid)
            killed: list[int] = []

            def kill_one_mid_task() -> None:
                # As soon as a worker runs a task of the plan, kill its process (its nanny starts another).
                deadline = time.monotonic() + 60
                while time.monotonic() < deadline and not killed:
                    for addr, keys in c.processing().items():
                        running = any(str(k).startswith(("solve-", "prepare-")) for k in keys)
                        if running and addr in pids:
                            os.kill(pids[addr], signal.SIGKILL)
                            killed.append(pids[addr])
                            return
                    time.sleep(0.02)

            watcher = threading.Thread(target=kill_one_mid_task)
            watcher.start()
            index = plan_many([LEEDS_AREA], WEEK, tmp_path / "out", time_limit_s=LIMIT, client=c)
            watcher.join()
            # The worker that replaced the killed one runs with the local cluster's settings too.
            c.wait_for_workers(2, timeout=60)
            import dask

            assert not any(c.run(lambda: dask.config.get("distributed.worker.profile.enabled")).values())
    finally:
        cluster.close()
    assert killed, "no task was seen running"
    assert index["areas"][0]["status"] == "done", index["areas"][0].get("reason")
    assert ((tmp_path / "out" / "leeds-campus-test" / "plan.geojson").read_bytes()
            == (leeds_alone / "plan.geojson").read_bytes())


def _start(args: list[str], log: Path) -> subprocess.Popen:
    env = {**os.environ, **scheduler_env()}
    return subprocess.Popen([sys.executable, "-m", "dask", *args], stdout=log.open("w"),
                            stderr=subprocess.STDOUT, cwd=REPO, env=env)


def test_plan_many_on_a_scheduler_and_workers_started_apart(tmp_path, leeds_alone):
    """`dask scheduler` and two `dask worker` processes on loopback, `patrols plan-many --scheduler`."""
    info = tmp_path / "scheduler.json"
    procs = [_start(["scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                     "--scheduler-file", str(info)], tmp_path / "scheduler.log")]
    try:
        deadline = time.monotonic() + 60
        while not info.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        address = json.loads(info.read_text())["address"]
        assert address.startswith("tcp://127.0.0.1:")
        for k in range(2):
            procs.append(_start(["worker", address, "--nthreads", "1", "--nworkers", "1", "--no-dashboard",
                                 "--host", "127.0.0.1", "--preload", "patrols.plan_many"],
                                tmp_path / f"worker{k}.log"))
        from distributed import Client

        with Client(address, timeout="30s") as c:
            c.wait_for_workers(2, timeout=60)
            # `--preload patrols.plan_many` imported the tasks' modules as the workers started.
            assert all(c.run(lambda: "patrols.planning" in sys.modules).values())
            assert c.run_on_scheduler(lambda dask_scheduler: dask_scheduler.WORKER_SATURATION) == 1.0
        out = tmp_path / "out"
        run = subprocess.run([sys.executable, "-m", "patrols.cli", "plan-many", "--areas", str(LEEDS_AREA),
                              "--week", WEEK.isoformat(), "--out", str(out), "--time-limit", str(LIMIT),
                              "--scheduler", address], capture_output=True, text=True, cwd=REPO, timeout=300)
        assert run.returncode == 0, run.stderr
        # Not a terminal: no progress bar, one closing line.
        assert "\r" not in run.stderr and "planned 1 area(s), 0 failed" in run.stderr
        index = json.loads((out / "index.json").read_text())
        assert index["scheduler"] == address and index["workers"] == 2
        assert ((out / "leeds-campus-test" / "plan.geojson").read_bytes()
                == (leeds_alone / "plan.geojson").read_bytes())
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()


def test_an_unreachable_scheduler_is_one_line(tmp_path):
    run = subprocess.run([sys.executable, "-m", "patrols.cli", "plan-many", "--areas", str(LEEDS_AREA),
                          "--week", WEEK.isoformat(), "--out", str(tmp_path / "out"),
                          "--scheduler", "tcp://127.0.0.1:9"], capture_output=True, text=True, cwd=REPO,
                         timeout=120)
    assert run.returncode != 0
    lines = [ln for ln in run.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "tcp://127.0.0.1:9" in lines[0] and "scheduler" in lines[0]
    assert not (tmp_path / "out").exists()


def test_progress_bar_draws_on_a_terminal_only():
    shown = io.StringIO()
    bar = ProgressBar(2, 4, stream=shown, enabled=True)
    bar.update(tasks=3)
    bar.update(tasks=1, areas=1, failed=1)
    bar.close()
    assert "areas 1/2, 1 failed, tasks 4/4" in shown.getvalue() and shown.getvalue().endswith("\n")
    quiet = io.StringIO()
    bar = ProgressBar(2, 4, stream=quiet)  # a StringIO is no terminal
    bar.update(tasks=4, areas=2)
    bar.close()
    assert quiet.getvalue() == ""


def test_folder_names_are_safe_and_unique():
    taken: set[str] = set()
    assert folder_name("City of Westminster", taken) == "city-of-westminster"
    assert folder_name("City of  Westminster!", taken) == "city-of-westminster-2"
    assert folder_name("../..", taken) == "area"


def test_a_worker_keeps_the_most_recent_areas_inputs_only():
    from patrols.inputs import RecentInputs

    cache = RecentInputs(2)
    cache["net-a"], cache["net-b"] = "A", "B"
    assert cache["net-a"] == "A"  # used: now the most recent
    cache["net-c"] = "C"
    assert list(cache) == ["net-a", "net-c"]
