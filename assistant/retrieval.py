"""Hybrid retrieval: dense (Chroma, cosine) and lexical (BM25) lists fused by reciprocal rank.

Dense retrieval finds paraphrases; BM25 finds exact terms the embedding model blurs ("REM", "7T",
"41"). Each list is `candidates` deep; reciprocal-rank fusion (Cormack et al., 2009) scores a
chunk `sum(weight / (rrf_k + rank))` over the lists it appears in. Both lists honour an optional
filter by source document.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import threading
import unicodedata
import zipfile
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from functools import cached_property, lru_cache
from operator import attrgetter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from assistant.cleaning import STOP_WORDS
from assistant.records import Passage

if TYPE_CHECKING:
    from assistant.embedding import Embedder
    from assistant.settings import RetrievalSettings
    from assistant.store import ChromaStore

_TOKEN = re.compile(r"[a-z0-9]+(?:[.'’][a-z0-9]+)*")
# "1,000" is one number, written as "1000" elsewhere ("1,000, 2,000" are two).
_THOUSANDS = re.compile(r"(?<![\d,.])\d{1,3}(?:,\d{3})+(?!,?\d)")
# Subscripts that plain-text abstracts write in parentheses: "PGE(2)", "H(2)O(2)", "CO(2)" are "PGE2", "H2O2", "CO2".
_SUBSCRIPT = re.compile(r"(?<=[A-Za-z])\((\d{1,2})\)")


# Irregular English verb forms the stemmer leaves apart ("written" / "writing"): mapped to the base form.
_IRREGULAR = {
    form: base
    for base, forms in {
        "write": "wrote written",
        "take": "took taken",
        "give": "gave given",
        "show": "shown",
        "find": "found",
        "make": "made",
        "see": "saw seen",
        "know": "knew known",
        "choose": "chose chosen",
        "grow": "grew grown",
        "begin": "began begun",
        "speak": "spoke spoken",
        "break": "broke broken",
        "think": "thought",
        "bring": "brought",
        "teach": "taught",
        "hold": "held",
        "lead": "led",
        "leave": "left",
        "feel": "felt",
        "keep": "kept",
        "meet": "met",
        "pay": "paid",
        "say": "said",
        "send": "sent",
        "spend": "spent",
        "tell": "told",
        "understand": "understood",
        "become": "became",
        "come": "came",
        "get": "got gotten",
        "go": "went gone",
        "run": "ran",
        "rise": "rose risen",
        "fall": "fell fallen",
        "drive": "drove driven",
        "eat": "ate eaten",
        "build": "built",
        "buy": "bought",
        "catch": "caught",
        "fight": "fought",
        "seek": "sought",
        "sell": "sold",
        "win": "won",
    }.items()
    for form in forms.split()
}


@lru_cache(maxsize=1)
def _stemmer() -> Any:
    import Stemmer

    return Stemmer.Stemmer("english")


def lexical_form(text: str) -> str:
    """`text` with numbers, subscripts and accents written one way.

    "1,000" as "1000", "PGE(2)" as "PGE2", and Latin letters without their diacritics ("Temür" as
    "Temur", "Céloron" as "Celoron"): people type names without the accents their documents print.
    """
    if not text.isascii():
        decomposed = unicodedata.normalize("NFKD", text)
        text = "".join(c for c in decomposed if not unicodedata.combining(c))
    return _SUBSCRIPT.sub(r"\1", _THOUSANDS.sub(lambda m: m.group().replace(",", ""), text))


def analyse(text: str) -> list[str]:
    """Lexical terms: lower-cased words and numbers, stop words removed, Snowball-stemmed."""
    text = lexical_form(text.replace("©", " copyright "))
    words = [w.replace("’", "'").split("'")[0] for w in _TOKEN.findall(text.lower())]
    words = [_IRREGULAR.get(w, w) for w in words if w and w not in STOP_WORDS]
    return list(_stemmer().stemWords(words))


class BM25:
    """Okapi BM25 over a compact inverted index.

    The index is kept as term ids per text (`indptr`, `terms`, `tfs`, texts in order), which is what
    gets saved and what an update edits; the postings per term are derived from it with one sort.
    """

    def __init__(self, texts: Sequence[str], *, k1: float = 0.9, b: float = 0.4) -> None:
        vocabulary: dict[str, int] = {}
        rows = [Counter(analyse(text)) for text in texts]
        self._setup(vocabulary, *_rows_to_arrays(rows, vocabulary), k1=k1, b=b)

    @classmethod
    def from_arrays(
        cls, vocabulary: list[str], indptr: np.ndarray, terms: np.ndarray, tfs: np.ndarray, *, k1: float, b: float
    ) -> BM25:
        """An index from its saved arrays (see `LexicalIndex.save`)."""
        bm25 = cls.__new__(cls)
        bm25._setup({t: i for i, t in enumerate(vocabulary)}, indptr, terms, tfs, k1=k1, b=b)
        return bm25

    def _setup(
        self, vocabulary: dict[str, int], indptr: np.ndarray, terms: np.ndarray, tfs: np.ndarray, *, k1: float, b: float
    ) -> None:
        self.k1, self.b = k1, b
        self.vocabulary = vocabulary
        self.indptr, self.terms, self.tfs = indptr, terms, tfs
        self.size = len(indptr) - 1
        self._inverted: tuple[np.ndarray, ...] | None = None
        self._inverting = threading.Lock()

    def _inverted_index(self) -> tuple[np.ndarray, ...]:
        """(length norms, postings' texts, postings' term frequencies, term offsets), derived on first search.

        An ingest that only edits and saves the index never needs them (one sort of every posting).
        """
        if self._inverted is None:
            with self._inverting:
                if self._inverted is None:
                    k1, b, terms, tfs = self.k1, self.b, self.terms, self.tfs
                    docs = np.repeat(np.arange(self.size, dtype=np.int32), np.diff(self.indptr))
                    lengths = np.bincount(docs, weights=tfs, minlength=self.size)
                    avg = float(lengths.mean()) if self.size else 1.0
                    norm = (k1 * (1 - b + b * lengths / max(avg, 1e-9))).astype(np.float32)
                    order = np.argsort(terms, kind="stable")
                    pointers = np.concatenate([[0], np.cumsum(np.bincount(terms, minlength=len(self.vocabulary)))])
                    self._inverted = (norm, docs[order], tfs[order], pointers)
        return self._inverted

    @property
    def norm(self) -> np.ndarray:
        """Each text's BM25 length normalisation, k1 * (1 - b + b * length / average length)."""
        return self._inverted_index()[0]

    def _postings(self, term: str) -> tuple[np.ndarray, np.ndarray]:
        t = self.vocabulary.get(term)
        if t is None:
            return _NONE_INT, _NONE_FLOAT
        _, docs, tfs, pointers = self._inverted_index()
        lo, hi = pointers[t], pointers[t + 1]
        return docs[lo:hi], tfs[lo:hi]

    def idf(self, term: str) -> float:
        """Robertson-Sparck Jones idf, floored at zero as Lucene does."""
        df = len(self._postings(term)[0])
        return math.log(1 + (self.size - df + 0.5) / (df + 0.5))

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every indexed text for `query`."""
        out = np.zeros(self.size, dtype=np.float32)
        for term, qtf in Counter(analyse(query)).items():
            docs, tfs = self._postings(term)
            if len(docs):
                out[docs] += qtf * self.idf(term) * tfs * (self.k1 + 1) / (tfs + self.norm[docs])
        return out

    def contains(self, term: str) -> bool:
        """Whether an analysed term occurs anywhere in the indexed texts."""
        return len(self._postings(term)[0]) > 0


_NONE_INT = np.zeros(0, dtype=np.int32)
_NONE_FLOAT = np.zeros(0, dtype=np.float32)


def _rows_to_arrays(rows: Sequence[Counter[str]], vocabulary: dict[str, int]) -> tuple[np.ndarray, ...]:
    """Term counts per text -> (indptr, term ids, term frequencies); new terms are added to `vocabulary`."""
    indptr = np.zeros(len(rows) + 1, dtype=np.int64)
    terms: list[int] = []
    tfs: list[int] = []
    for i, row in enumerate(rows):
        for term, tf in row.items():
            terms.append(vocabulary.setdefault(term, len(vocabulary)))
            tfs.append(tf)
        indptr[i + 1] = len(terms)
    return indptr, np.array(terms, dtype=np.int32), np.array(tfs, dtype=np.float32)


@dataclass(frozen=True)
class ChunkInfo:
    """One chunk as the lexical index keeps it: its text, place in the document, and metadata."""

    chunk_id: str
    source: str
    title: str
    text: str
    start: int
    end: int
    publisher: str
    date: str
    # Acronyms the chunk defines: (acronym, terms of its long form) pairs, see `references.acronyms`.
    defines: Sequence[tuple[str, Sequence[str]]] = ()


def chunk_info(chunk_id: str, text: str, meta: dict[str, Any]) -> ChunkInfo:
    """A chunk as the lexical index keeps it, from its text and its stored metadata (source, start, end, ...)."""
    from assistant.references import acronyms

    return ChunkInfo(
        chunk_id,
        str(meta["source"]),
        str(meta.get("title", "")),
        text,
        int(meta["start"]),
        int(meta["end"]),
        str(meta.get("publisher", "")),
        str(meta.get("date", "")),
        tuple((short, tuple(sorted(long))) for short, long in acronyms(text).items()),
    )


class LexicalIndex:
    """BM25 over every chunk in the store, plus the chunk texts and metadata the answerer needs.

    Saved to one file per index generation (`save`/`load`) and edited by ingests (`updated`), so
    a process that starts reads it instead of analysing every chunk again.
    """

    def __init__(
        self, rows: Iterable[tuple[str, str, dict[str, Any]] | ChunkInfo], *, bm25: BM25 | None = None
    ) -> None:
        chunks = [row if isinstance(row, ChunkInfo) else chunk_info(*row) for row in rows]
        self._chunks: list[ChunkInfo] | None = chunks
        self._encoded: tuple[np.ndarray, np.ndarray] | None = None  # see `_rows`
        self.bm25 = bm25 or BM25([_lexical_text(c) for c in chunks])
        self.sources = np.array([c.source for c in chunks], dtype=object)
        self._parsing = threading.Lock()

    @classmethod
    def _from_rows(cls, rows: np.ndarray, ends: np.ndarray, sources: np.ndarray, bm25: BM25) -> LexicalIndex:
        """An index whose chunks stay encoded until something reads them (see `_rows`)."""
        index = cls.__new__(cls)
        index._chunks, index._encoded = None, (rows, ends)
        index.bm25, index.sources = bm25, sources
        index._parsing = threading.Lock()
        return index

    @property
    def chunks(self) -> list[ChunkInfo]:
        """Every chunk, in BM25 order (decoded on first use: an ingest that edits the index never reads them)."""
        if self._chunks is None:
            with self._parsing:
                if self._chunks is None and self._encoded is not None:
                    rows, _ = self._encoded
                    decoded = json.loads(b"[" + rows.tobytes()[:-1] + b"]") if len(rows) else []
                    self._chunks = [ChunkInfo(*row) for row in decoded]
        return self._chunks or []

    @cached_property
    def position(self) -> dict[str, int]:
        """Chunk id -> its place in `chunks`."""
        return {c.chunk_id: i for i, c in enumerate(self.chunks)}

    @cached_property
    def first_chunk(self) -> dict[str, int]:
        """Source -> the place in `chunks` of its first chunk (where a byline or date line stands)."""
        first: dict[str, int] = {}
        for i, chunk in enumerate(self.chunks):
            if chunk.source not in first or chunk.start < self.chunks[first[chunk.source]].start:
                first[chunk.source] = i
        return first

    def _rows(self) -> tuple[np.ndarray, np.ndarray]:
        """The chunks as saved, and the offset where each one ends.

        Each chunk is a JSON array followed by a comma, all in one byte array. They are kept as
        read, so an update copies the kept chunks' bytes instead of decoding and encoding them.
        """
        if self._encoded is None:
            self._encoded = _encode_rows(self.chunks)
        return self._encoded

    def updated(self, removed: set[str], rows: Sequence[tuple[str, str, dict[str, Any]]]) -> LexicalIndex:
        """A new index without the chunks of the `removed` sources, plus `rows` (analysed now)."""
        keep = np.array([source not in removed for source in self.sources], dtype=bool)
        old = self.bm25
        lengths = np.diff(old.indptr)
        added = [chunk_info(*row) for row in rows]
        vocabulary = dict(old.vocabulary)
        indptr, terms, tfs = _rows_to_arrays([Counter(analyse(_lexical_text(c))) for c in added], vocabulary)
        kept_lengths = lengths[keep]
        indptr = np.concatenate([[0], np.cumsum(np.concatenate([kept_lengths, np.diff(indptr)]))]).astype(np.int64)
        bm25 = BM25.from_arrays(
            list(vocabulary),
            indptr,
            np.concatenate([_kept_rows(old.terms, lengths, keep), terms]),
            np.concatenate([_kept_rows(old.tfs, lengths, keep), tfs]),
            k1=old.k1,
            b=old.b,
        )
        encoded, ends = self._rows()
        sizes = np.diff(ends, prepend=0)
        new_rows, new_ends = _encode_rows(added)
        return LexicalIndex._from_rows(
            np.concatenate([_kept_rows(encoded, sizes, keep), new_rows]),
            np.cumsum(np.concatenate([sizes[keep], np.diff(new_ends, prepend=0)])).astype(np.int64),
            np.concatenate([self.sources[keep], np.array([c.source for c in added], dtype=object)]),
            bm25,
        )

    def save(self, path: Path) -> None:
        """Write the index to `path` (atomically: a temporary file renamed into place)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f"{path.name}.{os.getpid()}.partial")
        rows, ends = self._rows()
        names: list[str] = []
        codes: np.ndarray = np.zeros(0, dtype=np.int32)
        if len(self.sources):
            unique, codes = np.unique(self.sources.astype(str), return_inverse=True)
            names = [str(name) for name in unique]
        with partial.open("wb") as handle:
            np.savez(
                handle,
                indptr=self.bm25.indptr,
                terms=self.bm25.terms,
                tfs=self.bm25.tfs,
                params=np.array([self.bm25.k1, self.bm25.b, _FORMAT]),
                vocabulary=np.frombuffer("\n".join(self.bm25.vocabulary).encode(), dtype=np.uint8),
                rows=rows,
                ends=ends,
                source_names=np.frombuffer(json.dumps(names).encode(), dtype=np.uint8),
                source_codes=np.asarray(codes, dtype=np.int32),
            )
        partial.replace(path)

    @classmethod
    def load(cls, path: Path) -> LexicalIndex | None:
        """The index saved at `path`, or None when there is none (or it is unreadable or of another format)."""
        try:
            with np.load(path) as saved:
                k1, b, version = (float(x) for x in saved["params"])
                if version != _FORMAT:
                    return None
                words = saved["vocabulary"].tobytes().decode()
                vocabulary = words.split("\n") if words else []
                bm25 = BM25.from_arrays(vocabulary, saved["indptr"], saved["terms"], saved["tfs"], k1=k1, b=b)
                names = np.array(json.loads(saved["source_names"].tobytes().decode()) or [""], dtype=object)
                sources = names[saved["source_codes"]]
                rows, ends = saved["rows"], saved["ends"]
        except (OSError, ValueError, KeyError, TypeError, IndexError, zipfile.BadZipFile):
            return None
        if len(ends) != bm25.size or len(sources) != bm25.size or (len(ends) and ends[-1] != len(rows)):
            return None
        return cls._from_rows(rows, ends, sources, bm25)

    def search(self, query: str, k: int, sources: Sequence[str] | None = None) -> list[tuple[str, float]]:
        """Top k (chunk id, BM25 score) with a positive score."""
        scores = self.bm25.scores(query)
        if sources:
            scores[~np.isin(self.sources, list(sources))] = 0
        k = min(k, len(scores))
        if k == 0:
            return []
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(self.chunks[i].chunk_id, float(scores[i])) for i in top if scores[i] > 0]


