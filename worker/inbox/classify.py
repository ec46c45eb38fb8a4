"""WHAT CAME BACK: a parsed message -> outcome and the rule that decided it (pure, no I/O)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from models.inbound import InboundOutcome as Outcome
from worker.inbox.parsing import ParsedMessage, RecipientStatus
from worker.inbox.quoting import fresh_text
from worker.inbox.return_dates import return_date

_AUTO_SUBJECT = re.compile(
    r"^\s*(?:(?:auto(?:matic)?[ -]?(?:reply|response|antwort)|autoreply|auto:|"
    r"out of (?:the )?office|ooo\b|away from (?:the )?office|on vacation|on leave|"
    r"abwesenheit|automatische antwort|nicht im (?:büro|haus)|"
    r"réponse automatique|absence|absent|message d'absence|"
    r"respuesta automática|respuesta automatica|fuera de la oficina|ausente|"
    r"risposta automatica|fuori (?:sede|ufficio)|assente|"
    r"automatisch antwoord|afwezig|niet aanwezig|"
    r"resposta automática|fora do escritório|ausência|"
    r"自動応答|不在|自动回复|автоответ|automatyczna odpowiedź|poza biurem))",
    re.IGNORECASE,
)
_PERMANENT = re.compile(
    r"no longer (?:with|at|employed|works?|working|part of)|(?:has|have) left (?:the|our) "
    r"(?:company|firm|organi[sz]ation)|left the company|is no longer (?:available|active)|"
    r"this (?:mailbox|address|account) is (?:no longer|not) (?:monitored|in use|active)|"
    r"nicht mehr (?:für|bei|im unternehmen|erreichbar|tätig)|hat das unternehmen verlassen|"
    r"ne fait plus partie|n'est plus (?:en poste|chez|dans)|a quitté (?:la société|l'entreprise)|"
    r"ya no (?:trabaja|forma parte|está en)|non (?:lavora|fa) più|"
    r"niet meer (?:werkzaam|in dienst)|não (?:trabalha|faz parte) mais",
    re.IGNORECASE,
)
_STOP = re.compile(
    r"^\W*(?:unsubscribe|remove me|stop)\W*$|\b(?:please|pls|kindly)?\s*(?:unsubscribe me|"
    r"remove me from|take me off|stop (?:emailing|e-mailing|sending|contacting|mailing)|"
    r"do not (?:email|contact|e-mail) me|don't (?:email|contact) me|no more emails|"
    r"opt me out|bitte (?:abmelden|austragen)|keine (?:weiteren )?e-?mails|"
    r"désabonnez|désinscri|ne plus (?:m'envoyer|recevoir)|darme de baja|dejen de enviar|"
    r"cancellami|non (?:inviatemi|scrivetemi)|afmelden)",
    re.IGNORECASE | re.MULTILINE,
)
_BOUNCE_SENDER = re.compile(r"^(?:mailer-daemon|postmaster|mail-daemon|bounces?)@", re.I)
_BOUNCE_SUBJECT = re.compile(
    r"undeliver|undelivered|delivery (?:status notification|failure|has failed)|"
    r"mail delivery (?:failed|failure|system)|returned mail|failure notice|"
    r"unzustellbar|non remis|no entregado|non recapitato",
    re.IGNORECASE,
)
_STATUS_IN_TEXT = re.compile(r"(?<![\d.])([45])\.(\d{1,3})\.(\d{1,3})(?![\d.])")
_STOP_TEXT_LIMIT = 600  # a long message that mentions "unsubscribe" is a reply, not a request


@dataclass(frozen=True, slots=True)
class Classification:
    outcome: Outcome
    rule: str  # the header, field or pattern that decided, for people
    address: str | None = None  # whom it is about: the sender, or a DSN's failed recipient
    returned_message_id: str | None = None  # DSN / ARF: the message of ours it returns
    return_on: date | None = None  # auto_reply: the date in the text

    @property
    def is_report(self) -> bool:
        return self.outcome in (Outcome.BOUNCE, Outcome.BOUNCE_TEMPORARY, Outcome.COMPLAINT)


def classify(
    parsed: ParsedMessage, *, own_addresses: frozenset[str], today: date
) -> Classification:
    """Reports first (they come from daemons), then our own mail, auto-replies, stop requests."""
    if parsed.report_type == "feedback-report" or parsed.feedback:
        return _complaint(parsed)
    if parsed.report_type == "delivery-status" or parsed.dsn:
        return _dsn(parsed)
    if _looks_like_bounce(parsed):
        return _plain_bounce(parsed)
    if parsed.sender is None:
        return Classification(Outcome.UNMATCHED, "no usable From address")
    if parsed.sender in own_addresses:
        return Classification(Outcome.IGNORED, f"from our own mailbox {parsed.sender}")
    auto = _auto_reply_rule(parsed)
    if auto is not None:
        return _auto_reply(parsed, auto, today)
    bulk = _bulk_rule(parsed)
    if bulk is not None:
        return Classification(Outcome.UNMATCHED, f"bulk or list mail ({bulk})", parsed.sender)
    return _person(parsed)


def _auto_reply(parsed: ParsedMessage, auto: str, today: date) -> Classification:
    """Gone for good ("no longer with the company"), or away until the date in the text."""
    text = fresh_text(parsed.text)
    gone = _PERMANENT.search(text) or _PERMANENT.search(parsed.subject)
    if gone is not None:
        rule = f"{auto}; text says {gone[0]!r}"
        return Classification(Outcome.AUTO_REPLY_PERMANENT, rule, parsed.sender)
    received = parsed.date.date() if parsed.date else today
    back = return_date(f"{parsed.subject}\n{text}", received=received)
    rule = f"{auto}; back on {back.isoformat()}" if back else f"{auto}; no return date in the text"
    return Classification(Outcome.AUTO_REPLY, rule, parsed.sender, return_on=back)


def _person(parsed: ParsedMessage) -> Classification:
    """A person wrote it: a request to stop, else a reply."""
    fresh = fresh_text(parsed.text)
    stop = _STOP.search(parsed.subject) or (
        _STOP.search(fresh) if len(fresh.strip()) <= _STOP_TEXT_LIMIT else None
    )
    if stop is not None:
        rule = f"reply asks to stop: {stop[0].strip()!r}"
        return Classification(Outcome.UNSUBSCRIBE, rule, parsed.sender)
    quoted = "with quoted text" if len(fresh) < len(parsed.text.strip()) else "no quoted text"
    return Classification(Outcome.REPLY, f"a person's reply ({quoted})", parsed.sender)


def _auto_reply_rule(parsed: ParsedMessage) -> str | None:
    """RFC 3834 Auto-Submitted, the vendors' X- headers, Precedence, then subject patterns."""
    headers = parsed.headers
    submitted = headers.get("auto-submitted", "").lower()
    if submitted and not submitted.startswith("no"):
        return f"Auto-Submitted: {submitted}"
    for name in ("x-autoreply", "x-autorespond", "x-autoresponder"):
        if name in headers:
            return f"{name.title()}: {headers[name][:40]}"
    precedence = (headers.get("precedence") or headers.get("x-precedence") or "").lower()
    if precedence == "auto_reply":
        return "Precedence: auto_reply"
    found = _AUTO_SUBJECT.search(parsed.subject)
    if found:
        return f"subject starts {found[0].strip()!r}"
    return None


