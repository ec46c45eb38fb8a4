"""Large CSV imports: 100,000 rows with flat memory (peak RSS measured), and PostgreSQL."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlmodel import Session, func, select

from models.enrollment import Enrollment
from models.lead import Lead
from testkit.harness import Harnesses, template, write_files
from tests.support.processes import followup_env
from worker.engine.runtime import build_runtime
from worker.engine.settings import Settings
from worker.imports.csv_import import CsvSource, ImportOptions, import_rows

pytestmark = pytest.mark.integration

ROWS = 100_000
SMALL_ROWS = 2_000
MAX_RSS_GROWTH_MIB = 40  # 50x the rows may cost a few MiB (a digest per email), not 50x memory
SEQUENCE = """
name: mql
trigger: lead.mql
steps:
  - id: intro
    email: t/intro
"""
ZONES = ("America/New_York", "Europe/Madrid", "Asia/Tokyo", "")
# Start-up (imports) has its own peak; Linux lets the high-water mark be reset after it, so
# VmHWM is the peak while importing. Elsewhere ru_maxrss still bounds the whole process.
RUN_AND_MEASURE = """
import re, resource, sys
from worker.cli.app import run_cli
try:
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")
except OSError:
    pass
code = run_cli(sys.argv[1:])
try:
    with open("/proc/self/status") as status:
        peak = int(re.search(r"VmHWM:\\s+(\\d+) kB", status.read()).group(1))
