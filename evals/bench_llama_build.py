"""Prompt and generation speed of llama.cpp builds, side by side in one run.

Run from the repo root:
    .venv/bin/python evals/bench_llama_build.py [--model qwen2.5-coder-1.5b] [--python OTHER_VENV/bin/python ...]

Each interpreter (this one first, then every --python) is one llama-cpp-python build. They are
measured in turns, --rounds times, so a busy machine slows them alike; each measurement is a fresh
process that loads the model and then:

- prompt: evaluates a ~1,000-token prompt (the seed corpus's text) in one batch -> prompt tokens/s;
- generation: 64 greedy tokens after it, one at a time -> generated tokens/s.

Medians per build are printed as a table, then one JSON line. The build flags are read from each
interpreter's llama.cpp (`llama_print_system_info`).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PROMPT_TOKENS = 1000
NEW_TOKENS = 64


def measure(model: str, threads: int) -> dict[str, object]:
    """Load `model` in this process and time one prompt evaluation and NEW_TOKENS greedy tokens."""
    import llama_cpp

    text = "\n\n".join(
        path.read_text(encoding="utf-8", errors="replace") for path in sorted((REPO / "corpus").iterdir())
    )
    started = time.perf_counter()
    llm = llama_cpp.Llama(
        model_path=model, n_ctx=2048, n_batch=512, n_threads=threads, n_threads_batch=threads, seed=0, verbose=False
    )
    load_s = time.perf_counter() - started
    tokens = llm.tokenize(text.encode(), add_bos=True)[:PROMPT_TOKENS]
    started = time.perf_counter()
    llm.eval(tokens)
    prompt_s = time.perf_counter() - started
    started = time.perf_counter()
    for _ in range(NEW_TOKENS):
        token = llm.sample(temp=0.0)
        llm.eval([token])
    generate_s = time.perf_counter() - started
    return {
        "system": llama_cpp.llama_print_system_info().decode(),
        "load_s": load_s,
        "prompt_tps": len(tokens) / prompt_s,
        "generate_tps": NEW_TOKENS / generate_s,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="qwen2.5-coder-1.5b", help="installed model name or .gguf path")
    parser.add_argument("--python", action="append", default=[], help="another interpreter with a llama.cpp build")
    parser.add_argument("--rounds", type=int, default=3, help="measurements per build")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads")
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.model, args.threads)))
        return 0
    sys.path.insert(0, str(REPO))
    from assistant.models import resolve

    model = str(resolve(args.model))
    pythons = [sys.executable, *args.python]
    results: dict[str, list[dict[str, object]]] = {python: [] for python in pythons}
    for _ in range(args.rounds):
        for python in pythons:
            command = [python, __file__, "--measure", "--model", model, "--threads", str(args.threads)]
            run = subprocess.run(command, capture_output=True, text=True, check=False)
            if run.returncode != 0:
                raise SystemExit(f"{python} failed ({run.returncode}): {run.stderr.strip()[-300:]}")
            results[python].append(json.loads(run.stdout.strip().splitlines()[-1]))
    summary = []
    print(f"{'interpreter':<44} {'prompt tok/s':>12} {'gen tok/s':>10}  flags")
    for python, runs in results.items():
        row = {
            "python": python,
            "prompt_tps": statistics.median(float(r["prompt_tps"]) for r in runs),  # type: ignore[arg-type]
            "generate_tps": statistics.median(float(r["generate_tps"]) for r in runs),  # type: ignore[arg-type]
            "system": runs[0]["system"],
        }
        summary.append(row)
        flags = " ".join(part.strip() for part in str(row["system"]).split("|") if "= 1" in part)
        print(f"{python:<44} {row['prompt_tps']:>12.1f} {row['generate_tps']:>10.1f}  {flags}")
    print(json.dumps({"model": Path(model).name, "threads": args.threads, "rounds": args.rounds, "builds": summary}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
