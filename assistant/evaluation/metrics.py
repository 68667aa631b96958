"""Eval metrics as pure functions: no I/O, no models, hand-checkable.

Every metric returns `None` when it has no data to be computed from (no statements, no citations,
no expected sources, no unanswerable questions): a missing number is reported as missing, never as
0 or NaN, so an empty slice cannot pass or fail a threshold by accident.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from enum import StrEnum


class Verdict(StrEnum):
    """A judge's verdict on one statement against its evidence."""

    SUPPORTED = "supported"
    UNSUPPORTED = "unsupported"
    CONTRADICTED = "contradicted"


def ratio(numerator: float, denominator: float) -> float | None:
    """The quotient, or None when there is nothing to divide by."""
    return numerator / denominator if denominator else None


def faithfulness(verdicts: Sequence[Verdict]) -> float | None:
    """Supported statements / statements (RAGAS); None for an answer with no statements."""
    return ratio(sum(v is Verdict.SUPPORTED for v in verdicts), len(verdicts))


def citation_support(citations: Sequence[int], supports: Callable[[Sequence[int]], bool]) -> tuple[bool, int]:
    """ALCE citation recall and precision counts for one statement.

    `supports(numbers)` says whether the cited passages with those numbers, together, support the
    statement. Returns (supported, relevant): `supported` is the statement's recall (its citations
    jointly support it; a statement without citations is not supported); `relevant` counts the
    citations that are needed. As in ALCE (Gao et al., 2023), when the citations do not jointly
    support the statement none of them is relevant; when they do, a citation is irrelevant only
    if it alone does not support the statement and the others without it still do.
    """
    if not citations or not supports(citations):
        return False, 0
    if len(citations) == 1:
        return True, 1
    relevant = 0
    for number in citations:
        rest = [n for n in citations if n != number]
        if supports([number]) or not supports(rest):
            relevant += 1
    return True, relevant


def citation_recall(supported: Sequence[bool]) -> float | None:
    """Statements whose citations support them / statements."""
    return ratio(sum(supported), len(supported))


def citation_precision(relevant: Sequence[int], cited: Sequence[int]) -> float | None:
    """Relevant citations / citations, summed over statements; None when nothing is cited."""
    return ratio(sum(relevant), sum(cited))


def hit_at_k(retrieved: Sequence[str], expected: Iterable[str], k: int) -> float | None:
    """1.0 when an expected source is among the first k retrieved, else 0.0; None with no expected sources."""
    wanted = set(expected)
    if not wanted:
        return None
    return 1.0 if wanted.intersection(retrieved[:k]) else 0.0


def reciprocal_rank(retrieved: Sequence[str], expected: Iterable[str]) -> float | None:
    """1 / rank of the first retrieved expected source (0.0 if none comes back); None with no expected sources."""
    wanted = set(expected)
    if not wanted:
        return None
    for rank, source in enumerate(retrieved, start=1):
        if source in wanted:
            return 1.0 / rank
    return 0.0


def abstention(answerable: Sequence[bool], abstained: Sequence[bool]) -> tuple[float | None, float | None]:
    """(precision, recall) of abstaining, where the positive class is "unanswerable".

    Precision: of the questions the assistant abstained on, the share that were unanswerable
    (None if it never abstained). Recall: of the unanswerable questions, the share it abstained on
    (None if there were none).
    """
    pairs = list(zip(answerable, abstained, strict=True))
    hits = sum(1 for a, x in pairs if x and not a)
    return ratio(hits, sum(1 for _, x in pairs if x)), ratio(hits, sum(1 for a, _ in pairs if not a))


def mean(values: Iterable[float | None]) -> float | None:
    """Mean of the values that are present; None when none are."""
    present = [v for v in values if v is not None and not math.isnan(v)]
    return sum(present) / len(present) if present else None


def percentile(values: Iterable[float | None], q: float) -> float | None:
    """The q-th percentile (0-100, linear interpolation) of the present values; None when none are."""
    present = sorted(v for v in values if v is not None and not math.isnan(v))
    if not present:
        return None
    position = (len(present) - 1) * q / 100
    lo = math.floor(position)
    hi = min(lo + 1, len(present) - 1)
    return present[lo] + (present[hi] - present[lo]) * (position - lo)


def balanced_accuracy(gold: Sequence[str], predicted: Sequence[str]) -> float | None:
    """Mean per-class recall over the classes present in `gold`; None for no items."""
    classes = sorted(set(gold))
    if not classes:
        return None
    recalls = []
    for label in classes:
        rows = [p for g, p in zip(gold, predicted, strict=True) if g == label]
        recalls.append(sum(p == label for p in rows) / len(rows))
    return sum(recalls) / len(recalls)
