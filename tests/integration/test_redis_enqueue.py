"""A claim's messages go to a real Redis in one pipeline (issue 15): each one arrives as
dramatiq's own enqueue writes it, readable by its consumer, counted by our metrics."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from dramatiq.message import Message

from testkit.chaos.redis_process import RedisProcess
from testkit.harness import ONE_EMAIL_SEQUENCE, template, write_files
from worker.engine.actors import declare_actors
from worker.engine.broker import TOUCH_QUEUE, make_broker
from worker.engine.queue_metrics import ENQUEUED
from worker.engine.redis_batches import BatchingRedisBroker
from worker.engine.runtime import Runtime, build_runtime
from worker.engine.scheduler_loop import enqueue_claimed
from worker.engine.settings import Settings
from worker.engine.tunables import TOUCH_BATCH, TOUCH_BATCH_DEEP

pytestmark = pytest.mark.integration


@contextmanager
def runtime_on(tmp_path: Path, redis_url: str) -> Iterator[tuple[Runtime, BatchingRedisBroker]]:
    """A runtime whose actors are bound to a BatchingRedisBroker on `redis_url`."""
    write_files(tmp_path / "sequences", {"s.yaml": ONE_EMAIL_SEQUENCE})
    write_files(tmp_path / "templates", {"t/one.j2": template("One")})
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'followup.db'}",
        redis_url=redis_url,
        sequences_dir=tmp_path / "sequences",
        templates_dir=tmp_path / "templates",
        outbox_dir=tmp_path / "outbox",
    )
    rt = build_runtime(settings)
    broker = make_broker(settings)
    assert isinstance(broker, BatchingRedisBroker)
    declare_actors(broker, rt)
    try:
        yield rt, broker
    finally:
        broker.client.close()
        rt.close()


@pytest.fixture
def redis_runtime(
    tmp_path: Path, clean_redis_url: str
) -> Iterator[tuple[Runtime, BatchingRedisBroker]]:
    with runtime_on(tmp_path, clean_redis_url) as built:
        yield built


def waiting(broker: BatchingRedisBroker) -> int:
    return int(broker.client.llen(f"{broker.namespace}:{TOUCH_QUEUE}"))


def consumed(broker: BatchingRedisBroker, count: int) -> list[Message[object]]:
    """The next `count` messages of the touch queue, as a worker's consumer fetches them."""
    consumer = broker.consume(TOUCH_QUEUE, prefetch=count, timeout=1000)
    try:
        messages: list[Message[object]] = []
        while len(messages) < count:
            proxy = next(consumer)
            assert proxy is not None, f"only {len(messages)} of {count} messages arrived"
            messages.append(proxy._message)
            consumer.ack(proxy)
        return messages
    finally:
        consumer.close()


def touch_ids(messages: list[Message[object]]) -> list[int]:
    """The ids the messages carry, in order (a batch message's list, or one id)."""
    return [i for m in messages for i in (m.args[0] if isinstance(m.args[0], list) else m.args)]


def enqueued(actor: str) -> float:
    return ENQUEUED.labels(TOUCH_QUEUE, actor)._value.get()


def test_a_deep_claim_sent_together_arrives_intact_and_in_order(
    redis_runtime: tuple[Runtime, BatchingRedisBroker],
) -> None:
    """Given a claim of 10 x TOUCH_BATCH_DEEP ids, when it is enqueued together, then Redis
    holds its batch messages only once the block ends, the consumer reads every id once in
    claim order, each message has its own Redis id, and every one is counted."""
    rt, broker = redis_runtime
    ids = list(range(1, 10 * TOUCH_BATCH_DEEP + 1))
    before = enqueued("send_touches")
    with rt.enqueue_together():
        enqueue_claimed(rt, ids)
        assert waiting(broker) == 0  # held until the block ends: one round trip
    count = waiting(broker)
    assert count == -(-len(ids) // TOUCH_BATCH)
    messages = consumed(broker, count)
    assert {m.actor_name for m in messages} == {"send_touches"}
    assert touch_ids(messages) == ids
    assert len({m.options["redis_message_id"] for m in messages}) == count
    assert enqueued("send_touches") - before == count


def test_a_block_that_raises_still_sends_what_it_enqueued(
    redis_runtime: tuple[Runtime, BatchingRedisBroker],
) -> None:
    """Given ids claimed and committed, when the block enqueueing them raises, then their
    messages still reach Redis (a lost one would wait for its lease to be re-driven)."""
    rt, broker = redis_runtime
    with pytest.raises(RuntimeError), rt.enqueue_together():
        enqueue_claimed(rt, [1, 2, 3])
        raise RuntimeError("after the enqueue")
    assert touch_ids(consumed(broker, waiting(broker))) == [1, 2, 3]


def test_another_thread_and_a_nested_block_do_not_hold_back_or_split_a_batch(
    redis_runtime: tuple[Runtime, BatchingRedisBroker],
) -> None:
    """Given a block open on one thread, when another thread enqueues, then its message goes
    at once; a nested block's messages go with the outer block's."""
    rt, broker = redis_runtime
    with rt.enqueue_together():
        other = threading.Thread(target=rt.enqueue_touch, args=(7,))
        other.start()
        other.join()
        assert waiting(broker) == 1
        with rt.enqueue_together():
            rt.enqueue_touch(8)
        assert waiting(broker) == 1
    assert [m.args for m in consumed(broker, 2)] == [(7,), (8,)]


def test_a_redis_that_restarted_and_forgot_the_script_still_gets_every_message(
    tmp_path: Path, own_redis: RedisProcess
) -> None:
    """Given a claim sent together once (dramatiq's dispatch script loaded), when Redis restarts
    (its scripts forgotten) and the next claim is sent together, then every message arrives."""
    with runtime_on(tmp_path, own_redis.url) as (rt, broker):
        with rt.enqueue_together():
            enqueue_claimed(rt, [1, 2])
        own_redis.stop()
        own_redis.start()
        with rt.enqueue_together():
            enqueue_claimed(rt, [3, 4, 5])
        assert touch_ids(consumed(broker, waiting(broker))) == [3, 4, 5]
