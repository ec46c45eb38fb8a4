"""`sequences check` warnings for what hurts deliverability: no text part, an HTML part without
the unsubscribe link, a subject over 100 characters, URL shorteners, an unsigned From domain.
Each names file:line, and none stops the folder from loading."""

from __future__ import annotations

from pathlib import Path

from testkit.harness import write_files
from worker.specs.catalog import Catalog, load_catalog
from worker.specs.rendering import Renderer

KEYS = Path(__file__).resolve().parents[1] / "support" / "dkim"
CLEAN = """{% block subject %}Hello {{ lead.first_name }}{% endblock %}
{% block text %}Hi. See https://acme.test/pricing {{ unsubscribe_url }}{% endblock %}
{% block html %}<p>Hi.</p><a href="{{ unsubscribe_url }}">unsubscribe</a>{% endblock %}"""
SEQUENCE = """name: s
trigger: lead.mql
from: "Sales <sales@acme.test>"
steps:
  - id: intro
    email: t/intro
"""
ED_KEY = KEYS / "ed25519-test.key"
SIGNED = f"dkim:\n  - domain: acme.test\n    selector: s1\n    private_key_file: {ED_KEY}\n"


def warnings(
    tmp_path: Path, intro: str, *, sequence: str = SEQUENCE, team: str = SIGNED
) -> list[tuple[str, int | None, str]]:
    catalog = load(tmp_path, intro, sequence=sequence, team=team)
    return [(w.path.name, w.line, w.problem) for w in catalog.warnings]


def load(tmp_path: Path, intro: str, *, sequence: str, team: str) -> Catalog:
    write_files(tmp_path / "sequences", {"s.yaml": sequence, "team.yaml": team})
    write_files(tmp_path / "templates", {"t/intro.j2": intro, "t/other.j2": CLEAN})
    return load_catalog(tmp_path / "sequences", Renderer(tmp_path / "templates"))


def test_a_clean_template_from_a_signed_domain_has_no_warning(tmp_path: Path) -> None:
    """The control case: text and HTML, an unsubscribe link, a short subject, real links."""
    assert warnings(tmp_path, CLEAN) == []


def test_an_empty_text_part_is_a_warning_at_the_email_line(tmp_path: Path) -> None:
    """HTML alone looks like bulk mail to filters."""
    html_only = CLEAN.replace("Hi. See https://acme.test/pricing {{ unsubscribe_url }}", "")
    [(name, line, problem)] = warnings(tmp_path, html_only)
    assert (name, line) == ("s.yaml", 6) and "t/intro.j2: no text part" in problem


def test_an_html_part_without_the_unsubscribe_link_is_a_warning(tmp_path: Path) -> None:
    """RFC 8058's header is there, but people look for the link in the body."""
    no_link = CLEAN.replace('<a href="{{ unsubscribe_url }}">unsubscribe</a>', "")
    [(_, line, problem)] = warnings(tmp_path, no_link)
    assert line == 6 and "the HTML part has no unsubscribe link" in problem


def test_a_subject_over_100_characters_is_a_warning(tmp_path: Path) -> None:
    """Rendered on the sample lead: 101 characters is one too many."""
    long = CLEAN.replace("Hello {{ lead.first_name }}", "x" * 101)
    [(_, line, problem)] = warnings(tmp_path, long)
    assert line == 6 and "the subject has 101 characters (keep it under 100)" in problem
    assert warnings(tmp_path, CLEAN.replace("Hello {{ lead.first_name }}", "x" * 100)) == []


def test_links_through_url_shorteners_are_a_warning_naming_them(tmp_path: Path) -> None:
    """bit.ly in the text and www.tinyurl.com in the HTML: both named, once."""
    shortened = CLEAN.replace(
        "https://acme.test/pricing", "https://bit.ly/x1 http://BIT.ly/y"
    ).replace("<p>Hi.</p>", '<p><a href="https://www.tinyurl.com/abc">Hi</a></p>')
    [(_, line, problem)] = warnings(tmp_path, shortened)
    assert line == 6 and "(bit.ly, tinyurl.com) are a spam signal" in problem


def test_a_from_domain_without_a_dkim_key_is_a_warning_at_the_from_line(tmp_path: Path) -> None:
    """Gmail and Yahoo want authenticated mail; a subdomain signed by its parent's key is fine."""
    [(name, line, problem)] = warnings(tmp_path, CLEAN, team="owners: []\n")
    assert (name, line) == ("s.yaml", 3)
    assert "mail from acme.test is not DKIM-signed: add a dkim: entry" in problem
    sub = SEQUENCE.replace("sales@acme.test", "sales@eu.acme.test")
    assert warnings(tmp_path, CLEAN, sequence=sub) == []


def test_owners_domains_are_checked_once_each_when_a_sequence_sends_from_owner(
    tmp_path: Path,
) -> None:
    """`from: owner`: each unsigned owner domain once, at the first owner's email line."""
    team = (
        SIGNED
        + "owners:\n  - email: a@acme.test\n  - email: b@other.test\n  - email: c@other.test\n"
    )
    found = warnings(
        tmp_path, CLEAN, sequence=SEQUENCE.replace('"Sales <sales@acme.test>"', "owner"), team=team
    )
    assert [(n, line) for n, line, _ in found] == [("team.yaml", 7)]
    assert "mail from other.test is not DKIM-signed" in found[0][2]


def test_each_variant_template_is_checked_at_its_own_line(tmp_path: Path) -> None:
    """A variant with a shortener is flagged at that variant's email line."""
    sequence = SEQUENCE.replace(
        "    email: t/intro\n", "    variants:\n      - email: t/other\n      - email: t/intro\n"
    )
    shortened = CLEAN.replace("https://acme.test/pricing", "https://t.co/zz")
    [(_, line, problem)] = warnings(tmp_path, shortened, sequence=sequence)
    assert line == 8 and "t/intro.j2: links through a URL shortener (t.co)" in problem
