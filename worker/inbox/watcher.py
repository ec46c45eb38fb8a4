"""The watcher: fetch each mailbox, decide and record every message, keep each mailbox's cursor."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from email.utils import parseaddr
from typing import Protocol

from sqlalchemy.exc import IntegrityError, OperationalError

from models.inbound import InboundOutcome, MailboxCursor
from worker.engine import tunables
from worker.engine.db import reading, transaction
from worker.engine.runtime import Runtime
from worker.inbox.maildir_source import MaildirSource
from worker.inbox.recording import (
    Decision,
    InboxContext,
    RawMessage,
    commit_decision,
    process_message,
)

log = logging.getLogger("followup.inbox")
NOT_RECOGNISED = (InboundOutcome.UNMATCHED, InboundOutcome.IGNORED)


class Source(Protocol):
    name: str

    def open(self) -> int: ...  # connect if needed; returns the UIDVALIDITY

    def fetch(self, *, after_uid: int = 0) -> Iterator[RawMessage]: ...

    def done(self, message: RawMessage, *, recognised: bool) -> None: ...

    def wait(self, seconds: float, stop: threading.Event) -> None: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class Seen:
    """One message of a fetch and what was (or, in a dry run, would be) done with it."""

    mailbox: str
    uid: str
    decision: Decision


def make_sources(rt: Runtime) -> list[Source]:
    """team.yaml's mailboxes, else the embedded Maildir (FOLLOWUP_INBOX_DIR)."""
    from worker.inbox.imap_source import ImapSource

    mailboxes = rt.catalog.team.mailboxes
    if not mailboxes:
        return [MaildirSource(rt.settings.inbox_dir)]
    return [ImapSource(spec, rt.settings.password(spec.password_env)) for spec in mailboxes]


def watched_names(rt: Runtime) -> list[str]:
    """The names make_sources gives, without connecting to anything."""
    mailboxes = rt.catalog.team.mailboxes
    if not mailboxes:
        return [MaildirSource(rt.settings.inbox_dir).name]
    return [spec.name for spec in mailboxes]


def inbox_context(rt: Runtime) -> InboxContext:
    """Our own addresses: owners, mailbox users, fixed senders and the default From."""
    team = rt.catalog.team
    own = {owner.email for owner in team.owners}
    own |= {m.target.user.lower() for m in team.mailboxes if "@" in m.target.user}
    senders = [s.sender for s in rt.catalog.sequences.values() if s.sender != "owner"]
    for sender in [*senders, rt.settings.default_from]:
        address = parseaddr(sender or "")[1].lower()
        if address:
            own.add(address)
    return InboxContext(catalog=rt.catalog, versions=rt.versions, own_addresses=frozenset(own))


def poll(rt: Runtime, source: Source, *, dry_run: bool = False) -> list[Seen]:
    """One fetch: every new message decided (and, unless dry_run, recorded and acted on)."""
    uidvalidity = source.open()
    cursor = _cursor(rt, source.name)
    after = cursor.last_uid if cursor.uidvalidity == uidvalidity else 0  # a change: rescan
    if cursor.uidvalidity != uidvalidity and cursor.last_uid:
        log.warning("%s: UIDVALIDITY changed; rescanning (repeats are ignored)", source.name)
    context = inbox_context(rt)
    seen = []
    for raw in source.fetch(after_uid=after):
        decision = _process(rt, source.name, raw, context, dry_run)
        seen.append(Seen(source.name, raw.uid, decision))
        if not dry_run:
            _advance(rt, source.name, uidvalidity, raw.uid)
            source.done(raw, recognised=decision.outcome not in NOT_RECOGNISED)
    if not dry_run:
        _record_fetch(rt, source.name, error=None)
    return seen


