"""The Jepsen-style checker: what should have gone out (the database) against what reached the
SMTP server (the sink's journal). Pure: facts in, a Verdict out; facts.py gathers the facts.

Definitions (docs/reliability.md repeats them):
- expected: email touches that should have reached the sink (a scenario may leave out those
  still waiting for a later due time: not_due_before); a touch is excused when it ended
  `failed` for a listed refused address, or `cancelled`/`skipped` with a reason because its
  lead was suppressed or its enrollment ended.
- delivered: expected touches whose Message-ID the sink accepted at least once.
- lost: expected - delivered (not final, failed for a transient reason, or "sent" in the
  database with nothing at the sink).
- duplicated: acceptances beyond the first, per Message-ID; ambiguous: the Message-IDs among
  them whose earlier acceptance the client never heard (a late answer) or that the scenario
  names (a kill inside the send instant).
- unexpected: acceptances of an unknown Message-ID, to a suppressed lead after its suppression,
  after the enrollment ended, or outside the send window.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

SENT, FINAL = "sent", frozenset({"sent", "done", "failed", "cancelled", "skipped"})


@dataclass(frozen=True)
class TouchFact:
    """One email touch as the database left it; times are epoch seconds."""

    touch_id: int
    lead_email: str
    status: str
    message_id: str | None
    due_at: float
    reason: str | None = None  # detail or last_error
    suppressed_at: float | None = None  # the lead's
    ended_at: float | None = None  # the enrollment's exit/cancel (not its completion)
    sender: str | None = None  # the From the touch was (or will be) sent with
    next_due: float | None = None  # the row's due_at as it is now (due_at may be the first)


@dataclass(frozen=True)
class Delivery:
    """One transaction the sink journalled (an accepted one, or a refusal)."""

    at: float
    message_id: str | None
    accepted: bool
    late: bool = False


@dataclass(frozen=True)
class Fault:
    """A fault injected at `at` and healed at `healed_at` (equal for an instant like kill -9);
    `stranded`: ids of the touches in flight when it struck, whose recovery is measured."""

    name: str
    at: float
    healed_at: float
    stranded: frozenset[int] = frozenset()


@dataclass
class Verdict:
    scenario: str
    seed: int
    expected: int = 0
    delivered: int = 0
    lost: int = 0
    duplicated: int = 0
    ambiguous: int = 0
    unexpected: int = 0
    db_sent: int = 0
    sink_distinct: int = 0
    attempts: int = 0
    attempts_per_s_mean: float = 0.0
    attempts_per_s_max: int = 0
    latency_p50: float | None = None
    latency_p99: float | None = None
    recovery: list[tuple[str, float | None]] = field(default_factory=list)
    lost_ids: list[int] = field(default_factory=list)
    unexpected_ids: list[str] = field(default_factory=list)
    extra: dict[str, object] = field(default_factory=dict)

    def line(self) -> str:
        """The one line a scenario prints (and docs/reliability.md keeps)."""
        recovery = ",".join(f"{name}:{_fmt(seconds)}" for name, seconds in self.recovery) or "-"
        parts = [
            f"chaos {self.scenario} seed={self.seed}",
            f"expected={self.expected} delivered={self.delivered} lost={self.lost}",
            f"duplicated={self.duplicated} ambiguous={self.ambiguous}",
            f"unexpected={self.unexpected} db_sent={self.db_sent}",
            f"sink_distinct={self.sink_distinct} recovery_s=[{recovery}]",
            f"latency_s=p50:{_fmt(self.latency_p50)},p99:{_fmt(self.latency_p99)}",
            f"attempts={self.attempts} attempts_per_s=mean:{self.attempts_per_s_mean:.1f},"
            f"max:{self.attempts_per_s_max}",
            *(f"{key}={value}" for key, value in self.extra.items()),
        ]
        return " ".join(parts)


def check(
    scenario: str,
    seed: int,
    touches: Sequence[TouchFact],
    deliveries: Sequence[Delivery],
    *,
    refused: Iterable[str] = (),
    faults: Sequence[Fault] = (),
    ambiguous_ids: Iterable[str] = (),
    outside_window: Callable[[TouchFact, float], bool] = lambda touch, at: False,
    not_due_before: float | None = None,
) -> Verdict:
    """The verdict of one run (see the module docstring for each figure). `not_due_before`:
    touches still waiting (scheduled/deferred) and due after it are not expected yet."""
    verdict = Verdict(scenario, seed)
    refused_set = {address.lower() for address in refused}
    if not_due_before is not None:
        touches = [t for t in touches if not _waiting_past(t, not_due_before)]
    accepted = [d for d in deliveries if d.accepted and d.message_id]
    copies = Counter(d.message_id for d in accepted)
    first_at: dict[str, float] = {}
    for d in sorted(accepted, key=lambda d: d.at):
        first_at.setdefault(d.message_id or "", d.at)
    expected = [t for t in touches if not _excused(t, refused_set)]
    delivered = [t for t in expected if t.message_id in copies]
    verdict.expected, verdict.delivered = len(expected), len(delivered)
    verdict.lost_ids = sorted(t.touch_id for t in expected if t.message_id not in copies)
    verdict.lost = len(verdict.lost_ids)
    verdict.duplicated = sum(n - 1 for n in copies.values())
    late = {d.message_id for d in accepted if d.late} | set(ambiguous_ids)
    verdict.ambiguous = sum(1 for mid, n in copies.items() if n > 1 and mid in late)
    verdict.unexpected_ids = _unexpected(touches, accepted, outside_window)
    verdict.unexpected = len(verdict.unexpected_ids)
    verdict.db_sent = sum(t.status == SENT for t in touches)
    verdict.sink_distinct = len(copies)
    _rates(verdict, deliveries)
    lateness = sorted(first_at[t.message_id] - t.due_at for t in delivered if t.message_id)
    verdict.latency_p50, verdict.latency_p99 = percentile(lateness, 50), percentile(lateness, 99)
    mids = {t.touch_id: t.message_id for t in touches}
    verdict.recovery = [(f.name, recovery_seconds(f, first_at, mids)) for f in faults]
    return verdict


def _waiting_past(touch: TouchFact, instant: float) -> bool:
    due = touch.next_due if touch.next_due is not None else touch.due_at
    return touch.status in ("scheduled", "deferred") and due > instant


def _excused(touch: TouchFact, refused: set[str]) -> bool:
    """Not expected at the sink: refused for good (with a reason), or stopped by an exit or a
    suppression (with a reason)."""
    if not touch.reason:
        return False
    if touch.status == "failed":
        return touch.lead_email.lower() in refused
    if touch.status in ("cancelled", "skipped"):
        return touch.suppressed_at is not None or touch.ended_at is not None
    return False


def _unexpected(
    touches: Sequence[TouchFact],
    accepted: Sequence[Delivery],
    outside_window: Callable[[TouchFact, float], bool],
) -> list[str]:
    by_id = {t.message_id: t for t in touches if t.message_id}
    found = []
    for delivery in accepted:
        touch = by_id.get(delivery.message_id or "")
        forbidden = touch is None or outside_window(touch, delivery.at)
        for stop in (touch.suppressed_at, touch.ended_at) if touch else ():
            forbidden = forbidden or (stop is not None and delivery.at > stop)
        if forbidden:
            found.append(delivery.message_id or "")
    return found


def _rates(verdict: Verdict, deliveries: Sequence[Delivery]) -> None:
    """Transactions per second at the sink: the mean over the run and the busiest second."""
    verdict.attempts = len(deliveries)
    if not deliveries:
        return
    seconds = Counter(int(d.at) for d in deliveries)
    span = max(d.at for d in deliveries) - min(d.at for d in deliveries)
    verdict.attempts_per_s_mean = len(deliveries) / max(span, 1.0)
    verdict.attempts_per_s_max = max(seconds.values())


def recovery_seconds(
    fault: Fault, first_at: dict[str, float], mids: dict[int, str | None]
) -> float | None:
    """From the fault's healing to the acceptance of the last touch it stranded (with none
    named: to the first acceptance after it); None when one never came through."""
    if fault.stranded:
        stranded = [mids.get(touch_id) for touch_id in fault.stranded]
        times = [first_at[mid] for mid in stranded if mid and mid in first_at]
        if len(times) < len(fault.stranded):
            return None
        return max(0.0, max(times) - fault.healed_at)
    after = [at for at in first_at.values() if at >= fault.healed_at]
    return min(after) - fault.healed_at if after else None


def percentile(values: Sequence[float], p: float) -> float | None:
    """Nearest-rank percentile of sorted `values`; None for none."""
    if not values:
        return None
    rank = max(1, math.ceil(p / 100 * len(values)))
    return values[rank - 1]


def _fmt(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds:.2f}"
