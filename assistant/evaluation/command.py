"""`assistant eval`: the command-line adapter over `run_eval` and the judge-validity measurement."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from assistant.pipeline import Assistant

# Exit code when a metric is out of bounds (1 is a usage or setup error, 2 an argparse error).
BREACH_EXIT = 3


def add_parser(commands: Any) -> None:
    """Add the `eval` subcommand to the CLI's subparsers."""
    parser: argparse.ArgumentParser = commands.add_parser(
        "eval",
        help="update the index, run the golden sets, write a report, gate on thresholds",
        description="Exit codes: 0 all metrics within thresholds, 3 a metric out of bounds, 1 an error.",
    )
    parser.add_argument("--golden", action="append", type=Path, help="golden JSONL file (repeatable; default: all)")
    parser.add_argument("--evals", type=Path, default=Path("evals"), help="folder of golden files and thresholds")
    parser.add_argument("--reports", type=Path, help="where reports go (default: evals/reports)")
    parser.add_argument("--thresholds", type=Path, help="thresholds file (default: evals/thresholds.toml)")
    parser.add_argument(
        "--judge",
        choices=["auto", "offline", "scorer", "llm"],
        default="auto",
        help="statement judge (default auto: llm when the answerer is a local model, else offline)",
    )
    parser.add_argument("--model", help="GGUF model name or path for --judge llm (default: the default model)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    validity = parser.add_argument_group("judge validity (instead of an eval run)")
    validity.add_argument(
        "--validate-judges", action="store_true", help="score judges against human labels (ExpertQA, SciFact)"
    )
    validity.add_argument(
        "--benchmarks", type=Path, default=Path("../shared/benchmarks"), help="folder with expertqa/ and scifact/"
    )
    validity.add_argument("--limit", type=int, help="at most this many items per dataset (LLM judges are slow)")
    validity.add_argument("--calibrate", action="store_true", help="refit the offline or scorer judge on the dev half")
    validity.add_argument("--no-save", action="store_true", help="print the numbers without updating the file")


def run(args: argparse.Namespace, assistant: Assistant, out: TextIO) -> int:
    """Run `assistant eval` with parsed arguments; return the exit code."""

    def log(line: str) -> None:
        print(line, file=out, flush=True)

    if args.validate_judges:
        from assistant.evaluation.validity import validate

        validate(
            assistant,
            judge=args.judge,
            model=args.model,
            benchmarks=args.benchmarks,
            limit=args.limit,
            calibrate_first=args.calibrate,
            save=None if args.no_save else args.evals / "judge_validity.json",
            log=log,
        )
        return 0
    from assistant.evaluation.runner import run_eval

    result = run_eval(
        assistant,
        golden=args.golden,
        judge=args.judge,
        model=args.model,
        evals=args.evals,
        reports=args.reports,
        thresholds=args.thresholds,
        log=log,
        progress=not args.quiet,
    )
    return BREACH_EXIT if result.breaches else 0
