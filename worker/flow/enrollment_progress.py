"""What finishing steps changed of enrollments read as plain values (EnrollmentProgress), written
back with SQLAlchemy Core: one UPDATE a set of changed columns, one executemany for a batch, each
a compare-and-set on what was read."""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from typing import Any

from sqlalchemy import Table, Update, bindparam, select, update
from sqlmodel import Session

from models.enrollment import PROGRESS_COLUMNS, Enrollment, EnrollmentProgress
from worker.engine.db import core_changed_rows

_ENROLLMENTS: Table = Enrollment.__table__  # type: ignore[attr-defined]  # SQLModel sets it


class ProgressChanged(Exception):
    """Another transaction wrote an enrollment after the record read it."""


# Compared whatever else changed: an exit, a pause or a completion by another transaction.
_ALWAYS_GUARDED = ("status",)


def write_progress(session: Session, enrollments: Iterable[EnrollmentProgress]) -> None:
    """The changed columns of each (each once, however often it is given), then all written.

    Each row is written only where it still holds what was read of those columns and of its
    status: on PostgreSQL another transaction (an exit on a reply, a logged manual touch) may
    have written it since, and a write from the stale read would undo that (a completion over
    the exit, a lost count). ProgressChanged then; the caller records again from a fresh read.
    """
    unique = {enrollment.id: enrollment for enrollment in enrollments}.values()
    by_columns: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for enrollment in unique:
        changed = enrollment.changes()
        if changed:
            was = enrollment.stored(_guarded(tuple(changed)))
            params = {"enrollment_id": enrollment.id, **changed}
            params.update({f"was_{name}": value for name, value in was.items()})
            by_columns.setdefault(tuple(changed), []).append(params)
    for columns, params_list in by_columns.items():
        written = core_changed_rows(session, _update_statement(columns), params_list)
        if written != len(params_list):
            missed = len(params_list) - written
            raise ProgressChanged(f"{missed} enrollment(s) written by another transaction")
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
def _guarded(columns: tuple[str, ...]) -> tuple[str, ...]:
    """The columns a write of these compares with what was read: these and the status."""
    return tuple(dict.fromkeys((*columns, *_ALWAYS_GUARDED)))


@cache
def _update_statement(columns: tuple[str, ...]) -> Update:
    """write_progress's UPDATE for these columns, built once per process (bound per call)."""
    enrollment = _ENROLLMENTS.c
    return (
        update(_ENROLLMENTS)
        .where(
            enrollment.id == bindparam("enrollment_id"),
            *(
                enrollment[name].is_not_distinct_from(bindparam(f"was_{name}"))
                for name in _guarded(columns)
            ),
        )
        .values({name: bindparam(name) for name in columns})
    )


_RELOAD = select(*(_ENROLLMENTS.c[name] for name in PROGRESS_COLUMNS)).where(
    _ENROLLMENTS.c.id.in_(bindparam("enrollment_ids", expanding=True))
)
