"""A/B variants of an email step: each an `email:` template with a `weight`; a lead's variant is
a stable function of (lead, sequence, step), so retries, restarts and re-renders never switch it."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field, field_validator

TEMPLATE_NAME = r"^[A-Za-z0-9_./-]+$"
VARIANT_ID = r"^[A-Za-z0-9][A-Za-z0-9_./-]{0,99}$"
_SCALE = float(2**64)


def inside_templates(name: str) -> str:
    """A template name may not climb out of the templates folder."""
    if ".." in name.split("/") or name.startswith("/"):
        raise ValueError(f"template name {name!r} must stay inside the templates folder")
    return name


class VariantSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    email: str = Field(pattern=TEMPLATE_NAME)
    weight: float = Field(default=1.0, gt=0, le=1_000_000)  # a share: 1 and 3 is 25% and 75%
    id: str | None = Field(default=None, pattern=VARIANT_ID)  # defaults to the template name

    @field_validator("email")
    @classmethod
    def _inside(cls, value: str) -> str:
        return inside_templates(value)

    @property
    def name(self) -> str:
        """What the touch records and the report and `promote` call it."""
        return self.id or self.email


def check_variants(step_id: str, variants: Sequence[VariantSpec]) -> None:
    """At least one, and each name once (two variants of one template need their own ids)."""
    if not variants:
        raise ValueError(f"step {step_id!r}: variants needs at least one entry")
    names = [v.name for v in variants]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ValueError(
            f"step {step_id!r}: variant {twice[0]!r} is listed twice (give each an id)"
        )


def assignment_point(lead_email: str, sequence: str, step: str) -> float:
    """Where in [0, 1) this lead falls for this step: a hash, the same on every machine and run."""
    key = "\x1f".join((lead_email.strip().lower(), sequence, step)).encode()
    return int.from_bytes(hashlib.sha256(key).digest()[:8], "big") / _SCALE


def choose_variant(
    variants: Sequence[VariantSpec], *, lead_email: str, sequence: str, step: str
) -> VariantSpec:
    """The lead's variant: its point falls in one variant's share of the total weight."""
    point = assignment_point(lead_email, sequence, step) * sum(v.weight for v in variants)
    for variant in variants:
        point -= variant.weight
        if point < 0:
            return variant
    return variants[-1]  # float rounding at the very top of the range
