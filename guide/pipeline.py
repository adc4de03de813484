"""The one call the CLI, the app and the evaluations all use: history + new turn → a typed Answer.

Order: input cleaning → crisis check (fails closed) → scope guard → history-aware query → retrieval →
compose → output check. Every stage is timed. Nothing after the crisis check runs on a crisis turn.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Protocol

from guide.compose import (
    Composition,
    answer_setup,
    answerability,
    crosslingual_setup,
    cited_numbers,
    compose_extractive,
    not_covered_text,
)
from guide.errors import GuideError, IndexNotBuiltError, StoreUnavailableError
from guide.followup import resolve_query
from guide.types import Answer, Citation, Resource, SafetyVerdict, Turn

if TYPE_CHECKING:
    from guide.config import Settings
    from guide.retrieval.index import Retriever
    from guide.types import Hit

log = logging.getLogger("guide.pipeline")
#: The crisis check sees at most this much of a message (head and tail), so a 1 MB paste stays fast.
SAFETY_WINDOW_CHARS = 20_000
AUDIENCES = ("newcomer", "family", "staff")
#: Words that put a distressed message inside what the guide is for (then it gets the check-in line and an answer).
_RECOVERY_TOPIC = (r"\b(drink\w*|drunk|alcohol\w*|sober\w*|sobriety|recover\w*|relaps\w*|addict\w*|using|drugs?|"
                   r"meth|opioids?|heroin|fentanyl|cocaine|meetings?|sponsor|treatment|detox|rehab|craving\w*|"
                   r"famil\w*|beber|bebe|droga\w*|adicci\w*|recaida|reunion\w*|boire|alcool|drogue\w*|"
                   r"sevrage|rechute)\b")
#: How long a turn waits for another thread's index rebuild before searching anyway (the shipped corpus takes ~15 s).
HEAL_WAIT_S = 120.0
#: A follow-up is searched as resolved (with the earlier turns) and as typed; the message alone wins when its best
#: passage's cross-encoder logit is at least this much higher (chosen on the dev multi-turn cases: 0, 1 and 2 scored
#: 64, 65 and 65 of 79, against 62 without the second search; docs/evaluation.md)
STANDALONE_MARGIN = 1.0


class Composer(Protocol):
    """Writes an answer from retrieved hits; the extractive composer is the default, an LLM is optional."""

    name: str

    def compose(self, query: str, hits: Sequence[Any], *, audience: str, history: Sequence[Turn]) -> Composition: ...


@dataclass(frozen=True)
class CleanInput:
    text: str
    safety_text: str
    truncated: bool
    removed_control: bool


def clean_input(message: str, max_chars: int) -> CleanInput:
    """Drop NUL/control characters (keeping newlines), collapse whitespace, and cut to max_chars."""
    if not isinstance(message, str):
        message = str(message)
    removed = False
    chars = []
    for ch in message:
        if ch in "\n\t" or ch.isprintable():
            chars.append(ch)
        else:
            removed = True
            chars.append(" ")
    text = " ".join("".join(chars).split())
    safety_text = text if len(text) <= SAFETY_WINDOW_CHARS else text[: SAFETY_WINDOW_CHARS // 2] + " " + text[-SAFETY_WINDOW_CHARS // 2:]
    return CleanInput(text=text[:max_chars], safety_text=safety_text, truncated=len(text) > max_chars, removed_control=removed)


class _Timer:
    def __init__(self) -> None:
        self.timings: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.timings[name] = round((time.perf_counter() - t0) * 1000, 3)


class Pipeline:
    """Answers one user turn at a time; stateless between calls (the caller keeps the history)."""

    def __init__(
        self,
        settings: "Settings",
        retriever: "Retriever",
        *,
        checker: Any = None,
        llm_composer: Composer | None = None,
    ) -> None:
        from guide import safety

        self.settings = settings
        self.retriever = retriever
        self.checker = checker if checker is not None else safety.default_checker(settings.safety_classifier)
        self.llm_composer = llm_composer
        self.scorer, self.policy = answer_setup(settings, retriever)
        self.other_scorer, self.other_policy = crosslingual_setup(settings, retriever)  # languages other than English
        self.retriever_scored = retriever  # the retriever the scorer was set up for (a rebuild swaps both)
        self._titles = sorted({c.title for c in retriever.chunks.values()})
        self._subjects = self._known_subjects()
        self._lock = threading.Lock()
        #: Clear while one thread reopens or rebuilds the index: others wait instead of searching a half-built store.
        self._ready = threading.Event()
        self._ready.set()

    def _known_subjects(self) -> list[str]:
        subjects = set()
        for title in self._titles:
            subjects.add(title.lower())
            subjects.add(title.split("(")[0].strip().lower())
        subjects |= {"aa", "na", "ca", "smart", "smart recovery", "al-anon", "alanon", "alateen", "nar-anon", "craft",
                     "lifering", "methadone", "buprenorphine", "suboxone", "naltrexone", "naloxone", "narcan",
                     "sober living", "detox", "rehab", "iop", "celebrate recovery", "recovery dharma"}
        return sorted(subjects)

    # ---------------------------------------------------------------- public API
    def answer(self, history: Sequence[Turn], message: str, audience: str = "newcomer") -> Answer:
        """The whole pipeline for one turn. Never raises for user input; fails closed on safety errors."""
        from guide import safety

        audience = audience if audience in AUDIENCES else "newcomer"
        timer = _Timer()
        with timer.stage("input"):
            cleaned = clean_input(message, self.settings.max_message_chars)
        region = self.settings.region
        with timer.stage("safety"):
            verdict: SafetyVerdict = safety.guarded_check(self.checker, cleaned.safety_text, history)
        pinned = self._pinned_resources(history)
        if verdict.route == "crisis":
            reply = safety.crisis_reply(verdict.category, language=verdict.language, region=region)
            return Answer(route="crisis", text=reply.text, resources=reply.resources, safety=verdict,
                          audience=audience, query=cleaned.text, pinned_crisis=True, timings_ms=timer.timings)
        if verdict.route == "checkin" and not self._also_asks(cleaned.text):
            return self._checkin(verdict, audience, cleaned, pinned, bool(pinned), timer)
        if not cleaned.text:
            return Answer(route="decline", decline_kind="empty", safety=verdict, audience=audience,
                          text="Please type a question, for example: what happens at a first AA meeting?",
                          resources=pinned, pinned_crisis=bool(pinned), timings_ms=timer.timings)
        with timer.stage("scope"):
            scope = safety.guarded_scope_check(cleaned.text, history, region=region)
        side = self._side_resources(verdict, pinned, region)
        notice = self._notice(cleaned, verdict)
        if not scope.allowed:
            return Answer(route="decline", decline_kind=scope.kind, text=scope.reply or "", safety=verdict,
                          audience=audience, query=cleaned.text, resources=side, pinned_crisis=bool(pinned),
                          notice=notice, timings_ms=timer.timings)
        if any("injection" in r for r in scope.reasons):
            # the injected instructions are ignored: retrieval searches only what is left of the question
            cleaned = replace(cleaned, text=safety.strip_injection(cleaned.text) or cleaned.text)
        try:
            return self._grounded_answer(history, cleaned, audience, verdict, side, notice, bool(pinned), timer)
        except (StoreUnavailableError, IndexNotBuiltError) as exc:
            return self._healed(exc, history, cleaned, audience, verdict, side, notice, pinned, timer)
        except GuideError as exc:
            log.warning("Retrieval failed: %s", type(exc).__name__)
            return self._trouble(verdict, audience, side, pinned, timer, str(exc))
        except Exception as exc:  # noqa: BLE001 - the user sees a kind message and resources, never a traceback
            # the exception text may quote the message, and conversations are not logged: type only (traceback at DEBUG)
            log.error("Pipeline failure (%s)", type(exc).__name__)
            log.debug("Pipeline failure details", exc_info=True)
            return self._trouble(verdict, audience, side, pinned, timer, None)

    def stream(self, history: Sequence[Turn], message: str, audience: str = "newcomer") -> Iterator[str | Answer]:
        """Yield the answer text in small pieces (for st.write_stream), then the full Answer last.

        The answer is composed and checked before the first piece is shown, so nothing unchecked streams."""
        answer = self.answer(history, message, audience)
        words = answer.text.split(" ")
        for i in range(0, len(words), 4):
            yield " ".join(words[i:i + 4]) + (" " if i + 4 < len(words) else "")
        yield answer

    # ---------------------------------------------------------------- stages
    def _also_asks(self, text: str) -> bool:
        """Does a distressed message also ask or talk about something the guide covers ("…, does SMART help?",
        "I'm so burned out from worrying about my son's addiction")? Then the check-in line comes first and the
        answer after it (if the materials cover it); otherwise the check-in is the whole reply."""
        import re

        lowered = text.lower()
        if re.search(_RECOVERY_TOPIC, lowered):
            return True
        return any(re.search(rf"(?<![\w-]){re.escape(s)}(?![\w-])", lowered) for s in self._subjects)

    def _checkin(self, verdict: SafetyVerdict, audience: str, cleaned: CleanInput, resources: tuple[Resource, ...],
                 pinned: bool, timer: "_Timer") -> Answer:
        """The fixed check-in for distress: no retrieval passage, the suicide lines first, an invitation to talk."""
        from guide import safety

        reply = safety.checkin_reply(language=verdict.language, region=self.settings.region)
        return Answer(route="checkin", text=reply.text, resources=_merge(resources, reply.resources), safety=verdict,
                      audience=audience, query=cleaned.text, pinned_crisis=pinned, timings_ms=timer.timings)

    def _healed(self, exc, history, cleaned, audience, verdict, side, notice, pinned, timer) -> Answer:
        """Self-healing: the index failed (files deleted or damaged, a server restarted empty), so reopen or rebuild
        it once (one thread does it, the others wait) and retry this turn; else the kind error reply."""
        from guide.retrieval.index import reopen_retriever

        failed = self.retriever
        log.warning("The index failed (%s); reopening or rebuilding it once.", type(exc).__name__)
        try:
            with self._lock:
                if self.retriever is failed:
                    self._ready.clear()
                    try:
                        self.retriever = reopen_retriever(self.settings, failed)
                    finally:
                        self._ready.set()
            return self._grounded_answer(history, cleaned, audience, verdict, side, notice, bool(pinned), timer)
        except Exception as again:  # noqa: BLE001 - the user sees the kind reply, never a traceback
            log.warning("Reopening the index did not help (%s).", type(again).__name__)
            return self._trouble(verdict, audience, side, pinned, timer, str(again) if isinstance(again, GuideError) else None)

    def _index_files_missing(self) -> bool:
        """An embedded index whose files vanished mid-session still answers from memory; notice it to rebuild."""
        from guide.retrieval.store import ChromaStore

        if self.settings.chroma_url is not None or not isinstance(self.retriever.store, ChromaStore):
            return False
        return not (self.settings.chroma_path / "chroma.sqlite3").exists()

    def _search(self, query: str, language: str = "en") -> "tuple[Retriever, list[Hit]]":
        """Hits from the current index, and that index. A search that overlapped a rebuild by another thread may
        have read a half-built store, so it waits for the rebuild (bounded) and searches the new index again."""
        k, mode = max(self.settings.top_k, 6), self.settings.retrieval_mode
        self._ready.wait(HEAL_WAIT_S)
        retriever = self.retriever
        english = language == "en"
        hits = retriever.search(query, k=k, mode=mode, rerank=english, language=language)
        if not self._ready.is_set() or self.retriever is not retriever:
            self._ready.wait(HEAL_WAIT_S)
            retriever = self.retriever
            hits = retriever.search(query, k=k, mode=mode, rerank=english, language=language)
        return retriever, hits

    def _grounded_answer(self, history, cleaned, audience, verdict, side, notice, pinned, timer) -> Answer:
        from guide import safety

        if self._index_files_missing():
            raise IndexNotBuiltError("The index files were removed while the guide was running.")

        with timer.stage("query"):
            resolved = resolve_query(cleaned.text, history, self._subjects)
            rewrite = getattr(self.llm_composer, "rewrite_query", None)
            if resolved.followup and rewrite is not None:  # the LLM resolves references; it falls back itself
                resolved = replace(resolved, text=rewrite(history, cleaned.text, self._subjects),
                                   reason=f"{resolved.reason} (LLM rewrite)")
        # the cross-encoder reads English only: other languages are searched and scored with the multilingual encoder
        english = verdict.language == "en"
        with timer.stage("retrieve"):
            retriever, hits = self._search(resolved.text, language=verdict.language)
            if resolved.followup and english:
                # a short message after earlier turns may be a new question ("what counts as one standard drink?"
                # after AA talk): the message alone wins when its best passage scores clearly higher
                retriever, alone = self._search(cleaned.text, language=verdict.language)
                if answerability(alone) >= answerability(hits) + STANDALONE_MARGIN:
                    hits = alone
                    resolved = replace(resolved, text=cleaned.text, followup=False,
                                       reason=f"{resolved.reason}; the message alone scored higher")
        with timer.stage("compose"):
            composition, composer = None, "extractive"
            if self.llm_composer is not None:
                composition = self._try_llm(resolved.text, hits, audience, history)
                composer = self.llm_composer.name if composition is not None else "extractive-fallback"
            if composition is None:
                if retriever is not self.retriever_scored:
                    self.retriever_scored = retriever
                    self.scorer, self.policy = answer_setup(self.settings, retriever)
                    self.other_scorer, self.other_policy = crosslingual_setup(self.settings, retriever)
                scorer, policy = (self.scorer, self.policy) if english else (self.other_scorer, self.other_policy)
                composition = compose_extractive(resolved.text, hits, scorer=scorer, policy=policy,
                                                 audience=audience, retriever=retriever)
        with timer.stage("output_check"):
            composition = self._checked(composition, safety)
        if not composition.covered and verdict.route == "checkin":
            return self._checkin(verdict, audience, cleaned, side, pinned, timer)
        if verdict.route == "checkin":
            composition = replace(composition, text=safety.checkin_lead(verdict.language) + "\n\n" + composition.text)
        if not composition.covered:
            nearest = [h.chunk.title for h in hits[:3]]
            samhsa = tuple(r for r in safety.always_visible(self.settings.region) if "samhsa" in r.id) \
                or safety.always_visible(self.settings.region)
            return Answer(route="answer", text=not_covered_text(nearest), safety=verdict, audience=audience,
                          query=resolved.text, confidence=composition.confidence, composer=composer,
                          resources=_merge(side, samhsa), notice=notice, pinned_crisis=pinned,
                          timings_ms=timer.timings)
        return Answer(route="answer", text=composition.text, citations=composition.citations, safety=verdict,
                      audience=audience, query=resolved.text, confidence=composition.confidence, composer=composer,
                      resources=side, notice=notice, pinned_crisis=pinned, timings_ms=timer.timings)

    def _try_llm(self, query, hits, audience, history) -> Composition | None:
        try:
            return self.llm_composer.compose(query, hits, audience=audience, history=history)  # type: ignore[union-attr]
        except Exception as exc:  # noqa: BLE001 - any LLM trouble falls back to extractive
            log.warning("LLM composer failed (%s); using the extractive composer.", type(exc).__name__)
            return None

    def _checked(self, composition: Composition, safety: Any) -> Composition:
        """Output check: no doses or method details, and every [n] resolves to a real corpus document."""
        if not composition.covered:
            return composition
        verdict = safety.output_check(composition.text)
        known_docs = getattr(self.retriever, "doc_ids", None) or {c.doc_id for c in self.retriever.chunks.values()}
        numbers = {c.n for c in composition.citations}
        cites_ok = cited_numbers(composition.text) <= numbers and all(c.doc_id in known_docs for c in composition.citations)
        if verdict.ok and cites_ok and composition.citations:
            return composition
        kinds = ", ".join(p.split(":")[0] for p in verdict.problems)  # the kinds only: no answer text in the log
        log.warning("Output check rejected a composed answer: %s", kinds or "citations")
        return Composition(text="", body="", citations=(), confidence=composition.confidence, covered=False)

    # ---------------------------------------------------------------- resources
    def _pinned_resources(self, history: Sequence[Turn]) -> tuple[Resource, ...]:
        """Once a conversation had a crisis turn, its resources stay attached to every later reply."""
        from guide import safety

        crisis_turns = [t for t in history if t.crisis]
        if not crisis_turns:
            return ()
        category = crisis_turns[-1].crisis_category
        return safety.crisis_reply(category, region=self.settings.region).resources

    def _side_resources(self, verdict: SafetyVerdict, pinned: tuple[Resource, ...], region: str) -> tuple[Resource, ...]:
        from guide import safety

        extra: tuple[Resource, ...] = ()
        if verdict.route == "caution":
            extra = safety.caution_resources(verdict.category, region)
        elif verdict.route == "checkin":
            extra = safety.checkin_reply(language=verdict.language, region=region).resources
        return _merge(pinned, extra)

    @staticmethod
    def _notice(cleaned: CleanInput, verdict: SafetyVerdict) -> str | None:
        notes = []
        if cleaned.truncated:
            notes.append("Your message was very long, so I used the first part of it.")
        if verdict.route == "caution":
            notes.append("If things get harder, the help lines below are free, confidential and open 24/7.")
        return " ".join(notes) or None

    def _trouble(self, verdict, audience, side, pinned, timer, detail: str | None) -> Answer:
        from guide import safety

        text = ("Sorry, I couldn't search the vetted materials just now, so I can't answer this yet. "
                "Please try again in a moment.")
        if detail and "ingest" in detail:
            text += " (The search index needs rebuilding: run `guide ingest`.)"
        resources = _merge(side, safety.always_visible(self.settings.region))
        return Answer(route="decline", decline_kind="error", text=text, safety=verdict, audience=audience,
                      resources=resources, pinned_crisis=bool(pinned), timings_ms=timer.timings)


def _merge(*groups: Sequence[Resource]) -> tuple[Resource, ...]:
    seen: dict[str, Resource] = {}
    for group in groups:
        for r in group:
            seen.setdefault(r.id, r)
    return tuple(seen.values())


def build_pipeline(settings: "Settings", progress: Any = None) -> Pipeline:
    """Open (building on first run) the index and wire the pipeline, with the optional LLM if configured."""
    from guide.retrieval.index import open_retriever

    retriever, _ = open_retriever(settings, progress=progress)
    llm = None
    if settings.llm:
        from guide.llm import make_llm_composer

        llm = make_llm_composer(settings, retriever)
    return Pipeline(settings, retriever, llm_composer=llm)


def history_after(history: Sequence[Turn], message: str, answer: Answer) -> list[Turn]:
    """The conversation with this exchange appended (what callers keep between turns)."""
    return [*history, Turn(role="user", text=message), answer.as_turn()]


__all__ = ["Pipeline", "build_pipeline", "history_after", "clean_input", "Citation"]
