"""The audit log as a tamperer meets it: each attack on the chain, and what ``patrols audit verify`` says.

The attacks are made as someone with the database file would make them, with
SQL at an ``sqlite3`` connection (dropping the triggers first where they stand
in the way, and recomputing hashes where that is the point). Then: every kind
of request leaves its entry, refused ones included.
"""

from __future__ import annotations

import itertools
import json
import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from test_service import WEEK, config_for

from patrols.cli import main as cli_main
from patrols.service import audit
from patrols.service.app import create_app
from patrols.service.audit import GENESIS, BrokenAuditLog, entry_hash, verify
from patrols.service.keys import create_key
from patrols.service.store import Store

COLUMNS = ("entry_id", "at", "key_id", "role", "action", "plan_id", "outcome", "detail", "client",
           "prev_hash", "entry_hash")


def logged(tmp_path: Path, n: int = 5) -> Path:
    """A data folder whose audit log holds ``n`` entries; returns the folder."""
    data = tmp_path / "data"
    store = Store(data / "patrols.db")
    for i in range(n):
        store.audit("k" * 12, "planner", "plan.read", f"plan-{i}", "ok", f"entry {i + 1}", "10.0.0.1")
    return data


def sql(data: Path, *statements: str, args: tuple = ()) -> None:
    db = sqlite3.connect(data / "patrols.db", isolation_level=None)
    try:
        for statement in statements:
            db.execute(statement, args if "?" in statement else ())
    finally:
        db.close()


def rows(data: Path) -> list[dict]:
    db = sqlite3.connect(data / "patrols.db")
    db.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in db.execute("SELECT * FROM audit ORDER BY entry_id")]
    finally:
        db.close()


def verify_cli(data: Path, capsys) -> tuple[int, str]:
    code = cli_main(["audit", "verify", "--data", str(data)])
    out = capsys.readouterr().out.strip()
    assert "\n" not in out, out
    return code, out


def insert(data: Path, entry: dict, verb: str = "INSERT") -> None:
    sql(data, f"{verb} INTO audit ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})",
        args=tuple(entry[c] for c in COLUMNS))


# The chain -------------------------------------------------------------------------


def test_an_intact_log_verifies_with_its_count_and_head(tmp_path, capsys):
    data = logged(tmp_path)
    code, out = verify_cli(data, capsys)
    entries = rows(data)
    assert code == 0
    assert out == f"intact: 5 entries, head {entries[-1]['entry_hash']}"
    assert entries[0]["prev_hash"] == GENESIS
    assert all(b["prev_hash"] == a["entry_hash"] for a, b in itertools.pairwise(entries))
    assert all(entry_hash(e) == e["entry_hash"] for e in entries)
    assert json.loads((data / "audit-head.json").read_text()) == {"entry_id": 5,
                                                                  "entry_hash": entries[-1]["entry_hash"]}


def test_replace_into_is_refused_and_caught_once_the_trigger_is_dropped(tmp_path, capsys):
    data = logged(tmp_path)
    third = {**rows(data)[2], "outcome": "denied"}
    with pytest.raises(sqlite3.DatabaseError, match="only appended"):
        insert(data, third, "REPLACE")
    assert verify_cli(data, capsys)[0] == 0
    sql(data, "DROP TRIGGER audit_append_only")
    insert(data, third, "REPLACE")
    code, out = verify_cli(data, capsys)
    assert code == 1 and out.startswith("broken: audit entry 3: changed or replaced"), out


def test_insert_or_replace_with_the_hash_recomputed_is_caught_at_the_link(tmp_path, capsys):
    data = logged(tmp_path)
    sql(data, "DROP TRIGGER audit_append_only")
    forged = {**rows(data)[2], "key_id": "someone-else"}
    forged["entry_hash"] = entry_hash(forged)  # the entry itself is consistent
    insert(data, forged, "INSERT OR REPLACE")
    code, out = verify_cli(data, capsys)
    assert code == 1
    assert out.startswith("broken: audit entry 3: replaced or changed: entry 4 was chained to a different "
                          "entry 3"), out


def test_an_inserted_backdated_entry_is_caught(tmp_path, capsys):
    data = logged(tmp_path)
    last = rows(data)[-1]
    backdated = {**last, "entry_id": 6, "at": "2018-07-02T09:00:00.000Z", "action": "plan.delete",
                 "prev_hash": last["entry_hash"]}
    backdated["entry_hash"] = entry_hash(backdated)  # a perfect next link, but for its date
    with pytest.raises(sqlite3.DatabaseError, match="only appended"):
        insert(data, backdated)
    sql(data, "DROP TRIGGER audit_append_only")
    insert(data, backdated)
    code, out = verify_cli(data, capsys)
    assert code == 1 and out.startswith("broken: audit entry 6: dated 2018-07-02T09:00:00.000Z, before "
                                        "entry 5"), out


