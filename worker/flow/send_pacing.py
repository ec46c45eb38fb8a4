"""A batch message's pace against the actor's time limit: no send starts once it has used its
share of the limit (the rest is handed back), and what it sent is recorded as it goes once it
runs slow, so the limit never catches sent touches unrecorded (re-driven, they go out twice)."""

from __future__ import annotations

from dataclasses import dataclass, field
from time import monotonic

from worker.engine.runtime import Runtime
from worker.engine.tunables import BATCH_RECORD_AFTER, BATCH_SEND_SHARE, send_bounds
from worker.flow.delivery_records import Attempt, Delivery, record_attempts


@dataclass
class SendPace:
    """Real time (monotonic, never the injected clock: the time limit counts real seconds)."""

    started: float
    send_budget: float  # seconds after `started` a send may still start
    record_after: float  # seconds of unrecorded sending before they are recorded
    last_record: float

    @classmethod
    def start(cls, rt: Runtime) -> SendPace:
        now = monotonic()
        limit = send_bounds(rt.settings.lease_seconds).time_limit.total_seconds()
        record_after = min(BATCH_RECORD_AFTER.total_seconds(), limit * BATCH_SEND_SHARE / 2)
        return cls(now, limit * BATCH_SEND_SHARE, record_after, now)

    def may_start_send(self) -> bool:
        return monotonic() - self.started < self.send_budget

    def record_due(self) -> bool:
        return monotonic() - self.last_record >= self.record_after


@dataclass
class Recorder:
    """A message's attempts, recorded in one transaction whenever asked; `pending` is cleared
    only once its record returned, so a record the time limit cut runs again whole."""

    rt: Runtime
    pace: SendPace
    pending: list[Attempt] = field(default_factory=list)
    recorded: dict[int, Delivery] = field(default_factory=dict)

    def add(self, attempt: Attempt) -> None:
        self.pending.append(attempt)

    def record_if_slow(self) -> None:
        """Record what is pending once the batch ran `record_after` since its last record: on a
        fast SMTP server a batch records once, at its end; on a slow one, after every send."""
        if self.pending and self.pace.record_due():
            self.record()

    def record(self) -> None:
        if self.pending:
            self.recorded.update(record_attempts(self.rt, list(self.pending)))
            self.pending.clear()
        self.pace.last_record = monotonic()
