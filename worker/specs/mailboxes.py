"""`mailboxes:` in team.yaml: the IMAP inboxes the watcher reads (passwords stay in the env)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Annotated, Literal
from urllib.parse import unquote, urlsplit

from pydantic import Field, field_validator

from worker.specs.spec_parts import Strict

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
DEFAULT_AUTO_REPLY_PAUSE_DAYS = 7
# team.yaml `auto_reply_pause`: days an out-of-office holds a lead's touches when its text has
# no return date we can read.
AutoReplyPause = Annotated[int, Field(ge=1, le=90)]


@dataclass(frozen=True, slots=True)
class ImapTarget:
    """A parsed mailbox URL; `describe()` never shows a password."""

    tls: Literal["implicit", "starttls"]
    host: str
    port: int
    user: str
    folder: str
    password: str | None = field(default=None, repr=False)

    def describe(self) -> str:
        scheme = "imaps" if self.tls == "implicit" else "imap"
        return f"{scheme}://{self.user}@{self.host}:{self.port}/{self.folder}"


def parse_imap_url(url: str) -> ImapTarget:
    """imaps://user@host[:993]/FOLDER or imap://user@host[:143]/FOLDER (STARTTLS); ValueError."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme not in ("imap", "imaps"):
        raise ValueError("url must start with imaps:// (or imap:// for STARTTLS)")
    if parts.password is not None:
        raise ValueError("url must not hold a password: name its variable in password_env")
    try:
        port = parts.port
    except ValueError:
        raise ValueError("url has an invalid port") from None
    if not parts.hostname or not parts.username:
        raise ValueError("url needs a user and a host, e.g. imaps://rep@mail.example.com/INBOX")
    if parts.query or parts.fragment:
        raise ValueError("url takes no query or fragment; use move_to and mark_seen")
    folder = unquote(parts.path.lstrip("/")) or "INBOX"
    return ImapTarget(
        tls="implicit" if scheme == "imaps" else "starttls",
        host=parts.hostname,
        port=port or (993 if scheme == "imaps" else 143),
        user=unquote(parts.username),
        folder=folder,
    )


class MailboxSpec(Strict):
    url: str
    password_env: str
    move_to: str | None = Field(default=None, min_length=1, max_length=200)
    mark_seen: bool = False

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        parse_imap_url(value)
        return value

    @field_validator("password_env")
    @classmethod
    def _env(cls, value: str) -> str:
        if not _ENV_NAME.match(value):
            raise ValueError(
                f"{value!r} is not an environment variable name (e.g. REP_IMAP_PASSWORD)"
            )
        return value

    @property
    def target(self) -> ImapTarget:
        return parse_imap_url(self.url)

    @property
    def name(self) -> str:
        """The mailbox's name in the database and in `followup status`."""
        return self.target.describe()


def check_unique(mailboxes: list[MailboxSpec]) -> list[MailboxSpec]:
    names = [m.name for m in mailboxes]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ValueError(f"mailbox listed twice: {', '.join(twice)}")
    return mailboxes
