"""The only reader of the environment and `.env`; built on demand, never at import."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path
from urllib.parse import unquote, urlsplit

from dotenv import dotenv_values

from models.validation import normalise_sender
from worker.auth.secret_keys import MAKE_ONE, weak_key_reason
from worker.engine.tunables import MAX_IN_FLIGHT, RETRY_BASE, SMTP_TIMEOUT_SECONDS

LOG_FORMATS = ("text", "json")
LOG_LEVELS = ("debug", "info", "warning", "error")  # what the processes' own loggers say


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
    secret_keys: tuple[str, ...] = field(default=(), repr=False)  # newest first (rotation)
    base_url: str = "http://localhost:8000"
    default_from: str | None = None
    tick_seconds: float = 1.0
    retry_base_seconds: float = RETRY_BASE.total_seconds()  # tests shorten it
    api_rate_limit: int = 600  # writes per minute per API key, per API process; 0: no limit
    lease_seconds: float | None = None  # tests only: shortens the queued/sending leases
    smtp_timeout_seconds: float = SMTP_TIMEOUT_SECONDS  # tests shorten it (the fault suite)
    clock_offset_seconds: float = 0.0  # tests only: the processes' clock runs this far ahead
    max_in_flight: int = MAX_IN_FLIGHT  # touches queued or sending at once (all schedulers)
    # provider webhooks (worker/api/provider_webhooks.py); unset: that route answers 404
    postmark_webhook_auth: str | None = field(default=None, repr=False)  # user:password or token
    sendgrid_webhook_public_key: str | None = None  # base64 DER, from SendGrid's Mail Settings
    mailgun_webhook_signing_key: str | None = field(default=None, repr=False)
    environment: Mapping[str, str | None] = field(
        default_factory=dict, repr=False, compare=False
    )  # where team.yaml's variables are looked up: password_env, secret_env, slack_webhook_env
    metrics_port: int | None = None  # worker/scheduler: /metrics, /healthz, /readyz; None: off
    metrics_host: str = "127.0.0.1"
    log_format: str = "text"
    log_level: str = "info"

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

        def count(name: str, default: int) -> int:
            raw = get(name)
            if raw is None:
                return default
            if not raw.isdigit():
                raise ConfigError(f"FOLLOWUP_{name} must be a whole number, 0 or more; got {raw!r}")
            return int(raw)

        def at_least_one(name: str, default: int) -> int:
            value = count(name, default)
            if value < 1:
                raise ConfigError(f"FOLLOWUP_{name} must be a whole number, 1 or more")
            return value

        log_format = (get("LOG_FORMAT") or defaults.log_format).lower()
        if log_format not in LOG_FORMATS:
            raise ConfigError(f"FOLLOWUP_LOG_FORMAT must be text or json, got {log_format!r}")
        log_level = (get("LOG_LEVEL") or defaults.log_level).lower()
        if log_level not in LOG_LEVELS:
            raise ConfigError(
                f"FOLLOWUP_LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}; got {log_level!r}"
            )
        default_from = get("DEFAULT_FROM")
        if default_from:
            try:
                normalise_sender(default_from)
            except ValueError as exc:
                raise ConfigError(f"FOLLOWUP_DEFAULT_FROM: {exc}") from None
        return cls(
            database_url=_database_url(get("DATABASE_URL") or defaults.database_url),
            redis_url=_redis_url(get("REDIS_URL")),
            smtp_url=get("SMTP_URL"),
            outbox_dir=Path(get("OUTBOX_DIR") or defaults.outbox_dir),
            inbox_dir=Path(get("INBOX_DIR") or defaults.inbox_dir),
            sequences_dir=Path(get("SEQUENCES_DIR") or defaults.sequences_dir),
            templates_dir=Path(get("TEMPLATES_DIR") or defaults.templates_dir),
            secret_key=get("SECRET_KEY"),
            secret_keys=tuple((get("SECRET_KEYS") or "").replace(",", " ").split()),
            base_url=(get("BASE_URL") or defaults.base_url).rstrip("/"),
            default_from=default_from,
            tick_seconds=positive("TICK_SECONDS", defaults.tick_seconds),
            retry_base_seconds=positive("RETRY_BASE_SECONDS", defaults.retry_base_seconds),
            api_rate_limit=count("API_RATE_LIMIT", defaults.api_rate_limit),
            lease_seconds=positive("LEASE_SECONDS", 1.0) if get("LEASE_SECONDS") else None,
            smtp_timeout_seconds=positive("SMTP_TIMEOUT_SECONDS", defaults.smtp_timeout_seconds),
            clock_offset_seconds=_offset(get("CLOCK_OFFSET_SECONDS")),
            max_in_flight=at_least_one("MAX_IN_FLIGHT", defaults.max_in_flight),
            postmark_webhook_auth=get("POSTMARK_WEBHOOK_AUTH"),
            sendgrid_webhook_public_key=get("SENDGRID_WEBHOOK_PUBLIC_KEY"),
            mailgun_webhook_signing_key=get("MAILGUN_WEBHOOK_SIGNING_KEY"),
            environment=dict(values),
            metrics_port=_port(get("METRICS_PORT")),
            metrics_host=get("METRICS_HOST") or defaults.metrics_host,
            log_format=log_format,
            log_level=log_level,
        )

    def secret_values(self) -> list[str]:
        """What must never appear in a log line or an error: the keys, webhook secrets and the
        passwords in the database, Redis and SMTP URLs."""
        found = [
            value
            for value in (
                self.secret_key,
                *self.secret_keys,
                self.postmark_webhook_auth,
                self.mailgun_webhook_signing_key,
            )
            if value
        ]
        for url in (self.database_url, self.redis_url, self.smtp_url):
            password = url_password(url)
            if password:
                found.append(password)
        return found

    def password(self, variable: str) -> str | None:
        """A mailbox password from the variable team.yaml names (never from the YAML itself)."""
        value = self.environment.get(variable)
        return value if value else None

    def key_ring(self) -> tuple[str, ...]:
        """The signing keys, newest first: the first signs, every one verifies, so a rotation
        keeps the links already in people's mailboxes working. Weak keys refuse to start."""
        return _key_ring(self.secret_keys, self.secret_key)

    def require_secret(self) -> str:
        """Processes that sign unsubscribe links refuse to start without a strong key."""
        return self.key_ring()[0]

    def with_(self, **changes: object) -> Settings:
        return replace(self, **changes)  # type: ignore[arg-type]  # dataclass fields are typed


