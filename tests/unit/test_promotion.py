"""`sequences promote` rewrites only the promoted step's variants, keeping the rest of the file
(comments included), and the result still validates with the winner as the only variant."""

from __future__ import annotations

from pathlib import Path

import pytest

from worker.specs.promotion import PromotionError, promote_text
from worker.specs.sequences import parse_sequence
from worker.specs.variants import VariantSpec
from worker.specs.yaml_source import load_yaml

BLOCK = """# the MQL follow-up, A/B on the intro
name: s
trigger: lead.mql
steps:
  - id: intro
    variants:   # testing two openers
      - email: t/short
        weight: 2
      - email: t/long
        id: long
    wait: 0s
  - id: bump       # keep this comment
    variants: [{email: t/a}, {email: t/b, weight: 3}]
    wait: 2d
"""


def parsed(tmp_path: Path, text: str):
    path = tmp_path / "s.yaml"
    path.write_text(text, encoding="utf-8")
    return parse_sequence(load_yaml(path))


def test_a_block_list_becomes_the_winner_alone_and_the_rest_is_untouched(tmp_path: Path) -> None:
    """The explicit id is kept, the weight dropped, the next key keeps its indentation."""
    winner = VariantSpec(email="t/long", id="long")
    text = promote_text(BLOCK, "intro", winner, was=["t/short", "long"])
    spec = parsed(tmp_path, text)
    [only] = spec.steps[0].variants or []
    assert (only.email, only.id) == ("t/long", "long")
    assert spec.steps[0].wait == parsed(tmp_path, BLOCK).steps[0].wait
    assert "# the MQL follow-up, A/B on the intro" in text and "# keep this comment" in text
    assert "variants:  # promoted long (was t/short, long)" in text
    assert text.splitlines()[-4:] == BLOCK.splitlines()[-4:]


def test_a_flow_list_becomes_a_flow_list_of_one(tmp_path: Path) -> None:
    """`variants: [...]` on one line stays on one line."""
    text = promote_text(BLOCK, "bump", VariantSpec(email="t/b", weight=3), was=["t/a", "t/b"])
    spec = parsed(tmp_path, text)
    assert [v.email for v in spec.steps[1].variants or []] == ["t/b"]
    assert [v.name for v in spec.steps[0].variants or []] == ["t/short", "long"]
    assert "    variants: [{email: t/b}]  # promoted t/b (was t/a, t/b)\n    wait: 2d" in text


def test_a_variants_block_at_the_end_of_the_file_is_rewritten_too(tmp_path: Path) -> None:
    """No following key: nothing to re-indent."""
    text = BLOCK.replace("    wait: 2d\n", "").replace(
        "    variants: [{email: t/a}, {email: t/b, weight: 3}]\n",
        "    variants:\n      - email: t/a\n      - email: t/b\n",
    )
    promoted = promote_text(text, "bump", VariantSpec(email="t/a"), was=["t/a", "t/b"])
    assert [v.email for v in parsed(tmp_path, promoted).steps[1].variants or []] == ["t/a"]


def test_a_step_without_variants_is_an_error_naming_it() -> None:
    """Nothing to promote."""
    with pytest.raises(PromotionError, match="no step 'nope'"):
        promote_text(BLOCK, "nope", VariantSpec(email="t/a"), was=[])
