"""Incremental index build: add, update and delete files by content hash.

For each corpus file the manifest (see `store.py`) records its hash, size and mtime. An ingest:
1. rebuilds everything when the stored fingerprint differs from the current settings' one;
2. skips files whose size and mtime match the manifest (or whose bytes hash the same);
3. for a new or changed file: chunks it, embeds the chunks, upserts them under stable ids
   (`source#index`), deletes chunks left over from a longer previous version, and only then
   writes the file's manifest record. Each sentence's vector comes from the same forward pass as
   its chunk (`Embedder.encode_spans`); only a sentence no chunk holds whole is embedded again.
   Files stream through: read, chunk, embed and write in batches of about `batch_chunks` chunks,
   so memory does not grow with the corpus;
4. deletes chunks and manifest records of files that are gone.

Killed half-way, the index still answers (old and new chunks are both complete records) and the
next ingest redoes only the files whose manifest record is missing or stale; upserts under the
same ids leave no duplicates. Only one ingest runs at a time (a lock file next to the index): a
second one, from any process on this machine, waits for the first and then finds nothing to do.

An ingest that writes bumps the index generation before its first write and again after its last
(`store.ChromaStore.generation`), so other processes reload what they hold at their next question.
It then saves the lexical (BM25) index of the new generation (`save_lexical`), edited from the
previous generation's rather than rebuilt, which is what a starting process loads. Killed before
that, there is no saved lexical index for the current generation: readers build it from the
store, and the next ingest (or the first reader that finds no ingest running) saves it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import operator
import os
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assistant.chunking import (
    CHUNKER_VERSION,
    Chunker,
    sentence_spans,
)
from assistant.cleaning import CLEANING_VERSION
from assistant.embedding import Embedder
from assistant.errors import CorpusError, LoadError
from assistant.loading import Problem, corpus_entries, load_file
from assistant.records import Chunk, Document
from assistant.retrieval import LexicalIndex, lexical_path
from assistant.settings import Settings, fingerprint
from assistant.store import ChromaStore, FileRecord


@dataclass
class CorpusStatus:
    """How the corpus folder differs from the index."""

    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: int = 0
    fingerprint_mismatch: bool = False

    @property
    def stale(self) -> bool:
        """True when an ingest would change the index."""
        return bool(self.added or self.changed or self.removed or self.fingerprint_mismatch)


@dataclass
class IngestReport:
    """What one ingest did."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: int = 0
    problems: list[Problem] = field(default_factory=list)
    chunks_embedded: int = 0
    sentences_embedded: int = 0  # sentences no chunk held whole, embedded on their own
    rebuilt: str = ""  # why the index was rebuilt, when it was
    seconds: float = 0.0
    documents: int = 0
    chunks: int = 0

    def summary(self) -> str:
        """One line for the terminal."""
        parts = [
            f"{self.documents} documents, {self.chunks} chunks",
            f"added {len(self.added)}, updated {len(self.updated)}, removed {len(self.removed)}, "
            f"unchanged {self.unchanged}",
            f"embedded {self.chunks_embedded} chunks and {self.sentences_embedded} sentences on their own "
            f"in {self.seconds:.1f}s",
        ]
        if self.rebuilt:
            parts.insert(0, f"rebuilt ({self.rebuilt})")
        if self.problems:
            parts.append(f"skipped {len(self.problems)} file(s)")
        return "; ".join(parts)


# How sentence vectors are made and kept (part of the index fingerprint): pooled from the chunk's
# forward pass; 2: an embedded index keeps them in SQLite (`store.SentenceTable`), so an index that
# has them in a Chroma collection is rebuilt.
SENTENCE_VECTORS = "pooled-in-chunk-2"


def sentence_id(source: str, start: int) -> str:
    """Id of a stored sentence vector: the document and the sentence's start offset."""
    return f"{source}@{start}"


def embedding_input(title: str, chunk: Chunk | str) -> str:
    """What gets embedded for a chunk: its text, preceded by the document title for context."""
    text = chunk if isinstance(chunk, str) else chunk.text
    if title and not text.startswith(title):
        return f"{title}\n{text}"
    return text


