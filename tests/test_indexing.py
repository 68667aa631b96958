"""Incremental indexing: nothing re-embedded when nothing changed, only what changed otherwise."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from dataclasses import astuple
from pathlib import Path

import pytest

from assistant.errors import CorpusError
from assistant.indexing import load_manifest, manifest_path, sentence_id
from assistant.pipeline import Assistant
from assistant.retrieval import LexicalIndex, lexical_path
from assistant.settings import ChunkingSettings
from assistant.store import FileRecord
from tests.conftest import DATA


def _chunk_ids(assistant: Assistant) -> list[str]:
    return [chunk_id for chunk_id, _, _ in assistant.store.all_chunks()]


def test_first_ingest_indexes_every_file(seed_root: Path, make_assistant: Callable[..., Assistant]) -> None:
    """A fresh index gets every seed file, with chunk records matching the manifest."""
    assistant = make_assistant(seed_root)
    report = assistant.ingest(progress=False)
    assert sorted(report.added) == sorted(p.name for p in (seed_root / "corpus").iterdir())
    assert report.chunks == len(_chunk_ids(assistant)) == report.chunks_embedded
    assert len(set(_chunk_ids(assistant))) == report.chunks
    # Every sentence has a vector, nearly all of them pooled from their chunk's forward pass.
    assert assistant.store.sentence_count() > 5 * report.chunks
    assert report.sentences_embedded < assistant.store.sentence_count() / 10


def test_unchanged_corpus_embeds_nothing(seed_root: Path, make_assistant: Callable[..., Assistant]) -> None:
    """Re-ingesting an unchanged corpus, even from a new process-like Assistant, calls the embedder zero times."""
    make_assistant(seed_root).ingest(progress=False)
    again = make_assistant(seed_root)
    calls = again.embedder.texts_embedded
    report = again.ingest(progress=False)
    assert again.embedder.texts_embedded == calls
    assert (report.added, report.updated, report.removed, report.unchanged) == ([], [], [], 4)


def test_touched_but_identical_file_embeds_nothing(seed_root: Path, make_assistant: Callable[..., Assistant]) -> None:
    """A file whose mtime changed but whose bytes did not is not re-embedded."""
    assistant = make_assistant(seed_root)
    assistant.ingest(progress=False)
    path = seed_root / "corpus" / "fmri-brain-networks-ketamine.txt"
    os.utime(path, (1_000_000_000, 1_000_000_000))
    before = assistant.embedder.texts_embedded
    assert assistant.status().stale
    assistant.ingest(progress=False)
    assert assistant.embedder.texts_embedded == before
    assert not assistant.status().stale


def test_changed_file_re_embeds_only_its_chunks(seed_root: Path, make_assistant: Callable[..., Assistant]) -> None:
    """Editing one file re-embeds exactly that file's chunks and leaves no stale chunk behind."""
    assistant = make_assistant(seed_root)
    assistant.ingest(progress=False)
    path = seed_root / "corpus" / "fmri-brain-networks-ketamine.txt"
    path.write_text(
        "Short Replacement Title\n\nThe replaced article now says only that the zebrafish study used fMRI.\n"
    )
    before = assistant.embedder.texts_embedded
    report = assistant.ingest(progress=False)
    assert report.updated == ["fmri-brain-networks-ketamine.txt"]
    assert report.chunks_embedded == 1
    assert report.sentences_embedded == 0  # both sentences (title line and body) are read from the chunk's pass
    assert assistant.embedder.texts_embedded - before == 1
    stored = assistant.store.sentence_vectors([sentence_id(path.name, 0), sentence_id(path.name, 25)])
    assert len(stored) == 2
    texts = [text for _, text, meta in assistant.store.all_chunks() if meta["source"] == path.name]
    assert texts == [
        "Short Replacement Title\n\nThe replaced article now says only that the zebrafish study used fMRI."
    ]


def test_deleted_file_disappears(seed_root: Path, make_assistant: Callable[..., Assistant]) -> None:
    """Removing a file removes its chunks and manifest record."""
    assistant = make_assistant(seed_root)
    assistant.ingest(progress=False)
    (seed_root / "corpus" / "pet-imaging-ketamine-medical-xpress.txt").unlink()
    report = assistant.ingest(progress=False)
    assert report.removed == ["pet-imaging-ketamine-medical-xpress.txt"]
    assert not [i for i in _chunk_ids(assistant) if i.startswith("pet-imaging")]
    assert "pet-imaging-ketamine-medical-xpress.txt" not in assistant.indexer.records


def test_fingerprint_change_triggers_rebuild(seed_root: Path, make_assistant: Callable[..., Assistant]) -> None:
    """Changing the chunk size (part of the fingerprint) rebuilds the index instead of mixing chunkings."""
    make_assistant(seed_root).ingest(progress=False)
    smaller = make_assistant(seed_root, chunking=ChunkingSettings(max_tokens=60, overlap_tokens=10))
    assert smaller.status().stale
    report = smaller.ingest(progress=False)
    assert report.rebuilt
    assert all(meta["tokens"] <= 60 for _, _, meta in smaller.store.all_chunks())


def test_bad_file_is_skipped_and_reported(seed_root: Path, make_assistant: Callable[..., Assistant]) -> None:
    """A corrupt PDF is reported with its path; the other files are indexed, and it is not retried every call."""
    (seed_root / "corpus" / "broken.pdf").write_bytes(b"%PDF-1.7 garbage")
    assistant = make_assistant(seed_root)
    report = assistant.ingest(progress=False)
    assert [p.source for p in report.problems] == ["broken.pdf"]
    assert report.documents == 4
    assert not assistant.status().stale


