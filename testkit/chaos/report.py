"""Where the checker's lines go: stdout, and test-artifacts/chaos/<scenario>.txt (the figures
docs/reliability.md quotes); tests/chaos/conftest.py repeats them in pytest's summary."""

from __future__ import annotations

import os
import random
from dataclasses import dataclass
from pathlib import Path

from testkit.chaos.checker import Verdict

FULL_ENV = "FOLLOWUP_CHAOS"  # "full": the `make chaos` sizes, on PostgreSQL
SEED_ENV = "FOLLOWUP_CHAOS_SEED"  # replay a run: the seed its line printed
LINES: list[str] = []


@dataclass(frozen=True)
class Tier:
    """Quick (inside `make test`) or full (`make chaos`): sizes pick one of two values."""

    full: bool
    seed: int

    def pick(self, quick: int, full: int) -> int:
        return full if self.full else quick

    @property
    def name(self) -> str:
        return "full" if self.full else "quick"

    @classmethod
    def from_env(cls) -> Tier:
        raw = os.environ.get(SEED_ENV, "").strip()
        seed = int(raw) if raw.isdigit() else random.SystemRandom().randrange(1, 10**6)
        return cls(full=os.environ.get(FULL_ENV, "").strip().lower() == "full", seed=seed)


def publish(verdict: Verdict, tier: Tier, folder: Path) -> str:
    """Print the verdict's line (tagged with the tier) and keep it for the summary and docs."""
    line = f"{verdict.line()} tier={tier.name}"
    LINES.append(line)
    target = folder / "chaos"
    target.mkdir(parents=True, exist_ok=True)
    (target / f"{verdict.scenario}-{tier.name}.txt").write_text(line + "\n")
    print(line)
    return line
