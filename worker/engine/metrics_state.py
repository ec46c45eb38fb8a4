"""Figures read at scrape time from the database and the broker, and the registry a server
exposes: followup's process metrics plus these, so a dead scheduler still shows a growing
backlog on the API's /metrics."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from typing import TYPE_CHECKING

from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.core import GaugeMetricFamily, Metric
from sqlalchemy import Engine, text
from sqlmodel import col, func, select

from models.touch import Touch, is_waiting
from worker.engine.db import reading
from worker.engine.runtime import Runtime

if TYPE_CHECKING:  # dramatiq and redis load only where a broker is built
    import dramatiq

log = logging.getLogger("followup.metrics")
# A status the SLA-clocks branch adds; counting it by name keeps this working before and after.
AT_RISK = "at_risk"


def due_backlog(engine: Engine, now: datetime) -> tuple[int, float]:
    """(touches due and not claimed yet, age of the oldest in seconds): one indexed query."""
    with reading(engine) as session:
        count, oldest = session.exec(
            select(func.count(), func.min(Touch.due_at)).where(
                is_waiting(), col(Touch.due_at) <= now
            )
        ).one()
    return int(count), max(0.0, (now - oldest).total_seconds()) if oldest else 0.0


def at_risk_enrollments(engine: Engine) -> int:
    with reading(engine) as session:
        row = session.connection().execute(
            text("SELECT count(*) FROM enrollment WHERE sla_status = :status"), {"status": AT_RISK}
        )
        return int(row.scalar_one())


class StateCollector:
    """Database and broker figures, computed on each scrape; a failing source reports 0 for up."""

    def __init__(
        self,
        engine: Engine,
        now: Callable[[], datetime],
        queue_figures: Callable[[], tuple[dict[str, int], dict[str, int]]] | None = None,
    ) -> None:
        self.engine, self.now, self.queue_figures = engine, now, queue_figures

    def collect(self) -> Iterator[Metric]:
        yield from _answered("database", self._database)
        if self.queue_figures is not None:
            yield from _answered("broker", self._broker)

    def _database(self) -> list[Metric]:
        backlog, lag = due_backlog(self.engine, self.now())
        at_risk = at_risk_enrollments(self.engine)
        return [
            GaugeMetricFamily(
                "followup_due_backlog", "Touches due now that no scheduler claimed yet.", backlog
            ),
            GaugeMetricFamily(
                "followup_scheduler_lag_seconds",
                "How long the oldest due, unclaimed touch has been waiting (0 when none).",
                lag,
            ),
            GaugeMetricFamily(
                "followup_enrollments_at_risk",
                "Enrollments whose SLA deadline is near and still unmet.",
                at_risk,
            ),
        ]

    def _broker(self) -> list[Metric]:
        assert self.queue_figures is not None
        depths, dead = self.queue_figures()
        return [
            _per_queue("followup_queue_depth", "Messages waiting in each queue.", depths),
            _per_queue("followup_queue_dead_letters", "Dead-lettered messages per queue.", dead),
        ]


def _answered(source: str, read: Callable[[], list[Metric]]) -> Iterator[Metric]:
    """`followup_<source>_up` 1 and the figures, or 0 alone when the source fails."""
    up = GaugeMetricFamily(f"followup_{source}_up", f"1 when the {source} answered this scrape.")
    try:
        figures = read()
    except Exception as exc:  # any driver or Redis error: say so in the figures, keep serving
        log.warning("metrics: the %s did not answer: %s", source, str(exc).splitlines()[0])
        up.add_metric([], 0)
        yield up
        return
    up.add_metric([], 1)
    yield up
    yield from figures


def _per_queue(name: str, documentation: str, values: dict[str, int]) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, documentation, labels=["queue"])
    for queue, value in sorted(values.items()):
        family.add_metric([queue], value)
    return family


def state_collector(rt: Runtime, broker: dramatiq.Broker | None = None) -> StateCollector:
    """Queue figures through the runtime's bounded Redis health client, else the stub's."""
    figures: Callable[[], tuple[dict[str, int], dict[str, int]]] | None = None
    if rt.broker_health is not None:
        figures = rt.broker_health.figures
    elif broker is not None:
        from worker.engine.broker import queue_figures

        figures = lambda: queue_figures(broker)  # noqa: E731  # a closure over the broker
    return StateCollector(rt.engine, rt.clock.now, figures)


class _Forward:
    """Another registry's metrics inside this one (collectors of the process, unchanged)."""

    def __init__(self, source: CollectorRegistry) -> None:
        self.source = source

    def collect(self) -> Iterable[Metric]:
        return self.source.collect()


def exposition_registry(
    state: StateCollector | None, process: CollectorRegistry = REGISTRY
) -> CollectorRegistry:
    """What one /metrics serves: the process's (or worker children's) metrics, and the state."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Forward(process))
    if state is not None:
        registry.register(state)
    return registry
