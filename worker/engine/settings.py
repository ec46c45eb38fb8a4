"""The only reader of the environment and `.env`; built on demand, never at import."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import unquote, urlsplit

from dotenv import dotenv_values

from models.validation import normalise_sender
from worker.engine.tunables import RETRY_BASE

LOG_FORMATS = ("text", "json")


class ConfigError(Exception):
    """A setting is missing or malformed; the message names the variable."""


@dataclass(frozen=True)
class Settings:
    database_url: str = "sqlite:///followup.db"
    redis_url: str | None = None
    smtp_url: str | None = None
    outbox_dir: Path = Path("outbox")
    sequences_dir: Path = Path("sequences")
    templates_dir: Path = Path("templates")
    secret_key: str | None = field(default=None, repr=False)
    base_url: str = "http://localhost:8000"
    default_from: str | None = None
    tick_seconds: float = 1.0
    retry_base_seconds: float = RETRY_BASE.total_seconds()  # tests shorten it
    lease_seconds: float | None = None  # tests only: shortens the queued/sending leases
    metrics_port: int | None = None  # worker/scheduler: /metrics, /healthz, /readyz; None: off
    metrics_host: str = "127.0.0.1"
    log_format: str = "text"

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

        log_format = (get("LOG_FORMAT") or defaults.log_format).lower()
        if log_format not in LOG_FORMATS:
            raise ConfigError(f"FOLLOWUP_LOG_FORMAT must be text or json, got {log_format!r}")
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
            sequences_dir=Path(get("SEQUENCES_DIR") or defaults.sequences_dir),
            templates_dir=Path(get("TEMPLATES_DIR") or defaults.templates_dir),
            secret_key=get("SECRET_KEY"),
            base_url=(get("BASE_URL") or defaults.base_url).rstrip("/"),
            default_from=default_from,
            tick_seconds=positive("TICK_SECONDS", defaults.tick_seconds),
            retry_base_seconds=positive("RETRY_BASE_SECONDS", defaults.retry_base_seconds),
            lease_seconds=positive("LEASE_SECONDS", 1.0) if get("LEASE_SECONDS") else None,
            metrics_port=_port(get("METRICS_PORT")),
            metrics_host=get("METRICS_HOST") or defaults.metrics_host,
            log_format=log_format,
        )

    def secret_values(self) -> list[str]:
        """What must never appear in a log line or an error: the key and URL passwords."""
        found = [self.secret_key] if self.secret_key else []
        for url in (self.database_url, self.redis_url, self.smtp_url):
            password = url_password(url)
            if password:
                found.append(password)
        return found

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
        if not name.startswith("FOLLOWUP_") or not value:
            continue
        if name.endswith(("SECRET_KEY", "SECRET_KEYS", "PASSWORD", "TOKEN")):
            found += [part for part in value.split(",") if part.strip()]
        elif password := url_password(value):
            found.append(password)
    return found
