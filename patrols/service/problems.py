"""Errors as ``application/problem+json`` (RFC 9457), and the request body size limit.

Every error the service answers has the same shape: ``type``, ``title``,
``status``, ``detail`` and ``instance`` (the request path), plus ``errors``
(one line per bad field) when the request did not validate.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

MEDIA_TYPE = "application/problem+json"
TYPE_BASE = "https://patrols.invalid/problems/"
_TITLES = {
    400: "Bad request", 401: "Not authenticated", 403: "Forbidden", 404: "Not found",
    405: "Method not allowed", 409: "Conflict", 413: "Request body too large",
    415: "Unsupported media type", 422: "Invalid request", 429: "Too many plan jobs",
    500: "Internal server error", 503: "Service unavailable",
}
log = logging.getLogger("patrols.service")


class Problem(BaseModel):
    """An RFC 9457 problem detail."""

    type: str = Field(description="URI naming the kind of problem")
    title: str = Field(description="Short summary of the kind of problem")
    status: int = Field(description="HTTP status code")
    detail: str = Field(description="What went wrong with this request, in plain words")
    instance: str = Field(description="The request path")
    errors: list[str] | None = Field(default=None, description="One line per invalid field")


class ApiProblem(Exception):
    """Raise to answer with a problem.

    Parameters
    ----------
    status
        HTTP status.
    detail
        What went wrong, in plain words.
    headers
        Extra response headers (e.g. ``WWW-Authenticate``).
    errors
        One line per bad field (``week: ...``), for a request that did not validate.
    """

    def __init__(self, status: int, detail: str, headers: dict[str, str] | None = None,
                 errors: list[str] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = headers
        self.errors = errors


def _slug(status: int) -> str:
    return _TITLES.get(status, "error").lower().replace(" ", "-")


def problem_body(status: int, detail: str, instance: str, errors: list[str] | None = None) -> dict[str, Any]:
    """The JSON body of a problem."""
    body: dict[str, Any] = {
        "type": TYPE_BASE + _slug(status), "title": _TITLES.get(status, "Error"),
        "status": status, "detail": detail, "instance": instance,
    }
    if errors:
        body["errors"] = errors
    return body


def problem_response(status: int, detail: str, instance: str, errors: list[str] | None = None,
                     headers: dict[str, str] | None = None) -> JSONResponse:
    """A problem as a response."""
    return JSONResponse(problem_body(status, detail, instance, errors), status_code=status,
                        media_type=MEDIA_TYPE, headers=headers)


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries declaring problem bodies for these statuses."""
    return {s: {"model": Problem, "description": _TITLES.get(s, "Error"),
                "content": {MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}}
            for s in statuses}


def _field_error(err: dict[str, Any]) -> str:
    where = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "body"
    return f"{where}: {err.get('msg', 'invalid')}"


def _noted(request: Request, detail: str) -> str:
    # The request's audit entry says why it was refused, unless the route said more.
    note = getattr(request.state, "audit", None)
    if note is not None and not note.detail:
        note.detail = detail
    return detail


def install_problem_handlers(app: FastAPI) -> None:
    """Make every error of ``app`` answer as ``application/problem+json``."""

    @app.exception_handler(ApiProblem)
    async def _api(request: Request, exc: ApiProblem) -> JSONResponse:
        return problem_response(exc.status, _noted(request, exc.detail), request.url.path, exc.errors,
                                headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [_field_error(e) for e in exc.errors()]
        return problem_response(422, _noted(request, "the request is not valid: " + "; ".join(errors[:5])),
                                request.url.path, errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else json.dumps(exc.detail)
        headers = dict(getattr(exc, "headers", None) or {})
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"no such resource: {request.url.path}"
        elif exc.status_code == 400 and "parsing the body" in detail:
            detail = "the request body could not be read as JSON (UTF-8)"
        elif exc.status_code == 405:
            # Each method of a path is its own route, so the router's Allow names
            # only one of them: list every method the path answers.
            allowed = sorted({m for route in request.app.routes
                              if route.matches(request.scope)[0] == Match.PARTIAL
                              for m in getattr(route, "methods", None) or ()})
            headers["Allow"] = ", ".join(allowed)
            detail = f"{request.method} is not allowed here; use {' or '.join(allowed)}"
        return problem_response(exc.status_code, _noted(request, detail), request.url.path,
                                headers=headers or None)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return problem_response(500, "the service failed on this request; the error is in its log",
                                request.url.path)


@dataclass(frozen=True)
class RouteLimit:
    """A body limit of its own for one method and path (a route taking files, not JSON).

    Parameters
    ----------
    method
        The HTTP method (``POST``).
    path
        A regular expression the whole request path must match.
    max_bytes
        Its largest body.
    setting
        The config key that sets it, named in the 413.
    """

    method: str
    path: str
    max_bytes: int
    setting: str


class BodyLimit:
    """ASGI middleware: refuse request bodies over ``max_bytes`` with a 413 problem.

    The declared ``Content-Length`` is checked first; a body sent without one
    (chunked) is counted as it arrives. A request matching one of ``routes``
    has that route's limit instead (a track upload is tens of MB, a JSON
    request a few kB).
    """

    def __init__(self, app: ASGIApp, max_bytes: int, routes: Sequence[RouteLimit] = ()) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.routes = [(r.method.upper(), re.compile(r.path), r) for r in routes]

    def limit(self, scope: Scope) -> tuple[int, str]:
        """The largest body a request may send, and the words of its 413."""
        path = scope.get("path", "")
        for method, pattern, route in self.routes:
            if scope.get("method") == method and pattern.fullmatch(path):
                return route.max_bytes, (f"request bodies here are limited to {route.max_bytes} bytes "
                                         f"({route.setting} in the server config)")
        return self.max_bytes, f"request bodies are limited to {self.max_bytes} bytes"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        max_bytes, detail = self.limit(scope)
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    too_big = int(value) > max_bytes
                except ValueError:
                    too_big = False
                if too_big:
                    await problem_response(413, detail, scope.get("path", ""))(scope, receive, send)
                    return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > max_bytes:
                    # Raised while the route reads its body, so the app's own
                    # handler answers it as a problem like any other error.
                    raise StarletteHTTPException(413, detail)
            return message

        await self.app(scope, counted, send)
