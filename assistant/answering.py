"""The default answerer: extractive, offline, no language model.

From the retrieved passages it selects the sentences that answer the question and quotes them,
each followed by its `[n]` marker; every citation is the verbatim sentence span it quotes, so every
sentence of an answer is supported by the passage it cites. How it decides:

1. Candidates: every sentence of every retrieved passage (nothing else can be cited). Headings and
   sentences that add nothing beyond the question's own words (cross-references such as "For more
   information on X, see X.") are not candidates.
2. Score: idf-weighted coverage of the question's content terms (BM25 statistics of the corpus),
   blended with the embedding similarity of question and sentence (the sentence alone or in its
   context, "title. heading. sentence", whichever is closer). A term found only in the heading the
   sentence sits under counts 0.75, only elsewhere in its document 0.5. Words that name the
   document the question is about ("the PET article", see `references.py`) count as context for
   every sentence of that document, and the answer must come from it.
3. Grounding checks, each of which can make it abstain with a reason:
   - a question word that occurs nowhere in the corpus and carries the question (a drug, a place,
     an off-topic subject) -> "the corpus does not mention X";
   - names, acronyms and numbers of the question ("PET", "7T", "Krystal") must occur in the
     document of the sentence that answers, so a figure from one study never answers for another;
   - a question that asks for a number, dose, percentage, date, duration or name needs a sentence
     that contains one;
   - the best sentence must reach a minimum score;
   - most of the question's words missing from the corpus means off the topic, unless a sentence is
     close in meaning; a question whose only corpus words are in every passage abstains too.
4. False premises: when the best-covering sentence is negated (or uses the opposite direction,
   "increase" for "decrease") while the question presupposes the affirmative ("Why did the study
   find ..."), the answer corrects the premise by quoting that sentence.
5. Composition: the best sentence, plus close runners-up; one per document when the question spans
   documents ("studies", "both", "across"), always one for each document the question names. A
   "why" question prefers a close sentence that gives a reason; a title question, the document's
   title line or a quoted title; "who wrote" / "when", the byline or date line (which answer
   nothing else). A sentence that repeats a higher-ranked one is left out; cross-references ("For
   more information, see X.") are never quoted. A sentence that starts with an anaphor ("It",
   "This") brings its predecessor along so the quote reads on its own.
"""

from __future__ import annotations

import math
import re
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from assistant.chunking import BYLINE, VENUE_LINE, heading_at, section_headings, sentence_spans
from assistant.cleaning import is_title_case
from assistant.embedding import Embedder
from assistant.indexing import sentence_id
from assistant.questions import (
    ANSWER_EVIDENCE,
    ANSWER_NOUNS,
    ANTONYMS,
    CAUSAL,
    DRUG_LIKE,
    NEGATION,
    RESULT,
    Question,
    parse,
)
from assistant.records import Answer, Citation, Passage
from assistant.references import DocumentNames, Reference
from assistant.retrieval import ChunkInfo, LexicalIndex, analyse

