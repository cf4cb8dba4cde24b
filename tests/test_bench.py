"""The benchmark scripts run end to end on the bundled small instances."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

from patrols.solver.feasibility import plan_violations
from patrols.solver.read import read_instance

REPO = Path(__file__).resolve().parent.parent
DATA = Path(__file__).parent / "data" / "orienteering"


def _load(name: str):
    sys.path.insert(0, str(REPO / "bench"))
    spec = importlib.util.spec_from_file_location(f"bench_{name}", REPO / "bench" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_top_prints_feasible_routes_in_file_order(capsys: pytest.CaptureFixture[str]) -> None:
    top = _load("top")
    assert top.main(["--seconds", "0.5", "--engine", "pyvrp", str(DATA / "pr01.txt")]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["instance"], r["family"], r["vehicles"]) for r in records] == [("pr01", "toptw", 1)]
    problem = read_instance(DATA / "pr01.txt", 1)
    assert plan_violations(problem, records[0]["routes"]) == []
    assert 0 not in records[0]["routes"][0]
    assert records[0]["score"] > 0


def test_run_writes_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = _load("run")
    argv = ["--seconds", "0.5", "--benchmarks", str(DATA), "--only", "p1.3.n", "--out", str(tmp_path)]
    assert run.main(argv) == 0
    text = capsys.readouterr().out
    assert "| p1.3.n | 3 | 190 |" in text
    for engine in ("ours", "ortools", "pyvrp"):
        assert f"| {engine} |" in text
    assert list(tmp_path.glob("top-*.md")) and list(tmp_path.glob("top-*.jsonl"))
