"""The lock files: fresh against pyproject.toml, used by every install path, and installed as
pinned (CI tests exactly what a user's `make demo` gets)."""

from __future__ import annotations

import importlib.util
import re
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement

REPOSITORY = Path(__file__).resolve().parents[2]
PIN = re.compile(r"^([A-Za-z0-9_.\-\[\],]+)==([^\s;\\]+)\s*(?:;\s*([^\\]+?))?\s*\\?$")


def _lock_module():
    spec = importlib.util.spec_from_file_location("lock", REPOSITORY / "requirements" / "lock.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def pins(lock: Path) -> dict[str, tuple[str, str | None]]:
    """name -> (version, marker) for every pinned line of a lock file."""
    found = {}
    for line in lock.read_text(encoding="utf-8").splitlines():
        match = PIN.match(line)
        if match:
            name = re.sub(r"\[.*\]", "", match[1]).lower().replace("_", "-")
            found[name] = (match[2], match[3])
    return found


def test_the_locks_match_pyproject_tomls_dependencies() -> None:
    """A dependency added to pyproject.toml without `make lock` fails here and in make."""
    assert _lock_module().stale_locks() == [], "run `make lock` and commit requirements/"


def test_the_staleness_check_notices_a_dependency_change(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Given the locks as committed, when pyproject.toml gains a dependency, then the check
    exits 1 with a banner naming `make lock`; ruff settings alone change nothing."""
    lock = _lock_module()
    pyproject = tmp_path / "pyproject.toml"
    text = (REPOSITORY / "pyproject.toml").read_text(encoding="utf-8")
    pyproject.write_text(text + "\n[tool.ruff.format]\nquote-style = 'double'\n", encoding="utf-8")
    monkeypatch.setattr(lock, "PYPROJECT", pyproject)
    assert lock.check() == 0
    pyproject.write_text(text.replace('"redis>=5",', '"redis>=5",\n    "imapclient>=3",'))
    assert lock.check() == 1
    assert "Run `make lock`" in capsys.readouterr().err


def test_every_pyproject_requirement_is_pinned_in_both_locks() -> None:
    """main.lock pins the runtime and build requirements; dev.lock those and the dev extra."""
    project = tomllib.loads((REPOSITORY / "pyproject.toml").read_text(encoding="utf-8"))
    runtime = [Requirement(r) for r in project["project"]["dependencies"]]
    build = [Requirement(r) for r in project["build-system"]["requires"]]
    dev = [Requirement(r) for r in project["project"]["optional-dependencies"]["dev"]]
    main, full = (
        pins(REPOSITORY / "requirements/main.lock"),
        pins(REPOSITORY / "requirements/dev.lock"),
    )
    for requirements, lock in ((runtime + build, main), (runtime + build + dev, full)):
        for requirement in requirements:
            name = requirement.name.lower().replace("_", "-")
            assert name in lock, f"{name} is not pinned"
            assert requirement.specifier.contains(lock[name][0], prereleases=True), requirement
    shared = set(main) & set(full)
    assert {n: main[n][0] for n in shared} == {n: full[n][0] for n in shared}


def test_this_environment_has_exactly_the_pinned_versions() -> None:
    """What the tests run on is what the lock says (no stray newer release slipped in)."""
    differing: dict[str, tuple[str, str | None]] = {}
    for name, (version, marker) in pins(REPOSITORY / "requirements/dev.lock").items():
        if marker and not Marker(marker).evaluate():
            continue
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            differing[name] = (version, None)
            continue
        if installed != version:
            differing[name] = (version, installed)
    assert differing == {}, "reinstall with `make clean test`"


@pytest.mark.parametrize(
    ("path", "needle"),
    [
        ("Makefile", "--require-hashes -r $(MAIN_LOCK)"),
        ("Makefile", "--require-hashes -r $(DEV_LOCK)"),
        ("Dockerfile", "--require-hashes -r requirements/main.lock"),
        (".ci/run", "make test"),
    ],
)
def test_every_install_path_installs_from_the_lock(path: str, needle: str) -> None:
    """make demo, make test (and so .ci/run) and the image all install the pinned set."""
    assert needle in (REPOSITORY / path).read_text(encoding="utf-8")


def test_build_in_covers_the_build_backend() -> None:
    """Installs run without build isolation, so the backend must come from the lock."""
    project = tomllib.loads((REPOSITORY / "pyproject.toml").read_text(encoding="utf-8"))
    build_in = (REPOSITORY / "requirements/build.in").read_text(encoding="utf-8")
    wanted = {Requirement(r).name for r in project["build-system"]["requires"]}
    listed = {
        Requirement(line.split("#")[0]).name
        for line in build_in.splitlines()
        if line.split("#")[0].strip()
    }
    assert wanted <= listed
