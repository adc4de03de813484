"""The one call the CLI, the app and the evaluations all use: history + new turn → a typed Answer.

Order: read the turn once (guide.turn) → crisis check (fails closed) → check-in → scope guard → history-aware
query → retrieval → compose (a FallbackComposer: the LLM if configured, else or then extractive; every composition
passes the output and citation checks once). Every stage is timed. Nothing after the crisis check runs on a crisis.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from functools import partial
from typing import TYPE_CHECKING, TypeVar

from guide.answer import (
    Composer,
    Composition,
    ExtractiveComposers,
    FallbackComposer,
    FollowupResolver,
    LLMRewriter,
    QueryRewriter,
    answerability,
    cited_numbers,
    not_covered_text,
)
from guide.answer.llm import LLMComposer, make_llm_composer
from guide.errors import GuideError, IndexNotBuiltError, StoreUnavailableError
from guide.safety import (
    always_visible,
    caution_resources,
    checkin_lead,
    checkin_reply,
    crisis_reply,
    default_checker,
    guarded_check,
    guarded_scope_check,
    output_check,
)
from guide.turn import TurnContext, read_turn
from guide.types import Answer, Citation, DeclineKind, Resource, Route, SafetyVerdict, Turn

if TYPE_CHECKING:
    from guide.config import Settings
    from guide.retrieval.index import Retriever
    from guide.retrieval.index import Progress
    from guide.safety.detector import CrisisChecker
    from guide.types import Hit

log = logging.getLogger("guide.pipeline")
T = TypeVar("T")
R = TypeVar("R")
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


class _Timer:
    """Milliseconds per stage. A stage inside another (the output check inside compose) counts only in its own,
    so the stages add up to the turn's latency."""

    def __init__(self) -> None:
        self.timings: dict[str, float] = {}
        self._inner: list[float] = []

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        t0 = time.perf_counter()
        self._inner.append(0.0)
        try:
            yield
        finally:
            elapsed = time.perf_counter() - t0
            own = elapsed - self._inner.pop()
            if self._inner:
                self._inner[-1] += elapsed
            self.timings[name] = round(self.timings.get(name, 0.0) + own * 1000, 3)

    def timed(self, name: str, fn: Callable[[T], R]) -> Callable[[T], R]:
        def run(arg: T) -> R:
            with self.stage(name):
                return fn(arg)

        return run


