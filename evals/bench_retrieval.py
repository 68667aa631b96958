"""Retrieval benchmark on SciFact (BEIR): BM25, dense, hybrid (our pipeline) and a plain LangChain baseline.

Method
- Corpus: each of the 5,183 abstracts becomes `Document(source=_id, title=title, text=abstract)` directly (no
  corpus files, no cleaning: SciFact is clean text). The index is built as `Indexer` builds one: `Chunker` with the
  chunking settings, `Embedder.encode(embedding_input(title, chunk))`, `ChromaStore.upsert_chunks` with
  `chunk_metadata`. It is cached in evals/bench/cache/ours-<fingerprint>-<corpus hash>/, where the fingerprint
  hashes the chunking settings, embedding model and chunker version, so a second run embeds nothing.
- Our retrievers each return CHUNK_DEPTH (300) chunks per query, so that at least 100 distinct documents remain;
  a document ranks as its best chunk. BM25 = `Retriever.lexical.search`, dense = `Retriever.dense` (Chroma),
  hybrid = `Retriever.search` (weighted RRF) with the project's default fusion settings (rrf_k, weights) and
  `candidates` = CHUNK_DEPTH. (`Retriever.search` uses max(candidates, k) as list depth, so asking it for
  300 passages is what makes the lists 300 deep; the app itself asks for k=6 with candidates=40.)
- LangChain baseline, what a plain LangChain user writes: one "title\n\nabstract" Document per abstract,
  RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200), HuggingFaceEmbeddings on the same bundled
  all-MiniLM-L6-v2 (normalised), Chroma.from_documents (its default L2 space), similarity_search(k=300).
- Metrics (evals/metrics_ir.py): document-level nDCG@10 and recall@100, binary qrels, computed as BEIR
  (pytrec_eval) does, over the 300 test queries. Published: BM25 0.665 (BEIR), all-MiniLM-L6-v2 0.645 (MTEB).
- --explore: hybrid fusion variants through RetrievalSettings only (candidates depth, rrf_k, lexical weight
  against dense 1.0). --chunking MAX:OVERLAP benchmarks another chunk size (with its own cached index).

Run from the repo root. The first run embeds the abstracts twice (ours ~12k chunks, LangChain ~15k), 10-20 min
each on 2 shared cores; later runs reuse both indexes and take about a minute (--explore: ~5 min more).
    .venv/bin/python evals/bench_retrieval.py [--limit N] [--explore] [--chunking 180:40] [--rebuild] [--data DIR]
The table goes to stdout and, with the same numbers, to evals/bench/scifact-<timestamp>.json.
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing may be fetched from a model hub
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import argparse
import functools
import hashlib
import json
import shutil
import sys
import time
from collections.abc import Callable
from datetime import datetime
from itertools import product
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent))
from metrics_ir import first_occurrences, mean_scores, to_documents

from assistant.chunking import CHUNKER_VERSION, Chunker
from assistant.embedding import MODEL_SHA256, Embedder, bundled_model_path
from assistant.indexing import chunk_metadata, embedding_input
from assistant.records import Document
from assistant.retrieval import Retriever
from assistant.settings import ChunkingSettings, RetrievalSettings, Settings, StoreSettings, fingerprint
from assistant.store import ChromaStore

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "benchmarks" / "scifact"
BENCH = ROOT / "evals" / "bench"
CHUNK_DEPTH, DOC_DEPTH, TARGET = 300, 100, 0.70
PUBLISHED = {"BM25": (0.665, "0.908-0.925"), "dense": (0.645, "0.925")}  # nDCG@10, recall@100
LC_COLLECTION = "scifact_langchain"
Qrels = dict[str, set[str]]
Row = dict[str, Any]


def load(data: Path, limit: int | None) -> tuple[list[dict[str, str]], dict[str, str], Qrels, str]:
    """Corpus records, query texts, test qrels (query -> relevant doc ids) and a hash of the corpus file."""
    corpus_bytes = (data / "corpus.jsonl").read_bytes()
    corpus = [json.loads(line) for line in corpus_bytes.decode().splitlines() if line.strip()]
    queries = {q["_id"]: q["text"] for q in map(json.loads, (data / "queries.jsonl").read_text().splitlines())}
    qrels: Qrels = {}
    for line in (data / "qrels" / "test.tsv").read_text().splitlines()[1:]:
        qid, doc, score = line.split("\t")
        if int(score) > 0:
            qrels.setdefault(qid, set()).add(doc)
    if limit:
        qrels = dict(list(qrels.items())[:limit])
    return corpus, queries, qrels, hashlib.sha256(corpus_bytes).hexdigest()[:12]


def cached(folder: Path, rebuild: bool) -> dict[str, Any]:
    """The build record of a complete cached index in `folder`, or {} (after wiping it) when there is none."""
    marker = folder / "built.json"
    if marker.is_file() and not rebuild:
        return dict(json.loads(marker.read_text()))
    shutil.rmtree(folder, ignore_errors=True)
    return {}


def build_ours(corpus: list[dict[str, str]], corpus_hash: str, chunking: ChunkingSettings, rebuild: bool) -> Any:
    """(embedder, store, build record) for our Chroma index of SciFact, built once per fingerprint."""
    embedder = Embedder()
    shape = Settings(chunking=chunking)
    fp = fingerprint(shape, embedder=embedder.fingerprint(), cleaning="scifact-raw", chunker=CHUNKER_VERSION)
    folder = BENCH / "cache" / f"ours-{fp}-{corpus_hash}"
    info = cached(folder, rebuild)
    store = ChromaStore(StoreSettings(path=folder, collection="scifact"))
    store.open(fp)
    if info and store.chunk_count() == info["chunks"]:
        return embedder, store, {**info, "cached": True}
    store.drop()
    store.open(fp)
    started = time.perf_counter()
    chunker = Chunker(chunking.max_tokens, chunking.overlap_tokens, chunking.encoding)
    documents = [
        Document(d["_id"], d["title"], d["text"], hashlib.sha256(f"{d['title']}\n{d['text']}".encode()).hexdigest())
        for d in corpus
    ]
    chunked = [(doc, chunker.chunk(doc)) for doc in tqdm(documents, desc="chunking", unit="doc", file=sys.stderr)]
    inputs = [embedding_input(doc.title, chunk) for doc, chunks in chunked for chunk in chunks]
    with tqdm(total=len(inputs), desc="embedding (ours)", unit="chunk", file=sys.stderr) as bar:
        vectors = embedder.encode(inputs, progress=bar.update)
    rows = [(c.id, c.text, chunk_metadata(doc, c, len(chunks))) for doc, chunks in chunked for c in chunks]
    store.upsert_chunks([r[0] for r in rows], vectors, [r[1] for r in rows], [r[2] for r in rows])
    seconds = round(time.perf_counter() - started, 1)
    info = {"fingerprint": fp, "documents": len(documents), "chunks": len(rows), "seconds": seconds}
    (folder / "built.json").write_text(json.dumps(info))
    return embedder, store, {**info, "cached": False}


def build_langchain(corpus: list[dict[str, str]], corpus_hash: str, rebuild: bool) -> tuple[Any, dict[str, Any]]:
    """The plain LangChain vector store of SciFact (built once) and its build record."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings
    from langchain_chroma import Chroma
    from langchain_core.documents import Document as LCDocument
    from langchain_huggingface import HuggingFaceEmbeddings
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    folder = BENCH / "cache" / f"langchain-1000-200-{MODEL_SHA256[:12]}-{corpus_hash}"
    info = cached(folder, rebuild)
    model = str(bundled_model_path())
    embeddings = HuggingFaceEmbeddings(model_name=model, encode_kwargs={"normalize_embeddings": True})
    client = chromadb.PersistentClient(path=str(folder), settings=ChromaSettings(anonymized_telemetry=False))
    if info:
        store = Chroma(client=client, collection_name=LC_COLLECTION, embedding_function=embeddings)
        if store._collection.count() == info["chunks"]:
            return store, {**info, "cached": True}
        client.delete_collection(LC_COLLECTION)
    started = time.perf_counter()
    splitter = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200)
    docs = [LCDocument(page_content=f"{d['title']}\n\n{d['text']}", metadata={"source": d["_id"]}) for d in corpus]
    chunks = splitter.split_documents(docs)
    print(f"LangChain: embedding {len(chunks)} chunks", file=sys.stderr)
    embeddings.show_progress = True  # for the build only: a bar per query would drown the table
    store = Chroma.from_documents(chunks, embeddings, client=client, collection_name=LC_COLLECTION)
    embeddings.show_progress = False
    info = {"documents": len(docs), "chunks": len(chunks), "seconds": round(time.perf_counter() - started, 1)}
    (folder / "built.json").write_text(json.dumps(info))
    return store, {**info, "cached": False}


