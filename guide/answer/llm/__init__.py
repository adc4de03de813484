"""The optional LLM composer, split into the chat client, the grounding check, the prompts and the composer.
LangChain is imported only when a model is built or called, so importing this stays fast. See docs/llm.md."""

from guide.answer.llm.client import ChatClient, LLMSpec, parse_llm_spec
from guide.answer.llm.composer import LLMComposer, make_llm_composer
from guide.answer.llm.grounding import SUPPORT_MIN_COSINE, SUPPORT_MIN_OVERLAP, GroundingReport, check_grounding
from guide.answer.llm.prompts import NOT_COVERED

__all__ = ["ChatClient", "GroundingReport", "LLMComposer", "LLMSpec", "NOT_COVERED", "SUPPORT_MIN_COSINE",
           "SUPPORT_MIN_OVERLAP", "check_grounding", "make_llm_composer", "parse_llm_spec"]
