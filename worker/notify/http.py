"""Outbound HTTP for webhooks and Slack: one POST, hard timeouts, no redirects, secrets unsaid."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from worker.engine.tunables import WEBHOOK_TIMEOUT_SECONDS

USER_AGENT = "followup-webhooks/1"


@dataclass(frozen=True)
class Posted:
    status: int | None
    error: str | None  # one line; None when the receiver answered 2xx
    final: bool = False  # not worth retrying (410 Gone, the webhook was removed)

    @property
    def ok(self) -> bool:
        return self.error is None


class Poster:
    """A pooled client shared by the notifier's threads (httpx clients are thread-safe)."""

    def __init__(self, timeout: float = WEBHOOK_TIMEOUT_SECONDS) -> None:
        self.timeout = timeout
        self._client = httpx.Client(
            timeout=httpx.Timeout(timeout),
            follow_redirects=False,
            headers={"User-Agent": USER_AGENT},
        )

    def post(self, url: str, body: bytes, headers: dict[str, str]) -> Posted:
        """POST `body`; the answer's status decides, its body is never read."""
        try:
            with self._client.stream("POST", url, content=body, headers=headers) as response:
                status = response.status_code
        except httpx.TimeoutException:
            return Posted(None, f"no answer within {self.timeout:g}s")
        except httpx.HTTPError as exc:  # connection refused, reset, bad TLS, ...
            reason = str(exc).replace(url, "<url>").splitlines()[0] if str(exc) else ""
            return Posted(None, f"{type(exc).__name__}: {reason}"[:300])
        if 200 <= status < 300:
            return Posted(status, None)
        hint = " (redirects are not followed)" if 300 <= status < 400 else ""
        return Posted(status, f"HTTP {status}{hint}", final=status == 410)

    def close(self) -> None:
        self._client.close()
