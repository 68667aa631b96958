"""Eval metrics as pure functions, checked against hand-computed values (including empty and degenerate inputs)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pytest

from assistant.evaluation import metrics
from assistant.evaluation.metrics import Verdict

S, U, C = Verdict.SUPPORTED, Verdict.UNSUPPORTED, Verdict.CONTRADICTED


def test_faithfulness_is_supported_over_statements() -> None:
    """3 supported of 4 statements is 0.75; contradicted counts as not supported."""
    assert metrics.faithfulness([S, S, U, S]) == 0.75
    assert metrics.faithfulness([S, C]) == 0.5
    assert metrics.faithfulness([C, U]) == 0.0


def test_faithfulness_of_no_statements_is_missing() -> None:
    """An answer with no statements has no faithfulness (None), not 0 or NaN."""
    assert metrics.faithfulness([]) is None


def _oracle(supporting: set[frozenset[int]]) -> Callable[[Sequence[int]], bool]:
    """Supports when the cited set contains one of the supporting sets."""
    return lambda numbers: any(s <= set(numbers) for s in supporting)


def test_citation_support_single_citation() -> None:
    """One supporting citation: recall hit and 1 relevant; one non-supporting: no hit, 0 relevant."""
    assert metrics.citation_support([1], _oracle({frozenset({1})})) == (True, 1)
    assert metrics.citation_support([1], _oracle({frozenset({2})})) == (False, 0)


def test_citation_support_redundant_citation_is_irrelevant() -> None:
    """[1][2] where [1] alone supports and [2] alone does not: [2] is irrelevant (ALCE), so 1 of 2 relevant."""
    assert metrics.citation_support([1, 2], _oracle({frozenset({1})})) == (True, 1)


def test_citation_support_both_needed_together() -> None:
    """[1][2] that support only jointly: both needed, 2 relevant."""
    assert metrics.citation_support([1, 2], _oracle({frozenset({1, 2})})) == (True, 2)


def test_citation_support_each_alone_supports() -> None:
    """[1][2] where each alone supports: both count as relevant (condition A holds for each)."""
    assert metrics.citation_support([1, 2], _oracle({frozenset({1}), frozenset({2})})) == (True, 2)


def test_citation_support_unsupported_group_has_no_relevant_citation() -> None:
    """Citations that do not jointly support the statement are all irrelevant; no citation means no support."""
    assert metrics.citation_support([1, 2, 3], _oracle(set())) == (False, 0)
    assert metrics.citation_support([], _oracle({frozenset()})) == (False, 0)


def test_citation_recall_and_precision_aggregate() -> None:
    """Recall is hits/statements; precision sums relevant over cited; empty inputs are missing."""
    assert metrics.citation_recall([True, False, True, True]) == 0.75
    assert metrics.citation_precision([1, 2, 0], [2, 2, 1]) == 0.6
    assert metrics.citation_recall([]) is None
    assert metrics.citation_precision([0], [0]) is None


def test_hit_at_k_and_reciprocal_rank() -> None:
    """Expected source at rank 3: hit@3 = 1, hit@2 = 0, RR = 1/3; absent: RR = 0; no expected sources: None."""
    retrieved = ["a", "b", "c", "c"]
    assert metrics.hit_at_k(retrieved, ["c"], 3) == 1.0
    assert metrics.hit_at_k(retrieved, ["c"], 2) == 0.0
    assert metrics.reciprocal_rank(retrieved, ["c", "z"]) == pytest.approx(1 / 3)
    assert metrics.reciprocal_rank(retrieved, ["z"]) == 0.0
    assert metrics.hit_at_k(retrieved, [], 3) is None
    assert metrics.reciprocal_rank([], []) is None
    assert metrics.hit_at_k([], ["a"], 5) == 0.0


def test_abstention_precision_and_recall() -> None:
    """4 questions, 2 unanswerable: abstaining on one of them and one answerable gives 0.5 / 0.5."""
    answerable = [True, True, False, False]
    abstained = [True, False, True, False]
    assert metrics.abstention(answerable, abstained) == (0.5, 0.5)


def test_abstention_degenerate_cases() -> None:
    """Never abstaining: precision missing; no unanswerable questions: recall missing; nothing: both missing."""
    assert metrics.abstention([True, False], [False, False]) == (None, 0.0)
    assert metrics.abstention([True, True], [True, False]) == (0.0, None)
    assert metrics.abstention([], []) == (None, None)


def test_mean_and_percentile_skip_missing() -> None:
    """Means and percentiles ignore None and NaN and are None when nothing is left."""
    assert metrics.mean([1.0, None, 0.0, float("nan")]) == 0.5
    assert metrics.mean([None]) is None
    assert metrics.percentile([10.0, 20.0, 30.0, 40.0, None], 50) == 25.0
    assert metrics.percentile([10.0, 20.0, 30.0, 40.0], 95) == pytest.approx(38.5)
    assert metrics.percentile([7.0], 95) == 7.0
    assert metrics.percentile([], 50) is None


def test_balanced_accuracy() -> None:
    """Mean per-class recall: 2/2 on class a and 1/4 on class b give 0.625; a constant guess gives 0.5."""
    gold = ["a", "a", "b", "b", "b", "b"]
    assert metrics.balanced_accuracy(gold, ["a", "a", "b", "a", "a", "a"]) == 0.625
    assert metrics.balanced_accuracy(gold, ["a"] * 6) == 0.5
    assert metrics.balanced_accuracy([], []) is None


def test_ratio_guards_zero() -> None:
    """A zero denominator gives None."""
    assert metrics.ratio(3, 0) is None
    assert metrics.ratio(0, 4) == 0.0
