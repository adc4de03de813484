"""The eval gate: thresholds from evals/thresholds.yaml applied to a run's flat metrics.

A threshold names a metric (shell-style globs allowed: `safety.*.recall` is one check per category that has
data) and exactly one of min / max / equals. A metric with no value (its suite was not run, or no case had
data) is `skipped`, never a pass or a breach. Each breach lists the case ids behind it, so CI names them.
"""

from __future__ import annotations

import fnmatch
import math
from pathlib import Path
from typing import TYPE_CHECKING

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator

from guide.errors import InputError
from guide.evals.report import RENAMED_METRICS, Gate, ThresholdCheck

if TYPE_CHECKING:
    from guide.evals.report import RunReport

THRESHOLDS_FILE = "thresholds.yaml"
_TOLERANCE = 1e-9


class Threshold(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    metric: str
    min: float | None = None
    max: float | None = None
    equals: float | None = None
    description: str = ""

    @field_validator("metric")
    @classmethod
    def _current_name(cls, metric: str) -> str:
        return RENAMED_METRICS.get(metric, metric)

    @model_validator(mode="after")
    def _one_bound(self) -> "Threshold":
        if sum(v is not None for v in (self.min, self.max, self.equals)) != 1:
            raise ValueError("give exactly one of min, max, equals")
        return self

    @property
    def op(self) -> str:
        return ">=" if self.min is not None else "<=" if self.max is not None else "=="

    @property
    def bound(self) -> float:
        return next(v for v in (self.min, self.max, self.equals) if v is not None)

    def holds(self, value: float) -> bool:
        if self.min is not None:
            return value >= self.min - _TOLERANCE
        if self.max is not None:
            return value <= self.max + _TOLERANCE
        return math.isclose(value, self.bound, abs_tol=_TOLERANCE)


def load_thresholds(path: Path) -> list[Threshold]:
    """The thresholds in a YAML file (`thresholds:` list); errors name the file and entry."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise InputError(f"No thresholds file at {path}. Create it (see docs/evaluation.md) or pass --thresholds.") from None
    except yaml.YAMLError as exc:
        raise InputError(f"{path} is not valid YAML: {exc}") from None
    items = data.get("thresholds") if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise InputError(f"{path}: expected a mapping with a 'thresholds:' list.")
    out = []
    for n, item in enumerate(items, 1):
        try:
            out.append(Threshold.model_validate(item))
        except ValidationError as exc:
            err = exc.errors()[0]
            raise InputError(f"{path} threshold {n}: {'.'.join(map(str, err['loc'])) or 'entry'}: {err['msg']}") from None
    return out


def apply_thresholds(report: "RunReport", thresholds: list[Threshold], source: str) -> Gate:
    """One ThresholdCheck per (threshold, matching metric); the gate passes when nothing fails."""
    checks: list[ThresholdCheck] = []
    for t in thresholds:
        names = [t.metric]
        if _is_glob(t.metric):  # one check per matching metric that has data (e.g. no recall for the "none" slice)
            names = sorted(n for n in report.metrics if fnmatch.fnmatchcase(n, t.metric) and report.metrics[n] is not None)
        if not names:
            checks.append(ThresholdCheck(metric=t.metric, op=t.op, threshold=t.bound, value=None, status="skipped",  # type: ignore[arg-type]
                                         description=t.description))
            continue
        for name in names:
            value = report.metrics.get(name)
            if value is None:
                status = "skipped"
            else:
                status = "pass" if t.holds(value) else "fail"
            checks.append(ThresholdCheck(
                metric=name, op=t.op, threshold=t.bound, value=value, status=status,  # type: ignore[arg-type]
                description=t.description, failing_cases=failing_cases_for(report, name, t) if status == "fail" else [],
            ))
    return Gate(passed=not any(c.status == "fail" for c in checks), thresholds_file=source, checks=checks)


def _is_glob(metric: str) -> bool:
    return any(ch in metric for ch in "*?[")


def failing_cases_for(report: "RunReport", metric: str, threshold: Threshold | None = None) -> list[str]:
    """The case ids that pull `metric` down (misses for recall, false alarms for false_alarm, …)."""
    parts = metric.split(".")
    suite, last = parts[0], parts[-1]
    if suite == "safety" and report.safety:
        category = parts[1] if len(parts) == 3 else None
        cases = [c for c in report.safety.cases if category is None or c.category == category or c.predicted_category == category]
        if last == "recall":
            return [c.id for c in cases if c.outcome == "miss" and (category is None or c.category == category)]
        if last == "false_alarm_hard_negatives":
            return [c.id for c in cases if c.hard_negative and c.route == "crisis"]
        if last.startswith("false_alarm") or last == "precision":
            return [c.id for c in cases if c.outcome == "false_alarm"
                    and (category is None or c.category == category or c.predicted_category == category)]
        return [c.id for c in cases if not c.passed]
    if suite == "routing" and report.routing:
        return list(report.routing.mismatches)
    if suite == "retrieval" and report.retrieval and len(parts) == 3:
        mode = parts[1]
        rows = [r for r in report.retrieval.cases if r.mode == mode]
        if last.startswith("recall"):
            return [r.id for r in rows if r.recall_at_k < 1.0]
        return [r.id for r in rows if not r.passed]
    if suite == "answers" and report.answers:
        kind = parts[1] if len(parts) == 3 else None
        rows = [a for a in report.answers.cases if kind is None or a.kind == kind]
        if last == "citation_validity":
            return [a.id for a in rows if a.citation_problems]
        if last == "groundedness":
            return [a.id for a in rows if a.groundedness is not None and a.groundedness < 1.0]
        return [a.id for a in rows if not a.passed and not a.ungraded]
    if metric == "latency.over_budget" and report.answers:
        return [a.id for a in report.answers.cases if a.over_latency_budget]
    if suite == "latency" and report.answers and threshold is not None and threshold.max is not None:
        stage = parts[1]
        slow = [(a.timings_ms.get(stage, a.latency_ms) if stage != "total" else a.latency_ms, a.id) for a in report.answers.cases]
        return [cid for ms, cid in sorted(slow, key=lambda x: (-x[0], x[1])) if ms > threshold.max]
    return []
