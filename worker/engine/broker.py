"""The dramatiq broker: Redis when FOLLOWUP_REDIS_URL is set, else the embedded StubBroker."""

from __future__ import annotations

from typing import TYPE_CHECKING

import dramatiq
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import Middleware, TimeLimit, default_middleware

from worker.engine.queue_metrics import QueueMetrics
from worker.engine.settings import Settings
from worker.engine.tunables import (
    BROKER_DEAD_MESSAGE_TTL,
    BROKER_HEARTBEAT_TIMEOUT,
    HEALTH_TIMEOUT_SECONDS,
    WORKER_PREFETCH_PER_THREAD,
    send_bounds,
)

if TYPE_CHECKING:  # imported where used: the embedded broker (demo, tests) never loads redis
    from dramatiq.brokers.redis import RedisBroker

TOUCH_QUEUE = "touches"
EVENT_QUEUE = "events"


def make_broker(settings: Settings) -> dramatiq.Broker:
    """Built at the edge; nothing connects at import time. The actors' time limit is checked as
    often as the send bounds say (tunables.SendBounds)."""
    middleware = _middleware(settings.lease_seconds)
    if settings.redis_url:
        from dramatiq.brokers.redis import RedisBroker

        broker: dramatiq.Broker = RedisBroker(
            url=settings.redis_url,
            middleware=middleware,
            heartbeat_timeout=_ms(BROKER_HEARTBEAT_TIMEOUT.total_seconds()),
            dead_message_ttl=_ms(BROKER_DEAD_MESSAGE_TTL.total_seconds()),
        )
    else:
        broker = StubBroker(middleware=middleware)
        broker.emit_after("process_boot")
    broker.add_middleware(QueueMetrics())
    return broker  # not dramatiq's global broker: each runtime's actors are bound to their own


def _middleware(lease_seconds: float | None) -> list[Middleware]:
    """dramatiq's defaults, with the TimeLimit looking as often as the send bounds need."""
    check = _ms(send_bounds(lease_seconds).check.total_seconds())
    return [TimeLimit(interval=check) if m is TimeLimit else m() for m in default_middleware]


def _ms(seconds: float) -> int:
    return max(1, int(seconds * 1000))


def dramatiq_worker(broker: dramatiq.Broker, threads: int) -> dramatiq.Worker:
    """dramatiq's worker, holding WORKER_PREFETCH_PER_THREAD messages a thread (a deep backlog's
    messages carry TOUCH_BATCH ids: dramatiq's two a thread would hoard them in one process)."""
    worker = dramatiq.Worker(broker, worker_threads=threads)
    worker.queue_prefetch = max(1, threads * WORKER_PREFETCH_PER_THREAD)
    return worker


def queue_depth(broker: dramatiq.Broker) -> dict[str, int]:
    """Messages waiting per queue (Redis: the queue lists; stub: in memory)."""
    depths = {}
    for queue in (TOUCH_QUEUE, EVENT_QUEUE):
        if isinstance(broker, StubBroker):
            depths[queue] = broker.queues[queue].qsize() if queue in broker.queues else 0
        else:
            redis = _redis(broker)
            depths[queue] = int(redis.client.llen(f"{redis.namespace}:{queue}"))
    return depths


def dead_letters(broker: dramatiq.Broker) -> int:
    return sum(dead_letters_per_queue(broker).values())


def dead_letters_per_queue(broker: dramatiq.Broker) -> dict[str, int]:
    if isinstance(broker, StubBroker):
        return {q: len(broker.dead_letters_by_queue.get(q, [])) for q in (TOUCH_QUEUE, EVENT_QUEUE)}
    redis = _redis(broker)
    return {
        q: int(redis.client.zcard(f"{redis.namespace}:{q}.XQ")) for q in (TOUCH_QUEUE, EVENT_QUEUE)
    }


def queue_figures(broker: dramatiq.Broker) -> tuple[dict[str, int], dict[str, int]]:
    """(waiting messages, dead letters) per queue, for /metrics."""
    return queue_depth(broker), dead_letters_per_queue(broker)


def _redis(broker: dramatiq.Broker) -> RedisBroker:
    from dramatiq.brokers.redis import RedisBroker

    if not isinstance(broker, RedisBroker):
        raise TypeError(f"expected a RedisBroker, got {type(broker).__name__}")
    return broker


def make_redis_broker(
    url: str, *, timeout: float | None = None, client_name: str | None = None
) -> RedisBroker:
    """`timeout` bounds connecting and each command (health checks must answer, not hang);
    `client_name` is what Redis's CLIENT LIST shows for the connection."""
    import redis
    from dramatiq.brokers.redis import RedisBroker

    if timeout is None and client_name is None:
        return RedisBroker(url=url)
    client = redis.Redis.from_url(
        url, socket_timeout=timeout, socket_connect_timeout=timeout, client_name=client_name
    )
    return RedisBroker(client=client)


HEALTH_CLIENT_NAME = "followup-health"


class BrokerHealth:
    """Whether Redis answers, with its queue depths: one client, reused by every check."""

    def __init__(self, url: str, *, timeout: float = HEALTH_TIMEOUT_SECONDS) -> None:
        self._broker = make_redis_broker(url, timeout=timeout, client_name=HEALTH_CLIENT_NAME)

    def check(self) -> tuple[str, dict[str, int] | None, int | None]:
        """("ok" or the reason in one line, queue depths, dead letters)."""
        try:
            self._broker.client.ping()
            return "ok", queue_depth(self._broker), dead_letters(self._broker)
        except Exception as exc:  # any client error means "not answering"
            return str(exc).splitlines()[0], None, None

    def figures(self) -> tuple[dict[str, int], dict[str, int]]:
        """(waiting, dead letters) per queue for /metrics; raises when Redis does not answer."""
        return queue_figures(self._broker)

    def close(self) -> None:
        self._broker.client.close()
