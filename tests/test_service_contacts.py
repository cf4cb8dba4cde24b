"""Contact sheets through the service: planners only, never an export, audited like every read.

The Leeds test plan is given a person (with both its sites) and a named
contact, as planning will write them, and written as each job's bundles.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from test_service import SITES, Api, config_for, everything_seen, make_leeds_plan, quick_planner

from patrols.service.app import create_app

CONTACT = "CX-PS-01"
CONTACT_NAME = "SYNTHETIC PS Contact"


@functools.cache
def leeds_plan_with_contact():
    plan, network = make_leeds_plan()
    people = {"persons": [{"person_id": "P1", "role": "mp", "contact_id": CONTACT, "valid_from": None,
                           "valid_to": None, "site_ids": [s[0] for s in SITES],
                           "protected_days": ["2018-07-02", "2018-07-03"]}],
              "contacts": [{"contact_id": CONTACT, "name": CONTACT_NAME, "station_id": "LS",
                            "station_name": "Leeds Central", "phone": "", "email": ""}]}
    return replace(plan, extra={**plan.extra, "people": people}), network


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    stack: list[TestClient] = []

    def start() -> Api:
        app = create_app(config_for(tmp_path), planner=quick_planner(leeds_plan_with_contact()),
                         executor=lambda: ThreadPoolExecutor(2))
        client = TestClient(app)
        client.__enter__()
        stack.append(client)
        return Api(client, app.state.store)

    yield start()
    for client in stack:
        client.__exit__(None, None, None)


@pytest.fixture
def done(api: Api) -> Callable[..., str]:
    def make(**body) -> str:
        plan_id = api.create(**body).json()["id"]
        assert api.wait(plan_id)["status"] == "done"
        return plan_id

    return make


def test_a_planner_reads_a_contact_sheet_and_calendar(api, done, tmp_path):
    plan_id = done()
    base = f"/plans/{plan_id}/contacts"
    r = api.get(f"{base}/{CONTACT}.html", "planner")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert CONTACT_NAME in r.text and all(site_id in r.text for site_id, *_ in SITES)
    # The page's own policy, with no framing, as the map gets.
    csp = r.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
    r = api.get(f"{base}/{CONTACT}.ics", "planner")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/calendar")
    assert "attachment" in r.headers["content-disposition"] and r.text.startswith("BEGIN:VCALENDAR")
    r = api.get(f"{base}/index.html", "planner")
    assert r.status_code == 200 and f'href="{CONTACT}.html"' in r.text
    # Unknown contacts, and names that are no contact file, are not there.
    assert api.get(f"{base}/C9.html", "planner").status_code == 404
    for bad in ("..%2Fplan.json", "C1.json", ".html", "a.b.html"):
        assert api.get(f"{base}/{bad}", "planner").status_code in (404, 422), bad
    nowhere = "/plans/00000000-0000-4000-8000-000000000000/contacts/C1.html"
    assert api.get(nowhere, "planner").status_code == 404
    # Audited as a read of that plan, naming the file.
    entries = [e for e in api.store.audit_entries(1000, plan_id=plan_id) if e.action == "plan.contact"]
    assert entries and any(e.outcome == "ok" and e.detail == f"contacts/{CONTACT}.html" for e in entries)
    assert any(e.outcome == "not_found" for e in entries)


def test_viewers_and_admins_never_get_a_contact_sheet(api, done):
    plan_id = done()
    for role in ("viewer", "admin"):
        for name in (f"{CONTACT}.html", f"{CONTACT}.ics", "index.html", "C9.html"):
            r = api.get(f"/plans/{plan_id}/contacts/{name}", role)
            assert r.status_code == 403, (role, name)
            assert CONTACT_NAME not in r.text
        # Nor anywhere else they can read.
        for path, text in everything_seen(api, role, plan_id).items():
            assert CONTACT not in text and CONTACT_NAME not in text, (role, path)
    denied = [e for e in api.store.audit_entries(1000, plan_id=plan_id) if e.action == "plan.contact"]
    assert {e.role for e in denied if e.outcome == "denied"} == {"viewer", "admin"}


def test_contact_files_are_never_an_export(api, done, tmp_path):
    plan_id = done()
    full = tmp_path / "data" / "plans" / plan_id / "full"
    assert (full / "contacts" / f"{CONTACT}.ics").is_file()
    assert not (tmp_path / "data" / "plans" / plan_id / "viewer" / "contacts").exists()
    exports = api.get(f"/plans/{plan_id}", "planner").json()["links"]["exports"]
    assert exports["ics"].endswith("/export/ics") and not any("contact" in k for k in exports)
    r = api.get(exports["ics"], "planner")
    assert r.status_code == 200 and CONTACT_NAME not in r.text and 'filename="roster.ics"' in \
        r.headers["content-disposition"]
    for fmt in (CONTACT, f"{CONTACT}.ics", f"{CONTACT}-ics", "contacts", "index.html", "index"):
        assert api.get(f"/plans/{plan_id}/export/{fmt}", "planner").status_code == 404, fmt


def test_a_plan_made_redacted_has_no_contact_sheet(api, done):
    plan_id = done(redact=True)
    assert api.get(f"/plans/{plan_id}/contacts/{CONTACT}.html", "planner").status_code == 404
    assert api.get(f"/plans/{plan_id}/contacts/index.html", "planner").status_code == 404
