"""Hybrid retrieval: BM25 finds exact terms, dense finds paraphrases, fusion keeps both."""

from __future__ import annotations

from assistant.pipeline import Assistant
from assistant.questions import parse
from assistant.retrieval import BM25, analyse, rrf


def test_numbers_and_subscripts_are_analysed_one_way() -> None:
    """ "1,000" and "1000", "PGE(2)" and "PGE2" are the same term, in documents and in questions."""
    assert analyse("1,000 people and 32,441 samples") == analyse("1000 people and 32441 samples")
    assert analyse("1,000, 2,000 and 3") == ["1000", "2000", "3"]
    assert analyse("figures 1,2 and version 1.2,345") == ["figur", "1", "2", "version", "1.2", "345"]
    assert analyse("PGE(2) production and H(2)O(2)") == analyse("PGE2 production and H2O2")
    assert analyse("step (2)") == ["step", "2"]
    question = parse("Do 1,000 people make PGE(2)?")
    assert {"1000", "pge2"} <= question.critical


def test_analyse_stems_and_drops_stop_words() -> None:
    """Terms are lower-cased, stemmed and free of stop words; numbers and 7T-style tokens survive."""
    assert analyse("The 7T scans of 41 healthy controls") == ["7t", "scan", "41", "healthi", "control"]


def test_bm25_prefers_rare_terms() -> None:
    """A rare query term outweighs a common one."""
    bm25 = BM25(["ketamine depression study", "ketamine depression MTR", "ketamine study", "depression study"])
    scores = bm25.scores("ketamine MTR")
    assert int(scores.argmax()) == 1
    assert bm25.contains("mtr") and not bm25.contains("psilocybin")


def test_rrf_rewards_agreement() -> None:
    """An item ranked well by both lists beats one ranked first by a single list."""
    fused = rrf([(1.0, [("a", 9), ("b", 8)]), (1.0, [("b", 5), ("c", 4)])], 60)
    assert [i for i, _ in fused] == ["b", "a", "c"]


def test_exact_terms_are_found(seed_assistant: Assistant) -> None:
    """Acronyms and numbers ("MTR", "7T", "41") retrieve the documents that contain them."""
    for query, source in [
        ("MTR", "magnetization-transfer-imaging-trd-radiology.txt"),
        ("7T", "hippocampal-volume-ketamine-isha-health.txt"),
        ("41", "magnetization-transfer-imaging-trd-radiology.txt"),
    ]:
        assert seed_assistant.retrieve(query, k=1)[0].source == source


def test_paraphrases_are_found(seed_assistant: Assistant) -> None:
    """A question sharing few words with the text still finds it through the dense retriever."""
    query = "How quickly does the medicine lift mood compared with usual antidepressants?"
    dense = seed_assistant.retriever.dense(query, 1)
    assert dense[0][0].startswith("fmri-brain-networks-ketamine.txt")
    assert seed_assistant.retrieve(query, k=1)[0].source == "fmri-brain-networks-ketamine.txt"


def test_source_filter_and_offsets(seed_assistant: Assistant) -> None:
    """A source filter restricts both retrievers; every passage carries exact offsets into its document."""
    from assistant.loading import load_file

    source = "pet-imaging-ketamine-medical-xpress.txt"
    passages = seed_assistant.retrieve("brain imaging", k=10, sources=[source])
    assert passages and {p.source for p in passages} == {source}
    document = load_file(seed_assistant.settings.corpus / source, seed_assistant.settings.corpus)
    for passage in passages:
        assert document.text[passage.start : passage.end] == passage.text
