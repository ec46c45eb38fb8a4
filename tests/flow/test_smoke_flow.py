"""A first end-to-end flow on fakes: event -> three emails in order -> report."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from testkit.harness import Harness, template

SEQUENCE = """
name: three-steps
trigger: lead.mql
exit_on: [email.replied]
sla:
  first_touch_within: 1h
  min_touches: 3
  within: 3d
steps:
  - id: one
    email: t/one
  - id: two
    email: t/two
    wait: 1d
  - id: three
    email: t/three
    wait: 1d
"""


def test_three_steps_go_out_in_order_with_their_waits(tmp_path: Path) -> None:
    """Given a 3-step sequence, when a lead is enrolled, then emails go out at 0, 1d, 2d."""
    h = Harness(
        tmp_path,
        sequences={"three.yaml": SEQUENCE},
        templates={
            "t/one.j2": template("One"),
            "t/two.j2": template("Two"),
            "t/three.j2": template("Three"),
        },
    )
    start = h.clock.now()
    h.event("lead.mql", "ana@example.com", lead={"first_name": "Ana"})
    h.advance(timedelta(days=3))
    assert [m.subject for m in h.sent] == ["One", "Two", "Three"]
    sent_at = [t.completed_at for t in h.touches(status="sent")]
    assert [(t - start) for t in sent_at] == [
        timedelta(0),
        timedelta(days=1),
        timedelta(days=2),
    ]
    [enrollment] = h.enrollments()
    assert enrollment.sla_status == "met"
