"""Lead upserts: every way a lead comes in (event, API, CSV row, unsubscribe) ends here."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, select

from models.lead import PROFILE_COLUMNS, Lead, LeadIn


def upsert_lead(session: Session, data: LeadIn, *, now: datetime) -> tuple[Lead, bool]:
    """Create or update by email; fields not given keep stored values. Returns (lead, created)."""
    lead = session.exec(select(Lead).where(Lead.email == data.email)).first()
    created = lead is None
    if lead is None:
        lead = Lead(email=data.email, created_at=now, updated_at=now, fields={})
    for name in PROFILE_COLUMNS:
        value = getattr(data, name)
        if value is not None:
            setattr(lead, name, value)
    if data.fields:
        lead.fields = {**(lead.fields or {}), **data.fields}
    lead.updated_at = now
    session.add(lead)
    if created:
        session.flush()  # the id is needed by what follows; an update can wait for the commit
    return lead, created