def test_an_entry_added_outside_the_service_is_caught_by_the_head_file(tmp_path, capsys):
    data = logged(tmp_path)
    last = rows(data)[-1]
    added = {**last, "entry_id": 6, "action": "plan.delete", "prev_hash": last["entry_hash"]}
    added["entry_hash"] = entry_hash(added)
    insert(data, added)  # a valid next link: the triggers let it in
    code, out = verify_cli(data, capsys)
    assert code == 1 and out == ("broken: audit entry 6: added outside the service: the head file names "
                                 "entry 5 as the last"), out


def test_a_deleted_entry_is_caught_in_the_middle_and_at_the_end(tmp_path, capsys):
    data = logged(tmp_path)
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        sql(data, "DELETE FROM audit WHERE entry_id = 2")
    sql(data, "DROP TRIGGER audit_no_delete", "DELETE FROM audit WHERE entry_id = 2")
    code, out = verify_cli(data, capsys)
    assert code == 1 and out.startswith("broken: audit entry 2: missing (deleted)"), out

    data = logged(tmp_path / "last")
    sql(data, "DROP TRIGGER audit_no_delete", "DELETE FROM audit WHERE entry_id = 5")
    code, out = verify_cli(data, capsys)
    assert code == 1 and out.startswith("broken: audit entry 5: missing (deleted)"), out
    # Covering the tracks in the database (the id counter, the trigger) leaves the head file.
    sql(data, "UPDATE sqlite_sequence SET seq = 4 WHERE name = 'audit'",
        audit.TRIGGERS["audit_no_delete"])
    code, out = verify_cli(data, capsys)
    assert code == 1 and out == ("broken: audit entry 5: missing (deleted): the head file names entry 5, the "
                                 "log ends at 4"), out


def test_an_edited_entry_is_caught_after_the_triggers_are_dropped(tmp_path, capsys):
    data = logged(tmp_path)
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        sql(data, "UPDATE audit SET outcome = 'denied' WHERE entry_id = 4")
    sql(data, "DROP TRIGGER audit_no_update", "UPDATE audit SET outcome = 'denied' WHERE entry_id = 4",
        audit.TRIGGERS["audit_no_update"])  # and put back
    code, out = verify_cli(data, capsys)
    assert code == 1
    assert out == "broken: audit entry 4: changed or replaced: its content does not match its hash"


def test_a_dropped_audit_table_is_caught(tmp_path, capsys):
    data = logged(tmp_path)
    sql(data, "DROP TABLE audit")
    code, out = verify_cli(data, capsys)
    assert code == 1 and out == "broken: the audit table was removed (the head file names entry 5)"
    with pytest.raises(BrokenAuditLog, match="removed"):
        create_app(config_for(tmp_path), planner=lambda job: None)


@pytest.mark.parametrize("trigger", sorted(audit.TRIGGERS))
def test_a_dropped_or_weakened_trigger_is_caught(tmp_path, capsys, trigger):
    data = logged(tmp_path)
    sql(data, f"DROP TRIGGER {trigger}")
    code, out = verify_cli(data, capsys)
    assert code == 1 and out == f"broken: trigger {trigger} on the audit table is missing", out
    sql(data, f"CREATE TRIGGER {trigger} BEFORE UPDATE ON audit WHEN 0 BEGIN SELECT 1; END")
    assert verify_cli(data, capsys) == (1, f"broken: trigger {trigger} on the audit table is changed")


