"""A batch's touches written without a savepoint each (issue 15: two statements a touch saved),
and, only when one touch's work broke, the whole batch rolled back and run again with one."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import TypeVar

from sqlmodel import Session

from worker.compliance import log as compliance_log

log = logging.getLogger("followup.delivery")

T = TypeVar("T")
R = TypeVar("R")


class TouchBroke(Exception):
    """One touch's work raised in a batch run without savepoints: its transaction must go."""


def each_touch(
    session: Session,
    items: Iterable[T],
    work: Callable[[T], R],
    *,
    isolated: bool,
    what: str,
    touch_id: Callable[[T], int],
) -> dict[int, R]:
    """`work`'s result by touch id; isolated, a savepoint each (one that broke is logged and
    left out, rolling back none of the others), else their log entries in one INSERT, their
    ORM changes in one flush, and any break raises TouchBroke."""
    if isolated:
        return _each_isolated(session, items, work, what=what, touch_id=touch_id)
    try:
        with compliance_log.deferred(session):
            done = {touch_id(item): work(item) for item in items}
        session.flush()  # what the ORM holds for them breaks here, not in the commit
    except Exception as exc:  # re-raised, so the caller's transaction rolls back
        raise TouchBroke(f"{what} broke") from exc
    return done


def _each_isolated(
    session: Session,
    items: Iterable[T],
    work: Callable[[T], R],
    *,
    what: str,
    touch_id: Callable[[T], int],
) -> dict[int, R]:
    done: dict[int, R] = {}
    for item in items:
        try:
            with session.begin_nested():
                result = work(item)
            done[touch_id(item)] = result  # only once its savepoint is released
        except Exception:  # one broken touch must not hold back the rest of the message
            log.exception("touch %s: %s failed; its lease re-drives it", touch_id(item), what)
    return done


def savepoints_if_broken(run: Callable[[bool], R], *, what: str) -> R:
    """run(isolated=False), the fast way; when a touch broke it (all of that rolled back,
    nothing kept), run(isolated=True): the same work a savepoint a touch."""
    try:
        return run(False)
    except TouchBroke:
        log.warning("%s: a touch broke; the batch is run again, a savepoint each", what)
    return run(True)
