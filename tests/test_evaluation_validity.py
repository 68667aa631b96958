"""Judge validity: loading the human-labelled benchmarks, the held-out split, balanced accuracy, the stored numbers."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from assistant.evaluation.judges import JudgeModel
from assistant.evaluation.metrics import Verdict
from assistant.evaluation.validity import LabelledClaim, load_expertqa, load_scifact, scores, validate
from assistant.pipeline import Assistant
from tests.conftest import REPO

BENCHMARKS = REPO.parent / "shared" / "benchmarks"
needs_benchmarks = pytest.mark.skipif(not BENCHMARKS.is_dir(), reason="the shared benchmarks folder is not here")


@needs_benchmarks
def test_expertqa_claims_have_evidence_and_binary_labels() -> None:
    """ExpertQA yields Complete/Incomplete claims with readable evidence, markers and URL headers stripped."""
    items = load_expertqa(BENCHMARKS / "expertqa" / "rand_test.jsonl")
    # 733 Complete + 200 Incomplete, less 196 whose evidence is a bare URL; Missing, Partial and N/A are left out
    assert len(items) == 737
    assert {i.label for i in items} == {Verdict.SUPPORTED, Verdict.UNSUPPORTED}
    assert all(i.passages and "[1]" not in i.claim and not i.passages[0].startswith("http") for i in items)


@needs_benchmarks
def test_scifact_claims_have_three_labels_and_an_abstract() -> None:
    """SciFact dev claims come with support, contradiction or no-evidence labels and their abstract."""
    scifact = BENCHMARKS / "scifact"
    items = load_scifact(scifact / "claims_dev.jsonl", scifact / "corpus.jsonl")
    counts = {label: sum(i.label is label for i in items) for label in Verdict}
    assert counts == {Verdict.SUPPORTED: 124, Verdict.UNSUPPORTED: 112, Verdict.CONTRADICTED: 64}
    assert all(len(i.passages) == 1 and len(i.passages[0]) > 200 for i in items)


def test_dev_split_is_stable_and_about_half() -> None:
    """The dev/held-out split depends only on the item's id and puts roughly half on each side."""
    items = [LabelledClaim("scifact", str(n), "c", ("p",), Verdict.SUPPORTED) for n in range(400)]
    dev = [i.dev for i in items]
    assert dev == [i.dev for i in items]
    assert 150 < sum(dev) < 250


def test_scores_binary_and_three_way() -> None:
    """Binary balanced accuracy counts contradicted as not supported; SciFact also gets a three-way score."""
    gold = [Verdict.SUPPORTED, Verdict.SUPPORTED, Verdict.CONTRADICTED, Verdict.UNSUPPORTED]
    items = [LabelledClaim("scifact", str(n), "c", ("p",), g) for n, g in enumerate(gold)]
    guess = [Verdict.SUPPORTED, Verdict.UNSUPPORTED, Verdict.UNSUPPORTED, Verdict.UNSUPPORTED]
    table = scores(items, guess)
    assert table["scifact"]["balanced_accuracy"] == 0.75  # (1/2 + 2/2) / 2
    assert table["scifact_3way"]["balanced_accuracy"] == pytest.approx(0.5)  # (1/2 + 0 + 1) / 3
    assert table["scifact"]["n"] == 4


@needs_benchmarks
@pytest.mark.slow
def test_validate_writes_numbers_per_dataset(tmp_path: Path, seed_assistant: Assistant) -> None:
    """A small validity run stores balanced accuracy and n per dataset under the judge's name."""
    save = tmp_path / "judge_validity.json"
    validate(seed_assistant, judge="offline", benchmarks=BENCHMARKS, limit=6, save=save, log=lambda _: None)
    stored = json.loads(save.read_text())["judges"]["offline"]
    assert set(stored["datasets"]) == {"expertqa", "scifact", "scifact_3way"}
    assert all(row["n"] == 6 and 0 <= row["balanced_accuracy"] <= 1 for row in stored["datasets"].values())


@needs_benchmarks
@pytest.mark.slow
def test_train_judge_on_a_slice_writes_a_model_that_validate_reports(tmp_path: Path, seed_assistant: Assistant) -> None:
    """evals/train_judge.py on 12 dev items per dataset writes a loadable model; validate reports the scorer judge."""
    out = tmp_path / "judge.json"
    command = [sys.executable, str(REPO / "evals" / "train_judge.py"), "--limit", "12", "--out", str(out)]
    subprocess.run(command, cwd=REPO, check=True, capture_output=True, timeout=600)
    model = JudgeModel.load(out)
    assert model.provenance["items"] == {"expertqa": 12, "scifact": 12}
    assert any(w != 0 for w in model.model.weights) and 0 < model.threshold < 1
    save = tmp_path / "judge_validity.json"
    validate(seed_assistant, judge="scorer", benchmarks=BENCHMARKS, limit=6, save=save, log=lambda _: None)
    stored = json.loads(save.read_text())["judges"]["scorer"]
    assert all(row["n"] == 6 for row in stored["datasets"].values())


def test_committed_validity_file_names_each_dataset() -> None:
    """evals/judge_validity.json holds the offline judge's measured numbers with sample sizes."""
    stored = json.loads((REPO / "evals" / "judge_validity.json").read_text())
    rows = stored["judges"]["offline"]["datasets"]
    assert {"expertqa", "scifact"} <= set(rows)
    assert all(row["n"] > 100 for row in rows.values())
