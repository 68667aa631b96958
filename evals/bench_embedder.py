"""Embedding throughput on this machine: the default (int8) embedder against fp32, the alternatives and the ceiling.

Usage: .venv/bin/python evals/bench_embedder.py [--chunks 240] [--sentences 600]

Texts: the first SciFact abstracts (../shared/benchmarks/scifact/corpus.jsonl), chunked exactly as an
ingest chunks them (title prefix included), and single sentences of the same abstracts. Rows, all in one
process, each timed after a warm-up call, with the lowest and mean cosine to the reference over every text:
- sentence-transformers on torch (the reference, and what a plain LangChain index runs);
- ONNX fp32 (`precision="fp32"`), batches of 4 and of 32;
- ONNX dynamic int8 of every matrix product (per channel, reduced range: the accurate setting on AVX2),
  quantised here from the exported model;
- the default embedder: the same int8 except the six feed-forward output projections, which stay fp32
  (the group whose quantisation costs most of the accuracy), and inputs under 120 characters in fp32;
  its batches run side by side, one per core, each on a one-thread session;
- the same graphs run one batch at a time, each matrix product split over every core (how the
  embedder ran before).
Then a sweep: the default against fp32 over about 6,000 sentences and questions of SciFact and SQuAD,
the lowest cosine by input length.
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
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from assistant.chunking import Chunker
from assistant.embedding import INT8_MIN_CHARS, Embedder, bundled_model_path
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


class SplitProducts(Embedder):
    """The embedder as it ran before: one batch at a time, each matrix product split over every core."""

    def __init__(self) -> None:
        super().__init__(threads=1)

    def _session(self, quantised: bool = False) -> Any:
        session = self._sessions.get(quantised)
        if session is None:
            import onnxruntime as ort

            options = ort.SessionOptions()
            options.intra_op_num_threads = len(os.sched_getaffinity(0))
            options.log_severity_level = 3
            path = self.int8_path if quantised else self.onnx_path
            session = self._sessions[quantised] = ort.InferenceSession(str(path), options)
        return session


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
    shipped = Embedder()  # the default precision: int8, with its fp32 exceptions
    fp32 = Embedder(precision="fp32")
    tokenizer = shipped._tokenizer
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from sentence_transformers import SentenceTransformer

    reference = SentenceTransformer(str(bundled_model_path()), device="cpu")
    with tempfile.TemporaryDirectory() as tmp:
        int8_path = Path(tmp) / "model-int8.onnx"
        quantize_dynamic(
            str(shipped.onnx_path), str(int8_path), weight_type=QuantType.QInt8, per_channel=True, reduce_range=True
        )
        int8 = Embedder(batch_size=4, precision="fp32")
        int8.__dict__["onnx_path"] = int8_path  # the cached property, pointed at the fully quantised graph
        big = Embedder(batch_size=32, precision="fp32")
        split = SplitProducts()
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
                ("ONNX fp32, batch 4 (`precision=fp32`)", fp32),
                ("ONNX fp32, batch 32", big),
                ("ONNX int8 dynamic, every product, batch 4", int8),
                ("ONNX int8 as the default, one batch at a time, products split over the cores", split),
                ("**ONNX int8, feed-forward outputs and short inputs fp32, batch 4 (default)**", shipped),
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
    sweep(shipped, fp32)
    return 0


def sweep(shipped: Embedder, fp32: Embedder) -> None:
    """The default embedder against fp32, by input length, over sentences and questions of two benchmarks."""
    rows: list[str] = []
    with DATA.open() as handle:
        for number, line in enumerate(handle):
            if number % 7 == 0:  # every seventh SciFact abstract, its first four sentences
                rows += re.split(r"(?<=[.?!])\s+", json.loads(line)["text"])[:4]
            if len(rows) > 1500:
                break
    squad = json.loads((DATA.parents[1] / "squad2" / "dev-half.json").read_text(encoding="utf-8"))["data"]
    for article in squad:
        for paragraph in article["paragraphs"][:15]:
            rows += re.split(r"(?<=[.?!])\s+", paragraph["context"])[:3]
            rows += [qa["question"] for qa in paragraph["qas"][:3]]
    with DATA.open() as handle:
        for number, line in enumerate(handle):
            if number % 7 == 3:  # other abstracts, their first six sentences (more of the longer ones)
                rows += re.split(r"(?<=[.?!])\s+", json.loads(line)["text"])[:6]
            if len(rows) > 6000:
                break
    lengths = np.array([len(row) for row in rows])
    pieces = np.array([sum(e.attention_mask) for e in shipped._tokenizer.encode_batch(rows)])
    cosine = (np.array(shipped.encode(rows)) * np.array(fp32.encode(rows))).sum(1)
    print(f"\nDefault against fp32 on {len(rows)} SciFact and SQuAD sentences and questions, by length:")
    print("| characters | texts | fewest wordpieces | lowest cosine | below 0.99 |")
    print("|---|---|---|---|---|")
    for shortest in sorted({0, 60, 120, INT8_MIN_CHARS, 300}):
        kept = lengths >= shortest
        print(
            f"| ≥ {shortest} | {kept.sum()} | {pieces[kept].min()} | {cosine[kept].min():.4f} | "
            f"{(cosine[kept] < 0.99).sum()} |"
        )


if __name__ == "__main__":
    raise SystemExit(main())
