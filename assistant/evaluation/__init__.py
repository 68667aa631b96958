"""Evaluation: metrics as pure functions, statement judges, and `run_eval`, the runner behind `assistant eval`.

`run_eval` is imported on first use, so importing a metrics module does not load the pipeline.
"""

from __future__ import annotations

from typing import Any

__all__ = ["run_eval"]


def __getattr__(name: str) -> Any:
    if name == "run_eval":
        from assistant.evaluation.runner import run_eval

        return run_eval
    raise AttributeError(f"module 'assistant.evaluation' has no attribute {name!r}")
