"""The Chroma store, embedded and as a real Chroma server on a loopback port."""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from assistant.embedding import Embedder
from assistant.errors import StoreError
from assistant.indexing import sentence_id
from assistant.pipeline import Assistant
from assistant.settings import Settings, StoreSettings
from assistant.store import HNSW_EF_SEARCH, ChromaStore, FileRecord
from tests.conftest import copy_seeds


def _store(tmp_path: Path) -> ChromaStore:
    store = ChromaStore(StoreSettings(path=tmp_path / "index"))
    store.open("fp-1")
    return store


def test_upsert_query_and_delete(tmp_path: Path, embedder: Embedder) -> None:
    """Chunks written with our vectors come back nearest-first, filter by source, and delete by index."""
    store = _store(tmp_path)
    texts = ["Ketamine acts within hours.", "The bakery opens at nine.", "MRI at 7T shows the amygdala."]
    vectors = embedder.encode(texts)
    metas = [
        {"source": s, "chunk": i, "start": 0, "end": len(t)} for i, (s, t) in enumerate(zip("aab", texts, strict=True))
    ]
    store.upsert_chunks([f"{m['source']}#{m['chunk']}" for m in metas], vectors, texts, metas)
    hits = store.query(embedder.embed_query("how fast does ketamine work"), 3)
    assert hits[0][0] == "a#0"
    assert hits[0][1] > hits[-1][1]
    assert [i for i, _ in store.query(vectors[0], 3, sources=["b"])] == ["b#2"]
    store.delete_chunks({"a": 1})
    assert sorted(i for i, _, _ in store.all_chunks()) == ["a#0", "b#2"]


def test_an_index_made_with_chromas_narrower_search_is_widened_when_opened(tmp_path: Path, embedder: Embedder) -> None:
    """A new index searches `HNSW_EF_SEARCH` wide; one made with Chroma's default (100) is widened and still answers."""
    assert _store(tmp_path / "new").chunks.configuration_json["hnsw"]["ef_search"] == HNSW_EF_SEARCH
    old = ChromaStore(StoreSettings(path=tmp_path / "index"))
    narrow = old.client.create_collection(
        name=old.name,
        embedding_function=None,
        configuration={"hnsw": {"space": "cosine"}},
        metadata={"fingerprint": "fp-1"},
    )
    assert narrow.configuration_json["hnsw"]["ef_search"] == 100
    texts = ["Ketamine acts within hours.", "The bakery opens at nine."]
    narrow.add(ids=["a#0", "b#0"], embeddings=embedder.encode(texts), documents=texts)
    store = _store(tmp_path)
    assert store.chunks.configuration_json["hnsw"]["ef_search"] == HNSW_EF_SEARCH
    assert store.query(embedder.embed_query("when does the bakery open"), 1)[0][0] == "b#0"
    assert (
        ChromaStore(StoreSettings(path=tmp_path / "index"))
        .client.get_collection(old.name)
        .configuration_json["hnsw"]["ef_search"]
        == HNSW_EF_SEARCH
    )


@pytest.mark.server
def test_a_servers_collection_made_with_chromas_narrower_search_is_widened(
    tmp_path: Path, chroma_server: int, embedder: Embedder
) -> None:
    """On a Chroma server, too, an index made with the default search (100 wide) gets `HNSW_EF_SEARCH` and answers."""
    settings = StoreSettings(mode="server", port=chroma_server, path=tmp_path / "locks")
    old = ChromaStore(settings)
    narrow = old.client.create_collection(
        name=old.name,
        embedding_function=None,
        configuration={"hnsw": {"space": "cosine"}},
        metadata={"fingerprint": "fp-1"},
    )
    texts = ["Ketamine acts within hours.", "The bakery opens at nine."]
    narrow.add(ids=["a#0", "b#0"], embeddings=embedder.encode(texts), documents=texts)
    store = ChromaStore(settings)
    store.open("fp-1")
    assert store.query(embedder.embed_query("when does the bakery open"), 1)[0][0] == "b#0"
    again = ChromaStore(settings).client.get_collection(old.name)
    assert again.configuration_json["hnsw"]["ef_search"] == HNSW_EF_SEARCH


def test_manifest_round_trip_and_fingerprint(tmp_path: Path) -> None:
    """File records persist across clients; the fingerprint is stored with the collections."""
    store = _store(tmp_path)
    record = FileRecord("a.txt", "abc", 10, 123, 2, "Title", "Pub", "2024")
    store.put_files([record])
    again = ChromaStore(StoreSettings(path=tmp_path / "index"))
    assert again.stored_fingerprint() == "fp-1"
    again.open("fp-1")
    assert again.file_records() == {"a.txt": record}
    again.drop()
    assert again.stored_fingerprint() is None


