"""`guide ask`, `guide chat` and `guide batch`: the pipeline from the terminal (contract in the README)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from guide.types import AUDIENCES as AUDIENCE_CHOICES


def add_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("ask", parents=[common], help="answer one question (grounded, cited)")
    p.add_argument("question")
    p.add_argument("--audience", choices=AUDIENCE_CHOICES, default="newcomer")
    p.add_argument("--json", action="store_true", help="print the Answer as JSON")
    p.add_argument("--llm", help="optional: ollama:MODEL or openai:MODEL (GUIDE_LLM)")
    p.set_defaults(answer_cmd="ask")

    p = sub.add_parser("chat", parents=[common], help="an interactive conversation in the terminal")
    p.add_argument("--audience", choices=AUDIENCE_CHOICES, default="newcomer")
    p.add_argument("--llm", help="optional: ollama:MODEL or openai:MODEL (GUIDE_LLM)")
    p.set_defaults(answer_cmd="chat")

    p = sub.add_parser("batch", parents=[common], help="play JSONL conversations through the pipeline")
    p.add_argument("file", help='JSONL, one {"id": ..., "turns": [...]} per line ("-" for stdin)')
    p.add_argument("--out", help="write results here instead of stdout")
    p.add_argument("--audience", choices=AUDIENCE_CHOICES, default="newcomer")
    p.add_argument("--llm", help="optional: ollama:MODEL or openai:MODEL (GUIDE_LLM)")
    p.set_defaults(answer_cmd="batch")


def answer_json(answer: Any, full: bool = True) -> dict[str, Any]:
    """The JSON shape of an Answer used by `ask --json` and `batch` (stable contract)."""
    cites = [{"doc_id": c.doc_id, "title": c.title, "section": c.section, "url": c.url} for c in answer.citations]
    if full:
        cites = [{"n": c.n, **d, "quote": c.quote} for c, d in zip(answer.citations, cites, strict=True)]
    out: dict[str, Any] = {
        "route": answer.route,
        "answer": answer.text,
        "citations": cites,
        "resources": [r.model_dump(exclude_none=True) for r in answer.resources],
        "latency_ms": answer.latency_ms,
    }
    if full:
        out.update({
            "safety": {"route": answer.safety.route, "category": answer.safety.category, "score": answer.safety.score},
            "decline_kind": answer.decline_kind,
            "query": answer.query,
            "confidence": round(answer.confidence, 4),
            "composer": answer.composer,
            "notice": answer.notice,
            "timings_ms": dict(answer.timings_ms),
        })
    return out


def format_resources(resources: Any) -> str:
    lines = []
    for r in resources:
        how = " · ".join(x for x in (r.phone and f"call {r.phone}", r.text_instructions, r.url) if x)
        lines.append(f"  • {r.name}: {how}" if how else f"  • {r.name}")
    return "\n".join(lines)


def render_text(answer: Any) -> str:
    parts = [answer.text]
    if answer.notice:
        parts.append(f"\n({answer.notice})")
    if answer.citations:
        parts.append("\nSources:")
        parts += [f"  [{c.n}] {c.section} — {c.url}" for c in answer.citations]
    if answer.resources and answer.route != "crisis":
        parts.append("\nHelp lines:\n" + format_resources(answer.resources))
    elif answer.route == "crisis":
        parts.append("\n" + format_resources(answer.resources))
    return "\n".join(parts)


def _pipeline(args: argparse.Namespace, settings: Any) -> Any:
    from guide.cli.common import tqdm_progress
    from guide.pipeline import build_pipeline

    if getattr(args, "llm", None):
        settings = settings.with_overrides(llm=args.llm)
    return build_pipeline(settings, progress=tqdm_progress("Building index"))


def run(args: argparse.Namespace, settings: Any) -> int:
    cmd = args.answer_cmd
    if cmd == "ask":
        pipeline = _pipeline(args, settings)
        answer = pipeline.answer([], args.question, args.audience)
        print(json.dumps(answer_json(answer), ensure_ascii=False, indent=2) if args.json else render_text(answer))
        return 0
    if cmd == "chat":
        return _chat(args, settings)
    return _batch(args, settings)


def _chat(args: argparse.Namespace, settings: Any) -> int:
    from guide.conversation import Conversation

    pipeline = _pipeline(args, settings)
    print("Recovery Guide — ask about peer support and recovery options. Type 'new' to start over, 'quit' to leave.")
    print("In crisis? Call or text 988 · Emergency 911.\n")
    conversation = Conversation(audience=args.audience)
    while True:
        try:
            message = input("you> ")
        except EOFError:
            print()
            return 0
        if message.strip().lower() in {"quit", "exit", ":q"}:
            return 0
        if message.strip().lower() == "new":
            conversation = Conversation(audience=args.audience)
            print("(new conversation)\n")
            continue
        answer = conversation.ask(pipeline, message)
        print(f"\nguide> {render_text(answer)}\n")


def _batch(args: argparse.Namespace, settings: Any) -> int:
    from tqdm import tqdm

    from guide.conversation import Conversation
    from guide.errors import InputError

    if args.file == "-":
        raw_lines = sys.stdin.buffer.read().splitlines()
    else:
        try:
            with open(args.file, "rb") as fh:
                raw_lines = fh.read().splitlines()
        except OSError as exc:
            raise InputError(f"Cannot read {args.file}: {exc.strerror}.") from None
    pipeline = _pipeline(args, settings)
    out = open(args.out, "w", encoding="utf-8") if args.out else sys.stdout  # noqa: SIM115
    errors = 0
    try:
        bar = tqdm(total=len(raw_lines), desc="Conversations", file=sys.stderr, disable=not sys.stderr.isatty())
        for n, raw in enumerate(raw_lines, 1):
            bar.update(1)
            if not raw.strip():
                continue
            record = _parse_line(raw, n)
            if "error" in record:
                errors += 1
                out.write(json.dumps(record, ensure_ascii=False) + "\n")
                continue
            conversation = Conversation(audience=record.get("audience") or args.audience)
            turns = [{"user": message, **answer_json(conversation.ask(pipeline, message), full=False)}
                     for message in record["turns"]]
            result = {"id": record.get("id"), **turns[-1], "turns": turns}
            del result["user"]
            out.write(json.dumps(result, ensure_ascii=False) + "\n")
            out.flush()
        bar.close()
    finally:
        if out is not sys.stdout:
            out.close()
    if errors:
        print(f"{errors} line(s) could not be read; see their \"error\" fields.", file=sys.stderr)
    return 0


def _parse_line(raw: bytes, n: int) -> dict[str, Any]:
    """One batch line → a record with turns, or {"id", "error"} saying what is wrong with it."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return {"id": None, "error": f"line {n}: not valid UTF-8"}
    try:
        record = json.loads(text)
    except json.JSONDecodeError as exc:
        return {"id": None, "error": f"line {n}: not valid JSON ({exc.msg})"}
    if not isinstance(record, dict):
        return {"id": None, "error": f"line {n}: expected a JSON object"}
    turns = record.get("turns")
    if not isinstance(turns, list) or not turns or not all(isinstance(t, str) for t in turns):
        return {"id": record.get("id"), "error": f"line {n}: 'turns' must be a non-empty list of strings"}
    return record
