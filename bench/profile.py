"""Where a running process spends its time: py-spy samples (collapsed stacks) boiled down to
the share of samples each function is on the stack for (inclusive) or on top of (self).

`python -m bench.profile send [SECONDS]`: a worker of the send bench's pipeline (SQLite),
sampled while it drains a backlog. `python -m bench.profile stacks FILE`: summarise a file
written by `py-spy record --format raw`.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

TOP = 25


def summarise(path: Path, *, top: int = TOP, prefix: str = "") -> str:
    """The functions most often on the stack (inclusive share) and on top (self share)."""
    inclusive: Counter[str] = Counter()
    on_top: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        samples = int(count)
        frames = [_frame(f) for f in stack.split(";")]
        total += samples
        on_top[frames[-1]] += samples
        for frame in set(frames):
            inclusive[frame] += samples
    if not total:
        return "no samples"
    lines = [f"{total} samples"]
    lines.append("inclusive (on the stack):")
    ours = [(f, n) for f, n in inclusive.most_common() if f.startswith(prefix)]
    lines += [f"  {n / total:6.1%}  {f}" for f, n in ours[:top]]
    lines.append("self (on top):")
    lines += [f"  {n / total:6.1%}  {f}" for f, n in on_top.most_common(top)]
    return "\n".join(lines)


def _frame(frame: str) -> str:
    """`function (path/to/file.py:line)` -> `file.py:function`, the site-packages path cut."""
    name, _, where = frame.partition(" (")
    where = where.rstrip(")").rsplit(":", 1)[0]
    for cut in ("site-packages/", "/work/", "python3.11/"):
        if cut in where:
            where = where.split(cut, 1)[1]
    return f"{where}:{name}"


def profile_send(seconds: float) -> None:
    from bench import bench_send
    from bench.workspace import OwnRedis, make_workspace, sqlite_url

    with tempfile.TemporaryDirectory(prefix="followup-profile-") as tmp, OwnRedis() as redis:
        folder = Path(tmp)
        space = make_workspace(folder, sqlite_url(folder))
        count = 3000
        bench_send.seed(space, count, latency=0)
        with bench_send.sink(folder) as (smtp_url, arrivals):
            env = {"FOLLOWUP_REDIS_URL": redis.url, "FOLLOWUP_SMTP_URL": smtp_url}
            with bench_send.processes(space, **env) as running:
                bench_send.set_due(space.database_url, "warm", datetime.now(UTC))
                bench_send.wait_for(arrivals, "warm", bench_send.WARM, timeout=120)
                bench_send.set_due(space.database_url, "thr", datetime.now(UTC))
                time.sleep(2)
                raw = folder / "worker.stacks"
                subprocess.run(
                    [str(Path(sys.executable).parent / "py-spy"), "record", "--format", "raw",
                     "--duration", str(int(seconds)), "--rate", "200", "--nonblocking",
                     "--output", str(raw), "--pid", str(running[1].pid)],
                    check=True, capture_output=True,
                )  # fmt: skip
                print(summarise(raw, prefix=""))


if __name__ == "__main__":
    if sys.argv[1:2] == ["stacks"]:
        print(summarise(Path(sys.argv[2])))
    else:
        profile_send(float(sys.argv[2]) if len(sys.argv) > 2 else 20)
