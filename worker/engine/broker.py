"""The dramatiq broker: Redis when FOLLOWUP_REDIS_URL is set, else the embedded StubBroker."""

from __future__ import annotations

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.stub import StubBroker

from worker.engine.queue_metrics import QueueMetrics
from worker.engine.settings import Settings

TOUCH_QUEUE = "touches"
EVENT_QUEUE = "events"


def make_broker(settings: Settings) -> dramatiq.Broker:
    """Built at the edge; nothing connects at import time."""
    if settings.redis_url:
        broker: dramatiq.Broker = make_redis_broker(settings.redis_url)
    else:
        broker = StubBroker()
        broker.emit_after("process_boot")
    broker.add_middleware(QueueMetrics())
    dramatiq.set_broker(broker)
    return broker


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
    if not isinstance(broker, RedisBroker):
        raise TypeError(f"expected a RedisBroker, got {type(broker).__name__}")
    return broker


def make_redis_broker(url: str, *, timeout: float | None = None) -> dramatiq.Broker:
    """`timeout` bounds connecting and each command (health checks must answer, not hang)."""
    import redis

    if timeout is None:
        return RedisBroker(url=url)
    client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
    return RedisBroker(client=client)
