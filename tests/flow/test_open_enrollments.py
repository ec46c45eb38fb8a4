"""The open enrollments of many leads at once (imports and exclusive sequences ask this a
chunk at a time): only active and paused ones, found through the lead's index on SQLite."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event, update
from sqlmodel import col

from models.enrollment import Enrollment, EnrollmentStatus
from testkit.harness import ONE_EMAIL_SEQUENCE, Harnesses, template
from worker.engine.db import reading, transaction
from worker.flow.enrollment import open_enrollments_of


def test_only_open_enrollments_of_the_leads_asked_for_are_found(
    make_harness: Harnesses,
) -> None:
    """Given three leads enrolled, one of whose enrollments has exited, when the open ones of
    two of them are asked for, then only the other one's comes back, with its sequence."""
    h = make_harness(
        sequences={"s.yaml": ONE_EMAIL_SEQUENCE}, templates={"t/one.j2": template("One")}
    )
    for email in ("a@example.com", "b@example.com", "c@example.com"):
        h.event("lead.mql", email)
    by_email = {e.lead_id: e for e in h.enrollments()}
    first, second, third = sorted(by_email)
    with transaction(h.rt.engine) as session:
        session.execute(
            update(Enrollment)
            .where(col(Enrollment.lead_id) == first)
            .values(status=EnrollmentStatus.EXITED)
        )
    with reading(h.rt.engine) as session:
        found = open_enrollments_of(session, [first, second], Enrollment.sequence)
    assert found == [(second, by_email[second].sequence)]
    assert third not in {lead_id for lead_id, _ in found}


def test_many_leads_are_looked_up_by_lead_not_by_status(make_harness: Harnesses) -> None:
    """Given a SQLite database, when the open enrollments of 500 leads are asked for, then the
    statement walks the lead index (the status index would read every open enrollment)."""
    h = make_harness(
        sequences={"s.yaml": ONE_EMAIL_SEQUENCE}, templates={"t/one.j2": template("One")}
    )
    statements: list[tuple[str, Any]] = []

    def note(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if "FROM enrollment" in statement:
            statements.append((statement, parameters))

    event.listen(h.rt.engine, "before_cursor_execute", note)
    with reading(h.rt.engine) as session:
        open_enrollments_of(session, list(range(1, 501)), Enrollment.version)
    event.remove(h.rt.engine, "before_cursor_execute", note)
    [(statement, parameters)] = statements
    with h.rt.engine.connect() as connection:
        plan = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters).all()
    details = " ".join(str(row[-1]) for row in plan)
    assert "lead_id" in details and "ix_enrollment_status" not in details, details
