"""``--redact``: no file of a redacted bundle names, labels or types a protected site.

The check is a grep of every file written (map, exports, briefings, plan.json,
summary.json) for every site id, label and kind word of the plan, with the full
bundle as the positive control that the grep finds them when they are there.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest

from patrols.outputs.bundle import redact, write_bundle
from patrols.plan import Plan, load_plan

FIXTURE = Path(__file__).parent / "data" / "outputs_plan.json"
# summary.json (the lead's summarize) keeps its section names, "protective" among them: a heading
# over counts, never a site. Every other file may not even say "protective".
STRUCTURAL = {"summary.json": {"protective"}}


@pytest.fixture(scope="module")
def plan() -> Plan:
    p = load_plan(FIXTURE)
    # Per-site figures of the kind planning puts in ``extra``, to prove they are scrubbed.
    return replace(p, extra={"predictability": {"sites": {s.site_id: {"spread": 0.5} for s in p.sites},
                                                "mean_spread": 0.5},
                             "notes": [p.sites[0].label, p.sites[-1].site_id]})


def _words(plan: Plan) -> set[str]:
    words = {s.site_id for s in plan.sites} | {s.kind for s in plan.sites}
    words |= {s.label for s in plan.sites if s.label}
    return words | {"protective", "protected", "SYNTHETIC"}


def _hits(folder: Path, words: set[str]) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in sorted(folder.rglob("*")):
        if not path.is_file():
            continue
        text = path.read_text(encoding="utf-8")
        allowed = STRUCTURAL.get(path.name, set())
        for w in words - allowed:
            if re.search(rf"(?<![A-Za-z0-9]){re.escape(w)}(?![A-Za-z0-9])", text, re.IGNORECASE):
                found.setdefault(str(path.relative_to(folder)), set()).add(w)
    return found


def test_full_bundle_names_the_sites(plan: Plan, tmp_path: Path) -> None:
    # Positive control: the same grep finds every id, kind and label in the full bundle.
    out = write_bundle(plan, tmp_path / "full")
    hits = _hits(out, _words(plan))
    everywhere = set().union(*hits.values())
    assert everywhere >= {s.site_id for s in plan.sites} | {s.kind for s in plan.sites}
    assert "OFFICIAL-SENSITIVE" in (out / "map.html").read_text(encoding="utf-8")


def test_redacted_bundle_names_no_site(plan: Plan, tmp_path: Path) -> None:
    out = write_bundle(redact(plan), tmp_path / "redacted")
    assert _hits(out, _words(plan)) == {}
    assert "OFFICIAL-SENSITIVE" not in (out / "map.html").read_text(encoding="utf-8")
    assert (out / "briefings" / "index.html").is_file()


def test_redacted_visits_look_alike(plan: Plan, tmp_path: Path) -> None:
    # Protective visits are shorter than hotspot ones, so no dwell may show in any export.
    out = write_bundle(redact(plan), tmp_path / "redacted")
    gpx = (out / "plan.gpx").read_text(encoding="utf-8")
    assert "dwell" not in gpx
    assert re.findall(r"<type>(\w+)</type>", gpx) and set(re.findall(r"<type>(\w+)</type>", gpx)) <= {
        "station", "patrol", "car", "foot"}
    roster = (out / "roster.csv").read_text(encoding="utf-8").splitlines()
    kinds = {line.split(",")[6] for line in roster[1:]}
    assert kinds == {"station", "patrol"}
    # Every patrol stop row has no departure time and no ref.
    assert all(line.split(",")[5] == "" and line.split(",")[7] == ""
               for line in roster[1:] if line.split(",")[6] == "patrol")
    ics = (out / "roster.ics").read_text(encoding="utf-8").replace("\r\n ", "")
    assert re.search(r"\d\d:\d\d-\d\d:\d\d", ics) is None  # no "arrive-depart" span
