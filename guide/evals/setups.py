"""Set-ups to compare side by side: YAML files of Settings overrides (`guide eval --compare-config A.yaml B.yaml`,
the staff page's two set-up pickers), and running one suite under both in one run.

A set-up file is a mapping of guide.config.Settings fields to values, plus an optional `label`:

    label: reranker off
    reranker: none
    top_k: 8

Unknown keys and bad values are refused with the file, the key and the fix. A set-up that changes how the index
is built (chunk size or overlap, the embedding model) gets its own collection, named by those settings, so it
never rebuilds, or answers from, the index the current settings (and the app) use.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from guide.errors import InputError

if TYPE_CHECKING:
    from guide.config import Settings
    from guide.evals.report import RunReport
    from guide.evals.runner import EvalOptions, EvalProgress
    from guide.pipeline import Pipeline

#: Where the staff page looks for set-up files (under the evals dir).
SETUPS_DIR = "setups"
CURRENT = "current settings"
#: Settings that shape the index itself: a set-up changing one of them needs a collection of its own.
INDEX_SETTINGS = ("chunk_size", "chunk_overlap", "embedding_model")
#: Answered once, untimed, by each set-up's pipeline before its cases (see run_setups).
WARM_UP_QUESTION = "What is a support group?"


@dataclass(frozen=True)
class Setup:
    """A named set of Settings overrides; no overrides is the current settings."""

    label: str = CURRENT
    overrides: Mapping[str, Any] = field(default_factory=dict)
    source: str = ""

    def apply(self, settings: "Settings") -> "Settings":
        """The settings under this set-up; an index-shaping change also moves to that index's own collection."""
        configured = settings.with_overrides(**dict(self.overrides))
        if "collection" in self.overrides or not index_changes(settings, configured):
            return configured
        return configured.with_overrides(collection=index_collection(settings, configured))


def index_changes(settings: "Settings", configured: "Settings") -> list[str]:
    """The index-shaping settings that differ between the two."""
    return [k for k in INDEX_SETTINGS if getattr(settings, k) != getattr(configured, k)]


def index_collection(settings: "Settings", configured: "Settings") -> str:
    """The collection for an index built another way: the base name, the chunking, and a short hash of the
    embedding model when that changed (Chroma names allow letters, digits, '.', '_' and '-')."""
    import hashlib

    name = f"{settings.collection}-c{configured.chunk_size}-o{configured.chunk_overlap}"
    if configured.embedding_model != settings.embedding_model:
        name += "-e" + hashlib.sha256(configured.embedding_model.encode()).hexdigest()[:8]
    return name


def parse_setup(data: Any, source: str, settings: "Settings | None" = None) -> Setup:
    """Validate a set-up mapping against the Settings fields (and, given settings, the values too)."""
    from pydantic import ValidationError

    from guide.config import Settings

    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise InputError(f"{source}: a set-up is a mapping of settings such as `reranker: none`, "
                         f"not a {type(data).__name__}.")
    label = str(data.get("label") or Path(source).stem or "set-up")
    overrides = {k: v for k, v in data.items() if k != "label"}
    fields = Settings.model_fields
    unknown = [k for k in overrides if k not in fields]
    if unknown:
        raise InputError(f"{source}: {unknown[0]!r} is not a setting. Use one of: {', '.join(sorted(fields))} "
                         "(and an optional label).")
    if settings is not None:
        try:
            configured = settings.with_overrides(**overrides)
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(map(str, err["loc"])) or "settings"
            raise InputError(f"{source}: {where}: {err['msg']} (got {overrides.get(where)!r}).") from None
        changed = index_changes(settings, configured)
        if changed and "collection" in overrides and configured.collection == settings.collection:
            raise InputError(f"{source}: {', '.join(changed)} changes how the index is built, but `collection` is "
                             f"the current one ({settings.collection!r}): the run would rebuild the index the app "
                             "uses. Remove the `collection` line (the set-up then gets its own) or name another.")
    return Setup(label=label, overrides=overrides, source=source)


def load_setup(path: Path, settings: "Settings | None" = None) -> Setup:
    """A set-up from a YAML file; errors name the file and what to fix."""
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"Set-up file {path} does not exist.") from None
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise InputError(f"{path} is not valid YAML ({str(exc).splitlines()[0]}).") from None
    return parse_setup(data, str(path), settings)


def available_setups(evals_dir: Path) -> list[Path]:
    """The set-up files the staff page offers (<evals dir>/setups/*.yaml)."""
    directory = evals_dir / SETUPS_DIR
    return sorted(p for p in directory.glob("*.y*ml")) if directory.is_dir() else []


def run_setups(
    settings: "Settings", options: "EvalOptions", a: Setup, b: Setup, *,
    pipeline_for: Callable[["Settings"], "Pipeline"] | None = None,
    progress: "EvalProgress | None" = None, run_id: str | None = None, index_progress: Any = None,
) -> "RunReport":
    """Run the same suites under set-up A and set-up B; the report is A's with B's answers side by side."""
    from guide.evals.compare import compare_setups
    from guide.evals.runner import run_eval

    from guide.pipeline import build_pipeline

    reports = []
    for offset, setup in enumerate((a, b)):
        configured = setup.apply(settings)

        def step(suite: str, done: int, total: int, offset: int = offset, label: str = "AB"[offset]) -> None:
            if progress:
                progress(f"set-up {label}: {suite}", done + offset * total, 2 * total)

        pipeline = pipeline_for(configured) if pipeline_for is not None else \
            build_pipeline(configured, progress=index_progress)
        # one untimed answer first: the first query of a fresh pipeline pays for opening the index and loading
        # the models (seconds), which would otherwise land on A's first case and make A look slower than B
        pipeline.answer([], WARM_UP_QUESTION, "newcomer")
        reports.append(run_eval(configured, options, pipeline=pipeline, progress=step, run_id=run_id))
    ra, rb = reports
    return ra.model_copy(update={"setups": compare_setups(ra, rb, a, b)})