def _database_url(url: str) -> str:
    """Parsed here so a malformed URL is one line at start-up (never echoed: it has a password)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        make_url(url)
    except (ArgumentError, ValueError) as exc:
        raise ConfigError(
            f"FOLLOWUP_DATABASE_URL is not a database URL ({str(exc).splitlines()[0]}); e.g. "
            "sqlite:///followup.db or postgresql+psycopg://user:password@host:5432/followup"
        ) from None
    return url


def _redis_url(url: str | None) -> str | None:
    if url is None:
        return None
    parts = urlsplit(url)
    try:
        parts.port  # noqa: B018  # parsing the port is the check
    except ValueError:
        raise ConfigError("FOLLOWUP_REDIS_URL has an invalid port (redis://host:6379/0)") from None
    if parts.scheme not in ("redis", "rediss", "unix"):
        raise ConfigError("FOLLOWUP_REDIS_URL must start with redis://, rediss:// or unix://")
    return url


def _offset(raw: str | None) -> float:
    try:
        return float(raw) if raw else 0.0
    except ValueError:
        raise ConfigError(f"FOLLOWUP_CLOCK_OFFSET_SECONDS must be a number, got {raw!r}") from None


def _port(raw: str | None) -> int | None:
    if raw is None:
        return None
    if not raw.isdigit() or not 1 <= int(raw) <= 65535:
        raise ConfigError(f"FOLLOWUP_METRICS_PORT must be a port number (1-65535), got {raw!r}")
    return int(raw)


def url_password(url: str | None) -> str | None:
    """The password in `scheme://user:password@host/...`, percent-decoded as drivers use it."""
    if not url:
        return None
    try:
        password = urlsplit(url).password
    except ValueError:
        return None
    return unquote(password) if password else None


def environment_secrets(env_file: str = ".env") -> list[str]:
    """Secret values straight from the environment, for redaction even when Settings fails."""
    values: dict[str, str | None] = {}
    if Path(env_file).is_file():
        values.update(dotenv_values(env_file))
    values.update(os.environ)
    found = []
    for name, value in values.items():
        if not value:
            continue
        if name.endswith(SECRET_SUFFIXES):  # any prefix: team.yaml's password_env names its own
            found += [part for part in value.split(",") if len(part.strip()) >= 6]
        elif name.startswith("FOLLOWUP_") and (password := url_password(value)):
            found.append(password)
    return found


SECRET_SUFFIXES = (
    "SECRET_KEY",
    "SECRET_KEYS",
    "PASSWORD",
    "TOKEN",
    "SIGNING_KEY",
    "WEBHOOK_AUTH",
    "_SECRET",
)


@cache  # every email signs its unsubscribe link: the ring is checked once per process
def _key_ring(secret_keys: tuple[str, ...], secret_key: str | None) -> tuple[str, ...]:
    ring = secret_keys or ((secret_key,) if secret_key else ())
    if not ring:
        raise ConfigError(
            f"FOLLOWUP_SECRET_KEY is not set; set it in the environment or .env ({MAKE_ONE})"
        )
    if secret_keys and secret_key and secret_key != secret_keys[0]:
        raise ConfigError(
            "FOLLOWUP_SECRET_KEY differs from the first (newest) of FOLLOWUP_SECRET_KEYS; "
            "set only FOLLOWUP_SECRET_KEYS=new,old while rotating"
        )
    for position, key in enumerate(ring, start=1):
        reason = weak_key_reason(key)
        if reason is not None:
            name = (
                f"FOLLOWUP_SECRET_KEYS key {position} of {len(ring)}"
                if secret_keys
                else "FOLLOWUP_SECRET_KEY"
            )
            raise ConfigError(f"{name} {reason}; {MAKE_ONE}")
    return ring
