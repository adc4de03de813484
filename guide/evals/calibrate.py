"""Print the confidence-threshold table of docs/calibration.md for the current corpus and model.

Usage: python -m guide.evals.calibrate   (uses GUIDE_* settings; builds the index if needed)
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence

from guide.answer import confidence_of

THRESHOLDS = (0.25, 0.30, 0.35, 0.40, 0.45, 0.50)


def threshold_table(covered: Sequence[float], uncovered: Sequence[float],
                    thresholds: Sequence[float] = THRESHOLDS) -> list[tuple[float, float, float]]:
    """(threshold, share of covered refused, share of uncovered answered) for each candidate threshold."""
    rows = []
    for t in thresholds:
        refused = sum(c < t for c in covered) / len(covered) if covered else 0.0
        answered = sum(u >= t for u in uncovered) / len(uncovered) if uncovered else 0.0
        rows.append((t, refused, answered))
    return rows


def main() -> int:
    from guide.config import load_settings
    from guide.evals.cases import RetrievalCase, load_cases
    from guide.evals.markdown import markdown_table
    from guide.retrieval.index import open_retriever

    settings = load_settings()
    retriever, _ = open_retriever(settings)
    cases = [c for c in load_cases(settings.evals_dir / "retrieval", RetrievalCase) if c.language == "en"]
    covered = [confidence_of(retriever.search(c.query, k=6)) for c in cases]
    path = settings.evals_dir / "calibration" / "uncovered.jsonl"
    queries = [json.loads(line)["query"] for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    uncovered = [confidence_of(retriever.search(q, k=6)) for q in queries]
    current = lambda t: " (current)" if abs(t - settings.min_confidence) < 1e-9 else ""  # noqa: E731
    print(markdown_table(["threshold", f"covered refused (n={len(covered)})", f"uncovered answered (n={len(uncovered)})"],
                         [(f"{t:.2f}{current(t)}", f"{refused:.1%}", f"{answered:.0%}")
                          for t, refused, answered in threshold_table(covered, uncovered)]))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