# Calibrated on evals/golden.jsonl and evals/heldout.jsonl together (README, "Measured").
MIN_SCORE = 0.34  # blended score the best sentence must reach
MIN_COVERAGE = 0.20  # idf-weighted share of question terms the best sentence must contain
COMMON_IDF = 0.2  # ... or when every word it has is this common (idf against the rarest word's)
ON_TOPIC = 0.6  # ... unless a sentence is this close to the question in embedding space
MISSING_SHARE = 0.6  # abstain when this share of the question's words occur nowhere in the corpus
RUNNER_UP = 0.9  # extra sentences must score at least this fraction of the best
ADJACENT_SHARE = 0.5  # ... or this much when they directly follow the best sentence
MULTI_SHARE = 0.6  # questions across documents: each document's sentence against the best
TIE_SHARE = 0.95  # ... and a document's second sentence must tie with its first
MULTI_OWN = 0.15  # ... which must itself contain some of the question's words
NUMBER_OWN = 0.2  # ... and a sentence giving another figure must share this much of the question's words
PREMISE_SHARE = 0.7  # a contradicting sentence must score this fraction of the best to correct the premise
TYPED_OWN = 0.35  # a typed question (number, date, name...) is answered by a sentence with that evidence
# which contains this share of the question's own terms, even when the blended score is low
LEXICAL_WEIGHT = 0.6
FOCUSED_SHARE = 0.8  # a sentence with the focus word wins unless another scores much higher
REASON_SHARE = 0.9  # ... and so does a sentence that gives a reason, for a "why" question
FOCUS_WEIGHT = 2.0  # weight multiplier for the focus of a what/which question
DENSE_ALONE = 0.75  # a paraphrase this close in embedding space may share few words with the question
SECTION_CREDIT = 0.75  # ... and for one found in the heading the sentence sits under
DOC_CREDIT = 0.5  # credit for a question term found in the sentence's document but not the sentence
CAUSE_BONUS = 0.12  # "why" questions prefer sentences that give a cause ("suggest", "because")
FOCUS_BONUS = 0.08  # follow-ups prefer the documents the conversation was about
_SECTION_LABEL = re.compile(
    r"^(purpose|background|objectives?|aims?|materials and methods|methods|results|findings|conclusions?"
    r"|discussion|introduction)\s+(?=[A-Z])",
    re.I,
)
_WORDS = re.compile(r"[A-Za-z0-9][\w'’\-]*")
_OWN_TITLE = re.compile(
    r"\bheadline\b|\btitle of (the|this|that) (\w+ ){0,3}?(article|piece|page|post|story|write-?up|news|blog)\b"
    r"|\b(article|piece|page|post|story)['’]s title\b",
    re.I,
)
_ORG_ACRONYM = re.compile(r"(?:©|\b(?:by|at|from)(?: the)?)\s+([A-Z]{3,})\b")
# A figure the question states: not a year, not part of a name ("3T", "MDD-2").
_ASSERTED_NUMBER = re.compile(r"\b(?!(?:19|20)\d{2}\b)(\d+(?:\.\d+)?)(?![\w./-])\s*(%|percent\b|per cent\b)?")
_JOURNAL = re.compile(r"\bjournals?\b", re.I)
_CROSS_REFERENCE = re.compile(
    r"^(for (more|further) (information|details|reading)\b|see also\b|read more\b|learn more\b"
    r"|(for an? [\w\s-]{0,80}, )?check out\b|click here\b)",
    re.I,
)
_ANAPHOR_START = re.compile(r"^(it|this|these|that|those|they|such|the drug|the study|the findings)\b", re.I)


@dataclass
class _Sentence:
    passage: Passage
    start: int  # offset in the document's cleaned text
    end: int
    text: str
    terms: set[str]
    rank: int  # rank of its passage
    coverage: float = 0.0  # share of question weight found in the sentence (or, half-counted, its document)
    own: float = 0.0  # share found in the sentence itself
    dense: float = 0.0
    score: float = 0.0
    section: set[str] = field(default_factory=set)  # terms of the heading the sentence sits under
    meta: set[str] = field(default_factory=set)  # what a byline or date line answers for (`metadata_terms`)

    @property
    def key(self) -> tuple[str, int]:
        return (self.passage.source, self.start)


class _VectorCache:
    """A bounded LRU of sentence embeddings, so warm questions embed only new sentences."""

    def __init__(self, size: int = 20000) -> None:
        self.size = size
        self.items: OrderedDict[str, list[float]] = OrderedDict()
        self.lock = threading.Lock()

    def get_many(
        self,
        embedder: Embedder,
        texts: list[str],
        ids: list[str | None],
        lookup: Callable[[list[str]], dict[str, list[float]]] | None = None,
    ) -> list[list[float]]:
        """Vectors of `texts`: from this cache, else from the index (by id), else embedded now."""
        with self.lock:
            missing = {t: i for t, i in zip(texts, ids, strict=True) if t not in self.items}
        if missing:
            stored = lookup([i for i in missing.values() if i]) if lookup else {}
            found = {t: stored[i] for t, i in missing.items() if i and i in stored}
            rest = [t for t in missing if t not in found]
            if rest:
                found.update(zip(rest, embedder.encode(rest), strict=True))
            with self.lock:
                for text, vector in found.items():
                    self.items[text] = vector
                while len(self.items) > self.size:
                    self.items.popitem(last=False)
        with self.lock:
            for text in texts:
                self.items.move_to_end(text)
            return [self.items[t] for t in texts]


_META_KINDS = [
    (re.compile(r"^(written by|by|author)\b", re.I), "author wrote written writer"),
    (re.compile(r"^(published|posted|updated|date)\b", re.I), "published updated date year when"),
    (re.compile(r"^(originally reported by|source|publisher)\b", re.I), "published reported source publisher outlet"),
    (VENUE_LINE, "journal published year date"),
]


_META_VOCABULARY = frozenset(t for _, words in _META_KINDS for t in analyse(words))


def metadata_terms(text: str) -> set[str]:
    """Words a metadata line answers for: a byline answers "who wrote", a venue line "which journal"."""
    for pattern, words in _META_KINDS:
        if pattern.match(text):
            return set(analyse(words))
    return set()


