"""WHERE A REPLY IS HEARD: one inbound message -> one row, one event, one compliance log line."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session, select

from models.compliance import ComplianceKind
from models.event import EventIn
from models.inbound import InboundMessage
from models.inbound import InboundOutcome as Outcome
from models.lead import LeadIn
from worker.compliance import log
from worker.flow.events import apply_event, record_event
from worker.inbox.classify import Classification, classify
from worker.inbox.matching import Match, NoMatch, is_copy_of_ours, match, match_report
from worker.inbox.parsing import ParsedMessage, clean, parse_message
from worker.inbox.providers import ProviderEvent
from worker.specs.catalog import Catalog
from worker.specs.sequences import AUTO_REPLIED
from worker.specs.versions import VersionStore

# The event each outcome becomes; the others are only recorded and logged.
EVENT_FOR = {
    Outcome.REPLY: "email.replied",
    Outcome.AUTO_REPLY: AUTO_REPLIED,
    Outcome.AUTO_REPLY_PERMANENT: "email.bounced",  # the address is dead: exit and suppress
    Outcome.BOUNCE: "email.bounced",
    Outcome.COMPLAINT: "email.complained",
    Outcome.UNSUBSCRIBE: "lead.unsubscribed",
}


# Deliveries are counted, not logged one by one; our own mail and repeats are about no lead.
UNLOGGED = (Outcome.DELIVERED, Outcome.IGNORED)


@dataclass(frozen=True)
class InboxContext:
    """What deciding needs besides the database, built once at the edge."""

    catalog: Catalog
    versions: VersionStore
    own_addresses: frozenset[str]


@dataclass(frozen=True)
class RawMessage:
    uidvalidity: int
    uid: str
    data: bytes
    arrived_at: datetime | None = None


@dataclass
class Decision:
    outcome: Outcome
    rule: str
    key: str
    sender: str | None = None
    subject: str | None = None
    matched: Match | None = None
    hold_until: datetime | None = None
    already: bool = False  # this position was processed before: nothing was done again

    @property
    def lead_email(self) -> str | None:
        return self.matched.lead.email if self.matched else None

    @property
    def event_type(self) -> str | None:
        return EVENT_FOR.get(self.outcome) if self.matched else None


def process_message(
    session: Session,
    *,
    mailbox: str,
    raw: RawMessage,
    context: InboxContext,
    now: datetime,
    dry_run: bool = False,
) -> Decision:
    """Decide, and unless `dry_run` record and act; a position seen before is left alone."""
    existing = _at_position(session, mailbox, raw.uidvalidity, raw.uid)
    if existing is not None:
        return _from_row(existing)
    parsed = parse_message(raw.data)
    decision = decide(session, parsed, context, now=now, mailbox=mailbox)
    if not dry_run:
        commit_decision(session, decision, mailbox=mailbox, raw=raw, context=context, now=now)
    return decision


def decide(
    session: Session, parsed: ParsedMessage, context: InboxContext, *, now: datetime, mailbox: str
) -> Decision:
    """The outcome, its rule and the touch it belongs to; reads the database, writes nothing."""
    base = Decision(Outcome.UNMATCHED, "", parsed.key, parsed.sender, parsed.subject or None)
    earlier = session.exec(select(InboundMessage).where(InboundMessage.key == parsed.key)).first()
    if earlier is not None:
        rule = f"the same message was read before from {earlier.mailbox} ({earlier.outcome})"
        return replace(base, outcome=Outcome.IGNORED, rule=rule)
    found = classify(parsed, own_addresses=context.own_addresses, today=now.date())
    if not found.is_report and is_copy_of_ours(session, parsed):
        return replace(base, outcome=Outcome.IGNORED, rule="a copy of a message we sent")
    if parsed.problems and found.outcome == Outcome.UNMATCHED:
        found = Classification(found.outcome, f"{found.rule}; {parsed.problems[0]}", found.address)
    if found.outcome in (Outcome.IGNORED, Outcome.UNMATCHED):
        return replace(base, outcome=found.outcome, rule=found.rule)
    return _matched_decision(session, found, match(session, parsed, found), context, now, base)


def decide_report(
    session: Session, found: Classification, context: InboxContext, *, now: datetime, key: str
) -> Decision:
    """A provider's event, already classified: match it as a report (Message-ID, then address)."""
    base = Decision(found.outcome, found.rule, key)
    if found.outcome in (Outcome.IGNORED, Outcome.UNMATCHED):
        return base
    return _matched_decision(session, found, match_report(session, found), context, now, base)


def _matched_decision(
    session: Session,
    found: Classification,
    matched: Match | NoMatch,
    context: InboxContext,
    now: datetime,
    base: Decision,
) -> Decision:
    if isinstance(matched, NoMatch):
        rule = f"{found.rule}; looks like {found.outcome} but unmatched: {matched.reason}"
        return replace(base, outcome=Outcome.UNMATCHED, rule=rule)
    rule = f"{found.rule}; matched by {matched.by}"
    decision = replace(base, outcome=found.outcome, rule=rule, matched=matched)
    if found.outcome == Outcome.AUTO_REPLY:
        decision.hold_until = _hold_until(session, found.return_on, matched, context, now)
    return decision


