"""PubMedQA benchmark: retrieve from all 1,000 abstracts, answer with citations, read off yes/no/maybe.

Method
- Corpus: each of the 1,000 PQA-L abstracts (`ori_pqal.json`, its CONTEXTS paragraphs joined by blank lines,
  without the LONG_ANSWER conclusion) becomes `<pmid>.txt` in evals/bench/pubmedqa/corpus/ and is indexed by
  the ordinary pipeline (`Assistant.ingest`) into evals/bench/pubmedqa/index/, so retrieval is over all 1,000
  abstracts, not the question's own. The question's text is not in its document.
- Each of the 500 official test questions (`test_ground_truth.json`) goes through `Assistant.answer()` with the
  chosen answerer (`--answerer local` by default: the installed Qwen2.5-Coder-1.5B; `extractive` for the offline
  answerer), exactly as a user would ask it.
- Decision: the answer text is read by a judge, the local model asked "does this answer say yes, no or maybe?"
  and scored by the logits of its first token over the three words (the same judge for every answerer, so
  answerers compare on equal terms). An abstention counts as "maybe" (the passages did not settle it).
- Reported: accuracy against the expert labels beside the published figures (reasoning-required setting:
  majority class 55.2%, BioBERT 68.1%, single human 78.0%) and the majority class of the questions actually run;
  how often an answer cites the question's own abstract (of the answers that cite anything); how often the own
  abstract is among the retrieved passages; the share of answers that fell back to extractive; seconds per
  question.
- `--limit N` runs an evenly spaced sample of N test questions (sorted by id) when the full 500 would take
  too long on the machine at hand; the output says how many were run, with a 95% interval on the accuracy.

Run from the repo root, after `assistant models install`:
    .venv/bin/python evals/bench_pubmedqa.py [--answerer local|extractive|openai|ollama] [--limit N] [-k 4]
The table goes to stdout and the per-question rows to evals/bench/pubmedqa-<answerer>-<timestamp>.json.
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing may be fetched from a model hub
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import argparse
import json
import math
import time
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

from assistant.models import resolve
from assistant.pipeline import Assistant
from assistant.settings import AnsweringSettings, LLMSettings, RetrievalSettings, Settings, StoreSettings

DATA = Path(__file__).resolve().parents[2] / "shared" / "benchmarks" / "pubmedqa"
WORK = Path(__file__).resolve().parent / "bench" / "pubmedqa"
LABELS = ("yes", "no", "maybe")
PUBLISHED = {"majority class": 0.552, "BioBERT (best published)": 0.681, "single human": 0.780}

JUDGE_SYSTEM = (
    "You read a question and an answer written from research abstracts. Say whether the answer's verdict "
    "on the question is yes, no or maybe (unclear, mixed, or not settled). Reply with one word: yes, no or maybe."
)


def write_corpus(data: Path, folder: Path) -> dict[str, Any]:
    """One text file per abstract; returns the parsed PubMedQA records."""
    records: dict[str, Any] = json.loads((data / "ori_pqal.json").read_text())
    folder.mkdir(parents=True, exist_ok=True)
    for pmid, record in records.items():
        path = folder / f"{pmid}.txt"
        text = "\n\n".join(record["CONTEXTS"]) + "\n"
        if not path.is_file() or path.read_text() != text:
            path.write_text(text)
    return records


def sample(ids: list[str], limit: int | None) -> list[str]:
    """An evenly spaced sample of `limit` ids (all of them when limit is None or too large)."""
    ids = sorted(ids)
    if limit is None or limit >= len(ids):
        return ids
    step = len(ids) / limit
    return [ids[int(i * step)] for i in range(limit)]


class DecisionJudge:
    """The local model's reading of an answer as yes, no or maybe, from its first-token logits."""

    def __init__(self, model: str, threads: int) -> None:
        from llama_cpp import Llama

        self.llm = Llama(
            model_path=str(resolve(model)),
            n_ctx=2048,
            n_threads=threads or None,
            logits_all=True,
            verbose=False,
        )
        self.tokens = {label: self._variants(label) for label in LABELS}

    def _variants(self, word: str) -> list[int]:
        ids = set()
        for form in (word, word.capitalize(), " " + word, " " + word.capitalize()):
            pieces = self.llm.tokenize(form.encode(), add_bos=False)
            ids.add(pieces[0])
        return sorted(ids)

    def decide(self, question: str, answer: str) -> tuple[str, dict[str, float]]:
        """The label whose best token variant has the highest logit, and each label's logit."""
        messages = [
            {"role": "system", "content": JUDGE_SYSTEM},
            {"role": "user", "content": f"Question: {question}\n\nAnswer: {answer[:3000]}\n\nYes, no or maybe?"},
        ]
        out = self.llm.create_chat_completion(messages=messages, max_tokens=1, temperature=0)  # type: ignore[arg-type]
        row = self.llm.scores[out["usage"]["prompt_tokens"] - 1]  # type: ignore[index]
        logits = {label: max(float(row[t]) for t in ids) for label, ids in self.tokens.items()}
        return max(logits, key=lambda label: logits[label]), logits


