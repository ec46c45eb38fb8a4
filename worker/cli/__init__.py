"""The command line: `followup --help` lists everything (SPEC section 9)."""

from __future__ import annotations

import sys

from worker.cli.app import app, run_cli

__all__ = ["app", "main"]


def main() -> None:
    sys.exit(run_cli(sys.argv[1:]))
