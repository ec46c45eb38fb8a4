"""GET /compliance: who may read it, and that it is the page `report --format html` writes."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from testkit.harness import TEST_SECRET, Harness, Harnesses
from tests.support.cli import Cli
from tests.support.three_owners import FILES, TEMPLATES, play_three_owners
from worker.auth.apikeys import create_key
from worker.auth.tokens import sign
from worker.compliance.dashboard_link import create_link
from worker.engine.db import transaction

SECRET = TEST_SECRET  # the harness's FOLLOWUP_SECRET_KEY
KEYS = (SECRET,)


def dashboard_token(h: Harness, *, now: datetime, days: int = 7) -> str:
    """A stored link's token, as `followup compliance link` makes it."""
    with transaction(h.rt.engine) as session:
        _, url = create_link(session, keys=KEYS, base_url="https://x.test", now=now, days=days)
    return url.partition("?token=")[2]


SECTIONS = ("owners", "strikes", "breaches", "sequences")


@pytest.fixture(scope="module")
def played(make_shared_harness: Harnesses) -> Harness:
    """The three-owner story, played once for every test here (they only read it)."""
    h = make_shared_harness(sequences=FILES, templates=TEMPLATES)
    play_three_owners(h)
    return h


@pytest.fixture(scope="module")
def client(played: Harness) -> Iterator[TestClient]:
    from worker.api.app import create_app

    with TestClient(create_app(played.rt)) as test_client:
        yield test_client


def test_the_page_needs_a_key_or_a_link(client: TestClient) -> None:
    """Given no credentials, when the page is asked for, then it is 401, not the figures."""
    response = client.get("/compliance")
    assert response.status_code == 401
    assert "ben@acme.test" not in response.text


def test_a_signed_link_opens_the_page_until_it_expires(client: TestClient, played: Harness) -> None:
    """Given a 1-day link, then it works now and stops working once the day has passed."""
    now = played.clock.now()
    fresh = dashboard_token(played, now=now, days=1)
    stale = dashboard_token(played, now=now - timedelta(days=1, seconds=1), days=1)
    page = client.get("/compliance", params={"token": fresh})
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert all(owner in page.text for owner in ("ana@acme.test", "ben@acme.test", "cy@acme.test"))
    assert client.get("/compliance", params={"token": stale}).status_code == 401


@pytest.mark.parametrize(
    "token",
    [
        sign("v2:1:99999999999", keys=KEYS, purpose="unsubscribe"),  # another kind of token
        sign("v2:1:99999999999", keys=("another-key-" + "x7" * 20,), purpose="dashboard"),
        "not-a-token",
    ],
)
def test_tokens_not_made_for_the_dashboard_are_refused(client: TestClient, token: str) -> None:
    """Given an unsubscribe token, a foreign signature or junk, then the page is refused."""
    assert client.get("/compliance", params={"token": token}).status_code == 401


def test_an_api_key_opens_the_page(client: TestClient, played: Harness) -> None:
    """Given a live API key, when sent as Bearer, then the page opens; a wrong key does not."""
    with transaction(played.rt.engine) as session:
        key = create_key(session, "vp-sales", now=played.clock.now())
    headers = {"Authorization": f"Bearer {key}"}
    assert client.get("/compliance", headers=headers).status_code == 200
    wrong = {"Authorization": "Bearer fu_wrong"}
    assert client.get("/compliance", headers=wrong).status_code == 401


def test_bad_dates_are_a_422(client: TestClient, played: Harness) -> None:
    """Given an unreadable --since, then the answer names the field instead of failing."""
    token = dashboard_token(played, now=played.clock.now())
    response = client.get("/compliance", params={"token": token, "since": "last tuesday"})
    assert response.status_code == 422
    assert "since" in response.text


def _section(html: str, name: str) -> str:
    return html.split(f'<section id="{name}">')[1].split("</section>")[0]


def test_report_as_html_is_the_same_page(
    client: TestClient, played: Harness, cli: Cli, capsys: pytest.CaptureFixture[str]
) -> None:
    """Given the CLI and the API, then owners, strikes and breaches sections are identical."""
    assert cli.on(played)("compliance", "report", "--format", "html") == 0
    written = capsys.readouterr().out
    token = dashboard_token(played, now=played.clock.now())
    served = client.get("/compliance", params={"token": token}).text
    assert written.startswith("<!DOCTYPE html>")
    for name in SECTIONS:
        assert _section(written, name) == _section(served, name)