class Pipeline:
    """Answers one user turn at a time; stateless between calls (the caller keeps the history)."""

    def __init__(
        self,
        settings: "Settings",
        retriever: "Retriever",
        *,
        checker: "CrisisChecker | None" = None,
        llm_composer: Composer | None = None,
        rewriter: QueryRewriter | None = None,
    ) -> None:
        self.settings = settings
        self.retriever = retriever
        self.checker: CrisisChecker = checker if checker is not None else default_checker(settings.safety_classifier)
        self.llm_composer = llm_composer
        self.extractive = ExtractiveComposers.build(settings, retriever)  # rebuilt when a rebuild swaps the retriever
        self._titles = sorted({c.title for c in retriever.chunks.values()})
        self._subjects = self._known_subjects()
        resolver = FollowupResolver(tuple(self._subjects))  # an LLM composer also rewrites follow-ups
        self.rewriter: QueryRewriter = rewriter or (LLMRewriter(llm_composer, resolver)
                                                    if isinstance(llm_composer, LLMComposer) else resolver)
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
        """The whole pipeline for one turn, as one chain: read the turn, crisis check (fails closed), check-in,
        scope guard, grounded answer. Never raises for user input; nothing after the crisis check runs on a crisis."""
        timer = _Timer()
        with timer.stage("input"):
            turn = read_turn(history, message, audience=audience, max_chars=self.settings.max_message_chars,
                             region=self.settings.region)
        with timer.stage("safety"):
            verdict = guarded_check(self.checker, turn.safety_text, turn.history, language=turn.language)
        if verdict.route == "crisis":
            reply = crisis_reply(verdict.category, language=verdict.language, region=turn.region)
            return _answer(turn, verdict, timer, "crisis", reply.text, resources=reply.resources, pinned_crisis=True)
        if verdict.route == "checkin" and not self._also_asks(turn.text):
            return self._checkin(turn, verdict, timer, turn.pinned)
        if not turn.text:
            return _answer(turn, verdict, timer, "decline", "Please type a question, for example: what happens at a "
                           "first AA meeting?", decline_kind="empty", resources=turn.pinned, query="")
        with timer.stage("scope"):
            scope = guarded_scope_check(turn.text, turn.history, region=turn.region, language=turn.language)
        side = self._side_resources(turn, verdict)
        if not scope.allowed:
            return _answer(turn, verdict, timer, "decline", scope.reply or "", decline_kind=scope.kind,
                           resources=side, notice=_notice(turn, verdict))
        turn = turn.with_query(scope.query)  # prompt injection removed: retrieval searches what is left
        try:
            return self._grounded_answer(turn, verdict, side, timer)
        except (StoreUnavailableError, IndexNotBuiltError) as exc:
            return self._healed(exc, turn, verdict, side, timer)
        except GuideError as exc:
            log.warning("Retrieval failed: %s", type(exc).__name__)
            return self._trouble(turn, verdict, side, timer, exc)
        except Exception as exc:  # noqa: BLE001 - the user sees a kind message and resources, never a traceback
            # the exception text may quote the message, and conversations are not logged: type only (traceback at DEBUG)
            log.error("Pipeline failure (%s)", type(exc).__name__)
            log.debug("Pipeline failure details", exc_info=True)
            return self._trouble(turn, verdict, side, timer, exc)

    # ---------------------------------------------------------------- stages
    def _also_asks(self, text: str) -> bool:
        """Does a distressed message also ask or talk about something the guide covers ("…, does SMART help?",
        "I'm so burned out from worrying about my son's addiction")? Then the check-in line comes first and the
        answer after it (if the materials cover it); otherwise the check-in is the whole reply."""
        lowered = text.lower()
        if re.search(_RECOVERY_TOPIC, lowered):
            return True
        return any(re.search(rf"(?<![\w-]){re.escape(s)}(?![\w-])", lowered) for s in self._subjects)

    def _checkin(self, turn: TurnContext, verdict: SafetyVerdict, timer: _Timer,
                 resources: tuple[Resource, ...]) -> Answer:
        """The fixed check-in for distress: no retrieval passage, the suicide lines first, an invitation to talk."""
        reply = checkin_reply(language=verdict.language, region=turn.region)
        return _answer(turn, verdict, timer, "checkin", reply.text, resources=_merge(resources, reply.resources))

    def _healed(self, exc: Exception, turn: TurnContext, verdict: SafetyVerdict, side: tuple[Resource, ...],
                timer: _Timer) -> Answer:
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
            return self._grounded_answer(turn, verdict, side, timer)
        except Exception as again:  # noqa: BLE001 - the user sees the kind reply, never a traceback
            log.warning("Reopening the index did not help (%s).", type(again).__name__)
            return self._trouble(turn, verdict, side, timer, again)

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

    def _grounded_answer(self, turn: TurnContext, verdict: SafetyVerdict, side: tuple[Resource, ...],
                         timer: _Timer) -> Answer:
        if self._index_files_missing():
            raise IndexNotBuiltError("The index files were removed while the guide was running.")

        with timer.stage("query"):
            resolved = self.rewriter.rewrite(turn.query, turn.history)
        # the cross-encoder reads English only: other languages are searched and scored with the multilingual encoder
        with timer.stage("retrieve"):
            retriever, hits = self._search(resolved.text, language=turn.language)
            if resolved.followup and turn.language == "en":
                # a short message after earlier turns may be a new question ("what counts as one standard drink?"
                # after AA talk): the message alone wins when its best passage scores clearly higher
                retriever, alone = self._search(turn.query, language=turn.language)
                if answerability(alone) >= answerability(hits) + STANDALONE_MARGIN:
                    hits = alone
                    resolved = replace(resolved, text=turn.query, followup=False,
                                       reason=f"{resolved.reason}; the message alone scored higher")
        with timer.stage("compose"):
            composition = self._composer(retriever, turn.language, timer).compose(
                resolved.text, hits, audience=turn.audience, history=turn.history)
        if not composition.covered and verdict.route == "checkin":
            return self._checkin(turn, verdict, timer, side)
        if verdict.route == "checkin":
            composition = replace(composition, text=checkin_lead(verdict.language) + "\n\n" + composition.text)
        if not composition.covered:
            nearest = [h.chunk.title for h in hits[:3]]
            visible = always_visible(turn.region)
            samhsa = tuple(r for r in visible if "samhsa" in r.id) or visible
            return _answer(turn, verdict, timer, "answer", not_covered_text(nearest), query=resolved.text,
                           confidence=composition.confidence, composer=composition.composer,
                           resources=_merge(side, samhsa), notice=_notice(turn, verdict))
        return _answer(turn, verdict, timer, "answer", composition.text, citations=composition.citations,
                       query=resolved.text, confidence=composition.confidence, composer=composition.composer,
                       resources=side, notice=_notice(turn, verdict))

    def _composer(self, retriever: "Retriever", language: str, timer: _Timer) -> Composer:
        """The extractive composer for this retriever and language, behind the LLM when one is configured; either
        way every composition passes the output and citation checks once."""
        if self.extractive.retriever is not retriever:  # a rebuild swapped the index: score against the new one
            self.extractive = ExtractiveComposers.build(self.settings, retriever)
        extractive = self.extractive.for_language(language)
        check = timer.timed("output_check", partial(_checked, retriever))
        if self.llm_composer is not None:
            return FallbackComposer(self.llm_composer, extractive, check)
        return FallbackComposer(extractive, None, check)

    # ---------------------------------------------------------------- resources
    def _side_resources(self, turn: TurnContext, verdict: SafetyVerdict) -> tuple[Resource, ...]:
        extra: tuple[Resource, ...] = ()
        if verdict.route == "caution":
            extra = caution_resources(verdict.category, turn.region)
        elif verdict.route == "checkin":
            extra = checkin_reply(language=verdict.language, region=turn.region).resources
        return _merge(turn.pinned, extra)

    def _trouble(self, turn: TurnContext, verdict: SafetyVerdict, side: tuple[Resource, ...], timer: _Timer,
                 error: Exception) -> Answer:
        text = ("Sorry, I couldn't search the vetted materials just now, so I can't answer this yet. "
                "Please try again in a moment.")
        if isinstance(error, GuideError) and error.action == "ingest":
            text += " (The search index needs rebuilding: run `guide ingest`.)"
        return _answer(turn, verdict, timer, "decline", text, decline_kind="error", query="",
                       resources=_merge(side, always_visible(turn.region)))


