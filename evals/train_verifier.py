"""The language-model verifier's thresholds on its first token's log-odds: one trained on SQuAD training
questions, one on SciFact training claims (for statements, `verifying.is_statement`).

Run from the repo root (about 45 minutes on 2 cores with the default model, 10 more with `--statement-prompt`; needs
`assistant models install` for the model and the `bench` extra for scikit-learn):
    .venv/bin/python evals/train_verifier.py [--questions 300] [--claims -1] [--model qwen2.5-coder-1.5b]
        [--articles N] [--statement-prompt] [--alternatives N] [--write]

The questions are training data: a seeded balanced sample (seed 1) of the SQuAD 2.0 dev half's questions that
are not in `evals/bench_qa.py`'s sample, so the benchmark's questions stay unread. Each one is answered through
`answer()` over the 8 articles as `bench_qa.py` builds them, by its article's fold scorer with the abstention
threshold switched off (the answer model's confidence is kept). The model (llama-cpp-python in this process,
temperature 0) then reads each answer's cited spans, as `assistant/verifying.py` shows them, and the script
keeps the log-odds of its first token: the log-probability of its likeliest "yes" token minus that of its
likeliest "no" token (`verifying.VERDICT_SPELLINGS`), which is what the shipped verifier's logit biases
compare with the threshold. `--statement-prompt` also reads them under the prompt statements are read with.

Rows, each scored on one pair of articles with whatever it chooses (a threshold, two weights) chosen on the
other six (4 folds: the articles in name order, two by two; with one pair only, as in the tests' slice,
in-sample); answerable passes when the answer was given and holds a
gold answer, unanswerable when it was not given:
- the scorer's own threshold (the default answerer), and the same with the plain verifier's verdict;
- the verdict alone, on every answer;
- a threshold on the log-odds (what ships); a logistic regression over the confidence's logit and the log-odds;
- with `--statement-prompt`, a threshold on the log-odds under the statements' prompt;
- with `--alternatives N`, the verifier as a second chance: when it rejects an answer, the next sentences
  of the ranking (up to N), each quoted alone, are read in turn and the first whose log-odds pass the
  threshold is the answer (a premise correction has none; about N times the model's time per rejected
  answer).
Also the AUC of each score for "this answer is right" over the answers given.

The claims are `evals/train_scorer.py`'s SciFact training claims (its corpus: the cited abstracts of 60 %
of them and as many others; a claim whose abstracts were left out should be abstained on), answered with the
answer model's threshold switched off; an answer to a claim is right when its first citation is a cited
abstract. Their rows: the answer model's own threshold, the plain verdict, the questions' threshold, and a
threshold chosen on the other three of four folds (the claims dealt into eight groups in turn, paired).

`--write` writes the thresholds chosen on every training question and claim to `assistant/data/verifier.json`,
under the model's file name and with the fingerprint of the prompt it was trained with (`verifying.py` uses
them only while the prompt is unchanged); `--questions 0` or `--claims 0` leaves that part of the entry as it
was. The choice is deterministic for the same options: greedy decoding, fixed samples, and the first best
threshold on a 0.05 grid. Each reading starts from a reset model (llama.cpp would otherwise reuse what it computed
for the previous prompt's shared opening, which moved some log-odds by a few hundredths), so a question's log-odds do
not depend on the order of readings or on options that add some (`--statement-prompt`, `--alternatives`).
`--articles`, `--questions` and `--claims` cut the data down (the test suite runs a tiny slice with the small
model).
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import argparse
import json
import math
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "evals"))

import bench_qa  # noqa: E402
from train_scorer import (  # noqa: E402
    SQUAD,
    balanced_sample,
    build_assistant,
    scifact_questions,
    squad_articles,
    squad_questions,
)

from assistant import models  # noqa: E402
from assistant.embedding import Embedder  # noqa: E402
from assistant.generation import defuse  # noqa: E402
from assistant.records import Answer  # noqa: E402
from assistant.scorer import Scorer  # noqa: E402
from assistant.verifying import (  # noqa: E402
    THRESHOLD_FILE,
    VERDICT_SPELLINGS,
    prompt_fingerprint,
    prompt_for,
    shown_text,
    trained_threshold,
)

PROMPTS = {"shipped": prompt_for(False), "statements' prompt": prompt_for(True)}
GRID = [round(float(t), 2) for t in np.arange(-4.0, 4.0, 0.05)]  # the thresholds tried, first best kept


def log_odds(llm: Any, prompt: tuple[str, str], text: str, question: str) -> float:
    """The first reply token's log-probability of its likeliest "yes" spelling minus its likeliest "no"."""
    messages = [
        {"role": "system", "content": prompt[0]},
        {"role": "user", "content": prompt[1].format(text=text, question=defuse(question))},
    ]
    llm.reset()  # read from scratch: llama.cpp reuses the previous prompt's shared opening, which moves log-odds
    reply = llm.create_chat_completion(messages, max_tokens=1, logprobs=True, top_logprobs=20, temperature=0.0)
    top = reply["choices"][0]["logprobs"]["content"][0]["top_logprobs"]

    def best(word: str) -> float:
        return max((t["logprob"] for t in top if t["token"] in VERDICT_SPELLINGS[word]), default=math.log(1e-9))

    return best("yes") - best("no")


