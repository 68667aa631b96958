"""Hybrid retrieval: dense (Chroma, cosine) and lexical (BM25) lists fused by reciprocal rank.

Dense retrieval finds paraphrases; BM25 finds exact terms the embedding model blurs ("MTR", "7T",
"41"). Each list is `candidates` deep; reciprocal-rank fusion (Cormack et al., 2009) scores a
chunk `sum(weight / (rrf_k + rank))` over the lists it appears in. Both lists honour an optional
filter by source document.
"""

from __future__ import annotations

import math
import re
import threading
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import numpy as np

from assistant.cleaning import STOP_WORDS
from assistant.records import Passage

if TYPE_CHECKING:
    from assistant.embedding import Embedder
    from assistant.settings import RetrievalSettings
    from assistant.store import ChromaStore

_TOKEN = re.compile(r"[a-z0-9]+(?:[.'’][a-z0-9]+)*")


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


def analyse(text: str) -> list[str]:
    """Lexical terms: lower-cased words and numbers, stop words removed, Snowball-stemmed."""
    text = text.replace("©", " copyright ")
    words = [w.replace("’", "'").split("'")[0] for w in _TOKEN.findall(text.lower())]
    words = [_IRREGULAR.get(w, w) for w in words if w and w not in STOP_WORDS]
    return list(_stemmer().stemWords(words))


class BM25:
    """Okapi BM25 over an in-memory inverted index (numpy postings per term)."""

    def __init__(self, texts: Sequence[str], *, k1: float = 0.9, b: float = 0.4) -> None:
        self.k1, self.b = k1, b
        self.size = len(texts)
        postings: dict[str, tuple[list[int], list[int]]] = {}
        lengths = np.zeros(self.size, dtype=np.float32)
        for doc, text in enumerate(texts):
            terms = Counter(analyse(text))
            lengths[doc] = sum(terms.values())
            for term, tf in terms.items():
                docs, tfs = postings.setdefault(term, ([], []))
                docs.append(doc)
                tfs.append(tf)
        avg = float(lengths.mean()) if self.size else 1.0
        self.norm = k1 * (1 - b + b * lengths / max(avg, 1e-9))
        self.postings = {
            t: (np.array(d, dtype=np.int32), np.array(f, dtype=np.float32)) for t, (d, f) in postings.items()
        }

    def idf(self, term: str) -> float:
        """Robertson-Sparck Jones idf, floored at zero as Lucene does."""
        df = len(self.postings[term][0]) if term in self.postings else 0
        return math.log(1 + (self.size - df + 0.5) / (df + 0.5))

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every indexed text for `query`."""
        out = np.zeros(self.size, dtype=np.float32)
        for term, qtf in Counter(analyse(query)).items():
            if term not in self.postings:
                continue
            docs, tfs = self.postings[term]
            out[docs] += qtf * self.idf(term) * tfs * (self.k1 + 1) / (tfs + self.norm[docs])
        return out

    def contains(self, term: str) -> bool:
        """Whether an analysed term occurs anywhere in the indexed texts."""
        return term in self.postings


@dataclass(frozen=True)
class _ChunkInfo:
    chunk_id: str
    source: str
    title: str
    text: str
    start: int
    end: int
    publisher: str
    date: str


class LexicalIndex:
    """BM25 over every chunk in the store, plus the chunk texts and metadata the answerer needs."""

    def __init__(self, rows: Iterable[tuple[str, str, dict[str, Any]]]) -> None:
        self.chunks: list[_ChunkInfo] = []
        for chunk_id, text, meta in rows:
            self.chunks.append(
                _ChunkInfo(
                    chunk_id,
                    str(meta["source"]),
                    str(meta.get("title", "")),
                    text,
                    int(meta["start"]),
                    int(meta["end"]),
                    str(meta.get("publisher", "")),
                    str(meta.get("date", "")),
                )
            )
        self.position = {c.chunk_id: i for i, c in enumerate(self.chunks)}
        from assistant.indexing import embedding_input

        self.bm25 = BM25([embedding_input(c.title, c.text) for c in self.chunks])
        self.sources = np.array([c.source for c in self.chunks], dtype=object)

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
        """The BM25 index, built from the store on first use."""
        with self._lock:
            if self._lexical is None:
                self._lexical = LexicalIndex(self.store.all_chunks())
            return self._lexical

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
            passages.append(
                Passage(
                    chunk_id=chunk_id,
                    source=info.source,
                    title=info.title,
                    text=info.text,
                    start=info.start,
                    end=info.end,
                    score=score,
                    dense=dense_scores.get(chunk_id),
                    lexical=bm25_scores.get(chunk_id),
                    publisher=info.publisher,
                    date=info.date,
                )
            )
        return passages
