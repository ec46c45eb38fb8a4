"""A real HTTP receiver on 127.0.0.1 for webhook tests: checks signatures, keeps an idempotency
set, and misbehaves on purpose (fails some attempts, answers others too late)."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# What to do with attempt n (1-based) of an event id: "ok", "fail" (HTTP 500, not processed),
# or "slow" (processed, then the answer comes after the sender's timeout).
Behaviour = Callable[[str, int], str]


def is_valid(secret: str, header: str, body: bytes) -> bool:
    """The receiver's own check, written from the documented scheme (not the sender's code)."""
    fields = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    if "t" not in fields or "v1" not in fields:
        return False
    expected = hmac.new(secret.encode(), fields["t"].encode() + b"." + body, hashlib.sha256)
    return hmac.compare_digest(expected.hexdigest(), fields["v1"])


@dataclass
class Received:
    secret: str
    behaviour: Behaviour
    slow_seconds: float = 1.0
    attempts: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    bodies: dict[str, set[bytes]] = field(default_factory=lambda: defaultdict(set))
    processed: list[str] = field(default_factory=list)  # ids that passed the idempotency check
    duplicates: int = 0
    bad_signatures: int = 0
    payloads: list[Any] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def handle(self, headers: Any, body: bytes) -> tuple[int, float]:
        """(status, delay before answering) for one request."""
        event_id = headers.get("Followup-Event-Id", "")
        if not is_valid(self.secret, headers.get("Followup-Signature", ""), body):
            with self.lock:
                self.bad_signatures += 1
            return 401, 0.0
        with self.lock:
            self.attempts[event_id] += 1
            self.bodies[event_id].add(body)
            action = self.behaviour(event_id, self.attempts[event_id])
            if action == "fail":
                return 500, 0.0
            if event_id in self.processed:
                self.duplicates += 1
            else:
                self.processed.append(event_id)
                self.payloads.append(json.loads(body))
        return 200, self.slow_seconds if action == "slow" else 0.0


Handle = Callable[[Any, bytes], tuple[int, float]]  # (headers, body) -> (status, delay)


def _handler(handle: Handle) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # the name http.server calls
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            status, delay = handle(self.headers, body)
            time.sleep(delay)  # the receiver being slow, not a test waiting for a schedule
            try:
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()
            except OSError:  # the sender gave up waiting: that is the point
                pass

        def log_message(self, *_args: Any) -> None:
            pass

    return Handler


@contextmanager
def webhook_receiver(handle: Handle) -> Iterator[str]:
    """Serve `handle` on a free 127.0.0.1 port; yields the URL to post to."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(handle))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="receiver", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hooks/followup"
    finally:
        server.shutdown()
        server.server_close()
