"""The offline judge: lexical coverage plus embedding similarity, and surface contradictions."""

from __future__ import annotations

import pytest

from assistant.embedding import Embedder
from assistant.evaluation.judges import OfflineJudge, contradiction, units
from assistant.evaluation.metrics import Verdict

PASSAGE = (
    "Participants included 69 patients with major depressive disorder and 41 healthy control subjects. "
    "Regional MTRs were not associated with symptom severity or illness duration. "
    "Relative to patients with non-TRD, those with TRD had significantly lower MTR."
)


@pytest.fixture(scope="module")
def judge(embedder: Embedder) -> OfflineJudge:
    """The offline judge over the real bundled embedder."""
    return OfflineJudge(embedder)


def test_verbatim_and_paraphrased_statements_are_supported(judge: OfflineJudge) -> None:
    """A quoted sentence and a close paraphrase of it are supported by the passage."""
    assert (
        judge.judge("Regional MTRs were not associated with symptom severity or illness duration.", [PASSAGE]).verdict
        is Verdict.SUPPORTED
    )
    paraphrase = "The participants were 69 patients with major depressive disorder and 41 healthy controls."
    assert judge.judge(paraphrase, [PASSAGE]).verdict is Verdict.SUPPORTED


def test_unrelated_statement_is_unsupported(judge: OfflineJudge) -> None:
    """A statement about something else is unsupported, and so is any statement without evidence."""
    assert judge.judge("Esketamine nasal spray was approved in 2019.", [PASSAGE]).verdict is Verdict.UNSUPPORTED
    assert judge.judge("Anything at all.", []).verdict is Verdict.UNSUPPORTED


def test_missing_number_is_unsupported(judge: OfflineJudge) -> None:
    """A number the evidence does not hold makes the statement unsupported or contradicted, never supported."""
    verdict = judge.judge("Participants included 75 patients with major depressive disorder.", [PASSAGE]).verdict
    assert verdict is not Verdict.SUPPORTED


def test_surface_contradictions(judge: OfflineJudge) -> None:
    """Negation flipped, direction flipped and a replaced number are contradictions of the closest sentence."""
    assert (
        judge.judge("Regional MTRs were associated with symptom severity and illness duration.", [PASSAGE]).verdict
        is Verdict.CONTRADICTED
    )
    assert contradiction("those with TRD had significantly higher MTR", "those with TRD had significantly lower MTR")
    assert contradiction("69 patients with major depressive disorder", "70 patients with major depressive disorder")
    assert contradiction("ketamine works within hours", "the weather was pleasant today") == ""


def test_units_are_the_sentences_of_a_passage() -> None:
    """A statement is compared with each sentence of its evidence."""
    assert units("One. Two. Three.") == ["One.", "Two.", "Three."]
    assert units("") == []


def test_describe_names_parameters(judge: OfflineJudge) -> None:
    """The judge's description carries its name and fitted parameters for the report."""
    described = judge.describe()
    assert described["name"] == "offline"
    assert {"weight", "threshold", "embedder"} <= set(described)
