"""Schemathesis over the service's OpenAPI schema: no request makes the server fail.

Every operation is called with generated requests (valid and invalid), as a
planner and as an admin, against the real application with a fast planner. The
responses must be no server error and must match the schema: status codes,
content types, bodies and headers as declared. Examples are bounded so the run
takes well under a minute.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, settings
from test_service import config_for, make_leeds_plan, quick_planner

from patrols.service.app import create_app
from patrols.service.keys import create_key


def _service():
    # Built at import: schemathesis reads the schema when tests are collected
    # (its fixture-based loader does not work with this pytest).
    tmp = Path(tempfile.mkdtemp(prefix="patrols-schema-"))
    atexit.register(shutil.rmtree, tmp, ignore_errors=True)

    def planner(job):
        return quick_planner(make_leeds_plan())(job)  # the plan is made on first use only

    app = create_app(config_for(tmp, workers=1, queue=4), planner=planner,
                     executor=lambda: ThreadPoolExecutor(1))
    keys = {role: create_key(app.state.store, role)[0] for role in ("admin", "planner")}
    return app, keys


service = _service()


# A schema can say that a week is a date, not that it is a Monday within the
# range the server plans around today and the area's data: so a schema-valid
# week may be refused (422, a problem naming "week") by POST /plans, and only
# there. tests/test_service_security.py checks which weeks are accepted.
_WEEK_RULES = {"include-path": "/plans", "include-method": "POST", "checks": {"positive_data_acceptance": {
    "expected-statuses": ["2xx", "3xx", "401", "403", "404", "409", "422", "429", "5xx"]}}}


def _schema(role: str):
    # The key goes in through schemathesis' own auth config, so it knows every
    # request carries one (and does not count "no key" cases as sent without).
    config = schemathesis.Config.from_dict(
        {"auth": {"openapi": {"HTTPBearer": {"bearer": service[1][role]}}}, "operations": [_WEEK_RULES]})
    return schemathesis.openapi.from_asgi("/openapi.json", service[0], config=config)


planner_schema = _schema("planner")
admin_schema = _schema("admin")


@planner_schema.parametrize()
@settings(max_examples=40, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
def test_no_request_as_a_planner_makes_a_server_error(case):
    case.call_and_validate()


@admin_schema.parametrize()
@settings(max_examples=25, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
def test_no_request_as_an_admin_makes_a_server_error(case):
    case.call_and_validate()