def evaluate(name: str, rank: Callable[[str], list[str]], queries: dict[str, str], qrels: Qrels) -> Row:
    """Run `rank` (query text -> ranked document ids) over the test queries and score it."""
    rankings: dict[str, list[str]] = {}
    started = time.perf_counter()
    for qid in tqdm(qrels, desc=name, unit="q", leave=False, file=sys.stderr):
        rankings[qid] = rank(queries[qid])[:DOC_DEPTH]
    seconds = time.perf_counter() - started
    published = PUBLISHED.get(name.split(" ", maxsplit=1)[0])
    return {
        "retriever": name,
        **mean_scores(rankings, qrels, ndcg_k=10, recall_k=DOC_DEPTH),
        "published_ndcg@10": published[0] if published else None,
        "published_recall@100": published[1] if published else None,
        "queries_per_s": round(len(qrels) / seconds, 1),
        "short_lists": sum(len(r) < DOC_DEPTH for r in rankings.values()),  # fewer than 100 documents came back
    }


def hybrid(retriever: Retriever, depth: int) -> Callable[[str], list[str]]:
    """Document ranking from `Retriever.search`, `depth` passages deep."""
    return lambda q: first_occurrences(p.source for p in retriever.search(q, depth))


def explore(embedder: Embedder, store: ChromaStore, queries: dict[str, str], qrels: Qrels) -> list[Row]:
    """Hybrid nDCG@10 (and recall@100 where lists are deep enough) over a grid of fusion settings."""
    # Variants differ only in fusion settings: embed each query once for all of them.
    memo = SimpleNamespace(embed_query=functools.cache(embedder.embed_query))
    explorer = Retriever(RetrievalSettings(), memo, store)  # type: ignore[arg-type]
    rows = []
    for candidates, rrf_k, lexical in product((40, 100, CHUNK_DEPTH), (10, 20, 60, 100), (0.6, 0.8, 1.0, 1.2, 1.5)):
        explorer.settings = RetrievalSettings(candidates=candidates, rrf_k=rrf_k, lexical_weight=lexical)
        name = f"candidates={candidates} rrf_k={rrf_k} dense=1.0 lexical={lexical}"
        row = evaluate(name, hybrid(explorer, candidates), queries, qrels)
        if candidates < CHUNK_DEPTH:  # fewer than 100 documents come back: recall@100 would mislead
            row["recall@100"] = None
        rows.append(row)
    return sorted(rows, key=lambda r: -r["ndcg@10"])


