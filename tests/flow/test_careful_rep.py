"""Sequences that behave like a careful rep: windows, limits, threading, tasks, versions, pause."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

from testkit.harness import MONDAY_9AM_NY, Harness, Harnesses, done_at, template
from worker.engine.db import transaction
from worker.engine.status import collect_status
from worker.flow.pausing import Selection, pause, resume
from worker.specs.preview import preview_timeline

NY = ZoneInfo("America/New_York")
TEMPLATES = {f"t/{n}.j2": template(n.title()) for n in ("one", "two", "three", "four")}


def sequence(*steps: str, extra: str = "") -> str:
    body = "\n".join(steps)
    return f"name: s\ntrigger: lead.mql\nexit_on: [email.replied]\n{extra}\nsteps:\n{body}\n"


def step(id: str, email: str | None = None, wait: str = "0s", more: str = "") -> str:
    action = f"email: t/{email or id}" if not more.startswith("task") else ""
    lines = [f"  - id: {id}", f"    wait: {wait}"] + ([f"    {action}"] if action else [])
    lines += [f"    {line}" for line in more.splitlines() if line]
    return "\n".join(lines)


def build(
    make_harness: Harnesses,
    seq: str,
    *,
    files: dict[str, str] | None = None,
    templates: dict[str, str] | None = None,
    start: datetime = MONDAY_9AM_NY,
    threads: int = 2,
) -> Harness:
    """A harness running sequence `s` (s.yaml) beside `files`, with the one..four templates."""
    return make_harness(
        sequences={"s.yaml": seq, **(files or {})},
        templates={**TEMPLATES, **(templates or {})},
        start=start,
        threads=threads,
    )


WINDOW = """send_window:
  days: [mon, tue, wed, thu, fri]
  hours: "09:00-17:00"
  timezone: lead
default_timezone: America/New_York
holidays: US"""


def test_a_lead_enrolled_at_night_gets_the_first_email_at_the_window_opening(
    make_harness: Harnesses,
) -> None:
    """Given a 9-17 window, a New York lead enrolled Friday 22:00 gets its email Monday 09:00."""
    friday_night = datetime(2026, 12, 4, 22, 0, tzinfo=NY).astimezone(UTC)
    h = build(make_harness, sequence(step("one"), extra=WINDOW), start=friday_night)
    h.event("lead.mql", "ana@example.com", lead={"timezone": "America/New_York"})
    h.advance(timedelta(days=4))
    [sent] = h.touches(status="sent")
    assert done_at(sent).astimezone(NY).strftime("%a %H:%M") == "Mon 09:00"


def test_business_days_skip_thanksgiving_and_the_weekend(make_harness: Harnesses) -> None:
    """Given 2 business days after Wednesday 10:00 before Thanksgiving, the bump goes Monday."""
    wednesday = datetime(2026, 11, 25, 10, 0, tzinfo=NY).astimezone(UTC)
    h = build(
        make_harness,
        sequence(step("one"), step("two", wait="2 business days"), extra=WINDOW),
        start=wednesday,
    )
    h.event("lead.mql", "ana@example.com")
    h.advance(timedelta(days=7))
    sent = [done_at(t).astimezone(NY).strftime("%a %m-%d %H:%M") for t in h.touches(status="sent")]
    assert sent == ["Wed 11-25 10:00", "Mon 11-30 10:00"]


LIMITED_TEAM = """owners:
  - email: rep@acme.test
    name: Rep
    daily_limit: 5
    timezone: America/New_York
