"""Throughput of `POST /events` on a real uvicorn server, against a bare FastAPI route.

Run from the repository root: PYTHONPATH=. .venv/bin/python bench/bench_events.py
[--requests N] [--concurrency C] [--redis URL]. Both servers run in their own processes on
this machine, one after the other, driven by the same httpx client; the followup one stores
every event (SQLite, WAL) behind API-key auth, and without Redis its event applier enrolls each
event's lead in the same process: timed until the database holds every enrollment, not until
the last 202. With --redis it only enqueues (no worker runs). Prints requests/second and the
ratio; asserts nothing.
"""

from __future__ import annotations

import argparse
import secrets
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from bench.figures import Figure, Size, ratio_figure
from models.event import EventIn  # at module level: the bare route's annotation must resolve
from testkit.ports import free_port

if TYPE_CHECKING:
    from fastapi import FastAPI

SEQUENCE = "name: mql\ntrigger: lead.mql\nsteps:\n  - id: intro\n    email: t/intro\n"
TEMPLATE = "{% block subject %}Hi{% endblock %}{% block text %}{{ unsubscribe_url }}{% endblock %}"


def followup_app(folder: Path, redis_url: str | None) -> FastAPI:
    """What `followup api` serves: without Redis each event is stored, then applied by the app's
    event applier (the lead enrolled); with Redis it is stored and enqueued."""
    from worker.api.app import create_app
    from worker.engine.actors import declare_actors
    from worker.engine.broker import make_broker
    from worker.engine.runtime import build_runtime
    from worker.engine.settings import Settings

    settings = Settings(
        database_url=f"sqlite:///{folder / 'bench.db'}",
        redis_url=redis_url,
        sequences_dir=folder / "sequences",
        templates_dir=folder / "templates",
        outbox_dir=folder / "outbox",
        secret_key=secrets.token_urlsafe(32),
        api_rate_limit=0,  # the bench measures the API, not its write budget
    )
    rt = build_runtime(settings)
    declare_actors(make_broker(settings), rt)
    return create_app(rt, process_inline=redis_url is None)  # as `followup api` alone does


def bare_app() -> FastAPI:
    """The floor: FastAPI validating the same body, and nothing else."""
    from fastapi import FastAPI

    app = FastAPI()

    @app.post("/events", status_code=202)
    def accept(event: EventIn) -> dict[str, str]:
        return {"status": "accepted"}

    return app


def serve(kind: str, port: int, folder: Path, redis_url: str | None) -> None:
    import uvicorn

    app = followup_app(folder, redis_url) if kind == "followup" else bare_app()
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


def prepare(folder: Path) -> str:
    """Sequence files, the database and an API key; returns the key."""
    from worker.auth.apikeys import create_key
    from worker.engine.db import transaction
    from worker.engine.runtime import build_runtime
    from worker.engine.settings import Settings

    (folder / "sequences").mkdir()
    (folder / "templates" / "t").mkdir(parents=True)
    (folder / "sequences" / "mql.yaml").write_text(SEQUENCE)
    (folder / "templates" / "t" / "intro.j2").write_text(TEMPLATE)
    rt = build_runtime(
        Settings(
            database_url=f"sqlite:///{folder / 'bench.db'}",
            sequences_dir=folder / "sequences",
            templates_dir=folder / "templates",
        )
    )
    with transaction(rt.engine) as session:
        key = create_key(session, "bench", now=rt.clock.now())
    rt.close()
    return key


