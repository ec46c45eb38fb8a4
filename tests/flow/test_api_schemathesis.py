"""Schemathesis over the whole API, from its own OpenAPI schema: valid and invalid requests
alike never get a 5xx, and every response matches the schema."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any, cast

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from testkit.harness import Harnesses, template
from worker.api.app import create_app
from worker.auth.apikeys import create_key
from worker.engine.db import transaction
from worker.engine.runtime import Runtime

SEQUENCE = """
name: mql
trigger: lead.mql
exit_on: [email.replied]
sla:
  first_touch_within: 4h
steps:
  - id: intro
    email: t/intro
  - id: call
    task: Call {{ lead.email }}
    wait: 1d
"""
EXAMPLES_PER_ROUTE = 30


# The schema is read when the module loads; the runtime behind the routes comes per module
# (schemathesis.pytest.from_fixture does not run on pytest 9, so the app is built eagerly).
APP = create_app(cast(Runtime, None), process_inline=True)
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


@pytest.fixture(scope="module", autouse=True)
def runtime(make_shared_harness: Harnesses) -> Iterator[Runtime]:
    """Events are applied in the process (the app's applier, which each call's lifespan starts
    and stops, applying what the call stored), so generated events run enrollment code too."""
    h = make_shared_harness(
        sequences={"mql.yaml": SEQUENCE}, templates={"t/intro.j2": template("Intro")}
    )
    APP.state.runtime = h.rt
    yield h.rt
    APP.state.runtime = None


@pytest.fixture(scope="module")
def api_key(runtime: Runtime) -> str:
    with transaction(runtime.engine) as session:
        return create_key(session, "schemathesis", now=runtime.clock.now())


@schema.parametrize()
@settings(max_examples=EXAMPLES_PER_ROUTE, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_request_gets_a_server_error_and_every_response_matches_the_schema(
    case: Any, api_key: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Generated requests with a valid key: a 4xx for bad input, never a 5xx, schema-true."""
    with caplog.at_level(logging.WARNING, logger="followup"):
        case.call_and_validate(
            headers={"Authorization": f"Bearer {api_key}"},
            checks=[not_a_server_error, response_schema_conformance],
        )
    failed = [
        r for r in caplog.records if r.name == "followup.events" or r.levelno >= logging.ERROR
    ]
    assert not failed, "an accepted event failed while being applied"
