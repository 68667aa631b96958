"""Chat model backends: a real OpenAI-compatible server, Ollama, and failures (the local model: test_supervisor.py)."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_ollama import ChatOllama
from langchain_openai import ChatOpenAI

from assistant.embedding import Embedder
from assistant.errors import BackendError
from assistant.llm import build_chat_model, stream_text
from assistant.models import model_path
from assistant.pipeline import Assistant
from assistant.settings import AnsweringSettings, LLMSettings, OllamaSettings, OpenAISettings
from scripts._browser import free_port
from tests.conftest import make_settings

SMOLLM = model_path("smollm2-135m")
QUESTION = "How many glowing otoliths did the harbor lantern survey count?"


@pytest.fixture(scope="module")
def indexed(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Assistant:
    """An Assistant over one small document, index built."""
    root = tmp_path_factory.mktemp("llm")
    (root / "corpus").mkdir()
    (root / "corpus" / "lantern.txt").write_text(
        "Harbor lantern survey\n\nThe harbor lantern survey counted 42 glowing otoliths in the north tank.\n",
        encoding="utf-8",
    )
    assistant = Assistant(make_settings(root), embedder=embedder)
    assistant.ingest(progress=False)
    return assistant


def backend(indexed: Assistant, name: str, **llm: object) -> Assistant:
    """An Assistant over the same index with the `name` backend configured."""
    settings = indexed.settings.model_copy(
        update={"answering": AnsweringSettings(answerer=name), "llm": LLMSettings(**llm)}  # type: ignore[arg-type]
    )
    return Assistant(settings, embedder=indexed.embedder, store=indexed.store)


@pytest.fixture(scope="module")
def openai_server() -> Iterator[str]:
    """llama-cpp-python's OpenAI-compatible server with SmolLM2 on a loopback port; yields its /v1 URL."""
    if not SMOLLM.is_file():
        pytest.skip("run `assistant models install smollm2-135m`")
    port = free_port()
    command = [sys.executable, "-m", "llama_cpp.server", "--model", str(SMOLLM), "--host", "127.0.0.1"]
    command += ["--port", str(port), "--n_ctx", "2048"]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/models", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail("llama_cpp.server did not start")
            time.sleep(0.3)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_chat_models_are_built_from_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """openai and ollama get their URL, model, timeout and token limit; the API key may come from OPENAI_API_KEY."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env")
    llm = LLMSettings(
        timeout=7,
        max_new_tokens=99,
        openai=OpenAISettings(base_url="http://127.0.0.1:9/v1", model="m1"),
        ollama=OllamaSettings(base_url="http://127.0.0.1:9", model="m2"),
    )
    openai = build_chat_model("openai", llm)
    assert isinstance(openai, ChatOpenAI)
    assert (openai.model_name, openai.openai_api_base, openai.request_timeout) == ("m1", "http://127.0.0.1:9/v1", 7)
    assert openai.openai_api_key is not None
    assert openai.openai_api_key.get_secret_value() == "sk-from-env"
    ollama = build_chat_model("ollama", llm)
    assert isinstance(ollama, ChatOllama)
    assert (ollama.model, ollama.base_url, ollama.num_predict) == ("m2", "http://127.0.0.1:9", 99)
    with pytest.raises(BackendError, match="not found"):
        build_chat_model("local", LLMSettings(model="/nowhere/model.gguf"))


def test_unreachable_ollama_is_one_line_and_falls_back(indexed: Assistant) -> None:
    """No Ollama server: the answer is extractive, with a one-line note saying the server is unreachable."""
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(BackendError, match="unreachable") as caught:
        list(stream_text(build_chat_model("ollama", LLMSettings(ollama=OllamaSettings(base_url=url))), "hi", timeout=5))
    assert "\n" not in str(caught.value)
    result = backend(indexed, "ollama", ollama=OllamaSettings(base_url=url)).answer(QUESTION)
    assert result.answerer == "extractive"
    assert "unreachable" in result.fallback
    assert "\n" not in result.fallback
    assert result.citations


def test_stream_stops_after_the_chunk_limit_and_empty_replies_are_errors() -> None:
    """A server that ignores the token limit is cut off; a blank reply is a BackendError."""
    assert "".join(stream_text(FakeListChatModel(responses=["abcdef"]), "x", timeout=5, max_chunks=3)) == "abc"
    with pytest.raises(BackendError, match="empty answer"):
        list(stream_text(FakeListChatModel(responses=[" \n "]), "x", timeout=5))


@pytest.mark.llm
def test_openai_backend_end_to_end_against_a_real_server(indexed: Assistant, openai_server: str) -> None:
    """Tokens stream from the server; the final Answer is generated and checked, or an extractive fallback."""
    assistant = backend(indexed, "openai", max_new_tokens=48, openai=OpenAISettings(base_url=openai_server))
    items = list(assistant.stream(QUESTION))
    deltas = [i for i in items if isinstance(i, str)]
    result = items[-1]
    assert not isinstance(result, str)
    assert len(deltas) > 1
    assert result.answerer in {"openai", "extractive"}
    assert result.answerer == "openai" or "no passage supports" in result.fallback
    text = (indexed.settings.corpus / "lantern.txt").read_text(encoding="utf-8")
    assert all(text[c.start : c.end] == c.text for c in result.citations)


@pytest.mark.llm
def test_openai_request_that_times_out_falls_back(indexed: Assistant, openai_server: str) -> None:
    """A tiny request timeout gives a one-line 'timed out' note on the extractive answer."""
    assistant = backend(indexed, "openai", timeout=0.001, openai=OpenAISettings(base_url=openai_server))
    started = time.monotonic()
    result = assistant.answer(QUESTION)
    assert time.monotonic() - started < 30
    assert result.answerer == "extractive"
    assert "timed out" in result.fallback
    assert "\n" not in result.fallback
    assert "42" in result.text


def test_models_folder_can_be_pointed_elsewhere(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """ASSISTANT_MODELS_DIR decides where a model name is looked up, with a hint to install it."""
    monkeypatch.setenv("ASSISTANT_MODELS_DIR", str(tmp_path))
    with pytest.raises(BackendError, match="models install smollm2-135m"):
        build_chat_model("local", LLMSettings(model="smollm2-135m"))
