"""Send throughput, due-to-sent latency and CPU per touch, with the shipped processes.

One `followup scheduler` and two `followup worker --processes 1 --threads 4` processes, the
bench's own redis-server, SQLite or PostgreSQL (h_perf), and a light aiosmtpd sink in its own
process recording when each Message-ID arrived (bench/sink.py). The limit: eight plain smtplib
threads sending pre-built messages over persistent connections to the same sink, measured
before and after the pipeline and averaged (this machine's speed drifts by 2x within minutes);
and once more with followup's own message (the first it sent, as the sink kept it), reported in
the note: the sink's cost of our bigger messages, told apart from our own.

Throughput: N touches made due at once, from that moment to the last one at the sink.
Latency: then touches due one after another at half that rate; arrival minus due time.
CPU: utime+stime of the three processes over both phases, per touch sent.
"""

from __future__ import annotations

import smtplib
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import create_engine, text

from bench.figures import Figure, Size, ratio_figure
from bench.sink import RAW_PREFIX, SAMPLE_SUFFIX
from bench.workspace import (
    LOG_LEVEL,
    OwnRedis,
    Workspace,
    cpu_seconds,
    followup_command,
    make_workspace,
    postgres_url,
    reset_postgres,
    sqlite_url,
    write_leads,
)
from testkit.ports import free_port

COUNTS = {"small": 2000, "full": 10_000}
LATENCY_SECONDS = {"small": 8, "full": 15}  # how long the half-rate phase lasts
RAW_THREADS = 8
WARM = 16  # touches sent first, so every process is up before the clock starts
FAR = datetime(2099, 1, 1, tzinfo=UTC)


@contextmanager
def sink(folder: Path) -> Iterator[tuple[str, Path]]:
    """(FOLLOWUP_SMTP_URL, the arrivals file) of a sink process, stopped on exit."""
    port, arrivals = free_port(), folder / f"arrivals-{time.monotonic_ns()}.txt"
    arrivals.touch()
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.sink", str(port), str(arrivals)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        process.stdout.readline()  # "ready"
        yield f"smtp://127.0.0.1:{port}", arrivals
    finally:
        process.terminate()
        process.wait(timeout=30)


def arrivals_of(path: Path, prefix: str) -> dict[str, float]:
    """recipient -> arrival time of the recipients starting with `prefix`."""
    found = {}
    for line in path.read_text().splitlines():
        parts = line.split(" ")
        if len(parts) == 3 and parts[1].startswith(prefix):
            found[parts[1]] = float(parts[0])
    return found


def wait_for(path: Path, prefix: str, count: int, timeout: float) -> dict[str, float]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = arrivals_of(path, prefix)
        if len(found) >= count:
            return found
        time.sleep(0.2)
    raise RuntimeError(f"only {len(arrivals_of(path, prefix))} of {count} {prefix}* arrived")


