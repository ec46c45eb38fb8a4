"""Two runtimes in one process: each one's actors deliver with their own runtime."""

from __future__ import annotations

from datetime import timedelta

from testkit.harness import Harnesses, template

SEQUENCE = """
name: hello
trigger: lead.mql
steps:
  - id: hello
    email: t/hello
"""


def test_the_first_runtime_still_delivers_after_a_second_is_built(
    make_harness: Harnesses,
) -> None:
    """Given two harnesses built one after the other, each one's touches are sent by its own
    actors, on its own database, to its own mailer."""
    templates = {"t/hello.j2": template("Hi")}
    first = make_harness(sequences={"hello.yaml": SEQUENCE}, templates=templates)
    second = make_harness(sequences={"hello.yaml": SEQUENCE}, templates=templates)
    first.event("lead.mql", "ana@example.com")
    second.event("lead.mql", "ben@example.com")
    first.advance(timedelta(minutes=1))
    second.advance(timedelta(minutes=1))
    assert [m.to for m in first.sent] == ["ana@example.com"]
    assert [m.to for m in second.sent] == ["ben@example.com"]
