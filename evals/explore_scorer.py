"""Alternatives to the sentence model, measured out of fold on SQuAD: is anything better than the logistic regression?

Run from the repo root (about 2 minutes on 2 cores; needs the `bench` extra for scikit-learn):
    .venv/bin/python evals/explore_scorer.py [--articles N] [--questions N]

Every answerable question of the SQuAD 2.0 dev half (`../shared/benchmarks/squad2/dev-half.json`, training data:
never the golden set, the held-out set or the seed corpus) is retrieved and ranked as `answer()` does
(`Assistant.context` and `ExtractiveAnswerer.rank`, the path `evals/train_scorer.py` reads). Each model is fitted
on 3 folds of 2 articles and scored on the fourth (4 folds, as `train_scorer.py` does); the score is the share of
answerable questions whose top-ranked candidate contains a gold answer (a question without candidates counts as
a miss). Rows:

- `logistic regression`: the shipped sentence model's form (`SENTENCE_FEATURES`, the same L2 penalty);
- `gradient boosting`: scikit-learn's HistGradientBoostingClassifier over the same features (300 trees of at
  most 15 leaves, learning rate 0.05, fixed seed), and the sum of its logit and the regression's;
- `+ learned answer type`: the regression plus one feature learned from the training folds' answers instead of
  regular expressions: the question's class (its interrogative: "how many", "when", "who", "where", "what", ...)
  and the shapes of the candidate's words that the question lacks (a year, another number, a month, a capitalised
  word, a percentage, a lower-case word); the feature is the largest log-lift P(shape in the answer | class) /
  P(shape in the answer) over the candidate's shapes.

`--articles` and `--questions` (per article) cut the data down (the test suite runs a tiny slice).
"""

from __future__ import annotations

import argparse
import math
import re
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "evals"))

from train_scorer import (  # noqa: E402
    N_FOLDS,
    SENTENCE_L2,
    SQUAD,
    build_assistant,
    contains_gold,
    per_article_sample,
    squad_articles,
    squad_file_text,
    squad_questions,
)

from assistant.cleaning import WORD  # noqa: E402
from assistant.embedding import Embedder  # noqa: E402
from assistant.retrieval import analyse  # noqa: E402
from assistant.scorer import SENTENCE_FEATURES, fit_logistic  # noqa: E402

CLASSES = (
    "how many",
    "how much",
    "how long",
    "how old",
    "what year",
    "which year",
    "when",
    "who",
    "whom",
    "whose",
    "where",
    "why",
    "how",
    "which",
    "what",
)
SHAPES = ("YEAR", "NUM", "MONTH", "CAP", "PCT", "LOWER")
MONTHS = frozenset("january february march april may june july august september october november december".split())
Question = tuple[str, str, set[str], list[tuple[list[float], int, set[str]]]]  # article, class, answer shapes, rows


def question_class(text: str) -> str:
    """The first interrogative of CLASSES in the question, or "other"."""
    lowered = text.lower()
    return next((c for c in CLASSES if re.search(rf"\b{c}\b", lowered)), "other")


def shapes(text: str, skip: set[str]) -> set[str]:
    """The shapes of the words of `text` whose terms are not all in `skip` (the question's terms)."""
    out = {"PCT"} if "%" in text else set()
    for position, word in enumerate(WORD.findall(text)):
        terms = analyse(word)
        if terms and all(t in skip for t in terms):
            continue
        lowered = word.lower()
        if re.fullmatch(r"(1\d{3}|20\d{2})s?", word):
            out.add("YEAR")
        elif any(c.isdigit() for c in word):
            out.add("NUM")
        elif lowered in MONTHS:
            out.add("MONTH")
        elif lowered == "percent":
            out.add("PCT")
        elif word[0].isupper() and position > 0:
            out.add("CAP")
        else:
            out.add("LOWER")
    return out


def read(n_articles: int | None, per_article: int | None, work: Path) -> list[Question]:
    """Every answerable question's candidates: features, label and word shapes."""
    articles = squad_articles(SQUAD, n_articles)
    corpus = work / "corpus"
    corpus.mkdir(parents=True)
    for article in articles:
        (corpus / f"{article['title']}.txt").write_text(squad_file_text(article), encoding="utf-8")
    questions = [q for q in squad_questions(articles) if q["answerable"]]
    if per_article:
        questions = per_article_sample(questions, per_article)
    assistant = build_assistant(corpus, work / "index", Embedder())
    out: list[Question] = []
    for q in questions:
        context = assistant.context(q["question"])
        ranking = assistant.answerer.rank(q["question"], context.passages, **context.answer_arguments())
        asked = set(analyse(q["question"]))
        rows = [
            (
                [s.features[name] for name in SENTENCE_FEATURES],
                int(contains_gold(s.text, q["golds"])),
                shapes(s.text, asked),
            )
            for s in ([] if ranking.detail else ranking.sentences)
        ]
        answer = shapes(q["golds"][0], set()) if q["golds"] else set()
        out.append((q["article"], question_class(q["question"]), answer, rows))
    return out


