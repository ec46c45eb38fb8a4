"""A claim whose commit comes back late (a slow or cut-off database link) sends nothing: by then
its lease may be spent and the touch re-driven to another worker (found by chaos scenario 10).
Fakes, virtual clock; the late answer is the virtual clock moving while the claim runs."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event

from testkit.harness import ONE_EMAIL_SEQUENCE, Harness, Harnesses, template
from worker.engine.tunables import SENDING_LEASE

SEQUENCE = ONE_EMAIL_SEQUENCE  # `s`: one email step, `one` (template t/one)


@contextmanager
def claims_answered_late(h: Harness) -> Iterator[list[str]]:
    """Inside, each claim's UPDATE (the one that moves its touches to `sending`, counting the
    attempt) returns a whole lease later; yields the claims so delayed."""
    delayed: list[str] = []

    def after_execute(conn: Any, cursor: Any, statement: str, params: Any, *rest: Any) -> None:
        if statement.startswith("UPDATE touch SET status=?, lease_until=?, attempts=?"):
            delayed.append(statement)
            h.clock.advance(SENDING_LEASE)

    event.listen(h.rt.engine, "after_cursor_execute", after_execute)
    try:
        yield delayed
    finally:
        event.remove(h.rt.engine, "after_cursor_execute", after_execute)


def test_a_claim_answered_after_its_lease_hands_the_touch_back_unsent(
    make_harness: Harnesses,
) -> None:
    """Given the database answering a claim a whole lease late, when the worker gets the answer,
    then it sends nothing and hands the touch back (no attempt counted); once the database is
    quick again the touch is sent, once."""
    h = make_harness(sequences={"s.yaml": SEQUENCE}, templates={"t/one.j2": template("One")})
    h.event("lead.mql", "ana@example.com")
    with claims_answered_late(h) as delayed:
        h.tick()
        h.drain()
    (touch,) = h.touches(step="one")
    assert delayed and h.sent == []
    assert (touch.status, touch.attempts, touch.lease_until) == ("scheduled", 0, None)
    h.tick()
    h.drain()
    (touch,) = h.touches(step="one")
    assert [m.to for m in h.sent] == ["ana@example.com"]
    assert (touch.status, touch.attempts) == ("sent", 1)
