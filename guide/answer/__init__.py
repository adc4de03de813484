"""Writing the answer: the Composer seam (composer), the default extractive composer (extractive), the optional
LLM composer (guide.answer.llm) and the retrieval query for a turn (query)."""

from guide.answer.composer import Composer, Composition, FallbackComposer, cited_numbers, not_covered_text
from guide.answer.extractive import AnswerPolicy, ExtractiveComposer, ExtractiveComposers, answerability, confidence_of
from guide.answer.query import FollowupResolver, LLMRewriter, QueryRewriter, ResolvedQuery, is_followup, resolve_query

__all__ = [
    "AnswerPolicy", "Composer", "Composition", "ExtractiveComposer", "ExtractiveComposers", "FallbackComposer",
    "FollowupResolver", "LLMRewriter", "QueryRewriter", "ResolvedQuery", "answerability", "cited_numbers",
    "confidence_of", "is_followup", "not_covered_text", "resolve_query",
]
