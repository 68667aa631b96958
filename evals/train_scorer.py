"""Train the extractive answerer's learned sentence and answer models (`assistant/scorer.py`).

Run from the repo root (deterministic; about 5 minutes on 2 cores, most of it reading features):
    .venv/bin/python evals/train_scorer.py [--out assistant/data/scorer.json] [--folds-out evals/scorer_folds.json]
        [--articles N] [--questions N] [--others N] [--work DIR [--reuse]]

Data (all under ../shared/benchmarks/, never the golden set, the held-out set or the seed corpus):
- SQuAD 2.0 dev half (`squad2/dev-half.json`, 8 Wikipedia articles, 2,828 questions, 1,529 unanswerable). The
  corpus is the 8 articles, one file each (title line, blank line, paragraphs), indexed by the assistant itself;
  every question goes through the same retrieval and candidate step as `answer()` (`Assistant.context` and
  `ExtractiveAnswerer.rank`). A candidate sentence is a positive when it contains a gold answer after SQuAD
  normalisation (lower case, no punctuation, no articles). Unanswerable questions are adversarial: written to
  look answerable from the same paragraph.
- Three document sets in other registers, each its own corpus, where "unanswerable" means "the corpus is on the
  subject but lacks the document asked about": for a seeded 40% of the questions the documents they need are
  left out of the corpus. A candidate is right when it comes from one of the question's own documents.
  - PubMedQA (`pubmedqa/ori_pqal.json`): the 500 questions that are not in `test_ground_truth.json` (which
    `evals/bench_qa.py` asks), over their abstracts.
  - SciFact dev claims (`scifact/claims_dev.jsonl`) with cited abstracts, minus the first 60 test claims of
    `qrels/test.tsv` (which `evals/bench_qa.py` and `evals/bench_scale.py` ask), over their cited abstracts and
    as many others.
  - ExpertQA (`expertqa/rand_test.jsonl`): experts' questions over the web pages its answers cite (each page's
    evidence text one file).
  They train the answer model only; the sentence model learns from SQuAD's answer-bearing sentences.

Two logistic regressions (`assistant.scorer.fit_logistic`):
1. the sentence model on every candidate of the answerable questions;
2. the answer model on each question's best candidate, with label "answerable and the best candidate is right"
   (an abstention costs nothing on an answerable question whose best sentence is wrong), answerable and
   unanswerable questions weighted to count equally (the benchmark samples them half and half). Its inputs use
   the sentence model's out-of-fold logits (groups: the SQuAD articles and each other data set), so they look
   like those of text the model never saw.
The abstention threshold is chosen on out-of-fold answer probabilities of this training data (never on the golden
or held-out sets): the highest one that still keeps 90% of the right answers (`best_threshold` says why). The
other caution levels (`assistant.scorer.CAUTION`, the `answering.caution` setting) get theirs the same way, each
keeping its own share of the right answers (95 %, 80 %; "highest": the best balanced pass rate).

Outputs: `--out` (the shipped scorer, trained on everything) and `--folds-out`: 4 scorers, each trained without
2 of the 8 SQuAD articles (and with all the other data sets), which `evals/bench_qa.py` uses to score every
SQuAD question leave-articles-out. The table of out-of-fold results goes to stdout. `--articles`, `--questions`
and `--others` cut the data down (the test suite runs a tiny slice). With `--work DIR` the corpora, indexes and
features stay in DIR, and `--reuse` trains again on the saved features without reading them anew.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import string
import sys
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from assistant import scorer as scorer_module  # noqa: E402
from assistant.embedding import Embedder  # noqa: E402
from assistant.pipeline import Assistant  # noqa: E402
from assistant.ranking import MEASURED_TYPES  # noqa: E402
from assistant.scorer import (  # noqa: E402
    ANSWER_FEATURES,
    CAUTION,
    MODEL_FILE,
    SENTENCE_FEATURES,
    Linear,
    Scorer,
    fit_logistic,
)
from assistant.settings import Settings, StoreSettings  # noqa: E402

BENCHMARKS = ROOT.parent / "shared" / "benchmarks"
SQUAD = BENCHMARKS / "squad2" / "dev-half.json"
PUBMEDQA = BENCHMARKS / "pubmedqa"
SCIFACT = BENCHMARKS / "scifact"
EXPERTQA = BENCHMARKS / "expertqa"
FOLDS_FILE = ROOT / "evals" / "scorer_folds.json"
# The answer model's inputs that describe the question, not its best sentence.
QUESTION_LEVEL = frozenset({"missing_share", "missing_name", "only_common", "log_candidates", "log_terms"})
OTHER_SETS = frozenset({"pubmedqa", "scifact", "expertqa"})
HELD_CLAIMS = 60  # the SciFact test claims that evals/bench_qa.py and evals/bench_scale.py ask: never trained on
LEFT_OUT = 0.4  # share of PubMedQA and SciFact questions whose documents are left out of the corpus
N_FOLDS = 4
SEED = 0
SENTENCE_L2 = 1.0
ANSWER_L2 = 1.0

_ARTICLES = re.compile(r"\b(a|an|the)\b")


def normalise(text: str) -> str:
    """SQuAD's answer normalisation: lower case, punctuation and articles removed, whitespace collapsed."""
    text = "".join(ch for ch in text.lower() if ch not in set(string.punctuation))
    return " ".join(_ARTICLES.sub(" ", text).split())


