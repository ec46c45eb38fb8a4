"""`python -m bench.sink PORT FILE`: a light aiosmtpd sink in its own process. Each accepted
message appends "epoch-seconds recipient message-id" to FILE (line-buffered); nothing else is
kept, so it costs the benchmark next to nothing, but the first message followup sent, written
whole to FILE.sample (the limit is measured again with it: bench_send.py). Stops on SIGTERM."""

from __future__ import annotations

import re
import signal
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any

from aiosmtpd.controller import Controller

MESSAGE_ID = re.compile(rb"^Message-ID:\s*(\S+)", re.IGNORECASE | re.MULTILINE)
SAMPLE_SUFFIX = ".sample"
RAW_PREFIX = "raw"  # the limit's recipients (bench_send.raw_limit)


class Recorder:
    def __init__(self, out: IO[str], sample: Path) -> None:
        self.out, self.sample, self.sampled = out, sample, False

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        found = MESSAGE_ID.search(envelope.content or b"")
        message_id = found.group(1).decode() if found else "-"
        rcpt = envelope.rcpt_tos[0] if envelope.rcpt_tos else "-"
        self.out.write(f"{time.time():.6f} {rcpt} {message_id}\n")
        if not self.sampled and not rcpt.startswith(RAW_PREFIX):
            self.sample.write_bytes(envelope.content or b"")
            self.sampled = True
        return "250 OK"


def main(port: int, path: str) -> None:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with open(path, "a", buffering=1, encoding="utf-8") as out:
        recorder = Recorder(out, Path(path + SAMPLE_SUFFIX))
        controller = Controller(recorder, hostname="127.0.0.1", port=port)
        controller.start()
        print("ready", flush=True)
        stop.wait()
        controller.stop()


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2])
