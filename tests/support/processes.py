"""Real `followup scheduler` / `followup worker` subprocesses for integration tests.

A Deployment writes the sequence/template folders and the env, and keeps a runtime in the test
process to enroll leads and read the database. Each process gets its own session (process
group), so stopping or kill -9 reaches the worker children too; its output goes to a file that
is dumped when a test fails. Waiting is polling with a deadline: these tiers run on the real
clock (seconds-scale waits), and a process that died fails the wait at once.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, TypeVar

from sqlmodel import Session, col, func, select

from models.event import EventIn, LeadIn
from models.lead import Lead
from models.touch import FINAL, Touch
from testkit.harness import write_files
from worker.engine.db import transaction
from worker.engine.runtime import build_runtime
from worker.engine.settings import Settings
from worker.flow.events import apply_event, record_event

T = TypeVar("T")

SECRET_KEY = "integration-tests-2b7e151628aed2a6abf71588"  # 32+ bytes
DEFAULT_FROM = "Sales <sales@acme.test>"
STOP_TIMEOUT = 20.0


def followup_env(
    *, database_url: str, redis_url: str, smtp_url: str, folder: Path, **extra: str
) -> dict[str, str]:
    """The environment of every process of one deployment (no inherited FOLLOWUP_* values)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FOLLOWUP_")}
    env.update(
        PYTHONUNBUFFERED="1",
        FOLLOWUP_DATABASE_URL=database_url,
        FOLLOWUP_REDIS_URL=redis_url,
        FOLLOWUP_SMTP_URL=smtp_url,
        FOLLOWUP_SEQUENCES_DIR=str(folder / "sequences"),
        FOLLOWUP_TEMPLATES_DIR=str(folder / "templates"),
        FOLLOWUP_OUTBOX_DIR=str(folder / "outbox"),
        FOLLOWUP_SECRET_KEY=SECRET_KEY,
        FOLLOWUP_TICK_SECONDS="0.2",
        FOLLOWUP_RETRY_BASE_SECONDS="0.5",
        FOLLOWUP_DEFAULT_FROM=DEFAULT_FROM,
    )
    env.update({f"FOLLOWUP_{name.upper()}": value for name, value in extra.items()})
    return env


def followup_command() -> list[str]:
    """The `followup` script of the running interpreter's environment (the venv under test)."""
    script = Path(sys.executable).with_name("followup")
    if script.is_file():
        return [str(script)]
    found = shutil.which("followup")
    if found:
        return [found]
    return [sys.executable, "-c", "from worker.cli import main; main()"]


class FollowupProcess:
    """One started `followup ...` command with its stderr in a log file."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], folder: Path) -> None:
        self.name, self.args = name, args
        self.log_path = folder / f"{name}.log"
        with self.log_path.open("wb") as log:
            self.popen = subprocess.Popen(
                [*followup_command(), *args],
                env=env,
                cwd=folder,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    @property
    def alive(self) -> bool:
        return self.popen.poll() is None

    def kill(self) -> None:
        """kill -9 the whole process group: a crash, no clean-up of any kind."""
        self._signal_group(signal.SIGKILL)
        self.popen.wait(timeout=STOP_TIMEOUT)

    def stop(self, timeout: float = STOP_TIMEOUT) -> int:
        """SIGTERM (a clean shutdown), then SIGKILL whatever is left of the group."""
        self._signal_group(signal.SIGTERM)
        try:
            self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self._signal_group(signal.SIGKILL)
            self.popen.wait(timeout=timeout)
        self._signal_group(signal.SIGKILL)  # orphaned children of a parent that exited
        return int(self.popen.returncode)

    def output(self, tail: int = 60) -> str:
        lines = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(lines[-tail:])

    def _signal_group(self, sig: signal.Signals) -> None:
        with suppress(ProcessLookupError):
            os.killpg(self.popen.pid, sig)


class ProcessDied(AssertionError):
    """A process that should be running exited; the message carries its output."""


class Processes:
    """The processes of one deployment; everything started is stopped at the end."""

    def __init__(self, env: dict[str, str], folder: Path) -> None:
        self.env, self.folder = env, folder
        self.started: list[FollowupProcess] = []
        self.expected_dead: set[str] = set()

    def start(self, name: str, *args: str) -> FollowupProcess:
        process = FollowupProcess(name, list(args), self.env, self.folder)
        self.started.append(process)
        return process

    def scheduler(self, name: str = "scheduler") -> FollowupProcess:
        return self.start(name, "scheduler")

    def worker(
        self, name: str = "worker", *, processes: int = 1, threads: int = 4
    ) -> FollowupProcess:
        return self.start(name, "worker", "--processes", str(processes), "--threads", str(threads))

    def named(self, name: str) -> FollowupProcess:
        return next(process for process in self.started if process.name == name)

    def kill(self, process: FollowupProcess) -> None:
        """A crash on purpose: the process is no longer expected to run."""
        self.expected_dead.add(process.name)
        process.kill()

    def check_alive(self) -> None:
        for process in self.started:
            if process.name not in self.expected_dead and not process.alive:
                raise ProcessDied(
                    f"{process.name} exited with {process.popen.returncode}:\n{process.output()}"
                )

    def stop_all(self) -> dict[str, int]:
        """SIGTERM each running process; returns the exit codes of those that ran till now."""
        return {process.name: process.stop() for process in self.started if process.alive}

    def dump(self) -> str:
        return "\n".join(
            f"----- {p.name} ({' '.join(p.args)}) -----\n{p.output()}" for p in self.started
        )


@contextmanager
def running(env: dict[str, str], folder: Path) -> Iterator[Processes]:
    """Start processes inside; they must stop cleanly at the end. On any failure their output
    is printed (pytest shows it with the failure)."""
    processes = Processes(env, folder)
    try:
        yield processes
        processes.check_alive()
        unclean = {name: code for name, code in processes.stop_all().items() if code != 0}
        assert not unclean, f"processes did not stop cleanly on SIGTERM: {unclean}"
    except BaseException:
        processes.stop_all()
        print(processes.dump(), file=sys.stderr)
        raise


def wait_until(
    condition: Callable[[], T | None],
    *,
    timeout: float,
    what: str,
    processes: Processes | None = None,
    poll: float = 0.2,
    explain: Callable[[], object] | None = None,
) -> T:
    """Poll until `condition()` is truthy and return it; fail after `timeout` seconds
    with `explain()` (the state worth seeing) in the message."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = condition()
        if last:
            return last
        if processes is not None:
            processes.check_alive()
        time.sleep(poll)
    state = explain() if explain is not None else last
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}: {state!r}")


