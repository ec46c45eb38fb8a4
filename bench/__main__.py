"""`python -m bench [--size small|full] [--no-record] [NAME ...]`: the targets of issue 15.

Without names: every bench_*.py that measures targets (it has `figures(size)`), in the order
of the targets table; their figures are appended to bench/RESULTS.md with the machine's
description. Named benches without `figures` (mime, inbox) run their own main(). Names may be
comma-separated; `make bench only=report,claim size=small` passes them (env BENCH_ONLY,
BENCH_SIZE work too).
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import cast

from bench.figures import Figure, Size, append_results

TARGET_ORDER = ("send", "enrol", "events", "report", "claim", "demo")


def bench_modules() -> list[str]:
    """The bench scripts beside this file, in name order."""
    folder = str(Path(__file__).parent)
    return sorted(m.name for m in pkgutil.iter_modules([folder]) if m.name.startswith("bench_"))


def _wanted(names: list[str]) -> list[str]:
    wanted = [n.strip() for name in names for n in name.split(",") if n.strip()]
    return [n.removeprefix("bench_").removesuffix(".py") for n in wanted]


def _measured(name: str, measure: Callable[[Size], list[Figure]], size: Size) -> list[Figure]:
    """The bench's figures; one that fails is one row saying why, and the run goes on."""
    try:
        return measure(size)
    except Exception as exc:  # a bench that broke must not lose the others' figures
        traceback.print_exc()
        reason = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        return [Figure(name, "failed", "-", False, reason)]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", default=[os.environ.get("BENCH_ONLY", "")])
    parser.add_argument("--size", choices=("small", "full"), default=None)
    parser.add_argument("--no-record", action="store_true", help="do not append to RESULTS.md")
    args = parser.parse_args(argv)
    size = cast(Size, args.size or os.environ.get("BENCH_SIZE") or "full")
    have = [m.removeprefix("bench_") for m in bench_modules()]
    wanted = _wanted(args.names) or list(TARGET_ORDER)
    unknown = [n for n in wanted if n not in have]
    if unknown:
        print(f"no bench named {', '.join(unknown)} (have: {', '.join(have)})")
        return 2
    started, load = datetime.now(UTC), ", ".join(f"{n:.2f}" for n in os.getloadavg())
    figures: list[Figure] = []
    for name in wanted:
        print(f"== {name} ({size})", flush=True)
        began = time.perf_counter()
        module = importlib.import_module(f"bench.bench_{name}")
        if hasattr(module, "figures"):
            for figure in _measured(name, module.figures, size):
                print(f"   {figure.line()}", flush=True)
                figures.append(figure)
        else:
            sys.argv = [name]  # each script reads its own optional arguments; give it none
            module.main()
        print(f"== {name} done in {time.perf_counter() - began:.1f}s\n", flush=True)
    if figures and not args.no_record:
        print(append_results(figures, size=size, started=started, load=load))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