def load_model(model: str) -> Any:
    """The model in this process, as the verifier's log-odds need it (every logit kept, greedy)."""
    from llama_cpp import Llama

    return Llama(model_path=str(models.resolve(model)), n_ctx=2048, n_threads=os.cpu_count() or 1,
                 logits_all=True, verbose=False, seed=0)  # fmt: skip


def collect(
    n_questions: int,
    n_articles: int | None,
    llm: Any,
    work: Path,
    prompts: dict[str, tuple[str, str]],
    *,
    alternatives: int = 0,
) -> list[dict[str, Any]]:
    """Each sampled question's answer, confidence, pass and verifier log-odds.

    With `alternatives`, also the pass and log-odds of the next ranked sentences, each quoted alone.
    """
    articles = squad_articles(SQUAD, n_articles)
    everything = squad_questions(squad_articles(SQUAD, None))
    benchmark = {q["question"] for q in balanced_sample(everything, 200)}
    kept = {a["title"] for a in articles}
    pool = [q for q in everything if q["question"] not in benchmark and q["article"] in kept]
    questions = balanced_sample(pool, n_questions, seed=1)
    assistant = bench_qa.squad_assistant(Embedder(), articles, work)
    folds = bench_qa.fold_scorers()
    answerer = assistant.answerer
    ranked = answerer.rank
    seen: dict[str, Any] = {}

    def rank(*args: Any, **kwargs: Any) -> Any:
        seen["ranking"] = ranking = ranked(*args, **kwargs)
        return ranking

    answerer.rank = rank  # type: ignore[method-assign]
    records = []
    for i, q in enumerate(questions):
        fold = folds[q["article"]]
        answerer.scorer = Scorer(fold.sentence, fold.answer, -1.0, {})
        seen.clear()
        result = assistant.answer(q["question"])
        ranking = seen.get("ranking")
        record = {
            "article": q["article"],
            "answerable": q["answerable"],
            "given": not result.abstained,
            "right": q["answerable"] and bench_qa.squad_passes(result, True, q["golds"]),
            "confidence": ranking.confidence if ranking is not None else 0.0,
            "threshold": fold.threshold,
        }
        if record["given"]:
            for name, prompt in prompts.items():
                record[name] = log_odds(llm, prompt, shown_text(result), q["question"])
        record["alternatives"] = []
        if record["given"] and not result.reason and ranking is not None:
            for sentence in ranking.sentences[1 : 1 + alternatives]:
                base = Answer(q["question"], "", abstained=True, passages=result.passages)
                alternative = answerer._compose(base, [sentence], reason="")
                right = q["answerable"] and bench_qa.squad_passes(alternative, True, q["golds"])
                lo = log_odds(llm, PROMPTS["shipped"], shown_text(alternative), q["question"])
                record["alternatives"].append({"right": right, "shipped": lo})
        records.append(record)
        if i % 25 == 0:
            bench_qa.log(f"{i}/{len(questions)} questions")
    return records


