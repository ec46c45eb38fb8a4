"""The fault suite's checker (testkit/chaos/checker.py): each figure from hand-made facts."""

from __future__ import annotations

from testkit.chaos.checker import Delivery, Fault, TouchFact, check, percentile


def touch(n: int, status: str = "sent", **changes: object) -> TouchFact:
    fields: dict[str, object] = {
        "touch_id": n,
        "lead_email": f"l{n}@example.com",
        "status": status,
        "message_id": f"<m{n}@x>",
        "due_at": 100.0,
    }
    fields.update(changes)
    return TouchFact(**fields)  # type: ignore[arg-type]


def accepted(n: int, at: float = 101.0, *, late: bool = False) -> Delivery:
    return Delivery(at, f"<m{n}@x>", True, late=late)


def test_every_expected_touch_at_the_sink_is_delivered_and_none_lost() -> None:
    """Given three sent touches all accepted, then expected = delivered = 3 and lost = 0."""
    verdict = check("s", 1, [touch(1), touch(2), touch(3)], [accepted(1), accepted(2), accepted(3)])
    assert (verdict.expected, verdict.delivered, verdict.lost) == (3, 3, 0)
    assert (verdict.db_sent, verdict.sink_distinct, verdict.duplicated) == (3, 3, 0)


def test_a_sent_row_the_sink_never_saw_and_a_stuck_touch_are_lost() -> None:
    """Given a row marked sent with nothing at the sink and one still queued, both are lost."""
    verdict = check("s", 1, [touch(1), touch(2), touch(3, "queued")], [accepted(1)])
    assert verdict.lost_ids == [2, 3]


def test_a_transient_failure_is_lost_but_a_refused_address_is_excused() -> None:
    """Given two failed touches, one to a listed refused address, then only the other is lost."""
    facts = [touch(1, "failed", reason="550 5.1.1"), touch(2, "failed", reason="gave up")]
    verdict = check("s", 1, facts, [], refused=["L1@example.com"])
    assert (verdict.expected, verdict.lost_ids) == (1, [2])


def test_cancellations_are_excused_only_for_a_suppressed_lead_or_ended_enrollment() -> None:
    """Given cancelled touches with and without a suppression or an exit, then only the one
    with neither (or without a reason) counts as lost."""
    facts = [
        touch(1, "cancelled", reason="address suppressed", suppressed_at=50.0),
        touch(2, "cancelled", reason="enrollment exited", ended_at=50.0),
        touch(3, "cancelled", reason="no idea"),
        touch(4, "cancelled", suppressed_at=50.0),
    ]
    assert check("s", 1, facts, []).lost_ids == [3, 4]


def test_copies_beyond_the_first_are_duplicates_and_late_ones_ambiguous() -> None:
    """Given one Message-ID accepted twice after a late answer and another three times, then
    duplicated counts the extra copies and ambiguous the late one only."""
    sink = [accepted(1, late=True), accepted(1), accepted(2), accepted(2), accepted(2)]
    verdict = check("s", 1, [touch(1), touch(2)], sink)
    assert (verdict.duplicated, verdict.ambiguous, verdict.sink_distinct) == (3, 1, 2)


def test_a_named_instant_makes_a_duplicate_ambiguous() -> None:
    """Given a scenario that names a touch caught in the send instant, then it is ambiguous."""
    verdict = check("s", 1, [touch(1)], [accepted(1), accepted(1)], ambiguous_ids=["<m1@x>"])
    assert verdict.ambiguous == 1


def test_unknown_suppressed_exited_and_out_of_window_sends_are_unexpected() -> None:
    """Given acceptances of an unknown id, after a suppression, after an exit and at night,
    then each is unexpected, and one before its lead's suppression is not."""
    facts = [
        touch(1, suppressed_at=105.0),
        touch(2, ended_at=100.5),
        touch(3),
        touch(4, suppressed_at=200.0),
    ]
    sink = [accepted(1, 106.0), accepted(2), accepted(3, 3000.0), accepted(4), accepted(9)]
    verdict = check("s", 1, facts, sink, outside_window=lambda t, at: at > 2000)
    assert verdict.unexpected_ids == ["<m1@x>", "<m2@x>", "<m3@x>", "<m9@x>"]


def test_recovery_runs_to_the_last_stranded_touch_or_the_first_send_after_healing() -> None:
    """Given a kill that stranded touches 1 and 2 and an outage healed at 110, then recovery
    is the last stranded acceptance after the kill, and the first acceptance after 110."""
    sink = [accepted(1, 104.0), accepted(2, 107.5), accepted(3, 112.0)]
    faults = [Fault("kill", 100.0, 100.0, frozenset({1, 2})), Fault("outage", 105.0, 110.0)]
    verdict = check("s", 1, [touch(1), touch(2), touch(3)], sink, faults=faults)
    assert verdict.recovery == [("kill", 7.5), ("outage", 2.0)]


def test_a_stranded_touch_never_delivered_has_no_recovery() -> None:
    """Given a stranded touch that never reached the sink, then its fault has no recovery."""
    verdict = check("s", 1, [touch(1)], [], faults=[Fault("kill", 1.0, 1.0, frozenset({1}))])
    assert verdict.recovery == [("kill", None)]


def test_latency_runs_from_due_to_the_first_acceptance() -> None:
    """Given touches due at 100 first accepted 1..4 seconds later, then p50 and p99 follow."""
    facts = [touch(n) for n in range(1, 5)]
    sink = [accepted(n, 100.0 + n) for n in range(1, 5)] + [accepted(4, 200.0)]
    verdict = check("s", 1, facts, sink)
    assert (verdict.latency_p50, verdict.latency_p99) == (2.0, 4.0)


def test_attempts_per_second_count_every_transaction() -> None:
    """Given refusals and acceptances over two seconds, then the rates count them all."""
    sink = [Delivery(10.0, "<m1@x>", False), Delivery(10.5, None, False), accepted(1, 12.0)]
    verdict = check("s", 1, [touch(1)], sink)
    assert (verdict.attempts, verdict.attempts_per_s_max) == (3, 2)
    assert verdict.attempts_per_s_mean == 1.5  # over the 2 seconds from first to last


def test_the_line_names_the_scenario_seed_and_every_figure() -> None:
    """Given a verdict, then its one line carries the seed and the figures, extras last."""
    verdict = check("herd", 42, [touch(1)], [accepted(1)])
    verdict.extra["zones"] = 12
    line = verdict.line()
    assert line.startswith("chaos herd seed=42 expected=1 delivered=1 lost=0 duplicated=0")
    assert "unexpected=0 db_sent=1 sink_distinct=1" in line and line.endswith("zones=12")


def test_percentile_is_nearest_rank() -> None:
    """Given ten values, then p50 is the fifth and p99 the tenth; none gives None."""
    values = [float(n) for n in range(1, 11)]
    assert (percentile(values, 50), percentile(values, 99), percentile([], 50)) == (5, 10, None)


def test_touches_due_after_the_run_are_not_expected_yet() -> None:
    """Given a touch first due at 10 and now deferred to tomorrow, and one due earlier but
    still waiting, then only the deferred one is left out; the other is lost."""
    facts = [touch(1, "deferred", due_at=10.0, next_due=500.0), touch(2, "scheduled", due_at=50.0)]
    verdict = check("s", 1, facts, [], not_due_before=100.0)
    assert (verdict.expected, verdict.lost_ids) == (1, [2])
