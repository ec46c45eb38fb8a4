"""`python -m bench [NAME ...]`: run every bench_*.py module's main(), or only those named."""

from __future__ import annotations

import importlib
import pkgutil
import sys
import time
from pathlib import Path


def bench_modules() -> list[str]:
    """The bench scripts beside this file, in name order."""
    folder = str(Path(__file__).parent)
    return sorted(m.name for m in pkgutil.iter_modules([folder]) if m.name.startswith("bench_"))


def main(argv: list[str]) -> int:
    wanted = {name.removeprefix("bench_").removesuffix(".py") for name in argv}
    names = [n for n in bench_modules() if not wanted or n.removeprefix("bench_") in wanted]
    if wanted and not names:
        print(f"no bench named {', '.join(sorted(wanted))} (have: {', '.join(bench_modules())})")
        return 2
    for name in names:
        print(f"== {name}", flush=True)
        started = time.perf_counter()
        sys.argv = [name]  # each script reads its own optional arguments; give it none
        importlib.import_module(f"bench.{name}").main()
        print(f"== {name} done in {time.perf_counter() - started:.1f}s\n", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
