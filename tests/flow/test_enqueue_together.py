"""The embedded broker (StubBroker) takes a claim's messages one at a time, as before: the
scheduler's enqueue-together block changes nothing there."""

from __future__ import annotations

from pathlib import Path

from dramatiq.brokers.stub import StubBroker
from dramatiq.message import Message

from testkit.harness import ONE_EMAIL_SEQUENCE, template, write_files
from worker.engine.actors import declare_actors
from worker.engine.broker import TOUCH_QUEUE, make_broker
from worker.engine.runtime import build_runtime
from worker.engine.scheduler_loop import enqueue_claimed
from worker.engine.settings import Settings
from worker.engine.tunables import TOUCH_BATCH, TOUCH_BATCH_DEEP


def test_the_embedded_broker_queues_a_claim_enqueued_together_in_order(tmp_path: Path) -> None:
    """Given the embedded broker, when a deep claim is enqueued together, then its queue holds
    its batch messages, every id once, in claim order."""
    write_files(tmp_path / "sequences", {"s.yaml": ONE_EMAIL_SEQUENCE})
    write_files(tmp_path / "templates", {"t/one.j2": template("One")})
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'followup.db'}",
        sequences_dir=tmp_path / "sequences",
        templates_dir=tmp_path / "templates",
        outbox_dir=tmp_path / "outbox",
    )
    rt = build_runtime(settings)
    try:
        broker = make_broker(settings)
        assert isinstance(broker, StubBroker)
        declare_actors(broker, rt)
        ids = list(range(1, 3 * TOUCH_BATCH_DEEP + 1))
        with rt.enqueue_together():
            enqueue_claimed(rt, ids)
        queue = broker.queues[TOUCH_QUEUE]
        messages = [Message.decode(queue.get_nowait()) for _ in range(queue.qsize())]
        assert len(messages) == -(-len(ids) // TOUCH_BATCH)
        assert [i for m in messages for i in m.args[0]] == ids
        assert {m.actor_name for m in messages} == {"send_touches"}
    finally:
        rt.close()
