"""GET /tasks: the open manual tasks, through the API."""

from __future__ import annotations

from datetime import timedelta

from testkit.harness import Harnesses, template
from tests.support.api import Api

SEQUENCE = """
name: calls
trigger: lead.mql
steps:
  - id: hello
    email: t/one
  - id: call
    task: "Call {{ lead.first_name | default('them') }}"
    wait: 1d
"""


def test_open_tasks_are_listed_per_owner_and_disappear_once_done(
    make_harness: Harnesses,
) -> None:
    """Given a task step due, GET /tasks lists it with its text; task.completed removes it."""
    h = make_harness(sequences={"calls.yaml": SEQUENCE}, templates={"t/one.j2": template("One")})
    api = Api(h)
    h.event("lead.mql", "ana@example.com", lead={"first_name": "Ana", "owner": "rep@acme.test"})
    h.event("lead.mql", "ben@example.com", lead={"owner": "other@acme.test"})
    h.advance(timedelta(days=1, hours=1))
    response = api.get("/tasks", params={"owner": "rep@acme.test"})
    assert response.status_code == 200
    [task] = response.json()
    assert (task["lead"], task["step"], task["text"]) == ("ana@example.com", "call", "Call Ana")
    assert len(api.get("/tasks").json()) == 2
    h.event("task.completed", "ana@example.com", step="call")
    assert [t["lead"] for t in api.get("/tasks").json()] == ["ben@example.com"]
    assert api.client.get("/tasks").status_code == 401
