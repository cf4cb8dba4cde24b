"""ASGI middleware around the API: security headers, the hosts it answers to, an audit entry per request.

From the outside in: :class:`SecurityHeaders` puts the same headers on every
answer (errors included); :class:`RequestAudit` appends every request to the
audit log before its answer is sent, refused ones included; :class:`AllowedHosts`
refuses a ``Host`` the server is not configured for.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import anyio
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from patrols.service.audit import NO_KEY, AuditLog, AuditRecord
from patrols.service.problems import problem_response

log = logging.getLogger("patrols.service")

API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
"""The API's answers are data, never pages: nothing may load, run or frame them."""
DOCS_CSP = ("default-src 'none'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
            "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
            "form-action 'none'")
"""``/docs``: Swagger UI's own script and style from this server, its schema fetched from here."""
MAP_CSP = ("default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:; "
           "base-uri 'none'; form-action 'none'")
"""A map's policy when its file does not state its own: inline script and style, ``data:`` images."""
_SAME = [(b"cache-control", b"no-store"), (b"x-content-type-options", b"nosniff"),
         (b"x-frame-options", b"DENY"), (b"referrer-policy", b"no-referrer"),
         (b"cross-origin-resource-policy", b"same-origin")]
_REPLACED = {name for name, _ in _SAME} | {b"server"}
_META_CSP = re.compile(rb'<meta http-equiv="Content-Security-Policy" content="([^"<>]*)"', re.IGNORECASE)


def map_csp(path: str | Path) -> str:
    """The Content-Security-Policy header of a map: the one its ``map.html`` states, and no framing.

    ``map.html`` carries its policy in a ``<meta>`` tag (inline script and
    style, ``data:`` images, and the area's tile host if it has one), so the
    page is as strict opened from a file as served; ``frame-ancestors`` works
    only as a header, so it is added here.

    Parameters
    ----------
    path
        The map file.

    Returns
    -------
    str
    """
    with open(path, "rb") as fh:
        found = _META_CSP.search(fh.read(8192))
    policy = found.group(1).decode("ascii", "replace") if found else MAP_CSP
    return f"{policy.rstrip('; ')}; frame-ancestors 'none'"


class SecurityHeaders:
    """ASGI middleware: every answer gets the same protective headers and no ``server`` banner.

    ``Cache-Control: no-store`` (plans are sensitive), ``nosniff``,
    ``X-Frame-Options: DENY``, ``Referrer-Policy: no-referrer`` and a strict
    Content-Security-Policy (:data:`API_CSP`) unless the route set its own (the
    map, the docs).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", ()) if k.lower() not in _REPLACED]
                if not any(k.lower() == b"content-security-policy" for k, _ in headers):
                    headers.append((b"content-security-policy", API_CSP.encode("ascii")))
                message = {**message, "headers": headers + _SAME}
            await send(message)

        await self.app(scope, receive, send_with)


def host_name(value: str) -> str:
    """The host name of a ``Host`` header, without the port, lower case (``[::1]:8000`` -> ``::1``)."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[1:].partition("]")[0]
    if value.count(":") == 1:
        value = value.partition(":")[0]
    return value.rstrip(".")


class AllowedHosts:
    """ASGI middleware: refuse (400, a problem) a request whose ``Host`` is not one of ``hosts``.

    A name ``*.example.org`` allows every name under ``example.org``; ``*``
    allows any. Against DNS rebinding: a page elsewhere cannot reach a service
    on loopback through a name of its own.
    """

    def __init__(self, app: ASGIApp, hosts: Iterable[str]) -> None:
        self.app = app
        hosts = [h.lower() for h in hosts]
        self.any = "*" in hosts
        self.exact = {h for h in hosts if not h.startswith("*")}
        self.suffixes = tuple(h[1:] for h in hosts if h.startswith("*."))

    def allows(self, host: str) -> bool:
        """Whether a ``Host`` header's name is served."""
        name = host_name(host)
        return self.any or name in self.exact or (bool(self.suffixes) and name.endswith(self.suffixes))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        host = next((v.decode("latin-1") for k, v in scope.get("headers", ()) if k == b"host"), "")
        if self.allows(host):
            await self.app(scope, receive, send)
            return
        shown = host_name(host)[:100] or "(none)"
        note = scope.get("state", {}).get("audit")
        if note is not None:
            note.action, note.detail = "host.refused", f"Host {shown}"
        await problem_response(400, f"this service does not answer to the host name {shown!r} "
                               "(allowed_hosts in its config)", scope.get("path", ""))(scope, receive, send)