def contains_gold(text: str, golds: Iterable[str]) -> bool:
    """Whether `text` contains one of the gold answers, both normalised."""
    said = f" {normalise(text)} "
    return any(f" {g} " in said for g in golds if g)


@dataclass
class Item:
    """One question and what the answerer made of it."""

    qid: str
    group: str  # the SQuAD article, or one of OTHER_SETS
    question: str
    answerable: bool
    golds: list[str] = field(default_factory=list)  # normalised SQuAD answers
    detail: str = ""  # a rule abstained before weighing sentences
    features: list[list[float]] = field(default_factory=list)  # per candidate, SENTENCE_FEATURES order
    labels: list[int] = field(default_factory=list)
    asked: dict[str, float] = field(default_factory=dict)  # the answer model's inputs that do not depend on a sentence


def squad_articles(path: Path, n_articles: int | None) -> list[dict[str, Any]]:
    """The SQuAD articles, in file order (the first `n_articles` when given)."""
    articles = json.loads(path.read_text(encoding="utf-8"))["data"]
    return articles[:n_articles] if n_articles else articles


def squad_file_text(article: dict[str, Any]) -> str:
    """An article as a corpus file: its title line, a blank line, its paragraphs separated by blank lines."""
    title = article["title"].replace("_", " ")
    return title + "\n\n" + "\n\n".join(p["context"].strip() for p in article["paragraphs"]) + "\n"


