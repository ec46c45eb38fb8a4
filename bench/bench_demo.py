"""`followup demo` end to end, as a new user runs it (the shipped command from the repository
folder, a fresh demo folder), wall time against the 8 s target; the best of `RUNS`."""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from pathlib import Path

from bench.figures import Figure, Size, time_figure
from bench.workspace import followup_command

RUNS = {"small": 1, "full": 2}
ROOT = Path(__file__).resolve().parent.parent


def demo_seconds(folder: Path) -> float:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FOLLOWUP_")}
    started = time.perf_counter()
    done = subprocess.run(
        [*followup_command(), "demo", "--folder", str(folder)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"followup demo failed: {done.stdout}{done.stderr}")
    return elapsed


def figures(size: Size) -> list[Figure]:
    timings = []
    for run in range(RUNS[size]):
        with tempfile.TemporaryDirectory(prefix="followup-bench-") as tmp:
            timings.append(demo_seconds(Path(tmp) / f"demo{run}"))
    how = f"wall, best of {len(timings)} (each run: {', '.join(f'{t:.1f}' for t in timings)} s)"
    return [time_figure("embedded demo (`followup demo`)", min(timings), 8, how)]