def _encode_rows(chunks: Sequence[ChunkInfo]) -> tuple[np.ndarray, np.ndarray]:
    """`chunks` as `LexicalIndex._rows` keeps them: JSON arrays each followed by a comma, and their end offsets."""
    row = attrgetter(*(f.name for f in fields(ChunkInfo)))  # astuple copies recursively: 10x slower
    encoded = [json.dumps(row(c)).encode() + b"," for c in chunks]
    return np.frombuffer(b"".join(encoded), dtype=np.uint8), np.cumsum([len(e) for e in encoded], dtype=np.int64)


def _kept_rows(values: np.ndarray, sizes: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """The entries of the kept rows of `values` (consecutive rows of `sizes` entries), copied run by run.

    An update removes the rows of a few files, so the kept rows form a few long runs: copying each
    run as a slice costs a fraction of a boolean mask over every entry (13 MB of chunk rows at
    5,000 abstracts).
    """
    if keep.all():
        return values
    ends = np.cumsum(sizes)
    starts = ends - sizes
    edges = np.flatnonzero(np.diff(np.concatenate([[0], keep.astype(np.int8), [0]])))
    runs = [values[starts[first] : ends[last - 1]] for first, last in zip(edges[::2], edges[1::2], strict=True)]
    return np.concatenate(runs) if runs else values[:0]


# The saved layout's version (3: "1,000" and "PGE(2)" analysed as "1000" and "pge2"; 4: chunks as rows; 5: accents
# folded, "Temür" analysed as "temur").
_FORMAT = 5.0


def _lexical_text(chunk: ChunkInfo) -> str:
    """What BM25 indexes for a chunk: the same text the embedding model reads."""
    from assistant.indexing import embedding_input

    return embedding_input(chunk.title, chunk.text)


def lexical_path(folder: Path, generation: str) -> Path:
    """Where the lexical index of one index generation is saved, under the index folder."""
    return folder / "lexical" / f"{hashlib.sha256(generation.encode()).hexdigest()[:24]}.npz"


def rrf(lists: Sequence[tuple[float, Sequence[tuple[str, float]]]], rrf_k: int) -> list[tuple[str, float]]:
    """Weighted reciprocal-rank fusion of ranked (id, score) lists; returns (id, fused score)."""
    fused: dict[str, float] = {}
    for weight, ranked in lists:
        for rank, (item, _) in enumerate(ranked, start=1):
            fused[item] = fused.get(item, 0.0) + weight / (rrf_k + rank)
    return sorted(fused.items(), key=lambda kv: (-kv[1], kv[0]))


class Retriever:
    """Dense + BM25 retrieval over one index. Thread-safe; the BM25 index is rebuilt on `refresh()`."""

    def __init__(self, settings: RetrievalSettings, embedder: Embedder, store: ChromaStore) -> None:
        self.settings = settings
        self.embedder = embedder
        self.store = store
        self._lexical: LexicalIndex | None = None
        self._lock = threading.Lock()
        self._recent: dict[str, list[float]] = {}  # query -> embedding, the last 32

    @property
    def lexical(self) -> LexicalIndex:
        """The BM25 index: the one saved for the store's generation, else built from the store (and saved)."""
        with self._lock:
            if self._lexical is None:
                folder = self.store.settings.path
                self._lexical = LexicalIndex.load(lexical_path(folder, self.store.generation()))
                if self._lexical is None:
                    self._lexical = self._build_and_save(folder)
            return self._lexical

    def _build_and_save(self, folder: Path) -> LexicalIndex:
        """Build the index from the store; save it when no ingest is running (see `indexing.save_lexical`)."""
        from assistant.indexing import ingest_lock, save_lexical

        with ingest_lock(folder, wait=False) as free:
            if free and self.store.is_open:
                return save_lexical(self.store)
        return LexicalIndex(self.store.all_chunks())

    def refresh(self) -> None:
        """Forget the BM25 index after the store changed."""
        with self._lock:
            self._lexical = None

    def dense(self, query: str, k: int, sources: Sequence[str] | None = None) -> list[tuple[str, float]]:
        """Top k (chunk id, cosine similarity) from Chroma."""
        return self.store.query(self._query_vector(query), k, sources)

    def _query_vector(self, query: str) -> list[float]:
        """The query's embedding, of the last 32 queries kept.

        One question may search twice: first the document it names, then the whole corpus.
        """
        with self._lock:
            vector = self._recent.get(query)
        if vector is None:
            vector = self.embedder.embed_query(query)
            with self._lock:
                self._recent[query] = vector
                while len(self._recent) > 32:
                    self._recent.pop(next(iter(self._recent)))
        return vector

    def openings(self, sources: Sequence[str]) -> list[Passage]:
        """The first chunk of each of these documents, as passages (score 0: no retriever chose them)."""
        lexical = self.lexical
        places = [lexical.first_chunk[source] for source in sources if source in lexical.first_chunk]
        return [_passage(lexical.chunks[i], 0.0) for i in places]

    def search(self, query: str, k: int | None = None, sources: Sequence[str] | None = None) -> list[Passage]:
        """The k best passages for `query`, fused from both retrievers."""
        k = k or self.settings.k
        depth = max(self.settings.candidates, k)
        lexical = self.lexical
        dense = self.dense(query, depth, sources) if self.settings.dense_weight > 0 else []
        # A chunk another process wrote after this BM25 snapshot is not known here yet; it is at the
        # next question, once the pipeline has seen the new index generation.
        dense = [(chunk_id, score) for chunk_id, score in dense if chunk_id in lexical.position]
        bm25 = lexical.search(query, depth, sources) if self.settings.lexical_weight > 0 else []
        fused = rrf([(self.settings.dense_weight, dense), (self.settings.lexical_weight, bm25)], self.settings.rrf_k)
        dense_scores, bm25_scores = dict(dense), dict(bm25)
        passages: list[Passage] = []
        for chunk_id, score in fused[:k]:
            info = lexical.chunks[lexical.position[chunk_id]]
            passages.append(_passage(info, score, dense_scores.get(chunk_id), bm25_scores.get(chunk_id)))
        return passages


def _passage(info: ChunkInfo, score: float, dense: float | None = None, lexical: float | None = None) -> Passage:
    """A chunk of the index as a retrieved passage."""
    return Passage(
        chunk_id=info.chunk_id,
        source=info.source,
        title=info.title,
        text=info.text,
        start=info.start,
        end=info.end,
        score=score,
        dense=dense,
        lexical=lexical,
        publisher=info.publisher,
        date=info.date,
    )
