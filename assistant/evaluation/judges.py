"""Judges: whether a passage (or several read together) supports a statement.

`OfflineJudge` needs no language model and always works. It combines two signals between a
statement and its evidence:

- lexical coverage: the share of the statement's content words (stop words removed,
  Snowball-stemmed, as the BM25 index sees them) that occur in the evidence, and whether every
  number of the statement occurs there;
- embedding similarity: the best cosine between the statement and a sentence of the evidence,
  with the bundled all-MiniLM-L6-v2.

A statement is supported when `weight * coverage + (1 - weight) * cosine >= threshold` and none of
its numbers is missing. `weight` and `threshold` were fitted on the dev half of the human-labelled
ExpertQA and SciFact claims and are measured on the other half (`assistant eval --validate-judges
--calibrate`; the numbers are in `evals/judge_validity.json`).

Contradiction is detected only where it is cheap and visible on the surface, in the evidence
sentence closest to the statement when that sentence shares most of its words: a negation present
in one and not the other, a direction flipped ("increased" against "decreased"), or a number of the
statement replaced by another. It cannot see contradictions that need world knowledge or
reasoning, paraphrased negation ("failed to", "absence of"), or entailment across sentences; such
statements come out as unsupported at best.

`LlamaJudge` (in `llm_judge.py`) asks a local GGUF model instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from assistant.chunking import sentence_spans
from assistant.cleaning import numbers
from assistant.evaluation.metrics import Verdict
from assistant.questions import ANTONYMS, NEGATION
from assistant.retrieval import analyse

if TYPE_CHECKING:
    from assistant.embedding import Embedder

# Fitted by `assistant eval --validate-judges --calibrate` on the dev half of the labelled claims.
WEIGHT = 0.3
THRESHOLD = 0.66
# The closest evidence sentence must hold this share of the statement's words before a negation,
# direction or number mismatch with it counts as a contradiction rather than a different topic.
CONTRADICTION_OVERLAP = 0.6


@dataclass(frozen=True)
class Judgement:
    """A verdict and the judge's support score (higher is more supported; the scale is the judge's)."""

    verdict: Verdict
    score: float
    reason: str = ""


class Judge(Protocol):
    """Anything that judges statements against evidence passages."""

    name: str

    def judge(self, statement: str, passages: Sequence[str]) -> Judgement:
        """The verdict on `statement` given `passages` read together."""
        ...

    def describe(self) -> dict[str, object]:
        """What identifies this judge in a report: name, version, parameters."""
        ...


def _negated(text: str) -> bool:
    return len(NEGATION.findall(text)) % 2 == 1


def contradiction(statement: str, sentence: str) -> str:
    """Why `sentence` contradicts `statement` on the surface, or "" (see the module docstring)."""
    said = set(analyse(statement))
    found = set(analyse(sentence))
    if not said or len(said & found) < CONTRADICTION_OVERLAP * len(said):
        return ""
    if _negated(statement) != _negated(sentence):
        return "negation differs"
    for term in said:
        opposite = ANTONYMS.get(term)
        if opposite and opposite in found and opposite not in said and term not in found:
            return f"direction differs ({term} / {opposite})"
    ours, theirs = numbers(statement), numbers(sentence)
    if ours and theirs and not ours <= theirs:
        return f"numbers differ ({', '.join(sorted(ours - theirs))} not in the evidence)"
    return ""


def units(passage: str) -> list[str]:
    """The sentences of a passage: what a statement is compared with.

    Adjacent sentence pairs were tried as well; they double the embedding work (the benchmark
    validation then takes over 8 minutes on 2 cores) for claims that span sentences, which
    lexical coverage over the whole evidence already credits.
    """
    return [passage[s:e] for s, e in sentence_spans(passage)]


class OfflineJudge:
    """Lexical coverage plus embedding similarity, with calibrated thresholds (module docstring)."""

    name = "offline"
    version = "2"  # 2: numbers inside units and names count too ("50mg", "7T"), as `cleaning.numbers` reads them

    def __init__(self, embedder: Embedder, *, weight: float = WEIGHT, threshold: float = THRESHOLD) -> None:
        self.embedder = embedder
        self.weight = weight
        self.threshold = threshold
        self._vectors: dict[str, list[float]] = {}

    def describe(self) -> dict[str, object]:
        """Name, version and fitted parameters."""
        return {
            "name": self.name,
            "version": self.version,
            "embedder": self.embedder.name,
            "weight": self.weight,
            "threshold": self.threshold,
        }

    def warm(self, texts: Sequence[str]) -> None:
        """Embed statements and passages ahead of judging, in large batches (much faster than one by one)."""
        wanted: list[str] = []
        for text in texts:
            for unit in [text, *units(text)]:
                if unit not in self._vectors:
                    self._vectors[unit] = []
                    wanted.append(unit)
        if wanted:
            for unit, vector in zip(wanted, self.embedder.encode(wanted), strict=True):
                self._vectors[unit] = vector

    def _vector(self, text: str) -> list[float]:
        if not self._vectors.get(text):
            self._vectors[text] = self.embedder.encode([text])[0]
        return self._vectors[text]

    def signals(self, statement: str, passages: Sequence[str]) -> tuple[float, float, set[str], str]:
        """(coverage, cosine, missing numbers, closest evidence unit) for a statement and its evidence."""
        evidence = " ".join(passages)
        terms = set(analyse(statement))
        found = set(analyse(evidence))
        coverage = len(terms & found) / len(terms) if terms else 1.0
        missing = numbers(statement) - numbers(evidence)
        candidates = [u for p in passages for u in units(p)]
        if not candidates:
            return coverage, 0.0, missing, ""
        self.warm([statement, *passages])
        query = self._vector(statement)
        scored = [(sum(a * b for a, b in zip(query, self._vector(u), strict=True)), u) for u in candidates]
        cosine, closest = max(scored)
        return coverage, cosine, missing, closest

    def judge(self, statement: str, passages: Sequence[str]) -> Judgement:
        """Supported, unsupported or contradicted (see the module docstring)."""
        if not passages:
            return Judgement(Verdict.UNSUPPORTED, 0.0, "no evidence")
        coverage, cosine, missing, closest = self.signals(statement, passages)
        score = self.weight * coverage + (1 - self.weight) * cosine
        conflict = contradiction(statement, closest) if closest else ""
        if conflict:
            return Judgement(Verdict.CONTRADICTED, score, conflict)
        if missing:
            return Judgement(Verdict.UNSUPPORTED, score, f"numbers not in the evidence: {', '.join(sorted(missing))}")
        if score >= self.threshold:
            return Judgement(Verdict.SUPPORTED, score)
        return Judgement(Verdict.UNSUPPORTED, score, f"coverage {coverage:.2f}, similarity {cosine:.2f}")
