"""The three-owner story: known behaviour whose report the tests work out by hand.

Ana works every lead, Ben skips his calls, Cy has a bit of everything; see
tests/flow/test_compliance_report.py for the counts it must give.
"""

from __future__ import annotations

from datetime import timedelta

from testkit.harness import MONDAY_9AM_NY as T0
from testkit.harness import Harness, template

INBOUND = """
name: inbound
trigger: lead.mql
exit_on: [email.replied]
sla:
  first_touch_within: 1h
  min_touches: 3
  within: 3d
steps:
  - id: intro
    email: t/intro
    wait: 10m
  - id: call
    task: Call {{ lead.email }}
    wait: 1d
  - id: wrap
    email: t/wrap
    wait: 1d
"""

CALLBACK = """
name: callback
trigger: form.submitted
sla:
  first_touch_within: 2h
steps:
  - id: call
    task: Call back {{ lead.email }}
  - id: thanks
    email: t/thanks
    wait: 1d
"""

TEAM = """
owners:
  - {email: ana@acme.test, name: Ana Diligent}
  - {email: ben@acme.test, name: Ben Busy}
  - {email: cy@acme.test, name: Cy Mixed}
sla_plan:
  revenue_goal: 600000
  period: month
  marketing_share: 0.5
  average_deal_size: 5000
  close_rate: 0.1
strikes:
  breaches_per_strike: 3
  period: week
"""

FILES = {"inbound.yaml": INBOUND, "callback.yaml": CALLBACK, "team.yaml": TEAM}
TEMPLATES = {
    "t/intro.j2": template("Intro"),
    "t/wrap.j2": template("Wrap"),
    "t/thanks.j2": template("Thanks"),
}


def play_three_owners(h: Harness) -> None:
    """Given three owners: Ana works every lead, Ben skips his calls, Cy has a bit of everything."""
    owners = {"a": "ana@acme.test", "b": "ben@acme.test", "c": "cy@acme.test"}
    for name, kind in (
        ("a1", "lead.mql"),
        ("a2", "form.submitted"),
        ("a3", "lead.mql"),
        ("a4", "form.submitted"),
        ("b1", "lead.mql"),
        ("b2", "form.submitted"),
        ("b3", "form.submitted"),
        ("b4", "lead.mql"),
        ("c1", "lead.mql"),
        ("c2", "form.submitted"),
        ("c4", "form.submitted"),
    ):
        h.event(kind, f"{name}@example.com", lead={"owner": owners[name[0]]})
    h.advance_to(T0 + timedelta(minutes=20))
    h.event("task.completed", "a2@example.com", step="call")
    h.advance_to(T0 + timedelta(hours=1))
    h.event("touch.logged", "c2@example.com", detail="called from my mobile")
    h.advance_to(T0 + timedelta(hours=1, minutes=30))
    h.event("task.completed", "a4@example.com", step="call")
    h.advance_to(T0 + timedelta(hours=2))
    h.event("lead.unsubscribed", "c1@example.com")
    h.advance_to(T0 + timedelta(hours=3))
    h.event("email.replied", "a3@example.com")
    h.advance_to(T0 + timedelta(hours=5))
    h.event("task.completed", "b3@example.com", step="call")
    h.advance_to(T0 + timedelta(days=1, hours=1))
    h.event("task.completed", "a1@example.com", step="call")
    h.advance_to(T0 + timedelta(days=4))
    h.event("lead.mql", "c3@example.com", lead={"owner": "cy@acme.test"})
    h.advance_to(T0 + timedelta(days=4, hours=2))
