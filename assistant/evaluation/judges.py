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

`ScorerJudge` reads the statement as the extractive answerer reads a question: it ranks the
evidence's sentences with the answerer's learned sentence model (`assistant.scorer`) and gives the
features of the best one, and of the candidate list, to a logistic regression fitted on the dev half
of the same human labels (`evals/train_judge.py`, shipped as `assistant/data/judge.json`).

`LlamaJudge` (in `llm_judge.py`) asks a local GGUF model instead.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from assistant.chunking import sentence_spans
from assistant.cleaning import numbers
from assistant.errors import ConfigError
from assistant.evaluation.metrics import Verdict
from assistant.questions import ANTONYMS, NEGATION
from assistant.records import Passage
from assistant.references import Reference
from assistant.retrieval import ChunkInfo, LexicalIndex, analyse, chunk_info
from assistant.scorer import MODEL_FILE, Linear

if TYPE_CHECKING:
    from assistant.answering import ExtractiveAnswerer
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


def surface(statement: str, passages: Sequence[str]) -> tuple[float, set[str]]:
    """The share of the statement's terms found anywhere in the evidence, and its numbers the evidence lacks."""
    evidence = " ".join(passages)
    terms = set(analyse(statement))
    coverage = len(terms & set(analyse(evidence))) / len(terms) if terms else 1.0
    return coverage, numbers(statement) - numbers(evidence)


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
        coverage, missing = surface(statement, passages)
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


JUDGE_FILE = MODEL_FILE.with_name("judge.json")
JUDGE_FORMAT = 1
JUDGE_FEATURES = (
    # of the evidence sentence the answerer's sentence model ranks first (see `scorer.SENTENCE_FEATURES`)
    "dense",
    "own",
    "coverage",
    "plain_share",
    "bigrams",
    "unmatched_idf",
    "passage_unmatched",
    "negation_mismatch",
    "number_mismatch",
    # of the candidate list as a whole (see `scorer.ANSWER_FEATURES`)
    "best_logit",
    "margin",
    "missing_share",
    # of the evidence as a whole, as the offline judge reads it
    "evidence_coverage",  # share of the statement's terms anywhere in the evidence
    "max_dense",  # the best cosine of the statement to any candidate sentence
    "numbers_missing",  # a number of the statement is nowhere in the evidence
)
# A statement found word for word in its evidence is supported whatever the model says; shorter
# ones ("It works.") may occur anywhere, so they count only as a whole passage or sentence.
VERBATIM_WORDS = 5


def scorer_digest() -> str:
    """sha256 of the shipped answerer scorer, whose sentence model the judge's features depend on."""
    return hashlib.sha256(MODEL_FILE.read_bytes()).hexdigest()


