"""What the chaos sink answers to one SMTP transaction: a plan (JSON) and a pure decision.

Every random choice is drawn from `Random(f"{seed}:{message_id}:{attempt}")`, so the same seed
gives the same answers to the same touches whatever order the worker threads arrive in.
"""

from __future__ import annotations

import json
import random
from dataclasses import asdict, dataclass, field
from enum import StrEnum


class Verdict(StrEnum):
    """The sink's answer to one transaction (the journal's `answer` field)."""

    ACCEPTED = "250"  # recorded, answered 250
    TRY_LATER = "451"  # refused at end of DATA with a transient code; nothing recorded
    CLOSING = "421"  # 421 at end of DATA, then the connection is dropped; nothing recorded
    REJECTED = "550"  # 550 5.1.1 at RCPT for a listed address
    LATE = "late"  # recorded, but the 250 comes only after `late_seconds` (past the timeout)


@dataclass(frozen=True)
class SinkPlan:
    """The sink's behaviour; the test rewrites it at runtime (ChaosSink.set_plan).

    Fractions are of attempts (one attempt = one MAIL..DATA transaction of one Message-ID).
    `late_fraction` applies to a Message-ID's first attempt only, so its resend is answered.
    `hang_until` (epoch seconds): until then every command waits, answering nothing.
    """

    seed: int = 0
    try_later_fraction: float = 0.0
    closing_fraction: float = 0.0
    reject_rcpts: tuple[str, ...] = ()
    delay_seconds: float = 0.0
    late_fraction: float = 0.0
    late_seconds: float = 0.0
    hang_until: float = 0.0
    extra: dict[str, str] = field(default_factory=dict)  # free notes for the journal reader

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> SinkPlan:
        """The plan in a file; a bad one is one line naming the field."""
        raw = json.loads(text) if text.strip() else {}
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(raw) - known)
        if unknown:
            raise ValueError(f"sink plan: unknown field(s) {', '.join(unknown)}")
        raw["reject_rcpts"] = tuple(address.lower() for address in raw.get("reject_rcpts", ()))
        return cls(**raw)


def rcpt_refused(plan: SinkPlan, address: str) -> bool:
    """550 at RCPT for the addresses the plan lists (case-insensitive)."""
    return address.lower() in plan.reject_rcpts


def data_verdict(plan: SinkPlan, message_id: str, attempt: int) -> Verdict:
    """The answer to the end of DATA for the `attempt`-th transaction (1-based) of a
    Message-ID: late (first attempts only), 421, 451 or 250, in that order of precedence."""
    draw = random.Random(f"{plan.seed}:{message_id}:{attempt}").random()
    if attempt == 1 and draw < plan.late_fraction:
        return Verdict.LATE
    draw = random.Random(f"{plan.seed}:{message_id}:{attempt}:refusal").random()
    if draw < plan.closing_fraction:
        return Verdict.CLOSING
    if draw < plan.closing_fraction + plan.try_later_fraction:
        return Verdict.TRY_LATER
    return Verdict.ACCEPTED


def hang_left(plan: SinkPlan, now: float) -> float:
    """Seconds the sink still stays silent."""
    return max(0.0, plan.hang_until - now)