def collect_claims(n_claims: int | None, llm: Any, work: Path) -> list[dict[str, Any]]:
    """SciFact training claims (`train_scorer.scifact_questions`: 40 % without their abstracts in the corpus).

    Each is answered with the answer model's threshold switched off; right = a cited abstract first.
    """
    claims = scifact_questions(work / "corpus", n_claims)
    assistant = build_assistant(work / "corpus", work / "index", Embedder())
    records = []
    for i, claim in enumerate(claims):
        context = assistant.context(claim["question"])
        arguments = context.answer_arguments()
        ranking = assistant.answerer.rank(claim["question"], context.passages, **arguments)
        answer = assistant.answerer.answer
        result = answer(claim["question"], context.passages, threshold=-math.inf, ranking=ranking, **arguments)
        given = not result.abstained
        record = {
            "article": str(i % 8),  # eight groups dealt in turn, paired into four folds as the articles are
            "answerable": claim["answerable"],
            "given": given,
            "right": given and bool(result.citations) and result.citations[0].source in claim["relevant"],
            "confidence": ranking.confidence,
            "threshold": assistant.answerer.scorer.threshold,
        }
        if given:
            record["shipped"] = log_odds(llm, prompt_for(True), shown_text(result), claim["question"])
        records.append(record)
        if i % 25 == 0:
            bench_qa.log(f"{i}/{len(claims)} claims")
    return records


def score(
    records: list[dict[str, Any]], given: list[bool], right: list[bool] | None = None
) -> tuple[int, int, int, int]:
    """Answerable passed, answerable, unanswerable abstained, unanswerable (`right`: of the answers given)."""
    right = right if right is not None else [r["right"] for r in records]
    a = sum(ok and g for ok, g in zip(right, given, strict=True))
    u = sum(not r["answerable"] and not g for r, g in zip(records, given, strict=True))
    n_a = sum(r["answerable"] for r in records)
    return a, n_a, u, len(records) - n_a


def balanced(counts: tuple[int, int, int, int]) -> float:
    """The mean of the two pass rates."""
    a, n_a, u, n_u = counts
    return (a / max(1, n_a) + u / max(1, n_u)) / 2


def logit(p: float) -> float:
    """log(p / (1 - p)), clipped."""
    p = min(max(p, 1e-6), 1 - 1e-6)
    return math.log(p / (1 - p))


def fit(train: list[dict[str, Any]], features: list[str]) -> tuple[Callable[[dict[str, Any]], float], float]:
    """A score over `features` (the feature itself, or a regression over two) and its best threshold on `train`."""
    from sklearn.linear_model import LogisticRegression

    def x(rows: list[dict[str, Any]]) -> np.ndarray:
        return np.array([[logit(r["confidence"]) if f == "confidence" else r[f] for f in features] for r in rows])

    fitted = [r for r in train if r["given"]]
    labels = [r["right"] for r in fitted]
    two = len(features) > 1 and 0 < sum(labels) < len(labels)
    model = LogisticRegression().fit(x(fitted), labels) if two else None

    def value(r: dict[str, Any]) -> float:
        if not r["given"]:
            return -math.inf
        row = x([r])
        return float(model.decision_function(row)[0]) if model is not None else float(row[0, 0])

    scores = [value(r) for r in train]
    best = max(GRID, key=lambda t: balanced(score(train, [s > t for s in scores])))
    return value, best


def chosen(train: list[dict[str, Any]], test: list[dict[str, Any]], features: list[str]) -> list[bool]:
    """Answer `test` questions whose score is above the threshold best on `train` (a regression if 2 features)."""
    value, best = fit(train, features)
    return [value(r) > best for r in test]


def article_folds(records: list[dict[str, Any]]) -> list[set[str]]:
    """The records' articles in name order, two by two (one pair only: in-sample)."""
    groups = sorted({r["article"] for r in records})
    return [set(groups[i : i + 2]) for i in range(0, len(groups), 2)]


def left_out(records: list[dict[str, Any]], features: list[str]) -> list[bool]:
    """Which records are answered, each by the rule chosen on the records of the other folds (`article`)."""
    given = {}
    for held in article_folds(records):
        train = [r for r in records if r["article"] not in held] or records
        test = [i for i, r in enumerate(records) if r["article"] in held]
        for i, g in zip(test, chosen(train, [records[i] for i in test], features), strict=True):
            given[i] = g
    return [given[i] for i in range(len(records))]


