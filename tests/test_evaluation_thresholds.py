"""Thresholds from TOML: bounds checked, missing metrics not gated, bad files rejected clearly."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.errors import ConfigError
from assistant.evaluation.thresholds import Thresholds, breaches, load_thresholds
from tests.conftest import REPO

KNOWN = {"correctness", "faithfulness", "errors", "latency_p95_ms"}


def test_minimum_and_maximum_breaches() -> None:
    """A value below its minimum or above its maximum is a breach; equal values pass."""
    bounds = Thresholds({"correctness": 0.9, "faithfulness": 0.8}, {"errors": 0})
    assert breaches({"correctness": 0.85, "faithfulness": 0.8, "errors": 1}, bounds) == [
        "correctness 0.85 is below its minimum 0.9",
        "errors 1 is above its maximum 0",
    ]


def test_missing_metric_is_not_gated() -> None:
    """A metric with no data (None) or absent from the summary never breaches."""
    assert breaches({"correctness": None}, Thresholds({"correctness": 0.9, "faithfulness": 0.5})) == []


def test_load_reads_sections(tmp_path: Path) -> None:
    """[minimum] and [maximum] tables load as floats."""
    path = tmp_path / "t.toml"
    path.write_text("[minimum]\ncorrectness = 0.9\n[maximum]\nerrors = 0\n")
    assert load_thresholds(path, KNOWN) == Thresholds({"correctness": 0.9}, {"errors": 0.0})


@pytest.mark.parametrize(
    "text",
    [
        "[minimum]\ncorectness = 0.9\n",
        "[minmum]\ncorrectness = 0.9\n",
        "[minimum]\ncorrectness = 'high'\n",
        "[minimum\n",
    ],
)
def test_load_rejects_bad_files(tmp_path: Path, text: str) -> None:
    """Misspelt metrics or sections, non-numbers and broken TOML are ConfigErrors naming the file."""
    path = tmp_path / "t.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=r"t\.toml"):
        load_thresholds(path, KNOWN)


def test_repo_thresholds_file_names_real_metrics() -> None:
    """evals/thresholds.toml only names metrics the summary has."""
    from assistant.evaluation.scoring import summarise

    bounds = load_thresholds(REPO / "evals" / "thresholds.toml", set(summarise([])))
    assert bounds.minimum and bounds.maximum