def _hold_until(
    session: Session, back: date | None, matched: Match, context: InboxContext, now: datetime
) -> datetime:
    """The start of the return day in the lead's zone, else the configured pause from now."""
    if back is None:
        return now + timedelta(days=context.catalog.team.auto_reply_pause)
    zone = ZoneInfo("UTC")
    if matched.enrollment is not None:
        spec = context.versions.get(session, matched.enrollment.version)
        zone = spec.zone_for(matched.lead.timezone)
    return datetime.combine(back, time(0), tzinfo=zone).astimezone(UTC)


def commit_decision(
    session: Session,
    decision: Decision,
    *,
    mailbox: str,
    raw: RawMessage,
    context: InboxContext,
    now: datetime,
) -> InboundMessage:
    """The row, the compliance line, then the event through the one path every face shares."""
    at = min(raw.arrived_at or now, now)
    row = _row(decision, mailbox=mailbox, raw=raw, now=now)
    session.add(row)
    if decision.outcome not in UNLOGGED:
        log.append(
            session,
            ComplianceKind(f"inbox.{decision.outcome}"),
            at=at,
            lead_email=decision.lead_email or decision.sender or "unknown",
            enrollment=decision.matched.enrollment if decision.matched else None,
            step=row.step,
            touch_id=row.touch_id,
            detail=f"{row.rule}; mailbox {row.mailbox}",
        )
    if decision.event_type is not None and decision.matched is not None:
        row.event_id = _send_event(session, decision, at=at, context=context, now=now)
    session.flush()
    return row


def _row(decision: Decision, *, mailbox: str, raw: RawMessage, now: datetime) -> InboundMessage:
    """The inbound_message row: what it was, and the touch, enrollment and mailbox it matched
    (a subject only when it matched a lead: the rest of a rep's mail is not ours to keep)."""
    touch = decision.matched.touch if decision.matched else None
    enrollment = decision.matched.enrollment if decision.matched else None
    return InboundMessage(
        mailbox=mailbox[:320],
        uidvalidity=raw.uidvalidity,
        uid=raw.uid[:255],
        key=decision.key[:255],
        received_at=now,
        arrived_at=raw.arrived_at,
        outcome=decision.outcome,
        rule=clean(decision.rule, 500),
        sender=decision.sender,
        subject=clean(decision.subject, 500) if decision.subject and decision.matched else None,
        lead_email=decision.lead_email,
        touch_id=touch.id if touch else None,
        enrollment_id=enrollment.id if enrollment else None,
        sequence=enrollment.sequence if enrollment else None,
        step=touch.step if touch else None,
        sending_mailbox=_address(touch.sender) if touch else None,
        hold_until=decision.hold_until,
    )


def _send_event(
    session: Session, decision: Decision, *, at: datetime, context: InboxContext, now: datetime
) -> int | None:
    assert decision.matched is not None and decision.event_type is not None
    detail = (
        decision.rule
        if decision.outcome != Outcome.AUTO_REPLY_PERMANENT
        else (f"no longer there (auto-reply): {decision.rule}")
    )
    event = EventIn(
        type=decision.event_type,
        lead=LeadIn(email=decision.matched.lead.email),
        id=f"inbox:{decision.key}"[:200],
        occurred_at=at,
        detail=clean(detail, 2000),
        until=decision.hold_until,
    )
    row, _ = record_event(session, event, now=now)
    apply_event(session, row, catalog=context.catalog, versions=context.versions, now=now)
    return row.id


def record_provider_event(
    session: Session, event: ProviderEvent, context: InboxContext, *, now: datetime
) -> Decision:
    """A webhook's event once per provider id: the same delivery again changes nothing."""
    existing = _at_position(session, event.provider, 0, event.event_id)
    if existing is not None:
        return _from_row(existing)
    found = Classification(event.outcome, event.rule, event.address, event.message_id)
    key = f"{event.provider}:{event.event_id}"
    decision = decide_report(session, found, context, now=now, key=key)
    raw = RawMessage(uidvalidity=0, uid=event.event_id, data=b"", arrived_at=now)
    commit_decision(session, decision, mailbox=event.provider, raw=raw, context=context, now=now)
    return decision


def _at_position(
    session: Session, mailbox: str, uidvalidity: int, uid: str
) -> InboundMessage | None:
    return session.exec(
        select(InboundMessage).where(
            InboundMessage.mailbox == mailbox,
            InboundMessage.uidvalidity == uidvalidity,
            InboundMessage.uid == uid,
        )
    ).first()


def _from_row(row: InboundMessage) -> Decision:
    return Decision(
        outcome=row.outcome,
        rule=row.rule,
        key=row.key,
        sender=row.sender,
        subject=row.subject,
        hold_until=row.hold_until,
        already=True,
    )


def _address(sender: str | None) -> str | None:
    from email.utils import parseaddr

    value = parseaddr(sender or "")[1].lower()
    return value or None
