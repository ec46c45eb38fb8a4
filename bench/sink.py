"""`python -m bench.sink PORT FILE`: a light aiosmtpd sink in its own process. Each accepted
message appends "epoch-seconds recipient message-id" to FILE (line-buffered); nothing else is
kept, so it costs the benchmark next to nothing. Stops on SIGTERM."""

from __future__ import annotations

import re
import signal
import sys
import threading
import time
from typing import IO, Any

from aiosmtpd.controller import Controller

MESSAGE_ID = re.compile(rb"^Message-ID:\s*(\S+)", re.IGNORECASE | re.MULTILINE)


class Recorder:
    def __init__(self, out: IO[str]) -> None:
        self.out = out

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        found = MESSAGE_ID.search(envelope.content or b"")
        message_id = found.group(1).decode() if found else "-"
        rcpt = envelope.rcpt_tos[0] if envelope.rcpt_tos else "-"
        self.out.write(f"{time.time():.6f} {rcpt} {message_id}\n")
        return "250 OK"


def main(port: int, path: str) -> None:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with open(path, "a", buffering=1, encoding="utf-8") as out:
        controller = Controller(Recorder(out), hostname="127.0.0.1", port=port)
        controller.start()
        print("ready", flush=True)
        stop.wait()
        controller.stop()


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2])
