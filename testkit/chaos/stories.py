"""The sequences and templates the scenarios share: `steps` emails one wait apart, optionally
inside a send window,."""

from __future__ import annotations

STEP_NAMES = ("one", "two", "three", "four")


def sequence_yaml(
    name: str,
    *,
    steps: int = 2,
    wait: str = "1s",
    window: str | None = None,
    from_: str | None = None,
    exit_on: tuple[str, ...] = ("email.replied",),
) -> str:
    """A sequence of `steps` emails (templates <name>/<step>), triggered by lead.mql.
    `window`: the send_window block's body, e.g. 'hours: "09:00-17:00"\\n  timezone: lead'."""
    lines = [f"name: {name}", "trigger: lead.mql", f"exit_on: [{', '.join(exit_on)}]"]
    if from_:
        lines.append(f'from: "{from_}"')
    if window:
        lines.append("send_window:\n  " + window.strip().replace("\n", "\n  "))
    lines.append("steps:")
    for index, step in enumerate(STEP_NAMES[:steps]):
        lines.append(f"  - id: {step}\n    email: {name}/{step}")
        if index:
            lines.append(f"    wait: {wait}")
    return "\n".join(lines) + "\n"


def templates_for(name: str, *, steps: int = 2) -> dict[str, str]:
    """Plain templates for sequence_yaml's steps (subject names the lead and the step)."""
    return {
        f"{name}/{step}.j2": (
            f"{{% block subject %}}{{{{ lead.first_name }}}} {step}{{% endblock %}}\n"
            f"{{% block text %}}Hi {{{{ lead.first_name }}}}. {{{{ unsubscribe_url }}}}"
            "{% endblock %}\n"
        )
        for step in STEP_NAMES[:steps]
    }
