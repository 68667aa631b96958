"""Score one answer to one golden question, and sum results up into the run's metrics.

Per question: correctness and cited sources from `golden.score`; faithfulness, citation recall and
precision from a judge over the answer's statements; retrieval hit@k and reciprocal rank of the
expected sources among the retrieved passages; latency.

Faithfulness judges each statement against everything the answer cites (the evidence the answer
put forward), so a statement whose marker points at the wrong quote is still faithful when another
quote of the answer supports it; citation recall and precision judge it against its own
citations only (ALCE). Both judge cited spans, not whole retrieved passages.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from assistant.evaluation import metrics
from assistant.evaluation.golden import GoldenItem, score
from assistant.evaluation.judges import Judge, Judgement
from assistant.evaluation.metrics import Verdict
from assistant.evaluation.statements import claims
from assistant.records import Answer

PASS, FAIL, ERROR, SOURCE_MISSING = "pass", "fail", "error", "source_missing"


@dataclass
class QuestionResult:
    """How one golden question went; every metric is None when it does not apply."""

    golden: str  # the golden file's stem: results are keyed by (golden, id)
    id: str
    kind: str
    question: str
    answerable: bool
    status: str = FAIL
    answer: str = ""
    abstained: bool = False
    reason: str = ""
    error: str = ""
    missing_sources: list[str] = field(default_factory=list)
    cited_sources: list[str] = field(default_factory=list)
    retrieved_sources: list[str] = field(default_factory=list)
    correct: bool | None = None
    facts_found: bool | None = None
    cites_expected: bool | None = None
    premise_corrected: bool | None = None
    non_verbatim_citations: list[str] = field(default_factory=list)
    statements: int = 0
    faithfulness: float | None = None
    unsupported: list[str] = field(default_factory=list)
    contradicted: list[str] = field(default_factory=list)
    citation_recall: float | None = None
    citation_precision: float | None = None
    hit: float | None = None
    reciprocal_rank: float | None = None
    latency_ms: float | None = None

    @property
    def key(self) -> str:
        """The question's identity across runs."""
        return f"{self.golden}/{self.id}"


def judge_statements(answer: Answer, judge: Judge) -> dict[str, Any]:
    """Faithfulness and citation quality of one answer (see the module docstring)."""
    statements = [] if answer.abstained else claims(answer.text)
    cited = {c.number: c.text for c in answer.citations}
    memo: dict[tuple[str, tuple[str, ...]], Judgement] = {}

    def verdict(statement: str, passages: Sequence[str]) -> Judgement:
        key = (statement, tuple(passages))
        if key not in memo:
            memo[key] = judge.judge(statement, list(passages))
        return memo[key]

    verdicts: list[Verdict] = []
    supported: list[bool] = []
    relevant: list[int] = []
    counts: list[int] = []
    unsupported: list[str] = []
    contradicted: list[str] = []
    for statement in statements:
        overall = verdict(statement.text, list(cited.values()))
        verdicts.append(overall.verdict)
        if overall.verdict is Verdict.CONTRADICTED:
            contradicted.append(f"{statement.text} ({overall.reason})")
        elif overall.verdict is Verdict.UNSUPPORTED:
            unsupported.append(statement.text)

        def supports(numbers: Sequence[int], text: str = statement.text) -> bool:
            passages = [cited[n] for n in numbers if n in cited]
            return bool(passages) and verdict(text, passages).verdict is Verdict.SUPPORTED

        hit, needed = metrics.citation_support(statement.citations, supports)
        supported.append(hit)
        relevant.append(needed)
        counts.append(len(statement.citations))
    return {
        "statements": len(statements),
        "faithfulness": metrics.faithfulness(verdicts),
        "unsupported": unsupported,
        "contradicted": contradicted,
        "citation_recall": metrics.citation_recall(supported),
        "citation_precision": metrics.citation_precision(relevant, counts),
    }


def score_answer(
    item: GoldenItem,
    answer: Answer,
    result: QuestionResult,
    *,
    judge: Judge,
    documents: dict[str, str],
    k: int,
) -> QuestionResult:
    """Fill `result` with the scores of `answer` (its status must already say whether sources are missing)."""
    graded = score(item, answer, documents)
    result.answer = answer.text
    result.abstained = answer.abstained
    result.reason = answer.reason
    result.cited_sources = sorted({c.source for c in answer.citations})
    result.retrieved_sources = [p.source for p in answer.passages]
    result.non_verbatim_citations = graded.bad_citations
    for name, value in judge_statements(answer, judge).items():
        setattr(result, name, value)
    if result.status == SOURCE_MISSING:
        return result  # correctness and retrieval would blame the assistant for a deleted document
    result.correct = graded.correct
    if item.answerable:
        result.facts_found = graded.facts_found
        result.cites_expected = graded.cites_expected
        result.hit = metrics.hit_at_k(result.retrieved_sources, item.expected_sources, k)
        result.reciprocal_rank = metrics.reciprocal_rank(result.retrieved_sources, item.expected_sources)
    if item.kind == "false_premise":
        result.premise_corrected = graded.correct
    result.status = PASS if graded.correct else FAIL
    return result


def _share(values: Sequence[bool | None]) -> float | None:
    return metrics.mean(float(v) for v in values if v is not None)


def summarise(results: Sequence[QuestionResult]) -> dict[str, float | int | None]:
    """The run's metrics: means over the questions each applies to; None where none does.

    Questions that errored or whose expected sources are gone count in `errors` and
    `source_missing`, not in correctness, retrieval or abstention.
    """
    graded = [r for r in results if r.status in {PASS, FAIL}]
    answered = [r for r in results if r.status != ERROR]
    answerable = [r for r in graded if r.answerable]
    precision, recall = metrics.abstention([r.answerable for r in graded], [r.abstained for r in graded])
    return {
        "questions": len(results),
        "passed": sum(r.status == PASS for r in results),
        "failed": sum(r.status == FAIL for r in results),
        "errors": sum(r.status == ERROR for r in results),
        "source_missing": sum(r.status == SOURCE_MISSING for r in results),
        "correctness": _share([r.correct for r in answerable]),
        "key_facts": _share([r.facts_found for r in answerable]),
        "faithfulness": metrics.mean(r.faithfulness for r in answered),
        "citation_recall": metrics.mean(r.citation_recall for r in answered),
        "citation_precision": metrics.mean(r.citation_precision for r in answered),
        "hit_at_k": metrics.mean(r.hit for r in graded),
        "mrr": metrics.mean(r.reciprocal_rank for r in graded),
        "abstention_precision": precision,
        "abstention_recall": recall,
        "false_premise_corrected": _share([r.premise_corrected for r in graded]),
        "non_verbatim_citations": sum(len(r.non_verbatim_citations) for r in answered),
        "latency_p50_ms": metrics.percentile((r.latency_ms for r in answered), 50),
        "latency_p95_ms": metrics.percentile((r.latency_ms for r in answered), 95),
    }
