"""A force-sized plan through the planning service, checked against the command line's.

Starts ``patrols serve`` on loopback (its own data folder, a planner key made
with ``patrols keys create``), asks for the week of an area with ``POST
/plans`` (seed 0, the area's default solver time), waits for it, downloads its
``plan.geojson`` with ``GET /plans/{id}/export/geojson`` and compares it byte
for byte with the bundle ``patrols plan`` wrote for the same area and seed
(the service plans a job's days in one process, the command line on two: the
same seed must give the same plan either way).

    .venv/bin/python bench/service_scale.py --area bench/work/scale/tiles-30/area.toml \\
        --cli-bundle bench/work/scale/tiles-30/plan --out bench/results/service-scale.md
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import tomllib
from datetime import UTC, datetime
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from load_service import Server, free_port, make_key


def main(argv: list[str] | None = None) -> int:
    """Plan through the service and compare; exit 0 when the two plans are identical."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--area", type=Path, required=True)
    p.add_argument("--cli-bundle", type=Path, required=True, help="the bundle of `patrols plan ... --seed 0`")
    p.add_argument("--timeout", type=float, default=1800)
    p.add_argument("--out", type=Path)
    args = p.parse_args(argv)
    area = args.area.resolve()
    limit = (tomllib.loads(area.read_text()).get("defaults") or {}).get("time_limit_s", 3.0)
    with tempfile.TemporaryDirectory(prefix="patrols-scale-") as tmp:
        data = Path(tmp)
        config = data / "server.toml"
        config.write_text(f'workers = 1\nqueue = 2\n[areas]\nforce = "{area}"\n')
        planner = make_key(data, config, "planner")
        server = Server(data, config, free_port())
        headers = {"Authorization": f"Bearer {planner}"}
        try:
            server.wait_ready()
            began = time.perf_counter()
            r = httpx.post(server.url + "/plans", headers=headers, timeout=30,
                           json={"area": "force", "week": "2018-07-02", "seed": 0, "time_limit_s": limit})
            r.raise_for_status()
            plan_id = r.json()["id"]
            end = time.monotonic() + args.timeout
            while True:
                doc = httpx.get(f"{server.url}/plans/{plan_id}", headers=headers, timeout=30).json()
                if doc["status"] in ("done", "failed") or time.monotonic() > end:
                    break
                time.sleep(2)
            took = time.perf_counter() - began
            if doc["status"] != "done":
                raise SystemExit(f"plan {doc['status']}: {doc.get('error')}")
            geo = httpx.get(f"{server.url}/plans/{plan_id}/export/geojson", headers=headers, timeout=120)
            geo.raise_for_status()
        finally:
            server.stop()
    same = geo.content == (args.cli_bundle / "plan.geojson").read_bytes()
    lines = [
        f"# A force-sized plan through the service, {datetime.now(UTC):%Y-%m-%d}", "",
        f"Area `{args.area}`, week 2018-07-02, seed 0, {limit} s per shift; the service with one job "
        "worker (a job plans its days in one process).", "",
        f"- `POST /plans` to done: {took:.1f} s",
        f"- `plan.geojson` exported: {len(geo.content) / 1e6:.1f} MB",
        f"- byte-identical to `patrols plan` (two processes) with the same seed: {'yes' if same else 'NO'}",
        "", "Repeat: `" + " ".join(["bench/service_scale.py", *(argv or sys.argv[1:])]) + "`", "",
    ]
    text = "\n".join(lines)
    print(text)
    if args.out:
        args.out.write_text(text, encoding="utf-8")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
