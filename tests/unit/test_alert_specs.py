"""team.yaml alerts, webhooks, managers, pools and working hours: bad input names file:line."""

from __future__ import annotations

from pathlib import Path

import pytest

from testkit.harness import template, write_files
from worker.specs.catalog import Catalog, CatalogError, load_catalog
from worker.specs.rendering import Renderer

SEQUENCE = """
name: quick
trigger: lead.mql
send_window:
  days: [mon, tue, wed, thu, fri]
  hours: "09:00-17:00"
sla:
  first_touch_within: 4h
  clock: business_hours
steps:
  - id: hello
    email: t/hello
"""
TEAM = """
owners:
  - email: ana@acme.test
    manager: boss@acme.test
    working_hours:
      hours: "22:00-06:00"
      timezone: Europe/Madrid
  - email: ben@acme.test
  - email: boss@acme.test
alerts:
  at_risk_after: 80%
  channels: [email, slack, webhook]
  slack_webhook_env: SLACK_URL
  reassign_after: 2h
  pool: [ana@acme.test, ben@acme.test]
webhooks:
  - url: https://crm.example.com/hooks/followup
    events: [sla.at_risk, sla.breached]
    secret_env: CRM_SECRET
"""
ENVIRON = {"SLACK_URL": "https://hooks.slack.test/services/T/B/x", "CRM_SECRET": "s3cret"}


def load(tmp_path: Path, team: str, environ: dict[str, str] | None = None) -> Catalog:
    write_files(tmp_path / "sequences", {"quick.yaml": SEQUENCE, "team.yaml": team})
    write_files(tmp_path / "templates", {"t/hello.j2": template("Hello")})
    renderer = Renderer(tmp_path / "templates")
    return load_catalog(tmp_path / "sequences", renderer, ENVIRON if environ is None else environ)


def problems(tmp_path: Path, team: str, environ: dict[str, str] | None = None) -> list[str]:
    """`line: problem` for each error of team.yaml."""
    with pytest.raises(CatalogError) as caught:
        load(tmp_path, team, environ)
    return [f"{e.line}: {e.problem}" for e in caught.value.errors if e.path.name == "team.yaml"]


def test_a_complete_alerts_and_webhooks_section_loads(tmp_path: Path) -> None:
    """The control case: every key used below is valid as written."""
    team = load(tmp_path, TEAM).team
    assert team.at_risk_after == pytest.approx(0.8)
    assert team.owners[0].working_hours is not None
    assert team.owners[0].working_hours.timezone == "Europe/Madrid"
    assert team.webhooks[0].key == "crm.example.com"
    assert team.alerts is not None and team.alerts.reassigns is not None


def test_a_manager_who_is_not_an_owner_is_named_at_their_line(tmp_path: Path) -> None:
    """owners[0].manager points at somebody team.yaml does not know."""
    team = TEAM.replace("  - email: boss@acme.test\n", "")
    assert problems(tmp_path, team) == [
        "3: owners.0.manager: manager boss@acme.test is not one of the owners"
    ]


def test_a_pool_member_who_is_not_an_owner_is_named_at_their_line(tmp_path: Path) -> None:
    """alerts.pool lists a rep who is not in owners."""
    team = TEAM.replace(
        "pool: [ana@acme.test, ben@acme.test]", "pool:\n    - ana@acme.test\n    - cy@acme.test"
    )
    assert problems(tmp_path, team) == [
        "16: alerts.pool.1: pool member cy@acme.test is not one of the owners"
    ]


def test_a_webhook_url_that_is_not_http_is_refused(tmp_path: Path) -> None:
    """ftp:// or a bare host is not a webhook."""
    team = TEAM.replace("https://crm.example.com/hooks/followup", "ftp://crm.example.com/x")
    assert problems(tmp_path, team) == [
        "16: webhooks.0.url: url 'ftp://crm.example.com/x' must be an http:// or https:// address"
    ]


def test_an_unset_secret_variable_is_named_with_its_line(tmp_path: Path) -> None:
    """The webhook's secret_env and the Slack URL variable must be set when the folder loads."""
    found = problems(tmp_path, TEAM, environ={})
    unset = "environment variable CRM_SECRET is not set (it holds the secret)"
    assert f"18: webhooks.0.secret_env: {unset}" in found
    assert any(
        p.startswith("12: alerts.slack_webhook_env: environment variable SLACK_URL") for p in found
    )


@pytest.mark.parametrize("share", ["0%", "100%", "0.75", "150", "soon"])
def test_at_risk_after_outside_1_to_99_percent_is_refused(tmp_path: Path, share: str) -> None:
    """at_risk_after is a percentage from 1% to 99%."""
    found = problems(tmp_path, TEAM.replace("at_risk_after: 80%", f"at_risk_after: {share}"))
    assert len(found) == 1 and found[0].startswith("10: alerts.at_risk_after: at_risk_after")


def test_the_webhook_channel_needs_a_webhook_that_hears_sla_events(tmp_path: Path) -> None:
    """channels: [webhook] with no webhook receiving sla.* events would alert nobody."""
    team = TEAM.replace("events: [sla.at_risk, sla.breached]", "events: [touch.sent]")
    assert problems(tmp_path, team) == [
        "11: alerts.channels.2: the webhook channel needs a webhook that receives "
        "sla.at_risk or sla.breached"
    ]


def test_reassign_after_needs_a_pool_of_two(tmp_path: Path) -> None:
    """A pool of one has nobody to move a lead to."""
    team = TEAM.replace("pool: [ana@acme.test, ben@acme.test]", "pool: [ana@acme.test]")
    assert problems(tmp_path, team) == [
        "13: alerts.reassign_after: reassign_after needs a pool of at least two reps "
        "to move leads to"
    ]


def test_working_hours_without_any_timezone_are_refused(tmp_path: Path) -> None:
    """Hours mean nothing without a zone: the owner's timezone or the hours' own."""
    team = TEAM.replace("      timezone: Europe/Madrid\n", "")
    assert problems(tmp_path, team) == [
        "4: owners.0.working_hours: working_hours needs a timezone (or set the owner's timezone)"
    ]


def test_business_hours_without_a_send_window_is_refused(tmp_path: Path) -> None:
    """Leads whose owner has no working_hours need a send window to count on."""
    write_files(
        tmp_path / "sequences",
        {
            "bare.yaml": SEQUENCE.replace("name: quick", "name: bare").replace(
                'send_window:\n  days: [mon, tue, wed, thu, fri]\n  hours: "09:00-17:00"\n', ""
            )
        },
    )
    with pytest.raises(CatalogError) as caught:
        load(tmp_path, TEAM)
    assert [(e.path.name, e.line) for e in caught.value.errors] == [("bare.yaml", 5)]
    assert "add a send_window" in str(caught.value)
