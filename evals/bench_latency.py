"""Speed of the assistant on the seed corpus: ingest, cold `assistant ask`, warm `answer()`.

Run from the repo root:  .venv/bin/python evals/bench_latency.py [--repeat 3]

1. Ingest: a fresh index of corpus/ in a temporary folder (model load included, then without).
2. Cold ask: `assistant ask` in a new process against an index that is already built, wall time,
   median of --repeat runs. This is what a user waits for at the terminal.
3. Warm answer(): every golden question through one loaded Assistant, after one warm-up pass;
   median and 95th percentile per question. A first pass over new questions is reported too
   (sentence embeddings are cached, so the first sight of a passage costs more).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from assistant.embedding import Embedder  # noqa: E402
from assistant.evaluation.golden import load_golden  # noqa: E402
from assistant.pipeline import Assistant  # noqa: E402
from assistant.settings import Settings, StoreSettings  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="cold-ask runs")
    args = parser.parse_args()
    results: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        shutil.copytree(REPO / "corpus", root / "corpus")
        settings = Settings(corpus=root / "corpus", store=StoreSettings(path=root / "index"))

        started = time.perf_counter()
        embedder = Embedder()
        assistant = Assistant(settings, embedder=embedder)
        report = assistant.ingest(progress=False)
        results["ingest_with_model_load_s"] = time.perf_counter() - started
        results["ingest_embed_and_store_s"] = report.seconds
        results["chunks"] = report.chunks

        cold = []
        for _ in range(args.repeat):
            started = time.perf_counter()
            subprocess.run(
                [
                    str(REPO / ".venv/bin/assistant"),
                    "--corpus",
                    str(root / "corpus"),
                    "--index",
                    str(root / "index"),
                    "ask",
                    "How many healthy control subjects were in the magnetization transfer study?",
                ],
                check=True,
                capture_output=True,
            )
            cold.append(time.perf_counter() - started)
        results["cold_ask_median_s"] = statistics.median(cold)

        questions = load_golden(REPO / "evals" / "golden.jsonl")
        first = []
        for item in questions:
            started = time.perf_counter()
            assistant.answer(item.question, history=item.history or None)
            first.append(time.perf_counter() - started)
        warm = []
        for item in questions:
            started = time.perf_counter()
            assistant.answer(item.question, history=item.history or None)
            warm.append(time.perf_counter() - started)
        results["first_pass_answer_median_ms"] = statistics.median(first) * 1000
        results["warm_answer_median_ms"] = statistics.median(warm) * 1000
        results["warm_answer_p95_ms"] = sorted(warm)[int(0.95 * (len(warm) - 1))] * 1000
        results["questions"] = len(questions)
    print(json.dumps({k: round(v, 3) for k, v in results.items()}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
