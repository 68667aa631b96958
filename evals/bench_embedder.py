"""Embedding throughput on this machine: the shipped ONNX fp32 model against its alternatives and the ceiling.

Usage: .venv/bin/python evals/bench_embedder.py [--chunks 240] [--sentences 600]

Texts: the first SciFact abstracts (../shared/benchmarks/scifact/corpus.jsonl), chunked exactly as an
ingest chunks them (title prefix included), and single sentences of the same abstracts. Rows, all in one
process, each timed after a warm-up call:
- ONNX fp32, batches of 4 (what ships) and of 32;
- sentence-transformers on torch (the reference, and what a plain LangChain index runs);
- ONNX dynamic int8 (per channel, reduced range: the accurate setting on AVX2), quantised here from the
  exported model, with the lowest and mean cosine to the reference over every text.
The ceiling is the float32 matrix-multiply rate numpy reaches on 2048x2048 matrices with the same cores,
divided by the model's cost per token (2 x 10.6 M multiply-adds in the 6 layers' weights, plus attention
over the sequence); "% of ceiling" is tokens/s against that.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from assistant.chunking import Chunker
from assistant.embedding import Embedder, bundled_model_path
from assistant.indexing import embedding_input
from assistant.records import Document
from assistant.settings import ChunkingSettings

DATA = Path(__file__).resolve().parents[2] / "shared" / "benchmarks" / "scifact" / "corpus.jsonl"
LAYERS, HIDDEN, FFN = 6, 384, 1536


def texts(chunks: int, sentences: int) -> tuple[list[str], list[str]]:
    """Chunk inputs and single sentences from the first SciFact abstracts."""
    settings = ChunkingSettings()
    chunker = Chunker(settings.max_tokens, settings.overlap_tokens, settings.encoding)
    chunk_texts: list[str] = []
    sentence_texts: list[str] = []
    with DATA.open() as handle:
        for line in handle:
            d = json.loads(line)
            doc = Document(d["_id"], d["title"], d["text"], d["_id"])
            chunk_texts += [embedding_input(doc.title, c) for c in chunker.chunk(doc)]
            sentence_texts += [s for s in re.split(r"(?<=\.)\s+", d["text"]) if len(s) > 20]
            if len(chunk_texts) >= chunks and len(sentence_texts) >= sentences:
                break
    return chunk_texts[:chunks], sentence_texts[:sentences]


def flops_per_token(tokens: int) -> float:
    """Multiply-adds x 2 per token: the layers' weights plus attention scores and mixing over `tokens`."""
    weights = LAYERS * (4 * HIDDEN * HIDDEN + 2 * HIDDEN * FFN)
    attention = LAYERS * 2 * tokens * HIDDEN
    return 2.0 * (weights + attention)


def ceiling_gflops() -> float:
    """Best of 3 float32 2048x2048 matrix products through numpy's BLAS, in GFLOP/s."""
    a = np.random.default_rng(0).random((2048, 2048), dtype=np.float32)
    best = 0.0
    for _ in range(3):
        started = time.perf_counter()
        a @ a
        best = max(best, 2 * 2048**3 / (time.perf_counter() - started) / 1e9)
    return best


def timed(encode, items: list[str]) -> tuple[np.ndarray, float]:  # type: ignore[no-untyped-def]
    """Vectors and seconds of one encode call (after a warm-up call)."""
    encode(items[:4])
    started = time.perf_counter()
    vectors = np.asarray(encode(items))
    return vectors, time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chunks", type=int, default=240)
    parser.add_argument("--sentences", type=int, default=600)
    args = parser.parse_args()
    chunk_texts, sentence_texts = texts(args.chunks, args.sentences)
    shipped = Embedder()
    tokenizer = shipped._tokenizer
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from sentence_transformers import SentenceTransformer

    reference = SentenceTransformer(str(bundled_model_path()), device="cpu")
    with tempfile.TemporaryDirectory() as tmp:
        int8_path = Path(tmp) / "model-int8.onnx"
        quantize_dynamic(
            str(shipped.onnx_path), str(int8_path), weight_type=QuantType.QInt8, per_channel=True, reduce_range=True
        )
        int8 = Embedder(batch_size=4)
        int8.__dict__["onnx_path"] = int8_path  # the cached property, pointed at the quantised graph
        big = Embedder(batch_size=32)
        gflops = ceiling_gflops()
        print(f"fp32 ceiling: {gflops:.0f} GFLOP/s (numpy sgemm, {len(os.sched_getaffinity(0))} cores)")
        print("| texts | runtime | texts/s | tokens/s | % of ceiling | min / mean cosine to the reference |")
        print("|---|---|---|---|---|---|")
        for name, items in (("chunks", chunk_texts), ("sentences", sentence_texts)):
            counts = [len(e.ids) - e.ids.count(0) for e in tokenizer.encode_batch(items)]
            tokens = sum(counts)
            mean_len = tokens / len(items)
            ceiling = gflops * 1e9 / flops_per_token(int(mean_len))
            ref, ref_s = timed(lambda t: reference.encode(t, batch_size=32, normalize_embeddings=True), items)
            rows = [("sentence-transformers (torch), batch 32", ref, ref_s)]
            for label, embedder in (
                ("ONNX fp32, batch 4 (shipped)", shipped),
                ("ONNX fp32, batch 32", big),
                ("ONNX int8 dynamic, batch 4", int8),
            ):
                vectors, seconds = timed(embedder.encode, items)
                rows.append((label, vectors, seconds))
            for label, vectors, seconds in rows:
                cosine = (vectors * ref).sum(1)
                print(
                    f"| {len(items)} {name} ({mean_len:.0f} tokens) | {label} | {len(items) / seconds:.1f} | "
                    f"{tokens / seconds:,.0f} | {100 * tokens / seconds / ceiling:.0f} % | "
                    f"{cosine.min():.4f} / {cosine.mean():.4f} |"
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
