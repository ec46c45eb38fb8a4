"""Delivery throughput: the whole pipeline (SQLite, embedded broker, 4 worker threads, SMTP to an
aiosmtpd sink on loopback) against the raw limit: the same sink fed pre-built messages by 4
threads on persistent connections. Prints emails per second and the ratio; asserts nothing.

Run from the repository root: .venv/bin/python -m bench delivery [count].
"""

from __future__ import annotations

import sys
import tempfile
import threading
import time
from datetime import timedelta
from pathlib import Path

from testkit.harness import Harnesses, template
from testkit.smtp_sink import SmtpSink
from worker.mail import OutgoingEmail, SmtpMailer, make_message_id

THREADS = 4
SEQUENCE = "name: bench\ntrigger: lead.mql\nsteps:\n  - id: one\n    email: b/one\n"


def raw_limit(sink: SmtpSink, count: int) -> float:
    """Emails per second when nothing but SMTP is done (the ceiling for this machine)."""
    mailer = SmtpMailer(sink.url)
    per_thread = count // THREADS

    def send_many(index: int) -> None:
        for n in range(per_thread):
            mailer.send(
                OutgoingEmail(
                    sender="Sales <sales@acme.test>",
                    to=f"raw{index}-{n}@example.com",
                    subject="Hello",
                    text="Hi.\n",
                    html=None,
                    message_id=make_message_id("acme.test"),
                )
            )

    workers = [threading.Thread(target=send_many, args=(i,)) for i in range(THREADS)]
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - started
    mailer.close()
    return per_thread * THREADS / elapsed


def pipeline(sink: SmtpSink, count: int) -> tuple[float, float]:
    """(enrolments per second, emails per second from the first tick to the last send)."""
    with tempfile.TemporaryDirectory() as folder, Harnesses(Path(folder)) as make_harness:
        h = make_harness(
            sequences={"bench.yaml": SEQUENCE},
            templates={"b/one.j2": template("Hello {{ lead.email }}")},
            mailer=SmtpMailer(sink.url),
            threads=THREADS,
        )
        started = time.perf_counter()
        for n in range(count):
            h.event("lead.mql", f"lead{n}@example.com")
        enrolled = time.perf_counter() - started
        started = time.perf_counter()
        h.advance(timedelta(seconds=1))
        sent = time.perf_counter() - started
        assert len(h.touches(status="sent")) == count, "every touch should have gone out"
    return count / enrolled, count / sent


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    with SmtpSink() as sink:
        raw = raw_limit(sink, count)
        enrol_rate, send_rate = pipeline(sink, count)
    print(f"{count} emails, {THREADS} threads, SMTP on loopback (aiosmtpd)")
    print(f"raw SMTP sends (pre-built messages)     {raw:8.0f} emails/s")
    print(f"followup: claim, render, send, record   {send_rate:8.0f} emails/s")
    print(f"ratio                                   {send_rate / raw:8.2f}")
    print(f"enrolment (one event per transaction)   {enrol_rate:8.0f} leads/s")


if __name__ == "__main__":
    main()
