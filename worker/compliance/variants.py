"""A/B variants judged by replies: per sequence, step and variant, sends, replies, the reply
rate with its 95% Wilson interval, and a two-proportion test against the first variant; a winner
is named only past a minimum sample (tunables.VARIANT_*)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col

from models.enrollment import Enrollment, SequenceVersion
from models.touch import Touch, TouchKind, TouchStatus
from worker.compliance.stats import sends_needed, two_proportion_test, wilson_interval
from worker.engine.tunables import VARIANT_ALPHA, VARIANT_MIN_EXPECTED, VARIANT_MIN_SENDS


@dataclass
class VariantRow:
    sequence: str
    step: str
    variant: str
    sent: int
    replies: int
    reply_rate: float | None = None
    ci_low: float | None = None  # the 95% Wilson interval of the reply rate
    ci_high: float | None = None
    z: float | None = None  # against the first variant (None for the first itself)
    p_value: float | None = None
    sends_needed: int | None = None  # per variant, to tell this difference apart at 80% power
    verdict: str = ""  # control, winner, better, worse, no difference, collecting

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def variant_report(session: Session, where: list[ColumnElement[bool]]) -> list[VariantRow]:
    """Every (sequence, step, variant) with sends among the enrollments `where` selects."""
    counted = session.execute(
        select(
            col(Enrollment.sequence),
            col(Touch.step),
            col(Touch.variant),
            func.count().label("sent"),
            func.count(col(Touch.replied_at)).label("replies"),
        )
        .select_from(Touch)
        .join(Enrollment, col(Enrollment.id) == Touch.enrollment_id)
        .where(
            col(Touch.variant).is_not(None),
            col(Touch.kind) == TouchKind.EMAIL,
            col(Touch.status) == TouchStatus.SENT,
            *where,
        )
        .group_by(col(Enrollment.sequence), col(Touch.step), col(Touch.variant))
    ).all()
    groups: dict[tuple[str, str], list[VariantRow]] = defaultdict(list)
    for sequence, step, variant, sent, replies in counted:
        groups[(sequence, step)].append(
            VariantRow(sequence, step, variant, int(sent), int(replies))
        )
    order = _variant_order(session, {sequence for sequence, _ in groups})
    rows: list[VariantRow] = []
    for key in sorted(groups):
        known = order.get(key, [])
        ranked = sorted(
            groups[key],
            key=lambda r: (known.index(r.variant) if r.variant in known else len(known), r.variant),
        )
        rows += judge(ranked)
    return rows


def _variant_order(session: Session, sequences: set[str]) -> dict[tuple[str, str], list[str]]:
    """Each step's variants in the order of the oldest stored version that lists them, so the
    first variant stays the control after a promotion or an added variant."""
    order: dict[tuple[str, str], list[str]] = defaultdict(list)
    versions = session.execute(
        select(col(SequenceVersion.name), col(SequenceVersion.definition))
        .where(col(SequenceVersion.name).in_(sequences))
        .order_by(col(SequenceVersion.created_at))
    ).all()
    for name, definition in versions:
        for step in definition.get("steps", []):
            for variant in step.get("variants") or []:
                label = variant.get("id") or variant.get("email")
                if label not in order[(name, step["id"])]:
                    order[(name, step["id"])].append(label)
    return order


def judge(rows: list[VariantRow]) -> list[VariantRow]:
    """One step's variants, the first being the control: rates, intervals, tests, verdicts."""
    for row in rows:
        row.reply_rate = round(row.replies / row.sent, 4) if row.sent else None
        interval = wilson_interval(row.replies, row.sent)
        if interval is not None:
            row.ci_low, row.ci_high = (round(bound, 4) for bound in interval)
    control, others = rows[0], rows[1:]
    control.verdict = "control"
    alpha = VARIANT_ALPHA / max(len(others), 1)  # Bonferroni over the comparisons
    for row in others:
        row.verdict = _compare(control, row, alpha)
    better = [r for r in others if r.verdict == "better"]
    if better:
        max(better, key=lambda r: r.reply_rate or 0.0).verdict = "winner"
    elif others and all(r.verdict == "worse" for r in others):
        control.verdict = "winner"
    return rows


def _compare(control: VariantRow, row: VariantRow, alpha: float) -> str:
    tested = two_proportion_test(control.replies, control.sent, row.replies, row.sent)
    if tested is not None:
        row.z, row.p_value = round(tested[0], 3), round(tested[1], 4)
    if control.reply_rate is not None and row.reply_rate is not None:
        row.sends_needed = sends_needed(control.reply_rate, row.reply_rate, alpha=alpha)
    if not (_enough(control, row) and _enough(row, control)) or row.p_value is None:
        return "collecting"
    if row.p_value >= alpha:
        return "no difference"
    return "better" if (row.reply_rate or 0.0) > (control.reply_rate or 0.0) else "worse"


def _enough(row: VariantRow, other: VariantRow) -> bool:
    """The minimum sample: VARIANT_MIN_SENDS sends, and enough expected replies and non-replies
    (at the pooled rate) for the normal approximation behind the test to hold."""
    pooled = (row.replies + other.replies) / max(row.sent + other.sent, 1)
    expected = min(row.sent * pooled, row.sent * (1 - pooled))
    return row.sent >= VARIANT_MIN_SENDS and expected >= VARIANT_MIN_EXPECTED