def _process(
    rt: Runtime, mailbox: str, raw: RawMessage, context: InboxContext, dry_run: bool
) -> Decision:
    """A message that breaks the recorder is recorded as unmatched with the reason, once;
    a database failure leaves it unread, so the next fetch redoes it (idempotently)."""
    now = rt.clock.now()
    try:
        with (reading if dry_run else transaction)(rt.engine) as session:
            return process_message(
                session, mailbox=mailbox, raw=raw, context=context, now=now, dry_run=dry_run
            )
    except IntegrityError:  # another watcher recorded this position first
        return Decision(InboundOutcome.IGNORED, "recorded by another watcher", key="", already=True)
    except OperationalError:  # the database, not the message: left unread, redone next time
        raise
    except Exception as exc:
        log.exception("%s: message %s could not be processed", mailbox, raw.uid)
        failed = Decision(
            InboundOutcome.UNMATCHED,
            f"not processed: {one_line(exc)}",
            key=f"error:{mailbox}:{raw.uidvalidity}:{raw.uid}",
        )
        if not dry_run:
            with transaction(rt.engine) as session:
                commit_decision(session, failed, mailbox=mailbox, raw=raw, context=context, now=now)
        return failed


def watch(rt: Runtime, source: Source, stop: threading.Event) -> None:
    """Fetch, wait (IDLE or a poll interval), repeat; failures back off and never end the loop."""
    delay = tunables.INBOX_BACKOFF_FIRST_SECONDS
    interval = (
        rt.settings.tick_seconds
        if isinstance(source, MaildirSource)
        else tunables.IMAP_POLL_SECONDS
    )
    while not stop.is_set():
        try:
            for item in poll(rt, source):
                _log_seen(item)
            delay = tunables.INBOX_BACKOFF_FIRST_SECONDS
            source.wait(interval, stop)
        except Exception as exc:  # unreachable, refused login, dropped connection, database
            reason = one_line(exc)
            log.error("%s: %s; retrying in %.0fs", source.name, reason, delay)
            source.close()
            _record_fetch(rt, source.name, error=reason)
            stop.wait(delay)
            delay = min(delay * 2, tunables.INBOX_BACKOFF_MAX_SECONDS)
    source.close()


def run_watcher(rt: Runtime, stop: threading.Event) -> list[threading.Thread]:
    """One thread per mailbox, so one failing mailbox never holds up the others."""
    threads = []
    for source in make_sources(rt):
        thread = threading.Thread(
            target=watch, args=(rt, source, stop), name=f"inbox {source.name}", daemon=True
        )
        thread.start()
        threads.append(thread)
    log.info("inbox watcher started: %s", ", ".join(t.name for t in threads))
    return threads


def _log_seen(item: Seen) -> None:
    d = item.decision
    if not d.already:
        log.info(
            "%s #%s: %s (%s) %s",
            item.mailbox,
            item.uid,
            d.outcome,
            d.lead_email or d.sender or "-",
            d.rule,
        )


def one_line(exc: BaseException) -> str:
    """The reason in one line; library errors keep their type name, ours are plain words."""
    from worker.inbox.imap_source import MailboxError

    text = str(exc).strip().splitlines()
    first = text[0] if text else ""
    if isinstance(exc, MailboxError):
        return first[:480]
    return f"{type(exc).__name__}: {first}".rstrip(": ")[:480]


def _cursor(rt: Runtime, mailbox: str) -> MailboxCursor:
    with transaction(rt.engine) as session:
        return session.get(MailboxCursor, mailbox) or MailboxCursor(mailbox=mailbox)


def _advance(rt: Runtime, mailbox: str, uidvalidity: int, uid: str) -> None:
    """The cursor moves past a message only once it is recorded (a crash redoes it)."""
    number = int(uid) if uid.isdigit() else 0
    with transaction(rt.engine) as session:
        cursor = session.get(MailboxCursor, mailbox) or MailboxCursor(mailbox=mailbox)
        if cursor.uidvalidity != uidvalidity:
            cursor.uidvalidity, cursor.last_uid = uidvalidity, 0
        cursor.last_uid = max(cursor.last_uid, number)
        session.add(cursor)


def _record_fetch(rt: Runtime, mailbox: str, *, error: str | None) -> None:
    now: datetime = rt.clock.now()
    try:
        with transaction(rt.engine) as session:
            cursor = session.get(MailboxCursor, mailbox) or MailboxCursor(mailbox=mailbox)
            cursor.last_fetch_at = now
            if error is None:
                cursor.last_success_at, cursor.last_error, cursor.errors = now, None, 0
            else:
                cursor.last_error, cursor.errors = error, cursor.errors + 1
            session.add(cursor)
    except Exception:  # the database itself is down: the log line above says enough
        log.warning("%s: could not record the fetch in the database", mailbox)
