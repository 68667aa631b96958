"""`run_eval`: update the index, run the golden sets through `Assistant.answer()`, score, report, gate.

1. If `corpus/` changed since the last ingest, the index is updated incrementally first and the
   added, changed and removed files are logged.
2. Every golden question (`evals/golden*.jsonl` by default) is answered by the same
   `Assistant.answer()` users call. A question that raises is recorded with status `error` and the
   run goes on; a question whose expected source is no longer indexed gets `source_missing` and is
   left out of correctness, retrieval and abstention (the assistant is not to blame).
3. Answers are scored (`scoring.py`) by a judge (`judges.py`, `llm_judge.py`).
4. The report is written (`reports.py`), compared with the previous one, and checked against
   `evals/thresholds.toml` (`thresholds.py`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tqdm import tqdm

from assistant.errors import ConfigError, LoadError
from assistant.evaluation.golden import GoldenItem, load_golden
from assistant.evaluation.judges import Judge, OfflineJudge, ScorerJudge
from assistant.evaluation.reports import changes, previous_report, summary_table, write_reports
from assistant.evaluation.scoring import ERROR, SOURCE_MISSING, QuestionResult, score_answer, summarise
from assistant.evaluation.thresholds import Thresholds, breaches, load_thresholds
from assistant.loading import load_file

if TYPE_CHECKING:
    from assistant.pipeline import Assistant
    from assistant.settings import Settings

EVALS = Path("evals")
GOLDEN_PATTERN = "golden*.jsonl"


@dataclass
class EvalRun:
    """The outcome of `run_eval`: the report as written, where it went, and the gate's verdict."""

    report: dict[str, Any]
    results: list[QuestionResult]
    breaches: list[str]
    paths: list[Path] = field(default_factory=list)

    @property
    def summary(self) -> dict[str, Any]:
        """The run's metrics by name."""
        summary: dict[str, Any] = self.report["summary"]
        return summary


def golden_files(evals: Path, explicit: Sequence[Path] | None = None) -> list[Path]:
    """The golden files to run: those given, else every `golden*.jsonl` in `evals`."""
    files = list(explicit) if explicit else sorted(evals.glob(GOLDEN_PATTERN))
    if not files:
        raise ConfigError(f"no golden files: add {evals / GOLDEN_PATTERN} or pass --golden FILE")
    for path in files:
        if not path.is_file():
            raise ConfigError(f"golden file {path} not found")
    return files


def load_items(files: Sequence[Path]) -> list[tuple[str, GoldenItem]]:
    """(golden set name, item) for every record of the files; a malformed record is a ConfigError."""
    items: list[tuple[str, GoldenItem]] = []
    for path in files:
        try:
            items += [(path.stem, item) for item in load_golden(path)]
        except ValueError as exc:
            raise ConfigError(f"{exc}: fix the record or leave the file out with --golden") from exc
    return items


def make_judge(name: str, assistant: Assistant, model: str | None = None) -> Judge:
    """The judge called `name`: "offline", "scorer" (both always available), "llm" (a local GGUF model), or "auto".

    "auto" is the LLM judge when the assistant answers with a local model (its `llm.model`), else
    the offline judge. `model` overrides the LLM judge's model (an installed name or a .gguf path).
    """
    answerer = assistant.settings.answering.answerer
    if name == "auto":
        name = "llm" if answerer == "local" else "offline"
    if name == "offline":
        return OfflineJudge(assistant.embedder)
    if name == "scorer":
        return ScorerJudge.shipped(assistant.embedder, lambda: assistant.retriever.lexical)
    if name == "llm":
        from assistant.evaluation.llm_judge import LlamaJudge

        return LlamaJudge.from_name(model or assistant.settings.llm.model, threads=assistant.settings.llm.threads)
    raise ConfigError(f"unknown judge {name!r}: use auto, offline, scorer or llm")


def update_index(assistant: Assistant, log: Callable[[str], None]) -> dict[str, list[str]]:
    """Bring the index in line with the corpus when it changed; say what changed."""
    status = assistant.status()
    if not status.stale and assistant.indexer.records:
        log(f"index up to date ({status.documents} documents, fingerprint {status.fingerprint})")
        return {"added": [], "updated": [], "removed": []}
    report = assistant.ingest(progress=False)
    for problem in report.problems:
        log(f"skipped {problem}")
    log(f"corpus changed: {report.summary()}")
    for verb, sources in (("added", report.added), ("changed", report.updated), ("removed", report.removed)):
        for source in sources:
            log(f"  {verb}: {source}")
    return {"added": report.added, "updated": report.updated, "removed": report.removed}


def _document_texts(assistant: Assistant, sources: set[str], cache: dict[str, str]) -> dict[str, str]:
    for source in sources - set(cache):
        try:
            cache[source] = load_file(assistant.settings.corpus / source, assistant.settings.corpus).text
        except (LoadError, OSError):
            cache[source] = ""  # gone or unreadable since ingest: its citations count as not verbatim
    return cache


