"""`followup demo|run|scheduler|worker`: the long-running processes (SPEC section 4)."""

from __future__ import annotations

import logging
import multiprocessing
import threading
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from worker.cli.common import console, fail
from worker.cli.context import cli_context
from worker.cli.metrics_port import mark_dead, shared_metrics_folder, start_metrics
from worker.cli.process_signals import stop_on_signals, verbose, wait_for
from worker.engine.db import reading
from worker.engine.logs import configure_logging
from worker.engine.runtime import Runtime, build_runtime
from worker.engine.settings import ConfigError, Settings
from worker.engine.tunables import GRACEFUL_STOP

if TYPE_CHECKING:  # the machinery below loads when a long-running process starts, not per CLI call
    from worker.engine.readiness import Check
    from worker.engine.scheduler_loop import Heartbeat
    from worker.notify.loop import Notifier

log = logging.getLogger("followup")


def register(app: typer.Typer) -> None:
    for command in (demo, run, scheduler, worker):
        app.command(command.__name__)(command)


def _refuse_evicting_redis(settings: Settings) -> None:
    """An evicting Redis would drop queued touch ids: stop before anything starts."""
    from worker.engine.redis_policy import check_redis_policy

    if settings.redis_url:
        try:
            check_redis_policy(settings.redis_url)
        except ConfigError as exc:
            fail(str(exc))


def _start_notifier(notifier: Notifier, stop: threading.Event) -> threading.Thread:
    """Alerts and webhooks on their own threads, beside the scheduler."""
    thread = threading.Thread(target=notifier.run, args=(stop,), name="notifier", daemon=True)
    thread.start()
    return thread


def demo(
    ctx: typer.Context,
    folder: Annotated[Path, typer.Option(help="where the demo database and outbox go")] = Path(
        ".demo"
    ),
) -> None:
    """Two simulated weeks on the sample sequences, templates and leads, then the report."""
    from worker.demo import (
        DEMO_DAYS,
        DEMO_START,
        GuardrailReview,
        counts_by_status,
        prepare,
        scenario,
    )
    from worker.demo_inbox import DemoInbox, pick_answers
    from worker.engine.simulation import Companion

    base = cli_context(ctx).load_settings()
    leads = Path("samples/leads.csv")
    if not leads.is_file():
        fail(f"{leads} not found: run the demo from the repository folder")
    simulation = prepare(base, folder)
    rt = simulation.rt
    try:
        events = scenario(leads, DEMO_START)
        console.print(
            f"[bold]followup demo[/bold]: {len(events)} lead events over "
            f"{DEMO_DAYS} simulated days from {DEMO_START:%a %Y-%m-%d %H:%M} UTC "
            f"(SQLite {folder}/followup.db, embedded broker, outbox {folder}/outbox)"
        )
        last = {"sent": 0}

        def on_day(day: date) -> None:
            sent = counts_by_status(rt).get("sent", 0)
            console.print(
                f"  {day:%a %d %b}  sent {sent - last['sent']:>3}  (total {sent})", highlight=False
            )
            last["sent"] = sent

        inbox, review = DemoInbox(rt, pick_answers(events)), GuardrailReview(rt)
        with simulation:
            until = DEMO_START + timedelta(days=DEMO_DAYS)
            companions: list[Companion] = [inbox, review]
            simulation.run_until(until, scenario=events, on_day=on_day, companions=companions)
        _print_demo_result(rt, folder)
        console.print(f"[bold]answers read from {folder}/inbox[/bold]:", highlight=False)
        for line in inbox.lines():
            console.print(f"  {line}", highlight=False, soft_wrap=True)
        if review.said:
            console.print("[bold]guardrails[/bold] (the demo resumes a day later):")
        for line in review.said:
            console.print(f"  {line}", highlight=False, soft_wrap=True)
    finally:
        rt.close()


def _print_demo_result(rt: Runtime, folder: Path) -> None:
    """The touch counts and the compliance report the two weeks ended with."""
    from worker.cli.compliance_cmd import print_report
    from worker.compliance.report import build_report
    from worker.demo import alerts_by_level, counts_by_status

    with reading(rt.engine) as session:
        report = build_report(session, by="owner", team=rt.catalog.team, now=rt.clock.now())
    counts = counts_by_status(rt)
    console.print(
        "touches: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())), highlight=False
    )
    print_report(report)
    alerts = alerts_by_level(rt)
    console.print(
        "alerts sent: " + (", ".join(f"{k} {v}" for k, v in sorted(alerts.items())) or "none"),
        highlight=False,
    )
    console.print(
        f"emails written to {folder}/outbox; try `FOLLOWUP_DATABASE_URL=sqlite:///"
        f"{folder}/followup.db followup compliance log`",
        highlight=False,
    )


