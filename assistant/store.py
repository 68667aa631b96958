"""Chroma, embedded (`PersistentClient`) or a server (`HttpClient`), behind one small interface.

The index holds:
- `<name>`: one record per chunk (id `source#index`), with our own embeddings (Chroma's default
  embedding function would download a model), the chunk text and its metadata (source, offsets,
  title, content hash of its document, ...). Cosine space.
- sentence vectors: one per sentence of each document (id `source@start`), computed at ingest so
  that answering never has to embed the sentences it weighs. They are only ever read by id, never
  searched, so an embedded index keeps them in SQLite beside Chroma's files
  (`<path>/<name>__sentences.sqlite3`, `SentenceTable`): as a Chroma collection they carried a
  vector index nobody searched, which a process loaded on its first question or update (0.35-0.45 s
  at 5,183 abstracts) and which made writing them 30 times slower. A Chroma server keeps them in
  the collection `<name>__sentences`, so that every client of the server sees them.
- `<name>__files`: one record per indexed file (id = source): hash, size, mtime, chunk count and
  document metadata. This manifest is what ingest compares the corpus against. Its records carry
  a constant one-dimensional vector because Chroma stores nothing without one.

The index fingerprint (see `settings.fingerprint`) lives in the metadata of the collections.
This is the only module that talks to chromadb (and to the sentence table); their exceptions
become `StoreError` here.

Several processes share one index (a UI, an `assistant ingest` in another terminal, a script):
every ingest that writes bumps a generation token, a reserved record in the manifest collection
(`GENERATION_ID`), and each process compares it with the one it loaded before every question
(`generation()`, one small read). On a change, an embedded store reconnects (`reconnect()`):
Chroma's embedded client keeps a collection's vector index in memory once loaded and does not
see vectors another process adds afterwards; a Chroma server has one vector index for everyone.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from assistant.errors import StoreError

if TYPE_CHECKING:
    from chromadb.api import ClientAPI
    from chromadb.api.models.Collection import Collection

    from assistant.settings import StoreSettings

_PAGE = 5000  # records per get/upsert call, below Chroma's maximum batch size
GENERATION_ID = "/generation"  # the manifest's reserved record: a corpus-relative path never starts with "/"
# Breadth of Chroma's HNSW search (its default is 100). At 100 a 40-deep dense list missed one of the
# true 40 nearest chunks for 64 of 300 SciFact claims over 13,171 chunks, and which one it missed
# changed from one build of the same corpus to the next (the graph is built on several threads), so
# two builds answered some questions differently. At 800 all 300 lists were exact, for 0.6 ms more
# a query (1.5 ms p50; `evals/bench_scale.py --keep` index, 2026-12-01).
HNSW_EF_SEARCH = 800


@dataclass(frozen=True)
class FileRecord:
    """What the index knows about one corpus file."""

    source: str
    sha256: str
    size: int
    mtime_ns: int
    chunks: int
    title: str
    publisher: str = ""
    date: str = ""


@contextlib.contextmanager
def _chroma_errors(action: str) -> Iterator[None]:
    """Turn chromadb / network exceptions into one-line `StoreError`s."""
    try:
        yield
    except StoreError:
        raise
    except Exception as exc:
        raise StoreError(f"Chroma failed to {action}: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}") from exc


@contextlib.contextmanager
def _sqlite_errors(action: str, path: Path) -> Iterator[None]:
    """Turn SQLite exceptions into one-line `StoreError`s."""
    try:
        yield
    except sqlite3.Error as exc:
        # A damaged file (not an I/O failure such as a full disk) is repaired by a rebuild.
        damaged = isinstance(exc, sqlite3.DatabaseError) and not isinstance(exc, sqlite3.OperationalError)
        hint = " (`assistant ingest --rebuild` rebuilds it)" if damaged else ""
        raise StoreError(f"failed to {action} in {path}: {type(exc).__name__}: {exc}{hint}") from exc


def _is_missing(exc: Exception) -> bool:
    """Whether a Chroma error says the collection does not exist (its wording differs by version and client)."""
    return "not exist" in str(exc) or "not found" in str(exc).lower()


def make_client(settings: StoreSettings) -> ClientAPI:
    """An embedded or HTTP Chroma client with telemetry off."""
    # Chroma logs a telemetry line per event even when disabled; keep the CLI quiet.
    logging.getLogger("chromadb.telemetry.product.posthog").setLevel(logging.CRITICAL)
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False, allow_reset=False)
    with _chroma_errors("open the index"):
        if settings.mode == "server":
            return chromadb.HttpClient(host=settings.host, port=settings.port, settings=chroma_settings)
        settings.path.mkdir(parents=True, exist_ok=True)
        # Two processes creating a new index at once race in Chroma's schema set-up ("table ...
        # already exists"): opening takes turns across processes.
        with (settings.path / ".open.lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            # Absolute: chromadb caches one client per path string, so a relative path would follow
            # the first working directory it was opened from.
            return chromadb.PersistentClient(path=str(settings.path.resolve()), settings=chroma_settings)


class SentenceTable:
    """Sentence vectors by id in one SQLite file (an embedded index's; see the module docstring).

    Vectors are float32 blobs, the precision Chroma stored them in, so answers do not change. The
    file is in write-ahead-log mode, so processes that read it (a UI) do not block an ingest that
    writes it; writes happen under the ingest lock like every other write to the index. One
    connection per object, shared by threads under a lock.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._connection: sqlite3.Connection | None = None

    def _db(self) -> sqlite3.Connection:
        if self._connection is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            connection = sqlite3.connect(self.path, timeout=60, check_same_thread=False, isolation_level=None)
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute(
                "CREATE TABLE IF NOT EXISTS sentences (id TEXT PRIMARY KEY, source TEXT NOT NULL, vector BLOB NOT NULL)"
            )
            connection.execute("CREATE INDEX IF NOT EXISTS sentences_by_source ON sentences (source)")
            self._connection = connection
        return self._connection

    def replace(self, sources: Sequence[str], rows: Sequence[tuple[str, str, Sequence[float]]]) -> None:
        """Delete every vector of `sources`, then store `rows` (id, source, vector), in one transaction."""
        with self._lock:
            db = self._db()
            db.execute("BEGIN IMMEDIATE")
            try:
                db.executemany("DELETE FROM sentences WHERE source = ?", [(source,) for source in sources])
                db.executemany(
                    "INSERT OR REPLACE INTO sentences VALUES (?, ?, ?)",
                    [(i, source, np.asarray(v, dtype=np.float32).tobytes()) for i, source, v in rows],
                )
                db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:  # a failed COMMIT (disk full) may have rolled back already
                    with contextlib.suppress(sqlite3.Error):
                        db.execute("ROLLBACK")
                raise

    def get(self, ids: Sequence[str]) -> dict[str, list[float]]:
        """The stored vectors of `ids` (missing ids are absent)."""
        found: dict[str, list[float]] = {}
        with self._lock:
            db = self._db()
            for lo in range(0, len(ids), 500):
                page = list(ids[lo : lo + 500])
                marks = ",".join("?" * len(page))
                query = f"SELECT id, vector FROM sentences WHERE id IN ({marks})"  # noqa: S608 - only "?" marks
                for sentence, blob in db.execute(query, page):
                    found[sentence] = np.frombuffer(blob, dtype=np.float32).tolist()
        return found

    def delete_source(self, source: str) -> None:
        """Forget every vector of one document."""
        with self._lock:
            self._db().execute("DELETE FROM sentences WHERE source = ?", (source,))

    def count(self) -> int:
        """How many vectors are stored."""
        with self._lock:
            return int(self._db().execute("SELECT COUNT(*) FROM sentences").fetchone()[0])

    def clear(self) -> None:
        """Forget every vector (the index is being rebuilt); a damaged file is replaced by a new one."""
        with self._lock:
            try:
                self._db().execute("DELETE FROM sentences")
            except sqlite3.DatabaseError:
                if self._connection is not None:
                    self._connection.close()
                    self._connection = None
                for suffix in ("", "-wal", "-shm"):
                    Path(f"{self.path}{suffix}").unlink(missing_ok=True)
                self._db()

    def close(self) -> None:
        """Close the connection (it reopens on the next use)."""
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None


class ChromaStore:
    """The chunk and manifest collections of one index, and its sentence vectors."""

    def __init__(self, settings: StoreSettings, client: ClientAPI | None = None) -> None:
        self.settings = settings
        self.client = client or make_client(settings)
        self.name = settings.collection
        self._chunks: Collection | None = None
        self._files: Collection | None = None
        self._sentences: Collection | None = None  # server mode
        self._table: SentenceTable | None = None  # embedded mode
        if settings.mode != "server":
            self._table = SentenceTable(settings.path / f"{self.name}__sentences.sqlite3")

    def describe(self) -> str:
        """Where the index lives, for messages."""
        if self.settings.mode == "server":
            return f"Chroma server {self.settings.host}:{self.settings.port}/{self.name}"
        return f"{self.settings.path}/{self.name}"

    # --- collections ---------------------------------------------------------------------------

    def _collection(self, name: str, fingerprint: str) -> Collection:
        with _chroma_errors("open a collection"):
            return self.client.get_or_create_collection(
                name=name,
                embedding_function=None,
                configuration={"hnsw": {"space": "cosine", "ef_search": HNSW_EF_SEARCH}},
                metadata={"fingerprint": fingerprint},
            )

    def _widen_search(self, collection: Collection) -> bool:
        """Give an index made with a narrower HNSW search `HNSW_EF_SEARCH`; True when it must be loaded again.

        Chroma keeps a collection's search setting from its creation, and stores a changed one; an
        embedded client applies it only when it loads the vector index anew, hence the reload here. A
        server is only told (a test checks that it keeps the setting, not when its loaded index uses it).
        """
        hnsw = (collection.configuration_json or {}).get("hnsw") or {}
        if int(hnsw.get("ef_search") or HNSW_EF_SEARCH) >= HNSW_EF_SEARCH:
            return False
        with _chroma_errors("widen the index's search"):
            collection.modify(configuration={"hnsw": {"ef_search": HNSW_EF_SEARCH}})
        return self.settings.mode != "server"

    def open(self, fingerprint: str) -> None:
        """Open (creating if needed) both collections for an index with this fingerprint."""
        self._chunks = self._collection(self.name, fingerprint)
        if self._widen_search(self._chunks):
            self.reconnect()
            self._chunks = self._collection(self.name, fingerprint)
        self._files = self._collection(f"{self.name}__files", fingerprint)
        if self._table is None:
            self._sentences = self._collection(f"{self.name}__sentences", fingerprint)

    def exists(self) -> bool:
        """Whether the chunk collection exists already."""
        with _chroma_errors("list collections"):
            names = {c if isinstance(c, str) else c.name for c in self.client.list_collections()}
        return self.name in names

    def stored_fingerprint(self) -> str | None:
        """The fingerprint of the existing index, or None when there is none."""
        if not self.exists():
            return None
        with _chroma_errors("read the index fingerprint"):
            collection = self.client.get_collection(self.name)
        metadata = collection.metadata or {}
        value = metadata.get("fingerprint")
        return str(value) if value is not None else None

    def generation(self) -> str:
        """A token that changes whenever any process writes to the index ("" when there is no index).

        It includes the manifest collection's id, so a rebuild (new collections) changes it too.
        """
        with _chroma_errors("read the index generation"):
            try:
                files = self.client.get_collection(f"{self.name}__files")
            except Exception as exc:
                if _is_missing(exc):
                    return ""
                raise
            found = files.get(ids=[GENERATION_ID], include=["metadatas"])
        metadatas = found["metadatas"] or []
        token = str(metadatas[0].get("token", "")) if metadatas and metadatas[0] else ""
        return f"{files.id}:{token}"

    def bump_generation(self) -> str:
        """Mark the index as changed (by this process, now); returns the new `generation()`."""
        token = f"{time.time_ns()}.{os.getpid()}"
        with _chroma_errors("write the index generation"):
            metadata = cast(Any, [{"token": token}])
            self.files.upsert(ids=[GENERATION_ID], embeddings=cast(Any, [[1.0]]), metadatas=metadata)
        return f"{self.files.id}:{token}"

    def reconnect(self) -> None:
        """See what other processes wrote: a new embedded client (a server needs none); reopen the collections.

        Chroma caches one embedded client per path for the whole process; the cached one is
        dropped from that cache (not stopped: collections other objects hold keep working) so
        that the new client loads the vector index from disk again.
        """
        self._chunks = self._files = self._sentences = None
        if self.settings.mode == "server":
            return
        from chromadb.api.shared_system_client import SharedSystemClient

        identifier = getattr(self.client, "_identifier", None)
        if identifier is not None:
            SharedSystemClient._identifier_to_system.pop(identifier, None)
            SharedSystemClient._identifier_to_refcount.pop(identifier, None)
        self.client = make_client(self.settings)

    def drop(self) -> None:
        """Delete the collections and the sentence vectors (for a rebuild)."""
        if self._table is not None:
            with _sqlite_errors("clear sentence vectors", self._table.path):
                self._table.clear()
        # `__sentences` too in embedded mode: indexes built before `SentenceTable` have that collection.
        for name in (self.name, f"{self.name}__files", f"{self.name}__sentences"):
            with _chroma_errors("delete a collection"), contextlib.suppress(ValueError, KeyError):
                try:
                    self.client.delete_collection(name)
                except Exception as exc:
                    if not _is_missing(exc):
                        raise
        self._chunks = self._files = self._sentences = None

    @property
    def is_open(self) -> bool:
        """Whether `open` has been called (and no `drop` since)."""
        return self._chunks is not None

    @property
    def chunks(self) -> Collection:
        """The chunk collection (after `open`)."""
        if self._chunks is None:
            raise StoreError("the index is not open: run `assistant ingest`")
        return self._chunks

    @property
    def sentences(self) -> Collection:
        """The sentence-vector collection of a server index (after `open`)."""
        if self._sentences is None:
            raise StoreError("the index is not open: run `assistant ingest`")
        return self._sentences

    @property
    def files(self) -> Collection:
        """The manifest collection (after `open`)."""
        if self._files is None:
            raise StoreError("the index is not open: run `assistant ingest`")
        return self._files

    # --- chunks --------------------------------------------------------------------------------

    def upsert_chunks(
        self,
        ids: Sequence[str],
        vectors: Sequence[Sequence[float]],
        texts: Sequence[str],
        metadatas: Sequence[dict[str, Any]],
    ) -> None:
        """Insert or replace chunk records."""
        with _chroma_errors("write chunks"):
            for lo in range(0, len(ids), _PAGE):
                hi = lo + _PAGE
                self.chunks.upsert(
                    ids=list(ids[lo:hi]),
                    embeddings=cast(Any, [list(v) for v in vectors[lo:hi]]),
                    documents=list(texts[lo:hi]),
                    metadatas=cast(Any, list(metadatas[lo:hi])),
                )

    def delete_chunks(self, keep: Mapping[str, int]) -> None:
        """Delete the chunks of each source in `keep` whose index is `keep[source]` or more."""
        if not keep:
            return
        with _chroma_errors("delete chunks"):
            where: Any = {"source": {"$in": list(keep)}}
            found = self.chunks.get(where=where, include=["metadatas"])
            stale = [
                chunk_id
                for chunk_id, meta in zip(found["ids"], found["metadatas"] or [], strict=True)
                if int(meta["chunk"]) >= keep[str(meta["source"])]  # type: ignore[arg-type]
            ]
            if stale:
                self.chunks.delete(ids=stale)

    def all_chunks(self) -> Iterator[tuple[str, str, dict[str, Any]]]:
        """Every chunk as (id, text, metadata), page by page."""
        with _chroma_errors("read chunks"):
            offset = 0
            while True:
                page = self.chunks.get(include=["documents", "metadatas"], limit=_PAGE, offset=offset)
                ids = page["ids"]
                for chunk_id, text, meta in zip(ids, page["documents"] or [], page["metadatas"] or [], strict=True):
                    yield chunk_id, text, dict(meta)
                if len(ids) < _PAGE:
                    return
                offset += _PAGE

    def chunk_count(self) -> int:
        """How many chunks the index holds."""
        with _chroma_errors("count chunks"):
            return int(self.chunks.count())

    def query(self, vector: Sequence[float], k: int, sources: Sequence[str] | None = None) -> list[tuple[str, float]]:
        """The k nearest chunks as (id, cosine similarity), optionally only from `sources`."""
        where: dict[str, Any] | None = None
        if sources:
            where = {"source": {"$in": list(sources)}}
        with _chroma_errors("search the index"):
            n = min(k, self.chunk_count())
            if n == 0:
                return []
            result = self.chunks.query(
                query_embeddings=cast(Any, [list(vector)]), n_results=n, where=where, include=["distances"]
            )
        ids = result["ids"][0]
        distances = (result["distances"] or [[]])[0]
        return [(i, 1.0 - float(d)) for i, d in zip(ids, distances, strict=True)]

    # --- manifest ------------------------------------------------------------------------------

    def file_records(self) -> dict[str, FileRecord]:
        """The manifest: source -> FileRecord."""
        records: dict[str, FileRecord] = {}
        with _chroma_errors("read the manifest"):
            offset = 0
            while True:
                page = self.files.get(include=["metadatas"], limit=_PAGE, offset=offset)
                for record_id, meta in zip(page["ids"], page["metadatas"] or [], strict=True):
                    if record_id == GENERATION_ID:
                        continue
                    record = FileRecord(
                        source=str(meta["source"]),
                        sha256=str(meta["sha256"]),
                        size=int(meta["size"]),  # type: ignore[arg-type]
                        mtime_ns=int(meta["mtime_ns"]),  # type: ignore[arg-type]
                        chunks=int(meta["chunks"]),  # type: ignore[arg-type]
                        title=str(meta.get("title", "")),
                        publisher=str(meta.get("publisher", "")),
                        date=str(meta.get("date", "")),
                    )
                    records[record.source] = record
                if len(page["ids"]) < _PAGE:
                    return records
                offset += _PAGE

    def put_files(self, records: Sequence[FileRecord]) -> None:
        """Record that each `record.source` is fully indexed (one write for all of them)."""
        metas = [
            {
                "source": r.source,
                "sha256": r.sha256,
                "size": r.size,
                "mtime_ns": r.mtime_ns,
                "chunks": r.chunks,
                "title": r.title,
                "publisher": r.publisher,
                "date": r.date,
            }
            for r in records
        ]
        with _chroma_errors("write the manifest"):
            for lo in range(0, len(metas), _PAGE):
                page = metas[lo : lo + _PAGE]
                self.files.upsert(
                    ids=[str(m["source"]) for m in page],
                    embeddings=cast(Any, [[1.0]] * len(page)),
                    metadatas=cast(Any, page),
                )

    def delete_file(self, source: str) -> None:
        """Forget a file: its manifest record, its chunks and its sentence vectors."""
        with _chroma_errors("delete a file"):
            self.chunks.delete(where={"source": source})
            if self._table is None:
                self.sentences.delete(where={"source": source})
        if self._table is not None:
            with _sqlite_errors("delete sentence vectors", self._table.path):
                self._table.delete_source(source)
        with _chroma_errors("delete a file"):
            self.files.delete(ids=[source])

    # --- sentence vectors ----------------------------------------------------------------------

    def replace_sentences(
        self,
        sources: Sequence[str],
        ids: Sequence[str],
        vectors: Sequence[Sequence[float]],
        metadatas: Sequence[dict[str, Any]],
    ) -> None:
        """Store the sentence vectors of these documents, replacing their previous ones."""
        if self._table is not None:
            rows = [(i, str(m["source"]), v) for i, v, m in zip(ids, vectors, metadatas, strict=True)]
            with _sqlite_errors("write sentence vectors", self._table.path):
                self._table.replace(sources, rows)
            return
        with _chroma_errors("write sentence vectors"):
            where: Any = {"source": {"$in": list(sources)}}
            self.sentences.delete(where=where)
            for lo in range(0, len(ids), _PAGE):
                hi = lo + _PAGE
                self.sentences.upsert(
                    ids=list(ids[lo:hi]),
                    embeddings=cast(Any, [list(v) for v in vectors[lo:hi]]),
                    metadatas=cast(Any, list(metadatas[lo:hi])),
                )

    def sentence_vectors(self, ids: Sequence[str]) -> dict[str, list[float]]:
        """Stored vectors of these sentence ids (missing ids are simply absent)."""
        if not ids or not self.is_open:
            return {}
        if self._table is not None:
            with _sqlite_errors("read sentence vectors", self._table.path):
                return self._table.get(ids)
        with _chroma_errors("read sentence vectors"):
            found = self.sentences.get(ids=list(ids), include=["embeddings"])
        embeddings = found["embeddings"] if found["embeddings"] is not None else []
        return {i: [float(x) for x in v] for i, v in zip(found["ids"], embeddings, strict=True)}

    def close(self) -> None:
        """Release the sentence table's file (it reopens on the next use); Chroma's client stays shared."""
        if self._table is not None:
            self._table.close()

    def sentence_count(self) -> int:
        """How many sentence vectors the index holds (after `open`)."""
        if self._table is not None:
            with _sqlite_errors("count sentence vectors", self._table.path):
                return self._table.count()
        with _chroma_errors("count sentence vectors"):
            return int(self.sentences.count())
