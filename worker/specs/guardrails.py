"""`guardrails:` in team.yaml: when hard bounces or complaints of a mailbox or a sequence pass
their share of its recent sends, sending from it pauses until someone resumes it.

The defaults are safe rather than lenient, and the figures behind them are the industry's:
Gmail and Yahoo (2024 sender rules) want spam complaints under 0.3%; GoHighLevel warns at a 3%
bounce rate and suspends at 5%; Reply.io pauses at 8% in 24 hours; lemlist at 50% after 100
contacts. So: pause past 5% hard bounces or 0.3% complaints of the sends of the last 7 days,
once 50 have gone (fewer say little: one bounce in ten sends is 10%)."""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field, field_validator

from worker.specs.durations import Duration
from worker.specs.spec_parts import DurationField, Strict

DEFAULT_WINDOW = Duration(7, "d")


class GuardrailSpec(Strict):
    enabled: bool = True
    window: DurationField = DEFAULT_WINDOW  # the rolling window sends and answers are counted in
    min_sends: int = Field(default=50, ge=1, le=1_000_000)  # no verdict on fewer sends
    max_bounce_rate: float = Field(default=0.05, gt=0, le=1)  # hard bounces / sends
    max_complaint_rate: float = Field(default=0.003, gt=0, le=1)  # spam complaints / sends

    @field_validator("window")
    @classmethod
    def _fixed(cls, value: Duration) -> Duration:
        if value.unit == "business":
            raise ValueError("window is counted in s, m, h, d or w, not business days")
        return value

    @property
    def span(self) -> timedelta:
        """The window's length (a day is 24 hours here: it counts sends, not opening hours)."""
        unit = self.window.unit
        if unit in ("d", "w"):
            return timedelta(days=self.window.amount * (7 if unit == "w" else 1))
        return self.window.fixed

    def verdict(self, *, sends: int, bounces: int, complaints: int) -> str | None:
        """Why sending must pause, or None: a rate over its threshold once min_sends went."""
        if not self.enabled or sends < self.min_sends:
            return None
        if bounces / sends > self.max_bounce_rate:
            return (
                f"hard bounces {bounces} of {sends} sends ({bounces / sends:.1%}) passed "
                f"{self.max_bounce_rate:.1%}"
            )
        if complaints / sends > self.max_complaint_rate:
            return (
                f"complaints {complaints} of {sends} sends ({complaints / sends:.2%}) passed "
                f"{self.max_complaint_rate:.2%}"
            )
        return None
