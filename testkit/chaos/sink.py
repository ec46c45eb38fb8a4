"""ChaosSink: the test's handle on a sink_server process (start, change the plan, read the
journal, stop). The sink runs in its own process so a busy test process never slows its answers.

    with ChaosSink(folder, SinkPlan(seed=7, try_later_fraction=0.3)) as sink:
        env = {... "FOLLOWUP_SMTP_URL": sink.url ...}
        sink.set_plan(replace(sink.plan, hang_until=time.time() + 10))
        records = sink.journal()
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from testkit.chaos.sink_plan import SinkPlan, Verdict
from testkit.ports import free_port

START_TIMEOUT = 20.0


@dataclass(frozen=True)
class SinkRecord:
    """One journalled transaction (see sink_server's docstring)."""

    at: float
    answer: Verdict
    message_id: str | None
    rcpt: str
    attempt: int
    sender: str = ""

    @property
    def accepted(self) -> bool:
        """The sink took the message (a late answer too: the client may never hear it)."""
        return self.answer in (Verdict.ACCEPTED, Verdict.LATE)


class ChaosSink:
    """A sink_server subprocess on a free 127.0.0.1 port, with its plan and journal files."""

    def __init__(self, folder: Path, plan: SinkPlan | None = None) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.plan_path, self.journal_path = folder / "sink-plan.json", folder / "sink.jsonl"
        self.log_path = folder / "sink.log"
        self.plan = plan or SinkPlan()
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def set_plan(self, plan: SinkPlan) -> None:
        """Replace the plan; the sink reads it before its next answer (atomic rename)."""
        self.plan = plan
        scratch = self.plan_path.with_suffix(".tmp")
        scratch.write_text(plan.to_json())
        os.replace(scratch, self.plan_path)

    def start(self) -> ChaosSink:
        self.set_plan(self.plan)
        self.port = self.port or free_port()
        with self.log_path.open("ab") as log:
            command = [sys.executable, "-m", "testkit.chaos.sink_server", "--port", str(self.port)]
            command += ["--plan", str(self.plan_path), "--journal", str(self.journal_path)]
            self._process = subprocess.Popen(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=Path(__file__).resolve().parents[2],
            )
        deadline = time.monotonic() + START_TIMEOUT
        while f"listening {self.port}" not in self.log_path.read_text(errors="replace"):
            if self._process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"chaos sink did not start:\n{self.log_path.read_text()}")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(timeout=10)
        self._process = None

    def __enter__(self) -> ChaosSink:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def journal(self) -> list[SinkRecord]:
        """Every transaction so far, in arrival order (a torn last line is left for later)."""
        if not self.journal_path.is_file():
            return []
        records = []
        for line in self.journal_path.read_text(encoding="utf-8").splitlines():
            try:
                raw = json.loads(line)
            except json.JSONDecodeError:
                continue
            answer = Verdict(raw["answer"])
            records.append(
                SinkRecord(
                    raw["t"], answer, raw["mid"], raw["rcpt"], raw["attempt"], raw.get("sender", "")
                )
            )
        return records

    def accepted_ids(self) -> list[str]:
        """Message-IDs of every accepted message, duplicates included."""
        return [r.message_id for r in self.journal() if r.accepted and r.message_id]
