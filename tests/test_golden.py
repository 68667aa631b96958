"""The golden set through answer(): accuracy, abstention and verbatim citations (targets from the issue)."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.evaluation.golden import GoldenItem, facts_present, load_golden, run_golden, score
from assistant.pipeline import Assistant
from assistant.records import Answer, Citation
from tests.conftest import REPO

GOLDEN = REPO / "evals" / "golden.jsonl"


def test_golden_set_is_well_formed() -> None:
    """At least 40 questions, 10 unanswerable, every kind present, expected sources exist."""
    items = load_golden(GOLDEN)
    kinds = {i.kind for i in items}
    assert len(items) >= 40
    assert sum(not i.answerable for i in items) >= 10
    assert kinds >= {"fact", "paraphrase", "multi_doc", "follow_up", "unanswerable", "false_premise"}
    for item in items:
        for source in item.expected_sources:
            assert (REPO / "corpus" / source).is_file(), source
        assert bool(item.key_facts) == item.answerable


def test_scoring_counts_facts_sources_and_offsets() -> None:
    """score() needs every fact and an expected source, and flags citations that are not verbatim."""
    item = GoldenItem("x", "fact", "q", [], True, ["a.txt"], [["41"], ["healthy control", "healthy volunteer"]])
    good = Answer("q", "There were 41 healthy controls [1]", False, [Citation(1, "a.txt", "A", "41 healthy", 3, 13)])
    texts = {"a.txt": "We 41 healthy controls"}
    assert score(item, good, texts).correct
    assert score(item, good, {"a.txt": "different text entirely"}).bad_citations
    assert not score(item, Answer("q", "There were 41 [1]", False, good.citations), texts).correct
    assert not facts_present("nothing here", item.key_facts)


def _assert_levels(assistant: Assistant, path: Path, floor: float, abstain_floor: float) -> None:
    """No non-verbatim citation; answerable accuracy and abstentions at their floors or above."""
    report = run_golden(assistant, load_golden(path))
    failures = [f"{r.id}: {r.answer[:120]}" for r in report.results if not r.correct]
    assert report.bad_citations == []
    assert report.abstention_recall >= abstain_floor, failures
    assert report.answerable_accuracy >= floor, failures


# The answerer's decisions are learned on public benchmarks (assistant/scorer.py, evals/train_scorer.py),
# with no rule or threshold fitted to these questions. Measured with the shipped scorer: golden 37 / 44
# answerable (0.841; 35 / 44 before the sentence model read the sentence before each candidate) and 11 / 13
# abstentions (10 / 13 before a journal question needed a venue, 9 / 13 before the answer model read whether
# a question that asks for a figure or a date got one in its best sentence); held-out 80 / 118 (0.678) and
# 23 / 29 (17 / 29 before a question asking for a name, an organisation or a place abstained when no
# candidate holds one). Training
# reproduces the shipped weights exactly (see README, "Training"). The
# rule-based answerer it replaced, whose thresholds were fitted to both sets, measured 40 / 44 and 13 / 13,
# 71 / 118 and 28 / 29; on the 40 held-out questions nobody looked at (b4-...) until 2026-12-01 it measured
# 15 / 32 and 7 / 8 (the learned one 19 / 32 and 7 / 8). The floors sit one or more questions below the measured levels.
ANSWERABLE_FLOOR = 0.79  # 35 / 44
ABSTAIN_FLOOR = 0.76  # 10 / 13


@pytest.mark.slow
def test_golden_set_meets_targets(seed_assistant: Assistant) -> None:
    """Answerable accuracy and abstentions at their measured floors, and 0 non-verbatim citations."""
    _assert_levels(seed_assistant, GOLDEN, ANSWERABLE_FLOOR, ABSTAIN_FLOOR)


HELDOUT = REPO / "evals" / "heldout.jsonl"
# evals/heldout.jsonl: 147 questions of the same kinds written by four separate sessions from the
# documents alone, without access to the answerer (see README, "Measured").
HELDOUT_FLOOR = 0.66  # 78 / 118
HELDOUT_ABSTAIN_FLOOR = 0.72  # 21 / 29


@pytest.mark.slow
def test_heldout_set_abstains_and_holds_its_measured_level(seed_assistant: Assistant) -> None:
    """Questions written without sight of the answerer: answerable and abstentions at their floors."""
    _assert_levels(seed_assistant, HELDOUT, HELDOUT_FLOOR, HELDOUT_ABSTAIN_FLOOR)
