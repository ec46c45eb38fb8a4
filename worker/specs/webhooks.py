"""`webhooks:` in team.yaml: where outbound events go, which ones, and the secret signing them."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import BeforeValidator, Field, ValidationInfo, field_validator, model_validator

from worker.specs.spec_parts import Strict

WEBHOOK_EVENTS = (
    "enrollment.started",
    "touch.sent",
    "touch.failed",
    "lead.replied",
    "lead.bounced",
    "lead.unsubscribed",
    "sla.at_risk",
    "sla.breached",
    "sla.met",
    "lead.reassigned",
    "sending.paused",  # a guardrail paused a mailbox or a sequence (worker/notify/pause_alerts.py)
    "sending.resumed",  # ... and someone resumed it
)
ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]{0,127}$"


def _all_or_list(value: Any) -> Any:
    return list(WEBHOOK_EVENTS) if value == "all" else value


def require_variable(name: str | None, info: ValidationInfo) -> str | None:
    """A secret named by variable must be set where the process starts (see Settings)."""
    environ = (info.context or {}).get("environ", {})
    if name and not environ.get(name):
        raise ValueError(f"environment variable {name} is not set (it holds the secret)")
    return name


class WebhookSpec(Strict):
    url: str = Field(min_length=1, max_length=2000)
    events: Annotated[list[str], BeforeValidator(_all_or_list)] = Field(
        default_factory=lambda: list(WEBHOOK_EVENTS), min_length=1
    )
    secret_env: str = Field(pattern=ENV_NAME)
    name: str | None = Field(default=None, max_length=100, pattern=r"^[A-Za-z0-9][\w.-]*$")

    @field_validator("url")
    @classmethod
    def _http(cls, value: str) -> str:
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"url {value!r} must be an http:// or https:// address")
        return value.strip()

    @field_validator("events")
    @classmethod
    def _known(cls, value: list[str]) -> list[str]:
        unknown = [e for e in value if e not in WEBHOOK_EVENTS]
        if unknown:
            raise ValueError(
                f"unknown event {unknown[0]!r}: use 'all' or some of {', '.join(WEBHOOK_EVENTS)}"
            )
        return value

    @field_validator("secret_env")
    @classmethod
    def _set(cls, value: str, info: ValidationInfo) -> str:
        require_variable(value, info)
        return value

    @model_validator(mode="after")
    def _named(self) -> WebhookSpec:
        if self.name is None:  # the host alone: a path or query may hold a token
            parts = urlsplit(self.url)
            host = f"{parts.hostname}:{parts.port}" if parts.port else str(parts.hostname)
            object.__setattr__(self, "name", host[:100])
        return self

    @property
    def key(self) -> str:
        """How deliveries name this webhook (never the URL, which may hold a token)."""
        assert self.name is not None
        return self.name

    def wants(self, event_type: str) -> bool:
        return event_type in self.events


def unique_names(webhooks: list[WebhookSpec]) -> list[WebhookSpec]:
    names = [w.key for w in webhooks]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ValueError(f"two webhooks are named {twice[0]!r}: give each a distinct name")
    return webhooks