def second_chances(record: dict[str, Any], threshold: float, tries: int) -> tuple[bool, bool]:
    """(answered, right) when the first of the answer and its next `tries - 1` sentences above `threshold` answers."""
    if not record["given"]:
        return False, False
    candidates = [record, *record["alternatives"][: tries - 1]]
    picked = next((c for c in candidates if c["shipped"] > threshold), None)
    return picked is not None, picked is not None and picked["right"]


def left_out_retries(records: list[dict[str, Any]], tries: int) -> tuple[list[bool], list[bool]]:
    """`second_chances` with the threshold chosen on the other folds' records (as `left_out`)."""
    outcome: dict[int, tuple[bool, bool]] = {}
    for held in article_folds(records):
        train = [r for r in records if r["article"] not in held] or records

        def passes(t: float, rows: list[dict[str, Any]] = train) -> float:
            picks = [second_chances(r, t, tries) for r in rows]
            return balanced(score(rows, [g for g, _ in picks], [ok for _, ok in picks]))

        best = max(GRID, key=passes)
        for i, r in enumerate(records):
            if r["article"] in held:
                outcome[i] = second_chances(r, best, tries)
    return [outcome[i][0] for i in range(len(records))], [outcome[i][1] for i in range(len(records))]


def table(
    records: list[dict[str, Any]],
    rows: dict[str, list[bool] | tuple[list[bool], list[bool]]],
    heads: tuple[str, str],
) -> None:
    """Print one markdown row per decision (answered, or answered and right): answerable right, unanswerable
    abstained, balanced."""
    print(f"| decision | {heads[0]} | {heads[1]} | balanced |\n|---|---|---|---|")
    for name, row in rows.items():
        a, n_a, u, n_u = score(records, *row) if isinstance(row, tuple) else score(records, row)
        print(f"| {name} | {a}/{n_a} | {u}/{n_u} | {balanced((a, n_a, u, n_u)):.3f} |")


def entry(threshold: float, records: list[dict[str, Any]], seconds: float, **provenance: Any) -> dict[str, Any]:
    """What the thresholds file records of one trained threshold."""
    counts = score(records, [r["given"] and r["shipped"] > threshold for r in records])
    return {"threshold": threshold, **provenance, "in_sample_balanced": round(balanced(counts), 3),
            "seconds": round(seconds)}  # fmt: skip


def write_threshold(path: Path, model_file: str, trained: dict[str, Any]) -> None:
    """Record `trained` (the questions' threshold and its provenance, and/or "statement") for `model_file`.

    Other models' entries are kept, and so is the part of this model's entry that this run did not train.
    """
    try:
        shipped = json.loads(path.read_text())
    except (OSError, ValueError):
        shipped = {}
    if shipped.get("prompt") != prompt_fingerprint():
        shipped = {}  # thresholds of another prompt do not apply any more
    kept = shipped.get("models", {})
    shipped = {
        "format": 1,
        "prompt": prompt_fingerprint(),
        "trained_by": "evals/train_verifier.py --write",
        "models": {**kept, model_file: {**kept.get(model_file, {}), **trained}},
    }
    path.write_text(json.dumps(shipped, indent=1, sort_keys=True) + "\n")
    said = [f"questions {trained['threshold']}"] if "threshold" in trained else []
    said += [f"statements {trained['statement']['threshold']}"] if "statement" in trained else []
    print(f"\nwrote {path}: {model_file} thresholds: {', '.join(said)}")