def matches(term: str, terms: set[str]) -> bool:
    """Whether an analysed term occurs in `terms`, counting words that share a long prefix.

    The stemmer leaves "hippocampus" and "hippocamp(al)", "amygdala" and "amygdalar" apart; a
    shared prefix of five or more letters that is a whole term on one side brings them together.
    """
    if term in terms or term + "s" in terms or (term.endswith("s") and term[:-1] in terms):
        return True
    if len(term) < 5:
        return False
    return any(len(other) >= 5 and (other.startswith(term) or term.startswith(other)) for other in terms)


def _reassemble(parts: list[tuple[int, str]]) -> str:
    """A document's text from its chunks (offset, text); uncovered gaps become line breaks."""
    size = max(start + len(text) for start, text in parts)
    chars = ["\n"] * size
    for start, text in parts:
        chars[start : start + len(text)] = text
    return "".join(chars)


def _is_title_line(sentence: _Sentence) -> bool:
    return sentence.text.strip().rstrip(".") == sentence.passage.title.strip().rstrip(".")


def _repeats(sentence: _Sentence, other: _Sentence) -> bool:
    """Whether two sentences of one document say the same (their terms overlap by 80 % or more)."""
    if sentence.passage.source != other.passage.source or sentence.start == other.start:
        return False
    union = sentence.terms | other.terms
    return bool(union) and len(sentence.terms & other.terms) / len(union) >= 0.8


def _dot(a: list[float], b: list[float]) -> float:
    return float(sum(x * y for x, y in zip(a, b, strict=True)))


@dataclass
class _Facts:
    """What the answerer knows about one document beyond its passages."""

    terms: set[str]  # every analysed term of the document, with the long forms of its acronyms
    expansions: dict[str, set[str]]  # acronym -> its long form's terms, as the document defines them
    sentence_freq: dict[str, int]  # term -> sentences holding it ("" -> the sentence count)
    headings: list[tuple[int, str]]  # section headings (and FAQ questions) by offset


class _DocumentFacts:
    """`_Facts` of each document, worked out from its chunks the first time the answerer looks at it.

    Lazily, so that a process starting over thousands of documents pays only for those its
    questions reach.
    """

    def __init__(self, lexical: LexicalIndex) -> None:
        self._chunks: dict[str, list[ChunkInfo]] = {}
        for chunk in lexical.chunks:
            self._chunks.setdefault(chunk.source, []).append(chunk)
        self._facts: dict[str, _Facts] = {}

    def of(self, source: str) -> _Facts:
        """The facts of `source` (empty ones for a document the index does not hold)."""
        facts = self._facts.get(source)
        if facts is None:
            facts = self._facts[source] = self._work_out(self._chunks.get(source, []))
        return facts

    @staticmethod
    def _work_out(chunks: list[ChunkInfo]) -> _Facts:
        facts = _Facts(set(), {}, {"": 0}, [])
        seen: set[int] = set()
        for chunk in chunks:
            facts.terms.update(analyse(chunk.title + "\n" + chunk.text))
            facts.expansions.update({short: set(long) for short, long in chunk.defines})
            for s, e in sentence_spans(chunk.text):
                if chunk.start + s in seen:
                    continue
                seen.add(chunk.start + s)
                facts.sentence_freq[""] += 1
                for term in set(analyse(chunk.text[s:e])):
                    facts.sentence_freq[term] = facts.sentence_freq.get(term, 0) + 1
        if chunks:
            text = _reassemble([(c.start, c.text) for c in chunks])
            facts.headings = section_headings(text, chunks[0].title)
        for long_form in facts.expansions.values():
            facts.terms |= long_form
        return facts


