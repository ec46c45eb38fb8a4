"""FOLLOWUP_SMTP_URL parsed into what the SMTP mailer needs, with one-line errors."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import parse_qsl, unquote, urlsplit

_TRUE, _FALSE = {"true", "1", "yes", "on"}, {"false", "0", "no", "off"}


@dataclass(frozen=True, slots=True)
class SmtpTarget:
    """A parsed FOLLOWUP_SMTP_URL; `describe()` never shows the credentials."""

    tls: Literal["none", "starttls", "implicit"]
    host: str
    port: int
    user: str | None
    password: str | None = field(repr=False)  # never in logs

    def describe(self) -> str:
        scheme = "smtps" if self.tls == "implicit" else "smtp"
        return f"{scheme}://{self.host}:{self.port}"


def parse_smtp_url(url: str) -> SmtpTarget:
    """smtp://user:pass@host:port[?starttls=true] or smtps://...; ValueError with one line."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme not in ("smtp", "smtps"):
        shown = f"{scheme}://" if "://" in url else "no scheme"
        raise ValueError(f"SMTP URL must start with smtp:// or smtps:// (got {shown})")
    try:
        port = parts.port
    except ValueError:
        raise ValueError("SMTP URL has an invalid port") from None
    if not parts.hostname:
        raise ValueError("SMTP URL has no host, e.g. smtp://user:pass@mail.example.com:587")
    if parts.path not in ("", "/") or parts.fragment:
        raise ValueError("SMTP URL takes no path, e.g. smtp://user:pass@mail.example.com:587")
    starttls = False
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key.lower() != "starttls" or value.lower() not in _TRUE | _FALSE:
            raise ValueError(f"SMTP URL option {key}={value} not understood (use starttls=true)")
        starttls = value.lower() in _TRUE
    if starttls and scheme == "smtps":
        raise ValueError("smtps:// is already TLS; drop ?starttls=true or use smtp://")
    return SmtpTarget(
        tls="implicit" if scheme == "smtps" else "starttls" if starttls else "none",
        host=parts.hostname,
        port=port or (465 if scheme == "smtps" else 25),
        user=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password is not None else None,
    )