def squad_questions(articles: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every question of the articles, with its article's title."""
    out = []
    for article in articles:
        for paragraph in article["paragraphs"]:
            for qa in paragraph["qas"]:
                out.append(
                    {
                        "id": qa["id"],
                        "article": article["title"],
                        "question": qa["question"],
                        "answerable": not qa.get("is_impossible", False),
                        "golds": sorted({normalise(a["text"]) for a in qa.get("answers", [])}),
                    }
                )
    return out


def per_article_sample(questions: list[dict[str, Any]], n: int, seed: int = SEED) -> list[dict[str, Any]]:
    """A seeded sample of n questions of each article (a slice for quick runs)."""
    rng = random.Random(seed)
    by_article: dict[str, list[dict[str, Any]]] = {}
    for q in questions:
        by_article.setdefault(q["article"], []).append(q)
    return [q for qs in by_article.values() for q in rng.sample(qs, min(n, len(qs)))]


def balanced_sample(questions: list[dict[str, Any]], n: int, seed: int = SEED) -> list[dict[str, Any]]:
    """A seeded sample of n questions, half answerable and half not (the benchmark's protocol)."""
    rng = random.Random(seed)
    answerable = [q for q in questions if q["answerable"]]
    unanswerable = [q for q in questions if not q["answerable"]]
    half = n // 2
    return rng.sample(answerable, min(half, len(answerable))) + rng.sample(
        unanswerable, min(n - half, len(unanswerable))
    )


def build_assistant(corpus: Path, index: Path, embedder: Embedder) -> Assistant:
    """An Assistant over `corpus` with its index at `index`, built now (with the placeholder scorer, see main)."""
    assistant = Assistant(
        Settings(corpus=corpus, store=StoreSettings(path=index), corpus_check_seconds=3600), embedder=embedder
    )
    assistant.ingest(progress=False)
    return assistant


def read_items(assistant: Assistant, questions: list[dict[str, Any]], group: str | None = None) -> list[Item]:
    """Retrieve and rank every question as `answer()` would, and keep the features of every candidate.

    A SQuAD candidate is right when it contains a gold answer; a candidate of the other data sets when it
    comes from one of the question's relevant documents (`relevant`, file names).
    """
    answerer = assistant.answerer
    items = []
    for q in questions:
        item = Item(q["id"], group or q["article"], q["question"], q["answerable"], q.get("golds", []))
        context = assistant.context(q["question"])
        ranking = answerer.rank(q["question"], context.passages, **context.answer_arguments())
        item.detail = ranking.detail
        relevant = q.get("relevant")
        for sentence in ranking.sentences:
            item.features.append([sentence.features[name] for name in SENTENCE_FEATURES])
            if relevant is None:
                right = q["answerable"] and contains_gold(sentence.text, item.golds)
            else:
                right = q["answerable"] and sentence.passage.source in relevant
            item.labels.append(int(right))
        item.asked = {k: v for k, v in ranking.answer_features.items() if k in QUESTION_LEVEL}
        item.asked["measured"] = float(ranking.question.answer_type in MEASURED_TYPES)
        items.append(item)
    return items


def pubmedqa_questions(folder: Path, limit: int | None) -> list[dict[str, Any]]:
    """PubMedQA's non-test questions over their abstracts, 40% of which are left out of the corpus.

    A question whose abstract is in the corpus is answerable (its abstract is the relevant document); one whose
    abstract was left out is not: the corpus is on the same subjects but lacks the study asked about.
    """
    records = json.loads((PUBMEDQA / "ori_pqal.json").read_text(encoding="utf-8"))
    test = set(json.loads((PUBMEDQA / "test_ground_truth.json").read_text(encoding="utf-8")))
    ids = sorted(pmid for pmid in records if pmid not in test)
    rng = random.Random(SEED)
    rng.shuffle(ids)
    ids = ids[:limit] if limit else ids
    kept = set(ids[: int(len(ids) * (1 - LEFT_OUT))])
    folder.mkdir(parents=True, exist_ok=True)
    for pmid in sorted(kept):
        (folder / f"{pmid}.txt").write_text("\n\n".join(records[pmid]["CONTEXTS"]) + "\n", encoding="utf-8")
    return [
        {"id": pmid, "question": records[pmid]["QUESTION"], "answerable": pmid in kept, "relevant": [f"{pmid}.txt"]}
        for pmid in ids
    ]


def expertqa_questions(folder: Path, limit: int | None) -> list[dict[str, Any]]:
    """ExpertQA's questions over the web passages its answers cite, 40% of the questions' passages left out.

    Each distinct cited page of a question becomes one file (the evidence text as ExpertQA stored it); a
    question is answerable when its pages are in the corpus, and not when they were left out.
    """
    records = [json.loads(line) for line in (EXPERTQA / "rand_test.jsonl").read_text(encoding="utf-8").splitlines()]
    pages: list[dict[str, str]] = []
    for record in records:
        seen: dict[str, str] = {}
        for answer in record["answers"].values():
            for claim in answer.get("claims") or []:
                for evidence in claim.get("evidence") or []:
                    head, _, text = evidence.partition("\n\n")
                    url = head.split(" ", 1)[-1].strip()
                    if len(text.split()) >= 30 and len(text) > len(seen.get(url, "")):
                        seen[url] = text
        pages.append(seen)
    order = [i for i in range(len(records)) if pages[i]]
    rng = random.Random(SEED)
    rng.shuffle(order)
    order = order[:limit] if limit else order
    kept = set(order[: int(len(order) * (1 - LEFT_OUT))])
    folder.mkdir(parents=True, exist_ok=True)
    questions = []
    for i in order:
        files = [f"q{i:03d}-{k}.txt" for k in range(len(pages[i]))]
        if i in kept:
            for name, text in zip(files, pages[i].values(), strict=True):
                (folder / name).write_text(text.strip() + "\n", encoding="utf-8")
        questions.append(
            {"id": f"q{i}", "question": records[i]["question"], "answerable": i in kept, "relevant": files}
        )
    return questions


def scifact_questions(folder: Path, limit: int | None) -> list[dict[str, Any]]:
    """SciFact dev claims (not the benchmarks' test claims) over their cited abstracts and as many others.

    40% of the claims have every cited abstract left out of the corpus: those are not answerable.
    """
    queries_in_order: list[str] = []
    for line in (SCIFACT / "qrels" / "test.tsv").read_text(encoding="utf-8").splitlines()[1:]:
        qid = line.split("\t")[0]
        if qid not in queries_in_order:
            queries_in_order.append(qid)
    held = set(queries_in_order[:HELD_CLAIMS])
    claims = [json.loads(line) for line in (SCIFACT / "claims_dev.jsonl").read_text(encoding="utf-8").splitlines()]
    claims = [c for c in claims if str(c["id"]) not in held and c["cited_doc_ids"]]
    rng = random.Random(SEED)
    rng.shuffle(claims)
    claims = claims[:limit] if limit else claims
    answerable = claims[: int(len(claims) * (1 - LEFT_OUT))]
    keep = {str(d) for c in answerable for d in c["cited_doc_ids"]}
    questions = []
    for claim in claims:
        cited = {str(d) for d in claim["cited_doc_ids"]}
        if claim not in answerable and cited & keep:
            continue  # shares an abstract with an answerable claim: neither clearly in nor out
        questions.append(
            {
                "id": str(claim["id"]),
                "question": claim["claim"],
                "answerable": claim in answerable,
                "relevant": [f"{d}.md" for d in sorted(cited)],
            }
        )
    corpus = [json.loads(line) for line in (SCIFACT / "corpus.jsonl").read_text(encoding="utf-8").splitlines()]
    cited_anywhere = {str(d) for c in claims for d in c["cited_doc_ids"]}
    others = [d for d in corpus if str(d["_id"]) not in cited_anywhere]
    chosen = [d for d in corpus if str(d["_id"]) in keep] + rng.sample(others, min(len(others), max(len(keep), 100)))
    folder.mkdir(parents=True, exist_ok=True)
    for doc in chosen:
        (folder / f"{doc['_id']}.md").write_text(f"{doc['title']}\n\n{doc['text']}\n", encoding="utf-8")
    return questions


def use_placeholder(work: Path) -> None:
    """A scorer with zero weights, made the package default for this process.

    Features do not depend on the weights, and the shipped file may be of an older feature set.
    """
    names = (SENTENCE_FEATURES, ANSWER_FEATURES)
    zero = [Linear(n, (0.0,) * len(n), (1.0,) * len(n), (0.0,) * len(n), 0.0) for n in names]
    placeholder = Scorer(zero[0], zero[1], 0.0, {"placeholder": True})
    path = work / "placeholder-scorer.json"
    placeholder.save(path)
    scorer_module.MODEL_FILE = path
    scorer_module.default_scorer.cache_clear()


# --- training ---------------------------------------------------------------------------------------------


def sentence_rows(items: list[Item]) -> tuple[np.ndarray, np.ndarray]:
    """Every candidate of the answerable questions that have at least one candidate."""
    rows = [item for item in items if item.answerable and item.features and item.golds]  # SQuAD: labelled sentences
    x = [f for item in rows for f in item.features]
    y = [label for item in rows for label in item.labels]
    return np.array(x, dtype=np.float64).reshape(-1, len(SENTENCE_FEATURES)), np.array(y, dtype=np.float64)


def fit_sentence(items: list[Item]) -> Linear:
    """The sentence model on these questions."""
    x, y = sentence_rows(items)
    return fit_logistic(x, y, SENTENCE_FEATURES, l2=SENTENCE_L2)


def answer_row(item: Item, model: Linear) -> tuple[list[float], bool] | None:
    """The answer model's inputs for one question under a sentence model, and whether its best is right."""
    if item.detail or not item.features:
        return None
    logits = [model.logit(dict(zip(SENTENCE_FEATURES, f, strict=True))) for f in item.features]
    order = np.argsort(-np.array(logits), kind="stable")
    best = int(order[0])
    runner = logits[int(order[1])] if len(order) > 1 else logits[best] - 5.0
    f = dict(zip(SENTENCE_FEATURES, item.features[best], strict=True))
    values = {
        **item.asked,
        "best_logit": logits[best],
        "margin": min(5.0, logits[best] - runner),
        "best_dense": f["dense"],
        "best_own": f["own"],
        "best_coverage": f["coverage"],
        "best_unmatched_idf": f["unmatched_idf"],
        "best_passage_unmatched": f["passage_unmatched"],
        "typed": f["typed"],
        "best_evidence": f["evidence"],
        "measured_unevidenced": item.asked["measured"] * (1.0 - f["evidence"]),
        "best_grounded": f["grounded"],
        "best_negation_mismatch": f["negation_mismatch"],
        "best_number_mismatch": f["number_mismatch"],
        "best_antonym_mismatch": f["antonym_mismatch"],
    }
    row = [values[name] for name in ANSWER_FEATURES]
    return row, bool(item.labels[best])


def class_weights(items: list[Item]) -> dict[bool, float]:
    """Weights that make answerable and unanswerable questions count equally."""
    n_yes = sum(i.answerable for i in items) or 1
    n_no = sum(not i.answerable for i in items) or 1
    return {True: 0.5 / n_yes, False: 0.5 / n_no}


def out_of_fold_answer_rows(items: list[Item]) -> list[tuple[Item, list[float], bool]]:
    """Answer-model rows whose sentence logits come from a model that did not see the question's group."""
    groups = sorted({i.group for i in items})
    rows = []
    for group in groups:
        train = [i for i in items if i.group != group] if len(groups) > 1 else items
        model = fit_sentence(train)
        for item in (i for i in items if i.group == group):
            got = answer_row(item, model)
            if got is not None:
                rows.append((item, got[0], got[1]))
    return rows


def fit_answer(rows: list[tuple[Item, list[float], bool]], weights: dict[bool, float]) -> Linear:
    """The answer model on these rows, classes weighted equally."""
    x = np.array([r for _, r, _ in rows], dtype=np.float64).reshape(-1, len(ANSWER_FEATURES))
    y = np.array([item.answerable and right for item, _, right in rows], dtype=np.float64)
    w = np.array([weights[item.answerable] for item, _, _ in rows]) * len(rows)
    return fit_logistic(x, y, ANSWER_FEATURES, weights=w, l2=ANSWER_L2)


def best_threshold(
    scored: list[tuple[Item, float, bool]], items: list[Item], keep: float = CAUTION["normal"]
) -> tuple[float, float]:
    """The abstention threshold; returns (threshold, balanced pass rate over `items` at it).

    The rule: abstain as often as possible on unanswerable questions while keeping at least `keep` (90 %) of
    the right answers that answering everything would give (answerable questions whose best sentence is
    right). Among the thresholds that keep that many, the one with the best balanced pass rate wins, which
    is the highest of them. A product decision, written down here: a user's questions are mostly
    answerable, and an assistant that refuses a third of its right answers to catch adversarial
    unanswerable questions (which is where the balanced optimum lies on SQuAD 2.0) is not one they keep
    using.
    """
    weights = class_weights(items)
    # Questions a rule abstained on (no row) pass exactly when they are unanswerable, at any threshold.
    fixed = sum(weights[False] for i in items if not i.answerable) - sum(
        weights[False] for i, _, _ in scored if not i.answerable
    )
    all_right = sum(weights[True] for item, _, right in scored if item.answerable and right) or 1.0
    candidates = sorted({round(p, 4) for _, p, _ in scored} | {0.0})
    best = (0.0, -1.0)
    for t in candidates:
        rate = fixed
        kept = 0.0
        for item, p, right in scored:
            if p >= t:
                kept += weights[True] if item.answerable and right else 0.0
            else:
                rate += 0.0 if item.answerable else weights[False]
        if kept < keep * all_right:
            break  # higher thresholds keep fewer
        rate += kept
        if rate > best[1] + 1e-12:
            best = (t, rate)
    return best


def train(items: list[Item], provenance: dict[str, Any]) -> tuple[Scorer, dict[str, Any]]:
    """Sentence model, answer model and threshold from these questions (see the module docstring)."""
    sentence = fit_sentence(items)
    rows = out_of_fold_answer_rows(items)
    weights = class_weights(items)
    # The threshold is chosen on answer probabilities that are out of fold as well.
    groups = sorted({i.group for i in items})
    scored: list[tuple[Item, float, bool]] = []
    for group in groups:
        fold = [r for r in rows if r[0].group != group] if len(groups) > 1 else rows
        model = fit_answer(fold, weights)
        scored += [
            (item, model.probability(dict(zip(ANSWER_FEATURES, row, strict=True))), right)
            for item, row, right in rows
            if item.group == group
        ]
    chosen = {level: best_threshold(scored, items, keep) for level, keep in CAUTION.items()}
    threshold, rate = chosen["normal"]
    answer = fit_answer(rows, weights)
    thresholds = {level: value for level, (value, _) in chosen.items() if level != "normal"}
    by_level = {level: by_group(scored, items, value) for level, (value, _) in chosen.items()}
    info = {"balanced_pass_oof": rate, "groups": by_level["normal"], "levels": by_level}
    return Scorer(sentence, answer, threshold, provenance, thresholds), info


def by_group(scored: list[tuple[Item, float, bool]], items: list[Item], threshold: float) -> dict[str, Any]:
    """Out-of-fold pass rates at `threshold` for SQuAD and each other data set: answerable right, abstained."""
    out: dict[str, Any] = {}
    for kind in ("squad", *sorted(OTHER_SETS)):
        chosen = [i for i in items if (i.group if i.group in OTHER_SETS else "squad") == kind]
        if not chosen:
            continue
        ids = {id(i) for i in chosen}
        answered = {id(i): p >= threshold and right for i, p, right in scored if id(i) in ids}
        kept = {id(i) for i, p, _ in scored if id(i) in ids and p >= threshold}
        yes = [i for i in chosen if i.answerable]
        no = [i for i in chosen if not i.answerable]
        out[kind] = {
            "answerable_right": sum(answered.get(id(i), False) for i in yes) / max(1, len(yes)),
            "unanswerable_abstained": sum(id(i) not in kept for i in no) / max(1, len(no)),
            "n": len(chosen),
        }
    return out


def evaluate(scorer: Scorer, items: list[Item]) -> dict[str, float]:
    """Top-sentence pass rates of a scorer on questions (answerable right, unanswerable abstained)."""
    right = abstained = 0
    n_yes = sum(i.answerable for i in items) or 1
    n_no = sum(not i.answerable for i in items) or 1
    for item in items:
        got = answer_row(item, scorer.sentence)
        answers = got is not None and scorer.answer.probability(dict(zip(ANSWER_FEATURES, got[0], strict=True))) >= (
            scorer.threshold
        )
        if item.answerable:
            right += bool(answers and got is not None and got[1])
        else:
            abstained += not answers
    return {
        "answerable": right / n_yes,
        "unanswerable": abstained / n_no,
        "overall": 0.5 * (right / n_yes + abstained / n_no),
    }


def main(argv: list[str] | None = None) -> int:
    """Read features, train, write the scorers, print the out-of-fold table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=MODEL_FILE, help="the shipped scorer")
    parser.add_argument("--folds-out", type=Path, default=FOLDS_FILE, help="the leave-articles-out scorers")
    parser.add_argument("--articles", type=int, default=None, help="use only the first N SQuAD articles")
    parser.add_argument("--questions", type=int, default=None, help="a seeded sample of N questions per article")
    parser.add_argument(
        "--others", type=int, default=None, help="PubMedQA and SciFact questions to use of each (0: none; default all)"
    )
    parser.add_argument(
        "--work", type=Path, default=None, help="where the corpora and indexes go (default: a temp dir)"
    )
    parser.add_argument(
        "--reuse", action="store_true", help="train on the features saved in --work by an earlier run (same code)"
    )
    args = parser.parse_args(argv)
    started = time.monotonic()
    embedder = Embedder()
    with tempfile.TemporaryDirectory() as tmp:
        work = args.work or Path(tmp)
        use_placeholder(work)  # features do not depend on the weights; the shipped file may be of older features
        articles = squad_articles(SQUAD, args.articles)
        corpus = work / "squad" / "corpus"
        corpus.mkdir(parents=True, exist_ok=True)
        for article in articles:
            (corpus / f"{article['title']}.txt").write_text(squad_file_text(article), encoding="utf-8")
        questions = squad_questions(articles)
        if args.questions:
            questions = per_article_sample(questions, args.questions)
        saved = work / "features.json"
        if args.reuse and saved.is_file():
            items = [Item(**row) for row in json.loads(saved.read_text(encoding="utf-8"))]
        else:
            assistant = build_assistant(corpus, work / "squad" / "index", embedder)
            print(f"reading {len(questions)} SQuAD questions over {len(articles)} articles", file=sys.stderr)
            items = read_items(assistant, questions)
            others_made = (
                ("pubmedqa", pubmedqa_questions),
                ("scifact", scifact_questions),
                ("expertqa", expertqa_questions),
            )
            for name, make in others_made:
                if args.others == 0:
                    break
                others = make(work / name / "corpus", args.others)
                assistant = build_assistant(work / name / "corpus", work / name / "index", embedder)
                print(f"reading {len(others)} {name} questions", file=sys.stderr)
                items += read_items(assistant, others, group=name)
            if args.work:
                saved.write_text(json.dumps([vars(i) for i in items]), encoding="utf-8")
        extracted = time.monotonic() - started
    names = [a["title"] for a in articles]
    folds = [names[i::N_FOLDS] for i in range(N_FOLDS)] if len(names) >= N_FOLDS else [[n] for n in names]
    counts: dict[str, int] = {}
    for item in items:
        kind = item.group if item.group in OTHER_SETS else "squad"
        counts[kind] = counts.get(kind, 0) + 1
    provenance = {
        "data": "../shared/benchmarks: SQuAD 2.0 dev half, PubMedQA (non-test), SciFact dev claims (not the 60 asked)",
        "articles": names,
        "questions": counts,
        "seed": SEED,
        "features_seconds": round(extracted, 1),
    }
    fold_scorers = []
    out_of_fold: list[dict[str, float]] = []
    for held in folds:
        train_items = [i for i in items if i.group not in held]  # PubMedQA and SciFact are always in
        scorer, _ = train(train_items, {**provenance, "held_out_articles": held})
        fold_scorers.append({"held_out_articles": held, "scorer": scorer.to_dict()})
        test_items = [i for i in items if i.group in held]
        out_of_fold.append({**evaluate(scorer, test_items), "n": len(test_items)})
    final, info = train(items, {**provenance, "trained_seconds": round(time.monotonic() - started, 1)})
    final.save(args.out)
    args.folds_out.write_text(json.dumps({"folds": fold_scorers}, indent=1) + "\n", encoding="utf-8")
    print(f"\nTrained on {len(items)} questions in {time.monotonic() - started:.0f} s (features: {extracted:.0f} s)")
    print("| held-out articles | questions | answerable right | unanswerable abstained | overall |")
    print("|---|---|---|---|---|")
    for held, result in zip(folds, out_of_fold, strict=True):
        print(
            f"| {', '.join(held)} | {int(result['n'])} | {result['answerable']:.2f} | {result['unanswerable']:.2f} "
            f"| {result['overall']:.2f} |"
        )
    rate = info["balanced_pass_oof"]
    print(f"\nthreshold {final.threshold:.3f}; out-of-fold balanced pass while choosing it {rate:.3f}")
    print("\nOut of fold, by data set (the final model's threshold; answer model trained without the group):")
    for kind, result in info["groups"].items():
        print(
            f"- {kind}: {result['n']} questions, answerable right {result['answerable_right']:.2f}, "
            f"unanswerable abstained {result['unanswerable_abstained']:.2f}"
        )
    kinds = list(info["groups"])
    print("\nCaution levels, out of fold as above (answerable right / unanswerable abstained):")
    print(f"| caution | keeps of the right answers | threshold | {' | '.join(kinds)} |")
    print("|---|---|---|" + "---|" * len(kinds))
    for level, groups in info["levels"].items():
        cells = " | ".join(
            f"{groups[k]['answerable_right']:.2f} / {groups[k]['unanswerable_abstained']:.2f}" for k in kinds
        )
        keep = f"{CAUTION[level]:.0%}" if CAUTION[level] else "best balanced"
        print(f"| {level} | {keep} | {final.threshold_for(level):.3f} | {cells} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
