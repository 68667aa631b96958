"""Language model backends as LangChain chat models, and the boundary where their errors are wrapped.

- local: a GGUF file run in-process by llama-cpp-python, behind `LlamaCppChat`, a small
  `BaseChatModel` over `Llama.create_chat_completion` (streaming included);
- openai: any OpenAI-compatible endpoint through `langchain_openai.ChatOpenAI`;
- ollama: an Ollama server through `langchain_ollama.ChatOllama`.

`stream_text` is the only place that calls a chat model: every failure (unreachable server, timeout,
HTTP error, a model file that does not load, empty output) leaves it as a `BackendError` with a
one-line message, which the pipeline turns into an extractive answer that says so.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models.chat_models import BaseChatModel, generate_from_stream
from langchain_core.messages import AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable
from pydantic import ConfigDict, PrivateAttr

from assistant import models
from assistant.errors import AssistantError, BackendError

if TYPE_CHECKING:
    from llama_cpp import Llama

    from assistant.settings import LLMSettings

_ROLES = {"human": "user", "ai": "assistant", "system": "system", "user": "user", "assistant": "assistant"}


class LlamaCppChat(BaseChatModel):
    """A GGUF model run in-process by llama-cpp-python, as a LangChain chat model.

    The model loads on first use. One `Llama` is not safe to use from two threads, so generations
    take turns (the UI's concurrent chats queue here).
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    model_path: str
    n_ctx: int = 4096
    n_threads: int = 0  # 0: every core
    max_tokens: int = 384
    temperature: float = 0.0
    repeat_penalty: float = 1.1  # llama.cpp's completion default; its chat default (1.0) lets small models loop
    _llama: Llama | None = PrivateAttr(default=None)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    @property
    def _llm_type(self) -> str:
        return "llama-cpp"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_path": self.model_path, "n_ctx": self.n_ctx, "temperature": self.temperature}

    def tokens(self, text: str) -> int:
        """How many of this model's tokens `text` is (loads the model)."""
        with self._lock:
            return len(self._load().tokenize(text.encode(), add_bos=False, special=True))

    def _load(self) -> Llama:
        """The loaded model; callers hold the lock."""
        if self._llama is None:
            # Spinning OpenMP threads slow llama.cpp down badly on busy cores (see embedding.py, which
            # sets the same before torch loads); libgomp reads this once, when it is first loaded.
            os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
            from llama_cpp import Llama

            self._llama = Llama(
                model_path=self.model_path,
                n_ctx=self.n_ctx,
                n_threads=self.n_threads or os.cpu_count() or 1,
                seed=0,
                verbose=False,
            )
        return self._llama

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        chat = [{"role": _ROLES.get(m.type, "user"), "content": str(m.text)} for m in messages]
        with self._lock:
            llama = self._load()
            stream = llama.create_chat_completion(
                messages=chat,  # type: ignore[arg-type]
                stream=True,
                max_tokens=kwargs.get("max_tokens", self.max_tokens),
                temperature=self.temperature,
                repeat_penalty=self.repeat_penalty,
                stop=stop or [],
            )
            for part in stream:
                choice = part["choices"][0]  # type: ignore[index]
                delta = str(choice.get("delta", {}).get("content") or "")  # type: ignore[union-attr]
                finish = choice.get("finish_reason")  # type: ignore[union-attr]
                if not delta and not finish:
                    continue
                info = {"finish_reason": finish} if finish else None
                chunk = ChatGenerationChunk(message=AIMessageChunk(content=delta), generation_info=info)
                if run_manager and delta:
                    run_manager.on_llm_new_token(delta, chunk=chunk)
                yield chunk

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return generate_from_stream(self._stream(messages, stop, run_manager, **kwargs))


def build_chat_model(backend: str, llm: LLMSettings) -> BaseChatModel:
    """The chat model of `backend` (local, openai or ollama), configured from `llm`.

    Raises `BackendError` when it cannot be built (model not installed, package missing).
    """
    if backend == "local":
        try:
            path = models.resolve(llm.model)
        except AssistantError as exc:
            raise BackendError(str(exc)) from exc
        return LlamaCppChat(
            model_path=str(path),
            n_ctx=llm.context_window,
            n_threads=llm.threads,
            max_tokens=llm.max_new_tokens,
            temperature=llm.temperature,
        )
    if backend == "openai":
        from langchain_openai import ChatOpenAI
        from pydantic import SecretStr

        # A local server accepts any key; the client refuses to start without one.
        key = llm.openai.api_key.get_secret_value() or os.environ.get("OPENAI_API_KEY") or "unused"
        return ChatOpenAI(
            model=llm.openai.model,
            base_url=llm.openai.base_url,
            api_key=SecretStr(key),
            temperature=llm.temperature,
            max_completion_tokens=llm.max_new_tokens,
            timeout=llm.timeout,
            max_retries=llm.retries,
        )
    if backend == "ollama":
        from langchain_ollama import ChatOllama

        return ChatOllama(
            model=llm.ollama.model,
            base_url=llm.ollama.base_url,
            temperature=llm.temperature,
            num_predict=llm.max_new_tokens,
            num_ctx=llm.context_window,
            client_kwargs={"timeout": llm.timeout},
        )
    raise BackendError(f"unknown answerer backend {backend!r}: choose local, openai or ollama")


def describe(model: BaseChatModel) -> str:
    """A short name for a chat model in messages: its type and model name or file."""
    name = getattr(model, "model_name", None) or getattr(model, "model", None) or getattr(model, "model_path", "")
    return f"{model._llm_type} {Path(str(name)).name}".strip()


def _error_types() -> tuple[type[BaseException], ...]:
    """Exceptions a backend raises for a failed request (only the installed packages' ones)."""
    types: list[type[BaseException]] = [OSError, TimeoutError, ValueError, RuntimeError]
    try:
        import httpx

        types.append(httpx.HTTPError)
    except ImportError:  # pragma: no cover - httpx comes with every backend
        pass
    try:
        import openai

        types.append(openai.OpenAIError)
    except ImportError:  # pragma: no cover
        pass
    try:
        import ollama

        types.append(ollama.ResponseError)
    except ImportError:  # pragma: no cover
        pass
    return tuple(types)


def one_line(exc: BaseException, where: str, timeout: float) -> str:
    """A one-line description of a backend failure."""
    name = type(exc).__name__
    text = " ".join(str(exc).split()) or name
    if "timeout" in name.lower() or "timed out" in text.lower():
        return f"{where} timed out after {timeout:g} s"
    if "connect" in name.lower() or "connect" in text.lower():
        return f"{where} is unreachable ({text[:120]})"
    return f"{where} failed: {name}: {text[:160]}"


def stream_text(
    runnable: Runnable[Any, Any],
    inputs: Any,
    *,
    timeout: float,
    where: str = "the language model",
    max_chunks: int | None = None,
) -> Iterator[str]:
    """The text `runnable` (a chat model, or a chain ending in one) streams for `inputs`, as deltas.

    `max_chunks` stops reading after that many deltas (each holds at least one token): some
    OpenAI-compatible servers ignore the token limit ChatOpenAI sends (`max_completion_tokens`).
    Raises `BackendError` when the request fails, when no token arrives for `timeout` seconds (the
    local model cannot be interrupted mid-token, so this is checked as tokens arrive), or when the
    reply is empty.
    """
    produced = False
    chunks: Iterator[Any] | None = None
    count = 0
    try:
        last = time.monotonic()
        chunks = runnable.stream(inputs)
        for chunk in chunks:
            now = time.monotonic()
            if now - last > timeout:
                raise BackendError(f"{where} timed out after {timeout:g} s")
            last = now
            text = chunk if isinstance(chunk, str) else str(getattr(chunk, "text", ""))
            if text:
                produced = produced or bool(text.strip())
                yield text
            count += 1
            if max_chunks is not None and count >= max_chunks:
                break
    except BackendError:
        raise
    except _error_types() as exc:
        raise BackendError(one_line(exc, where, timeout)) from exc
    finally:
        # Stop the generation now (and release the local model's lock), not when garbage is collected.
        close = getattr(chunks, "close", None)
        if close is not None:
            close()
    if not produced:
        raise BackendError(f"{where} returned an empty answer")
