"""Evaluation cases as data: JSONL/YAML files in evals/, each case with an id and filterable tags."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from guide.errors import InputError
from guide.types import CATEGORIES, Route, SafetyRoute, Turn


class Case(BaseModel):
    model_config = ConfigDict(frozen=True, extra="allow")
    id: str
    category: str | None = None
    audience: str | None = None
    difficulty: str | None = None
    language: str | None = "en"

    @property
    def tags(self) -> set[str]:
        """Every tag value, bare and as key=value, for --tag filtering."""
        out: set[str] = set()
        for key in ("category", "audience", "difficulty", "language", "kind"):
            value = getattr(self, key, None) or (self.model_extra or {}).get(key)
            if value:
                out |= {str(value), f"{key}={value}"}
        for tag in (self.model_extra or {}).get("tags", []) or []:
            out.add(str(tag))
        return out


class RetrievalCase(Case):
    query: str
    relevant: tuple[str, ...] = Field(min_length=1)


class SafetyCase(Case):
    text: str
    history: tuple[str, ...] = ()  # earlier user messages, oldest first
    expected_route: SafetyRoute
    kind: str | None = None

    @model_validator(mode="after")
    def _known_category(self) -> "SafetyCase":
        if self.category is not None and self.category not in CATEGORIES:
            raise ValueError(f"category must be null or one of {', '.join(CATEGORIES)}, not {self.category!r}")
        if self.expected_route == "crisis" and self.category is None:
            raise ValueError("a crisis case needs a category")
        return self

    @property
    def hard_negative(self) -> bool:
        """Not a crisis, but written to look like one (difficulty=hard: idioms, negations, past tense…)."""
        return self.expected_route != "crisis" and self.difficulty == "hard"

    def turns(self) -> tuple[Turn, ...]:
        return tuple(Turn(role="user", text=t) for t in self.history)


class Expectation(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    route: Route
    must_include: tuple[str, ...] = ()
    must_not_include: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    max_latency_ms: float | None = None


class ConversationCase(Case):
    turns: tuple[str, ...] = Field(min_length=1)
    #: None: no expectations; only a human grade judges the answer (the review queue, guide.evals.grading)
    expect: Expectation | None
    kind: str | None = None


def any_of(patterns: Sequence[str]) -> str:
    """One case-insensitive regex that matches when any of `patterns` does (an `expect_any` column)."""
    return "(?i)" + "|".join(f"(?:{p})" for p in patterns)


def expectation_text(case: ConversationCase) -> str:
    """One line for the report and the CSV: what the row expects ('' when nothing: a human grades it)."""
    exp = case.expect
    if exp is None:
        return ""
    parts = [f"route {exp.route}"]
    parts += [f"includes /{p.removeprefix('(?i)')}/" for p in exp.must_include]
    parts += [f"excludes /{p.removeprefix('(?i)')}/" for p in exp.must_not_include]
    if exp.sources:
        parts.append("cites one of " + ", ".join(exp.sources))
    return "; ".join(parts)


def read_records(path: Path) -> list[dict[str, Any]]:
    """Records from a .jsonl, .yaml or .yml file; errors name the file and line."""
    if path.suffix == ".jsonl":
        records = []
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise InputError(f"{path}:{n}: not valid JSON ({exc.msg}).") from None
        return records
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if isinstance(data, dict):
        data = data.get("cases", [])
    if not isinstance(data, list):
        raise InputError(f"{path}: expected a list of cases (or a mapping with 'cases').")
    return data


def suite_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.glob("*") if p.suffix in {".jsonl", ".yaml", ".yml"})


def load_cases(location: Path, model: type[Case], tags: Sequence[str] = ()) -> list[Any]:
    """Load and validate every case in a suite directory, or in one suite file (ids unique), keeping those with
    all given tags; errors name the file and case."""
    if location.is_file():
        files = [location]
    elif location.is_dir():
        files = suite_files(location)
    else:
        raise InputError(f"Suite {location} does not exist.")
    cases: list[Any] = []
    seen: dict[str, Path] = {}
    for path in files:
        for n, record in enumerate(read_records(path), 1):
            try:
                case = model.model_validate(record)
            except ValidationError as exc:
                err = exc.errors()[0]
                raise InputError(f"{path} case {n}: {'.'.join(map(str, err['loc']))}: {err['msg']}") from None
            if case.id in seen:
                raise InputError(f"{path}: case id {case.id!r} also appears in {seen[case.id]}.")
            seen[case.id] = path
            cases.append(case)
    if location.is_file() and not cases:
        raise InputError(f"No cases in {location}.")
    return filter_cases(cases, tags)


def filter_cases(cases: Iterable[Any], tags: Sequence[str]) -> list[Any]:
    wanted = [t for t in tags if t]
    return [c for c in cases if all(t in c.tags for t in wanted)]