def run(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="API host")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="API port")] = 8000,
    no_api: Annotated[bool, typer.Option("--no-api", help="scheduler and workers only")] = False,
    threads: Annotated[int, typer.Option(help="worker threads")] = 8,
) -> None:
    """Everything in one process: API, scheduler, workers and the inbox watcher."""
    from worker.engine.actors import declare_actors
    from worker.engine.broker import dramatiq_worker, make_broker
    from worker.engine.scheduler_loop import Heartbeat, run_scheduler
    from worker.inbox.watcher import run_watcher
    from worker.notify.loop import Notifier

    verbose(cli_context(ctx).load_settings().log_level)
    with cli_context(ctx).runtime(need_secret=True) as rt:  # settings, schema, YAML first
        _refuse_evicting_redis(rt.settings)
        broker = make_broker(rt.settings)
        declare_actors(broker, rt)
        beats = Heartbeat()
        ops = start_metrics(rt, broker=broker, extra=_scheduler_check(rt, beats))
        workers = dramatiq_worker(broker, threads)
        workers.start()
        stop = stop_on_signals() if no_api else threading.Event()  # uvicorn has its own
        loop = threading.Thread(
            target=run_scheduler, args=(rt, stop, beats), name="scheduler", daemon=True
        )
        loop.start()
        notifier = Notifier(rt)
        notes = _start_notifier(notifier, stop)
        watchers = run_watcher(rt, stop)
        try:
            if no_api:
                console.print(
                    "followup running (scheduler, workers, inbox); Ctrl-C to stop",
                    highlight=False,
                )
                wait_for(stop)
            else:
                from worker.api.server import serve

                serve(rt, host=host, port=port, broker=broker)
        finally:
            stop.set()
            loop.join(timeout=10)
            notes.join(timeout=30)
            notifier.close()
            for watcher in watchers:
                watcher.join(timeout=10)
            workers.stop()
            if ops is not None:
                ops.stop()


def _scheduler_check(rt: Runtime, beats: Heartbeat) -> dict[str, Callable[[], Check]]:
    return {"scheduler": lambda: beats.check(rt.settings.tick_seconds)}


def scheduler(ctx: typer.Context) -> None:
    """Claim due touches and enqueue them; several may run at once safely."""
    from worker.engine.actors import declare_actors
    from worker.engine.broker import make_broker
    from worker.engine.scheduler_loop import Heartbeat, run_scheduler
    from worker.notify.loop import Notifier

    verbose(cli_context(ctx).load_settings().log_level)
    with cli_context(ctx).runtime(need_secret=True) as rt:  # settings, schema, YAML first
        _refuse_evicting_redis(rt.settings)
        broker = make_broker(rt.settings)
        declare_actors(broker, rt)
        if not rt.settings.redis_url:
            log.warning(
                "FOLLOWUP_REDIS_URL is unset: enqueued touches stay in this process "
                "(use `followup run` for a single process)"
            )
        beats = Heartbeat()
        ops = start_metrics(rt, broker=broker, extra=_scheduler_check(rt, beats))
        stop = stop_on_signals()
        notifier = Notifier(rt)
        notes = _start_notifier(notifier, stop)
        run_scheduler(rt, stop, beats)
        notes.join(timeout=30)
        notifier.close()
        if ops is not None:
            ops.stop()


def worker(
    ctx: typer.Context,
    processes: Annotated[int, typer.Option(min=1, max=64, help="worker processes")] = 1,
    threads: Annotated[int, typer.Option(min=1, max=256, help="threads per process")] = 8,
) -> None:
    """dramatiq worker processes that render and send; needs FOLLOWUP_REDIS_URL."""
    cli = cli_context(ctx)
    config = cli.load_settings()
    if not config.redis_url:
        fail(
            "`followup worker` needs FOLLOWUP_REDIS_URL (redis://host:port/db); "
            "without Redis use `followup run`, which runs workers in-process"
        )
    with cli.runtime(need_secret=True) as rt:  # checks everything before forking
        _refuse_evicting_redis(config)
        if processes == 1:
            serve_worker(config, threads, checked=rt)
        else:
            _supervise(rt, processes, threads)


def _supervise(rt: Runtime, processes: int, threads: int) -> None:
    """Spawn the worker processes; the metrics port (if any) adds up their figures."""
    context = multiprocessing.get_context("spawn")
    children = [
        context.Process(target=serve_worker, args=(rt.settings, threads), name=f"worker-{i}")
        for i in range(processes)
    ]

    def alive() -> Check:
        count = sum(c.is_alive() for c in children)
        return count == processes, f"{count} of {processes} processes alive"

    with shared_metrics_folder(rt.settings.metrics_port is not None) as registry:
        ops = start_metrics(rt, process=registry, extra={"workers": alive}) if registry else None
        for child in children:
            child.start()
        stop = stop_on_signals(second_exits=True)
        wait_for(stop, while_=lambda: any(c.is_alive() for c in children))
        for child in children:
            if child.is_alive():
                child.terminate()  # each stops gracefully (a group signal and this count once)
        for child in children:
            child.join(timeout=GRACEFUL_STOP.total_seconds() + 5)
            mark_dead(child.pid)
        if ops is not None:
            ops.stop()


def serve_worker(config: Settings, threads: int, checked: Runtime | None = None) -> None:
    """One worker process: its own runtime, broker connection and dramatiq threads.

    `checked`: the runtime the command already built (one process: it also serves the metrics
    port); a spawned child builds its own and leaves the port to its parent.
    """
    from worker.engine.actors import declare_actors
    from worker.engine.broker import dramatiq_worker, make_broker
    from worker.engine.graceful_stop import ReturnUnstarted, stop_gracefully

    configure_logging(config.log_format, secrets=config.secret_values())
    verbose(config.log_level)
    rt = checked or build_runtime(config, schema="skip")
    ops = None
    try:
        broker = make_broker(config)
        declare_actors(broker, rt)
        ops = start_metrics(rt, broker=broker) if checked is not None else None
        gate = ReturnUnstarted(rt)
        broker.add_middleware(gate)
        stop = stop_on_signals(second_exits=True)
        consumer = dramatiq_worker(broker, threads)
        consumer.start()
        log.info("worker started: %d threads", threads)
        wait_for(stop)
        stop_gracefully(consumer, gate)
    finally:
        if ops is not None:
            ops.stop()
        if checked is None:
            rt.close()
