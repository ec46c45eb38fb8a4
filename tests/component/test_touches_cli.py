"""`followup touches retry --failed` and the lost-work lines of `followup status` (issue 9), run
in-process on a harness (its database, folders and virtual clock)."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from sqlalchemy import update
from sqlmodel import col

from models.touch import Touch, TouchStatus
from testkit.harness import Harness, Harnesses, template
from tests.support.cli import Cli
from worker.engine.db import transaction
from worker.mail import classify_smtp_reply

SEQUENCES = {
    f"{name}.yaml": f"""
name: {name}
trigger: lead.{name}
steps:
  - id: one
    email: t/one
  - id: two
    email: t/one
    wait: 1d
"""
    for name in ("s", "t")
}
REFUSED = "554 5.7.1 rejected by policy"


@pytest.fixture
def h(make_harness: Harnesses) -> Harness:
    return make_harness(sequences=SEQUENCES, templates={"t/one.j2": template("One")})


@pytest.fixture
def followup(cli: Cli, h: Harness) -> Cli:
    return cli.on(h)


def refused_first_touches(h: Harness) -> None:
    """ana and ben in s, cy in t: each first email refused for good (5xx, not the address)."""
    for email in ("ana@example.com", "ben@example.com", "cy@example.com"):
        h.mailer.fail_for(email, classify_smtp_reply(554, "5.7.1 rejected by policy"))
    h.event("lead.s", "ana@example.com")
    h.event("lead.s", "ben@example.com")
    h.event("lead.t", "cy@example.com")
    h.tick()
    h.mailer.clear_failures()


def out_lines(capsys: pytest.CaptureFixture[str]) -> list[str]:
    return capsys.readouterr().out.strip().splitlines()


def test_retry_failed_of_one_sequence_sends_them_again_with_the_same_message_id(
    h: Harness, followup: Cli, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    """Given three refused first touches, when `touches retry --failed --sequence s` runs, then
    s's two are due now with 0 attempts and go out with the Message-ID they had, each logged;
    t's stays failed, and the step after each is not planned twice."""
    refused_first_touches(h)
    failed_ids = {t.id: t.message_id for t in h.touches(status="failed")}
    assert followup("touches", "retry", "--failed", "--sequence", "s", "--dry-run") == 0
    assert out_lines(capsys) == ["would retry 2 failed touch(es)"]
    assert len(h.touches(status="failed")) == 3
    with caplog.at_level(logging.INFO, logger="followup.retry"):
        assert followup("touches", "retry", "--failed", "--sequence", "s") == 0
    assert out_lines(capsys) == ["retried 2 failed touch(es)"]
    assert sum("retried by hand" in r.getMessage() for r in caplog.records) == 2
    retried = h.touches(status="scheduled", step="one")
    assert [(t.attempts, t.due_at) for t in retried] == [(0, h.clock.now())] * 2
    h.tick()
    sent = {t.id: t.message_id for t in h.touches(status="sent")}
    assert sent == {i: m for i, m in failed_ids.items() if i in sent} and len(sent) == 2
    assert sorted(m.to for m in h.sent) == ["ana@example.com", "ben@example.com"]
    assert len(h.touches(step="two")) == 3  # planned once each, when the first one failed
    [still] = h.touches(status="failed")
    assert still.lead_id == 3


def test_retry_filters_by_reason_and_since_and_skips_a_suppressed_address(
    h: Harness, followup: Cli, capsys: pytest.CaptureFixture[str]
) -> None:
    """--reason matches the failure's words, --since the time it failed; a bounced (suppressed)
    address is never retried, and says so."""
    h.mailer.fail_for("gone@example.com", classify_smtp_reply(550, "5.1.1 no such user"))
    h.event("lead.s", "gone@example.com")
    refused_first_touches(h)
    later = (h.clock.now() + timedelta(hours=1)).isoformat()
    assert followup("touches", "retry", "--failed", "--since", later) == 0
    assert out_lines(capsys) == ["retried 0 failed touch(es)"]
    assert followup("touches", "retry", "--failed", "--reason", "NO SUCH USER") == 0
    assert out_lines(capsys) == [
        "retried 0 failed touch(es)",
        "  touch 1 not retried: address suppressed",
    ]
    assert (
        followup("touches", "retry", "--failed", "--reason", "policy", "--since", "2026-11-30") == 0
    )
    assert out_lines(capsys) == ["retried 3 failed touch(es)"]


def test_retry_needs_failed_and_a_real_date(
    followup: Cli, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without --failed, or with --since yesterday: one line on stderr, exit 2."""
    assert followup("touches", "retry") == 2
    assert "error: touches retry: say which touches: --failed" in capsys.readouterr().err
    assert followup("touches", "retry", "--failed", "--since", "yesterday") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: --since: 'yesterday' is not a date (use YYYY-MM-DD or an ISO timestamp)"]


def test_status_shows_touches_stuck_past_their_lease_and_the_redrives(
    h: Harness, followup: Cli, capsys: pytest.CaptureFixture[str]
) -> None:
    """Given one touch sending past its lease and one sent after two re-drives, status counts
    both."""
    h.event("lead.s", "ana@example.com")
    h.event("lead.s", "ben@example.com")
    h.tick()
    past = h.clock.now() - timedelta(minutes=5)
    with transaction(h.rt.engine) as session:
        session.execute(
            update(Touch)
            .where(col(Touch.id) == 1)
            .values(status=TouchStatus.SENDING, lease_until=past)
        )
        session.execute(update(Touch).where(col(Touch.id) == 2).values(redrives=2))
    assert followup("status") == 0
    out = capsys.readouterr().out
    assert "stuck past their lease: 1 (re-driven by the next tick" in out
    assert "re-driven mid-send: 1 touch(es), 2 re-drive(s)" in out
    assert "dead events: 0" in out
