"""End to end: `assistant eval` over a tiny corpus in tmp_path, through corpus updates (real embedder, real Chroma)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from assistant.cli import main
from assistant.errors import ConfigError
from assistant.evaluation.runner import golden_files, load_items, make_judge, run_eval
from assistant.pipeline import Assistant
from tests.conftest import REPO, SEED_CORPUS

MTR = "magnetization-transfer-imaging-trd-radiology.txt"
ISHA = "hippocampal-volume-ketamine-isha-health.txt"
QUESTIONS = ("mtr-healthy-controls", "mtr-trd-count", "fp-trd-higher-mtr", "isha-mri-strengths", "un-cooking")


def _workspace(root: Path) -> Path:
    """A corpus holding only the MTR article, and an evals/ folder with a few golden questions and thresholds."""
    (root / "corpus").mkdir()
    shutil.copy(SEED_CORPUS / MTR, root / "corpus" / MTR)
    evals = root / "evals"
    evals.mkdir()
    rows = [json.loads(line) for line in (REPO / "evals" / "golden.jsonl").read_text().splitlines()]
    chosen = [r for r in rows if r["id"] in QUESTIONS]
    crash = {**chosen[0], "id": "crashes", "question": "   "}  # an empty question raises QuestionError
    (evals / "golden.jsonl").write_text("".join(json.dumps(r) + "\n" for r in [*chosen, crash]))
    shutil.copy(REPO / "evals" / "thresholds.toml", evals / "thresholds.toml")
    return evals


def _statuses(run_report: dict[str, object]) -> dict[str, str]:
    results = run_report["results"]
    assert isinstance(results, list)
    return {r["id"]: r["status"] for r in results}


@pytest.mark.slow
def test_eval_through_corpus_updates(tmp_path: Path, make_assistant: Callable[..., Assistant]) -> None:
    """Errors are recorded, a deleted source flags its questions, an added document shows up as a changed result."""
    evals = _workspace(tmp_path)
    lines: list[str] = []
    first = run_eval(make_assistant(tmp_path), evals=evals, log=lines.append, progress=False)
    statuses = _statuses(first.report)
    assert statuses["crashes"] == "error"
    assert statuses["isha-mri-strengths"] == "source_missing"  # its document is not in the corpus yet
    assert statuses["mtr-healthy-controls"] == "pass"
    assert statuses["un-cooking"] == "pass"
    assert first.summary["errors"] == 1 and first.summary["source_missing"] == 1
    assert first.summary["faithfulness"] == 1.0  # extractive answers quote their citations
    assert first.report["index_fingerprint"] and first.report["judge"]["name"] == "offline"
    assert any(f"added: {MTR}" in line for line in lines)
    assert "errors 1 is above its maximum 0" in first.breaches
    assert [p.suffix for p in first.paths] == [".json", ".md", ".html"]

    shutil.copy(SEED_CORPUS / ISHA, tmp_path / "corpus" / ISHA)
    lines.clear()
    second = run_eval(make_assistant(tmp_path), evals=evals, log=lines.append, progress=False)
    assert any(f"added: {ISHA}" in line for line in lines)
    assert _statuses(second.report)["isha-mri-strengths"] == "pass"
    changed = {c["question"]: c for c in second.report["changes"]}
    assert changed["golden/isha-mri-strengths"]["before"] == "source_missing"
    assert second.report["previous"] == first.paths[0].name

    (tmp_path / "corpus" / MTR).unlink()
    third = run_eval(make_assistant(tmp_path), evals=evals, log=lines.append, progress=False)
    statuses = _statuses(third.report)
    assert {statuses[q] for q in ("mtr-healthy-controls", "mtr-trd-count", "fp-trd-higher-mtr")} == {"source_missing"}
    assert third.summary["failed"] == 0  # the deleted document's questions are flagged, not failed
    assert third.summary["source_missing"] == 3
    flagged = [c for c in third.report["changes"] if c["question"] == "golden/mtr-healthy-controls"]
    assert flagged and flagged[0]["change"] == "status changed"
    assert "source_missing" in third.paths[1].read_text()


@pytest.mark.slow
def test_eval_with_the_scorer_judge(tmp_path: Path, make_assistant: Callable[..., Assistant]) -> None:
    """The scorer judge is made before any index is open, reads the index's statistics, and supports quotes."""
    evals = _workspace(tmp_path)
    assert make_judge("scorer", make_assistant(tmp_path)).name == "scorer"  # no index yet: nothing is read
    run = run_eval(make_assistant(tmp_path), evals=evals, judge="scorer", log=lambda _: None, progress=False)
    assert run.report["judge"]["name"] == "scorer"
    assert run.summary["faithfulness"] == 1.0  # extractive answers quote their citations


@pytest.mark.slow
def test_cli_eval_exit_codes(tmp_path: Path) -> None:
    """`assistant eval` exits 0 within thresholds and 3 when a metric is out of bounds."""
    evals = _workspace(tmp_path)
    golden = evals / "golden.jsonl"
    rows = [json.loads(line) for line in golden.read_text().splitlines() if '"crashes"' not in line]
    golden.write_text("".join(json.dumps(r) + "\n" for r in rows if r["id"] != "isha-mri-strengths"))
    base = [
        "--corpus",
        str(tmp_path / "corpus"),
        "--index",
        str(tmp_path / "index"),
        "eval",
        "--evals",
        str(evals),
        "--quiet",
    ]
    assert main([*base, "--judge", "offline"]) == 0
    strict = tmp_path / "strict.toml"
    strict.write_text("[maximum]\nlatency_p95_ms = 0\n")
    assert main([*base, "--thresholds", str(strict)]) == 3
    assert len(list((evals / "reports").glob("*.json"))) == 2


def test_golden_files_and_bad_records(tmp_path: Path) -> None:
    """Every golden*.jsonl is found; none, a missing file or a malformed record is a one-line ConfigError."""
    with pytest.raises(ConfigError, match="no golden files"):
        golden_files(tmp_path)
    evals = _workspace(tmp_path)
    (evals / "golden-extra.jsonl").write_text('{"id": "x"}\n')
    files = golden_files(evals)
    assert [p.name for p in files] == ["golden-extra.jsonl", "golden.jsonl"]
    assert {name for name, _ in load_items(files[1:])} == {"golden"}
    with pytest.raises(ConfigError, match=r"golden-extra\.jsonl:1"):
        load_items(files)
    with pytest.raises(ConfigError, match="not found"):
        golden_files(evals, [evals / "nope.jsonl"])
