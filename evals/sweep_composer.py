"""How the extractive composer's two shares trade right answers for words, on the SQuAD training questions.

Run from the repo root (about 4 minutes on 2 cores):
    .venv/bin/python evals/sweep_composer.py [--runner-up 0.8 0.9 1.01] [--adjacent 0.3 0.5 0.7 1.01]

An answer quotes the best sentence, then the sentence right after it when that one has at least
`answering.ADJACENT_SHARE` of the best one's probability, then other sentences of the same document
with at least `answering.RUNNER_UP` of it. More sentences hold the answer more often and make answers
longer; the answerer issue asks for a median of at most 30 words.

Every question of the SQuAD 2.0 dev half (training data, `evals/train_scorer.py`; the 8 articles are the
corpus, as `evals/bench_qa.py` builds it, here in evals/bench/composer/) is ranked once by the fold
scorer that was trained without its article (evals/scorer_folds.json), then composed under each pair of
shares. Per pair: answerable questions whose answer holds a gold answer (`bench_qa`'s pass rule;
abstentions fail), and the median words of the answers given (abstentions left out), over all questions
and over the answerable ones. Abstaining does not depend on the shares, so unanswerable questions are not
scored here. The golden and held-out sets are not read.

`--clauses` measures instead what quoting a clause rather than the whole best sentence would save: the best
sentence is cut at commas, semicolons, colons, dashes and brackets, and only the segments from the first to the
last that hold a question term are kept, widened by `before` / `after` segments, when the sentence has at least
`from` words. Per window: the answerable questions whose best sentence holds a gold answer, how many still do
once cut, and the median words of the best sentences, cut, over all answerable questions.
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing may be fetched from a model hub
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import argparse
import re
import statistics
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "evals"))

import bench_qa  # noqa: E402
from train_scorer import SQUAD, contains_gold, squad_articles, squad_questions  # noqa: E402

from assistant import answering  # noqa: E402
from assistant.embedding import Embedder  # noqa: E402
from assistant.retrieval import analyse  # noqa: E402

_SEGMENT = re.compile(r"[^,;:()—–]+[,;:()—–]*")
WINDOWS = ((0, 0, 0), (0, 1, 0), (1, 1, 0), (1, 2, 0), (1, 1, 20), (1, 1, 30))  # (before, after, from)


def clause(text: str, terms: set[str], before: int, after: int, least: int) -> str:
    """`text` cut to the segments that hold a question term, widened by `before` and `after` (see --clauses)."""
    segments = _SEGMENT.findall(text)
    hits = [i for i, segment in enumerate(segments) if set(analyse(segment)) & terms]
    if len(text.split()) < least or len(segments) < 2 or not hits:
        return text
    return "".join(segments[max(0, hits[0] - before) : hits[-1] + 1 + after]).strip()


def clause_table(ranked: list[tuple[dict[str, Any], Any, dict[str, Any], Any]]) -> None:
    """The --clauses table (see the module docstring)."""
    print("| before | after | from words | best sentence holds gold | ... once cut | median words, cut |")
    print("|---|---|---|---|---|---|")
    best = [(q, r.sentences[0].text, set(r.question.terms)) for q, _, _, r in ranked if q["answerable"] and r.sentences]
    for before, after, least in WINDOWS:
        held = kept = 0
        words = []
        for q, text, terms in best:
            cut = clause(text, terms, before, after, least)
            words.append(len(cut.split()))
            if contains_gold(text, q["golds"]):
                held += 1
                kept += contains_gold(cut, q["golds"])
        print(f"| {before} | {after} | {least} | {held} | {kept} | {statistics.median(words)} |", flush=True)


def main(argv: list[str] | None = None) -> int:
    """Rank every question once, compose it under each pair of shares, print one table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runner-up", type=float, nargs="+", default=[0.8, 0.9, 1.01])
    parser.add_argument("--adjacent", type=float, nargs="+", default=[0.3, 0.5, 0.7, 1.01])
    parser.add_argument("--articles", type=int, default=None, help="only the first N articles (tests)")
    parser.add_argument("--questions", type=int, default=None, help="only the first N questions (tests)")
    parser.add_argument("--work", type=Path, default=bench_qa.WORK.parent / "composer", help="corpus and index")
    parser.add_argument("--clauses", action="store_true", help="measure quoting clauses instead (docstring)")
    args = parser.parse_args(argv)
    articles = squad_articles(SQUAD, args.articles)
    questions = squad_questions(articles)[: args.questions]
    assistant = bench_qa.squad_assistant(Embedder(), articles, args.work)
    folds = bench_qa.fold_scorers()
    answerer = assistant.answerer
    ranked: list[tuple[dict[str, Any], Any, dict[str, Any], Any]] = []
    for q in questions:
        answerer.scorer = folds[q["article"]]
        context = assistant.context(q["question"])
        arguments = context.answer_arguments()
        ranked.append((q, context.passages, arguments, answerer.rank(q["question"], context.passages, **arguments)))
    bench_qa.log(f"{len(ranked)} questions ranked")
    if args.clauses:
        clause_table(ranked)
        return 0
    shipped = (answering.RUNNER_UP, answering.ADJACENT_SHARE)
    rank = answerer.rank
    print(f"SQuAD 2.0 dev half, {len(questions)} questions, fold scorers (shipped: {shipped[0]}, {shipped[1]})")
    print("| runner-up share | adjacent share | answerable right | median words (all answers) | (answerable) |")
    print("|---|---|---|---|---|")
    try:
        for runner_up in args.runner_up:
            for adjacent in args.adjacent:
                answering.RUNNER_UP, answering.ADJACENT_SHARE = runner_up, adjacent
                right = answerable = 0
                words: list[int] = []
                answerable_words: list[int] = []
                for q, passages, arguments, ranking in ranked:
                    answerer.scorer = folds[q["article"]]
                    answerer.rank = lambda *_, ranking=ranking, **__: ranking  # type: ignore[method-assign]
                    result = answerer.answer(q["question"], passages, **arguments)
                    if q["answerable"]:
                        answerable += 1
                        right += bench_qa.squad_passes(result, True, q["golds"])
                    if not result.abstained:
                        words.append(bench_qa.answer_words(result))
                        if q["answerable"]:
                            answerable_words.append(words[-1])
                mark = "**" if (runner_up, adjacent) == shipped else ""
                print(
                    f"| {mark}{runner_up}{mark} | {mark}{adjacent}{mark} | {right}/{answerable} = "
                    f"{right / max(1, answerable):.3f} | {statistics.median(words or [0])} "
                    f"| {statistics.median(answerable_words or [0])} |",
                    flush=True,
                )
    finally:
        answering.RUNNER_UP, answering.ADJACENT_SHARE = shipped
        answerer.rank = rank  # type: ignore[method-assign]
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
