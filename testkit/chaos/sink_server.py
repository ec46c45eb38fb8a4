"""The chaos sink as its own process: an aiosmtpd server on 127.0.0.1 driven by a plan file.

    python -m testkit.chaos.sink_server --port P --plan plan.json --journal journal.jsonl

The plan (sink_plan.SinkPlan as JSON) is re-read whenever its file changes, so a test changes
the answers mid-run. Every transaction is journalled as one JSON line, flushed at once:
{"t": epoch seconds, "answer": "250|451|421|550|late", "mid": Message-ID or null,
 "rcpt": first recipient, "attempt": n-th transaction of that Message-ID,
 "sender": the envelope's MAIL FROM}. An accepted message
is journalled before its 250 is written (for "late", seconds before), as a real server that
has queued it would. A DATA that met a hang is answered 451 and not taken (its client timed
out), so only a "late" answer makes the ambiguous instant. Runs until SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import threading
import time
from collections import Counter
from email.parser import BytesHeaderParser
from pathlib import Path
from typing import Any, TextIO

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP

from testkit.chaos.sink_plan import SinkPlan, Verdict, data_verdict, hang_left, rcpt_refused

REPLIES = {
    Verdict.ACCEPTED: "250 2.0.0 OK queued",
    Verdict.LATE: "250 2.0.0 OK queued (late)",
    Verdict.TRY_LATER: "451 4.3.0 chaos: try again later",
    Verdict.CLOSING: "421 4.3.2 chaos: closing connection",
    Verdict.REJECTED: "550 5.1.1 chaos: no such user",
}


class PlanFile:
    """The plan, re-read when the file's mtime or size changes (the test writes it atomically)."""

    def __init__(self, path: Path) -> None:
        self.path, self._stamp, self._plan = path, (0, 0), SinkPlan()

    def current(self) -> SinkPlan:
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return self._plan
        stamp = (stat.st_mtime_ns, stat.st_size)
        if stamp != self._stamp:
            self._plan, self._stamp = SinkPlan.from_json(self.path.read_text()), stamp
        return self._plan


class ChaosHandler:
    """aiosmtpd hooks: hang, refuse at RCPT, then decide the end of DATA from the plan."""

    def __init__(self, plan: PlanFile, journal: TextIO) -> None:
        self.plan, self.journal = plan, journal
        self.attempts: Counter[str] = Counter()

    def note(
        self, answer: Verdict, mid: str | None, envelope: Any, rcpt: str, attempt: int = 0
    ) -> None:
        line = {"t": time.time(), "answer": str(answer), "mid": mid, "rcpt": rcpt}
        line.update(attempt=attempt, sender=envelope.mail_from)
        self.journal.write(json.dumps(line) + "\n")
        self.journal.flush()

    async def _silence(self) -> bool:
        """Wait out a hang; True when there was one to wait out."""
        waited = False
        while (left := hang_left(self.plan.current(), time.time())) > 0:
            waited = True
            await asyncio.sleep(min(left, 0.5))
        return waited

    async def handle_MAIL(
        self, server: SMTP, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        await self._silence()
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 2.1.0 OK"

    async def handle_RCPT(
        self, server: SMTP, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        await self._silence()
        if rcpt_refused(self.plan.current(), address):
            self.note(Verdict.REJECTED, None, envelope, address)
            return REPLIES[Verdict.REJECTED]
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Any, envelope: Any) -> str:
        hung = await self._silence()
        plan = self.plan.current()
        headers = BytesHeaderParser().parsebytes(bytes(envelope.content))
        mid = str(headers.get("Message-ID", "")).strip() or "<none>"
        self.attempts[mid] += 1
        attempt = self.attempts[mid]
        # a message whose DATA met a hang is refused, not taken: the client has given up on it
        verdict = Verdict.TRY_LATER if hung else data_verdict(plan, mid, attempt)
        self.note(
            verdict, mid, envelope, envelope.rcpt_tos[0] if envelope.rcpt_tos else "", attempt
        )
        if plan.delay_seconds:
            await asyncio.sleep(plan.delay_seconds)
        if verdict is Verdict.LATE:
            await asyncio.sleep(plan.late_seconds)
        if verdict is Verdict.CLOSING and server.transport is not None:
            asyncio.get_running_loop().call_later(0.05, server.transport.close)
        return REPLIES[verdict]


def serve(port: int, plan_path: Path, journal_path: Path) -> None:
    """Serve until a signal; prints "listening <port>" once the port answers."""
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    with journal_path.open("a", encoding="utf-8") as journal:
        handler = ChaosHandler(PlanFile(plan_path), journal)
        controller = Controller(handler, hostname="127.0.0.1", port=port, server_hostname="sink")
        controller.start()
        print(f"listening {port}", flush=True)
        try:
            stop.wait()
        finally:
            controller.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--plan", type=Path, required=True)
    parser.add_argument("--journal", type=Path, required=True)
    args = parser.parse_args()
    serve(args.port, args.plan, args.journal)


if __name__ == "__main__":
    main()
