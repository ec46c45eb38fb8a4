"""`alerts:` in team.yaml: when a lead is at risk, who hears it and breaches, how; escalation."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BeforeValidator,
    Field,
    PlainSerializer,
    ValidationInfo,
    field_validator,
    model_validator,
)

from models.validation import normalise_email, normalise_sender
from worker.specs.durations import Duration
from worker.specs.spec_parts import DurationField, Strict
from worker.specs.validation_errors import Problem, located_error
from worker.specs.webhooks import ENV_NAME, require_variable

DEFAULT_AT_RISK_AFTER = 0.75
Audience = Literal["owner", "manager"]
Channel = Literal["email", "slack", "webhook"]


def _share(value: Any) -> Any:
    """`75%` or 75 -> 0.75; checked against 1-99% after parsing."""
    if isinstance(value, bool):
        raise ValueError("at_risk_after must be a percentage such as 75%")
    text = str(value).strip()
    try:
        number = float(text.removesuffix("%").strip())
    except ValueError:
        raise ValueError(f"at_risk_after {value!r} must be a percentage such as 75%") from None
    if not 1 <= number <= 99:
        raise ValueError(f"at_risk_after {value!r} is outside 1-99% (write e.g. 75%)")
    return number / 100


Share = Annotated[
    float, BeforeValidator(_share), PlainSerializer(lambda v: f"{v * 100:g}%", return_type=str)
]


class AlertsSpec(Strict):
    at_risk_after: Share = DEFAULT_AT_RISK_AFTER
    at_risk: tuple[Audience, ...] = ("owner",)
    breached: tuple[Audience, ...] = ("manager",)  # the owner when they have no manager
    channels: tuple[Channel, ...] = ("email",)
    slack_webhook_env: str | None = Field(default=None, pattern=ENV_NAME)
    digest: bool = False  # one message per person per hour instead of one per alert
    sender: str | None = Field(default=None, alias="from")
    reassign_after: DurationField | None = None
    pool: list[str] = Field(default_factory=list)

    @field_validator("sender")
    @classmethod
    def _sender(cls, value: str | None) -> str | None:
        return normalise_sender(value) if value else None

    @field_validator("pool")
    @classmethod
    def _pool(cls, value: list[str]) -> list[str]:
        emails = [normalise_email(v) for v in value]
        if len(set(emails)) != len(emails):
            raise ValueError("a rep is listed twice in the pool")
        return emails

    @field_validator("slack_webhook_env")
    @classmethod
    def _slack_url(cls, value: str | None, info: ValidationInfo) -> str | None:
        require_variable(value, info)
        url = (info.context or {}).get("environ", {}).get(value, "") if value else ""
        if value and urlsplit(url).scheme not in ("http", "https"):
            raise ValueError(f"{value} must hold the Slack incoming-webhook https:// URL")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> AlertsSpec:
        problems: list[Problem] = []
        if "slack" in self.channels and not self.slack_webhook_env:
            where = ("channels", self.channels.index("slack"))
            problems.append(
                (where, "the slack channel needs slack_webhook_env (its URL's variable)")
            )
        if self.reassign_after is not None and len(self.pool) < 2:
            message = "reassign_after needs a pool of at least two reps to move leads to"
            problems.append((("reassign_after",), message))
        if problems:
            raise located_error(*problems)
        return self

    @property
    def reassigns(self) -> Duration | None:
        return self.reassign_after if len(self.pool) >= 2 else None
