"""`serve`: the API under uvicorn, in the foreground, until SIGINT or SIGTERM."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import dramatiq
import uvicorn

from worker.api.access_log import install_redaction
from worker.api.app import create_app
from worker.engine.runtime import Runtime


class _Server(uvicorn.Server):
    """uvicorn re-raises the stop signal after its graceful shutdown, which would kill the
    process before `followup run` stops its workers; here `serve` returns and the caller
    cleans up and exits 0."""

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {
            sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)
        }
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def serve(
    rt: Runtime,
    *,
    host: str,
    port: int,
    process_inline: bool = False,
    broker: dramatiq.Broker | None = None,
) -> None:
    """Block until the server stops; `process_inline` when no worker runs in this process."""
    app = create_app(rt, process_inline=process_inline, broker=broker)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="info",
        log_config=None,  # uvicorn's lines go through followup's handler: format, redaction
        proxy_headers=True,
        server_header=False,
    )
    install_redaction()  # after Config: it configures uvicorn's loggers
    _Server(config).run()
