"""Ranking metrics as pure functions, computed the way BEIR (pytrec_eval) does for binary qrels.

- nDCG@k: DCG = sum over the top k of rel_i / log2(i + 1) (rank i from 1); the ideal DCG puts every
  relevant document of the qrels first, whether or not the system retrieved it.
- recall@k: relevant documents in the top k / all relevant documents of the query.
A document repeated in a ranking counts once, at its first (best) position.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping, Sequence


def _check(relevant: Collection[str]) -> None:
    if not relevant:
        raise ValueError("a query without relevant documents has no nDCG or recall; leave it out of the qrels")


def first_occurrences(ids: Iterable[str]) -> list[str]:
    """`ids` without repeats, each kept at its first position."""
    return list(dict.fromkeys(ids))


def to_documents(chunk_ids: Iterable[str], sep: str = "#") -> list[str]:
    """Chunk ids `source#index` -> document ranking: a document ranks as its best chunk."""
    return first_occurrences(c.rsplit(sep, 1)[0] for c in chunk_ids)


def ndcg_at_k(ranking: Sequence[str], relevant: Collection[str], k: int = 10) -> float:
    """Binary nDCG@k of one ranked list of document ids against the set of relevant ids."""
    _check(relevant)
    top = first_occurrences(ranking)[:k]
    dcg = sum(1.0 / math.log2(rank + 1) for rank, doc in enumerate(top, start=1) if doc in relevant)
    ideal = sum(1.0 / math.log2(rank + 1) for rank in range(1, min(len(relevant), k) + 1))
    return dcg / ideal


def recall_at_k(ranking: Sequence[str], relevant: Collection[str], k: int = 100) -> float:
    """Share of the relevant documents found in the top k of `ranking`."""
    _check(relevant)
    return len(set(first_occurrences(ranking)[:k]) & set(relevant)) / len(set(relevant))


def mean_scores(
    rankings: Mapping[str, Sequence[str]],
    qrels: Mapping[str, Collection[str]],
    *,
    ndcg_k: int = 10,
    recall_k: int = 100,
) -> dict[str, float]:
    """Mean nDCG@ndcg_k and recall@recall_k over every query of `qrels` (a missing ranking scores 0)."""
    if not qrels:
        raise ValueError("no queries to evaluate")
    ndcg = [ndcg_at_k(rankings.get(q, []), rel, ndcg_k) for q, rel in qrels.items()]
    recall = [recall_at_k(rankings.get(q, []), rel, recall_k) for q, rel in qrels.items()]
    return {f"ndcg@{ndcg_k}": sum(ndcg) / len(ndcg), f"recall@{recall_k}": sum(recall) / len(recall)}
