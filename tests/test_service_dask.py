"""The service's plan jobs on a Dask cluster (``[dask] scheduler`` in the server config).

One ``LocalCluster`` of one single-threaded worker process serves the module;
the service reaches it by its address, as it would a scheduler started with
``dask scheduler``. The tests that kill the worker come last.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from test_service import LEEDS, WEEK, Api, config_for

from patrols.errors import InputError
from patrols.service import jobs
from patrols.service.app import create_app
from patrols.service.config import ServiceConfig, load_config
from patrols.service.jobs import PlanJob, make_plan
from patrols.service.store import Store

LIMIT = 0.2
PAUSE_S = 2


@pytest.fixture(scope="module")
def cluster():
    import dask
    from distributed import LocalCluster

    # A job whose worker dies is run once more, then fails (the scheduler reads this as it starts).
    with dask.config.set({"distributed.scheduler.allowed-failures": 1}):
        local = LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=":0",
                             scheduler_kwargs={"dashboard": False}, worker_dashboard_address=":0",
                             silence_logs=logging.ERROR)
    try:
        yield local
    finally:
        local.close()


def start(app) -> tuple[TestClient, Api]:
    client = TestClient(app)
    client.__enter__()
    api = Api(client, app.state.store)
    return client, api


def dask_app(tmp: Path, cluster, **kw):
    return create_app(config_for(tmp, workers=1, queue=2, dask_scheduler=cluster.scheduler_address), **kw)


# ------------------------------------------------------------------ the config
def write_config(tmp: Path, dask: str) -> Path:
    cfg = tmp / "server.toml"
    cfg.write_text(f'data = "d"\n[areas]\nleeds = "{LEEDS.resolve()}"\n{dask}\n')
    return cfg


@pytest.mark.parametrize("address", ["tcp://127.0.0.1:8786", "tls://dask.force.internal:8786",
                                     "tcp://[::1]:8786"])
def test_a_dask_table_names_the_scheduler(tmp_path, address):
    config = load_config(write_config(tmp_path, f'[dask]\nscheduler = "{address}"'))
    assert config.dask_scheduler == address
    # Workers see the service's paths: a relative --data is made absolute.
    assert load_config(write_config(tmp_path, f'[dask]\nscheduler = "{address}"'),
                       data_dir="rel").data_dir == Path("rel").absolute()
    assert load_config(write_config(tmp_path, "")).dask_scheduler is None


@pytest.mark.parametrize(("table", "field"), [
    ('[dask]\nscheduler = "http://127.0.0.1:8786"', "dask.scheduler"),
    ('[dask]\nscheduler = "tcp://127.0.0.1"', "dask.scheduler"),
    ('[dask]\nscheduler = "tcp://127.0.0.1:99999"', "dask.scheduler"),
    ('[dask]\nscheduler = "tcp://host name:8786"', "dask.scheduler"),
    ("[dask]\nscheduler = 8786", "dask.scheduler"),
    ("[dask]", "dask.scheduler"),
    ('[dask]\nscheduler = "tcp://127.0.0.1:8786"\nworkers = 4', "dask.workers"),
])
def test_a_bad_dask_table_is_one_line_naming_the_field(tmp_path, table, field):
    with pytest.raises(InputError) as err:
        load_config(write_config(tmp_path, table))
    assert err.value.field == field and "\n" not in str(err.value)
    assert f"field '{field}'" in str(err.value)


def test_dask_must_be_a_table(tmp_path):
    cfg = tmp_path / "server.toml"
    cfg.write_text(f'dask = "tcp://127.0.0.1:8786"\n[areas]\nleeds = "{LEEDS.resolve()}"\n')
    with pytest.raises(InputError, match="field 'dask'"):
        load_config(cfg)


# ------------------------------------------------------------------ jobs on the cluster
def test_a_dask_worker_is_not_a_pool_worker(cluster):
    from distributed import Client

    with Client(cluster.scheduler_address, set_as_default=False) as c:
        assert c.submit(jobs.parent_alive, pure=False).result() is True


def test_a_plan_made_on_dask_is_the_one_the_process_pool_makes(tmp_path, cluster):
    app = dask_app(tmp_path / "dask", cluster)
    client, api = start(app)
    try:
        assert api.client.get("/health").json()["jobs_run_on"] == "dask"
        plan_id = api.create(time_limit_s=LIMIT, seed=1).json()["id"]
        doc = api.wait(plan_id, timeout=60)
        assert doc["status"] == "done", doc
        executor = app.state.runner._executor
        assert isinstance(executor, jobs.DaskExecutor)
    finally:
        client.__exit__(None, None, None)
    # The service closed its client, not the cluster.
    assert executor._client.status == "closed"
    assert cluster.scheduler_info["workers"]
    on_dask = tmp_path / "dask" / "data" / "plans" / plan_id
    assert (on_dask / "full" / "plan.geojson").is_file() and (on_dask / "viewer" / "map.html").is_file()

    pool = create_app(config_for(tmp_path / "pool", workers=1, queue=2))
    with TestClient(pool) as c:
        api = Api(c, pool.state.store)
        assert c.get("/health").json()["jobs_run_on"] == "process pool"
        pool_id = api.create(time_limit_s=LIMIT, seed=1).json()["id"]
        assert api.wait(pool_id, timeout=90)["status"] == "done"
    in_pool = tmp_path / "pool" / "data" / "plans" / pool_id
    for view in ("full", "viewer"):
        geojson = f"{view}/plan.geojson"
        assert (on_dask / geojson).read_bytes() == (in_pool / geojson).read_bytes()


def test_a_job_with_bad_input_fails_with_one_line(tmp_path, cluster):
    # Loads as an area, fails in the worker: its network file is not a network.
    broken = tmp_path / "broken"
    broken.mkdir()
    for name in ("stations.csv", "units.csv", "sites.csv", "incidents.csv"):
        (broken / name).write_bytes((LEEDS.parent / name).read_bytes())
    (broken / "net.osm").write_text("<osm><node id='1'")
    (broken / "area.toml").write_text(LEEDS.read_text().replace("its_leeds_network.osm.bz2", "net.osm"))
    config = ServiceConfig(data_dir=tmp_path / "data", areas={"broken": broken / "area.toml"},
                           allowed_hosts=("testserver",), workers=1, queue=2,
                           dask_scheduler=cluster.scheduler_address)
    with TestClient(create_app(config)) as c:
        api = Api(c, c.app.state.store)
        r = c.post("/plans", headers=api.h("planner"), json={"area": "broken", "week": WEEK})
        assert r.status_code == 202, r.text
        doc = api.wait(r.json()["id"], timeout=30)
    assert doc["status"] == "failed"
    # The worker's InputError, as patrols plan prints it.
    assert doc["error"].startswith(f"{broken / 'net.osm'}: cannot read OSM data") and "\n" not in doc["error"]
    assert not (tmp_path / "data" / "plans" / r.json()["id"]).exists()


def test_an_unreachable_scheduler_fails_the_job_not_the_request(tmp_path, monkeypatch):
    monkeypatch.setattr(jobs, "DASK_CONNECT_TIMEOUT_S", 1)
    app = create_app(config_for(tmp_path, workers=1, queue=2, dask_scheduler="tcp://127.0.0.1:9"))
    with TestClient(app) as c:
        api = Api(c, app.state.store)
        r = api.create(time_limit_s=LIMIT)
        assert r.status_code == 202, r.text
        doc = api.get(f"/plans/{r.json()['id']}", "planner").json()
    assert doc["status"] == "failed" and "\n" not in doc["error"]
    assert doc["error"].startswith("cannot reach the Dask scheduler at tcp://127.0.0.1:9")


def plan_with_a_pause(job: PlanJob):
    """make_plan, pausing before it writes the bundles (a shutdown comes meanwhile); says how it ended."""
    write = jobs.write_plan_bundles

    def paused(*args, **kw):
        time.sleep(PAUSE_S)
        return write(*args, **kw)

    outcome = Path(job.db_path).with_name("outcome.txt")
    jobs.write_plan_bundles = paused
    try:
        result = make_plan(job)
        outcome.write_text("done")
        return result
    except Exception as exc:
        outcome.write_text(str(exc))
        raise
    finally:
        jobs.write_plan_bundles = write


def jobs_running() -> int:
    """Threads of this process inside make_plan (run on a worker)."""
    import sys
    import traceback

    return sum(1 for frame in sys._current_frames().values()
               if any(f.name == "make_plan" for f in traceback.extract_stack(frame)))


def test_a_shutdown_fails_a_running_job_and_leaves_the_cluster(tmp_path, cluster):
    app = dask_app(tmp_path, cluster, planner=plan_with_a_pause)
    client, api = start(app)
    try:
        plan_id = api.create(time_limit_s=LIMIT).json()["id"]
        end = time.monotonic() + 30
        while api.store.plan(plan_id).status != "running":
            assert time.monotonic() < end, "the job never started"
            time.sleep(0.02)
    finally:
        client.__exit__(None, None, None)
    record = Store(tmp_path / "data" / "patrols.db").plan(plan_id)
    assert record.status == "failed" and record.error == jobs.SHUTDOWN_ERROR
    # The task runs on in its worker (Dask cannot stop it), finds its plan failed and writes nothing.
    from distributed import Client

    with Client(cluster.scheduler_address, set_as_default=False) as c:
        assert list(c.run(jobs_running).values()) == [1]
        end = time.monotonic() + 30
        while any(c.run(jobs_running).values()):
            assert time.monotonic() < end, "the job did not end"
            time.sleep(0.1)
    assert (tmp_path / "data" / "outcome.txt").read_text() == (
        "the plan was deleted, or the service stopped, while it was made")
    assert list((tmp_path / "data" / "plans").iterdir()) == []


def test_a_job_the_cluster_drops_fails_and_the_next_job_connects_again(tmp_path, cluster, monkeypatch):
    # A cluster of its own, closed under a running job: the client loses its scheduler.
    from distributed import LocalCluster

    monkeypatch.setattr(jobs, "DASK_CONNECT_TIMEOUT_S", 1)  # also how long the client waits to reconnect
    doomed = LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=":0",
                          scheduler_kwargs={"dashboard": False}, worker_dashboard_address=":0",
                          silence_logs=logging.CRITICAL)
    config = config_for(tmp_path, workers=1, queue=2, dask_scheduler=doomed.scheduler_address)
    app = create_app(config, planner=plan_with_a_pause)
    with TestClient(app) as c:
        api = Api(c, app.state.store)
        try:
            plan_id = api.create(time_limit_s=LIMIT).json()["id"]
            end = time.monotonic() + 30
            while api.store.plan(plan_id).status != "running":
                assert time.monotonic() < end, "the job never started"
                time.sleep(0.02)
        finally:
            doomed.close()
        doc = api.wait(plan_id, timeout=30)
        assert doc["status"] == "failed" and doc["error"] == jobs.DROPPED_ERROR
        # Once Dask has given up on the scheduler, the next job connects again (here: another one).
        executor = app.state.runner._executor
        end = time.monotonic() + 30
        while executor._client.status != "closed":
            assert time.monotonic() < end, "the client was not closed"
            time.sleep(0.05)
        executor.scheduler = cluster.scheduler_address
        again = api.create(time_limit_s=LIMIT).json()["id"]
        assert api.wait(again, timeout=60)["status"] == "done"


# ------------------------------------------------------------------ worker deaths (last: they restart it)
def die_once(job: PlanJob):
    """Start the job, then kill the worker the first time; plan it the second."""
    marker = Path(job.db_path).with_name("died-once")
    if not marker.exists():
        Store(job.db_path).mark_running(job.plan_id)
        marker.touch()
        os._exit(1)
    return make_plan(job)


def always_die(job: PlanJob):
    os._exit(1)


def test_a_job_whose_worker_dies_is_run_again(tmp_path, cluster):
    app = dask_app(tmp_path, cluster, planner=die_once)
    with TestClient(app) as c:
        api = Api(c, app.state.store)
        plan_id = api.create(time_limit_s=LIMIT).json()["id"]
        doc = api.wait(plan_id, timeout=60)
    assert (tmp_path / "data" / "died-once").exists()
    assert doc["status"] == "done", doc
    assert (tmp_path / "data" / "plans" / plan_id / "full" / "plan.geojson").is_file()


def test_a_job_whose_worker_dies_every_time_fails_with_one_line(tmp_path, cluster):
    app = dask_app(tmp_path, cluster, planner=always_die)
    with TestClient(app) as c:
        api = Api(c, app.state.store)
        plan_id = api.create(time_limit_s=LIMIT).json()["id"]
        doc = api.wait(plan_id, timeout=60)
    assert doc["status"] == "failed"
    assert "Dask worker stopped unexpectedly" in doc["error"] and "\n" not in doc["error"]
