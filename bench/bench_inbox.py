"""The inbox: messages per second, parsing + classifying alone, and the whole watcher path
(Maildir -> parse -> match -> record -> event) on SQLite, over copies of the test corpus.

Run from the repository root: PYTHONPATH=. .venv/bin/python -m bench inbox [copies].
Prints numbers; asserts nothing.
"""

from __future__ import annotations

import re
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import yaml

from tests.support.inbox import CORPUS, drop, inbox_harness, mail_leads
from worker.inbox.classify import classify
from worker.inbox.maildir_source import MaildirSource
from worker.inbox.parsing import parse_message
from worker.inbox.watcher import poll

OWN = frozenset({"ana.rep@acme.test", "sales@acme.test"})


def corpus() -> dict[str, bytes]:
    names = yaml.safe_load((CORPUS / "expected.yaml").read_text())
    return {name: (CORPUS / name).read_bytes() for name in names}


def classify_only(messages: list[bytes], rounds: int = 20) -> float:
    started = time.perf_counter()
    for _ in range(rounds):
        for data in messages:
            classify(parse_message(data), own_addresses=OWN, today=date(2026, 11, 30))
    return rounds * len(messages) / (time.perf_counter() - started)


def whole_path(files: dict[str, bytes], copies: int) -> tuple[int, float]:
    """Each copy gets its own Message-ID so none is a repeat of another."""
    h = inbox_harness(Path(tempfile.mkdtemp(prefix="bench-inbox-")))
    try:
        leads = sorted(
            {
                c["lead"]
                for c in yaml.safe_load((CORPUS / "expected.yaml").read_text()).values()
                if c.get("lead")
            }
        )
        mail_leads(h, leads)
        for copy in range(copies):
            for name, data in files.items():
                unique = re.sub(
                    rb"(?im)^message-id:\s*<", f"Message-ID: <c{copy}.".encode(), data, count=1
                )
                drop(h, f"{copy}.{name}", unique)
        started = time.perf_counter()
        seen = poll(h.rt, MaildirSource(h.settings.inbox_dir))
        return len(seen), time.perf_counter() - started
    finally:
        h.close()


def main() -> None:
    copies = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    files = corpus()
    print(f"parse + classify only: {classify_only(list(files.values())):,.0f} messages/s")
    count, seconds = whole_path(files, copies)
    print(
        f"watcher path on SQLite (parse, match, record, apply the event): {count} messages "
        f"in {seconds:.2f}s = {count / seconds:,.0f} messages/s"
    )


if __name__ == "__main__":
    main()
