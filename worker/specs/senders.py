"""Who an email is from, and the `owner` a template signs with: never missing while one exists."""

from __future__ import annotations

import re
from email.utils import formataddr, parseaddr
from typing import Protocol

from worker.specs.team import OwnerSpec, TeamSpec

_NAME_SEPARATORS = re.compile(r"[._+-]+")
NO_SENDER = "no sender: the lead has no owner and FOLLOWUP_DEFAULT_FROM is unset"


class SendsFrom(Protocol):
    """The part of a sequence spec that decides its sender: `owner` or an explicit address."""

    @property
    def sender(self) -> str: ...


def fallback_sender(spec: SendsFrom, default_from: str | None) -> str | None:
    """The sender of a lead without an owner: the sequence's own `from`, else the default."""
    return spec.sender if spec.sender != "owner" else default_from


def sender_for(
    spec: SendsFrom, owner: str | None, *, team: TeamSpec, default_from: str | None
) -> str | None:
    """The From of an email to a lead with this owner; None when there is nobody to send as."""
    if spec.sender != "owner" or not owner:
        return fallback_sender(spec, default_from)
    profile = team.owner(owner)
    return formataddr((profile.name or "", owner)) if profile and profile.name else owner


def owner_context(profile: OwnerSpec | None, sender: str | None) -> dict[str, str]:
    """`owner` in a template: the lead's owner from team.yaml, else the sender actually used."""
    if profile is not None:
        return {"email": profile.email, "name": profile.name or name_from_address(profile.email)}
    name, address = parseaddr(sender or "")
    if not address:
        return {}
    return {"email": address.lower(), "name": name or name_from_address(address)}


def name_from_address(address: str) -> str:
    """`ana.rep@acme.test` -> `Ana Rep`: a signature for a mailbox nobody named."""
    local = address.partition("@")[0]
    return " ".join(part.capitalize() for part in _NAME_SEPARATORS.split(local) if part) or local


def lead_owner_context(
    spec: SendsFrom, owner: str | None, *, team: TeamSpec, default_from: str | None
) -> dict[str, str]:
    """The `owner` of a lead's templates in this sequence, as a send would see it."""
    sender = sender_for(spec, owner, team=team, default_from=default_from)
    return owner_context(team.owner(owner), sender)