except OSError:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print("MAXRSS_KIB", peak, file=sys.stderr)
sys.exit(code)
"""


def write_leads(path: Path, rows: int) -> None:
    """Realistic rows; every 1000th repeats an earlier email, every 5000th is bad."""
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write("email,first_name,last_name,company,owner,timezone,source,score\r\n")
        for i in range(rows):
            email = f"lead{i - 500 if i % 1000 == 999 else i}@example.com"
            if i % 5000 == 4999:
                email = f"broken-{i}"
            out.write(
                f"{email},First{i},Last{i},Company {i % 500},rep{i % 7}@acme.test,"
                f"{ZONES[i % 4]},webinar,{i % 100}\r\n"
            )


def import_in_subprocess(folder: Path, csv_path: Path) -> tuple[str, float, float]:
    """`followup leads import` in a fresh interpreter: (summary line, seconds, peak RSS MiB)."""
    env = followup_env(
        database_url=f"sqlite:///{folder / (csv_path.stem + '.db')}",
        redis_url="",
        smtp_url="",
        folder=folder,
    )
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", RUN_AND_MEASURE, "leads", "import", str(csv_path)],
        env=env,
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    seconds = time.monotonic() - started
    assert done.returncode == 0, done.stderr
    peak = re.search(r"MAXRSS_KIB (\d+)", done.stderr)
    assert peak is not None, done.stderr
    return done.stdout.strip(), seconds, int(peak.group(1)) / 1024


def test_a_100k_row_file_imports_with_flat_memory(tmp_path: Path, artifacts_dir: Path) -> None:
    """Given 100,000 rows, when imported, then every good row is in and peak RSS stays within
    a few MiB of a 2,000-row import: rows stream in chunks, nothing holds the file."""
    write_files(tmp_path / "sequences", {"mql.yaml": SEQUENCE})
    write_files(tmp_path / "templates", {"t/intro.j2": template("Intro")})
    small, large = tmp_path / "small.csv", tmp_path / "large.csv"
    write_leads(small, SMALL_ROWS)
    write_leads(large, ROWS)
    _, small_seconds, small_rss = import_in_subprocess(tmp_path, small)
    summary, seconds, rss = import_in_subprocess(tmp_path, large)
    bad = ROWS // 5000  # the bad rows sit on repeat positions, so they repeat nothing
    repeats = ROWS // 1000 - bad
    assert f"{ROWS} rows read; {ROWS - bad - repeats} created" in summary
    assert f"{repeats} duplicates merged, {bad} rejected" in summary
    rt = build_runtime(
        Settings(
            database_url=f"sqlite:///{tmp_path / 'large.db'}",
            sequences_dir=tmp_path / "sequences",
            templates_dir=tmp_path / "templates",
        )
    )
    with Session(rt.engine) as session:
        assert session.exec(select(func.count()).select_from(Lead)).one() == ROWS - bad - repeats
    rt.close()
    measured = {
        "rows": ROWS,
        "seconds": round(seconds, 1),
        "rows_per_second": round(ROWS / seconds),
        "peak_rss_mib": round(rss, 1),
        "small_rows": SMALL_ROWS,
        "small_seconds": round(small_seconds, 1),
        "small_peak_rss_mib": round(small_rss, 1),
        "file_mib": round(large.stat().st_size / 2**20, 1),
    }
    (artifacts_dir / "csv_import_100k.json").write_text(json.dumps(measured, indent=2) + "\n")
    assert rss - small_rss < MAX_RSS_GROWTH_MIB, measured


def test_imports_into_postgresql_enroll_once_and_upsert_by_email(
    make_harness: Harnesses, postgres_url: str
) -> None:
    """On PostgreSQL: bulk upserts, a sequence enrollment per lead, and a re-import that
    changes one lead and enrolls nobody again."""
    h = make_harness(
        sequences={"mql.yaml": SEQUENCE},
        templates={"t/intro.j2": template("Intro")},
        database_url=postgres_url,
    )
    rows = "".join(f"Lead{i}@Example.com,First{i},{ZONES[i % 4]}\n" for i in range(600))
    data = ("email,first_name,timezone\n" + rows).encode()
    first = import_rows(h.rt, CsvSource(io.BytesIO(data)), ImportOptions(sequence="mql"))
    changed = data.replace(b"Lead7@Example.com,First7", b"lead7@example.com,Seven")
    second = import_rows(h.rt, CsvSource(io.BytesIO(changed)), ImportOptions(sequence="mql"))
    with Session(h.rt.engine) as session:
        assert session.exec(select(func.count()).select_from(Enrollment)).one() == 600
        seven = session.exec(select(Lead).where(Lead.email == "lead7@example.com")).one()
    assert (first.created, first.enrolled) == (600, 600)
    assert (second.created, second.updated, second.unchanged, second.enrolled) == (0, 1, 599, 0)
    assert seven.first_name == "Seven"


def test_a_large_import_refreshes_postgresql_statistics_of_the_tables_it_grew(
    make_harness: Harnesses, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On PostgreSQL: an import that created and enrolled IMPORT_ANALYZE_ROWS leads analyzes the
    tables it grew (the planner then knows their size); a small one analyzes nothing."""
    from sqlalchemy import text

    from worker.imports import csv_import

    monkeypatch.setattr(csv_import, "IMPORT_ANALYZE_ROWS", 500)
    h = make_harness(
        sequences={"mql.yaml": SEQUENCE},
        templates={"t/intro.j2": template("Intro")},
        database_url=postgres_url,
    )

    def analyzed() -> dict[str, object]:
        with h.rt.engine.connect() as connection:
            rows = connection.execute(
                text(
                    "SELECT relname, last_analyze FROM pg_stat_user_tables "
                    "WHERE schemaname = current_schema()"
                )
            )
            return {name: at for name, at in rows if at is not None}

    few = "".join(f"few{i}@example.com,F{i},\n" for i in range(10)).encode()
    import_rows(
        h.rt,
        CsvSource(io.BytesIO(b"email,first_name,timezone\n" + few)),
        ImportOptions(sequence="mql"),
    )
    assert analyzed() == {}
    rows = "".join(f"lead{i}@example.com,First{i},{ZONES[i % 4]}\n" for i in range(600))
    data = ("email,first_name,timezone\n" + rows).encode()
    summary = import_rows(h.rt, CsvSource(io.BytesIO(data)), ImportOptions(sequence="mql"))
    assert (summary.created, summary.enrolled) == (600, 600)
    assert set(analyzed()) >= {"lead", "event", "enrollment", "touch", "compliance_entry"}