"""


def test_daily_limit_defers_the_rest_to_the_mailbox_next_day(make_harness: Harnesses) -> None:
    """Given daily_limit 5, when 20 touches fall due at once, 5 go and 15 wait for tomorrow."""
    h = build(
        make_harness,
        sequence(step("one"), extra="from: owner"),
        files={"team.yaml": LIMITED_TEAM},
        threads=4,
    )
    for n in range(20):
        h.event("lead.mql", f"lead{n}@example.com", lead={"owner": "rep@acme.test"})
    h.tick()
    assert len(h.sent) == 5
    deferred = h.touches(status="deferred")
    assert len(deferred) == 15
    tomorrow = datetime(2026, 12, 1, 0, 0, tzinfo=NY).astimezone(UTC)
    assert {t.due_at for t in deferred} == {tomorrow}
    assert collect_status(h.rt).touches["deferred"] == 15
    h.advance(timedelta(days=1, hours=1))
    assert len(h.sent) == 10
    assert len({m.to for m in h.sent}) == 10


def test_min_gap_spaces_sends_from_one_mailbox(make_harness: Harnesses) -> None:
    """Given a 10-minute min_gap, three due touches go out 10 minutes apart."""
    team = LIMITED_TEAM.replace("daily_limit: 5", "min_gap: 10m")
    h = build(make_harness, sequence(step("one"), extra="from: owner"), files={"team.yaml": team})
    for n in range(3):
        h.event("lead.mql", f"lead{n}@example.com", lead={"owner": "rep@acme.test"})
    h.advance(timedelta(hours=1))
    times = sorted(done_at(t) for t in h.touches(status="sent"))
    assert [b - a for a, b in pairwise(times)] == [timedelta(minutes=10)] * 2


TASK_SEQUENCE = sequence(
    step("one"),
    step(
        "call", wait="1d", more="task: Call {{ lead.first_name | default('them') }}\ndue_within: 2d"
    ),
    step("three", wait="1d"),
)


def test_a_task_not_done_within_due_within_is_skipped_and_the_sequence_moves_on(
    make_harness: Harnesses,
) -> None:
    """Given due_within: 2d and nobody doing the task, it is skipped and logged; step 3 follows."""
    h = build(make_harness, TASK_SEQUENCE)
    h.event("lead.mql", "ana@example.com")
    h.advance(timedelta(days=5))
    [skipped] = h.touches(status="skipped")
    assert skipped.step == "call"
    assert [m.subject for m in h.sent] == ["One", "Three"]
    from worker.compliance.log import LogFilter, query_log

    with transaction(h.rt.engine) as session:
        kinds = [str(e.kind) for e in query_log(session, LogFilter(email="ana@example.com"))]
    assert "touch.skipped" in kinds


def test_reenroll_never_and_after_exit(make_harness: Harnesses) -> None:
    """`reenroll: never` enrolls once ever; `after_exit` enrolls again once the first one ended."""
    h = build(make_harness, sequence(step("one"), step("two", wait="1d")))
    h.event("lead.mql", "ana@example.com")
    h.event("email.replied", "ana@example.com")
    outcome = h.event("lead.mql", "ana@example.com")
    assert outcome.enrolled == [] and "already enrolled" in outcome.ignored[0]
    again = build(
        make_harness,
        sequence(step("one"), step("two", wait="1d"), extra="reenroll: after_exit"),
    )
    again.event("lead.mql", "ben@example.com")
    assert again.event("lead.mql", "ben@example.com").enrolled == []  # still active
    again.event("email.replied", "ben@example.com")
    assert again.event("lead.mql", "ben@example.com").enrolled == ["s"]


def test_exclusive_sequences_hold_one_lead_at_a_time(make_harness: Harnesses) -> None:
    """A lead in one exclusive sequence is not enrolled in another; the trigger is ignored."""
    other = (
        "name: other\ntrigger: form.submitted\nexclusive: true\n"
        "steps:\n  - id: one\n    email: t/one\n"
    )
    h = build(
        make_harness,
        sequence(step("one"), extra="exclusive: true"),
        files={"other.yaml": other},
    )
    assert h.event("lead.mql", "ana@example.com").enrolled == ["s"]
    outcome = h.event("form.submitted", "ana@example.com")
    assert outcome.enrolled == [] and "exclusive" in outcome.ignored[0]


def test_editing_a_sequence_mid_run_changes_new_enrollments_only(make_harness: Harnesses) -> None:
    """Given a lead mid-sequence, when YAML and template change, it finishes its pinned version."""
    h = build(make_harness, sequence(step("one"), step("two", wait="1d"), step("three", wait="1d")))
    h.event("lead.mql", "old@example.com")
    h.advance(timedelta(hours=1))
    (h.settings.sequences_dir / "s.yaml").write_text(
        sequence(step("one"), step("three", wait="1d"), step("four", wait="1d"))
    )
    (h.settings.templates_dir / "t" / "three.j2").write_text(template("Three v2"))
    assert h.rt.refresh_catalog(min_interval=0)
    h.event("lead.mql", "new@example.com")
    h.advance(timedelta(days=3))
    old = [m.subject for m in h.sent if m.to == "old@example.com"]
    new = [m.subject for m in h.sent if m.to == "new@example.com"]
    assert old == ["One", "Two", "Three"]
    assert new == ["One", "Three v2", "Four"]
    assert len({m.message_id for m in h.sent}) == len(h.sent) == 6


def test_a_broken_edit_keeps_the_running_catalog(make_harness: Harnesses) -> None:
    """Given a running catalog, when a file turns invalid, the reload is refused; no change."""
    h = build(make_harness, sequence(step("one")))
    (h.settings.sequences_dir / "s.yaml").write_text("name: s\ntrigger: lead.mql\nsteps: [oops\n")
    assert not h.rt.refresh_catalog(min_interval=0)
    assert h.event("lead.mql", "ana@example.com").enrolled == ["s"]


def test_pause_holds_touches_and_resume_keeps_the_remaining_wait(make_harness: Harnesses) -> None:
    """Given a step due in 2 days, a 3-day pause then resume makes it due 2 days after resume."""
    h = build(make_harness, sequence(step("one"), step("two", wait="3d")))
    h.event("lead.mql", "ana@example.com", lead={"owner": "rep@acme.test"})
    h.advance(timedelta(days=1))
    with transaction(h.rt.engine) as session:
        assert pause(session, Selection(owner="rep@acme.test"), now=h.clock.now()) == 1
    h.advance(timedelta(days=3))
    assert [t.status for t in h.touches(step="two")] == ["held"]
    resumed_at = h.clock.now()
    with transaction(h.rt.engine) as session:
        assert (
            resume(
                session, Selection(email="ana@example.com"), now=resumed_at, versions=h.rt.versions
            )
            == 1
        )
    h.advance(timedelta(days=3))
    [two] = h.touches(step="two")
    assert two.status == "sent" and two.completed_at == resumed_at + timedelta(days=2)


def test_resumed_touches_move_to_the_next_window_opening(make_harness: Harnesses) -> None:
    """Given a paused lead whose touch was due, resuming at night sends it at the next opening."""
    monday_9 = datetime(2026, 11, 30, 9, 0, tzinfo=NY).astimezone(UTC)
    h = build(
        make_harness,
        sequence(step("one"), step("two", wait="1h"), extra=WINDOW),
        start=monday_9,
    )
    h.event("lead.mql", "ana@example.com", lead={"timezone": "America/New_York"})
    h.tick()
    with transaction(h.rt.engine) as session:
        pause(session, Selection(email="ana@example.com"), now=h.clock.now())
    h.advance(timedelta(hours=13))  # 22:00 local
    with transaction(h.rt.engine) as session:
        resume(
            session, Selection(email="ana@example.com"), now=h.clock.now(), versions=h.rt.versions
        )
    h.advance(timedelta(days=1))
    [two] = h.touches(step="two")
    assert done_at(two).astimezone(NY).strftime("%a %H:%M") == "Tue 09:00"


def test_preview_matches_what_the_scheduler_does(make_harness: Harnesses) -> None:
    """The preview's timeline is exactly the send times a lead gets when every touch completes."""
    h = build(
        make_harness,
        sequence(
            step("one"), step("two", wait="1 business days"), step("three", wait="2d"), extra=WINDOW
        ),
        start=datetime(2026, 12, 4, 16, 30, tzinfo=NY).astimezone(UTC),
    )
    lead = {"email": "ana@example.com", "timezone": "America/New_York"}
    spec = h.rt.catalog.sequences["s"]
    timeline = preview_timeline(
        spec, lead=lead, start=h.clock.now(), renderer=h.rt.renderer, team=h.rt.catalog.team
    )
    h.event("lead.mql", "ana@example.com", lead={"timezone": "America/New_York"})
    h.advance(timedelta(days=10))
    assert [t.completed_at for t in h.touches(status="sent")] == [p.due_utc for p in timeline]


def test_a_removed_sequence_runs_its_enrollments_to_the_end_and_status_says_so(
    make_harness: Harnesses,
) -> None:
    """Given an active enrollment, when its file is removed, it finishes and `status` names it."""
    h = build(
        make_harness,
        sequence(step("one"), step("two", wait="1d")),
        files={"keep.yaml": "trigger: form.submitted\nsteps:\n  - id: one\n    email: t/one\n"},
    )
    h.event("lead.mql", "ana@example.com")
    h.advance(timedelta(hours=1))
    (h.settings.sequences_dir / "s.yaml").unlink()
    assert h.rt.refresh_catalog(min_interval=0)
    assert collect_status(h.rt).orphaned_sequences == {"s": 1}
    assert h.event("lead.mql", "ben@example.com").enrolled == []
    h.advance(timedelta(days=2))
    assert [m.subject for m in h.sent] == ["One", "Two"]
    assert collect_status(h.rt).orphaned_sequences == {}
