"""The default answerer: extractive, offline, no language model.

It quotes sentences of the retrieved passages, each followed by its `[n]` marker; every citation is the
verbatim span it quotes. `ranking.py` finds the candidate sentences and weighs them with the learned
models; this module decides and composes:

1. Whether to answer: below the answer model's trained threshold (per `answering.caution`) it abstains.
   The abstention names the first reason that holds: a question word the corpus never mentions
   that names something, names of the question no single document covers, or none.
   Rules that abstain on their own: a typed question (a number, date, name, journal, ...) that no
   candidate holds any evidence for, and a question that names documents but asks nothing of them or
   whose named documents have no candidate. "Who wrote" and "when was it published" are answered by
   the document's byline or date line, which no training set has.
2. False premises: a close sentence that negates what the question presupposes ("Why did the study
   find ..."), says the opposite ("increase" for "decrease") or gives another figure is quoted as a
   correction.
3. Composition: the best sentence, the one right after it when its probability is at least half the
   best's, and runners-up of the same document within 10 %; one sentence per document when the
   question spans documents, always one for each document it names. Repeats and cross-references are
   left out; a sentence that opens with an anaphor ("It", "This") brings its predecessor along.
"""

from __future__ import annotations

import re
from typing import Any

from assistant.chunking import sentence_spans
from assistant.questions import ANSWER_EVIDENCE, ANSWER_NOUNS, ASSERTED_NUMBER, NEGATION, Question
from assistant.ranking import (
    AUTHOR_TERMS,
    CROSS_REFERENCE,
    Candidate,
    Ranking,
    SentenceRanker,
    asks_about_documents,
    matches,
    opposites,
    says_opposite,
)
from assistant.records import RELATED_NOTE, Answer, Citation, Passage, abstention_text
from assistant.retrieval import analyse

# Hand-set, not learned: the rules that abstain before any sentence is weighed and the composition of an
# answer. Whether to answer at all is the learned answer model's decision (`assistant.scorer`).
# The two composition shares: checked on the SQuAD training questions by evals/sweep_composer.py (README).
RUNNER_UP = 0.9  # extra sentences must have at least this fraction of the best one's probability
ADJACENT_SHARE = 0.5  # ... or this much when they directly follow the best sentence
MULTI_SHARE = 0.6  # questions across documents: each document's sentence against the best
TIE_SHARE = 0.95  # ... and a document's second sentence must tie with its first
MULTI_OWN = 0.15  # ... which must itself contain some of the question's words
NUMBER_OWN = 0.2  # a sentence giving another figure than the question's must share this much of its words
PREMISE_SHARE = 0.7  # a contradicting sentence must score this fraction of the best to correct the premise
PREMISE_RANK = 3  # ... and be among the sentence model's best 3 (a right one for 87 of 100 SQuAD answerable)
# A negation after "or", "whether" or a word repeated across "and" ("did and did not"; a word may come
# between), or before a "whether": see `_negates_question` (PubMedQA training questions: 4 of the 13
# corrections whose gold answer is "yes" gone, none of the 18 whose gold answer is "no"). A plain "and no"
# still negates ("mood improved and no side effects were reported").
_PAIRED_BEFORE = re.compile(r"(?:\bor|\b(\w+)\s+and\s+\1|\bwhether)\s+(?:\w+\s+)?$", re.I)
_WHETHER_AFTER = re.compile(r"\s*(?:\w+\s+){0,2}whether\b", re.I)
_ANAPHOR_START = re.compile(
    r"^(it|its|this|these|that|those|they|their|he|she|his|her|such|the drug|the study|the findings)\b", re.I
)


def _repeats(sentence: Candidate, other: Candidate) -> bool:
    """Whether two sentences of one document say the same (their terms overlap by 80 % or more)."""
    if sentence.passage.source != other.passage.source or sentence.start == other.start:
        return False
    union = sentence.terms | other.terms
    return bool(union) and len(sentence.terms & other.terms) / len(union) >= 0.8


