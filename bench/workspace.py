"""What the target benches share: a throw-away project folder with a one-step sequence, the
environment the shipped `followup` processes read, the databases they run on, and CPU/RSS."""

from __future__ import annotations

import csv
import os
import secrets
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

SEQUENCE = "name: bench\ntrigger: lead.mql\nsteps:\n  - id: one\n    email: b/one\n"
TEMPLATE = (
    "{% block subject %}Hello {{ lead.first_name }}{% endblock %}"
    "{% block text %}Hi {{ lead.first_name }},\n\nabout {{ lead.company }}.\n\n"
    "{{ unsubscribe_url }}{% endblock %}"
)
BENCH_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/h_perf"


def postgres_url() -> str:
    """FOLLOWUP_BENCH_POSTGRES, else this worktree's own database (emptied by each bench)."""
    return os.environ.get("FOLLOWUP_BENCH_POSTGRES", BENCH_POSTGRES)


def followup_command() -> list[str]:
    """The installed `followup` script beside this interpreter."""
    return [str(Path(sys.executable).parent / "followup")]


@dataclass(frozen=True)
class Workspace:
    folder: Path
    database_url: str

    def env(self, **extra: str) -> dict[str, str]:
        """What a shipped process reads: this folder's sequences, templates and database."""
        values = {
            "FOLLOWUP_DATABASE_URL": self.database_url,
            "FOLLOWUP_SEQUENCES_DIR": str(self.folder / "sequences"),
            "FOLLOWUP_TEMPLATES_DIR": str(self.folder / "templates"),
            "FOLLOWUP_OUTBOX_DIR": str(self.folder / "outbox"),
            "FOLLOWUP_SECRET_KEY": SECRET,
            "FOLLOWUP_DEFAULT_FROM": "Acme Sales <sales@acme.test>",
            "FOLLOWUP_LOG_LEVEL": LOG_LEVEL,
        }
        base = {k: v for k, v in os.environ.items() if not k.startswith("FOLLOWUP_")}
        return {**base, **values, **extra}

    def run(self, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        """`followup ARGS` to completion; a failure raises with its output."""
        done = subprocess.run(
            [*followup_command(), *args],
            env=self.env(**extra),
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"followup {' '.join(args)}: {done.stdout}{done.stderr}")
        return done


SECRET = secrets.token_urlsafe(32)
# What the shipped processes log: the default (a line a touch sent) unless BENCH_LOG_LEVEL says.
LOG_LEVEL = os.environ.get("BENCH_LOG_LEVEL", "info")


def make_workspace(folder: Path, database_url: str) -> Workspace:
    (folder / "sequences").mkdir(parents=True, exist_ok=True)
    (folder / "templates" / "b").mkdir(parents=True, exist_ok=True)
    (folder / "sequences" / "bench.yaml").write_text(SEQUENCE)
    (folder / "templates" / "b" / "one.j2").write_text(TEMPLATE)
    return Workspace(folder, database_url)


def sqlite_url(folder: Path, name: str = "bench.db") -> str:
    return f"sqlite:///{folder / name}"


def reset_postgres(url: str) -> None:
    """An empty public schema in the bench's own database (never the shared ones), created on
    the server first when it is missing (a fresh machine has only `postgres` and `test`)."""
    from sqlalchemy import create_engine, make_url, text

    target = make_url(url)
    server = create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with server.connect() as connection:
        exists = connection.execute(
            text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": target.database}
        ).first()
        if exists is None:
            connection.execute(text(f'CREATE DATABASE "{target.database}"'))
    server.dispose()
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    engine.dispose()


def write_leads(path: Path, count: int, prefix: str = "lead", start: int = 0) -> Path:
    """A CSV of `count` new leads (email, first_name, company)."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(["email", "first_name", "company"])
        for n in range(start, start + count):
            out.writerow([f"{prefix}{n}@example.com", f"Ann{n % 97}", f"Acme {n % 31}"])
    return path


def cpu_seconds(pid: int) -> float:
    """utime + stime of a live process (Linux /proc), children it waited for included."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return sum(int(fields[i]) for i in (11, 12, 13, 14)) / ticks


def run_measured(command: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """(wall seconds, peak RSS in MB, output) of a command run to completion."""
    import time

    started = time.perf_counter()
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    assert process.stdout is not None
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    elapsed = time.perf_counter() - started
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(command)}: {output}")
    return elapsed, usage.ru_maxrss / 1024, output


class OwnRedis:
    """A redis-server of the bench's own on a free loopback port, no persistence; stopped
    (only this process) on exit."""

    def __init__(self) -> None:
        from testkit.ports import free_port

        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> OwnRedis:
        import time

        import redis

        command = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1"]
        command += ["--save", "", "--appendonly", "no"]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
        client = redis.Redis.from_url(self.url)
        for _ in range(100):
            try:
                client.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.05)
        client.close()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
