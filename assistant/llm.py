"""Language model backends as LangChain chat models, and the boundary where their errors are wrapped.

- local: a GGUF file run by llama-cpp-python's OpenAI-compatible server in a supervised child
  process, behind `supervisor.LocalChat` (a crash of the model never takes this process down);
- openai: any OpenAI-compatible endpoint through `langchain_openai.ChatOpenAI`;
- ollama: an Ollama server through `langchain_ollama.ChatOllama`.

`stream_text` is the only place that calls a chat model: every failure (unreachable server, timeout,
HTTP error, a model file that does not load, empty output) leaves it as a `BackendError` with a
one-line message, which the pipeline turns into an extractive answer that says so.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.runnables import Runnable

from assistant import models
from assistant.errors import AssistantError, BackendError

if TYPE_CHECKING:
    from assistant.settings import LLMSettings


def build_chat_model(backend: str, llm: LLMSettings) -> BaseChatModel:
    """The chat model of `backend` (local, openai or ollama), configured from `llm`.

    Raises `BackendError` when it cannot be built (model not installed, package missing).
    """
    if backend == "local":
        try:
            path = models.resolve(llm.model)
        except AssistantError as exc:
            raise BackendError(str(exc)) from exc
        from assistant.supervisor import LocalChat

        return LocalChat(
            model_path=str(path),
            n_ctx=llm.context_window,
            n_threads=llm.threads,
            max_tokens=llm.max_new_tokens,
            temperature=llm.temperature,
            timeout=llm.timeout,
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
    Raises `BackendError` when the request fails (the clients' own timeouts included), when the gap
    between two chunks exceeds `timeout` seconds (checked as they arrive, for clients whose timeout
    covers only the connection), or when the reply is empty.
    """
    produced = False
    chunks: Iterator[Any] | None = None
    count = 0
    try:
        # Between chunks only: the wait for the first one is the client's own timeout (and, for the
        # local model, a child process that is starting is not yet answering).
        last: float | None = None
        chunks = runnable.stream(inputs)
        for chunk in chunks:
            now = time.monotonic()
            if last is not None and now - last > timeout:
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
        # Stop the generation now (and close the request), not when garbage is collected.
        close = getattr(chunks, "close", None)
        if close is not None:
            close()
    if not produced:
        raise BackendError(f"{where} returned an empty answer")
