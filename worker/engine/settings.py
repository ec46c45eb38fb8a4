"""The only reader of the environment and `.env`; built on demand, never at import."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from dotenv import dotenv_values

from models.validation import normalise_sender
from worker.engine.tunables import RETRY_BASE


class ConfigError(Exception):
    """A setting is missing or malformed; the message names the variable."""


@dataclass(frozen=True)
class Settings:
    database_url: str = "sqlite:///followup.db"
    redis_url: str | None = None
    smtp_url: str | None = None
    outbox_dir: Path = Path("outbox")
    inbox_dir: Path = Path("inbox")  # the Maildir watched when team.yaml lists no mailboxes
    sequences_dir: Path = Path("sequences")
    templates_dir: Path = Path("templates")
    secret_key: str | None = field(default=None, repr=False)
    base_url: str = "http://localhost:8000"
    default_from: str | None = None
    tick_seconds: float = 1.0
    retry_base_seconds: float = RETRY_BASE.total_seconds()  # tests shorten it
    lease_seconds: float | None = None  # tests only: shortens the queued/sending leases
    # provider webhooks (worker/api/provider_webhooks.py); unset: that route answers 404
    postmark_webhook_auth: str | None = field(default=None, repr=False)  # user:password or token
    sendgrid_webhook_public_key: str | None = None  # base64 DER, from SendGrid's Mail Settings
    mailgun_webhook_signing_key: str | None = field(default=None, repr=False)
    environment: Mapping[str, str | None] = field(
        default_factory=dict, repr=False, compare=False
    )  # where team.yaml's variables are looked up: password_env, secret_env, slack_webhook_env

    @classmethod
    def load(cls, environ: Mapping[str, str] | None = None, env_file: str = ".env") -> Settings:
        """Environment variables win over `.env`, which wins over the defaults."""
        values: dict[str, str | None] = {}
        if environ is None:
            values.update(dotenv_values(env_file) if Path(env_file).is_file() else {})
            environ = os.environ
        values.update(environ)
        return cls.from_mapping(values)

    @classmethod
    def from_mapping(cls, values: Mapping[str, str | None]) -> Settings:
        def get(name: str) -> str | None:
            value = values.get(f"FOLLOWUP_{name}")
            return value.strip() or None if isinstance(value, str) else None

        defaults = cls()

        def positive(name: str, default: float) -> float:
            raw = get(name)
            try:
                value = float(raw) if raw else default
            except ValueError:
                raise ConfigError(f"FOLLOWUP_{name} must be a number, got {raw!r}") from None
            if value <= 0:
                raise ConfigError(f"FOLLOWUP_{name} must be greater than 0")
            return value

        default_from = get("DEFAULT_FROM")
        if default_from:
            try:
                normalise_sender(default_from)
            except ValueError as exc:
                raise ConfigError(f"FOLLOWUP_DEFAULT_FROM: {exc}") from None
        return cls(
            database_url=get("DATABASE_URL") or defaults.database_url,
            redis_url=get("REDIS_URL"),
            smtp_url=get("SMTP_URL"),
            outbox_dir=Path(get("OUTBOX_DIR") or defaults.outbox_dir),
            inbox_dir=Path(get("INBOX_DIR") or defaults.inbox_dir),
            sequences_dir=Path(get("SEQUENCES_DIR") or defaults.sequences_dir),
            templates_dir=Path(get("TEMPLATES_DIR") or defaults.templates_dir),
            secret_key=get("SECRET_KEY"),
            base_url=(get("BASE_URL") or defaults.base_url).rstrip("/"),
            default_from=default_from,
            tick_seconds=positive("TICK_SECONDS", defaults.tick_seconds),
            retry_base_seconds=positive("RETRY_BASE_SECONDS", defaults.retry_base_seconds),
            lease_seconds=positive("LEASE_SECONDS", 1.0) if get("LEASE_SECONDS") else None,
            postmark_webhook_auth=get("POSTMARK_WEBHOOK_AUTH"),
            sendgrid_webhook_public_key=get("SENDGRID_WEBHOOK_PUBLIC_KEY"),
            mailgun_webhook_signing_key=get("MAILGUN_WEBHOOK_SIGNING_KEY"),
            environment=dict(values),
        )

    def password(self, variable: str) -> str | None:
        """A mailbox password from the variable team.yaml names (never from the YAML itself)."""
        value = self.environment.get(variable)
        return value if value else None

    def require_secret(self) -> str:
        """Processes that sign unsubscribe links refuse to start without a key."""
        if not self.secret_key:
            raise ConfigError(
                "FOLLOWUP_SECRET_KEY is not set; set it in the environment or .env "
                "(e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))'`)"
            )
        return self.secret_key

    def with_(self, **changes: object) -> Settings:
        return replace(self, **changes)  # type: ignore[arg-type]  # dataclass fields are typed
