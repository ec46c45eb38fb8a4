"""The container healthcheck: `python -m worker.engine.probe [URL]` exits 0 when /readyz says ok.

Without a URL it asks this container's own server: FOLLOWUP_METRICS_PORT (worker, scheduler),
else the API's default port 8000. Standard library only, so the image needs no curl.
"""

from __future__ import annotations

import sys
import urllib.error
import urllib.request

from worker.engine.settings import ConfigError, Settings
from worker.engine.tunables import PROBE_TIMEOUT_SECONDS


def default_url() -> str:
    try:
        port = Settings.load().metrics_port or 8000
    except ConfigError:
        port = 8000
    return f"http://127.0.0.1:{port}/readyz"


def probe(url: str) -> tuple[bool, str]:
    """(ready, what the server said) for one GET of `url`."""
    try:
        with urllib.request.urlopen(url, timeout=PROBE_TIMEOUT_SECONDS) as response:
            return response.status == 200, f"{response.status} {response.read(200).decode()}"
    except urllib.error.HTTPError as exc:
        return False, f"{exc.code} {exc.read(200).decode(errors='replace')}"
    except (OSError, ValueError) as exc:
        return False, f"no answer from {url}: {exc}"


def main(argv: list[str]) -> int:
    url = argv[0] if argv else default_url()
    ready, said = probe(url)
    print(said, file=sys.stdout if ready else sys.stderr)
    return 0 if ready else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
