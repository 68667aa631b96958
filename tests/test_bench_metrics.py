"""The IR metrics behind `evals/bench_retrieval.py`, checked on small hand-computed cases."""

import math
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "evals"))

from metrics_ir import mean_scores, ndcg_at_k, recall_at_k, to_documents


def test_ndcg_perfect_ranking_is_one():
    """Every relevant document ranked first gives nDCG 1."""
    assert ndcg_at_k(["a", "b", "x"], {"a", "b"}) == pytest.approx(1.0)


def test_ndcg_hand_computed_log2_discount():
    """Relevant docs at ranks 2 and 4: (1/log2 3 + 1/log2 5) / (1 + 1/log2 3)."""
    expected = (1 / math.log2(3) + 1 / math.log2(5)) / (1 + 1 / math.log2(3))
    assert ndcg_at_k(["x", "a", "y", "b"], {"a", "b"}) == pytest.approx(expected)
    assert expected == pytest.approx(0.650921, abs=1e-6)


def test_ndcg_ideal_comes_from_qrels_not_from_the_ranking():
    """Finding 1 of 3 relevant docs at rank 1 scores 1 / (1 + 1/log2 3 + 1/log2 4), not 1."""
    assert ndcg_at_k(["a", "x"], {"a", "b", "c"}) == pytest.approx(1 / (1 + 1 / math.log2(3) + 0.5))


def test_ndcg_ignores_documents_below_k():
    """A relevant document at rank 11 adds nothing to nDCG@10."""
    ranking = [f"x{i}" for i in range(10)] + ["a"]
    assert ndcg_at_k(ranking, {"a"}, k=10) == 0.0
    assert ndcg_at_k(ranking, {"a"}, k=11) == pytest.approx(1 / math.log2(12))


def test_ndcg_counts_a_repeated_document_once():
    """A document listed twice counts once, at its first rank, and the repeat does not take a slot."""
    assert ndcg_at_k(["a", "a"], {"a"}) == pytest.approx(1.0)
    assert ndcg_at_k(["x", "x", "b"], {"b"}, k=2) == pytest.approx(1 / math.log2(3))


def test_recall_counts_only_the_top_k():
    """Two of four relevant docs in the top 3 give recall 0.5; one just below k is not counted."""
    assert recall_at_k(["a", "x", "c", "b"], {"a", "b", "c", "d"}, k=3) == pytest.approx(0.5)


def test_metrics_refuse_a_query_without_relevant_documents():
    """An empty qrels set is an error, not a silent 0 or a division by zero."""
    with pytest.raises(ValueError, match="without relevant"):
        ndcg_at_k(["a"], set())
    with pytest.raises(ValueError, match="without relevant"):
        recall_at_k(["a"], set())


def test_chunks_map_to_documents_by_best_chunk():
    """Chunk ids `doc#i` collapse to documents in first-occurrence order."""
    assert to_documents(["d1#0", "d2#1", "d1#1", "d3#0", "d2#0"]) == ["d1", "d2", "d3"]


def test_mean_scores_averages_queries_and_scores_missing_rankings_zero():
    """The mean runs over all qrels queries; a query with no ranking contributes 0."""
    scores = mean_scores({"q1": ["a"]}, {"q1": {"a"}, "q2": {"b"}}, ndcg_k=10, recall_k=100)
    assert scores == {"ndcg@10": pytest.approx(0.5), "recall@100": pytest.approx(0.5)}
