"""The assistant end to end: corpus -> index -> hybrid retrieval -> extractive answer.

`Assistant` wires the stages together and is what the CLI and the UI hold on to. `answer()` is the
one-call public API: it keeps one `Assistant` per distinct settings in a small cache, so the
embedding model and the BM25 index load once per process and later calls are fast.

The answering chain is a LangChain runnable (`Assistant.chain`): condense the question with the
conversation -> retrieve -> compose, so it can be composed or traced like any other chain.

With a generative answerer (`ASSISTANT_ANSWERING__ANSWERER=local|openai|ollama`, or any LangChain
chat model passed as `Assistant(settings, chat_model=...)`), `Assistant.stream` yields the answer's
text as it is generated and then the checked `Answer`; `answer()` returns that final `Answer`. The
decision is the extractive answerer's either way (abstain, correct the question's premise, or
answer): the model writes only the answers. A backend that fails, or that finds no answer in
passages the answerer answered from, falls back to the extractive answer, which says so in
`Answer.fallback`.
"""

from __future__ import annotations

import logging
import math
import re
import threading
import time
from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Literal

from assistant.answering import ExtractiveAnswerer
from assistant.embedding import Embedder
from assistant.errors import BackendError, QuestionError
from assistant.indexing import Indexer, IngestReport
from assistant.questions import is_follow_up, parse, split_compound
from assistant.ranking import Ranking, asks_about_documents
from assistant.records import MARKER, SPACED_MARKER, Answer, Citation, Passage, abstention_text
from assistant.references import Reference
from assistant.retrieval import Retriever, analyse
from assistant.settings import Settings
from assistant.store import ChromaStore

if TYPE_CHECKING:
    from langchain_core.language_models.chat_models import BaseChatModel
    from langchain_core.runnables import Runnable

    from assistant.generation import GenerativeAnswerer
    from assistant.verifying import Grading

logger = logging.getLogger(__name__)

Message = dict[str, str]
# Verbs that ask how something is worded, not what: a part of a question made of them alone asks of the part before.
_WORDING = frozenset(analyse("put say phrase word describe characterise characterize frame"))


@dataclass(frozen=True)
class QuestionContext:
    """The passages retrieved for one question and what the answerer needs to read them."""

    passages: list[Passage]
    query: str  # the question as retrieved (a follow-up folds in the conversation)
    inherited: set[str]  # names and acronyms a follow-up inherits from the conversation
    focus: set[str]  # the sources the conversation was about
    reference: Reference  # the documents the question names

    def answer_arguments(self) -> dict[str, Any]:
        """The keyword arguments of `ExtractiveAnswerer.answer` and `.rank`."""
        return {
            "retrieval_query": self.query,
            "context_critical": self.inherited,
            "focus": self.focus,
            "reference": self.reference,
        }


@dataclass(frozen=True)
class IndexStatus:
    """What the index holds and whether the corpus folder has moved on since."""

    documents: int
    chunks: int
    stale: bool
    added: list[str]
    changed: list[str]
    removed: list[str]
    fingerprint: str
    location: str


def validate_question(question: object, limit: int) -> str:
    """The stripped question, or a `QuestionError` saying what is wrong with it."""
    if not isinstance(question, str):
        raise QuestionError(f"the question must be text, not {type(question).__name__}")
    text = question.strip()
    if not text:
        raise QuestionError("the question is empty: type a question about the documents in the corpus")
    if len(text) > limit:
        raise QuestionError(f"the question is {len(text):,} characters long; the limit is {limit:,}: shorten it")
    return text


