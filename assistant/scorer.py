"""Learned sentence scoring and abstention for the extractive answerer.

Two logistic regressions, trained by `evals/train_scorer.py` on public benchmark data (never on the
golden set or the seed corpus) and shipped as one small JSON file, `assistant/data/scorer.json`:

- the **sentence model** gives P(this sentence answers this question) from generic features of a
  (question, candidate sentence) pair (`SENTENCE_FEATURES`): embedding similarity, idf-weighted
  term coverage, retrieval rank, answer-type evidence, length, and each of those relative to the
  best candidate of the same question;
- the **answer model** gives P(the best sentence is a right answer) from features of the question's
  candidate list as a whole (`ANSWER_FEATURES`): the best sentence's probability, its margin over
  the runner-up, the share of the question's words the corpus lacks. The answerer abstains when
  that probability is below `threshold`, which the training script chose on held-out folds of the
  training data; `thresholds` holds one per caution level (`CAUTION`, the `answering.caution`
  setting), chosen the same way.

Features are plain floats computed by `assistant.ranking`; this module only holds the weights,
applies them, and fits them (`fit_logistic`, L2-regularised Newton iterations in numpy, so that
training is deterministic and needs no extra package).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

MODEL_FILE = Path(__file__).with_name("data") / "scorer.json"
FORMAT = 1
# Caution levels (`answering.caution`) -> the share of the right answers (answerable training questions whose
# best sentence is right) that the level's threshold keeps, out of fold; "highest" keeps whatever share gives
# the best balanced pass rate (`evals/train_scorer.py`, `best_threshold`).
CAUTION = {"low": 0.95, "normal": 0.9, "high": 0.8, "highest": 0.0}

SENTENCE_FEATURES = (
    "dense",  # cosine of question and sentence vectors
    "own",  # idf-weighted share of question terms the sentence itself holds
    "window",  # ... the sentence or the one before it in its passage
    "coverage",  # ... also counting terms found in its heading (0.75) or its document (0.5)
    "plain_share",  # unweighted share of question terms in the sentence
    "bigrams",  # share of the question's adjacent content-word pairs that the sentence also has adjacent
    "dense_gap",  # dense minus the best dense of the question's candidates (0 for the best)
    "dense_free",  # dense, with the question's words that name a candidate's document left out
    "dense_free_gap",  # dense_free minus the best dense_free of the candidates
    "own_gap",  # own minus the best own of the candidates
    "coverage_gap",  # coverage minus the best coverage of the candidates
    "passage_rank",  # 1 / (1 + rank of the retrieved passage holding it)
    "passage_dense",  # the passage's own cosine to the query (0 when only BM25 found it)
    "typed",  # the question asks for a kind of answer (number, date, name, ...)
    "evidence",  # ... and the sentence holds that kind of answer
    "reason",  # a "why" question and a sentence that gives a cause
    "log_words",  # log(1 + words in the sentence)
    "first_in_passage",  # the sentence opens its passage
    "unmatched_idf",  # the rarest question term the sentence lacks: its idf over the corpus's highest idf
    "passage_unmatched",  # idf-weighted share of question terms its whole passage lacks
    "negation_mismatch",  # one of question and sentence is negated, the other not
    "number_mismatch",  # the question states a number the sentence does not
    "antonym_mismatch",  # the sentence has the opposite of a question word ("after" for "before") and not the word
    "grounded",  # the names, acronyms and numbers of the question all occur in the sentence's document
    "blend",  # the hand-made score: 0.6 coverage + 0.4 dense, plus small bonuses (cause, result, follow-up focus)
    "blend_gap",  # blend minus the best blend of the candidates
)

ANSWER_FEATURES = (
    "best_logit",  # the sentence model's logit of the best candidate
    "margin",  # ... minus the runner-up's logit (capped at 5)
    "best_dense",
    "best_own",
    "best_coverage",
    "best_unmatched_idf",
    "best_passage_unmatched",
    "missing_share",  # share of question terms that occur nowhere in the corpus
    "missing_name",  # ... and one of them names something (capitalised, drug-shaped or rare)
    "only_common",  # the question's corpus words are all common (in nearly every passage)
    "best_grounded",
    "typed",
    "best_evidence",
    "measured_unevidenced",  # the question asks for a figure or a date and the best sentence holds none
    "best_negation_mismatch",  # the question is negated and the best sentence is not, or the other way round
    "best_number_mismatch",  # the question gives a number the best sentence does not
    "best_antonym_mismatch",
    "log_candidates",  # log(1 + number of candidate sentences)
    "log_terms",  # log(1 + content terms in the question)
)


def sigmoid(z: float) -> float:
    """The logistic function, clipped so that it never overflows."""
    return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))


@dataclass(frozen=True)
class Linear:
    """A logistic regression over named features (standardised with the training mean and scale)."""

    names: tuple[str, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    weights: tuple[float, ...]
    bias: float

    def logit(self, values: dict[str, float]) -> float:
        """The log-odds for one feature dict (missing features count as the training mean)."""
        z = self.bias
        for name, mu, sd, w in zip(self.names, self.mean, self.scale, self.weights, strict=True):
            z += w * (values.get(name, mu) - mu) / sd
        return z

    def probability(self, values: dict[str, float]) -> float:
        """P(positive) for one feature dict."""
        return sigmoid(self.logit(values))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "names": list(self.names),
            "mean": [round(v, 6) for v in self.mean],
            "scale": [round(v, 6) for v in self.scale],
            "weights": [round(v, 6) for v in self.weights],
            "bias": round(self.bias, 6),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Linear:
        """The inverse of `to_dict`."""
        return cls(
            tuple(data["names"]),
            tuple(data["mean"]),
            tuple(data["scale"]),
            tuple(data["weights"]),
            float(data["bias"]),
        )


@dataclass(frozen=True)
class Scorer:
    """The sentence model, the answer model and the abstention threshold, with where they came from.

    `threshold` is the "normal" caution level's; `thresholds` has every level's (`threshold_for`).
    """

    sentence: Linear
    answer: Linear
    threshold: float
    provenance: dict[str, Any]
    thresholds: dict[str, float] = field(default_factory=dict)

    def threshold_for(self, caution: str) -> float:
        """The abstention threshold of a caution level (`CAUTION`)."""
        if caution == "normal":
            return self.threshold
        if caution not in self.thresholds:
            raise ValueError(f"the scorer has no threshold for caution {caution!r}; retrain with evals/train_scorer.py")
        return self.thresholds[caution]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (the format of `assistant/data/scorer.json`)."""
        return {
            "format": FORMAT,
            "sentence": self.sentence.to_dict(),
            "answer": self.answer.to_dict(),
            "threshold": round(self.threshold, 6),
            "thresholds": {level: round(value, 6) for level, value in self.thresholds.items()},
            "provenance": self.provenance,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Scorer:
        """The inverse of `to_dict`; a file of another format is an error."""
        if data.get("format") != FORMAT:
            raise ValueError(f"scorer format {data.get('format')!r}, expected {FORMAT}")
        sentence, answer = Linear.from_dict(data["sentence"]), Linear.from_dict(data["answer"])
        if sentence.names != SENTENCE_FEATURES or answer.names != ANSWER_FEATURES:
            raise ValueError("scorer features differ from this version's; retrain with evals/train_scorer.py")
        thresholds = {level: float(value) for level, value in data.get("thresholds", {}).items()}
        return cls(sentence, answer, float(data["threshold"]), dict(data.get("provenance", {})), thresholds)

    def save(self, path: Path) -> None:
        """Write the scorer as JSON."""
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=1) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> Scorer:
        """Read a scorer written by `save`."""
        return cls.from_dict(json.loads(path.read_text(encoding="utf-8")))