def test_empty_corpus_is_a_clear_error(tmp_path: Path, make_assistant: Callable[..., Assistant]) -> None:
    """An empty corpus folder raises CorpusError naming the folder and what to add."""
    (tmp_path / "corpus").mkdir()
    with pytest.raises(CorpusError, match=r"no readable documents.*add \.md, \.txt, \.html or \.pdf"):
        make_assistant(tmp_path).ingest(progress=False)


class _CrashError(Exception):
    pass


def test_crash_mid_ingest_leaves_a_usable_index_and_resumes(
    seed_root: Path, make_assistant: Callable[..., Assistant]
) -> None:
    """An ingest that dies after two files still answers; the next ingest finishes without duplicates."""
    shutil.copy(DATA / "sample.md", seed_root / "corpus" / "notes.md")
    assistant = make_assistant(seed_root)
    assistant.indexer.batch_chunks = 1  # commit file by file
    real_put = assistant.store.put_files
    done: list[str] = []

    def dying_put(records: list[FileRecord]) -> None:
        if len(done) == 2:
            raise _CrashError
        real_put(records)
        done.extend(r.source for r in records)

    assistant.store.put_files = dying_put  # type: ignore[method-assign]
    with pytest.raises(_CrashError):
        assistant.ingest(progress=False)

    survivor = make_assistant(seed_root)
    passages = survivor.retriever.search("magnetization transfer", k=3) if survivor.indexer.records else []
    assert survivor.indexer.records.keys() == set(done)
    assert passages  # the half-built index answers from what it has

    before = survivor.embedder.texts_embedded
    report = survivor.ingest(progress=False)
    assert set(report.added) == {p.name for p in (seed_root / "corpus").iterdir()} - set(done)
    ids = _chunk_ids(survivor)
    assert len(ids) == len(set(ids)) == report.chunks
    embedded = survivor.embedder.texts_embedded - before
    assert embedded == report.chunks_embedded + report.sentences_embedded
    assert report.chunks_embedded < report.chunks
    shutil.copytree(seed_root / "corpus", seed_root / "fresh" / "corpus")
    assert make_assistant(seed_root / "fresh").ingest(progress=False).chunks == report.chunks
    _assert_saved_lexical_index_matches_the_store(survivor)


def test_sentence_vectors_are_stored_so_answers_embed_only_the_question(
    seed_root: Path, make_assistant: Callable[..., Assistant]
) -> None:
    """Ingest stores a vector per sentence; answering then embeds the question, not the passages."""
    make_assistant(seed_root).ingest(progress=False)
    assistant = make_assistant(seed_root)
    before = assistant.embedder.texts_embedded
    result = assistant.answer("How many healthy control subjects were in the magnetization transfer study?")
    assert "41" in result.text
    # The query, for retrieval and for scoring, and once more without the words that name its document
    # ("magnetization transfer"), for the sentence model's `dense_free`.
    assert assistant.embedder.texts_embedded - before <= 3


QUERIES = ["magnetization transfer ratio", "ketamine hippocampal volume", "zebrafish fMRI networks", "41 controls"]


def _assert_saved_lexical_index_matches_the_store(assistant: Assistant) -> None:
    """The saved lexical index and manifest of the current generation equal the store's own."""
    manifest = load_manifest(manifest_path(assistant.store.settings.path, assistant.store.generation()))
    assert manifest == assistant.store.file_records()
    saved = LexicalIndex.load(lexical_path(assistant.store.settings.path, assistant.store.generation()))
    assert saved is not None
    fresh = LexicalIndex(assistant.store.all_chunks())

    def content(index: LexicalIndex) -> dict[str, str]:
        return {c.chunk_id: json.dumps([*astuple(c)[1:]]) for c in index.chunks}

    assert content(saved) == content(fresh)
    assert list(saved.sources) == [c.source for c in saved.chunks]
    for query in QUERIES:
        ours = dict(saved.search(query, 50))
        assert ours.keys() == dict(fresh.search(query, 50)).keys()
        for chunk_id, score in fresh.search(query, 50):
            assert ours[chunk_id] == pytest.approx(score, rel=1e-5)


def test_lexical_index_is_saved_edited_and_loaded_not_rebuilt(
    seed_root: Path, make_assistant: Callable[..., Assistant]
) -> None:
    """Ingest saves the BM25 index and manifest; an update edits them; a new process loads them, reading no chunk."""
    shutil.copy(DATA / "sample.md", seed_root / "corpus" / "notes.md")
    first = make_assistant(seed_root)
    first.ingest(progress=False)
    _assert_saved_lexical_index_matches_the_store(first)
    (seed_root / "corpus" / "notes.md").unlink()
    path = seed_root / "corpus" / "fmri-brain-networks-ketamine.txt"
    path.write_text("Zebrafish Networks\n\nThe zebrafish study mapped fMRI networks in 41 larvae.\n")
    report = first.ingest(progress=False)
    assert report.removed == ["notes.md"] and report.updated == [path.name]
    _assert_saved_lexical_index_matches_the_store(first)
    assert len(list((seed_root / "index" / "lexical").glob("*.npz"))) == 1  # the previous generation's is gone

    reader = make_assistant(seed_root)

    def no_full_read() -> None:
        raise AssertionError("the lexical index was rebuilt from the store")

    def no_manifest_read() -> None:
        raise AssertionError("the manifest was read from the store, not from its snapshot")

    reader.store.all_chunks = no_full_read  # type: ignore[assignment,method-assign]
    reader.store.file_records = no_manifest_read  # type: ignore[assignment,method-assign]
    reader.ensure_index()
    assert reader.retriever.search("zebrafish larvae", k=1)[0].source == path.name