@dataclass(frozen=True)
class JudgeModel:
    """The scorer judge's logistic regression, its threshold and where they came from."""

    model: Linear
    threshold: float
    scorer: str  # `scorer_digest()` of the answerer scorer the features were read with
    provenance: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (the format of `assistant/data/judge.json`)."""
        return {
            "format": JUDGE_FORMAT,
            "model": self.model.to_dict(),
            "threshold": round(self.threshold, 6),
            "scorer_sha256": self.scorer,
            "provenance": self.provenance,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JudgeModel:
        """The inverse of `to_dict`; another format or other features is an error."""
        if data.get("format") != JUDGE_FORMAT:
            raise ValueError(f"judge format {data.get('format')!r}, expected {JUDGE_FORMAT}")
        model = Linear.from_dict(data["model"])
        if model.names != JUDGE_FEATURES:
            raise ValueError("judge features differ from this version's; retrain with evals/train_judge.py")
        return cls(model, float(data["threshold"]), str(data["scorer_sha256"]), dict(data.get("provenance", {})))

    def save(self, path: Path) -> None:
        """Write the model as JSON."""
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=1) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: Path = JUDGE_FILE) -> JudgeModel:
        """Read a model written by `save`."""
        return cls.from_dict(json.loads(path.read_text(encoding="utf-8")))


def _flat(text: str) -> str:
    return " ".join(text.split()).lower()


def quoted(statement: str, passages: Sequence[str]) -> bool:
    """Whether the statement is a quote of its evidence: a whole passage or sentence of it, or 5+ words of it."""
    said = _flat(statement)
    if not said:
        return False
    if len(said.split()) >= VERBATIM_WORDS and any(said in _flat(p) for p in passages):
        return True
    return any(said in (_flat(p), *(_flat(u) for u in units(p))) for p in passages)


class ScorerJudge:
    """The answerer's learned sentence scoring, applied to (statement, evidence) (module docstring).

    `lexical` gives the corpus statistics (idf) the features are read against: the assistant's own
    index when judging its answers (`statistics` fetches it at the first judgement, once the index is
    open); without either, `warm` builds it from the texts it is given (the pooled evidence of a
    benchmark), or the first call from its own evidence. Each evidence passage is
    read as a document of its own. `model` is None only while the judge is being fitted.
    """

    name = "scorer"
    version = "1"

    def __init__(
        self,
        embedder: Embedder,
        lexical: LexicalIndex | None = None,
        model: JudgeModel | None = None,
        *,
        statistics: Callable[[], LexicalIndex] | None = None,
    ) -> None:
        self.embedder = embedder
        self.lexical = lexical
        self.model = model
        self.statistics = statistics
        self._answerer: ExtractiveAnswerer | None = None
        self._known: set[str] = set()

    @classmethod
    def shipped(cls, embedder: Embedder, statistics: Callable[[], LexicalIndex] | None = None) -> ScorerJudge:
        """The judge with the packaged model, refused if it was fitted with another answerer scorer."""
        model = JudgeModel.load()
        if model.scorer != scorer_digest():
            raise ConfigError(
                "assistant/data/judge.json was fitted with another scorer: retrain with evals/train_judge.py"
            )
        return cls(embedder, model=model, statistics=statistics)

    def describe(self) -> dict[str, object]:
        """Name, version, threshold and what the model was fitted on."""
        fitted = self.model.provenance.get("data", "") if self.model else "not fitted"
        return {
            "name": self.name,
            "version": self.version,
            "embedder": self.embedder.name,
            "threshold": round(self.model.threshold, 4) if self.model else None,
            "fitted_on": fitted,
        }

    def warm(self, texts: Sequence[str]) -> None:
        """Build the reference statistics from `texts` when no index was given."""
        if self.lexical is None and self.statistics is None:
            unique = list(dict.fromkeys(texts))
            self.lexical = LexicalIndex(
                [ChunkInfo(f"reference:{n}", f"reference:{n}", "", t, 0, len(t), "", "") for n, t in enumerate(unique)]
            )
            self._answerer = None

    def _reader(self, passages: Sequence[str]) -> ExtractiveAnswerer:
        from assistant.answering import ExtractiveAnswerer

        if self.lexical is None and self.statistics is not None:
            self.lexical = self.statistics()
        if self.lexical is None:
            self.warm(passages)
        if self._answerer is None and self.lexical is not None:
            self._answerer = ExtractiveAnswerer(self.embedder, self.lexical, 3, lambda _ids: {})
            self._known = set()
        if self._answerer is None:
            raise ValueError("the scorer judge has no corpus statistics")
        return self._answerer

    def features(self, statement: str, passages: Sequence[str]) -> tuple[dict[str, float], str] | None:
        """The model's inputs for a statement and its evidence, with the best evidence sentence; None without one."""
        reader = self._reader(passages)
        read: list[Passage] = []
        fresh: list[ChunkInfo] = []
        for rank, text in enumerate(passages):
            source = "evidence:" + hashlib.sha256(text.encode()).hexdigest()[:16]
            if source not in self._known:
                self._known.add(source)
                fresh.append(chunk_info(source, text, {"source": source, "start": 0, "end": len(text)}))
            read.append(Passage(source, source, "", text, 0, len(text), 1.0 / (1 + rank)))
        reader.add_documents(fresh)
        ranking = reader.rank(statement, read, reference=Reference(), restatements=True)
        if not ranking.sentences:
            return None
        best = ranking.sentences[0]
        values = {name: best.features[name] for name in JUDGE_FEATURES if name in best.features}
        values.update({name: ranking.answer_features[name] for name in ("best_logit", "margin", "missing_share")})
        coverage, missing = surface(statement, passages)
        values["evidence_coverage"] = coverage
        values["max_dense"] = max(s.dense for s in ranking.sentences)
        values["numbers_missing"] = float(bool(missing))
        return values, best.text

    def judge(self, statement: str, passages: Sequence[str]) -> Judgement:
        """Supported when the model's P(supported) reaches its threshold; else contradicted or unsupported."""
        if not passages:
            return Judgement(Verdict.UNSUPPORTED, 0.0, "no evidence")
        if quoted(statement, passages):
            return Judgement(Verdict.SUPPORTED, 1.0, "quoted word for word")
        found = self.features(statement, passages)
        if found is None:
            return Judgement(Verdict.UNSUPPORTED, 0.0, "no sentence of the evidence speaks to it")
        if self.model is None:
            raise ValueError("the scorer judge has no model: load one (ScorerJudge.shipped) or fit it")
        values, closest = found
        probability = self.model.model.probability(values)
        if probability >= self.model.threshold:
            return Judgement(Verdict.SUPPORTED, probability)
        if conflict := contradiction(statement, closest):
            return Judgement(Verdict.CONTRADICTED, probability, conflict)
        return Judgement(Verdict.UNSUPPORTED, probability, f"P(supported) {probability:.2f}")