def show(rows: list[Row], width: int = 34) -> None:
    """Print result rows as a table."""
    print(f"{'retriever':<{width}} {'nDCG@10':>8} {'recall@100':>10} {'published nDCG@10 (recall@100)':>31} {'q/s':>7}")
    for r in rows:
        pub = "-" if r["published_ndcg@10"] is None else f"{r['published_ndcg@10']:.3f} ({r['published_recall@100']})"
        recall = "-" if r["recall@100"] is None else f"{r['recall@100']:.3f}"
        print(f"{r['retriever']:<{width}} {r['ndcg@10']:>8.3f} {recall:>10} {pub:>31} {r['queries_per_s']:>7.1f}")


def main(argv: list[str] | None = None) -> int:
    """Build (or reuse) both indexes, evaluate the four retrievers, print and save the report."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DATA, help="SciFact folder in BEIR layout")
    parser.add_argument("--limit", type=int, help="only the first N test queries (quick check)")
    parser.add_argument("--rebuild", action="store_true", help="rebuild the cached indexes")
    parser.add_argument("--explore", action="store_true", help="also evaluate a grid of hybrid fusion settings")
    parser.add_argument("--chunking", help="MAX:OVERLAP tokens, default from ChunkingSettings")
    parser.add_argument("--no-langchain", action="store_true", help="skip the plain LangChain baseline row")
    args = parser.parse_args(argv)
    chunking = ChunkingSettings()
    if args.chunking:
        max_tokens, overlap = (int(x) for x in args.chunking.split(":"))
        chunking = ChunkingSettings(max_tokens=max_tokens, overlap_tokens=overlap)
    corpus, queries, qrels, corpus_hash = load(args.data, args.limit)

    embedder, store, ours = build_ours(corpus, corpus_hash, chunking, args.rebuild)
    fusion = RetrievalSettings().model_copy(update={"candidates": CHUNK_DEPTH})  # project defaults, deep lists
    retriever = Retriever(fusion, embedder, store)
    started = time.perf_counter()
    lexical = retriever.lexical  # builds BM25 over every chunk in the store
    bm25_seconds = round(time.perf_counter() - started, 1)
    retriever.dense("warm-up", 1)  # load the model, and let Chroma index fresh writes, outside the timed loop
    rankers = {
        "BM25 (ours)": lambda q: to_documents(c for c, _ in lexical.search(q, CHUNK_DEPTH)),
        "dense (ours)": lambda q: to_documents(c for c, _ in retriever.dense(q, CHUNK_DEPTH)),
        f"hybrid RRF (ours, rrf_k={fusion.rrf_k})": hybrid(retriever, CHUNK_DEPTH),
    }
    langchain: dict[str, Any] = {"seconds": "-", "chunks": "-", "cached": False}
    if not args.no_langchain:
        lc_store, langchain = build_langchain(corpus, corpus_hash, args.rebuild)
        lc_store.similarity_search("warm-up", k=1)
        search = lc_store.similarity_search
        rankers["LangChain baseline"] = lambda q: first_occurrences(
            d.metadata["source"] for d in search(q, k=CHUNK_DEPTH)
        )
    rows = [evaluate(name, rank, queries, qrels) for name, rank in rankers.items()]
    variants = explore(embedder, store, queries, qrels) if args.explore else []

    print(
        f"\nSciFact test, {len(qrels)} queries; chunking {chunking.max_tokens}/{chunking.overlap_tokens} tokens, "
        f"chunker v{CHUNKER_VERSION}, index {ours['fingerprint']}; fusion {fusion.model_dump()}"
    )
    show(rows)
    print(
        f"index build: ours {ours['seconds']} s for {ours['chunks']} chunks{' (cached)' * ours['cached']}, "
        f"BM25 {bm25_seconds} s; LangChain {langchain['seconds']} s for {langchain['chunks']} chunks"
        f"{' (cached)' * langchain['cached']}"
    )
    if variants:
        print(f"\nHybrid fusion variants (--explore; q/s with cached query vectors), best first; target {TARGET}:")
        show(variants[:12], width=52)
        reach = [v["retriever"] for v in variants if v["ndcg@10"] >= TARGET]
        print(f"{len(reach)} of {len(variants)} variants reach the target" + (f"; best: {reach[0]}" if reach else ""))
    BENCH.mkdir(parents=True, exist_ok=True)
    out = BENCH / f"scifact-{datetime.now().strftime('%Y%m%d-%H%M%S')}.json"
    report = {"dataset": "scifact/test", "data": str(args.data), "queries": len(qrels), "chunk_depth": CHUNK_DEPTH,
              "chunking": chunking.model_dump(), "chunker_version": CHUNKER_VERSION, "fusion": fusion.model_dump(),
              "build": {"ours": ours, "bm25_seconds": bm25_seconds, "langchain": langchain},
              "results": rows, "explore": variants}  # fmt: skip
    out.write_text(json.dumps(report, indent=2))
    print(f"report: {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
