"""Also (issue 13): a per-key budget on the write routes (FOLLOWUP_API_RATE_LIMIT writes a
minute, per API process), answered with 429 and Retry-After, so a leaked key cannot flood."""

from __future__ import annotations

import pytest

from tests.security.conftest import Client
from worker.api.rate_limit import WriteBudget
from worker.engine.settings import ConfigError, Settings

EVENT = {"type": "lead.mql", "lead": {"email": "a@example.org"}}


class FakeMonotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_writes_past_the_budget_get_429_with_retry_after(api: Client) -> None:
    """Also: 3 writes a minute: the 4th is a 429 telling when to retry; reads are not counted;
    another key has its own budget; time refills it."""
    clock = FakeMonotonic()
    api.app.state.write_budget = WriteBudget(3, clock=clock)
    statuses = [api.post("/events", json=EVENT).status_code for _ in range(4)]
    assert statuses == [202, 202, 202, 429]
    refused = api.post("/leads", json={"email": "b@example.org"})
    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "20"  # one write every 20 s at 3 a minute
    assert api.get("/sequences").status_code == 200
    other = api.new_key("other", scopes=["events:write"])
    assert api.post("/events", key=other, json=EVENT).status_code == 202
    clock.now += 20
    assert api.post("/events", json=EVENT).status_code == 202
    assert api.post("/events", json=EVENT).status_code == 429


def test_a_refused_write_is_refused_before_its_body_is_read(api: Client) -> None:
    """Also: the budget is checked with the key, before the body, so a 429 costs nothing."""
    from tests.security.test_auth_before_body import call_with_upload

    api.app.state.write_budget = WriteBudget(1, clock=FakeMonotonic())
    assert api.post("/leads", json={"email": "c@example.org"}).status_code in (200, 201)
    status, pulled = call_with_upload(api.app, api.auth())
    assert (status, pulled) == (429, 0)


def test_the_budget_is_a_setting_and_zero_turns_it_off() -> None:
    """Also: FOLLOWUP_API_RATE_LIMIT, 600 by default; 0 means no limit; junk is refused."""
    assert Settings.from_mapping({}).api_rate_limit == 600
    assert Settings.from_mapping({"FOLLOWUP_API_RATE_LIMIT": "0"}).api_rate_limit == 0
    assert all(WriteBudget(0).take("k") is None for _ in range(10_000))
    with pytest.raises(ConfigError, match="FOLLOWUP_API_RATE_LIMIT must be a whole number"):
        Settings.from_mapping({"FOLLOWUP_API_RATE_LIMIT": "lots"})
