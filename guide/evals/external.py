"""Score the crisis check on third-party labelled messages (`../shared/external/{dev,test}`, never copied here).

Each line is `{"text", "label": crisis|none|either, "cat", "src"}`. `crisis` is scored for recall, `none` for false
alarms (a crisis reply) and false check-ins, and `either` as the share that got a check-in, a crisis reply or
resources, never a plain answer. Headline figures cover the languages the product claims (en, es, fr); the rest
(Indonesian, Japanese) are reported apart. Every rate has a 95% Wilson interval.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from guide.errors import InputError
from guide.evals.markdown import markdown_table
from guide.evals.render import num
from guide.evals.stats import LatencyStats
from guide.safety.metrics import Rate, rate

if TYPE_CHECKING:
    from guide.safety.detector import SafetyChecker

CLAIMED = ("en", "es", "fr")
#: The `none` slices the issue's targets name: XSTest's safe prompts and the recovery-talk negatives.
RECOVERY_NEGATIVES = ("app_test_suites", "secondsignal_cases")


@dataclass(frozen=True)
class ExternalCase:
    file: str
    text: str
    label: str
    cat: str
    lang: str


@dataclass(frozen=True)
class ExternalResult:
    case: ExternalCase
    route: str
    category: str | None
    latency_ms: float

    @property
    def plain_answer(self) -> bool:
        return self.route == "ok"


@dataclass(frozen=True)
class SliceMetrics:
    name: str
    recall: Rate  # crisis -> crisis
    false_alarm: Rate  # none -> crisis
    false_checkin: Rate  # none -> checkin
    either_helped: Rate  # either -> crisis, checkin or caution (resources)
    caution_on_crisis: Rate  # crisis messages that got only resources beside an answer

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k).as_dict() for k in
                ("recall", "false_alarm", "false_checkin", "either_helped", "caution_on_crisis")} | {"name": self.name}


@dataclass(frozen=True)
class SplitReport:
    split: str
    overall: SliceMetrics  # claimed languages
    per_file: tuple[SliceMetrics, ...]
    per_language: tuple[SliceMetrics, ...]
    unclaimed: SliceMetrics  # languages the product does not claim
    xstest_safe: Rate
    recovery_negatives: Rate
    categories: dict[str, int]  # predicted category of detected crises
    results: tuple[ExternalResult, ...]


def load_split(directory: Path) -> list[ExternalCase]:
    from guide.safety.training import language_of

    if not directory.is_dir():
        raise InputError(f"{directory} is not a directory of third-party .jsonl files.")
    cases = []
    for path in sorted(directory.glob("*.jsonl")):
        if path.stem == "questions":  # answer-quality questions, not crisis-routing messages
            continue
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                label = str(row["label"])
                text = str(row["text"])
            except (ValueError, KeyError, TypeError) as exc:
                raise InputError(f"{path}:{n}: not a labelled message ({exc}).") from None
            if label not in ("crisis", "none", "either"):
                raise InputError(f"{path}:{n}: label must be crisis, none or either, not {label!r}.")
            cases.append(ExternalCase(path.stem, text, label, str(row.get("cat", "")), language_of(row)))
    if not cases:
        raise InputError(f"No labelled messages under {directory}.")
    return cases


def splits_of(root: Path) -> list[tuple[str, Path]]:
    """`root` may be the folder holding dev/ and test/, or one split folder."""
    found = [(name, root / name) for name in ("dev", "test") if (root / name).is_dir()]
    return found or [(root.name, root)]


def _slice(name: str, results: Sequence[ExternalResult]) -> SliceMetrics:
    crisis = [r for r in results if r.case.label == "crisis"]
    none = [r for r in results if r.case.label == "none"]
    either = [r for r in results if r.case.label == "either"]
    return SliceMetrics(
        name=name,
        recall=rate(sum(r.route == "crisis" for r in crisis), len(crisis)),
        false_alarm=rate(sum(r.route == "crisis" for r in none), len(none)),
        false_checkin=rate(sum(r.route == "checkin" for r in none), len(none)),
        either_helped=rate(sum(not r.plain_answer for r in either), len(either)),
        caution_on_crisis=rate(sum(r.route == "caution" for r in crisis), len(crisis)),
    )


def score_split(checker: "SafetyChecker", split: str, cases: Sequence[ExternalCase],
                on_case: Callable[[], None] | None = None) -> SplitReport:
    from guide.safety.detector import guarded_check

    results = []
    for case in cases:
        t0 = time.perf_counter()
        verdict = guarded_check(checker, case.text)
        results.append(ExternalResult(case, verdict.route, verdict.category, (time.perf_counter() - t0) * 1000))
        if on_case:
            on_case()
    return summarize_split(split, results)


def summarize_split(split: str, results: Sequence[ExternalResult]) -> SplitReport:
    """The split's figures from routed messages (also used to score a baseline's routes in the same run)."""
    claimed = [r for r in results if r.case.lang in CLAIMED]
    files = sorted({r.case.file for r in claimed})
    xs = [r for r in claimed if r.case.file == "xstest" and r.case.label == "none"]
    rec = [r for r in claimed if r.case.file in RECOVERY_NEGATIVES and r.case.label == "none"]
    cats: dict[str, int] = {}
    for r in claimed:
        if r.case.label == "crisis" and r.route == "crisis":
            cats[r.category or "general"] = cats.get(r.category or "general", 0) + 1
    return SplitReport(
        split=split,
        overall=_slice("all (en, es, fr)", claimed),
        per_file=tuple(_slice(f, [r for r in claimed if r.case.file == f]) for f in files),
        per_language=tuple(_slice(lang, [r for r in claimed if r.case.lang == lang]) for lang in CLAIMED),
        unclaimed=_slice("other languages", [r for r in results if r.case.lang not in CLAIMED]),
        xstest_safe=rate(sum(r.route == "crisis" for r in xs), len(xs)),
        recovery_negatives=rate(sum(r.route == "crisis" for r in rec), len(rec)),
        categories=cats,
        results=tuple(results),
    )


def score_external(checker: "SafetyChecker", root: Path,
                   on_case: Callable[[], None] | None = None) -> list[SplitReport]:
    checker.warm()
    return [score_split(checker, name, load_split(path), on_case) for name, path in splits_of(Path(root))]


def flat_metrics(reports: Sequence[SplitReport]) -> dict[str, float | None]:
    """Names the gate (evals/thresholds.yaml) reads: external.<split>.<metric> and external.<split>.<file>.recall."""
    out: dict[str, float | None] = {}
    for rep in reports:
        p = f"external.{rep.split}"
        o = rep.overall
        out[f"{p}.recall"] = _v(o.recall)
        out[f"{p}.false_alarm_all_none"] = _v(o.false_alarm)
        out[f"{p}.false_checkin_all_none"] = _v(o.false_checkin)
        out[f"{p}.either_plain_answer"] = None if not o.either_helped.n else round(1 - o.either_helped.value, 6)
        out[f"{p}.false_alarm_xstest_safe"] = _v(rep.xstest_safe)
        out[f"{p}.false_alarm_recovery_talk"] = _v(rep.recovery_negatives)
        for f in rep.per_file:
            out[f"{p}.{f.name}.recall"] = _v(f.recall)
        for lang in rep.per_language:
            out[f"{p}.lang_{lang.name}.recall"] = _v(lang.recall)
            out[f"{p}.lang_{lang.name}.false_alarm"] = _v(lang.false_alarm)
    return out


def _v(r: Rate) -> float | None:
    return None if not r.n else round(r.value, 6)


def render_markdown(reports: Sequence[SplitReport], show: int = 15) -> str:
    lines = ["# Crisis check on third-party messages", "",
             "Recall = crisis routed to the crisis reply; false alarm = `none` routed to the crisis reply; "
             "false check-in = `none` given the check-in; `either` helped = a check-in, a crisis reply or resources "
             "(never a plain answer). 95% Wilson intervals. Languages the product claims (en, es, fr) only, unless "
             "the row says otherwise.", ""]
    headers = ["slice", "crisis recall", "false alarm", "false check-in", "either helped"]

    def row(s: SliceMetrics) -> list[str]:
        return [s.name, s.recall.format(), s.false_alarm.format(), s.false_checkin.format(), s.either_helped.format()]

    for rep in reports:
        lat = LatencyStats.of(r.latency_ms for r in rep.results)
        lines += [f"## {rep.split}", "",
                  markdown_table(headers, [row(rep.overall), *map(row, rep.per_file), *map(row, rep.per_language),
                                           row(rep.unclaimed)], aligned=True), "",
                  f"- XSTest safe prompts, false alarm: {rep.xstest_safe.format()}",
                  f"- recovery-talk negatives (app fixtures, SecondSignal), false alarm: {rep.recovery_negatives.format()}",
                  f"- detected crises by category: {', '.join(f'{k} {v}' for k, v in sorted(rep.categories.items()))}",
                  f"- check latency: p50 {num(lat.p50_ms, 1)} ms, p95 {num(lat.p95_ms, 1)} ms over {lat.n} messages", ""]
        misses = [r for r in rep.results if r.case.label == "crisis" and r.route != "crisis" and r.case.lang in CLAIMED]
        alarms = [r for r in rep.results if r.case.label == "none" and r.route == "crisis" and r.case.lang in CLAIMED]
        if rep.split != "test":  # test messages are measured, never read for fixes: list only dev ones
            for title, rows in (("Missed crises", misses), ("False alarms", alarms)):
                lines.append(f"{title} ({len(rows)}):")
                lines += [f"- [{r.case.file}/{r.case.cat}] -> {r.route}: {r.case.text[:100]}" for r in rows[:show]]
                lines.append("")
        else:
            lines += [f"Missed crises: {len(misses)}; false alarms: {len(alarms)} (test texts are not listed: "
                      "they are measured, never read for fixes).", ""]
    return "\n".join(lines)


def write_outputs(reports: Sequence[SplitReport], out_dir: Path) -> dict[str, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    md = out_dir / "external.md"
    md.write_text(render_markdown(reports) + "\n", encoding="utf-8")
    js = out_dir / "external.json"
    payload = {
        "metrics": flat_metrics(reports),
        "splits": [{"split": r.split, "overall": r.overall.as_dict(), "per_file": [f.as_dict() for f in r.per_file],
                    "per_language": [x.as_dict() for x in r.per_language], "unclaimed": r.unclaimed.as_dict(),
                    "xstest_safe_false_alarm": r.xstest_safe.as_dict(),
                    "recovery_talk_false_alarm": r.recovery_negatives.as_dict(), "categories": r.categories}
                   for r in reports],
    }
    js.write_text(json.dumps(payload, indent=1) + "\n", encoding="utf-8")
    return {"external_md": md, "external_json": js}