def test_appends_from_many_threads_keep_one_chain(tmp_path, capsys):
    data = logged(tmp_path, 0)
    store = Store(data / "patrols.db")

    def write(i: int) -> None:
        for j in range(20):
            store.audit(f"{i:012d}", "viewer", "plan.read", None, "ok", f"{i}.{j}")

    threads = [threading.Thread(target=write, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    entries = rows(data)
    assert [e["entry_id"] for e in entries] == list(range(1, 121))
    assert [e["at"] for e in entries] == sorted(e["at"] for e in entries)
    assert verify_cli(data, capsys)[0] == 0


def test_times_never_go_back_even_when_the_clock_does(tmp_path, monkeypatch):
    data = logged(tmp_path, 2)
    store = Store(data / "patrols.db")
    monkeypatch.setattr(audit, "utc_now", lambda: "2001-01-01T00:00:00.000Z")
    entry = store.audit("k" * 12, "planner", "plan.read", None, "ok")
    assert entry.at == rows(data)[1]["at"] and entry.at > "2001"
    assert verify(data / "patrols.db").intact


def test_audit_commits_are_synchronous_and_the_rest_is_not(tmp_path):
    store = Store(logged(tmp_path, 1) / "patrols.db")
    store.audit("k" * 12, "planner", "plan.read", None, "ok")
    assert store.audit_log._db().execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert store._db().execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
    assert store.audit_log._db().execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_an_unchained_log_of_the_first_schema_is_kept_aside(tmp_path, capsys):
    data = tmp_path / "data"
    data.mkdir()
    db = sqlite3.connect(data / "patrols.db", isolation_level=None)
    db.executescript("""
        CREATE TABLE audit (entry_id INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL,
            key_id TEXT NOT NULL, role TEXT NOT NULL, action TEXT NOT NULL, plan_id TEXT,
            outcome TEXT NOT NULL, detail TEXT NOT NULL DEFAULT '');
        CREATE INDEX audit_by_plan ON audit (plan_id);
        CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
        INSERT INTO audit (at, key_id, role, action, outcome) VALUES
            ('2025-01-01T00:00:00.000Z', 'a', 'admin', 'key.create', 'ok'),
            ('2025-01-02T00:00:00.000Z', 'a', 'admin', 'audit.read', 'ok');
    """)
    db.close()
    code, out = verify_cli(data, capsys)
    assert code == 1 and "predates the hash chain" in out
    app = create_app(config_for(tmp_path), planner=lambda job: None)  # starts, and chains the log
    store = app.state.store
    [first] = store.audit_entries(10)
    assert first.action == "audit.chain_started" and first.detail.startswith("2 entries")
    assert verify_cli(data, capsys)[0] == 0
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        sql(data, "DELETE FROM audit_unchained")


# The service on a broken log ----------------------------------------------------------


def test_the_service_refuses_to_start_on_a_broken_chain_unless_told_to(tmp_path, capsys):
    data = logged(tmp_path)
    sql(data, "DROP TRIGGER audit_no_update", "UPDATE audit SET detail = 'nothing' WHERE entry_id = 2")
    config = config_for(tmp_path)
    assert config.data_dir == data

    code = cli_main(["serve", "--data", str(data), "--port", "1"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err
    assert "audit entry 2: changed or replaced" in err and "--accept-broken-audit" in err
    with pytest.raises(BrokenAuditLog, match="audit entry 2"):
        create_app(config, planner=lambda job: None)
    # Nor is anything written to it, nor its triggers put back, by the key commands.
    assert cli_main(["keys", "create", "--role", "viewer", "--data", str(data)]) == 2
    assert "audit entry 2" in capsys.readouterr().err
    assert len(rows(data)) == 5

    app = create_app(config, planner=lambda job: None, accept_broken_audit=True)
    accepted = [e for e in app.state.store.audit_entries(100) if e.action == audit.ACCEPT_ACTION]
    assert [e.detail for e in accepted] == [
        "audit entry 2: changed or replaced: its content does not match its hash",
        "trigger audit_no_update on the audit table is missing"]
    # Accepted once, started on without the flag after; verify still tells.
    create_app(config, planner=lambda job: None)
    code, out = verify_cli(data, capsys)
    assert code == 1 and out.startswith("broken: audit entry 2: changed or replaced") and "accepted" in out
    # A new break is not covered by the old acceptance.
    sql(data, "DROP TRIGGER audit_no_delete", "DELETE FROM audit WHERE entry_id = 3")
    with pytest.raises(BrokenAuditLog, match="audit entry 3: missing"):
        create_app(config, planner=lambda job: None)


# Every request leaves an entry ------------------------------------------------------------


@pytest.fixture
def service(tmp_path):
    gate = threading.Event()
    app = create_app(config_for(tmp_path, workers=1, queue=8, max_body_bytes=1000),
                     planner=lambda job: (gate.wait(30), ({}, {}))[1],
                     executor=lambda: ThreadPoolExecutor(1))
    store = app.state.store
    keys = {role: create_key(store, role, role)[0] for role in ("admin", "planner", "viewer")}
    with TestClient(app) as client:
        yield client, store, keys
        gate.set()


def last_id(store: Store) -> int:
    entries = store.audit_entries(100_000)
    return entries[-1].entry_id if entries else 0


def _h(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_every_request_is_audited_refused_ones_included(service):
    client, store, keys = service
    ids = {role: key[3:].split(".")[0] for role, key in keys.items()}
    start = last_id(store)
    plan = {"area": "leeds", "week": WEEK}
    asked = [
        (client.get("/areas"), "areas.list", "-", "unauthenticated"),
        (client.get("/areas", headers=_h("pk_0123456789ab.wrong")), "areas.list", "0123456789ab",
         "unauthenticated"),
        (client.get("/areas", headers=_h(f"pk_{ids['planner']}.wrong")), "areas.list", ids["planner"],
         "unauthenticated"),
        (client.get("/areas", headers=_h(keys["viewer"])), "areas.list", ids["viewer"], "ok"),
        (client.get("/keys", headers=_h(keys["admin"])), "key.list", ids["admin"], "ok"),
        (client.get("/audit", headers=_h(keys["viewer"])), "audit.read", ids["viewer"], "denied"),
        (client.get("/nowhere", headers=_h(keys["viewer"])), "request", ids["viewer"], "not_found"),
        (client.put("/plans", headers=_h(keys["planner"])), "request", ids["planner"], "invalid"),
        (client.post("/plans", headers=_h(keys["planner"]), json={**plan, "week": "2018-07-03"}),
         "plan.create", ids["planner"], "invalid"),
        (client.post("/plans", headers=_h(keys["planner"]), json={"area": "leeds"}), "plan.create",
         ids["planner"], "invalid"),
        (client.post("/plans", headers=_h(keys["planner"]), content=b"x" * 2000), "request", ids["planner"],
         "invalid"),
        (client.post("/plans", headers=_h(keys["planner"]), json=plan), "plan.create", ids["planner"], "ok"),
        (client.post("/plans", headers=_h(keys["planner"]), json=plan), "plan.create", ids["planner"], "ok"),
        (client.post("/plans", headers=_h(keys["planner"]), json=plan), "plan.create", ids["planner"],
         "refused"),
        (client.get("/health"), "health", "-", "ok"),
        (client.get("/areas", headers={**_h(keys["viewer"]), "host": "evil.example"}), "host.refused",
         ids["viewer"], "invalid"),
    ]
    entries = store.audit_entries(1000, after_id=start)
    assert len(entries) == len(asked), [(e.action, e.outcome) for e in entries]
    for (response, action, key_id, outcome), entry in zip(asked, entries, strict=True):
        assert (entry.action, entry.key_id, entry.outcome) == (action, key_id, outcome), (
            response.status_code, response.text, entry)
        assert entry.client == "testclient"
    assert entries[2].role == "-"  # a known id with a wrong secret is not that key's role
    assert "week" in entries[8].detail and "Tuesday" in entries[8].detail
    assert entries[-1].detail.startswith("GET /areas: Host evil.example")
    assert entries[11].plan_id is not None
    assert [e.at for e in entries] == sorted(e.at for e in entries)


def test_a_listing_leaves_one_entry_per_plan_it_discloses(service):
    client, store, keys = service
    made = [f"00000000-0000-4000-8000-{i:012d}" for i in range(3)]
    for plan_id in made:
        store.add_plan(plan_id, "leeds", WEEK, 0, None, False, "someone")
    last = last_id(store)
    listing = client.get("/plans?limit=2", headers=_h(keys["viewer"])).json()
    shown = [item["id"] for item in listing["items"]]
    entries = store.audit_entries(1000, after_id=last)
    assert [(e.action, e.plan_id) for e in entries] == [("plan.list", p) for p in shown]
    assert all(e.detail == "listed 2 of 3" for e in entries)
    # The log can be read over the API, with each entry's place in the chain.
    audit_page = client.get(f"/audit?after_id={last}", headers=_h(keys["admin"])).json()
    assert [e["plan_id"] for e in audit_page] == shown
    assert audit_page[1]["prev_hash"] == audit_page[0]["entry_hash"]
    assert audit_page[0]["client"] == "testclient"


def test_no_answer_goes_out_that_the_log_does_not_hold(service, monkeypatch):
    client, store, keys = service
    # A failure inside the service is answered (500, a problem) and audited as an error.
    monkeypatch.setattr(store, "plans", lambda *a, **k: 1 / 0)
    r = client.get("/plans", headers=_h(keys["viewer"]))
    assert r.status_code == 500 and r.headers["content-type"] == "application/problem+json"
    assert r.headers["x-frame-options"] == "DENY"
    last = store.audit_entries(1000)[-1]
    assert (last.action, last.outcome) == ("plan.list", "error")
    # If the entry cannot be written, nothing is served.
    monkeypatch.setattr(store.audit_log, "append", lambda records: 1 / 0)
    r = client.get("/areas", headers=_h(keys["viewer"]))
    assert r.status_code == 503 and r.headers["content-type"] == "application/problem+json"
    assert "leeds" not in r.text and "audit log could not be written" in r.json()["detail"]
