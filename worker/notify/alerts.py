"""Raising SLA alerts: one row per person and channel, once per (enrollment, level), for later."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session

from models.enrollment import Enrollment
from models.notification import AlertStatus, SlaAlert
from worker.engine.db import insert_new
from worker.specs.alerts import AlertsSpec
from worker.specs.team import TeamSpec

PERSON_CHANNELS = ("email", "slack")  # the webhook channel is the sla.* events themselves
DIGEST_PERIOD = timedelta(hours=1)


def recipients(audience: Iterable[str], enrollment: Enrollment, team: TeamSpec) -> list[str]:
    """The people an audience names for this lead: its owner, or the owner's manager (else the
    owner: a breach nobody hears of helps nobody)."""
    worker = enrollment.current_owner
    people: list[str] = []
    for who in audience:
        profile = team.owner(worker)
        person = profile.manager if who == "manager" and profile and profile.manager else worker
        if person and person not in people:
            people.append(person)
    return people


def digest_due(now: datetime) -> datetime:
    """Digests go out at the end of the hour an alert was raised in."""
    hour = now.replace(minute=0, second=0, microsecond=0)
    return hour + DIGEST_PERIOD


def raise_alerts(
    session: Session,
    *,
    enrollment: Enrollment,
    lead_email: str,
    level: str,
    people: list[str],
    team: TeamSpec,
    text: str,
    now: datetime,
) -> int:
    """Queue the alert for each person on each channel; a repeat (restart, second scheduler)
    inserts nothing. Returns how many rows are new."""
    alerts = team.alerts
    if alerts is None or enrollment.id is None:
        return 0
    return queue_alert_rows(
        session,
        alerts,
        enrollment_id=enrollment.id,
        level=level,
        people=people,
        lead_email=lead_email,
        about=enrollment.sequence,
        text=text,
        now=now,
        due=digest_due(now) if alerts.digest else now,
    )


def queue_alert_rows(
    session: Session,
    alerts: AlertsSpec,
    *,
    enrollment_id: int | None,
    level: str,
    people: list[str],
    lead_email: str,
    about: str,
    text: str,
    now: datetime,
    due: datetime,
) -> int:
    """One pending row per person and person channel (email, Slack); a repeat inserts nothing.
    `about` is the sequence (for a guardrail pause: the paused mailbox or sequence)."""
    rows = [
        {
            "enrollment_id": enrollment_id,
            "level": level,
            "channel": channel,
            "recipient": person,
            "lead": lead_email,
            "sequence": about[:200],
            "text": text[:1000],
            "created_at": now,
            "due_at": due,
            "status": AlertStatus.PENDING,
            "attempts": 0,
        }
        for channel in alerts.channels
        if channel in PERSON_CHANNELS
        for person in people
    ]
    return insert_new(session, SlaAlert, rows)


def local_words(moment: datetime, zone: ZoneInfo) -> str:
    """`Mon 07 Dec 13:00 EST`: a deadline as the reader's clock shows it."""
    return moment.astimezone(zone).strftime("%a %d %b %H:%M %Z")


def span_words(amount: timedelta) -> str:
    """`2h 05m`, `3d 4h`, `45m`: time left at a glance."""
    minutes = max(0, int(amount.total_seconds()) // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    return f"{hours}h {minutes:02d}m" if hours else f"{minutes}m"