def chunk_metadata(document: Document, chunk: Chunk, total: int) -> dict[str, Any]:
    """The metadata stored with each chunk record."""
    return {
        "source": document.source,
        "chunk": chunk.index,
        "chunks": total,
        "start": chunk.start,
        "end": chunk.end,
        "tokens": chunk.tokens,
        "title": document.title,
        "publisher": document.publisher,
        "date": document.date,
        "sha256": document.sha256,
    }


@contextlib.contextmanager
def ingest_lock(folder: Path, *, wait: bool = True) -> Iterator[bool]:
    """Hold an exclusive lock so two ingests never interleave; yields False when `wait` is off and it is taken."""
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / ".ingest.lock").open("w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if not wait:
                yield False
                return
            # Another ingest is running: wait for it rather than fail; it leaves the index current.
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def save_lexical(store: ChromaStore, index: LexicalIndex | None = None, *, generation: str = "") -> LexicalIndex:
    """Save the lexical index of the store's current generation (built from the store when not given).

    Only while holding the ingest lock: then no ingest is half-way, so the store's content is
    exactly that generation's (`generation`, read from the store when not given). Snapshots of
    other generations are deleted.
    """
    generation = generation or store.generation()
    index = index if index is not None else LexicalIndex(store.all_chunks())
    path = lexical_path(store.settings.path, generation)
    index.save(path)
    key = path.name.split(".")[0]
    for old in path.parent.iterdir():
        if old.name.split(".")[0] != key:  # another generation's snapshot, or a crashed writer's partial file
            old.unlink(missing_ok=True)
    return index


def manifest_path(folder: Path, generation: str) -> Path:
    """Where the manifest snapshot of one index generation is saved (beside its lexical index)."""
    return lexical_path(folder, generation).with_suffix(".files.json")


def save_manifest(path: Path, records: dict[str, FileRecord]) -> None:
    """Write a manifest snapshot (atomically). Only under the ingest lock, like `save_lexical`."""
    partial = path.with_name(f"{path.name}.{os.getpid()}.partial")
    # Field by field, not `dataclasses.astuple`, which deep-copies each value (0.2 s at 5,000 files).
    fields = operator.attrgetter(*(f.name for f in dataclasses.fields(FileRecord)))
    partial.write_text(json.dumps([fields(r) for r in records.values()]))
    partial.replace(path)


def load_manifest(path: Path) -> dict[str, FileRecord] | None:
    """The manifest snapshot at `path`, or None when there is none (or it is unreadable)."""
    try:
        rows = json.loads(path.read_text())
        return {row[0]: FileRecord(*row) for row in rows}
    except (OSError, ValueError, TypeError, IndexError):
        return None


_Batch = list[tuple[Document, list[Chunk], os.stat_result]]  # documents, their chunks and file stats


class Indexer:
    """Builds and updates the index of one corpus folder."""

    def __init__(self, settings: Settings, embedder: Embedder, store: ChromaStore, *, batch_chunks: int = 256) -> None:
        self.settings = settings
        self.batch_chunks = batch_chunks  # chunks embedded per model call; files commit after each batch
        self.embedder = embedder
        self.store = store
        self.chunker = Chunker(
            settings.chunking.max_tokens, settings.chunking.overlap_tokens, settings.chunking.encoding
        )
        self.fingerprint = fingerprint(
            settings,
            embedder=f"{embedder.fingerprint()}:{SENTENCE_VECTORS}",
            cleaning=CLEANING_VERSION,
            chunker=CHUNKER_VERSION,
        )
        self._records: dict[str, FileRecord] | None = None
        self.generation = ""  # the index generation this indexer's last write set ("" before any)
        self._writing = False
        self._lexical_rows: list[tuple[str, str, dict[str, Any]]] = []  # chunks this ingest wrote

    def forget(self) -> None:
        """Drop the manifest read so far (another process changed the index); it is read again on use."""
        self._records = None

    def _changing(self) -> None:
        """Before an ingest's first write: bump the index generation, so readers know a change is under way."""
        if not self._writing:
            self.generation = self.store.bump_generation()
            self._writing = True

    @property
    def records(self) -> dict[str, FileRecord]:
        """The manifest, read once and kept current by this indexer's own ingests."""
        if self._records is None:
            if self.store.stored_fingerprint() is None:
                self._records = {}
            else:
                self.store.open(self.fingerprint)
                self._records = self._read_manifest()
        return self._records

    def _read_manifest(self) -> dict[str, FileRecord]:
        """The store's manifest: from the current generation's snapshot when there is one.

        Reading 5,000 records from the store takes 0.4 s; the snapshot, 0.02 s. An ingest saves it
        after its last write, so a generation whose ingest did not finish has none.
        """
        snapshot = load_manifest(manifest_path(self.settings.store.path, self.store.generation()))
        return snapshot if snapshot is not None else self.store.file_records()

    def _scan(self) -> dict[str, tuple[str, os.stat_result]]:
        root = self.settings.corpus
        return {source: (path, stat) for source, path, stat in corpus_entries(root)}

    def status(self) -> CorpusStatus:
        """Compare the corpus folder with the index without reading unchanged files."""
        status = CorpusStatus()
        stored = self.store.stored_fingerprint()
        if stored is not None and stored != self.fingerprint:
            status.fingerprint_mismatch = True
        files = self._scan()
        records = {} if stored is None else self.records
        for source, (_, stat) in files.items():
            record = records.get(source)
            if record is None:
                status.added.append(source)
                continue
            if stat.st_size == record.size and stat.st_mtime_ns == record.mtime_ns:
                status.unchanged += 1
            else:
                status.changed.append(source)
        status.removed = sorted(set(records) - set(files))
        return status

    def ingest(self, *, rebuild: bool = False, progress: bool | None = None) -> IngestReport:
        """Bring the index in line with the corpus folder; see the module docstring."""
        started = time.perf_counter()
        report = IngestReport()
        files = self._scan()
        with ingest_lock(self.settings.store.path):
            self._writing = False
            stored = self.store.stored_fingerprint()
            if rebuild or (stored is not None and stored != self.fingerprint):
                report.rebuilt = "requested" if rebuild else "index settings or model changed"
                self.store.drop()
                self._records = {}
            # The lexical index before this ingest, edited as it goes (None: not saved, rebuilt at the end).
            lexical = (
                LexicalIndex([])
                if report.rebuilt or stored is None
                else LexicalIndex.load(lexical_path(self.settings.store.path, self.store.generation()))
            )
            self._lexical_rows = []
            self.store.open(self.fingerprint)
            if report.rebuilt or stored is None:
                self._changing()
            self._records = {} if report.rebuilt or stored is None else self._read_manifest()
            records = self._records
            for source in sorted(set(records) - set(files)):
                self._changing()
                self.store.delete_file(source)
                del records[source]
                report.removed.append(source)
            stale: list[tuple[str, Path, os.stat_result]] = []
            for source, (path, stat) in files.items():
                record = records.get(source)
                if record is not None and stat.st_size == record.size and stat.st_mtime_ns == record.mtime_ns:
                    report.unchanged += 1
                else:
                    stale.append((source, Path(path), stat))
            self._embed_and_store(self._changed_documents(stale, report), report, progress, len(stale))
            if self._writing:
                self.generation = self.store.bump_generation()  # the change is complete
            generation = self.store.generation()
            manifest = manifest_path(self.settings.store.path, generation)
            if self._writing or not manifest.is_file():
                manifest.parent.mkdir(parents=True, exist_ok=True)
                save_manifest(manifest, records)
            if self._writing or not lexical_path(self.settings.store.path, generation).is_file():
                # Added files too: a crashed ingest may have left chunks of them that the saved index holds.
                changed = {*report.removed, *report.updated, *report.added}
                edited = lexical.updated(changed, self._lexical_rows) if lexical else None
                save_lexical(self.store, edited, generation=generation)
            self._lexical_rows = []
        report.documents = len(self.records)
        report.chunks = sum(r.chunks for r in self.records.values())
        if not report.documents:
            reasons = "; ".join(str(p) for p in report.problems)
            raise CorpusError(
                f"{self.settings.corpus}/ has no readable documents"
                + (f" ({reasons})" if reasons else "")
                + ": add .md, .txt, .html or .pdf files, then run `assistant ingest`"
            )
        report.seconds = time.perf_counter() - started
        return report

    @staticmethod
    def _record(document: Document, stat: os.stat_result, chunks: int) -> FileRecord:
        return FileRecord(
            source=document.source,
            sha256=document.sha256,
            size=stat.st_size,
            mtime_ns=stat.st_mtime_ns,
            chunks=chunks,
            title=document.title,
            publisher=document.publisher,
            date=document.date,
        )

    def _put(self, document: Document, stat: os.stat_result, chunks: int) -> None:
        record = self._record(document, stat, chunks)
        self.store.put_files([record])
        self.records[document.source] = record

    def _changed_documents(
        self, stale: list[tuple[str, Path, os.stat_result]], report: IngestReport
    ) -> Iterator[tuple[Document, list[Chunk], os.stat_result]]:
        """The new and changed files, loaded and chunked one at a time (nothing corpus-sized is held)."""
        for source, path, stat in stale:
            record = self.records.get(source)
            try:
                document = load_file(path, self.settings.corpus)
            except LoadError as exc:
                report.problems.append(Problem(source, str(exc).split(": ", 1)[-1]))
                continue
            self._changing()
            if record is not None and record.sha256 == document.sha256 and record.chunks:
                # Touched but identical: refresh the manifest's stat, embed nothing.
                self._put(document, stat, record.chunks)
                report.unchanged += 1
                continue
            yield document, self.chunker.chunk(document), stat

    def _embed_and_store(
        self,
        todo: Iterator[tuple[Document, list[Chunk], os.stat_result]],
        report: IngestReport,
        progress: bool | None,
        files: int,
    ) -> None:
        """Embed and write the documents of `todo` in batches of about `batch_chunks` chunks.

        Embedding across files in large batches is faster; committing file by file after each batch
        means a crash loses at most the files of the current batch. The model embeds one batch on a
        background thread while this thread writes the batch before it and reads and chunks the
        next: the writes and the reading then cost little time of their own (the model releases the
        interpreter lock while it runs). Writes stay on this thread and in corpus order.
        """
        show = progress if progress is not None else (files > 16 and sys.stderr.isatty())
        bar = _progress_bar(files, show)
        with ThreadPoolExecutor(1, thread_name_prefix="ingest-embed") as model:
            running: tuple[_Batch, Future[_Embedded]] | None = None
            try:
                for batch in self._batches(todo):
                    previous, running = running, (batch, model.submit(self._embed, batch))
                    if previous is not None:
                        self._write(previous[0], previous[1].result(), report, bar)
                if running is not None:
                    self._write(running[0], running[1].result(), report, bar)
                    running = None
            finally:
                if running is not None:
                    running[1].cancel()
        bar(0, close=True)

    def _batches(self, todo: Iterator[tuple[Document, list[Chunk], os.stat_result]]) -> Iterator[_Batch]:
        """The documents of `todo` in groups of at least `batch_chunks` chunks (the last may hold fewer)."""
        pending: _Batch = []
        pending_chunks = 0
        for item in todo:
            pending.append(item)
            pending_chunks += len(item[1])
            if pending_chunks >= self.batch_chunks:
                yield pending
                pending, pending_chunks = [], 0
        if pending:
            yield pending

    def _embed(self, batch: _Batch) -> _Embedded:
        """The vectors of one batch: every chunk's, and every sentence's (from its chunk, else on its own)."""
        inputs: list[str] = []
        spans: list[list[tuple[int, int]]] = []  # per chunk input: the sentences it holds, in input offsets
        owners: list[list[tuple[int, int]]] = []  # per chunk input: those sentences' (start, end) in the document
        sentences_of: list[list[tuple[int, int]]] = []
        for document, chunks, _ in batch:
            found = sentence_spans(document.text)
            sentences_of.append(found)
            for chunk in chunks:
                text = embedding_input(document.title, chunk)
                shift = len(text) - len(chunk.text) - chunk.start  # document offset -> input offset
                inside = [(s, e) for s, e in found if s >= chunk.start and e <= chunk.end]
                inputs.append(text)
                spans.append([(s + shift, e + shift) for s, e in inside])
                owners.append(inside)
        vectors, pooled = self.embedder.encode_spans(inputs, spans) if inputs else ([], [])
        # A sentence's vector is read from the first chunk whose window holds all of it; one that no
        # chunk holds whole (cut off by the window, or split between chunks) is embedded on its own.
        in_context: dict[tuple[int, int], list[float]] = {}
        position = 0
        for doc_index, (_, chunks, _) in enumerate(batch):
            for k in range(position, position + len(chunks)):
                for span, vector in zip(owners[k], pooled[k], strict=True):
                    if vector is not None:
                        in_context.setdefault((doc_index, span[0]), vector)
            position += len(chunks)
        alone = [
            (doc_index, s, e)
            for doc_index, found in enumerate(sentences_of)
            for s, e in found
            if (doc_index, s) not in in_context
        ]
        if alone:
            texts = [batch[d][0].text[s:e] for d, s, e in alone]
            for (d, s, _), vector in zip(alone, self.embedder.encode(texts), strict=True):
                in_context[(d, s)] = vector
        return _Embedded(len(alone), vectors, sentences_of, in_context)

    def _write(
        self,
        batch: _Batch,
        embedded: _Embedded,
        report: IngestReport,
        bar: Callable[..., None],
    ) -> None:
        """Write one embedded batch: its chunks, sentence vectors and, last, its manifest records."""
        report.chunks_embedded += len(embedded.vectors)
        report.sentences_embedded += embedded.alone
        sentences_of, in_context = embedded.sentences_of, embedded.in_context
        # One write per kind for the whole batch; manifest records last, so a crash before them
        # leaves files that the next ingest redoes.
        sentences = [(d, document.source, s, e) for d, (document, _, _) in enumerate(batch) for s, e in sentences_of[d]]
        self.store.replace_sentences(
            [document.source for document, _, _ in batch],
            [sentence_id(source, s) for _, source, s, _ in sentences],
            [in_context[(d, s)] for d, _, s, _ in sentences],
            [{"source": source, "start": s, "end": e} for _, source, s, e in sentences],
        )
        metadatas = [chunk_metadata(document, c, len(chunks)) for document, chunks, _ in batch for c in chunks]
        chunk_ids = [c.id for _, chunks, _ in batch for c in chunks]
        texts = [c.text for _, chunks, _ in batch for c in chunks]
        if chunk_ids:
            self.store.upsert_chunks(chunk_ids, embedded.vectors, texts, metadatas)
        self.store.delete_chunks({document.source: len(chunks) for document, chunks, _ in batch})
        self._lexical_rows += list(zip(chunk_ids, texts, metadatas, strict=True))
        records = [self._record(document, stat, len(chunks)) for document, chunks, stat in batch]
        self.store.put_files(records)
        for record in records:
            (report.updated if record.source in self.records else report.added).append(record.source)
            self.records[record.source] = record
        bar(len(batch))


@dataclass
class _Embedded:
    """What `Indexer._embed` computed for one batch."""

    alone: int  # sentences embedded on their own
    vectors: list[list[float]]  # per chunk, in batch order
    sentences_of: list[list[tuple[int, int]]]  # per document: its sentences' (start, end)
    in_context: dict[tuple[int, int], list[float]]  # (document index, sentence start) -> vector


def _progress_bar(total: int, show: bool) -> Callable[..., None]:
    """A tqdm bar on stderr when `show`, else a no-op with the same call signature."""
    if not show:

        def nothing(n: int, close: bool = False) -> None:  # noqa: ARG001 - same signature as `update`
            return None

        return nothing
    from tqdm import tqdm

    bar = tqdm(total=total, unit="file", desc="indexing", file=sys.stderr)

    def update(n: int, close: bool = False) -> None:
        bar.update(n)
        if close:
            bar.close()

    return update
