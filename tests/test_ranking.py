"""Sentence ranking: the helpers that decide which words a candidate sentence matches and answers for."""

from __future__ import annotations

from assistant.ranking import _without_terms, matches, metadata_terms
from assistant.retrieval import analyse


def test_metadata_lines_answer_for_who_and_when_and_sentences_do_not() -> None:
    """A byline answers for its label's kind, a venue line for the journal; a sentence with a year for nothing."""
    assert "author" in metadata_terms("Authors: Jane Doe, John Roe")
    assert "date" in metadata_terms("Date: March 3, 2021")
    assert "journal" in metadata_terms("Radiology 2017 August")
    assert metadata_terms("Reviewed by Dr. Jane Doe") == set()
    assert metadata_terms("The 2019 study found lower hippocampal volumes.") == set()
    assert "author" in metadata_terms("By Jane Doe and John Roe")
    # Prose that opens with a label word is no byline: it does not answer "who wrote".
    assert metadata_terms("By contrast, the repair factors were less efficient in older cells.") == set()
    assert metadata_terms("By 1700, a fifth of the city spoke French.") == set()


def test_stems_sharing_a_long_prefix_match() -> None:
    """ "hippocampus" matches "hippocamp(al)", "amygdala" matches "amygdalar"; short shared prefixes do not."""
    assert matches("hippocampus", {"hippocamp"}) and matches("amygdala", {"amygdalar"})
    assert not matches("correl", {"correct"})


def test_words_that_name_the_document_are_left_out_of_dense_free() -> None:
    """The question without its document-naming words; all of it when nothing else would be left."""
    named = set(analyse("Magnetization Transfer Imaging"))
    assert _without_terms("Who approved the magnetization transfer imaging study?", named) == "Who approved the study?"
    assert _without_terms("Magnetization transfer imaging?", named) == "Magnetization transfer imaging?"
    assert _without_terms("Who approved it?", set()) == "Who approved it?"
