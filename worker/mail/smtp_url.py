"""FOLLOWUP_SMTP_URL parsed into what the SMTP mailer needs, with one-line errors."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import parse_qsl, unquote, urlsplit

_TRUE, _FALSE = {"true", "1", "yes", "on"}, {"false", "0", "no", "off"}


@dataclass(frozen=True, slots=True)
class SmtpTarget:
    """A parsed FOLLOWUP_SMTP_URL; `describe()` never shows the credentials.

    `tls`: "auto" (STARTTLS whenever the server offers it: the default), "starttls" (required),
    "implicit" (smtps://), "none" (never: `?starttls=false`, for a relay with no usable TLS).
    """

    tls: Literal["auto", "none", "starttls", "implicit"]
    host: str
    port: int
    user: str | None
    password: str | None = field(repr=False)  # never in logs

    def describe(self) -> str:
        scheme = "smtps" if self.tls == "implicit" else "smtp"
        return f"{scheme}://{self.host}:{self.port}"


def is_loopback(host: str) -> bool:
    """localhost or a 127.0.0.0/8 / ::1 address: SMTP traffic that never crosses a network."""
    if host.lower().rstrip(".") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def parse_smtp_url(url: str) -> SmtpTarget:
    """smtp://user:pass@host:port[?starttls=true|false] or smtps://...; ValueError, one line."""
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
    starttls: bool | None = None
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key.lower() != "starttls" or value.lower() not in _TRUE | _FALSE:
            raise ValueError(f"SMTP URL option {key}={value} not understood (use starttls=true)")
        starttls = value.lower() in _TRUE
    if starttls is not None and scheme == "smtps":
        raise ValueError("smtps:// is already TLS; drop ?starttls= or use smtp://")
    plain_login = starttls is False and parts.username and not is_loopback(parts.hostname)
    if plain_login:
        raise ValueError(
            f"SMTP URL: starttls=false would send the password to {parts.hostname} in clear "
            "text; use smtps://, or drop starttls=false (STARTTLS is used whenever offered)"
        )
    tls = {None: "auto", True: "starttls", False: "none"}[starttls]
    return SmtpTarget(
        tls="implicit" if scheme == "smtps" else tls,  # type: ignore[arg-type]  # one of four
        host=parts.hostname,
        port=port or (465 if scheme == "smtps" else 25),
        user=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password is not None else None,
    )