def _bulk_rule(parsed: ParsedMessage) -> str | None:
    """Newsletters and list traffic are nobody's reply (auto-replies were recognised before)."""
    precedence = (parsed.headers.get("precedence") or "").lower()
    if precedence in ("bulk", "list", "junk"):
        return f"Precedence: {precedence}"
    if "list-id" in parsed.headers:
        return "List-Id"
    return None


def _complaint(parsed: ParsedMessage) -> Classification:
    kind = parsed.feedback.get("feedback-type", "abuse")
    who = _first(
        [
            parsed.feedback.get("original-rcpt-to"),
            parsed.feedback.get("removal-recipient"),
            *parsed.original_to,
        ]
    )
    return Classification(
        Outcome.COMPLAINT,
        f"ARF feedback report (RFC 5965), Feedback-Type: {kind}",
        who,
        parsed.original_message_id,
    )


def _dsn(parsed: ParsedMessage) -> Classification:
    """Permanence from the DSN's own Status and Action: 5.x.x failed suppresses, the rest waits."""
    records = parsed.dsn
    failed = [r for r in records if r.status.startswith("5") and r.action in ("failed", "")]
    if failed:
        return _dsn_outcome(Outcome.BOUNCE, failed[0], parsed)
    pending = [
        r
        for r in records
        if r.action == "delayed" or r.status.startswith("4") or r.action == "failed"
    ]
    if pending:
        return _dsn_outcome(Outcome.BOUNCE_TEMPORARY, pending[0], parsed)
    if records and all(r.action in ("delivered", "relayed", "expanded") for r in records):
        return Classification(
            Outcome.IGNORED, f"DSN Action: {records[0].action} (a success notice)", None
        )
    return Classification(Outcome.UNMATCHED, "delivery report without a recipient status")


def _dsn_outcome(
    outcome: Outcome, record: RecipientStatus, parsed: ParsedMessage
) -> Classification:
    rule = f"DSN Status: {record.status or '-'}, Action: {record.action or '-'}"
    if record.diagnostic:
        rule += f" ({record.diagnostic.strip()[:120]})"
    who = _first([record.original_recipient, record.recipient, *parsed.original_to])
    returned = parsed.original_message_id or parsed.reported_message_id
    return Classification(outcome, rule, who, returned)


def _looks_like_bounce(parsed: ParsedMessage) -> bool:
    daemon = parsed.sender is not None and _BOUNCE_SENDER.match(parsed.sender) is not None
    return daemon or bool(
        _BOUNCE_SUBJECT.search(parsed.subject) and "x-failed-recipients" in parsed.headers
    )


def _plain_bounce(parsed: ParsedMessage) -> Classification:
    """A non-RFC 3464 bounce: only a status code in its text may call it permanent."""
    failed = parsed.headers.get("x-failed-recipients", "")
    who = _first([*re.split(r"[,\s]+", failed), *parsed.original_to])
    returned = parsed.original_message_id or _returned_id(parsed.text)
    status = _STATUS_IN_TEXT.search(parsed.text)
    if status is None:
        return Classification(
            Outcome.UNMATCHED, "a bounce without a delivery report or status code", who, returned
        )
    code = ".".join(status.groups())
    outcome = Outcome.BOUNCE if code.startswith("5") else Outcome.BOUNCE_TEMPORARY
    return Classification(
        outcome, f"bounce without a DSN: status {code} in its text", who, returned
    )


def _returned_id(text: str) -> str | None:
    found = re.search(r"^\s*Message-ID:\s*(<[^<>\s]+@[^<>\s]+>)", text, re.I | re.M)
    return found[1] if found else None


def _first(values: list[str | None]) -> str | None:
    for value in values:
        if value and "@" in value:
            return value.strip().strip("<>").lower()
    return None