def run_questions(
    assistant: Assistant,
    items: Sequence[tuple[str, GoldenItem]],
    judge: Judge,
    *,
    progress: bool = True,
) -> list[QuestionResult]:
    """Answer and score each (golden set name, item); errors are recorded, never raised."""
    indexed = set(assistant.indexer.records)
    k = assistant.settings.retrieval.k
    texts: dict[str, str] = {}
    results = []
    for golden, item in tqdm(items, desc="eval", unit="question", disable=not progress):
        result = QuestionResult(golden, item.id, item.kind, item.question, item.answerable)
        result.missing_sources = [s for s in item.expected_sources if s not in indexed]
        if result.missing_sources:
            result.status = SOURCE_MISSING
        started = time.perf_counter()
        try:
            answer = assistant.answer(item.question, history=item.history or None)
        except Exception as exc:  # noqa: BLE001 - one crashing question must not stop the run
            result.status = ERROR
            result.error = f"{type(exc).__name__}: {exc}"
            results.append(result)
            continue
        result.latency_ms = (time.perf_counter() - started) * 1000
        _document_texts(assistant, {c.source for c in answer.citations}, texts)
        results.append(score_answer(item, answer, result, judge=judge, documents=texts, k=k))
    return results


def _validity(path: Path, judge: Judge) -> dict[str, Any] | None:
    """The stored judge-validity numbers for this judge, if they were measured."""
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    entry = data.get("judges", {}).get(judge.name)
    if not isinstance(entry, dict):
        return None
    return {"measured": data.get("measured", ""), **entry}


def run_eval(
    assistant: Assistant | None = None,
    *,
    settings: Settings | None = None,
    golden: Sequence[Path] | None = None,
    judge: str | Judge = "auto",
    model: str | None = None,
    evals: Path = EVALS,
    reports: Path | None = None,
    thresholds: Path | None = None,
    log: Callable[[str], None] = print,
    progress: bool = True,
) -> EvalRun:
    """Update the index, run the golden sets, write the reports and check the thresholds.

    `evals` is the folder of golden files, `thresholds.toml` and `judge_validity.json`; reports go
    to `reports` (default `evals/reports/`). Returns the run; `breaches` lists the metrics out of
    bounds (the CLI exits non-zero when there are any).
    """
    from assistant.pipeline import Assistant

    started = time.perf_counter()
    assistant = assistant or Assistant(settings)
    files = golden_files(evals, golden)
    items = load_items(files)
    reports = reports or evals / "reports"
    bounds_file = thresholds or evals / "thresholds.toml"
    # Without a thresholds file nothing is gated; a file named explicitly must exist.
    gate = load_thresholds(bounds_file, set(summarise([]))) if thresholds or bounds_file.is_file() else Thresholds()
    ingest = update_index(assistant, log)
    chosen = judge if not isinstance(judge, str) else make_judge(judge, assistant, model)
    log(f"running {len(items)} questions from {', '.join(str(p) for p in files)} with the {chosen.name} judge")
    results = run_questions(assistant, items, chosen, progress=progress)
    summary = summarise(results)
    created = datetime.now(UTC)
    stem = created.strftime("%Y-%m-%dT%H-%M-%S-%fZ")
    previous = previous_report(reports, stem)
    rows = [asdict(r) for r in results]
    report: dict[str, Any] = {
        "created": created.isoformat(timespec="seconds"),
        "index_fingerprint": assistant.indexer.fingerprint,
        "corpus": {
            "documents": len(assistant.indexer.records),
            "sources": {s: r.sha256[:12] for s, r in sorted(assistant.indexer.records.items())},
        },
        "ingest": ingest,
        "judge": chosen.describe(),
        "judge_validity": _validity(evals / "judge_validity.json", chosen),
        "golden": [str(p) for p in files],
        "k": assistant.settings.retrieval.k,
        "seconds": time.perf_counter() - started,
        "summary": summary,
        "thresholds": {"minimum": gate.minimum, "maximum": gate.maximum},
        "breaches": breaches(summary, gate),
        "previous": previous["file"] if previous else None,
        "changes": changes(previous["results"], rows) if previous else [],
        "results": rows,
    }
    paths = list(write_reports(reports, stem, report))
    log(summary_table(report))
    _log_changes(report, log)
    log(f"report: {paths[1]} (chart: {paths[2]})")
    for line in report["breaches"]:
        log(f"threshold: {line}")
    return EvalRun(report, results, report["breaches"], paths)


def _log_changes(report: dict[str, Any], log: Callable[[str], None]) -> None:
    if not report["previous"]:
        return
    if not report["changes"]:
        log(f"no question changed since {report['previous']}")
        return
    log(f"changed since {report['previous']}:")
    for change in report["changes"]:
        log(f"  {change['change']}: {change['question']} ({change['before'] or '-'} -> {change['after'] or '-'})")