class ExtractiveAnswerer(SentenceRanker):
    """Composes cited answers by quoting the best-ranked sentences (see the module docstring)."""

    def answer(
        self,
        question_text: str,
        passages: list[Passage],
        *,
        threshold: float | None = None,
        ranking: Ranking | None = None,
        **arguments: Any,
    ) -> Answer:
        """Answer `question_text` from `passages` (already retrieved, best first); `arguments` are `rank`'s.

        `threshold` replaces the answer model's own (-inf: a verifier decides instead, see `verifying.py`);
        `ranking` is `rank`'s result for these arguments when the caller has it already.
        """
        standalone = arguments.get("retrieval_query") or ""
        base = Answer(question_text, "", abstained=True, standalone_question=standalone, passages=passages)
        ranking = ranking if ranking is not None else self.rank(question_text, passages, **arguments)
        if ranking.detail:
            return self.abstain(base, ranking.detail)
        question, ranked = ranking.question, ranking.sentences
        by_rule = sorted(ranked, key=lambda s: (-s.score, s.rank, s.start))
        # A question about something the corpus never mentions cannot be contradicted by it.
        conflicts = [] if ranking.missing_names else [self._premise_conflict, self._number_conflict]
        # Only a sentence the model ranks near the top contradicts: a negation in an unrelated one does not.
        found = [find(question, by_rule) for find in conflicts]
        if premise := next((s for s in found if any(s is near for near in ranked[:PREMISE_RANK])), None):
            preface = "No" if question.yes_no else "The corpus contradicts the premise"
            return self._compose(base, [premise], reason="false premise", preface=preface)
        # "What year did the trial start?" asks about the world, not the document: a year alone is not enough.
        metadata = [s for s in ranked if asks_about_documents(question) and self._answers_about_document(question, s)]
        if metadata:
            # "Who wrote", "When were these published": each document's byline or date line (no training set has those).
            firsts = [s for s in metadata if s is next(m for m in metadata if m.passage.source == s.passage.source)]
            return self._compose(base, firsts[: self.max_sentences] if question.multi else metadata[:1], reason="")
        if question.answer_type and not any(s.features["evidence"] for s in ranked):
            # "How many ...?" and no candidate holds a number at all, "Who ...?" and none holds a name,
            # "Which journal ...?" and none names a venue: nothing here can answer it
            # (docs/experiments.md, "No name anywhere").
            return self.abstain(base, f"the documents do not give {ANSWER_NOUNS[question.answer_type]} for that")
        if ranking.confidence < (self.scorer.threshold if threshold is None else threshold):
            if ranking.missing_names:
                detail = f"none of the documents mention {', '.join(ranking.missing_names)}"
            elif not ranked[0].features["grounded"]:
                listed = ", ".join(question.words_for.get(t, t) for t in sorted(question.critical)) or "its terms"
                detail = f"no single document covers all of {listed}"
            else:
                detail = "no passage answers the question closely enough"
            return self.abstain(base, detail)
        return self._compose(base, self._select(question, ranked), reason="")

    def _answers_about_document(self, question: Question, sentence: Candidate) -> bool:
        """Whether a byline or date line answers what the question asks of its document.

        The line must answer one of the asked words, in a document that holds the question's names;
        a byline does not answer a yes-or-no question ("did they agree in writing" asks nothing of the
        author).
        """
        said = sentence.meta & question.asked
        if not said or not sentence.features["grounded"] or not self._has_evidence(question, sentence):
            return False
        return bool(said - AUTHOR_TERMS) or not question.yes_no

    def _negates_question(self, question: Question, sentence: Candidate) -> bool:
        """A negation in the sentence whose next few words touch the question's terms.

        A negation paired with its affirmative ("with or without", "did and did not receive") or inside
        a "whether" ("whether or not", "it is not known whether") denies nothing.
        """
        for match in NEGATION.finditer(sentence.text):
            before, after = sentence.text[max(0, match.start() - 40) : match.start()], sentence.text[match.end() :]
            if _PAIRED_BEFORE.search(before) or _WHETHER_AFTER.match(after):
                continue
            following = analyse(" ".join(sentence.text[match.end() :].split()[:7]))
            if any(matches(t, set(following)) for t in question.terms if t not in question.selectors):
                return True
        return False

    def _premise_conflict(self, question: Question, ranked: list[Candidate]) -> Candidate | None:
        """The sentence that contradicts the question's presupposition, if there is one."""
        if not (question.presupposes or question.yes_no) or question.negated:
            return None
        # An opposite ("lower" for "higher") counts only where the question's own word is absent.
        flips = opposites(question.terms)
        best = ranked[0].score
        for sentence in ranked:
            if sentence.score < PREMISE_SHARE * best:
                break
            if sentence.coverage < 0.45:
                continue
            if says_opposite(flips, sentence.terms) or self._negates_question(question, sentence):
                return sentence
        return None

    def _number_conflict(self, question: Question, ranked: list[Candidate]) -> Candidate | None:
        """A close sentence that gives a different figure than the one the question asserts.

        "The report says about 60% of the seedlings survived" against "Roughly 25% of the
        seedlings ... survived": the question's number is nowhere in that document, and the
        sentence gives a number of the same kind (a percentage for a percentage).
        """
        asserted = [(m.group(1), bool(m.group(2))) for m in ASSERTED_NUMBER.finditer(question.text)]
        if not asserted or question.answer_type:
            return None  # "How many ...?" asks for the number; it asserts none
        best = ranked[0].score
        for sentence in ranked[:5]:
            if sentence.score < PREMISE_SHARE * best or sentence.own < NUMBER_OWN:
                continue
            doc_terms = self._documents.of(sentence.passage.source).terms
            for number, percent in asserted:
                if set(analyse(number)) <= doc_terms:  # as the index reads it: "1,000" is "1" and "000"
                    continue
                kind = ANSWER_EVIDENCE["percent" if percent else "number"]
                if kind.search(sentence.text):
                    return sentence
        return None

    def _following(self, sentence: Candidate, ranked: list[Candidate]) -> Candidate | None:
        """The next sentence of the same paragraph, when it scores close enough to finish the thought."""
        for other in ranked:
            gap = other.passage.text[sentence.end - other.passage.start : other.start - other.passage.start]
            if (
                other.passage.source == sentence.passage.source
                and 0 < other.start - sentence.end <= 2
                and "\n" not in gap
                and other.probability >= ADJACENT_SHARE * sentence.probability
            ):
                return other
        return None

    def _select(self, question: Question, ranked: list[Candidate]) -> list[Candidate]:
        # A sentence that repeats one ranked above it (a takeaway repeated in the text) is quoted once.
        ranked = [s for i, s in enumerate(ranked) if not any(_repeats(s, other) for other in ranked[:i])]
        best = ranked[0]
        chosen = [best]
        if question.multi:
            # The best sentence of each document that answers well enough on its own terms.
            for sentence in ranked[1:]:
                if len(chosen) >= self.max_sentences:
                    break
                same = [c for c in chosen if c.passage.source == sentence.passage.source]
                # Measured on the blend score: no training set asks across documents, and the sentence
                # model's probabilities fall off too steeply to compare one document's best with another's.
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
            if sentence.probability >= RUNNER_UP * best.probability:
                chosen.append(sentence)
        return chosen

    def _with_antecedent(self, sentence: Candidate) -> tuple[int, int]:
        """Extend a sentence that opens with an anaphor back to the previous sentence of its passage."""
        passage, local = sentence.passage, sentence.start - sentence.passage.start
        if _ANAPHOR_START.match(sentence.text):
            previous = [
                (s, e) for s, e in sentence_spans(passage.text) if e <= local and "\n" not in passage.text[e:local]
            ]
            # A cross-reference ("For more information, see X.") is no antecedent: it is never quoted.
            if previous and not CROSS_REFERENCE.match(passage.text[slice(*previous[-1])]):
                return passage.start + previous[-1][0], sentence.end
        return sentence.start, sentence.end

    def _compose(self, base: Answer, chosen: list[Candidate], *, reason: str, preface: str = "") -> Answer:
        # Quote in document order within each document, documents in order of their best sentence.
        order = {source: i for i, source in enumerate(dict.fromkeys(s.passage.source for s in chosen))}
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
        citations = [
            Citation(number, p.source, p.title, p.text[start - p.start : end - p.start], start, end)
            for number, (p, start, end) in enumerate(spans, 1)
        ]
        body = " ".join(f"{c.text} [{c.number}]" for c in citations)
        base.text = f"{preface}: {body}" if preface else body
        base.citations = citations
        base.abstained = False
        base.reason = reason
        return base

    def abstain(self, base: Answer, detail: str) -> Answer:
        """`base` turned into an abstention that says `detail`, with its first passages as related reading."""
        related = [Citation(n, p.source, p.title, p.text, p.start, p.end) for n, p in enumerate(base.passages[:3], 1)]
        base.text = abstention_text(detail) + (f" {RELATED_NOTE}" if related else "")
        base.abstained = True
        base.reason = detail
        base.related = related
        return base