def validate_history(history: object) -> list[Message]:
    """The conversation as role/content messages, or a `QuestionError`."""
    if history is None:
        return []
    if not isinstance(history, Sequence) or isinstance(history, str):
        raise QuestionError("history must be a list of {'role': ..., 'content': ...} messages")
    messages: list[Message] = []
    for message in history:
        if not isinstance(message, dict) or not isinstance(message.get("content"), str):
            raise QuestionError("each history message needs a 'role' and a text 'content'")
        role = message.get("role")
        if role not in {"user", "assistant", "system"}:
            raise QuestionError(f"history role must be user, assistant or system, not {role!r}")
        messages.append({"role": str(role), "content": message["content"]})
    return messages


class Assistant:
    """Question answering over one corpus and index. Thread-safe: share one across requests."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        embedder: Embedder | None = None,
        store: ChromaStore | None = None,
        chat_model: BaseChatModel | None = None,
        verifier_model: BaseChatModel | None = None,
    ) -> None:
        self.settings = settings if settings is not None else Settings()
        self.embedder = embedder or Embedder(precision=self.settings.embedding.precision)
        self.store = store or ChromaStore(self.settings.store)
        self.indexer = Indexer(self.settings, self.embedder, self.store)
        self.retriever = Retriever(self.settings.retrieval, self.embedder, self.store)
        self._answerer: ExtractiveAnswerer | None = None
        self._chat_model = chat_model  # any LangChain chat model; else built from the settings on first use
        self._generative: GenerativeAnswerer | None = None
        self._verifier = verifier_model  # checks extractive answers (`answering.verifier`); built on first use
        self._grading: Grading | Literal[False] | None = None  # a local verifier's (None: not yet worked out)
        self._lock = threading.RLock()
        self._skipped: dict[str, tuple[int, int]] = {}  # unreadable files by (size, mtime) seen
        self._generation: str | None = None  # the index generation this process's view was loaded at
        self._checked = -math.inf  # when the corpus folder was last compared with the index (monotonic)

    # --- index ---------------------------------------------------------------------------------

    def ingest(self, *, rebuild: bool = False, progress: bool | None = None) -> IngestReport:
        """Update the index from the corpus folder (see `indexing.Indexer.ingest`)."""
        with self._lock:
            report = self.indexer.ingest(rebuild=rebuild, progress=progress)
            for problem in report.problems:
                path = self.settings.corpus / problem.source
                if path.exists():
                    stat = path.stat()
                    self._skipped[problem.source] = (stat.st_size, stat.st_mtime_ns)
            if report.added or report.updated or report.removed or report.rebuilt:
                self.retriever.refresh()
                self._answerer = None
            if self.indexer.generation:
                self._generation = self.indexer.generation  # our own write: what we hold is current
            return report

    def sync(self) -> bool:
        """Catch up with another process's ingest: True when the index changed since this process looked.

        One small read per call (the index generation, see `store.py`). On a change the manifest,
        the BM25 index and the answerer's sentence data are dropped and read again on use, and an
        embedded store reconnects so its vector search sees the new chunks.
        """
        with self._lock:
            generation = self.store.generation()
            if generation == self._generation:
                return False
            if self._generation is not None:
                self.store.reconnect()
                if generation and self.store.stored_fingerprint() == self.indexer.fingerprint:
                    self.store.open(self.indexer.fingerprint)  # reading needs no ingest of our own
                self.indexer.forget()
                self.retriever.refresh()
                self._answerer = None
            self._generation = generation
            return True

    def status(self) -> IndexStatus:
        """Documents and chunks indexed, and what changed in the corpus folder since."""
        with self._lock:
            corpus = self.indexer.status()
            added = [s for s in corpus.added if not self._skipped_unchanged(s)]
            records = self.indexer.records
            return IndexStatus(
                documents=len(records),
                chunks=sum(r.chunks for r in records.values()),
                stale=bool(added or corpus.changed or corpus.removed or corpus.fingerprint_mismatch),
                added=added,
                changed=corpus.changed,
                removed=corpus.removed,
                fingerprint=self.indexer.fingerprint,
                location=self.store.describe(),
            )

    def _skipped_unchanged(self, source: str) -> bool:
        seen = self._skipped.get(source)
        if seen is None:
            return False
        stat = (self.settings.corpus / source).stat()
        return seen == (stat.st_size, stat.st_mtime_ns)

    def ensure_index(self) -> None:
        """See other processes' changes, then build the index if it is missing, update it if the corpus changed.

        Comparing the folder with the index costs one stat per file (about 20 ms at 5,000 files), so
        it happens at most every `settings.corpus_check_seconds`; other processes' ingests are seen
        at every call (one small read, see `sync`).
        """
        with self._lock:
            self.sync()
            stale = False
            if not self.store.is_open or time.monotonic() - self._checked >= self.settings.corpus_check_seconds:
                stale = self.status().stale
                self._checked = time.monotonic()
            if stale or not self.indexer.records:
                self.ingest()

    @property
    def answerer(self) -> ExtractiveAnswerer:
        """The extractive answerer over the current index."""
        with self._lock:
            if not self.store.is_open:
                self.ensure_index()
            if self._answerer is None:
                self._answerer = ExtractiveAnswerer(
                    self.embedder,
                    self.retriever.lexical,
                    self.settings.answering.max_sentences,
                    sentence_lookup=self.store.sentence_vectors,
                )
            return self._answerer

    # --- answering -----------------------------------------------------------------------------

    def focus(self, history: list[Message]) -> set[str]:
        """The documents the conversation is about.

        Those the last reply quoted, else the best match for the last user question.
        """
        replies = [m["content"] for m in history if m["role"] == "assistant"]
        quotes = [q.strip()[:120] for q in SPACED_MARKER.split(replies[-1]) if len(q.strip()) >= 40] if replies else []
        found = {c.source for c in self.retriever.lexical.chunks if any(q in c.text for q in quotes)}
        if not found:
            asked = [m["content"] for m in history if m["role"] == "user"]
            if asked:
                found = {p.source for p in self._retrieve(asked[-1], k=1)}
        return found

    def condense(self, question: str, history: list[Message]) -> tuple[str, set[str]]:
        """The retrieval query for `question` in this conversation, and the names it inherits.

        A follow-up ("How many patients were in it?") is searched together with the last
        user questions, and inherits their names and acronyms, so "it" stays the same study.
        """
        turns = self.settings.answering.history_turns
        earlier = [m["content"] for m in history if m["role"] == "user"][-turns:] if turns else []
        if not earlier or not is_follow_up(question):
            return question, set()
        previous = earlier[-1]
        critical = parse(previous).critical
        return f"{question} {previous}", critical

    def retrieve(self, query: str, *, k: int | None = None, sources: Sequence[str] | None = None) -> list[Passage]:
        """The best passages for `query` (hybrid retrieval), after catching up with other processes' ingests."""
        self.sync()
        return self._retrieve(query, k=k, sources=sources)

    def _retrieve(self, query: str, *, k: int | None = None, sources: Sequence[str] | None = None) -> list[Passage]:
        """`retrieve` within a question, which has synced once already."""
        if not self.store.is_open:
            self.ensure_index()
        return self.retriever.search(query, k, sources)

    def answer(
        self,
        question: str,
        *,
        history: Sequence[Message] | None = None,
        sources: Sequence[str] | None = None,
        k: int | None = None,
        answerer: str | None = None,
    ) -> Answer:
        """Answer a question from the corpus, with citations, or abstain.

        `answerer` overrides the configured one for this question ("extractive" always works).
        """
        if self.backend(answerer) != "extractive":
            final = None
            for item in self.stream(question, history=history, sources=sources, k=k, answerer=answerer):
                final = item
            if not isinstance(final, Answer):  # pragma: no cover - stream always ends with the Answer
                raise TypeError("the answer stream ended without an Answer")
            return final
        timings: dict[str, float] = {}
        started = time.perf_counter()
        text = validate_question(question, self.settings.answering.max_question_chars)
        messages = validate_history(history)
        self.ensure_index()
        timings["index_check"] = time.perf_counter() - started
        result = self._decide(text, messages, sources, k, timings)[0]
        timings["total"] = time.perf_counter() - started
        result.index_fingerprint = self.indexer.fingerprint
        result.timings = timings
        return result

    def _parts(self, text: str) -> list[str]:
        """The questions in `text`.

        A part that only names a document ("Does aspirin prevent strokes? What does the BBC
        piece think?"), or only asks how the answer is worded ("..., and how does each put it?"),
        stays with the question it qualifies.
        """
        parts = split_compound(text)
        if len(parts) < 2:
            return parts
        names = self.answerer.names
        merged: list[str] = []
        for part in parts:
            reference = names.resolve(part)
            said = set(parse(part).terms) - reference.selectors - reference.nouns
            if merged and not said - _WORDING:
                merged[-1] = f"{merged[-1]} {part}"
            else:
                merged.append(part)
        return merged

    def _decide(
        self,
        text: str,
        messages: list[Message],
        sources: Sequence[str] | None,
        k: int | None,
        timings: dict[str, float],
    ) -> tuple[Answer, tuple[QuestionContext, Ranking] | None]:
        """The extractive answer, and for a single question the passages and ranking it was decided on."""
        parts = self._parts(text)
        if len(parts) > 1:
            # Two questions in one: answer each on its own, then join the answers.
            return combine(text, [self._answer_one(part, messages, sources, k, {})[0] for part in parts]), None
        result, context, ranking = self._answer_one(text, messages, sources, k, timings)
        return result, (context, ranking)

    def _answer_one(
        self,
        text: str,
        messages: list[Message],
        sources: Sequence[str] | None,
        k: int | None,
        timings: dict[str, float],
    ) -> tuple[Answer, QuestionContext, Ranking]:
        mark = time.perf_counter()
        context = self.context(text, messages, sources=sources, k=k)
        timings["retrieve"] = time.perf_counter() - mark
        verifying = self._verifier is not None or self.settings.answering.verifier != "off"
        checker: tuple[BaseChatModel, Grading | None] | None = None
        failure = ""
        if verifying:
            try:
                checker = self._checker()
            except BackendError as exc:
                failure = f"not verified: {exc}"
        # A verifier with a threshold trained for it decides in the answer model's place (verifying.py).
        trained = checker is not None and checker[1] is not None and checker[1].trained
        threshold = -math.inf if trained else self.answerer.scorer.threshold_for(self.settings.answering.caution)
        mark = time.perf_counter()
        arguments = context.answer_arguments()
        ranking = self.answerer.rank(text, context.passages, **arguments)
        result = self.answerer.answer(text, context.passages, threshold=threshold, ranking=ranking, **arguments)
        timings["compose"] = time.perf_counter() - mark
        if verifying and not result.abstained and not result.reason:  # a premise correction is not checked
            if checker is None:
                result.warnings.append(failure)
            else:
                mark = time.perf_counter()
                result = self._verified(result, context.passages, *checker)
                timings["verify"] = time.perf_counter() - mark
        return result, context, ranking

    def _checker(self) -> tuple[BaseChatModel, Grading | None]:
        """The verifier model, and its grading when it is a local model (built on first use).

        Raises `BackendError` when the model cannot be built or, for a local one, started.
        """
        from assistant.supervisor import LocalChat
        from assistant.verifying import local_grading

        with self._lock:
            if self._verifier is None:
                from assistant.llm import build_chat_model

                self._verifier = build_chat_model(self.settings.answering.verifier, self.settings.llm)
            if isinstance(self._verifier, LocalChat) and self._grading is None:
                self._grading = local_grading(self._verifier) or False
                if not (self._grading and self._grading.trained):
                    # Untrained, its verdicts are unmeasured (SmolLM2-135M is no verifier: docs/experiments.md).
                    logger.warning("the verifier %s has no threshold trained for it", self._verifier.model_path)
            return self._verifier, self._grading or None

    def _verified(
        self, result: Answer, passages: list[Passage], model: BaseChatModel, grading: Grading | None
    ) -> Answer:
        """`result`, or an abstention when the verifier model says its quotes do not answer the question.

        The verifier reads the cited spans (not the answer's own words, such as a "No:" before a
        quote). A verifier that fails or gives no verdict leaves the answer as it is, with a warning.
        """
        from assistant.verifying import verify

        try:
            timeout = self.settings.llm.timeout
            supported = verify(model, result.question, result, timeout=timeout, grading=grading)
        except BackendError as exc:
            result.warnings.append(f"not verified: {exc}")
            return result
        if supported is None:
            result.warnings.append("not verified: the verifier gave no yes or no")
        elif not supported:
            result = self.answerer.abstain(
                replace(result, citations=[], passages=passages),
                "the verifier model found that the best passages do not state the answer",
            )
        return result

    def context(
        self,
        text: str,
        messages: list[Message] | None = None,
        *,
        sources: Sequence[str] | None = None,
        k: int | None = None,
        query: str | None = None,
    ) -> QuestionContext:
        """What the answerer gets for one question: its passages, the condensed query and what it names.

        `answer()` uses it; so does training (`evals/train_scorer.py`), which passes the same
        arguments to `ExtractiveAnswerer.rank` to read the features of every candidate sentence; so
        does the generative composer. `query` replaces the condensed question when given.
        The caller makes sure the index is current (`answer()` does, through `ensure_index`).
        """
        messages = messages or []
        condensed, inherited = self.condense(text, messages)
        query = query or condensed  # a generative backend condenses follow-ups with its model
        parsed = parse(text)
        depth = k or self.settings.retrieval.k
        reference = self.answerer.names.resolve(text)
        if not reference and query != text:
            reference = self.answerer.names.resolve(query)  # "it" in a follow-up: the document named before
            reference.nouns = set()  # the question's own words stay: it did not name the document
        if sources:
            reference.sources = [s for s in reference.sources if s in sources]
        if parsed.multi or len(reference.sources) > 1:
            pool = self._retrieve(query, k=depth * 3, sources=reference.sources or sources)
            passages = _spread(pool, depth)
            if asks_about_documents(parsed):
                # "When were these articles published?": the opening (byline, date line) of each of the first
                # `depth` documents in the same pool.
                have = {p.chunk_id for p in passages}
                reached = list(dict.fromkeys(p.source for p in pool))[:depth]
                passages += [p for p in self.retriever.openings(reached) if p.chunk_id not in have]
        else:
            # A question after a number, date or name looks deeper: the sentence holding it may
            # rank below passages that merely share the topic.
            depth = depth * 2 if parsed.answer_type else depth
            passages = self._retrieve(query, k=depth, sources=reference.sources or sources)
            if reference:
                # The named document first, then the rest of the corpus as related reading.
                seen = {p.chunk_id for p in passages}
                passages += [p for p in self._retrieve(query, k=depth, sources=sources) if p.chunk_id not in seen]
        focus = self.focus(messages) if query != text else set()
        return QuestionContext(passages, query, inherited, focus, reference)

    # --- generative answering -------------------------------------------------------------------

    def backend(self, answerer: str | None = None) -> str:
        """The answerer a question gets: `answerer` if given, else the settings' (or "custom" for a chat model)."""
        if answerer:
            return answerer
        configured = self.settings.answering.answerer
        return "custom" if self._chat_model is not None and configured == "extractive" else configured

    def generative(self, backend: str) -> GenerativeAnswerer:
        """The generative answerer of `backend`, built on first use; `BackendError` if it cannot be."""
        from assistant.generation import GenerativeAnswerer
        from assistant.llm import build_chat_model

        with self._lock:
            if self._generative is None or self._generative.name != backend:
                model = self._chat_model
                if model is None or backend != self.backend():
                    model = build_chat_model(backend, self.settings.llm)
                self._generative = GenerativeAnswerer(model, self.settings.llm, name=backend)
            return self._generative

    def stream(
        self,
        question: str,
        *,
        history: Sequence[Message] | None = None,
        sources: Sequence[str] | None = None,
        k: int | None = None,
        answerer: str | None = None,
    ) -> Iterator[str | Answer]:
        """Answer a question as a stream: text deltas as they are generated, then the final `Answer`.

        The deltas are the model's raw text; the final `Answer` is the checked one (markers
        renumbered, unsupported ones removed), so show its text once it arrives. The extractive
        answerer yields its whole text at once. Invalid questions raise before anything is yielded.
        """
        backend = self.backend(answerer)
        if backend == "extractive":
            result = self.answer(question, history=history, sources=sources, k=k, answerer="extractive")
            yield result.text
            yield result
            return
        timings: dict[str, float] = {}
        started = time.perf_counter()
        text = validate_question(question, self.settings.answering.max_question_chars)
        messages = validate_history(history)
        self.ensure_index()
        timings["index_check"] = time.perf_counter() - started
        # One decision, two composers: the extractive answerer decides whether the corpus answers the
        # question and whether its premise holds; the model writes only the answers (README, "Generative
        # answers"). A model that fails, or finds no answer where the answerer found one, leaves the
        # extractive answer in place.
        mark = time.perf_counter()
        decided, basis = self._decide(text, messages, sources, k, {})
        timings["decide"] = time.perf_counter() - mark
        if decided.abstained or decided.reason:
            result = decided
            yield result.text
        else:
            try:
                result = yield from self._generate(backend, text, messages, sources, k, timings, basis)
            except BackendError as exc:
                logger.warning("%s; answering with the extractive answerer", exc)
                result = decided
                result.fallback = f"{exc}; answered by the extractive answerer instead"
                result.warnings.insert(0, result.fallback)
        timings["total"] = time.perf_counter() - started
        result.index_fingerprint = self.indexer.fingerprint
        result.timings = timings
        yield result

    def _generate(  # noqa: PLR0917 - private helper of stream(), called once
        self,
        backend: str,
        text: str,
        messages: list[Message],
        sources: Sequence[str] | None,
        k: int | None,
        timings: dict[str, float],
        basis: tuple[QuestionContext, Ranking] | None = None,
    ) -> Generator[str, None, Answer]:
        from assistant.generation import selected_passages

        generative = self.generative(backend)
        # A follow-up is retrieved with the earlier question; a new question in the same chat as asked.
        # The model reads a follow-up beside the earlier question, or (`llm.rewrite_follow_ups`) first
        # rewrites it, which costs a call and the model's cached instructions (see the README).
        query = self.condense(text, messages)[0]
        asked, earlier = text, ""
        if query != text and self.settings.llm.rewrite_follow_ups:
            mark = time.perf_counter()
            asked = query = generative.condense(text, messages) or query
            timings["condense"] = time.perf_counter() - mark
        elif query != text:
            earlier = [m["content"] for m in messages if m["role"] == "user"][-1]
        mark = time.perf_counter()
        # The same retrieval, document references, spreading and sentence ranking as the extractive
        # composer (the decision's own, `basis`, unless the model rewrote the question); the model reads
        # the passages that hold the best-ranked sentences.
        if basis is not None and basis[0].query == query:
            context, ranking = basis
        else:
            context = self.context(text, messages, sources=sources, k=k, query=query)
            ranking = self.answerer.rank(text, context.passages, **context.answer_arguments())
        passages = selected_passages(
            context.passages,
            ranking.sentences,
            k or self.settings.llm.passages,
            self.settings.llm.passage_tokens or None,
            self.settings.chunking.encoding,
        )
        timings["retrieve"] = time.perf_counter() - mark
        mark = time.perf_counter()
        first = True
        for item in generative.stream(text, passages, standalone_question=asked, earlier=earlier):
            if first:
                timings["first_token"] = time.perf_counter() - mark
                first = False
            if isinstance(item, Answer):
                timings["generate"] = time.perf_counter() - mark
                return item
            yield item
        raise BackendError(f"{generative.where} ended without an answer")  # pragma: no cover

    @property
    def chain(self) -> Runnable[dict[str, Any], Answer]:
        """The answering chain as a LangChain runnable: {"question", "history"?} -> Answer."""
        from langchain_core.runnables import RunnableLambda  # imported here: it costs a cold start 0.4 s

        def run(inputs: dict[str, Any]) -> Answer:
            return self.answer(inputs["question"], history=inputs.get("history"), sources=inputs.get("sources"))

        return RunnableLambda(run, name="cited_answer")


