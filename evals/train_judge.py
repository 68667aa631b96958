"""Fit the scorer judge (`assistant.evaluation.judges.ScorerJudge`) and write `assistant/data/judge.json`.

Run from the repo root (deterministic; about 2 minutes on 2 cores, most of it embedding evidence sentences):
    .venv/bin/python evals/train_judge.py [--benchmarks ../shared/benchmarks] [--out assistant/data/judge.json]
        [--limit N]

Data: the dev half (by a hash of each item's id, `LabelledClaim.dev`) of the human-labelled claims that
`assistant eval --validate-judges` reads from ../shared/benchmarks/: ExpertQA claims with the evidence they
cite (Complete = supported, Incomplete = not) and SciFact dev claims with their abstract (SUPPORT = supported,
CONTRADICT or no evidence = not). The held-out half is never read here; `assistant eval --validate-judges
--judge scorer` reports on it. The answerer's scorer (`assistant/data/scorer.json`) was trained on some of the
same ExpertQA questions and SciFact claims, with other labels (whether their documents were in the corpus,
not whether a claim is supported); the judge file records that scorer's sha256 and is refused with another.

The features of each (claim, evidence) pair are read exactly as the judge reads them; a logistic regression
over them (`assistant.scorer.fit_logistic`) is fitted with each (dataset, label) group weighted the same,
and its threshold is chosen on out-of-fold predictions (5 folds). `--limit` keeps at most N dev items per
dataset (the test suite runs a tiny slice).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from assistant.embedding import Embedder  # noqa: E402
from assistant.evaluation.judges import JUDGE_FILE, ScorerJudge  # noqa: E402
from assistant.evaluation.validity import fit_scorer_judge, load_benchmarks  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--benchmarks", type=Path, default=REPO.parent / "shared" / "benchmarks")
    parser.add_argument("--out", type=Path, default=JUDGE_FILE)
    parser.add_argument("--limit", type=int, default=None, help="at most this many dev items per dataset")
    args = parser.parse_args(argv)
    started = time.monotonic()
    dev = [i for i in load_benchmarks(args.benchmarks) if i.dev]
    if args.limit is not None:
        dev = [i for d in sorted({i.dataset for i in dev}) for i in [x for x in dev if x.dataset == d][: args.limit]]
    model, out_of_fold = fit_scorer_judge(ScorerJudge(Embedder()), dev)
    model.save(args.out)
    print(f"fitted on {len(dev)} dev items in {time.monotonic() - started:.0f} s; threshold {model.threshold:.2f}")
    for dataset, row in out_of_fold.items():
        print(f"  out of fold, {dataset}: balanced accuracy {row['balanced_accuracy']:.3f}, n = {row['n']}")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
