"""What finishing steps changed of enrollments read as plain values (EnrollmentProgress), written
back with SQLAlchemy Core: one UPDATE a set of changed columns, one executemany for a batch."""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from typing import Any

from sqlalchemy import Table, Update, bindparam, select, update
from sqlmodel import Session

from models.enrollment import PROGRESS_COLUMNS, Enrollment, EnrollmentProgress

_ENROLLMENTS: Table = Enrollment.__table__  # type: ignore[attr-defined]  # SQLModel sets it


def write_progress(session: Session, enrollments: Iterable[EnrollmentProgress]) -> None:
    """The changed columns of each (each once, however often it is given), then all written."""
    unique = {enrollment.id: enrollment for enrollment in enrollments}.values()
    by_columns: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for enrollment in unique:
        changed = enrollment.changes()
        if changed:
            params = {"enrollment_id": enrollment.id, **changed}
            by_columns.setdefault(tuple(changed), []).append(params)
    for columns, params_list in by_columns.items():
        session.connection().execute(_update_statement(columns), params_list)
    for enrollment in unique:
        enrollment.written()


def reload_progress(session: Session, enrollments: Iterable[EnrollmentProgress]) -> None:
    """Each as the database holds it now (after ORM work on the same rows, or a rolled-back
    savepoint), in one read."""
    by_id = {enrollment.id: enrollment for enrollment in enrollments}
    session.flush()
    for values in session.connection().execute(_RELOAD, {"enrollment_ids": list(by_id)}):
        by_id[values[0]].reread(values)


@cache
def _update_statement(columns: tuple[str, ...]) -> Update:
    """write_progress's UPDATE for these columns, built once per process (bound per call)."""
    return (
        update(_ENROLLMENTS)
        .where(_ENROLLMENTS.c.id == bindparam("enrollment_id"))
        .values({name: bindparam(name) for name in columns})
    )


_RELOAD = select(*(_ENROLLMENTS.c[name] for name in PROGRESS_COLUMNS)).where(
    _ENROLLMENTS.c.id.in_(bindparam("enrollment_ids", expanding=True))
)
