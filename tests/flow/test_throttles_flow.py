"""Hourly limits, warm-up ramps and recipient-domain throttles on the virtual clock: held touches
are deferred (never failed), counted in the database, and shown by `followup status`."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, timedelta
from typing import Any

from testkit.harness import MONDAY_9AM_NY, Harness, Harnesses, done_at, template
from worker.engine.status import collect_status
from worker.mail import TransientSendError

SEQUENCE = """
name: s
trigger: lead.mql
from: owner
steps:
  - id: one
    email: t/one
"""
TEAM = """
owners:
  - email: ana@acme.test
    name: Ana
    OPTIONS
  - email: ben@acme.test
    name: Ben
"""


def build(make_harness: Harnesses, team: str, **settings: Any) -> Harness:
    return make_harness(
        sequences={"s.yaml": SEQUENCE, "team.yaml": team},
        templates={"t/one.j2": template("One")},
        **settings,
    )


def enroll(h: Harness, count: int, owner: str, domain: str = "example.com", start: int = 0) -> None:
    for n in range(start, start + count):
        h.event("lead.mql", f"lead{n}@{domain}", lead={"owner": owner})


def sent_hours(h: Harness) -> Counter[int]:
    return Counter(done_at(t).astimezone(UTC).hour for t in h.touches(status="sent"))


def test_an_hourly_limit_spreads_sends_over_clock_hours(
    make_harness: Harnesses,
) -> None:
    """Given hourly_limit 2, when 5 touches fall due at 14:00 UTC, 2 go at once, the rest wait
    for the next hours; none fails, and status counts this hour's sends."""
    h = build(make_harness, TEAM.replace("OPTIONS", "hourly_limit: 2"))
    enroll(h, 5, "ana@acme.test")
    h.tick()
    assert len(h.sent) == 2
    deferred = h.touches(status="deferred")
    assert len(deferred) == 3
    assert {t.due_at for t in deferred} == {MONDAY_9AM_NY + timedelta(hours=1)}
    assert all("mailbox limit of ana@acme.test (2 an hour)" in (t.detail or "") for t in deferred)
    [ana] = collect_status(h.rt).sending
    assert (ana.sent_this_hour, ana.hourly_limit, ana.cap_today) == (2, 2, None)
    h.advance(timedelta(hours=3))
    assert sent_hours(h) == {14: 2, 15: 2, 16: 1}
    assert not h.touches(status="failed")


def test_a_ramp_caps_each_day_and_status_shows_the_cap_today(
    make_harness: Harnesses, database_url: str | None
) -> None:
    """Given ramp start 2, +2 a day, daily_limit 5, when 12 touches are due on day one, then
    2 go on day one, 4 on day two, 5 on day three, 1 on day four (the ramp, then the limit)."""
    options = "daily_limit: 5\n    ramp:\n      start: 2\n      step: 2"
    h = build(make_harness, TEAM.replace("OPTIONS", options), database_url=database_url)
    enroll(h, 12, "ana@acme.test")
    h.tick()
    [ana] = collect_status(h.rt).sending
    assert (ana.cap_today, ana.ramp_day, ana.sent_today) == (2, 1, 2)
    h.advance(timedelta(days=1))
    [ana] = collect_status(h.rt).sending
    assert (ana.cap_today, ana.ramp_day, ana.sent_today) == (4, 2, 4)
    h.advance(timedelta(days=3))
    days = Counter(done_at(t).date().isoformat() for t in h.touches(status="sent"))
    assert sorted(days.values(), reverse=False) == [1, 2, 4, 5]
    assert days["2026-11-30"] == 2 and days["2026-12-01"] == 4 and days["2026-12-02"] == 5
    assert not h.touches(status="failed")


def test_a_ramp_since_an_earlier_day_starts_further_up(make_harness: Harnesses) -> None:
    """`since` fixes day one (a mailbox warmed up elsewhere): ten days in, the cap is the limit."""
    options = "daily_limit: 5\n    ramp:\n      start: 1\n      step: 1\n      since: 2026-11-20"
    h = build(make_harness, TEAM.replace("OPTIONS", options))
    enroll(h, 8, "ana@acme.test")
    h.tick()
    assert len(h.sent) == 5
    [ana] = collect_status(h.rt).sending
    assert (ana.cap_today, ana.ramp_day) == (5, 11)


