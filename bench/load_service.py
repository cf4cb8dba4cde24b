"""Load test of the planning service on loopback: many readers of one plan, then a restart.

Starts ``patrols serve`` on 127.0.0.1 on a free port in a subprocess (its own
data folder, keys made with ``patrols keys create``), makes one plan, then runs
N reader threads for S seconds, each a keep-alive httpx client doing
``GET /plans/{id}`` as a planner or a viewer, in turn. Reports p50/p95/p99
latency, throughput and errors. Then stops the server, starts a new one on the
same data folder, and checks the plan is still served.

Bounded: at most ``--max-requests`` requests and ``--seconds`` of reading; the
server is stopped however the run ends. Target (issue 7): 20 readers for 60 s,
no errors, p95 under 100 ms.

    .venv/bin/python bench/load_service.py --seconds 60 --readers 20 --out bench/results/service-load.md
"""

from __future__ import annotations

import argparse
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
LEEDS = REPO / "tests" / "data" / "service_leeds" / "area.toml"
DEMO = REPO / "data" / "westminster" / "area.toml"


def free_port() -> int:
    """A TCP port free on loopback now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_key(data: Path, config: Path, role: str) -> str:
    """A key made the way an operator makes one."""
    out = subprocess.run([sys.executable, "-m", "patrols.cli", "keys", "create", "--role", role,
                          "--config", str(config), "--data", str(data)],
                         check=True, capture_output=True, text=True)
    return out.stdout.strip()


class Server:
    """``patrols serve`` in a subprocess; stopped on exit."""

    def __init__(self, data: Path, config: Path, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.log = open(data / f"server-{port}-{time.time_ns()}.log", "w")  # noqa: SIM115 - closed in stop
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "patrols.cli", "serve", "--host", "127.0.0.1", "--port", str(port),
             "--config", str(config), "--data", str(data), "--no-access-log"],
            stdout=self.log, stderr=subprocess.STDOUT)

    def wait_ready(self, timeout: float = 60) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}; see {self.log.name}")
            try:
                if httpx.get(self.url + "/health", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise RuntimeError("server did not answer /health in time")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()  # SIGTERM: uvicorn shuts down gracefully
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def make_plan(url: str, key: str, area: str, time_limit: float, timeout: float) -> tuple[str, float]:
    """POST a plan and wait until it is done; its id and seconds taken."""
    began = time.perf_counter()
    headers = {"Authorization": f"Bearer {key}"}
    r = httpx.post(url + "/plans", headers=headers, timeout=10,
                   json={"area": area, "week": "2018-07-02", "seed": 0, "time_limit_s": time_limit})
    r.raise_for_status()
    plan_id = r.json()["id"]
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        doc = httpx.get(f"{url}/plans/{plan_id}", headers=headers, timeout=10).json()
        if doc["status"] == "done":
            return plan_id, time.perf_counter() - began
        if doc["status"] == "failed":
            raise RuntimeError(f"plan failed: {doc['error']}")
        time.sleep(0.5)
    raise RuntimeError(f"plan not done in {timeout} s")


def read_load(url: str, plan_id: str, keys: list[str], readers: int, seconds: float,
              max_requests: int) -> tuple[list[float], list[str], float]:
    """``readers`` threads reading the plan for ``seconds``; latencies (s), errors, wall time."""
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()
    count = [0]

    def reader(n: int) -> None:
        headers = {"Authorization": f"Bearer {keys[n % len(keys)]}"}
        mine: list[float] = []
        bad: list[str] = []
        with httpx.Client(base_url=url, headers=headers, timeout=10) as client:
            while not stop.is_set():
                with lock:
                    if count[0] >= max_requests:
                        break
                    count[0] += 1
                t0 = time.perf_counter()
                try:
                    r = client.get(f"/plans/{plan_id}")
                    dt = time.perf_counter() - t0
                    if r.status_code != 200 or r.json()["status"] != "done":
                        bad.append(f"{r.status_code}")
                    mine.append(dt)
                except httpx.HTTPError as exc:
                    bad.append(type(exc).__name__)
        with lock:
            latencies.extend(mine)
            errors.extend(bad)

    threads = [threading.Thread(target=reader, args=(n,), daemon=True) for n in range(readers)]
    began = time.perf_counter()
    for t in threads:
        t.start()
    stop.wait(seconds)
    stop.set()
    for t in threads:
        t.join(15)
    return latencies, errors, time.perf_counter() - began


def pct(values: list[float], q: float) -> float:
    """The q-th percentile (0-100) in milliseconds, nearest rank."""
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[k] * 1000


def main(argv: list[str] | None = None) -> int:
    """Run the load test; exit 0 when the target is met."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=60)
    p.add_argument("--readers", type=int, default=20)
    p.add_argument("--max-requests", type=int, default=200_000)
    p.add_argument("--area", choices=("westminster", "leeds"), default="westminster",
                   help="the plan to read: the demo area (default) or the tiny test area")
    p.add_argument("--time-limit", type=float, default=0.5, help="solver seconds per shift of the plan")
    p.add_argument("--out", type=Path, help="also write the results as Markdown here")
    args = p.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="patrols-load-") as tmp:
        data = Path(tmp)
        config = data / "server.toml"
        area_path = DEMO if args.area == "westminster" else LEEDS
        config.write_text(f'workers = 2\nqueue = 4\n[areas]\n{args.area} = "{area_path}"\n')
        planner, viewer = make_key(data, config, "planner"), make_key(data, config, "viewer")

        load_before = os.getloadavg()[0]
        server = Server(data, config, free_port())
        try:
            server.wait_ready()
            plan_id, plan_s = make_plan(server.url, planner, args.area, args.time_limit, timeout=600)
            print(f"plan {plan_id} made in {plan_s:.1f} s; {args.readers} readers for {args.seconds:.0f} s",
                  file=sys.stderr)
            latencies, errors, wall = read_load(server.url, plan_id, [planner, viewer], args.readers,
                                                args.seconds, args.max_requests)
            before = httpx.get(f"{server.url}/plans/{plan_id}", timeout=10,
                               headers={"Authorization": f"Bearer {planner}"}).json()
        finally:
            server.stop()

        again = Server(data, config, free_port())
        try:
            again.wait_ready()
            r = httpx.get(f"{again.url}/plans/{plan_id}", timeout=10,
                          headers={"Authorization": f"Bearer {planner}"})
            after_restart = r.status_code == 200 and r.json()["status"] == "done" \
                and r.json()["summary"] == before["summary"]
            geo = httpx.get(f"{again.url}/plans/{plan_id}/export/geojson", timeout=10,
                            headers={"Authorization": f"Bearer {viewer}"})
            after_restart = after_restart and geo.status_code == 200
        finally:
            again.stop()

    n = len(latencies)
    p95 = pct(latencies, 95) if n else float("inf")
    met = not errors and p95 < 100 and after_restart and n > 0
    rows = [
        ("when", datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")),
        ("machine", f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
                    f"load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after "
                    "(other work shares the cores)"),
        ("command", f"`.venv/bin/python bench/load_service.py --seconds {args.seconds:g} "
                    f"--readers {args.readers} --area {args.area}`"),
        ("plan", f"{args.area}, week 2018-07-02, {args.time_limit:g} s per shift: made in {plan_s:.1f} s"),
        ("requests", f"{n} GET /plans/{{id}} in {wall:.1f} s ({n / wall:.0f}/s), planner and viewer keys"),
        ("errors", f"{len(errors)}" + (f" ({', '.join(sorted(set(errors)))})" if errors else "")),
        ("latency ms", f"p50 {pct(latencies, 50):.1f} · p95 {p95:.1f} · p99 {pct(latencies, 99):.1f} · "
                       f"max {max(latencies) * 1000:.1f} · mean {statistics.fmean(latencies) * 1000:.1f}"
                       if n else "no requests"),
        ("after restart", "plan served, same summary, export works" if after_restart else "NOT served"),
        ("target", "met" if met else "NOT met"),
    ]
    text = "| | |\n|---|---|\n" + "\n".join(f"| {k} | {v} |" for k, v in rows) + "\n"
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        with args.out.open("a", encoding="utf-8") as fh:
            fh.write(f"\n## Run of {rows[0][1]}\n\n{text}")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
