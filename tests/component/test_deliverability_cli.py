"""The deliverability checks through the CLI: warnings exit 0, a bad DKIM key or variants
block exits 1 naming file:line, and no process starts on such a folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from testkit.harness import Harness, Harnesses, template, write_files
from tests.support.cli import Cli

KEYS = Path(__file__).resolve().parents[1] / "support" / "dkim"
RSA_KEY = KEYS / "rsa-test.key"
SEQUENCE = """
name: quick
trigger: lead.mql
steps:
  - id: hello
    email: t/hello
"""


@pytest.fixture
def h(make_harness: Harnesses) -> Harness:
    return make_harness(
        sequences={"quick.yaml": SEQUENCE}, templates={"t/hello.j2": template("Hello")}
    )


def test_a_signed_default_from_has_no_warning(
    cli: Cli, h: Harness, capsys: pytest.CaptureFixture[str]
) -> None:
    """With a key for acme.test the harness's FOLLOWUP_DEFAULT_FROM is signed: a clean check."""
    team = f"dkim:\n  - domain: acme.test\n    selector: s1\n    private_key_file: {RSA_KEY}\n"
    write_files(h.settings.sequences_dir, {"team.yaml": team})
    assert cli.on(h)("sequences", "check") == 0
    assert capsys.readouterr().err.strip() == ""


def test_a_key_that_does_not_parse_stops_check_and_every_process(
    cli: Cli, h: Harness, capsys: pytest.CaptureFixture[str]
) -> None:
    """Exit 1 with team.yaml:line; `followup status` (which builds a runtime) refuses too."""
    (h.settings.sequences_dir / "bad.key").write_text("-----BEGIN PRIVATE KEY-----\nnope\n")
    team = "dkim:\n  - domain: acme.test\n    selector: s1\n    private_key_file: bad.key\n"
    write_files(h.settings.sequences_dir, {"team.yaml": team})
    followup = cli.on(h)
    assert followup("sequences", "check") == 1
    err = capsys.readouterr().err
    where = f"{h.settings.sequences_dir / 'team.yaml'}:4"
    assert f"{where}: dkim.0.private_key_file: the key is neither" in err
    assert followup("status") == 1
    assert "nothing was started" in capsys.readouterr().err


def test_a_selector_that_is_not_a_dns_label_and_a_bad_weight_are_each_named(
    cli: Cli, h: Harness, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two mistakes in two files, both reported in one pass."""
    team = (
        "dkim:\n  - domain: acme.test\n    selector: my_selector\n"
        f"    private_key_file: {RSA_KEY}\n"
    )
    variants = SEQUENCE.replace(
        "    email: t/hello\n", "    variants:\n      - email: t/hello\n        weight: 0\n"
    )
    write_files(h.settings.sequences_dir, {"team.yaml": team, "quick.yaml": variants})
    assert cli.on(h)("sequences", "check") == 1
    err = capsys.readouterr().err
    assert (
        f"{h.settings.sequences_dir / 'team.yaml'}:3: dkim.0.selector: String should match" in err
    )
    assert f"{h.settings.sequences_dir / 'quick.yaml'}:7: steps.0.variants.0.weight:" in err
    assert "error: 2 problem(s)" in err


def test_dkim_records_prints_what_to_publish_and_it_verifies(
    cli: Cli, h: Harness, capsys: pytest.CaptureFixture[str]
) -> None:
    """The TXT record of each key, at <selector>._domainkey.<domain>; the RSA one carries the
    same public key openssl derives from the private key."""
    team = f"dkim:\n  - domain: acme.test\n    selector: s1\n    private_key_file: {RSA_KEY}\n"
    write_files(h.settings.sequences_dir, {"team.yaml": team})
    assert cli.on(h)("dkim", "records") == 0
    [line] = capsys.readouterr().out.splitlines()
    name, kind, record = line.split(" ", 2)
    assert (name, kind) == ("s1._domainkey.acme.test.", "TXT")
    public = (KEYS / "rsa-test.pub").read_text().split("-----")[2]
    assert record == f'"v=DKIM1; k=rsa; p={"".join(public.split())}"'