class ExtractiveAnswerer:
    """Composes cited answers by quoting retrieved sentences (see the module docstring)."""

    name = "extractive"

    def __init__(
        self,
        embedder: Embedder,
        lexical: LexicalIndex,
        max_sentences: int = 4,
        sentence_lookup: Callable[[list[str]], dict[str, list[float]]] | None = None,
    ) -> None:
        self.embedder = embedder
        self.sentence_lookup = sentence_lookup  # stored sentence vectors by id, from the index
        self.lexical = lexical
        self.max_sentences = max_sentences
        self._cache = _VectorCache()
        self._documents = _DocumentFacts(lexical)
        defined: dict[str, dict[str, set[str]]] = {}
        for chunk in lexical.chunks:
            defined.setdefault(chunk.source, {}).update({short: set(long) for short, long in chunk.defines})
        self.names = DocumentNames.from_documents(
            {c.source: (c.source, c.title, c.publisher, "") for c in lexical.chunks}.values(), defined
        )
        bm25 = lexical.bm25
        self._rare_idf = math.log(1 + (bm25.size - 1 + 0.5) / 1.5)

    # --- scoring -------------------------------------------------------------------------------

    def _weights(self, question: Question) -> dict[str, float]:
        """Idf weight of each question term.

        A word the corpus lacks (and that names nothing, see `_is_name`) weighs like an average
        word of the question: it may be a paraphrase ("doctor" for "medical supervision"), so it
        neither dominates nor vanishes.
        """
        bm25 = self.lexical.bm25
        present = {t: bm25.idf(t) for t in question.terms if bm25.contains(t)}
        average = sum(present.values()) / len(present) if present else self._rare_idf
        # The question's focus ("What side effects ...") is what the answer must contain.
        return {t: present.get(t, average) * (FOCUS_WEIGHT if t in question.focus else 1.0) for t in question.terms}

    def _candidates(self, question: Question, passages: list[Passage]) -> list[_Sentence]:
        seen: set[tuple[str, int]] = set()
        out: list[_Sentence] = []
        qterms = set(question.terms)
        for rank, passage in enumerate(passages):
            for s, e in sentence_spans(passage.text):
                text = passage.text[s:e]
                # "Materials and Methods This study ...": a section label is not part of what is said.
                said = _SECTION_LABEL.sub("", text)
                sentence = _Sentence(passage, passage.start + s, passage.start + e, text, set(analyse(said)), rank)
                label = _SECTION_LABEL.match(text)
                if sentence.key in seen:
                    continue
                seen.add(sentence.key)
                sentence.meta = metadata_terms(text)
                if not self._statement(question, sentence):
                    continue
                evidence = bool(question.answer_type) and self._has_evidence(question, sentence)
                if len(sentence.terms - qterms) < 2 and not evidence:
                    continue  # says nothing the question does not already say (a byline's name does)
                sentence.terms |= sentence.meta
                sentence.section = set(analyse(self.heading(passage.source, sentence.start)))
                if label:
                    sentence.section |= set(analyse(label.group()))  # "Purpose To detect ...": its section
                for acronym, long_form in self._documents.of(passage.source).expansions.items():
                    if acronym in sentence.terms or acronym + "s" in sentence.terms:
                        sentence.terms |= long_form
                out.append(sentence)
        return out

    def heading(self, source: str, start: int) -> str:
        """The heading (or FAQ question) nearest before offset `start` of a document, or ""."""
        return heading_at(self._documents.of(source).headings, start)

    def _is_name(self, question: Question, term: str) -> bool:
        """Whether a word the corpus lacks names a thing (a drug, a place, a product).

        Then its absence means the corpus cannot answer. Capitalised words, drug-like endings and rare words
        (split into several WordPiece tokens: "psilocybin", "esketamine") count; common words do not.
        """
        word = question.words_for.get(term, term)
        if term.isdigit():
            return False
        # "bigger-picture" is two common words, not a rare one: each part is judged on its own.
        rare = any(
            (n := self.embedder.pieces(part)) >= 4 or (n >= 3 and len(part) >= 8)
            for part in re.split(r"[-‐/]", word)
            if part
        )
        return term in question.critical or bool(DRUG_LIKE.search(word.lower())) or rare

    def _statement(self, question: Question, sentence: _Sentence) -> bool:
        """Whether a sentence can answer at all: not a title, heading or question of its own."""
        text = sentence.text.strip()
        # A short line can answer a "when" or "which journal" question ("Radiology 2017 August").
        evidence = question.answer_type in {"date", "venue", "number"} and self._has_evidence(question, sentence)
        if text.rstrip(".") == sentence.passage.title.rstrip("."):
            return question.answer_type == "title"  # the title answers "what is the headline", nothing else
        if text.endswith("?"):
            return False  # "Q: What are the side effects?" asks; the next sentence answers
        if _CROSS_REFERENCE.match(text):
            return False  # "For more information on X, see X.": points elsewhere, says nothing
        meta = sentence.meta
        if meta and not (meta & set(question.terms)) and question.answer_type not in {"date", "venue", "name"}:
            return False  # a byline or date line answers "who wrote" or "when", nothing else
        words = _WORDS.findall(text)
        ends = text.endswith((".", "!", '"', "”", ")"))
        if not ends and (len(words) < 5 or is_title_case(words)) and not BYLINE.match(text) and not evidence:
            return False  # a heading
        return not (ends and len(words) < 12 and is_title_case(words) and not evidence)

    def _score(
        self, question: Question, query_text: str, sentences: list[_Sentence], focus: frozenset[str] = frozenset()
    ) -> None:
        weights = self._weights(question)
        vectors = self._cache.get_many(
            self.embedder,
            [query_text] + [s.text for s in sentences],
            [None] + [sentence_id(s.passage.source, s.start) for s in sentences],
            self.sentence_lookup,
        )
        qvec = vectors[0]
        for sentence, vector in zip(sentences, vectors[1:], strict=True):
            doc_terms = self._documents.of(sentence.passage.source).terms
            local = self._local_weights(sentence.passage.source, weights)
            total = sum(local.values()) or 1.0
            own = section = context = 0.0
            # In a typed question the focus names the type ("Which journal", "What dose"): a sentence
            # holding that kind of answer (a name, a dose) covers it without repeating the word.
            typed = bool(question.answer_type) and self._has_evidence(question, sentence)
            for term, weight in local.items():
                if term in question.selectors and sentence.passage.source in question.named_sources:
                    context += weight  # names the document: every sentence of it, and only as context
                elif matches(term, sentence.terms) or (typed and term in question.focus):
                    own += weight
                elif question.asks_result and term in question.critical and matches(term, doc_terms):
                    # "What did the 3T/7T MRI study find": the names pick the study; its result
                    # need not repeat them.
                    own += weight
                elif matches(term, sentence.section):
                    section += weight
                elif matches(term, doc_terms):
                    context += weight
            sentence.own = own / total
            sentence.coverage = (own + SECTION_CREDIT * section + DOC_CREDIT * context) / total
            plain = _dot(qvec, vector)
            sentence.dense = max(0.0, plain)
            sentence.score = LEXICAL_WEIGHT * sentence.coverage + (1 - LEXICAL_WEIGHT) * sentence.dense
            if sentence.passage.source in focus:
                sentence.score += FOCUS_BONUS
            if sentence.meta & set(question.terms):
                sentence.score += CAUSE_BONUS  # "who wrote": the byline; "when was it updated": the date line
            if question.asks_reason and CAUSAL.search(sentence.text):
                sentence.score += CAUSE_BONUS
            elif question.asks_result and RESULT.search(_SECTION_LABEL.sub("", sentence.text)):
                sentence.score += CAUSE_BONUS  # "what did it find": sentences that report results

    def _local_weights(self, source: str, weights: dict[str, float]) -> dict[str, float]:
        """Question-term weights inside one document.

        A term that most of the document's sentences share ("ketamine" in a ketamine article)
        identifies the document, not the answer, so it counts less than one that few sentences
        contain ("side effects").
        """
        counts = self._documents.of(source).sentence_freq
        if not counts[""]:
            return weights
        n = counts[""]
        return {
            t: w * (0.4 + 0.6 * math.log(1 + n / (1 + counts.get(t, 0))) / math.log(1 + n)) for t, w in weights.items()
        }

    def _grounded(self, question: Question, sentence: _Sentence) -> bool:
        """Names, acronyms and numbers of the question occur in the sentence's document."""
        doc_terms = self._documents.of(sentence.passage.source).terms
        known = [t for t in question.critical if self.lexical.bm25.contains(t)]
        if question.named_sources and sentence.passage.source not in question.named_sources:
            return False
        if question.multi:
            # "the fMRI article and the magnetization transfer study": a question across documents
            # names each of them, so no single document must hold every name.
            return True
        return all(matches(t, doc_terms) for t in known)

    def _has_evidence(self, question: Question, sentence: _Sentence) -> bool:
        if not question.answer_type:
            return True
        if question.answer_type == "title" and _is_title_line(sentence):
            return True
        pattern = ANSWER_EVIDENCE[question.answer_type]
        said = _SECTION_LABEL.sub("", sentence.text)  # "Materials and Methods This study": not a name
        found = pattern.search(said)
        if not found:
            return False
        if question.answer_type == "venue" and _JOURNAL.search(question.text):
            # A journal publishes; a news site that "reported" the study is not the journal asked for.
            return any(not m.group().lower().startswith("reported") for m in pattern.finditer(said))
        if question.answer_type == "organization":
            # An institution's name, or an acronym where organisations stand ("© RSNA", "funded by
            # NIMH"); not one the document defines ("major depressive disorder (MDD)") or uses as a word.
            organisations = [m.group() for m in pattern.finditer(said) if not m.group().isupper()]
            organisations += [m.group(1) for m in _ORG_ACRONYM.finditer(said)]
            return any(set(analyse(name)) - set(question.terms) for name in organisations)
        if question.answer_type == "name":
            # A name that merely repeats one from the question answers nothing.
            return any(set(analyse(m.group())) - set(question.terms) for m in pattern.finditer(said))
        if question.answer_type == "number" and question.counted:
            # The number must stand next to what is counted: "41 healthy control subjects".
            text = said
            for number in pattern.finditer(text):
                window = " ".join(text[: number.start()].split()[-4:] + text[number.end() :].split()[:4])
                if any(matches(t, set(analyse(window))) for t in question.counted):
                    return True
            return False
        return True

    # --- answering -----------------------------------------------------------------------------

    def answer(
        self,
        question_text: str,
        passages: list[Passage],
        *,
        retrieval_query: str | None = None,
        context_critical: set[str] | None = None,
        focus: set[str] | None = None,
        reference: Reference | None = None,
    ) -> Answer:
        """Answer `question_text` from `passages` (already retrieved, best first).

        `context_critical` are names and acronyms a follow-up inherits from the conversation: the
        answering sentence's document must contain them too. `focus` are the sources the
        conversation was about; their sentences get a small bonus. `reference` is what the
        question's document references resolved to (resolved here when not given): the answer
        comes from the named documents, and the words that named them need not be in it.
        """
        question = self.parse(question_text, reference, context_critical)
        base = Answer(question=question_text, text="", abstained=True, standalone_question=retrieval_query or "")
        base.passages = passages
        if not passages:
            return self._abstain(base, "the index returned no passages", [])
        # "date", "author": words a byline or date line answers for are not missing from the corpus.
        # Nor is the focus of a typed question ("Which organization ..."): the answer's evidence is.
        typed_focus = question.focus if question.answer_type else set()
        missing = [
            t
            for t in question.terms
            if not self.lexical.bm25.contains(t) and t not in _META_VOCABULARY and t not in typed_focus
        ]
        names = [t for t in missing if self._is_name(question, t)]
        # "Is ketamine addictive?" in a ketamine corpus: the only words it has are ones every passage has.
        standalone = not retrieval_query or retrieval_query == question_text  # a follow-up leans on earlier turns
        only_common = standalone and all(
            self.lexical.bm25.idf(t) < COMMON_IDF * self._rare_idf for t in question.terms if t not in missing
        )
        mostly_missing = bool(missing) and len(missing) >= MISSING_SHARE * len(question.terms)
        if names or (missing and only_common):
            words = ", ".join(question.words_for.get(t, t) for t in (names or missing))
            return self._abstain(base, f"none of the documents mention {words}", passages)

        if question.named_sources and not [t for t in question.terms if t not in question.selectors]:
            return self._abstain(base, "the question names documents but not what to find in them", passages)
        head = question.focus_head
        # "Which brain region ... on the PET scans": the PET article never speaks of regions.
        unnamed = (
            question.named_sources
            and head
            and not question.answer_type
            and self.lexical.bm25.contains(head)
            and not any(matches(head, self._documents.of(source).terms) for source in question.named_sources)
        )
        if unnamed:
            word = question.words_for.get(head, head)
            return self._abstain(base, f"the document it names does not mention {word}", passages)
        sentences = self._candidates(question, passages)
        if sentences:
            self._score(question, retrieval_query or question_text, sentences, frozenset(focus or ()))
        # Most of the question's words are not in the corpus: off the topic, unless some sentence is
        # close in meaning ("None of the usual pills have worked for me. Do doctors think ...").
        if mostly_missing and standalone and max((s.dense for s in sentences), default=0.0) < ON_TOPIC:
            words = ", ".join(question.words_for.get(t, t) for t in missing)
            return self._abstain(base, f"none of the documents mention {words}", passages)
        if not sentences:
            return self._abstain(base, "no retrieved passage speaks to the question", passages)
        grounded = [s for s in sentences if self._grounded(question, s)]
        if not grounded:
            listed = ", ".join(question.words_for.get(t, t) for t in sorted(question.critical))
            return self._abstain(base, f"no single document covers all of {listed}", passages)
        ranked = sorted(grounded, key=lambda s: (-s.score, s.rank, s.start))

        premise = self._premise_conflict(question, ranked) or self._number_conflict(question, ranked)
        if premise is not None:
            preface = "No" if question.yes_no else "The corpus contradicts the premise"
            return self._compose(base, [premise], reason="false premise", preface=preface)

        if question.answer_type == "title" and _OWN_TITLE.search(question.text):
            # "What's the headline of the piece saying X": the title of the document that says X (a
            # "title of the paper it discusses" is rather a title quoted in the text).
            for line in [s for s in ranked if _is_title_line(s)]:
                # Just below the document's best sentence, so a title quoted in that sentence ("The
                # paper, "Hippocampal Volume Changes ..."") still wins.
                line.score = 0.95 * max(s.score for s in ranked if s.passage.source == line.passage.source)
                line.own = max(s.own for s in ranked if s.passage.source == line.passage.source)
            ranked = sorted(ranked, key=lambda s: (-s.score, s.rank, s.start))
        with_evidence = [s for s in ranked if self._has_evidence(question, s)]
        if question.focus and not question.answer_type:
            # "What side effects ...": prefer sentences that mention the focus when one is close.
            focused = [s for s in with_evidence if any(matches(t, s.terms) for t in question.focus)]
            if focused and focused[0].score >= FOCUSED_SHARE * with_evidence[0].score:
                with_evidence = focused + [s for s in with_evidence if s not in focused]
        # Whether the corpus answers is judged on the best-scoring sentence; which sentence is
        # quoted may then be a close runner-up that gives the reason a "why" question asks for.
        gate = with_evidence[0] if with_evidence else None
        if question.asks_reason and with_evidence:
            # "Why was it useful to ...": a sentence that gives a reason answers, when one is close.
            reasons = [s for s in with_evidence if CAUSAL.search(s.text)]
            if reasons and reasons[0].score >= REASON_SHARE * with_evidence[0].score:
                with_evidence = reasons + [s for s in with_evidence if s not in reasons]
        best = with_evidence[0] if with_evidence else None
        typed_match = best is not None and bool(question.answer_type) and best.own >= TYPED_OWN
        close = (
            gate is not None
            and gate.score >= MIN_SCORE
            and (gate.coverage >= MIN_COVERAGE or (gate.dense >= DENSE_ALONE and gate.coverage >= MIN_COVERAGE / 2))
        )
        if best is None or not (typed_match or close):
            if question.answer_type and not typed_match:
                detail = f"the documents do not give {ANSWER_NOUNS[question.answer_type]} for that"
            else:
                detail = "no passage answers the question closely enough"
            return self._abstain(base, detail, passages)
        return self._compose(base, self._select(question, with_evidence), reason="")

    def parse(
        self, question_text: str, reference: Reference | None = None, context_critical: set[str] | None = None
    ) -> Question:
        """The parsed question, with the documents it names and the names inherited from the conversation."""
        question = parse(question_text)
        if context_critical:
            question.critical |= context_critical
        reference = reference if reference is not None else self.names.resolve(question_text)
        if reference:
            question.named_sources = list(reference.sources)
            question.selectors = set(reference.selectors)
            # "the Isha Health piece": "piece" says what kind of thing the document is, nothing more.
            question.terms = [t for t in question.terms if t not in reference.nouns] or question.terms
            question.critical -= reference.selectors
            question.focus -= reference.selectors
        return question

    def _negates_question(self, question: Question, sentence: _Sentence) -> bool:
        """A negation in the sentence whose next few words touch the question's terms."""
        for match in NEGATION.finditer(sentence.text):
            following = analyse(" ".join(sentence.text[match.end() :].split()[:7]))
            if any(matches(t, set(following)) for t in question.terms if t not in question.selectors):
                return True
        return False

    def _premise_conflict(self, question: Question, ranked: list[_Sentence]) -> _Sentence | None:
        """The sentence that contradicts the question's presupposition, if there is one."""
        if not (question.presupposes or question.yes_no) or question.negated:
            return None
        qterms = set(question.terms)
        best = ranked[0].score
        for sentence in ranked:
            if sentence.score < PREMISE_SHARE * best:
                break
            if sentence.coverage < 0.45:
                continue
            flipped = any(
                ANTONYMS.get(t) in sentence.terms and ANTONYMS.get(t) not in qterms for t in qterms if ANTONYMS.get(t)
            )
            if flipped or self._negates_question(question, sentence):
                return sentence
        return None

    def _number_conflict(self, question: Question, ranked: list[_Sentence]) -> _Sentence | None:
        """A close sentence that gives a different figure than the one the question asserts.

        "The PET article says about 70% of people don't respond" against "Approximately 30% of
        patients ... do not respond": the question's number is nowhere in that document, and the
        sentence gives a number of the same kind (a percentage for a percentage).
        """
        asserted = [(m.group(1), bool(m.group(2))) for m in _ASSERTED_NUMBER.finditer(question.text)]
        if not asserted or question.answer_type:
            return None  # "How many ...?" asks for the number; it asserts none
        best = ranked[0].score
        for sentence in ranked[:5]:
            if sentence.score < PREMISE_SHARE * best or sentence.own < NUMBER_OWN:
                continue
            doc_terms = self._documents.of(sentence.passage.source).terms
            for number, percent in asserted:
                if number in doc_terms:
                    continue
                kind = ANSWER_EVIDENCE["percent" if percent else "number"]
                if kind.search(sentence.text):
                    return sentence
        return None

    def _following(self, sentence: _Sentence, ranked: list[_Sentence]) -> _Sentence | None:
        """The next sentence of the same paragraph, when it scores close enough to finish the thought."""
        for other in ranked:
            gap = other.passage.text[sentence.end - other.passage.start : other.start - other.passage.start]
            if (
                other.passage.source == sentence.passage.source
                and 0 < other.start - sentence.end <= 2
                and "\n" not in gap
                and other.score >= ADJACENT_SHARE * sentence.score
            ):
                return other
        return None

    def _select(self, question: Question, ranked: list[_Sentence]) -> list[_Sentence]:
        # A sentence that repeats one ranked above it ("- Further research is needed ..." in a list of
        # takeaways and again in the text) is quoted once.
        ranked = [s for i, s in enumerate(ranked) if not any(_repeats(s, other) for other in ranked[:i])]
        best = ranked[0]
        chosen = [best]
        if question.multi:
            # The best sentence of each document that answers well enough on its own terms.
            for sentence in ranked[1:]:
                if len(chosen) >= self.max_sentences:
                    break
                same = [c for c in chosen if c.passage.source == sentence.passage.source]
                if same and (len(same) > 1 or sentence.score < TIE_SHARE * same[0].score):
                    continue  # a second sentence of a document only when it ties with the first
                named = sentence.passage.source in question.named_sources and not same
                if named or (sentence.score >= MULTI_SHARE * best.score and sentence.own >= MULTI_OWN):
                    chosen.append(sentence)  # a document the question names always gets its best sentence
            for sentence in list(chosen):
                following = self._following(sentence, ranked)
                if following is not None and following not in chosen and len(chosen) < self.max_sentences + 2:
                    chosen.append(following)
            return chosen
        # The sentence right after the best one often finishes its thought: it gets a lower bar.
        following = self._following(best, ranked)
        if following is not None:
            chosen.append(following)
        for sentence in ranked[1:]:
            if len(chosen) >= min(self.max_sentences, 3):
                break
            if sentence in chosen or sentence.passage.source != best.passage.source:
                continue
            if sentence.coverage >= 0.8 * best.coverage and sentence.score >= RUNNER_UP * best.score:
                chosen.append(sentence)
        return chosen

    def _with_antecedent(self, sentence: _Sentence) -> tuple[int, int]:
        """Extend a sentence that opens with an anaphor back to the previous sentence of its passage."""
        if not _ANAPHOR_START.match(sentence.text):
            return sentence.start, sentence.end
        passage = sentence.passage
        spans = sentence_spans(passage.text)
        local = sentence.start - passage.start
        previous = [s for s, e in spans if e <= local and "\n" not in passage.text[e:local]]
        if previous:
            return passage.start + previous[-1], sentence.end
        return sentence.start, sentence.end

    def _compose(self, base: Answer, chosen: list[_Sentence], *, reason: str, preface: str = "") -> Answer:
        # Quote in document order within each document, documents in order of their best sentence.
        order: dict[str, int] = {}
        for sentence in chosen:
            order.setdefault(sentence.passage.source, len(order))
        chosen = sorted(chosen, key=lambda s: (order[s.passage.source], s.start))
        # Spans (with antecedents) that touch or overlap merge into one citation, quoted from a
        # passage that holds all of it; overlapping chunks must not quote a sentence twice.
        spans: list[tuple[Passage, int, int]] = []
        for sentence in chosen:
            start, end = self._with_antecedent(sentence)
            last = spans[-1] if spans else None
            if last and last[0].source == sentence.passage.source and start <= last[2] + 2:
                lo, hi = min(last[1], start), max(last[2], end)
                holder = next((p for p in (last[0], sentence.passage) if p.start <= lo and hi <= p.end), None)
                if holder is not None:
                    spans[-1] = (holder, lo, hi)
                    continue
                later = [s for s, _ in sentence_spans(sentence.passage.text) if sentence.passage.start + s >= last[2]]
                if not later or sentence.passage.start + later[0] >= end:
                    continue  # nothing new beyond what is already quoted
                start = sentence.passage.start + later[0]
            if any(p.source == sentence.passage.source and lo <= start and end <= hi for p, lo, hi in spans):
                continue  # already quoted in full
            spans.append((sentence.passage, start, end))
        citations: list[Citation] = []
        parts: list[str] = []
        for passage, start, end in spans:
            text = passage.text[start - passage.start : end - passage.start]
            number = len(citations) + 1
            citations.append(Citation(number, passage.source, passage.title, text, start, end))
            parts.append(f"{text} [{number}]")
        body = " ".join(parts)
        base.text = f"{preface}: {body}" if preface else body
        base.citations = citations
        base.abstained = False
        base.reason = reason
        return base

    def _abstain(self, base: Answer, detail: str, passages: list[Passage]) -> Answer:
        related = [Citation(i + 1, p.source, p.title, p.text, p.start, p.end) for i, p in enumerate(passages[:3])]
        base.text = f"The corpus does not answer this question: {detail}."
        if related:
            base.text += " The closest passages are listed as related reading, not as an answer."
        base.abstained = True
        base.reason = detail
        base.related = related
        return base
