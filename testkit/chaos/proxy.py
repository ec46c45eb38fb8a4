"""A TCP proxy on 127.0.0.1 a fault test controls: pass, blackhole, heal (a network partition).

with TcpProxy(target_port) as proxy:      # clients connect to proxy.port
    proxy.blackhole()   # new connections are accepted and hang; open ones stall both ways
    proxy.heal()        # what was held back flows again (a partition TCP outlived) ...
    proxy.heal(reset=True)  # ... or every open connection is dropped (one it did not)
While blackholed, nothing is forwarded, and no socket is closed: a client sees a peer that has
gone silent, as behind a dead switch, not a refusal.
"""

from __future__ import annotations

import socket
import threading
from contextlib import suppress

CHUNK = 65536


class _Link:
    """One client connection and its upstream, with a pump thread each way."""

    def __init__(self, proxy: TcpProxy, client: socket.socket) -> None:
        self.proxy, self.client = proxy, client
        self.upstream: socket.socket | None = None
        self.closed = threading.Event()

    def run(self) -> None:
        if not self.proxy._wait_passing(self):  # a blackholed connect: accepted, then silence
            return
        try:
            self.upstream = socket.create_connection(("127.0.0.1", self.proxy.target_port))
        except OSError:
            self.close()
            return
        threading.Thread(target=self._pump, args=(self.upstream, self.client), daemon=True).start()
        self._pump(self.client, self.upstream)

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(CHUNK):
                if not self.proxy._wait_passing(self):
                    return
                sink.sendall(data)
        except OSError:
            pass
        self.close()

    def close(self) -> None:
        self.closed.set()
        for sock in (self.client, self.upstream):
            if sock is not None:
                with suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                with suppress(OSError):
                    sock.close()
        self.proxy._forget(self)


class TcpProxy:
    """Listens on a free loopback port and forwards each connection to 127.0.0.1:target_port."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self._passing = threading.Condition()
        self._blackholed = False
        self._links: set[_Link] = set()
        self.accepted = 0  # connections accepted since start
        self._thread = threading.Thread(target=self._accept, name=f"proxy-{self.port}", daemon=True)
        self._stopped = False

    @property
    def blackholed(self) -> bool:
        return self._blackholed

    @property
    def open_connections(self) -> int:
        with self._passing:
            return len(self._links)

    def start(self) -> TcpProxy:
        self._thread.start()
        return self

    def blackhole(self) -> None:
        """From now on forward nothing, in either direction; keep every socket open."""
        with self._passing:
            self._blackholed = True

    def heal(self, *, reset: bool = False) -> None:
        """Forward again; `reset`: first drop every connection opened before (clients reconnect)."""
        if reset:
            with self._passing:
                links = list(self._links)
            for link in links:
                link.close()
        with self._passing:
            self._blackholed = False
            self._passing.notify_all()

    def stop(self) -> None:
        self._stopped = True
        with suppress(OSError):
            self._listener.close()
        with self._passing:
            links = list(self._links)
            self._passing.notify_all()
        for link in links:
            link.close()

    def __enter__(self) -> TcpProxy:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _accept(self) -> None:
        while not self._stopped:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            link = _Link(self, client)
            with self._passing:
                self._links.add(link)
                self.accepted += 1
            threading.Thread(target=link.run, daemon=True).start()

    def _wait_passing(self, link: _Link) -> bool:
        """Hold the caller while blackholed; False once its link or the proxy closed."""
        with self._passing:
            self._passing.wait_for(
                lambda: not self._blackholed or link.closed.is_set() or self._stopped
            )
            return not (link.closed.is_set() or self._stopped)

    def _forget(self, link: _Link) -> None:
        with self._passing:
            self._links.discard(link)
            self._passing.notify_all()