@dataclass
class RequestNote:
    """What a request's audit entry will say, filled in as the request is handled.

    ``plan_ids`` are the plans the answer concerns or discloses: one entry is
    written per plan (a listing of 50 plans makes 50 entries), one with no plan
    when there is none. ``action`` and ``outcome`` default to the route's action
    and what the status code says. ``checked`` says the route checked the key;
    if none did (an unknown path, a refused host, a body too large), the key
    is checked when the entry is written.
    """

    key_id: str = NO_KEY
    role: str = NO_KEY
    checked: bool = False
    action: str | None = None
    plan_ids: list[str] | None = None
    outcome: str | None = None
    detail: str = ""


_OUTCOMES = {401: "unauthenticated", 403: "denied", 404: "not_found", 409: "not_ready", 429: "refused"}


def outcome_of(status: int) -> str:
    """The audit outcome a status code means: ``ok``, ``denied``, ``not_found``, ``invalid``, ..."""
    if status < 400:
        return "ok"
    return _OUTCOMES.get(status, "invalid" if status < 500 else "error")


class _AuditFailed(Exception):
    """The audit entry of a request could not be written."""


class RequestAudit:
    """ASGI middleware: append each request to the audit log before its answer starts.

    The entry (or entries) are committed, durably, before the status line goes
    out, so no answer is ever sent that the log does not hold; if the log cannot
    be written, the answer is a 503 instead. An unexpected error is logged,
    audited and answered as a 500 problem here, inside the security headers.

    Parameters
    ----------
    app
        The application.
    audit_log
        Where entries go.
    actions
        Route (endpoint) name -> audit action; requests to no route are ``request``.
    identify
        A presented key -> the key id and role to record (the claimed id, or
        ``-``, and ``-`` when the key is not accepted).
    """

    def __init__(self, app: ASGIApp, audit_log: AuditLog, actions: Mapping[str, str],
                 identify: Callable[[str], tuple[str, str]]) -> None:
        self.app = app
        self.audit_log = audit_log
        self.actions = dict(actions)
        self.identify = identify

    def _action(self, scope: Scope) -> str:
        route = scope.get("route")
        if route is not None and scope["method"] in (getattr(route, "methods", None) or ()):
            return self.actions.get(getattr(route, "name", ""), "request")
        return "request"

    def _record(self, scope: Scope, note: RequestNote, status: int) -> None:
        if not note.checked:
            sent = next((v for k, v in scope.get("headers", ()) if k == b"authorization"), b"")
            scheme, _, presented = sent.decode("latin-1").strip().partition(" ")
            if scheme.lower() == "bearer" and presented.strip():
                note.key_id, note.role = self.identify(presented.strip())
        action = note.action or self._action(scope)
        detail = note.detail
        if action in ("request", "host.refused"):
            where = f"{scope['method']} {scope.get('path', '')[:200]}"
            detail = f"{where}: {detail}" if detail else where
        client = (scope.get("client") or ("",))[0] or ""
        outcome = note.outcome or outcome_of(status)
        self.audit_log.append([AuditRecord(note.key_id, note.role, action, plan_id, outcome, detail, client)
                               for plan_id in (note.plan_ids or [None])])

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        note = RequestNote()
        scope.setdefault("state", {})["audit"] = note
        state = "new"

        async def send_recorded(message: Message) -> None:
            nonlocal state
            if message["type"] == "http.response.start" and state == "new":
                try:
                    await anyio.to_thread.run_sync(self._record, scope, note, message["status"])
                except Exception as exc:
                    state = "failed"
                    raise _AuditFailed from exc
                state = "recorded"
            await send(message)

        path = scope.get("path", "")
        try:
            await self.app(scope, receive, send_recorded)
        except Exception:
            if state == "recorded":
                raise  # the answer is under way; the server logs the error and closes it
            if state == "failed":
                log.exception("the audit entry of %s %s could not be written", scope["method"], path)
                await problem_response(503, "the audit log could not be written, so nothing was served; "
                                       "the error is in the service's log", path)(scope, receive, send)
                return
            log.exception("unexpected error on %s %s", scope["method"], path)
            await problem_response(500, "the service failed on this request; the error is in its log",
                                   path)(scope, receive, send_recorded)
