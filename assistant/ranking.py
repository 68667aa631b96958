"""Sentence ranking for the extractive answerer: candidates, features and the learned models.

What a question's retrieved passages offer as answers, before anything is decided (`answering.py`
decides and composes):

1. Candidates: every sentence of every retrieved passage, except headings, titles, questions and
   sentences that add nothing to the question's own words ("For more information on X, see X.").
2. Features (`assistant.scorer.SENTENCE_FEATURES`): embedding similarity, idf-weighted coverage of the
   question's terms (in the sentence, its heading at 0.75, its document at 0.5), shared word pairs,
   retrieval rank, answer-type evidence, the rarest question term it lacks, negation and number
   mismatches, each also against the best candidate. Words that name the document the question is
   about ("the survey article", `references.py`) pick the document and are left out.
3. The learned sentence model ranks the candidates and the learned answer model gives the probability
   that the best one is right (`Ranking.confidence`). Both are logistic regressions trained by
   `evals/train_scorer.py` on public benchmarks, never on the golden set; training reads `rank`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import pairwise

from assistant.chunking import heading_at, sentence_spans
from assistant.cleaning import BYLINE, STOP_WORDS, VENUE_LINE, WORD, is_title_case, numbers
from assistant.documents import DocumentFacts
from assistant.embedding import Embedder, VectorCache
from assistant.indexing import sentence_id
from assistant.questions import (
    ANSWER_EVIDENCE,
    ANTONYMS,
    CAUSAL,
    DRUG_LIKE,
    NEGATION,
    RESULT,
    STANDALONE_NUMBER,
    Question,
    parse,
)
from assistant.records import Passage
from assistant.references import DocumentNames, Reference
from assistant.retrieval import ChunkInfo, LexicalIndex, analyse
from assistant.scorer import ANSWER_FEATURES, default_scorer, sigmoid

# Hand-set, not learned: the candidates' filters and the "blend" score (an input of the learned sentence
# model, which decides how much it counts).
COMMON_IDF = 0.2  # 'only common': every corpus word of the question is this common (idf against the rarest's)
LEXICAL_WEIGHT = 0.6  # blend = 0.6 coverage + 0.4 dense (+ the bonuses below)
FOCUS_WEIGHT = 2.0  # weight multiplier for the focus of a what/which question
SECTION_CREDIT = 0.75  # credit for a question term found in the heading the sentence sits under
DOC_CREDIT = 0.5  # credit for a question term found in the sentence's document but not the sentence
CAUSE_BONUS = 0.12  # "why" questions prefer sentences that give a cause ("suggest", "because")
FOCUS_BONUS = 0.08  # follow-ups prefer the documents the conversation was about
# Run-in section labels of structured abstracts ("Purpose To detect ...", "Materials and Methods This
# study ..."): the IMRaD headings of research papers, not of one journal (831 of SciFact's 5,183 abstracts).
_SECTION_LABEL = re.compile(
    r"^(purpose|background|objectives?|aims?|materials and methods|methods|results|findings|conclusions?"
    r"|discussion|introduction)\s+(?=[A-Z])",
    re.I,
)
# Answer types measured in figures, units or dates (the answer model's input `measured_unevidenced`).
MEASURED_TYPES = frozenset({"number", "dose", "percent", "money", "duration", "date"})
CROSS_REFERENCE = re.compile(
    r"^(for (more|further) (information|details|reading)\b|see also\b|read more\b|learn more\b"
    r"|(for an? [\w\s-]{0,80}, )?check out\b|click here\b)",
    re.I,
)


@dataclass
class Candidate:
    """A sentence of a retrieved passage that may answer, with its features and the sentence model's verdict."""

    passage: Passage
    start: int  # offset in the document's cleaned text
    end: int
    text: str
    terms: set[str]
    rank: int  # rank of its passage
    coverage: float = 0.0  # share of question weight found in the sentence (or, half-counted, its document)
    own: float = 0.0  # share found in the sentence itself
    dense: float = 0.0
    dense_free: float = 0.0  # dense, without the question's words that name a candidate's document
    score: float = 0.0
    section: set[str] = field(default_factory=set)  # terms of the heading the sentence sits under
    previous: set[str] = field(default_factory=set)  # terms of the sentence before it in its passage
    meta: set[str] = field(default_factory=set)  # what a byline or date line answers for (`metadata_terms`)
    evidence: bool = False  # holds the kind of answer a typed question asks for (`_has_evidence`)
    features: dict[str, float] = field(default_factory=dict)  # the learned sentence model's inputs
    logit: float = 0.0  # the learned sentence model's log-odds that this sentence answers
    probability: float = 0.0


