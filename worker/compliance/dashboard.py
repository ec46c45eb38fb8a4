"""The compliance dashboard: one self-contained HTML page (inline CSS and SVG, works offline)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined
from sqlmodel import Session

from worker.compliance.at_risk import AtRiskLead, at_risk_leads
from worker.compliance.charts import (
    Breach,
    TrendPoint,
    first_touch_distribution,
    recent_breaches,
    weekly_trend,
)
from worker.compliance.grouping import enrolled_window
from worker.compliance.plan import PlanResult, plan_sla, promised_attempts
from worker.compliance.report import Report, build_report
from worker.specs.sequences import SequenceSpec
from worker.specs.team import TeamSpec
from worker.specs.versions import VersionStore

CHART_WIDTH, CHART_HEIGHT = 640, 200
AT_RISK_SHOWN = 20  # the page lists the soonest; `followup sla at-risk` lists them all


@dataclass
class Dashboard:
    generated_at: datetime
    owners: Report
    sequences: Report
    trend: list[TrendPoint]
    distribution: list[tuple[str, int]]
    breaches: list[Breach]
    plan: PlanResult | None
    owner_names: dict[str, str] = field(default_factory=dict)
    at_risk: list[AtRiskLead] = field(default_factory=list)  # soonest deadline first


def collect_dashboard(
    session: Session,
    *,
    team: TeamSpec,
    since: datetime | None,
    until: datetime | None,
    now: datetime,
    sequences: Iterable[SequenceSpec] = (),
    versions: VersionStore | None = None,
) -> Dashboard:
    """Every figure on the page, each from one SQL aggregate."""
    dialect = session.get_bind().dialect.name
    where = enrolled_window(since, until)
    window = {"since": since, "until": until, "now": now}
    plan = team.sla_plan
    return Dashboard(
        generated_at=now,
        owners=build_report(session, by="owner", team=team, **window),
        # the sequence table shows no strikes: skip working them out a second time
        sequences=build_report(
            session, by="sequence", team=team.model_copy(update={"strikes": None}), **window
        ),
        trend=weekly_trend(session, dialect, where),
        distribution=first_touch_distribution(session, where),
        breaches=recent_breaches(session, where),
        plan=plan_sla(plan, promised_attempts=promised_attempts(sequences)) if plan else None,
        owner_names={o.email: o.name for o in team.owners if o.name},
        at_risk=at_risk_leads(
            session, team=team, versions=versions or VersionStore(), now=now, limit=AT_RISK_SHOWN
        ),
    )


def trend_points(trend: list[TrendPoint]) -> list[dict[str, Any]]:
    """Where each week's compliance rate sits on the line chart (weeks without verdicts skipped)."""
    left, right, top, bottom = 48, CHART_WIDTH - 16, 16, CHART_HEIGHT - 32
    step = (right - left) / max(len(trend) - 1, 1)
    points = []
    for index, point in enumerate(trend):
        x = left + step * index if len(trend) > 1 else (left + right) / 2
        rate = point.rate
        y = None if rate is None else bottom - (bottom - top) * rate
        points.append({"x": round(x, 1), "y": None if y is None else round(y, 1), "point": point})
    return points


def histogram_bars(distribution: list[tuple[str, int]]) -> list[dict[str, Any]]:
    """Bar geometry for the first-touch distribution, scaled to the tallest bucket."""
    tallest = max((n for _, n in distribution), default=0) or 1
    slot = (CHART_WIDTH - 48) / max(len(distribution), 1)
    plot = CHART_HEIGHT - 48
    return [
        {
            "label": label,
            "count": n,
            "x": round(32 + slot * i + slot * 0.15, 1),
            "width": round(slot * 0.7, 1),
            "height": round(plot * n / tallest, 1),
            "y": round(16 + plot - plot * n / tallest, 1),
        }
        for i, (label, n) in enumerate(distribution)
    ]


def format_seconds(seconds: int | None) -> str:
    """Seconds as the few units a person reads at a glance."""
    if seconds is None:
        return "-"
    days, rest = divmod(int(seconds), 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m {secs:02d}s" if minutes else f"{secs}s"


def _environment() -> Environment:
    environment = Environment(
        loader=PackageLoader("worker.compliance", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters.update(
        {
            "seconds": format_seconds,
            "percent": _percent,
            "money": _money,
            "number": _number,
            "when": _when,
        }
    )
    return environment


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _money(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def _number(value: float | None, decimals: int = 0) -> str:
    return "-" if value is None else f"{value:,.{decimals}f}"


def _when(value: datetime | None) -> str:
    return "-" if value is None else value.strftime("%Y-%m-%d %H:%M")


def render_dashboard(dashboard: Dashboard) -> str:
    template = _environment().get_template("dashboard.html.j2")
    return template.render(
        d=dashboard,
        width=CHART_WIDTH,
        height=CHART_HEIGHT,
        trend=trend_points(dashboard.trend),
        bars=histogram_bars(dashboard.distribution),
    )


def dashboard_html(session: Session, **collect_args: Any) -> str:
    """The page as one string: `GET /compliance` and `compliance report --format html` share it."""
    return render_dashboard(collect_dashboard(session, **collect_args))
