"""`dkim:` in team.yaml: per sending domain a selector and its private key (from a file or an
environment variable), loaded and checked once when the folder is read."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, PrivateAttr, ValidationError, ValidationInfo, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from worker.mail.dkim import DkimKey, parse_private_key
from worker.specs.sequences import Strict

_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
SELECTOR = rf"^{_LABEL}(?:\.{_LABEL})*$"  # DNS labels (RFC 6376 3.1: a sub-domain)
DOMAIN = rf"^(?:{_LABEL}\.)+[A-Za-z]{{2,63}}$"
ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"


class DkimSpec(Strict):
    domain: str = Field(pattern=DOMAIN, max_length=253)
    selector: str = Field(pattern=SELECTOR, max_length=253)
    private_key_file: str | None = Field(default=None, min_length=1)  # beside team.yaml if relative
    private_key_env: str | None = Field(default=None, pattern=ENV_NAME)
    _key: DkimKey | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _load_key(self, info: ValidationInfo) -> DkimSpec:
        """Exactly one key source; the key is read and parsed here, so a bad one is a file:line
        error and nothing starts."""
        if (self.private_key_file is None) == (self.private_key_env is None):
            raise ValueError(f"dkim {self.domain}: give one of private_key_file or private_key_env")
        context: dict[str, Any] = info.context or {}
        where, text = self._key_text(context)
        try:
            algorithm, key = parse_private_key(text)
        except ValueError as exc:
            raise _at(where, f"{where}: {exc}") from None
        self._key = DkimKey(self.domain.lower(), self.selector, algorithm, key)
        return self

    def _key_text(self, context: dict[str, Any]) -> tuple[str, bytes]:
        if self.private_key_env is not None:
            value = (context.get("environ") or {}).get(self.private_key_env)
            if not value:
                raise _at(
                    "private_key_env", f"environment variable {self.private_key_env} is unset"
                )
            return "private_key_env", value.encode()
        assert self.private_key_file is not None
        path = Path(self.private_key_file).expanduser()
        if not path.is_absolute():
            path = Path(context.get("folder") or ".") / path
        try:
            return "private_key_file", path.read_bytes()
        except OSError as exc:
            raise _at("private_key_file", f"cannot read {path}: {exc.strerror}") from None

    @property
    def key(self) -> DkimKey:
        assert self._key is not None, "validated with its key"
        return self._key


def _at(field: str, message: str) -> ValidationError:
    """An error placed at one of the entry's keys, so file:line points at it."""
    return ValidationError.from_exception_data(
        "dkim",
        [InitErrorDetails(type=PydanticCustomError("dkim_key", message), loc=(field,), input=None)],
    )


def check_unique(entries: list[DkimSpec]) -> list[DkimSpec]:
    """A domain may have several selectors (RSA beside Ed25519), never one selector twice."""
    seen: set[tuple[str, str]] = set()
    for entry in entries:
        pair = (entry.domain.lower(), entry.selector.lower())
        if pair in seen:
            raise ValueError(f"dkim: selector {entry.selector} of {entry.domain} is listed twice")
        seen.add(pair)
    return entries