class Deployment:
    """One followup on real services: its folders and env, and a runtime in the test process
    (same settings as the subprocesses) to enroll leads and read the database."""

    def __init__(
        self,
        folder: Path,
        *,
        database_url: str,
        redis_url: str,
        smtp_url: str,
        sequences: dict[str, str],
        templates: dict[str, str],
        **extra: str,
    ) -> None:
        write_files(folder / "sequences", sequences)
        write_files(folder / "templates", templates)
        self.folder = folder
        self.env = followup_env(
            database_url=database_url,
            redis_url=redis_url,
            smtp_url=smtp_url,
            folder=folder,
            **extra,
        )
        self.rt = build_runtime(Settings.from_mapping(self.env))  # creates the tables

    def enroll(self, leads: list[dict[str, Any]], event_type: str = "lead.mql") -> None:
        """Record and apply one event per lead, all in one transaction (as the API would)."""
        now = self.rt.clock.now()
        with transaction(self.rt.engine) as session:
            for lead in leads:
                row, _ = record_event(
                    session, EventIn(type=event_type, lead=LeadIn.model_validate(lead)), now=now
                )
                apply_event(
                    session, row, catalog=self.rt.catalog, versions=self.rt.versions, now=now
                )

    def counts(self) -> dict[str, int]:
        """Touches by status, e.g. {"sent": 598, "sending": 2}."""
        with Session(self.rt.engine) as session:
            rows = session.exec(select(Touch.status, func.count()).group_by(col(Touch.status)))
            return {str(status): int(n) for status, n in rows}

    def touches(self) -> list[Any]:
        """Every touch row with its lead's email, ordered by id: [(Touch, email)]."""
        with Session(self.rt.engine, expire_on_commit=False) as session:
            query = select(Touch, Lead.email).join(Lead, col(Lead.id) == Touch.lead_id)
            return list(session.exec(query.order_by(col(Touch.id))).all())

    def wait_sent(self, total: int, *, processes: Processes, timeout: float) -> dict[str, int]:
        """Until every touch is final and `total` were sent; returns the counts by status."""

        def done() -> dict[str, int] | None:
            counts = self.counts()
            return counts if counts.get("sent", 0) >= total and _all_final(counts) else None

        return wait_until(
            done,
            timeout=timeout,
            processes=processes,
            explain=self.unfinished,
            what=f"{total} sent touches",
        )

    def unfinished(self) -> dict[str, object]:
        """The counts and the first touches not final yet, for a timeout's message."""
        pending = [
            (t.id, email, t.step, str(t.status), t.attempts, t.due_at, t.lease_until, t.last_error)
            for t, email in self.touches()
            if t.status not in FINAL
        ]
        return {"counts": self.counts(), "unfinished": pending[:10]}

    def close(self) -> None:
        self.rt.close()


def _all_final(counts: dict[str, int]) -> bool:
    return all(status in FINAL for status, n in counts.items() if n)


def wait_ready(
    process: FollowupProcess, marker: str, *, count: int = 1, timeout: float = 60.0
) -> None:
    """Until the process logged `marker` `count` times (e.g. each worker child's start line)."""

    def ready() -> bool:
        if not process.alive:
            raise ProcessDied(f"{process.name} exited during start-up:\n{process.output()}")
        return process.log_path.read_text(errors="replace").count(marker) >= count

    wait_until(ready, timeout=timeout, what=f"{process.name} to log {marker!r} x{count}")


def start_ready(
    processes: Processes,
    *,
    schedulers: int = 1,
    worker_processes: int = 1,
    threads: int = 4,
    worker_name: str = "worker",
) -> None:
    """Start schedulers and one `followup worker` command (none when worker_processes is 0),
    and wait until each has logged its start line."""
    started = [processes.scheduler(f"scheduler-{i}") for i in range(1, schedulers + 1)]
    if worker_processes:
        workers = processes.worker(worker_name, processes=worker_processes, threads=threads)
        wait_ready(workers, "worker started", count=worker_processes)
    for scheduler in started:
        wait_ready(scheduler, "scheduler started")


def save_figures(folder: Path, name: str, figures: dict[str, object]) -> None:
    """Measurements worth keeping: `<name>.json` in the artifacts folder, and on stdout."""
    (folder / f"{name}.json").write_text(json.dumps(figures, indent=2))
    print(name, figures)