@dataclass
class Ranking:
    """What the answerer made of a question and its passages, before deciding to answer or abstain."""

    question: Question
    sentences: list[Candidate] = field(default_factory=list)  # of the named documents if any; best first
    detail: str = ""  # why a rule abstained before any sentence was weighed
    missing_share: float = 0.0
    missing_names: list[str] = field(default_factory=list)  # question words the corpus lacks that name something
    only_common: bool = False  # the question's corpus words are all in nearly every passage
    answer_features: dict[str, float] = field(default_factory=dict)  # the learned answer model's inputs
    confidence: float = 0.0  # ... and its output


# What a metadata line answers for: a byline by its label (`cleaning.BYLINE`), a venue line as a whole.
# "Reviewed by" and "edited by" lines name no author and answer none of these.
_AUTHOR = "author wrote written writer"
# A date line answers "when" by its label: "updated: ..." is not when the piece was published.
_DATE = "date year when"
_SOURCE = "published reported source publisher outlet"
_BYLINE_ANSWERS = {
    **dict.fromkeys(["written by", "by", "author", "authors"], _AUTHOR),
    **dict.fromkeys(["published", "posted", "date"], f"published posted {_DATE}"),
    **dict.fromkeys(["updated", "modified"], f"updated modified revised {_DATE}"),
    **dict.fromkeys(["originally reported by", "originally published by", "source", "publisher"], _SOURCE),
}
_VENUE_ANSWERS = "journal published year date"
_META_VOCABULARY = frozenset(t for words in [*_BYLINE_ANSWERS.values(), _VENUE_ANSWERS] for t in analyse(words))
_META_KINDS = frozenset(analyse("author writer journal outlet source date year"))  # the kind of line asked for
_WHEN_WORDS = frozenset(analyse("year date"))
AUTHOR_TERMS = frozenset(analyse(_AUTHOR))


def metadata_terms(text: str) -> set[str]:
    """Words a metadata line answers for: a byline answers "who wrote", a venue line "which journal".

    A byline's value is names and dates: prose that opens with a label word ("By contrast, ...") has none.
    """
    if byline := BYLINE.match(text):
        if any(w[0].islower() and w.lower() not in STOP_WORDS for w in WORD.findall(byline.group("value"))):
            return set()
        return set(analyse(_BYLINE_ANSWERS.get(" ".join(byline.group("label").lower().split()), "")))
    return set(analyse(_VENUE_ANSWERS)) if VENUE_LINE.match(text) else set()


def asked_metadata(question: Question) -> set[str]:
    """The question's words a metadata line answers for; not parts of a compound ("the write-ups")."""
    return {t for t in question.terms if t in _META_VOCABULARY and "-" not in question.words_for.get(t, t)}


def asks_about_documents(question: Question) -> bool:
    """Whether it asks about the documents themselves ("who wrote"); "What year did the trial start?" does not."""
    return bool(asked_metadata(question) - _WHEN_WORDS)


def opposites(terms: list[str] | set[str]) -> list[tuple[str, str]]:
    """(word, its opposite) for the question's words whose opposite it does not also say ("higher", not "lower")."""
    return [(t, ANTONYMS[t]) for t in terms if t in ANTONYMS and ANTONYMS[t] not in terms]


def says_opposite(pairs: list[tuple[str, str]], terms: set[str]) -> bool:
    """Whether `terms` hold the opposite of a question word and not the word itself."""
    return any(o in terms and t not in terms for t, o in pairs)


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


def _without_terms(text: str, terms: set[str]) -> str:
    """`text` without the words whose analysed form is one of `terms` (all of it when nothing is left)."""
    if not terms:
        return text
    kept = [w for w in text.split() if not set(analyse(w)) & terms]
    return " ".join(kept) if analyse(" ".join(kept)) else text


def _is_title_line(sentence: Candidate) -> bool:
    return sentence.text.strip().rstrip(".") == sentence.passage.title.strip().rstrip(".")


