"""The claims of an answer, with the citation numbers that cover them."""

from __future__ import annotations

from assistant.citing import Statement
from assistant.evaluation.statements import claims


def test_sentences_before_a_marker_share_its_citation() -> None:
    """An extractive quote "A. B. [1] C. [2]" gives A and B cited by 1, C cited by 2."""
    text = "Participants included 69 patients. They were well matched. [1] MTR was lower in TRD. [2]"
    assert claims(text) == [
        Statement("Participants included 69 patients.", (1,)),
        Statement("They were well matched.", (1,)),
        Statement("MTR was lower in TRD.", (2,)),
    ]


def test_marker_before_full_stop_and_grouped_markers() -> None:
    """Markers before the full stop, repeated "[1][2]" and "[1, 3]" groups are all read."""
    text = "Ketamine acts within hours [1][2]. The effect fades [1, 3]."
    assert claims(text) == [
        Statement("Ketamine acts within hours", (1, 2)),
        Statement("The effect fades", (1, 3)),
    ]


def test_uncited_trailing_sentence_has_no_citations() -> None:
    """A sentence after the last marker is a statement without citations."""
    assert claims("A fact here. [1] An uncited claim.")[-1] == Statement("An uncited claim.", ())


def test_lead_in_and_abstention_notes_are_not_statements() -> None:
    """ "No:" and "The corpus contradicts the premise:" lead-ins are dropped; abstention notes are skipped."""
    text = "The corpus contradicts the premise: MTRs were not associated with illness duration. [1]"
    assert claims(text) == [Statement("MTRs were not associated with illness duration.", (1,))]
    assert claims("No: It was lower. [2]") == [Statement("It was lower.", (2,))]
    abstained = "The corpus does not answer this question: none of the documents mention lithium."
    assert claims(abstained) == []


def test_empty_and_punctuation_only_answers() -> None:
    """Empty text, bare markers and punctuation give no statements."""
    assert claims("") == []
    assert claims("[1] . [2]") == []


def test_colon_with_numbers_is_content() -> None:
    """A colon after a number ("ratio: 3:1") is not taken as a lead-in."""
    assert claims("The ratio was 3:1 in 2017. [1]") == [Statement("The ratio was 3:1 in 2017.", (1,))]
