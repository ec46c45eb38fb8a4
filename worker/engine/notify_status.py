"""`followup status` sections for SLA risk and the outboxes: leads at risk, alerts, webhooks."""

from __future__ import annotations

from sqlmodel import Session, col, func, select

from models.notification import SlaAlert
from worker.compliance.at_risk import at_risk_by_owner
from worker.notify.webhook_delivery import delivery_counts


def alert_counts(session: Session) -> dict[str, int]:
    rows = session.exec(select(SlaAlert.status, func.count()).group_by(col(SlaAlert.status))).all()
    return {str(status): int(n) for status, n in rows}


def notify_sections(session: Session) -> dict[str, dict[str, int]]:
    """At risk per rep, alerts by status, webhook deliveries by status."""
    return {
        "at_risk": at_risk_by_owner(session),
        "alerts": alert_counts(session),
        "webhooks": delivery_counts(session),
    }
