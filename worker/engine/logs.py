"""Logging for every process: text (the default) or one JSON object per line
(FOLLOWUP_LOG_FORMAT=json) carrying the ids of the touch being worked on, and never a secret.

Ids come from `log_context`/`bind` (a contextvar: each worker thread has its own), so every
line written while a touch is delivered, SMTP errors included, names that touch.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import traceback
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, TextIO

ID_FIELDS = ("touch_id", "enrollment_id", "lead_id", "sequence", "step", "message_id", "event_id")
_CONTEXT: ContextVar[dict[str, Any]] = ContextVar("followup_log_context", default={})  # noqa: B039  # never mutated: replaced
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}
MASK = "***"
_PATTERNS = (
    # scheme://user:password@host -> scheme://user:***@host (SMTP, database, Redis URLs)
    (re.compile(r"([a-zA-Z][a-zA-Z0-9+.\-]*://[^\s:/@]*:)[^\s@/]+@"), rf"\1{MASK}@"),
    (re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=\-]+"), rf"\1{MASK}"),
    (re.compile(r"\bfu_[A-Za-z0-9_\-]{8,}"), f"fu_{MASK}"),  # API keys (worker/auth/apikeys.py)
    (re.compile(r"(?i)([?&](?:token|key|api_key|password|secret)=)[^&\s\"']+"), rf"\1{MASK}"),
    (re.compile(r"(?i)\b(password\s*[=:]\s*)[^\s,;'\"]+"), rf"\1{MASK}"),  # libpq DSNs
)
# What any of _PATTERNS needs in the text: one search rules all five out for an ordinary line
# (a delivery's log lines were ~5% of a worker's CPU in their substitutions, issue 15).
_SUSPECT = re.compile(r"(?i)://|bearer|fu_|[?&](?:token|key|api_key|password|secret)=|password")


class Redactor:
    """Known secret values (from the settings) and secret-shaped text, replaced by ***."""

    MIN_LENGTH = 4  # shorter values would mask ordinary words

    def __init__(self) -> None:
        self._secrets: list[str] = []

    def protect(self, values: Iterable[str | None]) -> None:
        known = set(self._secrets) | {v for v in values if v and len(v) >= self.MIN_LENGTH}
        self._secrets = sorted(known, key=len, reverse=True)  # longest first: no partial leak

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        if _SUSPECT.search(text) is None:
            return text
        for pattern, replacement in _PATTERNS:
            text = pattern.sub(replacement, text)
        return text


REDACTOR = Redactor()


def redact(text: str) -> str:
    return REDACTOR.redact(text)


@contextmanager
def log_context(**ids: Any) -> Iterator[None]:
    """Ids every log line inside carries; `bind` may add more until the block ends."""
    token = _CONTEXT.set({**_CONTEXT.get(), **{k: v for k, v in ids.items() if v is not None}})
    try:
        yield
    finally:
        _CONTEXT.reset(token)


def bind(**ids: Any) -> None:
    """Add ids to the current context (call inside a `log_context` block, which undoes it)."""
    _CONTEXT.set({**_CONTEXT.get(), **{k: v for k, v in ids.items() if v is not None}})


class ContextFilter(logging.Filter):
    """Copies the current ids onto each record (explicit `extra=` values win)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, value in _CONTEXT.get().items():
            if not hasattr(record, name):
                setattr(record, name, value)
        return True


class RedactingFilter(logging.Filter):
    """Renders the message, traceback and extra strings once, with secrets masked."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = redact(record.getMessage()), None
        if record.exc_info and not record.exc_text:
            record.exc_text = "".join(traceback.format_exception(*record.exc_info)).rstrip()
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        for name, value in list(vars(record).items()):
            if name not in _STANDARD and isinstance(value, str):
                setattr(record, name, redact(value))
        return True


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")}


class TextFormatter(logging.Formatter):
    """`time LEVEL logger: message [touch_id=12 sequence=mql]`."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        ids = {k: v for k, v in _extras(record).items() if k in ID_FIELDS}
        if not ids:
            return line
        first, newline, rest = line.partition("\n")
        suffix = " ".join(f"{k}={v}" for k, v in ids.items())
        return f"{first} [{suffix}]{newline}{rest}"


class JsonFormatter(logging.Formatter):
    """One object per line: time, level, logger, message, the ids and any extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(_extras(record))
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        return json.dumps(entry, default=str, ensure_ascii=False)


class _StandardError(logging.StreamHandler[TextIO]):
    """Writes to whatever sys.stderr is at the time (test captures swap it)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _value: TextIO) -> None:
        pass


def configure_logging(log_format: str = "text", *, secrets: Iterable[str | None] = ()) -> None:
    """Install the one followup handler on the root logger (replacing ours, keeping others)."""
    REDACTOR.protect(secrets)
    root = logging.getLogger()
    for handler in [h for h in root.handlers if getattr(h, "followup", False)]:
        root.removeHandler(handler)
    handler = _StandardError()
    handler.followup = True  # type: ignore[attr-defined]  # marks the handler as ours
    handler.addFilter(ContextFilter())
    handler.addFilter(RedactingFilter())
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    root.addHandler(handler)
    if root.level == logging.NOTSET or root.level > logging.WARNING:
        root.setLevel(logging.WARNING)
