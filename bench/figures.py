"""A measured figure against its target, and bench/RESULTS.md: each run appends its table with
the machine's description and the date. Figures are ratios or times measured in one run."""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

RESULTS = Path(__file__).parent / "RESULTS.md"
Size = Literal["small", "full"]


@dataclass(frozen=True)
class Figure:
    """One row of the targets table: what was measured, against what, and whether it is met.

    `met` is None for figures that are only reported; `note` says how it was measured."""

    name: str
    value: str
    target: str
    met: bool | None
    note: str = ""

    def line(self) -> str:
        verdict = {True: "met", False: "MISSED", None: "reported"}[self.met]
        return f"| {self.name} | {self.value} | {self.target} | {verdict} | {self.note} |"


def ratio_figure(
    name: str, ours: float, limit: float, unit: str, at_least: float, note: str = ""
) -> Figure:
    """ours/limit against a minimum ratio, both rates shown."""
    ratio = ours / limit if limit else 0.0
    return Figure(
        name,
        f"{ratio:.2f} ({ours:,.0f} vs {limit:,.0f} {unit})",
        f">= {at_least}",
        ratio >= at_least,
        note,
    )


def time_figure(name: str, seconds: float, under: float, note: str = "") -> Figure:
    """A duration against its ceiling, in ms below a second."""
    shown = f"{seconds * 1000:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"
    limit = f"{under * 1000:.0f} ms" if under < 1 else f"{under:g} s"
    return Figure(name, shown, f"< {limit}", seconds < under, note)


def machine() -> str:
    """nproc, CPU model, load average: what the figures were measured on."""
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = ", ".join(f"{n:.2f}" for n in os.getloadavg())
    return (
        f"{os.cpu_count()} CPUs ({model}), load average {load}, "
        f"Python {platform.python_version()}, {platform.system()} {platform.release()}"
    )


def append_results(figures: list[Figure], *, size: Size, started: datetime, load: str) -> str:
    """Append this run's table to bench/RESULTS.md; returns the text appended."""
    ended = datetime.now(UTC)
    lines = [
        "",
        f"## {started:%Y-%m-%d %H:%M} UTC, `make bench size={size}`",
        "",
        f"Machine: {machine()}; load average at the start {load}. "
        f"Wall time {(ended - started).total_seconds():.0f} s. "
        "Shared cores, noisy: ratios are measured in the same run.",
        "",
        "| figure | measured | target | verdict | how |",
        "|---|---|---|---|---|",
        *(figure.line() for figure in figures),
        "",
    ]
    text = "\n".join(lines)
    if not RESULTS.exists():
        RESULTS.write_text("# Benchmark results (appended by `make bench`)\n")
    with RESULTS.open("a", encoding="utf-8") as handle:
        handle.write(text)
    return text