def raw_limit(url: str, count: int, sample: bytes | None = None) -> float:
    """Messages per second from RAW_THREADS smtplib clients with pre-built messages: a small
    one each, or all the same `sample` (one followup sent, to price its size at the sink)."""
    port = int(url.rsplit(":", 1)[1])
    per = count // RAW_THREADS
    built = [
        [
            sample
            or (
                f"Message-ID: <raw{t}-{n}@acme.test>\r\nFrom: sales@acme.test\r\n"
                f"To: raw{t}-{n}@example.com\r\nSubject: Hello\r\n\r\nHi.\r\n"
            ).encode()
            for n in range(per)
        ]
        for t in range(RAW_THREADS)
    ]

    def send(index: int) -> None:
        with smtplib.SMTP("127.0.0.1", port) as client:
            for n, message in enumerate(built[index]):
                client.sendmail(
                    "sales@acme.test", [f"{RAW_PREFIX}{index}-{n}@example.com"], message
                )

    threads = [threading.Thread(target=send, args=(i,)) for i in range(RAW_THREADS)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return per * RAW_THREADS / (time.perf_counter() - started)


@contextmanager
def processes(space: Workspace, **env: str) -> Iterator[list[subprocess.Popen[bytes]]]:
    """1 scheduler + 2 worker processes (4 threads each), terminated on exit."""
    commands = [
        ["scheduler"],
        ["worker", "--processes", "1", "--threads", "4"],
        ["worker", "--processes", "1", "--threads", "4"],
    ]
    logs = [(space.folder / f"{args[0]}-{n}.log").open("w") for n, args in enumerate(commands)]
    started = [
        subprocess.Popen([*followup_command(), *args], env=space.env(**env), stdout=out, stderr=out)
        for args, out in zip(commands, logs, strict=True)
    ]
    try:
        yield started
    finally:
        for process in started:
            process.terminate()
        for process in started:
            process.wait(timeout=60)
        for out in logs:
            out.close()


def set_due(
    url: str, prefix: str, first: datetime, interval: float = 0.0, limit: int | None = None
) -> dict[str, datetime]:
    """Touches of (the first `limit`) leads `prefix`* due from `first` on, `interval` seconds
    apart; their due times by email. All at once, one UPDATE: the throughput clock starts
    before it, so it must hardly count the bench's own write (a statement a row took 0.3 s)."""
    engine = create_engine(url)
    with engine.begin() as connection:
        rows = connection.execute(
            text(
                "SELECT touch.id, lead.email FROM touch JOIN lead ON lead.id = touch.lead_id "
                "WHERE lead.email LIKE :p ORDER BY touch.id"
            ),
            {"p": f"{prefix}%"},
        ).all()[:limit]
        due = {email: first + timedelta(seconds=interval * n) for n, (_, email) in enumerate(rows)}
        if not interval and limit is None:
            connection.execute(
                text(
                    "UPDATE touch SET due_at = :due WHERE lead_id IN "
                    "(SELECT id FROM lead WHERE email LIKE :p)"
                ),
                {"due": _stored(engine.dialect.name, first), "p": f"{prefix}%"},
            )
        else:
            stored = [
                {"id": touch_id, "due": _stored(engine.dialect.name, due[email])}
                for touch_id, email in rows
            ]
            connection.execute(text("UPDATE touch SET due_at = :due WHERE id = :id"), stored)
    engine.dispose()
    return due


def _stored(dialect: str, moment: datetime) -> object:
    """How UTCDateTime stores a moment (SQLite: naive UTC text)."""
    return moment.replace(tzinfo=None) if dialect == "sqlite" else moment


def seed(space: Workspace, count: int, latency: int) -> None:
    """Leads for each phase, imported (touches due at once), then all put off far ahead."""
    space.run("db", "upgrade")
    for prefix, n in (("warm", WARM), ("thr", count), ("lat", latency)):
        leads = write_leads(space.folder / f"{prefix}.csv", n, prefix=prefix)
        space.run("leads", "import", str(leads), "--event", "lead.mql")
    set_due(space.database_url, "", FAR)


def pipeline(space: Workspace, smtp_url: str, arrivals: Path, redis_url: str, count: int,
             latency_seconds: int) -> tuple[float, list[float], float]:  # fmt: skip
    """(touches/s, latencies in seconds, CPU seconds per touch)."""
    latency = count // 2  # seeded
    with processes(space, FOLLOWUP_REDIS_URL=redis_url, FOLLOWUP_SMTP_URL=smtp_url) as running:
        set_due(space.database_url, "warm", datetime.now(UTC))
        wait_for(arrivals, "warm", WARM, timeout=120)
        cpu_before = sum(cpu_seconds(p.pid) for p in running)
        started = time.time()
        set_due(space.database_url, "thr", datetime.fromtimestamp(started, UTC))
        found = wait_for(arrivals, "thr", count, timeout=count / 5)
        rate = count / (max(found.values()) - started)
        latency = max(50, min(latency, int(rate / 2 * latency_seconds)))
        first = datetime.now(UTC) + timedelta(seconds=2)
        due = set_due(space.database_url, "lat", first, interval=2 / rate, limit=latency)
        found = wait_for(arrivals, "lat", len(due), timeout=latency_seconds * 10 + 60)
        cpu = sum(cpu_seconds(p.pid) for p in running) - cpu_before
    waits = [found[email] - moment.timestamp() for email, moment in due.items()]
    return rate, waits, cpu / (count + len(due))


def run_backend(name: str, url: str, folder: Path, size: Size, smtp: tuple[str, Path],
                redis: OwnRedis) -> list[Figure]:  # fmt: skip
    count, seconds = COUNTS[size], LATENCY_SECONDS[size]
    space = make_workspace(folder, url)
    seed(space, count, latency=count // 2)
    before = raw_limit(smtp[0], count)
    rate, waits, cpu = pipeline(space, smtp[0], smtp[1], redis.url, count, seconds)
    after = raw_limit(smtp[0], count)
    limit = (before + after) / 2  # on both sides: the machine's speed drifts within minutes
    sample = Path(str(smtp[1]) + SAMPLE_SUFFIX).read_bytes()
    sized = raw_limit(smtp[0], count, sample)  # what our messages' size alone costs the sink
    p50, p99 = statistics.median(waits), statistics.quantiles(waits, n=100)[98]
    target = 0.5 if name == "PostgreSQL" else 0.3
    return [
        ratio_figure(
            f"send throughput ({count:,} due, {name})",
            rate,
            limit,
            "emails/s",
            target,
            f"limit {before:,.0f} before, {after:,.0f} after; with followup's own message"
            f" ({len(sample):,} bytes) {sized:,.0f}, a ratio of {rate / sized:.2f};"
            f" log level {LOG_LEVEL}",
        ),
        Figure(
            f"due-to-sent latency ({name}, {len(waits):,} touches at half that rate)",
            f"p50 {p50:.2f} s, p99 {p99:.2f} s",
            "p99 < 2 s",
            p99 < 2,
        ),
        Figure(
            f"CPU per touch ({name})",
            f"{cpu * 1000:.2f} ms",
            "<= 2 ms",
            cpu <= 0.002,
            "utime+stime of scheduler and both workers / touches sent",
        ),
    ]


def figures(size: Size) -> list[Figure]:
    result = []
    with tempfile.TemporaryDirectory(prefix="followup-bench-") as tmp, OwnRedis() as redis:
        with sink(Path(tmp)) as smtp:
            result += run_backend(
                "SQLite", sqlite_url(Path(tmp) / "lite"), Path(tmp) / "lite", size, smtp, redis
            )
        url = postgres_url()
        reset_postgres(url)
        with sink(Path(tmp)) as smtp:
            result += run_backend("PostgreSQL", url, Path(tmp) / "pg", size, smtp, redis)
        reset_postgres(url)
    return result
