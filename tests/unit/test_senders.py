"""Who an email is from, and the `owner` its template signs with (SPEC section 6)."""

from __future__ import annotations

import pytest

from worker.specs.sending import lead_owner_context, owner_context, sender_for
from worker.specs.team import OwnerSpec, TeamSpec

TEAM = TeamSpec(
    owners=[OwnerSpec(email="ana.rep@acme.test", name="Ana Rep")], sending_domains=["acme.test"]
)
DEFAULT_FROM = "Acme Sales <sales@acme.test>"


class Spec:
    def __init__(self, sender: str = "owner") -> None:
        self.sender = sender


@pytest.mark.parametrize(
    ("sequence_from", "owner", "default_from", "expected"),
    [
        ("owner", "ana.rep@acme.test", DEFAULT_FROM, "Ana Rep <ana.rep@acme.test>"),
        ("owner", "ben@acme.test", DEFAULT_FROM, "ben@acme.test"),  # in sending_domains
        ("owner", "eve@elsewhere.test", DEFAULT_FROM, DEFAULT_FROM),  # not allowed: the default
        ("owner", None, DEFAULT_FROM, DEFAULT_FROM),
        ("owner", None, None, None),
        ("Events <events@acme.test>", "ana.rep@acme.test", None, "Events <events@acme.test>"),
    ],
)
def test_the_sender_is_the_owner_else_the_sequence_from_else_the_default(
    sequence_from: str, owner: str | None, default_from: str | None, expected: str | None
) -> None:
    """SPEC section 5's `from`: the owner's mailbox if team.yaml allows it, else
    FOLLOWUP_DEFAULT_FROM; or the sequence's explicit `from:`."""
    assert sender_for(Spec(sequence_from), owner, team=TEAM, default_from=default_from) == expected


def test_owner_is_the_team_owner_of_the_lead() -> None:
    """The owner listed in team.yaml signs, whatever the sequence sends from."""
    spec = Spec("Events <events@acme.test>")
    assert lead_owner_context(spec, "ana.rep@acme.test", team=TEAM, default_from=None) == {
        "email": "ana.rep@acme.test",
        "name": "Ana Rep",
    }


def test_a_lead_without_an_owner_is_signed_by_the_sender_actually_used() -> None:
    """FOLLOWUP_DEFAULT_FROM's address and display name, or the sequence's explicit `from`."""
    assert lead_owner_context(Spec(), None, team=TEAM, default_from=DEFAULT_FROM) == {
        "email": "sales@acme.test",
        "name": "Acme Sales",
    }
    assert lead_owner_context(
        Spec("Events <Events@Acme.test>"), None, team=TEAM, default_from=DEFAULT_FROM
    ) == {"email": "events@acme.test", "name": "Events"}


def test_a_mailbox_nobody_named_gets_a_name_from_its_address() -> None:
    """Without a display name or a team.yaml profile, `owner.name` is derived, never missing."""
    assert owner_context(None, "ben.okafor@acme.test") == {
        "email": "ben.okafor@acme.test",
        "name": "Ben Okafor",
    }
    assert owner_context(OwnerSpec(email="cy_rep@acme.test"), None)["name"] == "Cy Rep"


def test_an_owner_who_may_not_send_is_replaced_by_the_sender_used_in_the_signature() -> None:
    """An unlisted owner is not the From (issue 13), so neither do they sign: the default does."""
    assert lead_owner_context(
        Spec(), "eve@elsewhere.test", team=TEAM, default_from=DEFAULT_FROM
    ) == {"email": "sales@acme.test", "name": "Acme Sales"}


def test_without_any_sender_owner_is_empty() -> None:
    """No owner and no default sender: nothing to sign with (sequences check warns of it)."""
    assert lead_owner_context(Spec(), None, team=TEAM, default_from=None) == {}
