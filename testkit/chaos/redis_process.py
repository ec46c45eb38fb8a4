"""A redis-server of the test's own on a free 127.0.0.1 port: started, SHUTDOWN NOSAVE, started
again on the same port (what a Redis restart without persistence does to the queues).

Never the machine's shared Redis: this class only ever talks to the port it chose itself.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

import redis

from testkit.ports import free_port

START_TIMEOUT = 20.0


class RedisBinaryMissing(RuntimeError):
    """No redis-server on the PATH (the quick tier skips; CI installs it)."""


class RedisProcess:
    """One redis-server process; `url` stays the same across restarts."""

    def __init__(self, folder: Path, *, maxmemory_policy: str = "noeviction") -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RedisBinaryMissing("no redis-server on the PATH")
        self.binary, self.folder, self.policy = binary, folder, maxmemory_policy
        folder.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisProcess:
        """Start (again) on the same port and wait until it answers PING."""
        args = ["--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        args += ["--appendonly", "no", "--dir", str(self.folder)]
        args += ["--maxmemory-policy", self.policy]
        with (self.folder / "redis.log").open("ab") as log:
            self._process = subprocess.Popen([self.binary, *args], stdout=log, stderr=log)
        deadline = time.monotonic() + START_TIMEOUT
        while not self.answers():
            if self._process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"redis-server on port {self.port} did not start")
            time.sleep(0.05)
        return self

    def answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def shutdown_nosave(self) -> None:
        """SHUTDOWN NOSAVE: the process exits and every queued message is gone."""
        client = redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=5)
        try:
            client.shutdown(nosave=True)
        except redis.ConnectionError:
            pass  # the server closes the connection as it exits
        finally:
            client.close()
        if self._process is not None:
            self._process.wait(timeout=20)
        self._process = None

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            self._process.wait(timeout=20)
        self._process = None

    def __enter__(self) -> RedisProcess:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