def train_questions(args: argparse.Namespace, llm: Any, prompts: dict[str, tuple[str, str]]) -> dict[str, Any]:
    """The SQuAD part: its table, and the questions' threshold with its provenance."""
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="train-verifier-") as work:
        records = collect(args.questions, args.articles, llm, Path(work), prompts, alternatives=args.alternatives)
    articles = sorted({r["article"] for r in records})
    rows: dict[str, list[bool] | tuple[list[bool], list[bool]]] = {}
    fixed = {
        "scorer threshold (default answerer)": lambda r: r["confidence"] >= r["threshold"],
        "scorer threshold + plain yes / no (the verifier before)": lambda r: (
            r["confidence"] >= r["threshold"] and r["shipped"] > 0
        ),
        "verdict alone, every answer": lambda r: r["shipped"] > 0,
    }
    for name, rule in fixed.items():
        rows[name] = [r["given"] and rule(r) for r in records]
    learned = {
        "log-odds threshold (ships)": ["shipped"],
        "regression: confidence + log-odds": ["confidence", "shipped"],
    }
    if args.statement_prompt:
        learned["log-odds threshold, the statements' prompt"] = ["statements' prompt"]
    for name, features in learned.items():
        rows[name + " (leave-articles-out)"] = left_out(records, features)
    for tries in range(2, args.alternatives + 2):
        rows[f"log-odds threshold, first of the best {tries} sentences (leave-articles-out)"] = left_out_retries(
            records, tries
        )
    print(f"{len(records)} training questions, {len(articles)} articles, model {args.model}, "
          f"{time.perf_counter() - started:.0f} s\n")  # fmt: skip
    table(records, rows, ("answerable right", "unanswerable abstained"))
    answered = [r for r in records if r["given"]]
    if 0 < sum(r["right"] for r in answered) < len(answered):
        from sklearn.metrics import roc_auc_score

        labels = [r["right"] for r in answered]
        aucs = {name: roc_auc_score(labels, [r[name] for r in answered]) for name in ("confidence", *prompts)}
        print("\nAUC, this answer is right: " + ", ".join(f"{k} {v:.3f}" for k, v in aucs.items()))
    threshold = fit(records, ["shipped"])[1]
    print(f"\nthreshold on every training question: {threshold}")
    seconds = time.perf_counter() - started
    return entry(threshold, records, seconds, questions=len(records), articles=len(articles), seed=1)


def train_statements(args: argparse.Namespace, llm: Any, question_threshold: float | None) -> dict[str, Any]:
    """The SciFact part: its table, and the statements' threshold with its provenance."""
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="train-verifier-claims-") as work:
        records = collect_claims(args.claims or None, llm, Path(work))
    rows = {
        "answer model's threshold (default answerer)": [
            r["given"] and r["confidence"] >= r["threshold"] for r in records
        ],
        "verdict alone, every answer": [r["given"] and r["shipped"] > 0 for r in records],
    }
    if question_threshold is not None:
        rows[f"the questions' threshold ({question_threshold})"] = [
            r["given"] and r["shipped"] > question_threshold for r in records
        ]
    rows["log-odds threshold (ships for statements; 4 folds)"] = left_out(records, ["shipped"])
    print(f"\n{len(records)} training claims, model {args.model}, {time.perf_counter() - started:.0f} s\n")
    table(records, rows, ("answered, cited abstract first", "without abstract, abstained"))
    threshold = fit(records, ["shipped"])[1]
    print(f"\nstatement threshold on every training claim: {threshold}")
    return entry(threshold, records, time.perf_counter() - started, claims=len(records), seed=0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--questions", type=int, default=300, help="SQuAD training questions (0: skip)")
    parser.add_argument("--articles", type=int, default=None)
    parser.add_argument("--claims", type=int, default=-1, help="SciFact training claims (-1: all; 0: skip)")
    parser.add_argument("--model", default="qwen2.5-coder-1.5b", help="an installed model (`assistant models list`)")
    parser.add_argument(
        "--statement-prompt", action="store_true", help="also read the questions under the statements' prompt"
    )
    parser.add_argument(
        "--alternatives", type=int, default=0, help="also read the next N ranked sentences of a rejected answer"
    )
    parser.add_argument("--write", action="store_true", help="write the thresholds to assistant/data/verifier.json")
    parser.add_argument("--output", type=Path, default=THRESHOLD_FILE, help="where --write writes (default: shipped)")
    args = parser.parse_args(argv)
    prompts = PROMPTS if args.statement_prompt else {"shipped": PROMPTS["shipped"]}
    llm = load_model(args.model)
    model_file = models.resolve(args.model).name
    trained: dict[str, Any] = {}
    if args.questions:
        trained = train_questions(args, llm, prompts)
    if args.claims:
        known = trained.get("threshold", trained_threshold(model_file, args.output))
        trained["statement"] = train_statements(args, llm, known)
    if args.write:
        write_threshold(args.output, model_file, trained)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