def _spread(pool: list[Passage], k: int) -> list[Passage]:
    """Passages for a question across documents: the best k of `pool`, at most two per document."""
    picked: list[Passage] = []
    per_source: dict[str, int] = {}
    for passage in pool:
        if per_source.get(passage.source, 0) < 2:
            picked.append(passage)
            per_source[passage.source] = per_source.get(passage.source, 0) + 1
        if len(picked) == k:
            break
    return picked


def combine(question: str, parts: list[Answer]) -> Answer:
    """One answer from the answers to the parts of a compound question, citations renumbered."""
    answered = [p for p in parts if not p.abstained]
    if not answered:
        reasons = "; ".join(p.reason for p in parts)
        merged = Answer(question, abstention_text(reasons), True, reason=reasons)
        merged.related = parts[0].related
        merged.passages = [passage for p in parts for passage in p.passages]
        return merged
    texts: list[str] = []
    citations: list[Citation] = []
    for part in parts:
        if part.abstained:
            texts.append(abstention_text(part.reason, part.question))
            continue
        quoted = {(c.source, c.start, c.end) for c in citations}
        if part.citations and all((c.source, c.start, c.end) in quoted for c in part.citations):
            continue  # both parts are answered by the same quotes: say them once
        offset = len(citations)

        def renumber(match: re.Match[str], offset: int = offset) -> str:
            return f"[{int(match.group(1)) + offset}]"

        texts.append(MARKER.sub(renumber, part.text))
        citations += [replace(c, number=c.number + offset) for c in part.citations]
    merged = Answer(question, " ".join(texts), False, citations)
    merged.reason = "; ".join(p.reason for p in parts if p.reason)
    merged.passages = [passage for p in parts for passage in p.passages]
    return merged


@lru_cache(maxsize=4)
def _assistant_for(settings_json: str) -> Assistant:
    return Assistant(Settings.model_validate_json(settings_json))


def get_assistant(settings: Settings | None = None) -> Assistant:
    """The shared `Assistant` for these settings (created on first use, then reused)."""
    settings = settings if settings is not None else Settings()
    # Relative paths mean "from the current directory": resolve them so a later chdir gets its own.
    store = settings.store.model_copy(update={"path": settings.store.path.resolve()})
    settings = settings.model_copy(update={"corpus": settings.corpus.resolve(), "store": store})
    return _assistant_for(settings.cache_key())


def answer(question: str, *, history: Sequence[Message] | None = None, settings: Settings | None = None) -> Answer:
    """Answer `question` from the corpus with citations, or abstain; builds the index if needed.

    `history` is the conversation so far as role/content messages. Raises `QuestionError` for an
    empty or over-long question and `CorpusError` when there is nothing to answer from.
    """
    return get_assistant(settings).answer(question, history=history)


def build_index(settings: Settings | None = None, *, rebuild: bool = False) -> IngestReport:
    """Build or update the index of the corpus folder."""
    return get_assistant(settings).ingest(rebuild=rebuild)