def type_table(train: list[Question]) -> tuple[dict[str, dict[str, float]], dict[str, float]]:
    """P(shape in the answer | class), smoothed towards P(shape in the answer), and the latter."""
    per_class: dict[str, Counter[str]] = defaultdict(Counter)
    totals: Counter[str] = Counter()
    overall: Counter[str] = Counter()
    for _, kind, answer, _ in train:
        totals[kind] += 1
        for shape in answer:
            per_class[kind][shape] += 1
            overall[shape] += 1
    n = sum(totals.values())
    base = {s: (overall[s] + 1) / (n + 2) for s in SHAPES}
    table = {k: {s: (per_class[k][s] + base[s]) / (totals[k] + 1) for s in SHAPES} for k in totals}
    return table, base


def type_fit(table: dict[str, dict[str, float]], base: dict[str, float], kind: str, found: set[str]) -> float:
    """The largest log-lift of the candidate's shapes for this class of question (0 without shapes)."""
    p = table.get(kind, base)
    return max((math.log(p[s] / base[s]) for s in found), default=0.0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--articles", type=int, default=None)
    parser.add_argument("--questions", type=int, default=None, help="answerable questions per article")
    args = parser.parse_args(argv)
    from sklearn.ensemble import HistGradientBoostingClassifier

    started = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        data = read(args.articles, args.questions, Path(tmp))
    names = list(dict.fromkeys(article for article, *_ in data))
    folds = [names[i::N_FOLDS] for i in range(N_FOLDS)] if len(names) >= N_FOLDS else [[n] for n in names]
    typed_names = (*SENTENCE_FEATURES, "type_fit")
    top: Counter[str] = Counter()
    for held in folds:
        train = [q for q in data if q[0] not in held]
        table, base = type_table(train)
        x = np.array([row for *_, rows in train for row, _, _ in rows])
        y = np.array([label for *_, rows in train for _, label, _ in rows])
        extra = np.array([[type_fit(table, base, kind, found)] for _, kind, _, rows in train for _, _, found in rows])
        if len(set(y.tolist())) < 2:
            continue  # a slice without a right candidate in its training folds fits nothing
        linear = fit_logistic(x, y, SENTENCE_FEATURES, l2=SENTENCE_L2)
        typed = fit_logistic(np.hstack([x, extra]), y, typed_names, l2=SENTENCE_L2)
        trees = HistGradientBoostingClassifier(
            max_iter=300,
            learning_rate=0.05,
            max_leaf_nodes=15,
            min_samples_leaf=40,
            l2_regularization=1.0,
            random_state=0,
        ).fit(x, y)
        for _, kind, _, rows in (q for q in data if q[0] in held):
            if not rows:
                continue
            features = np.array([row for row, _, _ in rows])
            labels = [label for _, label, _ in rows]
            a = np.array([linear.logit(dict(zip(SENTENCE_FEATURES, r, strict=True))) for r in features])
            b = trees.decision_function(features)
            c = np.array(
                [
                    typed.logit(dict(zip(typed_names, [*r, type_fit(table, base, kind, found)], strict=True)))
                    for r, (_, _, found) in zip(features, rows, strict=True)
                ]
            )
            for name, scores in (("linear", a), ("trees", b), ("blend", a + b), ("typed", c)):
                top[name] += labels[int(np.argmax(scores))]
    n = len(data)
    print(f"\n{n} answerable SQuAD questions, {len(folds)} folds, {time.monotonic() - started:.0f} s")
    print("| sentence model | right sentence first (out of fold) |")
    print("|---|---|")
    rows_out: list[tuple[str, Any]] = [
        ("logistic regression (shipped form)", top["linear"]),
        ("gradient boosting, same features", top["trees"]),
        ("logistic regression + gradient boosting", top["blend"]),
        ("logistic regression + learned answer type", top["typed"]),
    ]
    for label, count in rows_out:
        print(f"| {label} | {count / max(1, n):.3f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
