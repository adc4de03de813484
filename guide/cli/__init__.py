"""The `guide` command line. Heavy libraries load inside each command, so `guide --help` is instant.

Errors a user can act on print one line saying what to do (exit 2); nothing prints a traceback
unless GUIDE_DEBUG=1.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

from guide.cli.common import settings_from, tqdm_progress
from guide.types import MODES

if TYPE_CHECKING:
    from guide.config import Settings

def commands() -> "tuple[CommandModule, ...]":
    """The subcommands that live in their own modules, registered explicitly (a missing one is an ImportError,
    never a command that silently disappears). Each module imports only argparse-level code at the top."""
    from guide.cli import answer, app, bench, safety
    from guide.cli import eval as evals

    return (safety, answer, evals, bench, app)


class CommandModule(Protocol):
    """A module with subcommands: add_parser(subparsers, common) and run(args, settings) -> exit code."""

    def add_parser(self, sub: Any, common: argparse.ArgumentParser) -> Any: ...

    def run(self, args: argparse.Namespace, settings: "Settings") -> int: ...


def cmd_ingest(args: argparse.Namespace) -> int:
    from guide.retrieval.embedding import make_embedder
    from guide.errors import StoreUnavailableError
    from guide.retrieval.index import discard_embedded_index, ingest
    from guide.retrieval.store import ChromaStore, make_chroma_client

    settings = settings_from(args)
    embedder = make_embedder(settings.embedding_model)
    try:
        client = make_chroma_client(settings)
    except StoreUnavailableError:
        if not (args.rebuild and settings.chroma_url is None):
            raise
        discard_embedded_index(settings)  # a damaged embedded index: --rebuild recreates it from the corpus
        client = make_chroma_client(settings)
    store = ChromaStore(client, settings.collection, embedder)
    report = ingest(settings, store, embedder, rebuild=args.rebuild, progress=tqdm_progress("Embedding"))
    print(report.summary())
    return 0


def hit_json(hit: Any) -> dict[str, Any]:
    """A hit for --json: `score` is what ordered it (the cross-encoder's logit when a reranker scored it, else the
    fused score), so the list always reads best first."""
    c = hit.chunk
    score = hit.rerank_score if hit.rerank_score is not None else hit.score
    return {"doc_id": c.doc_id, "title": c.title, "section": c.section, "url": c.url,
            "score": round(score, 6), "text": c.text}


def cmd_search(args: argparse.Namespace) -> int:
    from guide.retrieval.index import clean_query, open_retriever

    settings = settings_from(args)
    clean_query(args.query, settings.max_message_chars)  # an empty query fails before any index is built
    retriever, report = open_retriever(settings, progress=tqdm_progress("Building index"))
    if report is not None and report.changed:
        print(report.summary(), file=sys.stderr)
    hits = retriever.search(args.query, k=args.k, mode=args.mode or settings.retrieval_mode)
    if args.json:
        print(json.dumps([hit_json(h) for h in hits], ensure_ascii=False, indent=2))
        return 0
    if not hits:
        print("No matching passages.")
    for h in hits:
        print(f"{h.rank}. [{h.score:.4f}] {h.chunk.section}  ({h.chunk.doc_id})\n   {h.chunk.url}")
        snippet = h.chunk.text.replace("\n", " ")
        print(f"   {snippet[:220]}{'…' if len(snippet) > 220 else ''}\n")
    return 0


def cmd_corpus(args: argparse.Namespace) -> int:
    from guide.corpus import check_corpus, corpus_hash, unvet, vet

    settings = settings_from(args)
    if args.corpus_cmd == "check":
        report = check_corpus(settings.corpus_dir)
        if args.json:
            print(json.dumps({"ok": report.ok, "documents": len(report.documents),
                              "corpus_hash": corpus_hash(report.documents), "problems": list(report.problems)}, indent=2))
        else:
            for p in report.problems:
                print(f"✗ {p}")
            status = "OK" if report.ok else f"{len(report.problems)} problem(s)"
            print(f"{len(report.documents)} documents checked: {status}. corpus hash {corpus_hash(report.documents)[:12]}")
        return 0 if report.ok else 1
    if args.corpus_cmd == "vet":
        ids = args.ids
        if args.all:
            from guide.corpus import document_paths

            ids = [p.stem for p in document_paths(settings.corpus_dir)]
        if not ids:
            raise SystemExit("guide corpus vet: give document ids or --all")
        for e in vet(settings.corpus_dir, ids, args.reviewer):
            print(f"vetted {e.id} ({e.sha256[:12]}) by {e.reviewed_by} on {e.reviewed_on}")
        return 0
    if args.corpus_cmd == "unvet":
        unvet(settings.corpus_dir, args.ids)
        print(f"removed {', '.join(args.ids)} from the manifest")
        return 0
    return 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="guide",
        description="Recovery Guide: answers about peer support and recovery options from a vetted corpus.",
        epilog="In crisis? Call or text 988 (US/Canada) or call 911. Settings also come from GUIDE_* variables.",
    )
    from guide import __version__

    parser.add_argument("--version", action="version", version=f"guide {__version__}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--data-dir", help="where the index, feedback and runs live (GUIDE_DATA_DIR)")
    common.add_argument("--corpus", metavar="DIR", help="corpus directory (GUIDE_CORPUS_DIR)")
    common.add_argument("--chroma-url", help="http://host:port of a Chroma server (GUIDE_CHROMA_URL)")
    common.add_argument("--reranker", choices=["cross-encoder", "none", "fake"],
                        help="cross-encoder (default: the packaged ms-marco MiniLM reads question and passage together), "
                             "none (fused order, cosine sentence choice) or fake (word overlap, for tests)")
    common.add_argument("--embedding-model", help="packaged:all-MiniLM-L6-v2:int8 (default), packaged:all-MiniLM-L6-v2 (float32) or hash:384")
    common.add_argument("--region", help="crisis resources region: US, CA, UK (GUIDE_REGION)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("ingest", parents=[common], help="build or update the search index from the vetted corpus")
    p.add_argument("--rebuild", action="store_true", help="drop the index and embed everything again")
    p.set_defaults(func=cmd_ingest)

    p = sub.add_parser("search", parents=[common], help="search the corpus (no answer composition)")
    p.add_argument("query")
    p.add_argument("--k", type=int, default=5)
    p.add_argument("--mode", choices=MODES)
    p.add_argument("--json", action="store_true", help="print a JSON list, best first")
    p.set_defaults(func=cmd_search)

    p = sub.add_parser("corpus", help="check and vet corpus documents")
    csub = p.add_subparsers(dest="corpus_cmd", metavar="ACTION", required=True)
    c = csub.add_parser("check", parents=[common], help="validate documents, URLs, ids and the vetting manifest")
    c.add_argument("--json", action="store_true")
    c = csub.add_parser("vet", parents=[common], help="record a review of documents after an edit")
    c.add_argument("ids", nargs="*")
    c.add_argument("--reviewer", required=True)
    c.add_argument("--all", action="store_true", help="vet every document (initial import only)")
    c = csub.add_parser("unvet", parents=[common], help="remove documents from the manifest")
    c.add_argument("ids", nargs="+")
    p.set_defaults(func=cmd_corpus)

    for module in commands():
        before = set(sub.choices)
        module.add_parser(sub, common)
        for added in set(sub.choices) - before:
            sub.choices[added].set_defaults(command_module=module)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    import os

    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 0
    from guide.errors import GuideError

    try:
        if hasattr(args, "func"):
            return int(args.func(args) or 0)
        return int(args.command_module.run(args, settings_from(args)) or 0)
    except GuideError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:  # the last line of defence: a clear line, never a traceback
        if os.environ.get("GUIDE_DEBUG") == "1":
            raise
        print(f"unexpected error ({type(exc).__name__}): {exc}. Re-run with GUIDE_DEBUG=1 for details.", file=sys.stderr)
        return 1


__all__ = ["build_parser", "main", "settings_from", "tqdm_progress"]
