"""The metrics port of `followup worker`, `scheduler` and `run` (FOLLOWUP_METRICS_PORT):
/metrics in the Prometheus text format, /healthz (alive, touches nothing) and /readyz."""

from __future__ import annotations

import errno
import json
import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from worker.engine.readiness import Readiness

log = logging.getLogger("followup.ops")


class OpsServerError(Exception):
    """The metrics port cannot be served; one line naming FOLLOWUP_METRICS_PORT."""


class OpsServer:
    """A small threaded HTTP server on its own daemon thread; `start` fails fast on a busy port."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        registry: CollectorRegistry,
        readiness: Callable[[], Readiness],
        may_see_detail: Callable[[str | None], bool],
    ) -> None:
        self.host, self.port = host, port
        self.registry, self.readiness, self.may_see_detail = registry, readiness, may_see_detail
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        try:
            server = ThreadingHTTPServer((self.host, self.port), _handler_for(self))
        except OSError as exc:
            why = (
                "is already in use" if exc.errno == errno.EADDRINUSE else f"failed: {exc.strerror}"
            )
            raise OpsServerError(
                f"FOLLOWUP_METRICS_PORT {self.port} on {self.host} {why}: "
                "choose a free port, or unset it to serve no metrics"
            ) from None
        server.daemon_threads = True
        self._server, self.port = server, int(server.server_address[1])
        self._thread = threading.Thread(target=server.serve_forever, name="metrics", daemon=True)
        self._thread.start()
        log.info("metrics, /healthz and /readyz on http://%s:%d", self.host, self.port)

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


def _handler_for(ops: OpsServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "followup"
        sys_version = ""

        def do_GET(self) -> None:  # the name http.server calls
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._reply(200, generate_latest(ops.registry), CONTENT_TYPE_LATEST)
            elif path == "/healthz":
                self._json(200, {"status": "ok"})
            elif path == "/readyz":
                readiness = ops.readiness()
                detail = ops.may_see_detail(self.headers.get("Authorization"))
                self._json(200 if readiness.ok else 503, readiness.body(detail=detail))
            else:
                self._json(404, {"detail": "not found: try /metrics, /healthz or /readyz"})

        def _json(self, status: int, body: dict[str, Any]) -> None:
            self._reply(status, json.dumps(body).encode(), "application/json")

        def _reply(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("%s %s", self.address_string(), format % args)

    return Handler
