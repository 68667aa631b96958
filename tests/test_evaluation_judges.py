"""The offline judge (lexical coverage plus embedding similarity, surface contradictions) and the scorer judge."""

from __future__ import annotations

import pytest

from assistant.embedding import Embedder
from assistant.evaluation.judges import (
    JUDGE_FEATURES,
    JudgeModel,
    OfflineJudge,
    ScorerJudge,
    contradiction,
    quoted,
    scorer_digest,
    units,
)
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


# Other passages the scorer judge's corpus statistics come from (a judge over a real index uses the index's).
OTHERS = [
    "Ketamine is an anaesthetic that acts on NMDA receptors. It has been used in surgery since the 1970s.",
    "Functional MRI measures blood oxygenation. Resting-state networks are read from slow fluctuations.",
    "Esketamine nasal spray is given in a clinic under observation for two hours after each dose.",
    "Positron emission tomography traces a radioactive label. It shows where glucose is taken up in the brain.",
]


@pytest.fixture(scope="module")
def scorer_judge(embedder: Embedder) -> ScorerJudge:
    """The scorer judge with the shipped model, its statistics read from the passages above."""
    judge = ScorerJudge.shipped(embedder)
    judge.warm([PASSAGE, *OTHERS])
    return judge


def test_scorer_judge_supports_paraphrases_and_not_unrelated_statements(scorer_judge: ScorerJudge) -> None:
    """A quote and a paraphrase are supported; a statement on another subject is not, and ranks lower."""
    quote = "Regional MTRs were not associated with symptom severity or illness duration."
    verdict = scorer_judge.judge(quote, [PASSAGE])
    assert verdict.verdict is Verdict.SUPPORTED and verdict.reason == "quoted word for word"
    restated = "Those with TRD had a significantly lower MTR than patients with non-TRD."
    paraphrase = scorer_judge.judge(restated, [PASSAGE])
    unrelated = scorer_judge.judge("Esketamine nasal spray was approved in 2019.", [PASSAGE])
    assert paraphrase.verdict is Verdict.SUPPORTED
    assert unrelated.verdict is not Verdict.SUPPORTED
    assert paraphrase.score > unrelated.score
    assert scorer_judge.judge("Anything at all.", []).verdict is Verdict.UNSUPPORTED
    # A short quote counts only as a whole sentence of the evidence ("Radiology 2017 August" as a cited line).
    assert quoted("Radiology 2017 August", ["Radiology 2017 August"])
    assert quoted("were not associated", [PASSAGE]) is False


def test_scorer_judge_reads_each_passage_as_a_document_of_its_own(scorer_judge: ScorerJudge) -> None:
    """Evidence outside the statistics' corpus gets features; the same evidence twice gives the same score."""
    found = scorer_judge.features("TRD patients had lower MTR.", [PASSAGE, OTHERS[0]])
    assert found is not None
    values, closest = found
    assert set(values) == set(JUDGE_FEATURES)
    assert "lower MTR" in closest
    again = scorer_judge.judge("TRD patients had lower MTR.", [PASSAGE, OTHERS[0]])
    assert again.score == pytest.approx(scorer_judge.judge("TRD patients had lower MTR.", [PASSAGE, OTHERS[0]]).score)


def test_shipped_scorer_judge_matches_the_shipped_answerer_scorer() -> None:
    """assistant/data/judge.json was fitted with today's scorer.json and names what it was fitted on."""
    model = JudgeModel.load()
    assert model.scorer == scorer_digest()
    assert model.model.names == JUDGE_FEATURES
    assert 0.0 < model.threshold < 1.0
    assert "dev half" in model.provenance["data"]
    broken = model.to_dict()
    broken["model"]["names"] = list(JUDGE_FEATURES[:-1])
    with pytest.raises(ValueError, match="features differ"):
        JudgeModel.from_dict(broken)
