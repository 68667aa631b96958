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


def test_accents_are_folded_in_documents_and_questions() -> None:
    """A name typed without its accents is the same term: "Temur" finds "Temür", "Celoron" "Céloron"."""
    assert analyse("Tugh Temür met Céloron at Beauséjour") == analyse("Tugh Temur met Celoron at Beausejour")
    assert analyse("Temür") == ["temur"]  # one word, not "tem" and "r"
    question = parse("When did Céloron reach the Ohio?")
    assert "celoron" in question.critical


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


def test_lexical_index_edits_saved_chunks_without_decoding_them(tmp_path) -> None:
    """Load, edit and save copy the chunks' bytes; the result equals an index built from scratch."""
    from dataclasses import astuple

    from assistant.retrieval import LexicalIndex

    def row(n: int, source: str, text: str) -> tuple[str, str, dict[str, object]]:
        return (f"{source}:{n}", text, {"source": source, "title": source.upper(), "start": 10 * n, "end": 10 * n + 9})

    texts = {
        "a.md": ["Zebrafish larvae swim in 41 tanks.", "The Blood-Brain Barrier (BBB) limits uptake."],
        "b.md": ["Ketamine acts within hours.", "PGE(2) rose by 1,000 units."],
        "c.md": ["Über-long names, “quoted” — and a tab\there."],
    }
    rows = [row(n, source, text) for source, items in texts.items() for n, text in enumerate(items)]
    LexicalIndex(rows).save(tmp_path / "first.npz")
    loaded = LexicalIndex.load(tmp_path / "first.npz")
    assert loaded is not None
    changed = [row(0, "b.md", "Ketamine acts within minutes, says the BBB study."), row(0, "d.md", "A new file.")]
    edited = loaded.updated({"b.md", "d.md"}, changed)
    edited.save(tmp_path / "second.npz")
    assert loaded._chunks is None and edited._chunks is None  # nothing was decoded
    again = LexicalIndex.load(tmp_path / "second.npz")
    expected = LexicalIndex([r for r in rows if r[2]["source"] != "b.md"] + changed)
    assert again is not None
    assert [astuple(c)[:-1] for c in again.chunks] == [astuple(c)[:-1] for c in expected.chunks]
    assert [list(map(list, d)) for d in (c.defines for c in again.chunks)] == [
        [[short, list(long)] for short, long in c.defines] for c in expected.chunks
    ]
    for query in ["ketamine minutes", "zebrafish", "pge2 1000", "über names", "new file"]:
        assert again.search(query, 5) == expected.search(query, 5)
    assert again.position == {c.chunk_id: i for i, c in enumerate(expected.chunks)}
    assert list(again.sources) == ["a.md", "a.md", "c.md", "b.md", "d.md"]
    (tmp_path / "broken.npz").write_bytes((tmp_path / "second.npz").read_bytes()[:200])
    assert LexicalIndex.load(tmp_path / "broken.npz") is None


def test_kept_rows_equal_a_mask_over_every_entry() -> None:
    """Copying the kept rows run by run gives what a boolean mask over every entry gives."""
    import numpy as np

    from assistant.retrieval import _kept_rows

    rng = np.random.default_rng(0)
    for _ in range(300):
        sizes = rng.integers(0, 5, rng.integers(0, 12))
        values = np.arange(sizes.sum())
        keep = rng.random(len(sizes)) < rng.random()
        assert np.array_equal(_kept_rows(values, sizes, keep), values[np.repeat(keep, sizes)])
