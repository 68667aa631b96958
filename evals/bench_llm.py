"""Speed of the local generative answerer: model load, time to first token, tokens per second.

Run from the repo root:
    .venv/bin/python evals/bench_llm.py [--model qwen2.5-coder-1.5b] [--questions 8] [--passage-tokens N]
        [--passages K] [--golden FILE ...] [--kind follow_up] [--rewrite]

The seed corpus is indexed in a temporary folder; --questions golden questions, taken in turn from
each kind (fact, paraphrase, follow-up with history, across documents, false premise,
unanswerable), are answered through `Assistant.stream` with the local backend (default settings:
4096-token window, 384 new tokens at most, temperature 0). Per question:

- time to first token: from the call to the first streamed text (the extractive answerer's decision,
  retrieval, prompt processing; for a follow-up with `--rewrite` also the model's rewriting of it
  into a standalone question). An abstention or a premise correction is the extractive answerer's
  and arrives at once, without the model; the summary gives the median over every question and over
  those the model streamed;
- tokens per second: the answer's tokens (counted with the model's own tokenizer) after the first,
  over the time from the first to the last (the model's streamed answers only);
- prompt tokens: the chat prompt as the model sees it (instructions, fenced passages, question), for
  the answers the model gave (a fallback holds other passages); `--passage-tokens` sets how much
  passage text it reads (`llm.passage_tokens`; 0 gives whole passages, as before windows existed) and
  `--passages` how many passages (`llm.passages`); `--rewrite` turns `llm.rewrite_follow_ups` on;
- correct: the golden set's scoring (`assistant/evaluation/golden.py`) of the final answer (a
  fallback counts as what it is, the extractive answer), beside the extractive answerer's score on
  the same questions, and citations that are not verbatim spans.

Medians are printed, then one JSON line. Needs the model installed (`assistant models install`).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from assistant.evaluation.golden import GoldenItem, load_golden, score  # noqa: E402
from assistant.generation import format_passages  # noqa: E402
from assistant.loading import load_file  # noqa: E402
from assistant.models import DEFAULT_MODEL  # noqa: E402
from assistant.pipeline import Assistant  # noqa: E402
from assistant.records import Answer  # noqa: E402
from assistant.settings import AnsweringSettings, LLMSettings, Settings, StoreSettings  # noqa: E402
from assistant.supervisor import LocalChat  # noqa: E402


def spread(items: list[GoldenItem]) -> list[GoldenItem]:
    """The golden questions taken in turn from each kind (fact, paraphrase, follow-up, ...)."""
    kinds: dict[str, list[GoldenItem]] = {}
    for item in items:
        kinds.setdefault(item.kind, []).append(item)
    picked: list[GoldenItem] = []
    while any(kinds.values()):
        for queue in kinds.values():
            if queue:
                picked.append(queue.pop(0))
    return picked


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=DEFAULT_MODEL, help="installed model name or .gguf path")
    parser.add_argument("--questions", type=int, default=8, help="golden questions to answer")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (0: every core)")
    parser.add_argument(
        "--passage-tokens",
        type=int,
        default=LLMSettings().passage_tokens,
        help="tokens of passage text the model reads (0: whole passages, the earlier prompt)",
    )
    parser.add_argument(
        "--passages", type=int, default=LLMSettings().passages, help="most passages the model reads (llm.passages)"
    )
    parser.add_argument("--golden", action="append", type=Path, help="golden files (default: evals/golden.jsonl)")
    parser.add_argument("--kind", help="only questions of this kind (fact, follow_up, ...)")
    parser.add_argument("--rewrite", action="store_true", help="follow-ups rewritten by the model first")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        shutil.copytree(REPO / "corpus", root / "corpus")
        settings = Settings(
            corpus=root / "corpus",
            store=StoreSettings(path=root / "index"),
            answering=AnsweringSettings(answerer="local"),
            llm=LLMSettings(
                model=args.model,
                threads=args.threads,
                passage_tokens=args.passage_tokens,
                passages=args.passages,
                rewrite_follow_ups=args.rewrite,
            ),
        )
        assistant = Assistant(settings)
        assistant.ingest(progress=False)
        generative = assistant.generative("local")
        model = generative.chat_model
        if not isinstance(model, LocalChat):
            raise SystemExit("the local backend did not build a LocalChat")
        started = time.perf_counter()
        model.tokens("warm-up")  # starts the model process
        load_s = time.perf_counter() - started

        corpus = root / "corpus"
        texts = {path.name: load_file(path, corpus).text for path in corpus.iterdir()}
        files = args.golden or [REPO / "evals" / "golden.jsonl"]
        golden = spread([item for path in files for item in load_golden(path) if args.kind in (None, item.kind)])
        rows = []
        for item in golden[: args.questions]:
            started = time.perf_counter()
            stamps: list[float] = []
            pieces: list[str] = []
            result: Answer | None = None
            for part in assistant.stream(item.question, history=item.history or None):
                if isinstance(part, Answer):
                    result = part
                else:
                    stamps.append(time.perf_counter())
                    pieces.append(part)
            if result is None or not stamps:
                continue
            tokens = model.tokens("".join(pieces))
            fitted = generative.budget.passages(item.question, result.passages)
            prompt = generative.chain.first.invoke(  # type: ignore[attr-defined]
                {"passages": format_passages(fitted), "question": item.question, "earlier": "", "form": ""}
            )
            rows.append(
                {
                    "id": item.id,
                    "first_token_s": stamps[0] - started,
                    "tokens": tokens,
                    # an answer the extractive answerer decided on arrives whole, in one piece
                    "tokens_per_s": (tokens - 1) / (stamps[-1] - stamps[0]) if stamps[-1] > stamps[0] else 0.0,
                    "total_s": time.perf_counter() - started,
                    # only an answer the model gave holds the passages it read (a fallback holds the extractive ones)
                    "prompt_tokens": model.tokens(prompt.to_string()) if result.answerer == "local" else 0,
                    "answerer": result.answerer,
                    "citations": len(result.citations),
                }
            )
            row = rows[-1]
            checked = score(item, result, texts)
            row["correct"] = checked.correct
            row["bad_citations"] = len(checked.bad_citations)
            extractive = assistant.answer(item.question, history=item.history or None, answerer="extractive")
            row["extractive_correct"] = score(item, extractive, texts).correct
            print(
                f"{item.kind:<13} {item.id:<32} first token {row['first_token_s']:5.2f} s  {row['tokens']:4d} tokens "
                f"{row['tokens_per_s']:5.1f}/s  prompt {row['prompt_tokens']:5d}  {row['answerer']}"
                f" ({row['citations']} citations, {'correct' if row['correct'] else 'wrong'})",
                flush=True,
            )
    generated = [r for r in rows if r["tokens_per_s"]]  # the model streamed them
    summary = {
        "model": args.model,
        "load_s": round(load_s, 2),
        "questions": len(rows),
        "median_first_token_s": round(statistics.median(r["first_token_s"] for r in rows), 2),
        "median_first_token_s_model": round(statistics.median([r["first_token_s"] for r in generated] or [0]), 2),
        "median_tokens_per_s": round(statistics.median([r["tokens_per_s"] for r in generated] or [0]), 1),
        "median_total_s": round(statistics.median(r["total_s"] for r in rows), 2),
        "median_prompt_tokens": statistics.median([r["prompt_tokens"] for r in rows if r["prompt_tokens"]] or [0]),
        "passage_tokens": args.passage_tokens,
        "passages": args.passages,
        "generated_answers_kept": sum(r["answerer"] == "local" for r in rows),
        "correct": sum(bool(r["correct"]) for r in rows),
        "extractive_correct": sum(bool(r["extractive_correct"]) for r in rows),
        "non_verbatim_citations": sum(int(r["bad_citations"]) for r in rows),
    }
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
