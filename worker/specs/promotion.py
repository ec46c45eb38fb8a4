"""`sequences promote`: a step's winning variant becomes its only one, by rewriting just that
`variants:` entry of the YAML (comments and the rest of the file kept), so the next catalog load
pins a new version while running enrollments keep theirs."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import yaml

from worker.specs.variants import VariantSpec


class PromotionError(ValueError):
    """The file is not shaped as expected (the message says where)."""


def promote_text(text: str, step_id: str, winner: VariantSpec, *, was: list[str]) -> str:
    """`text` with step `step_id`'s variants replaced by `winner` alone."""
    key, value = _variants_node(yaml.compose(text, Loader=yaml.SafeLoader), step_id)
    note = f"promoted {winner.name} (was {', '.join(was)})"
    fields = [f"email: {winner.email}"] + ([f"id: {winner.id}"] if winner.id else [])
    if value.flow_style or not value.value:
        replacement = f"variants: [{{{', '.join(fields)}}}]  # {note}"
        return text[: key.start_mark.index] + replacement + text[value.end_mark.index :]
    dash = " " * max(value.value[0].start_mark.column - 2, 0)
    lines = [f"variants:  # {note}", f"{dash}- {fields[0]}"]
    lines += [f"{dash}  {field}" for field in fields[1:]]
    following = " " * value.end_mark.column if value.end_mark.index < len(text) else ""
    replacement = "\n".join(lines) + "\n" + following
    return text[: key.start_mark.index] + replacement + text[value.end_mark.index :]


def _variants_node(root: yaml.Node | None, step_id: str) -> tuple[yaml.Node, yaml.SequenceNode]:
    steps = _value(root, "steps")
    if not isinstance(steps, yaml.SequenceNode):
        raise PromotionError("the file has no steps: list")
    for step in steps.value:
        if isinstance(step, yaml.MappingNode) and _scalar(_value(step, "id")) == step_id:
            for key, value in step.value:
                if key.value == "variants" and isinstance(value, yaml.SequenceNode):
                    return key, value
            raise PromotionError(f"step {step_id!r} has no variants: list")
    raise PromotionError(f"no step {step_id!r} in the file")


def _value(node: yaml.Node | None, name: str) -> yaml.Node | None:
    if not isinstance(node, yaml.MappingNode):
        return None
    return next((value for key, value in node.value if key.value == name), None)


def _scalar(node: yaml.Node | None) -> str | None:
    return str(node.value) if isinstance(node, yaml.ScalarNode) else None


def write_atomically(path: Path, text: str) -> None:
    """Readers (a running worker's reload) see the old file or the new one, never half of it."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
