"""`guide safety`: check one message, a JSONL stream, or the labelled suite (--eval); `guide safety train`.

Contract other tools rely on:
  guide safety "text" [--json]
  guide safety train [--dry-run] [--encoder SPEC] [--external-dev DIR]
                                -> rebuilds guide/safety/data/risk_model.{npz,json} from training/safety/
  guide safety --jsonl FILE|-   -> one {"route", "category", "score"} (+ "id") per input line; bad lines give {"error"}
  guide safety --eval FILE|DIR  -> the safety section of `guide eval` (the one harness, guide.evals.safety) on that
                                   suite: recall / precision / false alarms per category and kind, confusion table,
                                   latency p50/p95; exits 1 when a safety.* gate in evals/thresholds.yaml fails
Nothing heavy is imported at module import time.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Iterator
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from guide.config import Settings
    from guide.safety.detector import SafetyChecker
    from guide.types import SafetyVerdict


def add_parser(subparsers: Any, common: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    """Register `guide safety` on an argparse subparsers object."""
    p = subparsers.add_parser(
        "safety",
        parents=[common] if common is not None else [],
        help="run the crisis check on a message, a JSONL stream, or the labelled suite",
        description="Run the crisis check. In crisis? Call or text 988 (US/Canada) or call 911.",
    )
    p.add_argument("text", nargs="?", help="the message to check")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.add_argument("--history", action="append", default=[], metavar="TEXT",
                   help="an earlier user message in the conversation (repeatable, oldest first)")
    p.add_argument("--jsonl", metavar="FILE", help="check each line's `text` of a JSONL file ('-' for stdin)")
    p.add_argument("--eval", metavar="PATH", dest="eval_path",
                   help="evaluate a labelled suite (a .jsonl file or a directory of them)")
    p.add_argument("--lexicon-only", action="store_true", help="skip the trained classifier (no model load)")
    p.add_argument("--dry-run", action="store_true", help="train: fit and report, but write nothing")
    p.add_argument("--encoder", action="append", metavar="SPEC",
                   help="train: sentence encoder(s) for the features, repeatable (default: training/safety/config.yaml)")
    p.add_argument("--external-dev", metavar="DIR",
                   help="train: third-party dev split to add (default: ../shared/external/dev when it exists; "
                        "'none' to leave it out). Its test split is never read.")
    p.add_argument("--show", type=int, default=20, metavar="N", help="--eval: list up to N misses and false alarms")
    if common is None:
        p.add_argument("--region", help="crisis resources region: US, CA, UK (GUIDE_REGION)")
        p.add_argument("--embedding-model", help="packaged:all-MiniLM-L6-v2:int8 (default), packaged:all-MiniLM-L6-v2 (float32) or hash:384")
    return p


# -- running ----------------------------------------------------------------------------------------------------


def _make_checker(args: argparse.Namespace, settings: "Settings") -> "SafetyChecker":
    from guide.safety.detector import default_checker

    return default_checker(settings.safety_classifier and not getattr(args, "lexicon_only", False))


def _verdict_line(verdict: "SafetyVerdict") -> dict[str, Any]:
    return {"route": verdict.route, "category": verdict.category, "score": round(float(verdict.score), 4)}


def iter_jsonl(checker: "SafetyChecker", lines: Iterable[str]) -> Iterator[dict[str, Any]]:
    """One output object per input line, same order; a bad line yields {"error": ...} and the run continues."""
    from guide.safety.detector import guarded_check
    from guide.types import Turn

    for n, line in enumerate(lines, 1):
        line = line.rstrip("\r\n")
        try:
            raw = json.loads(line)
        except json.JSONDecodeError as exc:
            yield {"error": f"line {n}: not JSON ({exc.msg})"}
            continue
        if not isinstance(raw, dict):
            yield {"error": f"line {n}: expected a JSON object with a 'text' field"}
            continue
        out: dict[str, Any] = {"id": raw["id"]} if "id" in raw else {}
        text = raw.get("text")
        if not isinstance(text, str):
            yield {**out, "error": f"line {n}: 'text' must be a string"}
            continue
        history = raw.get("history") or []
        if not isinstance(history, list) or not all(isinstance(h, str) for h in history):
            yield {**out, "error": f"line {n}: 'history' must be a list of strings"}
            continue
        verdict = guarded_check(checker, text, tuple(Turn(role="user", text=h) for h in history))
        yield {**out, **_verdict_line(verdict)}


def run_training(args: argparse.Namespace) -> int:
    """`guide safety train`: rebuild the shipped classifier (seeded, about 2 minutes here) and print its dev figures."""
    from guide.safety import training

    external = training.EXTERNAL_DEV
    if args.external_dev:
        external = None if args.external_dev == "none" else Path(args.external_dev)
    cfg = training.TrainConfig.read(encoders=args.encoder)
    result = training.train(cfg, external_dev=external, progress=lambda m: print(m, file=sys.stderr))
    print(training.format_metrics(result.manifest))
    if args.dry_run:
        print(f"dry run: nothing written ({result.seconds:.0f} s)")
        return 0
    training.write(result)
    print(f"wrote {training.DEFAULT_MODEL} and {training.DEFAULT_MANIFEST} ({result.seconds:.0f} s)")
    return 0


def _evaluate(path: Path, checker: "SafetyChecker", settings: "Settings", *, as_json: bool, show: int) -> int:
    """The labelled suite at `path` through the one safety harness, gated by the safety.* thresholds."""
    from guide.evals.render import safety_summary
    from guide.evals.runner import EvalOptions, run_eval

    report = run_eval(settings, EvalOptions(suites=("safety",), safety_path=path), checker=checker)
    assert report.safety is not None and report.gate is not None
    if as_json:
        print(json.dumps({"checker": report.run.settings.get("safety_checker"), "passed": report.gate.passed,
                          "metrics": report.metrics, "failed_closed": report.safety.failed_closed,
                          "latency_ms": asdict(report.safety.latency),
                          "gate": [c.model_dump() for c in report.gate.checks if c.status != "skipped"]}, indent=2))
    else:
        print(safety_summary(report, show=show))
    return 0 if report.gate.passed else 1


def _open_lines(spec: str) -> tuple[Iterable[str], TextIO | None]:
    if spec == "-":
        return sys.stdin, None
    from guide.errors import InputError

    try:
        fh = open(spec, encoding="utf-8")  # noqa: SIM115 - closed by the caller
    except OSError as exc:
        raise InputError(f"Cannot read {spec}: {exc.strerror}. Give a JSONL file or '-' for stdin.") from None
    return fh, fh


def run(args: argparse.Namespace, settings: "Settings") -> int:
    """Dispatch `guide safety`; returns the exit code."""
    from guide.errors import InputError

    region = (getattr(args, "region", None) or settings.region or "US").upper()
    if args.text == "train" and not (args.jsonl or args.eval_path):
        return run_training(args)
    modes = [bool(args.text), bool(args.jsonl), bool(args.eval_path)]
    if sum(modes) != 1:
        raise InputError('Give exactly one of: "TEXT", --jsonl FILE, --eval PATH (or `guide safety train`).')
    checker = _make_checker(args, settings)

    if args.jsonl:
        lines, fh = _open_lines(args.jsonl)
        try:
            for obj in iter_jsonl(checker, lines):
                sys.stdout.write(json.dumps(obj, ensure_ascii=False) + "\n")
                sys.stdout.flush()
        finally:
            if fh is not None:
                fh.close()
        return 0

    if args.eval_path:
        return _evaluate(Path(args.eval_path), checker, settings, as_json=args.json, show=args.show)

    from guide.safety import crisis_reply, guarded_check, scope_check
    from guide.types import Turn

    history = tuple(Turn(role="user", text=h) for h in args.history)
    verdict = guarded_check(checker, args.text, history)
    scope = scope_check(args.text, history, region=region) if verdict.route != "crisis" else None
    reply = crisis_reply(verdict.category, language=verdict.language, region=region) if verdict.route == "crisis" else None
    if args.json:
        payload: dict[str, Any] = {**_verdict_line(verdict), "reasons": list(verdict.reasons),
                                   "language": verdict.language, "failed_closed": verdict.failed_closed}
        if scope is not None:
            payload["scope"] = {"allowed": scope.allowed, "kind": scope.kind, "reasons": list(scope.reasons)}
        if reply is not None:
            payload["reply"] = reply.text
            payload["resources"] = [r.model_dump(exclude_none=True) for r in reply.resources]
        print(json.dumps(payload, ensure_ascii=False, indent=2))
        return 0
    print(f"route: {verdict.route}   category: {verdict.category or '-'}   score: {verdict.score:.2f}   "
          f"language: {verdict.language}")
    for reason in verdict.reasons:
        print(f"  - {reason}")
    if scope is not None:
        print(f"scope: {scope.kind}" + (f" ({'; '.join(scope.reasons)})" if scope.reasons else ""))
    if reply is not None:
        print("\n" + reply.text)
    return 0
