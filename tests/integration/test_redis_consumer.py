"""A worker's Redis consumer fetches again as soon as a thread frees a slot (issue 15): with
dramatiq's own, a full prefetch counts as a miss and its thread sleeps ever longer (up to the
worker timeout) while the worker threads run dry on a deep queue."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from dramatiq.broker import MessageProxy
from dramatiq.message import Message

from worker.engine.broker import TOUCH_QUEUE
from worker.engine.redis_batches import BatchingRedisBroker
from worker.engine.redis_consumer import RefillingConsumer

pytestmark = pytest.mark.integration

TIMEOUT_MS = 5000  # the consumer's idle timeout: far longer than any wait below should take


@pytest.fixture
def broker(clean_redis_url: str) -> Iterator[BatchingRedisBroker]:
    broker = BatchingRedisBroker(url=clean_redis_url, middleware=[])
    broker.declare_queue(TOUCH_QUEUE)
    try:
        yield broker
    finally:
        broker.client.close()


def enqueue(broker: BatchingRedisBroker, count: int) -> None:
    for n in range(count):
        broker.enqueue(Message(TOUCH_QUEUE, "send_touch", (n,), {}, {}))


def test_a_full_prefetch_waits_for_an_ack_and_then_fetches_at_once(
    broker: BatchingRedisBroker,
) -> None:
    """Given three messages and a consumer that may hold two, when it holds two and one is
    acked 0.3 s later, then its next call returns at that ack (not a backoff or its timeout
    later) and the call after it brings the third message."""
    enqueue(broker, 3)
    consumer = broker.consume(TOUCH_QUEUE, prefetch=2, timeout=TIMEOUT_MS)
    assert isinstance(consumer, RefillingConsumer)
    try:
        first, second = next(consumer), next(consumer)
        assert isinstance(first, MessageProxy) and isinstance(second, MessageProxy)
        acker = threading.Timer(0.3, consumer.ack, args=(first,))
        started = time.monotonic()
        acker.start()
        assert next(consumer) is None  # the slot freed: back to the consumer thread's loop
        waited = time.monotonic() - started
        third = next(consumer)
        assert isinstance(third, MessageProxy) and third.args == (2,)
        assert 0.25 <= waited < TIMEOUT_MS / 1000 / 2
        consumer.ack(second)
        consumer.ack(third)
    finally:
        consumer.close()


def test_an_empty_queue_still_returns_to_the_consumer_loop(broker: BatchingRedisBroker) -> None:
    """Given no message, when the consumer is asked, then it answers None (dramatiq's idle
    backoff), so its thread can notice a stop."""
    consumer = broker.consume(TOUCH_QUEUE, prefetch=2, timeout=50)
    try:
        assert next(consumer) is None
    finally:
        consumer.close()
