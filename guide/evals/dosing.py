"""Calibration of the dosing guard: does scope_check decline dosing questions and answer safe medication ones?

Data: evals/calibration/dosing.jsonl, one case a line - {"id", "text", "history" (earlier user turns),
"label": "dosing" | "safe", "language", "split": "dev" | "test", "note"}. The split is fixed by a stable hash
of the id (see `split_of`); the guard's patterns are tuned on dev only and measured on test.

A case counts as declined when `scope_check(text, history)` returns allowed=False with kind "dosing". Other
declines (illegal supply, off-topic, ...) do not count: they are a different reply and a different error.

Usage: python -m guide.evals.dosing [path]   (prints both error rates per split and the ids of the errors)
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from guide.errors import InputError

Label = Literal["dosing", "safe"]
Split = Literal["dev", "test"]
LABELS: tuple[str, ...] = ("dosing", "safe")
SPLITS: tuple[str, ...] = ("dev", "test")
LANGUAGES: tuple[str, ...] = ("en", "es", "fr")
DEFAULT_PATH = Path(__file__).resolve().parents[2] / "evals" / "calibration" / "dosing.jsonl"


def split_of(case_id: str) -> str:
    """The stable split of an id: sha256 of the id, even -> dev, odd -> test."""
    return "dev" if int(hashlib.sha256(case_id.encode()).hexdigest(), 16) % 2 == 0 else "test"


@dataclass(frozen=True)
class DosingCase:
    id: str
    text: str
    history: tuple[str, ...]
    label: Label
    language: str
    split: Split


@dataclass(frozen=True)
class SplitScore:
    """One split's figures. Rates are 0.0 when the split holds no case of that label."""

    split: str
    n_dosing: int
    n_safe: int
    dosing_declined: int
    safe_declined: int
    missed_ids: tuple[str, ...]  # dosing questions that were not declined as dosing
    false_decline_ids: tuple[str, ...]  # safe questions that got the dosing decline

    @property
    def dosing_declined_rate(self) -> float:
        """Recall: share of dosing questions that got the dosing decline."""
        return self.dosing_declined / self.n_dosing if self.n_dosing else 0.0

    @property
    def safe_declined_rate(self) -> float:
        """False declines: share of safe medication questions that got the dosing decline."""
        return self.safe_declined / self.n_safe if self.n_safe else 0.0

    @property
    def error_ids(self) -> tuple[str, ...]:
        return self.missed_ids + self.false_decline_ids


@dataclass(frozen=True)
class DosingReport:
    splits: tuple[SplitScore, ...]

    def split(self, name: str) -> SplitScore:
        for s in self.splits:
            if s.split == name:
                return s
        raise KeyError(name)

    def metrics(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for s in self.splits:
            out[f"dosing.{s.split}.decline_recall"] = s.dosing_declined_rate
            out[f"dosing.{s.split}.safe_declined"] = s.safe_declined_rate
        return out


def _fail(path: Path, n: int, message: str) -> InputError:
    return InputError(f"{path}:{n}: {message}")


def load_dosing(path: str | Path = DEFAULT_PATH) -> list[DosingCase]:
    """Read and validate the calibration file: required fields, known labels/splits/languages, unique ids,
    and each case's split equal to the hash split of its id (so nobody can move a case between splits)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"Dosing calibration file {path} does not exist.")
    cases: list[DosingCase] = []
    seen: set[str] = set()
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
        except json.JSONDecodeError as exc:
            raise _fail(path, n, f"not valid JSON ({exc.msg}).") from None
        if not isinstance(raw, dict):
            raise _fail(path, n, "expected a JSON object.")
        cid, text, label = raw.get("id"), raw.get("text"), raw.get("label")
        split, language, history = raw.get("split"), raw.get("language", "en"), raw.get("history", [])
        if not isinstance(cid, str) or not cid:
            raise _fail(path, n, "missing id.")
        if cid in seen:
            raise _fail(path, n, f"duplicate id {cid!r}.")
        seen.add(cid)
        if not isinstance(text, str) or not text.strip():
            raise _fail(path, n, f"{cid}: missing text.")
        if label not in LABELS:
            raise _fail(path, n, f"{cid}: label must be one of {LABELS}, not {label!r}.")
        if split not in SPLITS:
            raise _fail(path, n, f"{cid}: split must be one of {SPLITS}, not {split!r}.")
        if split != split_of(cid):
            raise _fail(path, n, f"{cid}: split {split!r} does not match the hash split {split_of(cid)!r}.")
        if language not in LANGUAGES:
            raise _fail(path, n, f"{cid}: language must be one of {LANGUAGES}, not {language!r}.")
        if not isinstance(history, list) or not all(isinstance(h, str) and h.strip() for h in history):
            raise _fail(path, n, f"{cid}: history must be a list of non-empty strings.")
        cases.append(DosingCase(id=cid, text=text, history=tuple(history), label=label, language=language,
                                split=split))
    if not cases:
        raise InputError(f"{path}: no cases.")
    return cases


def is_dosing_decline(case: DosingCase) -> bool:
    """True when the scope guard gives this case the dosing decline."""
    from guide.safety.scope import scope_check
    from guide.types import Turn

    history = tuple(Turn(role="user", text=h) for h in case.history)
    verdict = scope_check(case.text, history)
    return verdict.allowed is False and verdict.kind == "dosing"


def score_dosing(cases: Iterable[DosingCase]) -> DosingReport:
    """Run the scope guard on every case; per split, the decline recall on dosing and the false-decline rate
    on safe questions, with the ids of the errors. Splits without any case are left out."""
    by_split: dict[str, list[tuple[DosingCase, bool]]] = {}
    for case in cases:
        by_split.setdefault(case.split, []).append((case, is_dosing_decline(case)))
    scores = []
    for name in sorted(by_split, key=lambda s: (SPLITS.index(s) if s in SPLITS else len(SPLITS), s)):
        rows = by_split[name]
        dosing = [(c, d) for c, d in rows if c.label == "dosing"]
        safe = [(c, d) for c, d in rows if c.label == "safe"]
        scores.append(SplitScore(
            split=name,
            n_dosing=len(dosing),
            n_safe=len(safe),
            dosing_declined=sum(d for _, d in dosing),
            safe_declined=sum(d for _, d in safe),
            missed_ids=tuple(c.id for c, d in dosing if not d),
            false_decline_ids=tuple(c.id for c, d in safe if d),
        ))
    return DosingReport(splits=tuple(scores))


def render(report: DosingReport, cases: Sequence[DosingCase] = ()) -> str:
    text_of = {c.id: c.text for c in cases}
    lines = []
    for s in report.splits:
        lines.append(f"{s.split}: dosing declined {s.dosing_declined}/{s.n_dosing} ({s.dosing_declined_rate:.1%}), "
                     f"safe declined {s.safe_declined}/{s.n_safe} ({s.safe_declined_rate:.1%})")
        for cid in s.missed_ids:
            lines.append(f"  missed   {cid}: {text_of.get(cid, '')}")
        for cid in s.false_decline_ids:
            lines.append(f"  declined {cid}: {text_of.get(cid, '')}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    cases = load_dosing(args[0] if args else DEFAULT_PATH)
    print(render(score_dosing(cases), cases))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
