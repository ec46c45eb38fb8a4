"""The access log without the secrets that travel in URLs: query strings (dashboard link
tokens) and unsubscribe tokens (which also carry the recipient's address) never reach it."""

from __future__ import annotations

import logging

ACCESS_LOGGER = "uvicorn.access"
_TOKEN_IN_PATH = ("/unsubscribe/",)
_PATH_ARG = 2  # uvicorn logs (client, method, path with query, http version, status)


def redact_path(path: str) -> str:
    """`/compliance?token=...` -> `/compliance`; `/unsubscribe/<token>` -> `/unsubscribe/...`."""
    path = path.partition("?")[0]
    for prefix in _TOKEN_IN_PATH:
        if path.startswith(prefix) and len(path) > len(prefix):
            return prefix + "..."
    return path


class RedactPaths(logging.Filter):
    """Rewrites the path argument of uvicorn's access lines before any handler formats them."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        path = args[_PATH_ARG] if isinstance(args, tuple) and len(args) > _PATH_ARG else None
        if isinstance(args, tuple) and isinstance(path, str):
            record.args = (*args[:_PATH_ARG], redact_path(path), *args[_PATH_ARG + 1 :])
        return True


def install_redaction() -> None:
    """Once per process, after uvicorn configured its loggers (its Config does so)."""
    logger = logging.getLogger(ACCESS_LOGGER)
    if not any(isinstance(f, RedactPaths) for f in logger.filters):
        logger.addFilter(RedactPaths())
