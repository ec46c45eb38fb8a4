"""Telling people a guardrail paused sending: the owners whose leads it holds and their managers,
on the SLA alerts' channels (email, Slack), and the `sending.paused` webhook event."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import and_, select
from sqlmodel import Session, col

from models.enrollment import OPEN_STATUSES, Enrollment, current_owner_sql
from models.sending_pause import PauseScope, SendingPause
from models.touch import WAITING, Touch, TouchStatus
from worker.flow.guardrails import from_mailbox
from worker.notify.alerts import queue_alert_rows
from worker.notify.outbox import publish
from worker.specs.team import TeamSpec

PAUSED = "paused"  # the alert level, beside at_risk.*, breached and reassigned
MAX_PEOPLE = 50  # owners told about one pause (a shared mailbox may carry a whole team's leads)


def tell_paused(
    session: Session, pauses: Iterable[SendingPause], *, team: TeamSpec, now: datetime
) -> int:
    """For each new pause: an alert row per person and channel, and the webhook event, in the
    transaction that paused it (so told once, whichever scheduler won). Returns alert rows."""
    raised = 0
    for pause in pauses:
        owners = affected_owners(session, pause)
        publish(
            session,
            "sending.paused",
            occurred_at=now,
            data={
                "scope": str(pause.scope),
                "name": pause.name,
                "reason": pause.reason,
                "owners": owners,
            },
        )
        if team.alerts is not None:
            raised += _raise(session, pause, audience(pause, owners, team), team, now)
    return raised


def affected_owners(session: Session, pause: SendingPause) -> list[str]:
    """The current owners of the open enrollments the pause holds: in a paused sequence those
    with touches waiting; for a paused mailbox those it has sent for (a touch learns its From
    address when it is sent)."""
    works = current_owner_sql()
    in_scope = (
        and_(
            col(Enrollment.sequence) == pause.name,
            col(Touch.status).in_((*WAITING, TouchStatus.HELD)),
        )
        if pause.scope == PauseScope.SEQUENCE
        else from_mailbox(pause.name)
    )
    rows = session.execute(
        select(works)
        .join(Touch, col(Touch.enrollment_id) == Enrollment.id)
        .where(col(Enrollment.status).in_(OPEN_STATUSES), in_scope, works.is_not(None))
        .distinct()
        .order_by(works)
        .limit(MAX_PEOPLE)
    ).scalars()
    return [str(owner) for owner in rows]


def audience(pause: SendingPause, owners: list[str], team: TeamSpec) -> list[str]:
    """The paused mailbox's own rep (when it is one), the owners it holds, and their managers."""
    people: list[str] = []
    mailbox = [pause.name] if pause.scope == PauseScope.MAILBOX and team.owner(pause.name) else []
    for person in (*mailbox, *owners):
        profile = team.owner(person)
        for who in (person, profile.manager if profile else None):
            if who and who not in people:
                people.append(who)
    return people


def _raise(
    session: Session, pause: SendingPause, people: list[str], team: TeamSpec, now: datetime
) -> int:
    assert team.alerts is not None
    text = (
        f"Sending paused: {pause.scope} {pause.name}: {pause.reason}. Its touches are held, "
        f"none lost, until `followup mailboxes resume {pause.name}`."
    )
    return queue_alert_rows(
        session,
        team.alerts,
        enrollment_id=None,
        level=PAUSED,
        people=people,
        lead_email="",
        about=pause.name,
        text=text,
        now=now,
        due=now,  # a pause is urgent: never held for a digest
    )
