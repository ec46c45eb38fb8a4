"""Issue 13, finding 4: one lead's data must not break the task list for every owner."""

from __future__ import annotations

from datetime import timedelta

import pytest

from testkit.harness import Harness, Harnesses, template
from tests.support.api import Api
from tests.support.cli import Cli

SEQUENCE = """
name: calls
trigger: lead.mql
steps:
  - id: hello
    email: t/one
  - id: call
    task: "Call {{ lead.first_name }} about {{ lead.company | default('it') }}"
    wait: 1d
"""
RAW = "Call {{ lead.first_name }} about {{ lead.company | default('it') }}"


@pytest.fixture
def h(make_harness: Harnesses) -> Harness:
    """Two leads with a task due: Ana has a first name, Ben (same owner) has none."""
    harness = make_harness(
        sequences={"calls.yaml": SEQUENCE}, templates={"t/one.j2": template("One")}
    )
    owner = {"owner": "rep@acme.test"}
    harness.event("lead.mql", "ana@example.com", lead={"first_name": "Ana", **owner})
    harness.event("lead.mql", "ben@example.com", lead=owner)
    harness.advance(timedelta(days=1, hours=1))
    return harness


def test_get_tasks_lists_every_task_and_shows_the_one_that_fails_raw_with_the_reason(
    h: Harness,
) -> None:
    """200, Ana's task rendered, Ben's with the raw text and why it does not render."""
    response = Api(h).get("/tasks", params={"owner": "rep@acme.test"})
    assert response.status_code == 200
    by_lead = {task["lead"]: task for task in response.json()}
    assert (by_lead["ana@example.com"]["text"], by_lead["ana@example.com"]["render_error"]) == (
        "Call Ana about it",
        None,
    )
    assert (by_lead["ben@example.com"]["text"], by_lead["ben@example.com"]["render_error"]) == (
        RAW,
        "lead.first_name is undefined",
    )


def test_tasks_list_prints_the_raw_text_and_the_reason_without_a_traceback(
    h: Harness, cli: Cli, capsys: pytest.CaptureFixture[str]
) -> None:
    """The CLI lists both tasks; Ben's shows its raw text and `cannot render: <reason>`."""
    assert cli.on(h)("tasks", "list") == 0
    out, err = capsys.readouterr()
    flat = " ".join(out.split())
    assert "Call Ana about it" in flat
    assert "Call {{ lead.first_name }} about {{ lead.company | default('it') }}" in flat
    assert "cannot render: lead.first_name is undefined" in flat
    assert "2 open task(s)" in out and "1 task text(s) do not render for their lead" in out
    assert "Traceback" not in out + err
