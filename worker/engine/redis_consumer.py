"""dramatiq's Redis consumer, refilled the moment a worker thread finishes a message.

dramatiq 2.2's consumer counts a full prefetch (every message it may hold is running or waiting
for a thread) as a miss, as if Redis had been empty: its thread then sleeps 5 ms, 10, 20 ... up
to the worker timeout (1 s), and fetches nothing meanwhile. The worker threads finish what they
hold and sit idle while the queue is deep: a fifth of their time in the send bench (issue 15).
This one waits for an ack instead, and fetches as soon as a slot is free. An empty queue still
backs off as dramatiq's does (no polling of an idle Redis).

Imported only where a Redis broker is built: the embedded StubBroker never loads redis.
"""

from __future__ import annotations

import threading
from typing import Any

from dramatiq.broker import MessageProxy
from dramatiq.brokers.redis import _RedisConsumer


class RefillingConsumer(_RedisConsumer):
    """As dramatiq's Redis consumer, but a full prefetch waits for a freed slot, not a backoff."""

    def __init__(self, broker: Any, queue_name: str, prefetch: int, timeout: int) -> None:
        super().__init__(broker, queue_name, prefetch, timeout)
        self._freed = threading.Event()

    def ack(self, message: MessageProxy) -> None:
        try:
            super().ack(message)
        finally:
            self._freed.set()

    def nack(self, message: MessageProxy) -> None:
        try:
            super().nack(message)
        finally:
            self._freed.set()

    def __next__(self) -> MessageProxy | None:
        # Cleared before the count is read: an ack after the read sets it again, so the wait
        # never misses one. None hands the consumer thread back its loop (delayed messages, a
        # stop) at least once a worker timeout, as dramatiq's backoff does at its longest.
        self._freed.clear()
        if not self.message_cache and self.outstanding_message_count >= self.prefetch:
            self._freed.wait(self.timeout / 1000)
            return None
        message: MessageProxy | None = super().__next__()
        return message
