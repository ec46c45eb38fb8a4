"""The dashboard page in a real headless Chromium: it renders, shows every owner, logs nothing."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import uvicorn

from testkit.harness import TEST_SECRET, Harness, Harnesses
from testkit.ports import free_port
from tests.support.services import missing
from tests.support.three_owners import FILES, TEMPLATES, play_three_owners
from worker.api.app import create_app
from worker.compliance.dashboard_link import create_link
from worker.engine.db import transaction

pytestmark = pytest.mark.integration

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--enable-logging=stderr",
    "--v=0",
)
CONSOLE_LINE = re.compile(r':CONSOLE[:(]\d+\)?\] "(.*)", source: ')
OWNERS = {"ana@acme.test": "Ana Diligent", "ben@acme.test": "Ben Busy", "cy@acme.test": "Cy Mixed"}


def _install_chromium() -> None:
    """Debian's chromium package, for the tier that needs it (root only)."""
    apt = ["apt-get", "-o", "DPkg::Lock::Timeout=600"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in ([*apt, "update", "-qq"], [*apt, "install", "-y", "-qq", "chromium"]):
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=1200)
        if done.returncode != 0:
            missing(f"`{' '.join(command)}` failed: {done.stderr.strip()[-300:]}")


@pytest.fixture(scope="module")
def chromium() -> str:
    if not Path(CHROMIUM).exists():
        if os.geteuid() != 0 or shutil.which("apt-get") is None:
            missing(f"{CHROMIUM} is missing and cannot be installed here (needs root and apt-get)")
        _install_chromium()
    return CHROMIUM


def run_chromium(
    binary: str, profile: Path, url: str, *mode: str
) -> subprocess.CompletedProcess[str]:
    """One headless run with a throw-away profile; its stderr carries the page's console."""
    command = [binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *mode, url]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=True)


def console_messages(stderr: str) -> list[str]:
    """Every console message the page produced (errors, CSP violations, failed loads, logs)."""
    return [match.group(1) for match in CONSOLE_LINE.finditer(stderr)]


@contextmanager
def serving(h: Harness) -> Iterator[str]:
    """The followup API of the harness on a free port, in a thread, for the length of a test."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(h.rt), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:  # waiting for a socket to listen, not for a schedule
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the API server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=20)


@pytest.fixture(scope="module")
def page_url(make_shared_harness: Harnesses) -> Iterator[str]:
    """The three-owner story served by the API; the URL is a signed read-only link."""
    h = make_shared_harness(sequences=FILES, templates=TEMPLATES)
    play_three_owners(h)
    with serving(h) as base_url:
        with transaction(h.rt.engine) as session:
            _, url = create_link(
                session, keys=(TEST_SECRET,), base_url=base_url, now=h.clock.now(), days=1
            )
        yield url


def test_dashboard_renders_without_console_errors_and_is_saved_as_a_screenshot(
    chromium: str, page_url: str, tmp_path: Path, artifacts_dir: Path
) -> None:
    """Given the served dashboard, when Chromium screenshots it, then nothing is logged."""
    screenshot = artifacts_dir / "compliance-dashboard.png"
    screenshot.unlink(missing_ok=True)
    run = run_chromium(
        chromium,
        tmp_path / "profile",
        page_url,
        f"--screenshot={screenshot}",
        "--window-size=1280,2200",
    )
    assert console_messages(run.stderr) == []
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert screenshot.stat().st_size > 20_000  # a real page, not a blank one


def test_dashboard_shows_each_owner_their_strikes_and_breached_leads(
    chromium: str, page_url: str, tmp_path: Path
) -> None:
    """Given the served dashboard, when Chromium renders the DOM, then every owner is on it."""
    dom = run_chromium(chromium, tmp_path / "profile", page_url, "--dump-dom").stdout
    for email, name in OWNERS.items():
        assert email in dom and name in dom
    strikes = dom.split('id="strikes"')[1].split("</section>")[0]
    assert "Ben Busy" in strikes and "Ana Diligent" not in strikes
    assert all(f"{lead}@example.com" in strikes for lead in ("b1", "b2", "b3", "b4"))
    assert "<svg" in dom and "polyline" in dom


def test_console_check_catches_a_page_that_logs_an_error(chromium: str, tmp_path: Path) -> None:
    """Given a page with a script error, then the console check sees it (the check can fail)."""
    page = tmp_path / "broken.html"
    page.write_text(
        '<!DOCTYPE html><link rel="icon" href="data:,">'
        "<script>console.error('boom'); missingFunction();</script>",
        encoding="utf-8",
    )
    run = run_chromium(chromium, tmp_path / "profile", page.as_uri(), "--dump-dom")
    messages = console_messages(run.stderr)
    assert "boom" in messages
    assert any("missingFunction" in m for m in messages)