def _checked(retriever: "Retriever", composition: Composition) -> Composition | None:
    """Output check: no doses or method details, and every [n] resolves to a real corpus document (None: rejected)."""
    verdict = output_check(composition.text)
    known_docs = getattr(retriever, "doc_ids", None) or {c.doc_id for c in retriever.chunks.values()}
    numbers = {c.n for c in composition.citations}
    cites_ok = cited_numbers(composition.text) <= numbers and all(c.doc_id in known_docs for c in composition.citations)
    if verdict.ok and cites_ok and composition.citations:
        return composition
    kinds = ", ".join(p.split(":")[0] for p in verdict.problems)  # the kinds only: no answer text in the log
    log.warning("Output check rejected a composed answer: %s", kinds or "citations")
    return None


def _notice(turn: TurnContext, verdict: SafetyVerdict) -> str | None:
    notes = []
    if turn.truncated:
        notes.append("Your message was very long, so I used the first part of it.")
    if verdict.route == "caution":
        notes.append("If things get harder, the help lines below are free, confidential and open 24/7.")
    return " ".join(notes) or None


def _answer(turn: TurnContext, verdict: SafetyVerdict, timer: _Timer, route: Route, text: str, *,
            resources: Sequence[Resource] = (), citations: Sequence[Citation] = (), query: str | None = None,
            decline_kind: DeclineKind | None = None, pinned_crisis: bool | None = None, confidence: float = 0.0,
            composer: str = "extractive", notice: str | None = None) -> Answer:
    """The one place an Answer is made: what every reply shares comes from the turn, the verdict and the timer."""
    return Answer(route=route, text=text, citations=tuple(citations), resources=tuple(resources), safety=verdict,
                  audience=turn.audience, query=turn.text if query is None else query, decline_kind=decline_kind,
                  pinned_crisis=turn.has_pinned if pinned_crisis is None else pinned_crisis,
                  confidence=confidence, composer=composer, notice=notice, timings_ms=timer.timings)


def _merge(*groups: Sequence[Resource]) -> tuple[Resource, ...]:
    seen: dict[str, Resource] = {}
    for group in groups:
        for r in group:
            seen.setdefault(r.id, r)
    return tuple(seen.values())


def build_pipeline(settings: "Settings", progress: "Progress | None" = None) -> Pipeline:
    """Open (building on first run) the index and wire the pipeline, with the optional LLM if configured."""
    from guide.retrieval.index import open_retriever

    retriever, _ = open_retriever(settings, progress=progress)
    llm = None
    if settings.llm:
        llm = make_llm_composer(settings, retriever)
    return Pipeline(settings, retriever, llm_composer=llm)


__all__ = ["Pipeline", "build_pipeline", "Citation", "Composer"]
