"""Stored owners checked against team.yaml's allowed senders (for `sequences check`)."""

from __future__ import annotations

from sqlmodel import Session, col, func, select

from models.enrollment import Enrollment
from worker.flow.enrollment import OPEN_STATUSES
from worker.specs.sending import may_send_as
from worker.specs.team import TeamSpec


def owners_not_allowed(session: Session, team: TeamSpec) -> dict[str, int]:
    """Owner -> open enrollments, for owners that may not be the From of their emails."""
    rows = session.exec(
        select(Enrollment.owner, func.count())
        .where(col(Enrollment.status).in_(OPEN_STATUSES), col(Enrollment.owner).is_not(None))
        .group_by(col(Enrollment.owner))
    ).all()
    return {owner: int(n) for owner, n in rows if owner and not may_send_as(team, owner)}


def unknown_owner_warning(owner: str, count: int, what: str) -> str:
    """One line for people: who will not be the From, and what happens instead."""
    return (
        f"warning: {count} {what} owned by {owner}, who is not in team.yaml (owners or "
        "sending_domains): their emails go from FOLLOWUP_DEFAULT_FROM, or fail when it is unset"
    )