def wilson(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson interval of a proportion."""
    if n == 0:
        return (math.nan, math.nan)
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (centre - half, centre + half)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--answerer", default="local", choices=["local", "extractive", "openai", "ollama"])
    parser.add_argument("--limit", type=int, help="run an evenly spaced sample of N test questions")
    parser.add_argument("-k", type=int, default=4, help="passages retrieved per question")
    parser.add_argument("--model", default="qwen2.5-coder-1.5b", help="local model (answerer and judge)")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads for the local model (0: all)")
    parser.add_argument("--data", type=Path, default=DATA)
    args = parser.parse_args()

    records = write_corpus(args.data, WORK / "corpus")
    truth: dict[str, str] = json.loads((args.data / "test_ground_truth.json").read_text())
    ids = sample(list(truth), args.limit)
    settings = Settings(
        corpus=WORK / "corpus",
        store=StoreSettings(path=WORK / "index"),
        retrieval=RetrievalSettings(k=args.k),
        answering=AnsweringSettings(answerer=args.answerer),
        llm=LLMSettings(model=args.model, threads=args.threads),
    )
    assistant = Assistant(settings)
    started = time.perf_counter()
    report = assistant.ingest(progress=True)
    print(f"index: {report.summary()} ({time.perf_counter() - started:.0f} s)")
    judge = DecisionJudge(args.model, args.threads)

    rows = []
    for number, pmid in enumerate(ids, start=1):
        question = records[pmid]["QUESTION"]
        own = f"{pmid}.txt"
        mark = time.perf_counter()
        result = assistant.answer(question)
        seconds = time.perf_counter() - mark
        if result.abstained:
            decision, logits = "maybe", {}
        else:
            decision, logits = judge.decide(question, result.text)
        cited = sorted({c.source for c in result.citations})
        rows.append(
            {
                "id": pmid,
                "question": question,
                "truth": truth[pmid],
                "decision": decision,
                "logits": logits,
                "abstained": result.abstained,
                "answerer": result.answerer,
                "cites_own": own in cited,
                "cited": cited,
                "retrieved_own": any(p.source == own for p in result.passages),
                "seconds": round(seconds, 2),
                "answer": result.text,
            }
        )
        right = sum(r["decision"] == r["truth"] for r in rows)
        print(f"[{number}/{len(ids)}] {truth[pmid]:>5} -> {decision:<5} acc {right / number:.3f} ({seconds:.1f} s)")

    n = len(rows)
    right = sum(r["decision"] == r["truth"] for r in rows)
    citing = [r for r in rows if r["cited"]]
    majority = Counter(r["truth"] for r in rows).most_common(1)[0]
    low, high = wilson(right, n)
    summary = {
        "answerer": args.answerer,
        "model": args.model if args.answerer == "local" else "",
        "questions": n,
        "of": len(truth),
        "accuracy": right / n,
        "accuracy_95ci": [low, high],
        "majority_class_of_sample": majority[1] / n,
        "cites_own_abstract": sum(r["cites_own"] for r in citing) / len(citing) if citing else None,
        "answers_citing": len(citing),
        "own_abstract_retrieved": sum(r["retrieved_own"] for r in rows) / n,
        "abstained": sum(r["abstained"] for r in rows) / n,
        "fell_back_to_extractive": sum(r["answerer"] != args.answerer for r in rows) / n,
        "seconds_per_question": sum(r["seconds"] for r in rows) / n,
        "decisions": dict(Counter(r["decision"] for r in rows)),
        "published": PUBLISHED,
    }
    print()
    print(f"PubMedQA test, {n} of {len(truth)} questions, answerer {args.answerer}, k={args.k}")
    print(f"  accuracy                  {right / n:.3f}  (95% CI {low:.3f}-{high:.3f})")
    print(f"  majority class (sample)   {majority[1] / n:.3f}  ({majority[0]})")
    for name, value in PUBLISHED.items():
        print(f"  published {name:<23} {value:.3f}")
    own = summary["cites_own_abstract"]
    print(f"  cites own abstract        {own:.3f} of {len(citing)} citing answers" if own is not None else "")
    print(f"  own abstract retrieved    {summary['own_abstract_retrieved']:.3f}")
    print(f"  abstained / fell back     {summary['abstained']:.3f} / {summary['fell_back_to_extractive']:.3f}")
    print(f"  seconds per question      {summary['seconds_per_question']:.1f}")
    out = WORK.parent / f"pubmedqa-{args.answerer}-{datetime.now():%Y%m%d-%H%M%S}.json"
    out.write_text(json.dumps({"summary": summary, "rows": rows}, indent=1))
    print(f"rows: {out}")


if __name__ == "__main__":
    main()
