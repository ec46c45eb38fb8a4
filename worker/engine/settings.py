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
    sequences_dir: Path = Path("sequences")
    templates_dir: Path = Path("templates")
    secret_key: str | None = field(default=None, repr=False)
    base_url: str = "http://localhost:8000"
    default_from: str | None = None
    tick_seconds: float = 1.0
    retry_base_seconds: float = RETRY_BASE.total_seconds()  # tests shorten it
    lease_seconds: float | None = None  # tests only: shortens the queued/sending leases
    # Every variable read (environment over .env), for the secrets team.yaml names by variable
    # (webhooks' secret_env, alerts' slack_webhook_env); never printed.
    environment: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)

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
            sequences_dir=Path(get("SEQUENCES_DIR") or defaults.sequences_dir),
            templates_dir=Path(get("TEMPLATES_DIR") or defaults.templates_dir),
            secret_key=get("SECRET_KEY"),
            base_url=(get("BASE_URL") or defaults.base_url).rstrip("/"),
            default_from=default_from,
            tick_seconds=positive("TICK_SECONDS", defaults.tick_seconds),
            retry_base_seconds=positive("RETRY_BASE_SECONDS", defaults.retry_base_seconds),
            lease_seconds=positive("LEASE_SECONDS", 1.0) if get("LEASE_SECONDS") else None,
            environment={k: v for k, v in values.items() if isinstance(v, str)},
        )

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
