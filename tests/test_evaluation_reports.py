"""Report writing: changes since the previous run, summary formatting, Markdown and the history chart."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from assistant.evaluation.reports import (
    changes,
    fmt,
    history_html,
    markdown,
    previous_report,
    summary_table,
    write_reports,
)


def _row(id_: str, status: str, answer: str = "a", cited: list[str] | None = None) -> dict[str, Any]:
    return {"golden": "g", "id": id_, "status": status, "answer": answer, "cited_sources": cited or []}


def test_changes_newly_failing_first() -> None:
    """Status flips, answer edits, new and removed questions are listed, newly failing first; unchanged ones not."""
    before = [
        _row("a", "pass"),
        _row("b", "fail"),
        _row("c", "pass"),
        _row("d", "pass"),
        _row("gone", "pass"),
        _row("z", "pass"),
    ]
    after = [
        _row("a", "pass"),
        _row("b", "pass"),
        _row("c", "pass", "new text"),
        _row("d", "source_missing"),
        _row("new", "fail"),
        _row("z", "error"),
    ]
    found = [(c["question"], c["change"]) for c in changes(before, after)]
    assert found == [
        ("g/z", "newly failing"),
        ("g/d", "status changed"),
        ("g/c", "answer changed"),
        ("g/b", "newly passing"),
        ("g/new", "new question"),
        ("g/gone", "removed"),
    ]


def test_changes_see_cited_sources() -> None:
    """Same text citing another document counts as a changed answer."""
    assert changes([_row("a", "pass", cited=["x"])], [_row("a", "pass", cited=["y"])])[0]["change"] == "answer changed"


def test_fmt_missing_and_units() -> None:
    """Missing values print as an em dash, latencies in ms, counts as integers, rates with 3 decimals."""
    assert fmt("faithfulness", None) == "—"
    assert fmt("latency_p95_ms", 61.7) == "62 ms"
    assert fmt("errors", 0) == "0"
    assert fmt("mrr", 0.97666) == "0.977"


def _report(created: str, correctness: float | None) -> dict[str, Any]:
    return {
        "created": created,
        "index_fingerprint": "f" * 16,
        "corpus": {"documents": 1, "sources": {}},
        "ingest": {"added": [], "updated": [], "removed": []},
        "judge": {"name": "offline", "threshold": 0.6},
        "judge_validity": {
            "measured": "today",
            "datasets": {"scifact": {"balanced_accuracy": 0.7, "n": 150, "task": "t"}},
        },
        "golden": ["evals/golden.jsonl"],
        "k": 6,
        "seconds": 1.0,
        "summary": {"correctness": correctness, "faithfulness": None, "errors": 0},
        "thresholds": {"minimum": {"correctness": 0.9}, "maximum": {"errors": 0}},
        "breaches": ["correctness 0.5 is below its minimum 0.9"] if correctness == 0.5 else [],
        "previous": None,
        "changes": [],
        "results": [
            _row("a", "fail")
            | {
                "kind": "fact",
                "error": "",
                "missing_sources": [],
                "unsupported": ["x"],
                "contradicted": [],
                "faithfulness": None,
                "citation_recall": None,
                "citation_precision": None,
                "hit": 1.0,
                "reciprocal_rank": 1.0,
                "latency_ms": 3.0,
            }
        ],
    }


def test_summary_table_marks_breaches_and_missing() -> None:
    """The terminal table flags a breached minimum and says "no data" for a missing metric."""
    table = summary_table(_report("t", 0.5))
    assert "BELOW" in table.splitlines()[1]
    assert "no data" in table


def test_markdown_quotes_fingerprint_judge_and_validity() -> None:
    """The Markdown report names the index fingerprint, the judge and its measured validity, and lists failures."""
    text = markdown(_report("2026-01-01T00:00:00+00:00", 0.5))
    assert "ffffffffffffffff" in text
    assert "`offline`" in text
    assert "scifact: 0.700 (n = 150" in text
    assert "## Out of bounds" in text
    assert "**g/a**" in text


def test_write_reports_and_find_previous(tmp_path: Path) -> None:
    """Two runs write JSON, Markdown and a history chart holding both; the previous report is the earlier one."""
    write_reports(tmp_path, "2026-01-01T00-00-00Z", _report("one", 0.5))
    paths = write_reports(tmp_path, "2026-01-02T00-00-00Z", _report("two", 1.0))
    assert [p.name for p in paths] == ["2026-01-02T00-00-00Z.json", "2026-01-02T00-00-00Z.md", "history.html"]
    previous = previous_report(tmp_path, "2026-01-02T00-00-00Z")
    assert previous is not None and previous["created"] == "one"
    assert previous_report(tmp_path, "2026-01-01T00-00-00Z") is None
    page = paths[2].read_text()
    assert page.count("<polyline") == 1 and "<svg" in page and "two" in page
    assert json.loads(paths[0].read_text())["summary"]["correctness"] == 1.0


def test_history_of_one_run_has_points_but_no_line() -> None:
    """A single run is charted as points; a metric with no data draws nothing."""
    page = history_html([_report("only", 0.8)])
    assert "<polyline" not in page and "<circle" in page
