"""Scoring one answer (faithfulness, citations, retrieval, correctness) and summing results up."""

from __future__ import annotations

from collections.abc import Sequence

from assistant.evaluation.golden import GoldenItem
from assistant.evaluation.judges import Judgement
from assistant.evaluation.metrics import Verdict
from assistant.evaluation.scoring import (
    ERROR,
    FAIL,
    PASS,
    SOURCE_MISSING,
    QuestionResult,
    judge_statements,
    score_answer,
    summarise,
)
from assistant.records import Answer, Citation, Passage


class QuoteJudge:
    """Hand-checkable judge: supported exactly when the statement is quoted in the joined passages."""

    name = "quote"

    def judge(self, statement: str, passages: Sequence[str]) -> Judgement:
        found = statement in " ".join(passages)
        return Judgement(Verdict.SUPPORTED if found else Verdict.UNSUPPORTED, float(found))

    def describe(self) -> dict[str, object]:
        return {"name": self.name}


DOC = "Alpha is one. Beta is two. Gamma is three."


def _answer(text: str, spans: list[tuple[int, str]], abstained: bool = False) -> Answer:
    citations = [Citation(n, "a.txt", "A", t, DOC.index(t), DOC.index(t) + len(t)) for n, t in spans]
    answer = Answer("q", text, abstained, citations)
    answer.passages = [Passage(f"{s}#0", s, "T", DOC, 0, len(DOC), 1.0) for s in ("b.txt", "a.txt")]
    return answer


def test_statement_scores_hand_computed() -> None:
    """Two statements; the second cites the wrong quote plus the right one: faithfulness 1, recall 1, precision 2/3."""
    answer = _answer(
        "Alpha is one. [1] Beta is two. [2][3]", [(1, "Alpha is one."), (2, "Gamma is three."), (3, "Beta is two.")]
    )
    scores = judge_statements(answer, QuoteJudge())
    assert scores["statements"] == 2
    assert scores["faithfulness"] == 1.0
    assert scores["citation_recall"] == 1.0
    assert scores["citation_precision"] == 2 / 3
    assert scores["unsupported"] == []


def test_unsupported_statement_is_listed() -> None:
    """A statement no citation holds is unsupported: faithfulness 1/2, recall 1/2, its citation irrelevant."""
    answer = _answer("Alpha is one. [1] Delta is four. [2]", [(1, "Alpha is one."), (2, "Beta is two.")])
    scores = judge_statements(answer, QuoteJudge())
    assert scores["faithfulness"] == 0.5
    assert scores["citation_recall"] == 0.5
    assert scores["citation_precision"] == 0.5
    assert scores["unsupported"] == ["Delta is four."]


def test_abstention_has_no_statement_scores() -> None:
    """An abstention has no statements, so faithfulness and citation scores are missing, not 0."""
    scores = judge_statements(_answer("The corpus does not answer this question: nothing.", [], True), QuoteJudge())
    assert scores["statements"] == 0
    assert scores["faithfulness"] is None
    assert scores["citation_recall"] is None
    assert scores["citation_precision"] is None


def _item(answerable: bool = True, kind: str = "fact") -> GoldenItem:
    facts = [["two"]] if answerable else []
    return GoldenItem("i", kind, "q", [], answerable, ["a.txt"] if answerable else [], facts)


def test_score_answer_retrieval_and_status() -> None:
    """A correct answer passes; the expected source at rank 2 gives hit 1 and RR 0.5."""
    answer = _answer("Beta is two. [1]", [(1, "Beta is two.")])
    result = score_answer(
        _item(), answer, QuestionResult("g", "i", "fact", "q", True), judge=QuoteJudge(), documents={"a.txt": DOC}, k=2
    )
    assert result.status == PASS
    assert (result.hit, result.reciprocal_rank) == (1.0, 0.5)
    assert result.cited_sources == ["a.txt"]
    assert result.non_verbatim_citations == []


def test_source_missing_is_not_graded() -> None:
    """With its expected source gone a question keeps status source_missing and no correctness or retrieval."""
    answer = _answer("Alpha is one. [1]", [(1, "Alpha is one.")])
    row = QuestionResult("g", "i", "fact", "q", True, status=SOURCE_MISSING, missing_sources=["a.txt"])
    result = score_answer(_item(), answer, row, judge=QuoteJudge(), documents={"a.txt": DOC}, k=6)
    assert result.status == SOURCE_MISSING
    assert result.correct is None
    assert result.hit is None
    assert result.faithfulness == 1.0


def test_false_premise_correction_is_recorded() -> None:
    """A false-premise question answered with its correction counts as corrected."""
    answer = _answer("Beta is two. [1]", [(1, "Beta is two.")])
    result = score_answer(
        _item(kind="false_premise"),
        answer,
        QuestionResult("g", "i", "false_premise", "q", True),
        judge=QuoteJudge(),
        documents={"a.txt": DOC},
        k=6,
    )
    assert result.premise_corrected is True


def test_summarise_excludes_errors_and_missing_sources() -> None:
    """Errors and source_missing rows are counted but left out of correctness, retrieval and abstention."""
    rows = [
        QuestionResult(
            "g",
            "a",
            "fact",
            "q",
            True,
            status=PASS,
            correct=True,
            hit=1.0,
            reciprocal_rank=1.0,
            faithfulness=1.0,
            latency_ms=10.0,
        ),
        QuestionResult(
            "g",
            "b",
            "fact",
            "q",
            True,
            status=FAIL,
            correct=False,
            hit=0.0,
            reciprocal_rank=0.0,
            faithfulness=0.5,
            latency_ms=30.0,
        ),
        QuestionResult(
            "g", "c", "unanswerable", "q", False, status=PASS, abstained=True, correct=True, latency_ms=20.0
        ),
        QuestionResult("g", "d", "fact", "q", True, status=ERROR, error="boom"),
        QuestionResult(
            "g", "e", "fact", "q", True, status=SOURCE_MISSING, abstained=True, faithfulness=None, latency_ms=40.0
        ),
    ]
    summary = summarise(rows)
    assert summary["correctness"] == 0.5
    assert summary["hit_at_k"] == 0.5
    assert summary["faithfulness"] == 0.75
    assert (summary["abstention_precision"], summary["abstention_recall"]) == (1.0, 1.0)
    assert (summary["errors"], summary["source_missing"], summary["passed"], summary["failed"]) == (1, 1, 2, 1)
    assert summary["latency_p50_ms"] == 25.0
    assert summary["false_premise_corrected"] is None


def test_summarise_nothing() -> None:
    """No results: counts are 0 and every rate is missing."""
    summary = summarise([])
    assert summary["questions"] == 0
    assert all(summary[name] is None for name in ("correctness", "faithfulness", "mrr", "abstention_recall"))
