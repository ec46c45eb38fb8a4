"""The classifier on real-world-shaped messages (Outlook, Gmail, Postfix, Exim, Exchange, ARF,
several languages): each file's outcome, lead and return date; the accuracy is printed."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import pytest
import yaml

from tests.support.inbox import CORPUS, drop, inbox_harness, mail_leads
from worker.inbox.maildir_source import MaildirSource
from worker.inbox.return_dates import return_date
from worker.inbox.watcher import Seen, poll

EXPECTED: dict[str, dict] = yaml.safe_load((CORPUS / "expected.yaml").read_text())
RESULTS: dict[str, bool] = {}  # file -> classified right; summed up by tests/conftest.py


@pytest.fixture(scope="module")
def decisions(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Seen]]:
    """Every corpus file delivered into one inbox and read by one poll."""
    h = inbox_harness(tmp_path_factory.mktemp("corpus"))
    leads = sorted({case["lead"] for case in EXPECTED.values() if case.get("lead")})
    mail_leads(h, leads)
    for name in sorted(EXPECTED):
        drop(h, name, (CORPUS / name).read_bytes())
    try:
        yield {item.uid: item for item in poll(h.rt, MaildirSource(h.settings.inbox_dir))}
    finally:
        h.close()


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_corpus_message_gets_its_expected_outcome(name: str, decisions: dict[str, Seen]) -> None:
    """Outcome and lead as listed in tests/corpus/inbox/expected.yaml."""
    expected = EXPECTED[name]
    decision = decisions[name].decision
    RESULTS[name] = False
    assert str(decision.outcome) == expected["outcome"], decision.rule
    assert decision.lead_email == expected.get("lead"), decision.rule
    RESULTS[name] = True


@pytest.mark.parametrize("name", sorted(n for n, case in EXPECTED.items() if "back" in case))
def test_out_of_office_return_date_is_read_from_the_text(
    name: str, decisions: dict[str, Seen]
) -> None:
    """The hold ends on the day the text says the lead is back."""
    hold = decisions[name].decision.hold_until
    assert hold is not None
    assert abs((hold.date() - EXPECTED[name]["back"]).days) <= 1  # the start of that day, local
    assert f"back on {EXPECTED[name]['back'].isoformat()}" in decisions[name].decision.rule


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("I am back on December 14th, 2026.", date(2026, 12, 14)),
        ("Ich bin bis zum 14.12.2026 nicht im Büro", date(2026, 12, 14)),
        ("de retour le 15 décembre", date(2026, 12, 15)),
        ("hasta el 11 de diciembre de 2026", date(2026, 12, 11)),
        ("back 12/14", date(2026, 12, 14)),
        ("from 2 December until 2026-12-18", date(2026, 12, 18)),
        ("I will be back in three days", None),
        ("back on 14 December 2031", None),  # more than 90 days ahead: the default pause
        ("10 out of 10 customers", None),
    ],
)
def test_return_dates_in_several_languages_and_forms(text: str, expected: date | None) -> None:
    """Dates are read in the common forms; implausible ones are refused."""
    assert return_date(text, received=date(2026, 11, 30)) == expected