@cache
def default_scorer() -> Scorer:
    """The scorer shipped with the package."""
    return Scorer.load(MODEL_FILE)


def fit_logistic(
    x: np.ndarray,
    y: np.ndarray,
    names: tuple[str, ...],
    *,
    weights: np.ndarray | None = None,
    l2: float = 1.0,
    iterations: int = 50,
) -> Linear:
    """L2-regularised logistic regression by Newton's method on standardised features (deterministic).

    `weights` are per-row sample weights (default 1); `l2` is the penalty on the standardised
    coefficients (the bias is not penalised).
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    w_rows = np.ones(len(y)) if weights is None else np.asarray(weights, dtype=np.float64)
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale < 1e-9] = 1.0
    z = np.hstack([(x - mean) / scale, np.ones((len(y), 1))])
    beta = np.zeros(z.shape[1])
    penalty = np.full(z.shape[1], l2)
    penalty[-1] = 0.0
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-np.clip(z @ beta, -30, 30)))
        gradient = z.T @ (w_rows * (p - y)) + penalty * beta
        hessian = (z * (w_rows * p * (1 - p))[:, None]).T @ z + np.diag(penalty + 1e-9)
        step = np.linalg.solve(hessian, gradient)
        beta -= step
        if float(np.max(np.abs(step))) < 1e-8:
            break
    return Linear(
        names,
        tuple(float(v) for v in mean),
        tuple(float(v) for v in scale),
        tuple(float(v) for v in beta[:-1]),
        float(beta[-1]),
    )