def test_sentence_table_round_trip_across_connections(tmp_path: Path, embedder: Embedder) -> None:
    """Sentence vectors come back exactly (float32), by id, to any connection; replace and delete work by source."""
    from assistant.store import SentenceTable

    table = SentenceTable(tmp_path / "s.sqlite3")
    vectors = embedder.encode(["Ketamine acts within hours.", "The bakery opens at nine.", "MRI at 7T."])
    table.replace(["a", "b"], [("a@0", "a", vectors[0]), ("a@30", "a", vectors[1]), ("b@0", "b", vectors[2])])
    other = SentenceTable(tmp_path / "s.sqlite3")  # another process's view of the same file
    found = other.get(["a@0", "b@0", "missing"])
    assert sorted(found) == ["a@0", "b@0"]
    assert found["a@0"] == [float(x) for x in np.asarray(vectors[0], dtype=np.float32)]
    table.replace(["a"], [("a@5", "a", vectors[1])])  # a document re-ingested: its old sentences go
    assert sorted(other.get(["a@0", "a@30", "a@5", "b@0"])) == ["a@5", "b@0"]
    other.delete_source("b")
    assert table.count() == 1
    table.clear()
    assert other.count() == 0


def test_embedded_index_keeps_sentence_vectors_out_of_chroma(tmp_path: Path, embedder: Embedder) -> None:
    """An embedded index stores sentence vectors in its SQLite table, not as a Chroma collection; deletes reach them."""
    corpus = copy_seeds(tmp_path)
    settings = Settings(corpus=corpus, store=StoreSettings(path=tmp_path / "index"))
    assistant = Assistant(settings, embedder=embedder)
    # An index from before the table had a sentence collection; a rebuild removes it.
    assistant.store.client.get_or_create_collection("corpus__sentences", embedding_function=None)
    assistant.ingest(rebuild=True, progress=False)
    names = {c if isinstance(c, str) else c.name for c in assistant.store.client.list_collections()}
    assert names == {"corpus", "corpus__files"}
    assert (tmp_path / "index" / "corpus__sentences.sqlite3").is_file()
    total = assistant.store.sentence_count()
    assert total > 5 * assistant.status().chunks
    victim = sorted(p.name for p in corpus.iterdir())[0]
    first = sentence_id(victim, 0)
    assert assistant.store.sentence_vectors([first])  # the document's first sentence starts at 0
    (corpus / victim).unlink()
    assistant.ingest(progress=False)
    assert 0 < assistant.store.sentence_count() < total
    assert assistant.store.sentence_vectors([first]) == {}


def test_damaged_sentence_table_is_a_one_line_error_and_a_rebuild_repairs_it(
    tmp_path: Path, embedder: Embedder
) -> None:
    """A sentence table that is not a database fails questions with one line naming the fix; --rebuild fixes it."""
    corpus = copy_seeds(tmp_path)
    settings = Settings(corpus=corpus, store=StoreSettings(path=tmp_path / "index"))
    first = Assistant(settings, embedder=embedder)
    first.ingest(progress=False)
    first.store.close()  # the file is damaged from outside any process that has it open
    table = tmp_path / "index" / "corpus__sentences.sqlite3"
    for extra in ("-wal", "-shm"):
        Path(f"{table}{extra}").unlink(missing_ok=True)
    table.write_bytes(b"\x00garbage" * 512)
    damaged = Assistant(settings, embedder=embedder)
    question = "How many healthy control subjects took part in the magnetization transfer study?"
    with pytest.raises(StoreError) as failure:
        damaged.answer(question)
    assert "\n" not in str(failure.value) and "--rebuild" in str(failure.value)
    damaged.ingest(rebuild=True, progress=False)
    answer = damaged.answer(question)
    assert "41" in answer.text and not answer.abstained
    assert damaged.store.sentence_count() > 0


def test_unreachable_server_is_a_one_line_error() -> None:
    """Server mode against a closed port fails with a StoreError, not a Chroma traceback."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    store = ChromaStore.__new__(ChromaStore)
    with pytest.raises(StoreError, match="Chroma failed"):
        ChromaStore.__init__(store, StoreSettings(mode="server", port=port))


@pytest.mark.server
def test_server_mode_answers_like_embedded(
    tmp_path: Path, chroma_server: int, embedder: Embedder, seed_assistant: Assistant
) -> None:
    """The whole pipeline over a real Chroma server gives the same answer as the embedded index."""
    copy_seeds(tmp_path)
    settings = Settings(
        corpus=tmp_path / "corpus",
        store=StoreSettings(mode="server", port=chroma_server, path=tmp_path / "locks"),
    )
    remote: Callable[[], Assistant] = lambda: Assistant(settings, embedder=embedder)  # noqa: E731
    first = remote()
    report = first.ingest(progress=False)
    assert report.documents == 4
    assert remote().ingest(progress=False).chunks_embedded == 0
    question = "How many healthy control subjects took part in the magnetization transfer study?"
    assert remote().answer(question).to_dict()["citations"] == seed_assistant.answer(question).to_dict()["citations"]
