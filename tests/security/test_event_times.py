"""Finding 6: an occurred_at that UTC cannot hold, or far outside any real event, is a 422
naming the field (it was a 500: an overflow while converting to UTC)."""

from __future__ import annotations

import pytest

from tests.security.conftest import Client


@pytest.mark.parametrize(
    "occurred_at",
    [
        "0001-01-01T00:00:00+05:00",  # before year 1 once in UTC: overflow
        "9999-12-31T23:59:59-05:00",  # after year 9999 once in UTC: overflow
        "0001-01-01T00:00:00Z",
        "1969-12-31T23:59:59Z",
        "2100-01-01T00:00:00Z",
    ],
)
def test_an_occurred_at_out_of_range_is_a_422_naming_the_field(
    api: Client, occurred_at: str
) -> None:
    """Finding 6: 422 with loc body.occurred_at, never a 500, and nothing is stored."""
    body = {"type": "lead.mql", "lead": {"email": "a@example.org"}, "occurred_at": occurred_at}
    response = api.post("/events", json=body)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "occurred_at"]
    assert "occurred_at" in response.json()["message"]


def test_a_plausible_occurred_at_is_still_accepted(api: Client) -> None:
    """Finding 6: a backdated CRM event keeps working."""
    body = {
        "type": "lead.mql",
        "lead": {"email": "a@example.org"},
        "occurred_at": "1999-12-31T23:00:00-05:00",
    }
    assert api.post("/events", json=body).status_code == 202
