"""The lock files: every dependency pinned with its hashes, so a clone installs what CI tested.

`python requirements/lock.py check` fails loudly when pyproject.toml's dependencies (or
build.in) changed since the locks were written; `refresh [--upgrade]` rewrites them with uv
(`make lock`, `make lock-upgrade`). Standard library only: it runs before any venv exists.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tomllib
from pathlib import Path

FOLDER = Path(__file__).resolve().parent
PYPROJECT = FOLDER.parent / "pyproject.toml"
BUILD_IN = FOLDER / "build.in"
MAIN_LOCK = FOLDER / "main.lock"  # make demo, the Dockerfile
DEV_LOCK = FOLDER / "dev.lock"  # make test, CI: main's pins plus the dev extra
PYTHON_VERSION = "3.11"  # the oldest Python followup supports: the universal lock starts there
DIGEST_LINE = "# inputs-sha256: "


def inputs_digest() -> str:
    """A hash of what the locks are made from: dependency lists only, not ruff or mypy settings."""
    project = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))
    inputs = {
        "dependencies": project["project"].get("dependencies", []),
        "optional-dependencies": project["project"].get("optional-dependencies", {}),
        "requires-python": project["project"].get("requires-python"),
        "build-system": project.get("build-system", {}).get("requires", []),
        "build.in": BUILD_IN.read_text(encoding="utf-8"),
    }
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()


def recorded_digest(lock: Path) -> str | None:
    if not lock.is_file():
        return None
    for line in lock.read_text(encoding="utf-8").splitlines():
        if line.startswith(DIGEST_LINE):
            return line.removeprefix(DIGEST_LINE).strip()
    return None


def stale_locks() -> list[str]:
    digest = inputs_digest()
    return [lock.name for lock in (MAIN_LOCK, DEV_LOCK) if recorded_digest(lock) != digest]


def check() -> int:
    stale = stale_locks()
    if not stale:
        return 0
    bar = "=" * 78
    print(
        f"{bar}\nerror: requirements/{' and requirements/'.join(stale)} do not match "
        "pyproject.toml's dependencies:\nthey changed without the lock being refreshed. "
        f"Run `make lock` and commit requirements/.\n{bar}",
        file=sys.stderr,
    )
    return 1


def _compile(uv: str, output: Path, *args: str, upgrade: bool) -> None:
    command = [
        uv, "pip", "compile", str(PYPROJECT), str(BUILD_IN), *args,
        "--universal", "--python-version", PYTHON_VERSION, "--generate-hashes",
        "--no-header", "--quiet", "-o", str(output),
    ]  # fmt: skip
    if upgrade:
        command.append("--upgrade")
    subprocess.run(command, check=True, cwd=FOLDER.parent)
    header = (
        "# followup's pinned dependencies, written by `make lock` from pyproject.toml and\n"
        "# requirements/build.in; do not edit by hand.\n"
        f"{DIGEST_LINE}{inputs_digest()}\n"
    )
    body = output.read_text(encoding="utf-8").replace(str(FOLDER.parent) + "/", "")
    output.write_text(header + body, encoding="utf-8")


def refresh(uv: str, *, upgrade: bool) -> int:
    """Main first; dev is main's pins (as constraints) plus the dev extra, so both agree."""
    _compile(uv, MAIN_LOCK, upgrade=upgrade)
    _compile(uv, DEV_LOCK, "--extra", "dev", "--constraint", str(MAIN_LOCK), upgrade=upgrade)
    print(f"requirements/{MAIN_LOCK.name} and requirements/{DEV_LOCK.name} written")
    return 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="requirements/lock.py")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("check", help="exit 1 when the locks are older than pyproject.toml")
    fresh = commands.add_parser("refresh", help="rewrite the locks with uv")
    fresh.add_argument("--uv", default="uv", help="the uv executable")
    fresh.add_argument("--upgrade", action="store_true", help="newest allowed versions")
    args = parser.parse_args(argv)
    if args.command == "check":
        return check()
    return refresh(args.uv, upgrade=args.upgrade)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
