"""Delivering SLA alerts: email through the same sender as the touches, or a Slack webhook;
in digest mode one message per person and channel for everything due."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import update
from sqlmodel import Session, col, select

from models.compliance import ComplianceKind
from models.enrollment import Enrollment
from models.notification import AlertStatus, SlaAlert
from worker.compliance import log
from worker.compliance.report import at_risk_now
from worker.engine.db import changed_rows, transaction
from worker.engine.runtime import Runtime
from worker.engine.tunables import ALERT_BATCH, ALERT_FIRST_RETRY, ALERT_LEASE, ALERT_MAX_ATTEMPTS
from worker.flow.outgoing import message_id_for
from worker.mail import OutgoingEmail, PermanentSendError, SendError
from worker.notify.http import Poster
from worker.notify.slack import slack_message
from worker.specs.alerts import AlertsSpec

TITLES = {
    "breached": "SLA breached",
    "reassigned": "Lead reassigned to you",
    "paused": "Sending paused",  # a guardrail (worker/notify/pause_alerts.py)
}


@dataclass(frozen=True)
class Failure:
    reason: str
    permanent: bool = False


def title_of(level: str) -> str:
    return TITLES.get(level, "SLA at risk")


def deliver_alerts(rt: Runtime, poster: Poster) -> int:
    """Send what is due; returns how many alerts went out."""
    alerts = rt.catalog.team.alerts
    now = rt.clock.now()
    with transaction(rt.engine) as session:
        _redrive_lost(session, now)
        batches = _claim(session, now, digest=bool(alerts and alerts.digest))
    sent = 0
    for batch in batches:
        failure = _send(rt, poster, alerts, batch) if alerts else Failure("alerts: removed", True)
        with transaction(rt.engine) as session:
            _record(session, batch, failure, rt.clock.now())
        sent += len(batch) if failure is None else 0
    return sent


def _redrive_lost(session: Session, now: datetime) -> None:
    changed_rows(
        session,
        update(SlaAlert)
        .where(col(SlaAlert.status) == AlertStatus.SENDING, col(SlaAlert.lease_until) < now)
        .values(status=AlertStatus.PENDING, lease_until=None),
    )


def _claim(session: Session, now: datetime, *, digest: bool) -> list[list[SlaAlert]]:
    """Due alerts claimed (compare-and-set), as messages: per person and channel in a digest."""
    due = session.exec(
        select(SlaAlert.id)
        .where(col(SlaAlert.status) == AlertStatus.PENDING, col(SlaAlert.due_at) <= now)
        .order_by(col(SlaAlert.due_at), col(SlaAlert.id))
        .limit(ALERT_BATCH)
    ).all()
    if not due:
        return []
    won = session.execute(
        update(SlaAlert)
        .where(col(SlaAlert.id).in_(due), col(SlaAlert.status) == AlertStatus.PENDING)
        .values(
            status=AlertStatus.SENDING,
            lease_until=now + ALERT_LEASE,
            attempts=col(SlaAlert.attempts) + 1,
        )
        .returning(col(SlaAlert.id))
    ).scalars()
    rows = _drop_obsolete(
        session,
        session.exec(
            select(SlaAlert)
            .where(col(SlaAlert.id).in_(list(won)))
            .order_by(col(SlaAlert.id))
            .execution_options(populate_existing=True)
        ).all(),
    )
    if not digest:
        return [[row] for row in rows]
    grouped: dict[tuple[str, str], list[SlaAlert]] = defaultdict(list)
    for row in rows:
        grouped[(row.recipient, row.channel)].append(row)
    return list(grouped.values())


def _drop_obsolete(session: Session, rows: Sequence[SlaAlert]) -> list[SlaAlert]:
    """An at-risk alert held for a digest is not sent once its lead is out of risk (it replied,
    got its touches, or was decided meanwhile); breaches and reassignments always go out."""
    risky = [row.enrollment_id for row in rows if row.level.startswith("at_risk.")]
    still = set(
        session.exec(
            select(Enrollment.id).where(col(Enrollment.id).in_(risky), at_risk_now())
        ).all()
    )
    keep = []
    for row in rows:
        if row.level.startswith("at_risk.") and row.enrollment_id not in still:
            row.status, row.lease_until = AlertStatus.OBSOLETE, None
            row.last_error = "no longer at risk when it was due"
            session.add(row)
        else:
            keep.append(row)
    return keep


def _send(rt: Runtime, poster: Poster, alerts: AlertsSpec, batch: list[SlaAlert]) -> Failure | None:
    first = batch[0]
    profile = rt.catalog.team.owner(first.recipient)
    name = profile.name if profile and profile.name else None
    person = f"{name} <{first.recipient}>" if name else first.recipient
    if len(batch) == 1:
        title = title_of(first.level)
        pause = first.enrollment_id is None  # about the paused mailbox or sequence, not a lead
        subject = f"{title}: {first.sequence if pause else f'{first.lead} ({first.sequence})'}"
    else:
        title = subject = f"{len(batch)} SLA alerts for {name or first.recipient}"
    lines = [alert.text for alert in batch]
    if first.channel == "slack":
        return _post_slack(rt, poster, alerts, title, lines, f"for {person} · followup")
    return _email(rt, alerts, first.recipient, subject, lines)


def _email(
    rt: Runtime, alerts: AlertsSpec, to: str, subject: str, lines: list[str]
) -> Failure | None:
    sender = alerts.sender or rt.settings.default_from
    if not sender:
        return Failure("no sender for alert emails: set alerts.from or FOLLOWUP_DEFAULT_FROM", True)
    text = "\n".join(lines) + (
        f"\n\nThe lists: followup sla at-risk --owner {to}; followup mailboxes list\n"
    )
    email = OutgoingEmail(
        sender=sender,
        to=to,
        subject=subject,
        text=text,
        html=None,
        message_id=message_id_for(sender),
        headers=(("Auto-Submitted", "auto-generated"),),
    )
    try:
        rt.mailer.send(email)
    except PermanentSendError as exc:
        return Failure(str(exc), True)
    except SendError as exc:
        return Failure(str(exc))
    return None


def _post_slack(
    rt: Runtime, poster: Poster, alerts: AlertsSpec, title: str, lines: list[str], footer: str
) -> Failure | None:
    url = rt.settings.environment.get(alerts.slack_webhook_env or "")
    if not url:
        return Failure(f"{alerts.slack_webhook_env} is not set", True)
    body = json.dumps(slack_message(title, lines, footer)).encode()
    posted = poster.post(url, body, {"Content-Type": "application/json"})
    return None if posted.ok else Failure(f"slack: {posted.error}", posted.final)


def _record(
    session: Session, batch: list[SlaAlert], failure: Failure | None, now: datetime
) -> None:
    """Sent (one log line per alert), retried with backoff, or failed for good."""
    for alert in batch:
        values: dict[str, object]
        if failure is None:
            values = {"status": AlertStatus.SENT, "sent_at": now, "last_error": None}
        elif failure.permanent or alert.attempts >= ALERT_MAX_ATTEMPTS:
            values = {"status": AlertStatus.FAILED, "last_error": failure.reason[:1000]}
        else:
            retry = ALERT_FIRST_RETRY * 2 ** (alert.attempts - 1)
            values = {
                "status": AlertStatus.PENDING,
                "due_at": now + retry,
                "last_error": failure.reason[:1000],
            }
        changed = changed_rows(
            session,
            update(SlaAlert)
            .where(col(SlaAlert.id) == alert.id, col(SlaAlert.status) == AlertStatus.SENDING)
            .values(lease_until=None, **values),
        )
        if changed and failure is None:
            log.append(
                session,
                ComplianceKind.ALERT_SENT,
                at=now,
                lead_email=alert.lead,
                enrollment=session.get(Enrollment, alert.enrollment_id)
                if alert.enrollment_id is not None
                else None,
                detail=f"{alert.level} to {alert.recipient} by {alert.channel}",
            )
