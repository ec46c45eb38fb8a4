"""Lead upserts: every way a lead comes in (event, API, CSV row, unsubscribe) ends here."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import insert
from sqlalchemy import select as select_columns
from sqlalchemy.orm import make_transient_to_detached
from sqlmodel import Session, select

from models.event import EventIn
from models.lead import LEAD_FACTS, PROFILE_COLUMNS, Lead, LeadFacts, LeadIn
from models.validation import FieldsTooLarge, merge_fields

logger = logging.getLogger("followup.leads")
_LEADS = Lead.__table__  # type: ignore[attr-defined]  # SQLModel sets it on table classes


def upsert_lead(session: Session, data: LeadIn, *, now: datetime) -> tuple[Lead, bool]:
    """Create or update by email; fields not given keep stored values. Returns (lead, created).

    FieldsTooLarge, before anything changed, when the merged custom fields would pass the caps.
    """
    lead = session.exec(select(Lead).where(Lead.email == data.email)).first()
    created = lead is None
    if lead is None:
        lead = Lead(email=data.email, created_at=now, updated_at=now, fields={})
    merge_lead_data(lead, data)
    lead.updated_at = now
    if created:  # the id is needed by what follows: one INSERT ... RETURNING, no ORM flush
        lead.id = session.execute(
            insert(_LEADS).values(_stored_values(lead)).returning(_LEADS.c.id)
        ).scalar_one()
        make_transient_to_detached(lead)  # the row just written, without reading it back
    session.add(lead)  # an update waits for the commit
    return lead, created


def _stored_values(lead: Lead) -> dict[str, object]:
    return {
        column.name: getattr(lead, column.name) for column in _LEADS.columns if column.name != "id"
    }


def merge_lead_data(lead: Lead, data: LeadIn) -> None:
    """What an upsert changes: the values given, custom fields merged into the stored ones;
    FieldsTooLarge, before anything changed, when the merged fields would pass the caps."""
    fields = merge_fields(lead.fields or {}, data.fields) if data.fields else None
    for name in PROFILE_COLUMNS:
        value = getattr(data, name)
        if value is not None:
            setattr(lead, name, value)
    if fields is not None:
        lead.fields = fields


def check_fields_fit(session: Session, data: LeadIn) -> None:
    """FieldsTooLarge now, while the sender can be told, if the fields would not fit once merged."""
    if data.fields:
        stored = session.exec(select(Lead.fields).where(Lead.email == data.email)).first()
        merge_fields(dict(stored or {}), data.fields)


def upsert_event_lead(session: Session, event: EventIn, *, now: datetime) -> tuple[Lead, bool]:
    """An accepted event is carried out even if its fields no longer fit (they are dropped and
    logged): failing here would retry it forever."""
    try:
        return upsert_lead(session, event.lead, now=now)
    except FieldsTooLarge as exc:
        logger.warning("%s: %s; its other lead values are stored", event.lead.email, exc)
        return upsert_lead(session, event.lead.model_copy(update={"fields": {}}), now=now)


def insert_event_leads(
    session: Session, leads: list[LeadIn], *, now: datetime
) -> dict[str, LeadFacts]:
    """Leads of events stored nowhere yet, as upsert_event_lead would create them, in one INSERT;
    returns what enrolling reads of them, by email."""
    session.execute(insert(_LEADS), [_new_lead_values(lead, now) for lead in leads])
    columns = (_LEADS.c[name] for name in LEAD_FACTS)
    facts = select_columns(*columns).where(_LEADS.c.email.in_([lead.email for lead in leads]))
    return {row.email: LeadFacts(*row) for row in session.execute(facts)}


def _new_lead_values(data: LeadIn, now: datetime) -> dict[str, object]:
    fields: dict[str, object] = {}
    try:
        fields = merge_fields({}, data.fields) if data.fields else {}
    except FieldsTooLarge as exc:  # as upsert_event_lead: stored without them, not retried forever
        logger.warning("%s: %s; its other lead values are stored", data.email, exc)
    profile = {name: getattr(data, name) for name in PROFILE_COLUMNS}
    return {**profile, "email": data.email, "fields": fields, "created_at": now, "updated_at": now}