class SentenceRanker:
    """Ranks the sentences of retrieved passages for a question (see the module docstring)."""

    def __init__(
        self,
        embedder: Embedder,
        lexical: LexicalIndex,
        max_sentences: int,
        sentence_lookup: Callable[[list[str]], dict[str, list[float]]],
    ) -> None:
        self.embedder = embedder
        self.scorer = default_scorer()  # the learned sentence and answer models
        self.lexical = lexical
        self.max_sentences = max_sentences
        self._cache = VectorCache(embedder, sentence_lookup)
        self._documents = DocumentFacts(lexical)
        self.names = DocumentNames(
            {c.source: (c.source, c.title, c.publisher, "") for c in lexical.chunks}.values(), self._documents.defined
        )
        self._rare_idf = math.log(1 + (lexical.bm25.size - 1 + 0.5) / 1.5)  # the idf of a word in one passage

    def add_documents(self, chunks: list[ChunkInfo]) -> None:
        """Make documents outside the index known to the answerer: their terms, headings and acronyms.

        For text that is handed over rather than retrieved, such as the evidence a judge reads
        (`assistant.evaluation.judges.ScorerJudge`); the corpus statistics (idf) stay the index's.
        """
        self._documents.add(chunks)

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

    def _candidates(self, question: Question, passages: list[Passage], restatements: bool = False) -> list[Candidate]:
        seen: set[tuple[str, int]] = set()
        out: list[Candidate] = []
        qterms = set(question.terms)
        for rank, passage in enumerate(passages):
            spans = sentence_spans(passage.text)
            # "Materials and Methods This study ...": a section label is not part of what is said.
            said = [set(analyse(_SECTION_LABEL.sub("", passage.text[s:e]))) for s, e in spans]
            for i, (s, e) in enumerate(spans):
                if (passage.source, passage.start + s) in seen:
                    continue
                seen.add((passage.source, passage.start + s))
                text = passage.text[s:e]
                sentence = Candidate(passage, passage.start + s, passage.start + e, text, set(said[i]), rank)
                sentence.previous = said[i - 1] if i else set()
                sentence.meta = metadata_terms(text)
                sentence.evidence = bool(question.answer_type) and self._has_evidence(question, sentence)
                if not self._statement(question, sentence):
                    continue
                if len(sentence.terms - qterms) < 2 and not sentence.evidence and not restatements:
                    continue  # says nothing the question does not already say (a byline's name does)
                sentence.terms |= sentence.meta
                sentence.section = set(analyse(heading_at(self._documents.of(passage.source).headings, sentence.start)))
                if label := _SECTION_LABEL.match(text):
                    sentence.section |= set(analyse(label.group()))  # "Purpose To detect ...": its section
                for acronym, long_form in self._documents.of(passage.source).expansions.items():
                    if acronym in sentence.terms or acronym + "s" in sentence.terms:
                        sentence.terms |= long_form
                out.append(sentence)
        return out

    def _is_name(self, question: Question, term: str) -> bool:
        """Whether a word the corpus lacks names a thing (a drug, a place, a product).

        Then its absence means the corpus cannot answer. Capitalised words, drug-like endings and rare words
        (split into several WordPiece tokens: "psilocybin", "tirzepatide") count; common words do not.
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

    def _statement(self, question: Question, sentence: Candidate) -> bool:
        """Whether a sentence can answer at all: not a title, heading or question of its own."""
        text = sentence.text.strip()
        # A short line can answer a "when" or "which journal" question ("Lancet 2019 March").
        evidence = question.answer_type in {"date", "venue", "number"} and sentence.evidence
        if _is_title_line(sentence):
            return question.answer_type == "title"  # the title answers "what is the headline", nothing else
        if text.endswith("?"):
            return False  # "Q: What are the side effects?" asks; the next sentence answers
        if CROSS_REFERENCE.match(text):
            return False  # "For more information on X, see X.": points elsewhere, says nothing
        meta, label = sentence.meta, BYLINE.match(text)
        # Prose that opens with a label word stays out as well: letting it answer measured worse (docs/experiments.md).
        labelled = bool(meta) or label is not None
        if labelled and not (meta & question.asked) and question.answer_type not in {"date", "venue", "name"}:
            return False  # a byline or date line answers "who wrote" or "when", nothing else
        if meta and (kinds := question.asked & _META_KINDS) and not meta & kinds:
            return False  # "which journal": not a date line, though the question says "published"
        words = WORD.findall(text)
        ends = text.endswith((".", "!", '"', "”", ")"))
        # A heading, unless it is a byline, date or venue line that answers what was asked (above).
        if not ends and (len(words) < 5 or is_title_case(words)) and not meta and not evidence:
            return False
        # A title ending like a sentence capitalises every content word ("In 1931 Japan conquered Manchuria." does not).
        return not (ends and len(words) < 12 and is_title_case(words, 1.0) and not evidence)

    def _score(self, question: Question, query_text: str, sentences: list[Candidate], focus: set[str]) -> None:
        weights = self._weights(question)
        # The question without the words that name any candidate's document (its title, publisher, file
        # name): they say which document, not which sentence, so `dense_free` compares without them.
        named = set().union(*(self.names.of(source) for source in {s.passage.source for s in sentences}))
        free_text = _without_terms(query_text, set(question.terms) & named)
        queries = list(dict.fromkeys([query_text, free_text]))
        vectors = self._cache.get_many(
            queries + [s.text for s in sentences],
            [None] * len(queries) + [sentence_id(s.passage.source, s.start) for s in sentences],
        )
        qvec, free = vectors[0], vectors[len(queries) - 1]
        for sentence, vector in zip(sentences, vectors[len(queries) :], strict=True):
            doc_terms = self._documents.of(sentence.passage.source).terms
            local = self._local_weights(sentence.passage.source, weights)
            total = sum(local.values()) or 1.0
            own = section = context = 0.0
            for term, weight in local.items():
                if term in question.selectors and sentence.passage.source in question.named_sources:
                    context += weight  # names the document: every sentence of it, and only as context
                # In a typed question the focus names the type ("Which journal", "What dose"): a sentence
                # holding that kind of answer (a name, a dose) covers it without repeating the word.
                elif matches(term, sentence.terms) or (sentence.evidence and term in question.focus):
                    own += weight
                elif question.asks_result and term in question.critical and matches(term, doc_terms):
                    # "What did the 2019 MRI study find": the names pick the study; the result need not repeat them.
                    own += weight
                elif matches(term, sentence.section):
                    section += weight
                elif matches(term, doc_terms):
                    context += weight
            sentence.own = own / total
            sentence.coverage = (own + SECTION_CREDIT * section + DOC_CREDIT * context) / total
            sentence.dense = max(0.0, float(sum(x * y for x, y in zip(qvec, vector, strict=True))))
            sentence.dense_free = max(0.0, float(sum(x * y for x, y in zip(free, vector, strict=True))))
            sentence.score = LEXICAL_WEIGHT * sentence.coverage + (1 - LEXICAL_WEIGHT) * sentence.dense
            if sentence.passage.source in focus:
                sentence.score += FOCUS_BONUS
            if sentence.meta & question.asked:
                sentence.score += CAUSE_BONUS  # "who wrote": the byline; "when was it updated": the date line
            if question.asks_reason and CAUSAL.search(sentence.text):
                sentence.score += CAUSE_BONUS
            elif question.asks_result and RESULT.search(_SECTION_LABEL.sub("", sentence.text)):
                sentence.score += CAUSE_BONUS  # "what did it find": sentences that report results

    def _local_weights(self, source: str, weights: dict[str, float]) -> dict[str, float]:
        """Question-term weights inside one document.

        A term that most of the document's sentences share ("insulin" in an article on insulin)
        identifies the document, not the answer, so it counts less than one that few sentences
        contain ("side effects").
        """
        counts = self._documents.of(source).sentence_freq
        n = counts[""]
        if not n:
            return weights
        return {
            t: w * (0.4 + 0.6 * math.log(1 + n / (1 + counts.get(t, 0))) / math.log(1 + n)) for t, w in weights.items()
        }

    def _grounded(self, question: Question, sentence: Candidate) -> bool:
        """Names, acronyms and numbers of the question occur in the sentence's document."""
        if question.multi:
            # A question across documents names each of them: no single document must hold every name.
            return True
        doc_terms = self._documents.of(sentence.passage.source).terms
        return all(matches(t, doc_terms) for t in question.critical if self.lexical.bm25.contains(t))

    def _has_evidence(self, question: Question, sentence: Candidate) -> bool:
        if not question.answer_type:
            return True
        if question.answer_type == "title" and _is_title_line(sentence):
            return True
        pattern = ANSWER_EVIDENCE[question.answer_type]
        said = _SECTION_LABEL.sub("", sentence.text)  # "Materials and Methods This study": not a name
        if not pattern.search(said):
            return False
        if question.answer_type in {"name", "organization"}:
            # A name that merely repeats one from the question answers nothing.
            return any(set(analyse(m.group())) - set(question.terms) for m in pattern.finditer(said))
        if question.answer_type == "number" and question.counted:
            # The number must stand next to what is counted: "120 adult patients".
            for number in pattern.finditer(said):
                window = " ".join(said[: number.start()].split()[-4:] + said[number.end() :].split()[:4])
                if any(matches(t, set(analyse(window))) for t in question.counted):
                    return True
            return False
        return True

    def rank(
        self,
        question_text: str,
        passages: list[Passage],
        *,
        retrieval_query: str | None = None,
        context_critical: set[str] | None = None,
        focus: set[str] | None = None,
        reference: Reference | None = None,
        restatements: bool = False,
    ) -> Ranking:
        """The candidate sentences of `passages`, weighed by the learned models (see `Ranking`).

        `retrieval_query`: the question as retrieved (a follow-up folds in the conversation).
        `context_critical`: names a follow-up inherits, which the answering sentence's document must hold.
        `focus`: the sources the conversation was about (a small bonus). `reference`: what the question's
        document references resolved to (resolved here when not given); the answer comes from those
        documents, and the words that named them need not be in it. `restatements` keeps sentences that
        say nothing beyond the question's own words (a judge needs them as evidence; answers skip them).

        Training reads this (`evals/train_scorer.py`): the features of every candidate, before any decision.
        """
        question = self.parse(question_text, reference, context_critical)
        ranking = Ranking(question)
        if not passages:
            ranking.detail = "the index returned no passages"
            return ranking
        # "date", "author": words a byline or date line answers for are not missing from the corpus.
        # Nor is the focus of a typed question ("Which organization ..."): the answer's evidence is.
        answered = _META_VOCABULARY | (question.focus if question.answer_type else set())
        missing = [t for t in question.terms if not self.lexical.bm25.contains(t) and t not in answered]
        ranking.missing_share = len(missing) / max(1, len(question.terms))
        names = [t for t in missing if self._is_name(question, t)]
        # A question whose only corpus words are ones every passage has says nothing the corpus answers.
        common = all(self.lexical.bm25.idf(t) < COMMON_IDF * self._rare_idf for t in question.terms if t not in missing)
        standalone = not retrieval_query or retrieval_query == question_text  # a follow-up leans on earlier turns
        ranking.only_common = bool(missing) and standalone and common
        # Whether these mean "unanswerable" is the answer model's call (they are among its features):
        # a claim may name a compound by an abbreviation its abstract spells out.
        shown = missing if ranking.only_common and not names else names
        ranking.missing_names = [question.words_for.get(t, t) for t in shown]
        if question.named_sources and not [t for t in question.terms if t not in question.selectors]:
            ranking.detail = "the question names documents but not what to find in them"
            return ranking
        head = question.focus_head
        # "Which region ... in the survey article": a named document that never speaks of regions.
        unnamed = (
            question.named_sources
            and head
            and not question.answer_type
            and self.lexical.bm25.contains(head)
            and not any(matches(head, self._documents.of(source).terms) for source in question.named_sources)
        )
        if unnamed:
            ranking.detail = f"the document it names does not mention {question.words_for.get(head, head)}"
            return ranking
        sentences = self._candidates(question, passages, restatements)
        if not sentences:
            ranking.detail = "no retrieved passage speaks to the question"
            return ranking
        self._score(question, retrieval_query or question_text, sentences, focus or set())
        if question.named_sources:
            sentences = [s for s in sentences if s.passage.source in question.named_sources]
            if not sentences:
                ranking.detail = "the documents it names do not speak to the question"
                return ranking
        self._learned(question, sentences, ranking)
        return ranking

    def _learned(self, question: Question, sentences: list[Candidate], ranking: Ranking) -> None:
        """Features, sentence probabilities and the answer model's confidence (`assistant.scorer`)."""
        # Words that named a document ("the Reuters article") pick it; the features leave them out.
        ordered = [t for t in question.terms if t not in question.selectors] or question.terms
        pairs = set(pairwise(ordered))
        top = {k: max(getattr(s, k) for s in sentences) for k in ("dense", "dense_free", "own", "coverage", "score")}
        qterms = set(ordered)
        idf = {t: self.lexical.bm25.idf(t) if self.lexical.bm25.contains(t) else self._rare_idf for t in qterms}
        total_idf = sum(idf.values()) or 1.0
        passage_terms: dict[str, set[str]] = {}
        # Numbers the question states on their own; "3T" or "COVID-19" are names, which `grounded` checks.
        asked_numbers = {n.replace(",", "") for n in STANDALONE_NUMBER.findall(question.text)}
        flips = opposites(qterms)
        for sentence in sentences:
            chunk = sentence.passage.chunk_id
            if chunk not in passage_terms:
                passage_terms[chunk] = set(analyse(sentence.passage.text))
            unmatched = [idf[t] for t in qterms if not matches(t, sentence.terms)]
            sentence.features = {
                "dense": sentence.dense,
                "own": sentence.own,
                # "When did he sign it?": the name is in the sentence before ("Rollo was a Viking leader.").
                "window": sum(idf[t] for t in qterms if matches(t, sentence.terms | sentence.previous)) / total_idf,
                "coverage": sentence.coverage,
                "plain_share": len(qterms & sentence.terms) / max(1, len(qterms)),
                "bigrams": len(pairs & set(pairwise(analyse(sentence.text)))) / len(pairs) if pairs else 0.0,
                "dense_gap": sentence.dense - top["dense"],
                "dense_free": sentence.dense_free,
                "dense_free_gap": sentence.dense_free - top["dense_free"],
                "own_gap": sentence.own - top["own"],
                "coverage_gap": sentence.coverage - top["coverage"],
                "passage_rank": 1.0 / (1 + sentence.rank),
                "passage_dense": sentence.passage.dense or 0.0,
                "typed": float(bool(question.answer_type)),
                "evidence": float(sentence.evidence),
                "reason": float(question.asks_reason and bool(CAUSAL.search(sentence.text))),
                "log_words": math.log1p(len(WORD.findall(sentence.text))),
                "first_in_passage": float(not sentence.passage.text[: sentence.start - sentence.passage.start].strip()),
                "unmatched_idf": max(unmatched, default=0.0) / self._rare_idf,
                "passage_unmatched": sum(idf[t] for t in qterms if t not in passage_terms[chunk]) / total_idf,
                "negation_mismatch": float(question.negated != bool(NEGATION.search(sentence.text))),
                "number_mismatch": float(bool(asked_numbers - numbers(sentence.text))),
                "antonym_mismatch": float(says_opposite(flips, sentence.terms)),
                "grounded": float(self._grounded(question, sentence)),
                "blend": sentence.score,
                "blend_gap": sentence.score - top["score"],
            }
            sentence.logit = self.scorer.sentence.logit(sentence.features)
            sentence.probability = sigmoid(sentence.logit)
        sentences.sort(key=lambda s: (-s.logit, s.rank, s.start))
        best = sentences[0]
        runner_up = sentences[1].logit if len(sentences) > 1 else best.logit - 5.0
        ranking.sentences = sentences
        ranking.answer_features = {
            # "best_dense", "best_grounded", ...: the best sentence's own features (its logit is not one of them).
            **{f: best.features[f[5:]] for f in ANSWER_FEATURES if f.startswith("best_") and f != "best_logit"},
            "best_logit": best.logit,
            "margin": min(5.0, best.logit - runner_up),
            "missing_share": ranking.missing_share,
            "missing_name": float(bool(ranking.missing_names) and not ranking.only_common),
            "only_common": float(ranking.only_common),
            "typed": best.features["typed"],
            "measured_unevidenced": float(question.answer_type in MEASURED_TYPES and not best.features["evidence"]),
            "log_candidates": math.log1p(len(sentences)),
            "log_terms": math.log1p(len(question.terms)),
        }
        ranking.confidence = self.scorer.answer.probability(ranking.answer_features)

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
            # "the BBC piece": "piece" says what kind of thing the document is, nothing more.
            question.terms = [t for t in question.terms if t not in reference.nouns] or question.terms
            question.critical -= reference.selectors
            question.focus -= reference.selectors
            # "the volume study versus the MTR study": two documents named, each gets its best sentence.
            question.multi = question.multi or len(reference.sources) > 1
        question.asked = asked_metadata(question)  # after the words that named a document are gone
        return question