def hammer(
    url: str,
    key: str,
    requests: int,
    concurrency: int,
    settled: Callable[[int], None] = lambda _posted: None,
) -> float:
    """Requests per second for `requests` distinct events over `concurrency` keep-alive
    connections (a thread and an httpx.Client each: httpx's async pool is slower here), timed
    until `settled(events posted)` returns: until every event is applied, not its 202."""

    def one_connection(count: int) -> None:
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}) as client:
            for _ in range(count):
                body = {
                    "type": "lead.mql",
                    "id": uuid.uuid4().hex,
                    "lead": {"email": f"{uuid.uuid4().hex[:12]}@example.com"},
                }
                response = client.post("/events", json=body)
                if response.status_code != 202:
                    raise RuntimeError(f"{url}: {response.status_code} {response.text[:200]}")

    posted = 0

    def run(per_connection: int) -> float:
        nonlocal posted
        started = time.perf_counter()
        with ThreadPoolExecutor(concurrency) as pool:
            for future in [pool.submit(one_connection, per_connection) for _ in range(concurrency)]:
                future.result()
        posted += per_connection * concurrency
        settled(posted)
        return time.perf_counter() - started

    run(20)  # warm-up: connections, caches, SQLite pages
    per_connection = requests // concurrency
    return per_connection * concurrency / run(per_connection)


def enrolled_all(database: Path) -> Callable[[int], None]:
    """Waits until the database holds an enrollment for each event posted (each enrolls one
    new lead); SQLite's own module, read-only, so the server's code is not the judge."""

    def settled(posted: int) -> None:
        deadline = time.monotonic() + 300
        with closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as db:
            while (count := db.execute("SELECT count(*) FROM enrollment").fetchone()[0]) < posted:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{count} of {posted} events applied after 300 s")
                time.sleep(0.002)

    return settled


def measure(kind: str, folder: Path, key: str, args: argparse.Namespace) -> float:
    port = free_port()
    command = [
        sys.executable,
        __file__,
        "--serve",
        kind,
        "--port",
        str(port),
        "--folder",
        str(folder),
    ] + (["--redis", args.redis] if args.redis else [])
    server = subprocess.Popen(command)
    try:
        deadline = time.monotonic() + 180  # a loaded machine starts uvicorn slowly
        while time.monotonic() < deadline:
            try:
                httpx.get(f"http://127.0.0.1:{port}/openapi.json", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        url = f"http://127.0.0.1:{port}"
        if kind == "followup" and not args.redis:  # applied in this process: timed until done
            settled = enrolled_all(folder / "bench.db")
            return hammer(url, key, args.requests, args.concurrency, settled)
        return hammer(url, key, args.requests, args.concurrency)
    finally:
        server.terminate()
        server.wait(timeout=30)


REQUESTS = {"small": 500, "full": 3000}


def figures(size: Size) -> list[Figure]:
    """POST /events with one keep-alive client, each event enrolling a lead (SQLite, applied
    in the process as `followup api` without Redis does, timed until every lead is enrolled),
    against a bare FastAPI route."""
    args = argparse.Namespace(requests=REQUESTS[size], concurrency=1, redis=None)
    with tempfile.TemporaryDirectory(prefix="followup-bench-") as tmp:
        folder = Path(tmp)
        key = prepare(folder)
        bare = measure("bare", folder, key, args)
        ours = measure("followup", folder, key, args)
    figure = ratio_figure("single events (POST /events, enrolling)", ours, bare, "req/s", 0.5)
    how = (
        f"{args.requests:,} requests, one uvicorn worker, one keep-alive client, SQLite,"
        " timed until every lead is enrolled"
    )
    return [Figure(figure.name, figure.value, figure.target, figure.met, how)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--redis", default=None, help="enqueue on this Redis instead")
    parser.add_argument("--serve", choices=("followup", "bare"), help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.port, args.folder, args.redis)
        return
    with tempfile.TemporaryDirectory(prefix="followup-bench-") as tmp:
        folder = Path(tmp)
        key = prepare(folder)
        bare = measure("bare", folder, key, args)
        ours = measure("followup", folder, key, args)
    broker = "Redis" if args.redis else "embedded broker"
    print(f"{args.requests} requests, {args.concurrency} connections, one uvicorn worker each")
    print(f"bare FastAPI route (validation only)       {bare:8.0f} requests/s")
    print(f"POST /events (auth, insert, {broker:15s}) {ours:8.0f} requests/s")
    print(f"ratio                                      {ours / bare:8.2f}")


if __name__ == "__main__":
    main()