THROTTLED = (
    TEAM.replace("OPTIONS", "timezone: UTC")
    + """throttles:
  - domain: [gmail.com, googlemail.com]
    hourly_limit: 3
"""
)


def test_a_domain_throttle_counts_every_mailbox_together(
    make_harness: Harnesses, database_url: str | None
) -> None:
    """Given gmail.com/googlemail.com at 3 an hour, when two mailboxes each have 3 Gmail leads
    and one elsewhere, then 3 Gmail sends go this hour (from either mailbox), the other domain
    is not held, and status shows the throttle's count."""
    h = build(make_harness, THROTTLED, database_url=database_url)
    enroll(h, 2, "ana@acme.test", "gmail.com")
    enroll(h, 1, "ana@acme.test", "googlemail.com", start=2)
    enroll(h, 3, "ben@acme.test", "gmail.com", start=3)
    enroll(h, 1, "ana@acme.test", "outlook.com", start=6)
    enroll(h, 1, "ben@acme.test", "outlook.com", start=7)
    h.tick()
    to_google = [m for m in h.sent if "gmail" in m.to or "googlemail" in m.to]
    assert len(to_google) == 3
    assert {m.to.split("@")[1] for m in h.sent} >= {"outlook.com"}
    assert len([m for m in h.sent if m.to.endswith("outlook.com")]) == 2
    deferred = h.touches(status="deferred")
    assert len(deferred) == 3 and all("throttle of gmail.com" in (t.detail or "") for t in deferred)
    [throttle] = collect_status(h.rt).throttles
    assert (throttle.domains, throttle.sent_this_hour, throttle.hourly_limit) == (
        ["gmail.com", "googlemail.com"],
        3,
        3,
    )
    h.advance(timedelta(hours=1))
    assert len(h.sent) == 8 and not h.touches(status="failed")


def test_a_failed_send_gives_its_slots_back(make_harness: Harnesses) -> None:
    """Given hourly_limit 1 and a throttle of 1 an hour, when the one send this hour fails with a
    4xx, the mailbox's and the domain's slots are given back, so the retry goes within the hour."""
    team = TEAM.replace("OPTIONS", "hourly_limit: 1") + (
        "throttles:\n  - domain: example.com\n    hourly_limit: 1\n"
    )
    h = build(make_harness, team, retry_base_seconds=60)
    h.mailer.fail_next(TransientSendError("451 4.3.0 try later"))
    enroll(h, 1, "ana@acme.test")
    h.tick()
    status = collect_status(h.rt)
    assert (status.sending[0].sent_this_hour, status.throttles[0].sent_this_hour) == (0, 0)
    h.advance(timedelta(minutes=5))
    [sent] = h.touches(status="sent")
    assert done_at(sent) - MONDAY_9AM_NY <= timedelta(minutes=5)
    assert sent.attempts == 2


def test_a_long_deferral_does_not_use_up_the_retries(make_harness: Harnesses) -> None:
    """Deferred 15 times by a one-a-day limit, a touch that then meets a 4xx is retried, not
    failed for 'too many attempts': being held back is not an attempt."""
    h = build(make_harness, TEAM.replace("OPTIONS", "daily_limit: 1\n    timezone: UTC"))
    enroll(h, 16, "ana@acme.test")
    h.advance(timedelta(days=14, hours=9))
    [last] = h.touches(status="deferred")
    assert last.attempts == 0
    h.mailer.fail_next(TransientSendError("451 4.3.0 try later"))
    h.advance(timedelta(days=1, hours=1))
    [retried] = [t for t in h.touches() if t.id == last.id]
    assert retried.status == "sent" and retried.attempts == 2


def test_status_lists_counted_mailboxes_only(make_harness: Harnesses) -> None:
    """An owner without any limit is not counted, so status does not list it."""
    h = build(make_harness, TEAM.replace("OPTIONS", "daily_limit: 7"))
    assert [m.address for m in collect_status(h.rt).sending] == ["ana@acme.test"]
    assert collect_status(h.rt).sending[0].cap_today == 7
