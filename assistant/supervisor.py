"""The local model runs in a child process that this process starts, watches and restarts.

A native fault in llama.cpp (an illegal instruction, a segfault), running out of memory or a hang
would take the whole process down if the model ran in-process: the UI server, a chat, a script
calling `answer()`. So the `local` backend runs the model in a child (`local_server.py`,
llama-cpp-python's OpenAI-compatible server on a free loopback port) and talks to it through
LangChain's `ChatOpenAI`, exactly like the `openai` backend.

- `LocalChat` is the LangChain chat model of the `local` backend. Each request makes sure the child
  is up (starting it if it is not), then streams from it. When the child dies mid-answer (a signal,
  out of memory), stops answering for `timeout` seconds, or fails to load, the request raises
  `BackendError` with a one-line message, the child is killed if it still runs, and the pipeline
  answers extractively with that message in `Answer.fallback`. The next request starts a new child.
- One child per model file per process (`supervised`): every `LocalChat` on the same file shares it.
  A request with another context window or thread count restarts it with those.
- No orphans: the child exits when this process exits, however it exits (SIGKILL included),
  because it watches a pipe whose only writer is this process (see `local_server.py`). A normal
  exit also stops it at once (`atexit`).
"""

from __future__ import annotations

import atexit
import contextlib
import json
import selectors
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import httpx
from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models.chat_models import BaseChatModel, generate_from_stream
from langchain_core.messages import BaseMessage
from langchain_core.outputs import ChatGenerationChunk, ChatResult
from pydantic import PrivateAttr

from assistant.errors import BackendError

SERVER = Path(__file__).with_name("local_server.py")
MIN_START_SECONDS = 60.0  # loading a 1 GB model from a cold disk takes a few seconds; a short timeout must not fail it


def _signal_name(returncode: int) -> str:
    """'SIGILL' for a child killed by signal 4, else 'exit code N'."""
    if returncode < 0:
        with contextlib.suppress(ValueError):
            return signal.Signals(-returncode).name
        return f"signal {-returncode}"
    return f"exit code {returncode}"


class LocalModelProcess:
    """One llama.cpp server child for one model file: started on demand, restarted after it dies."""

    def __init__(self, model_path: str, *, n_ctx: int, threads: int) -> None:
        self.model_path = model_path
        self.n_ctx = n_ctx
        self.threads = threads
        self.starts = 0  # how many children this object has started (restarts = starts - 1)
        self._proc: subprocess.Popen[bytes] | None = None
        self._port = 0
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        """The model file's name, for messages."""
        return Path(self.model_path).name

    @property
    def pid(self) -> int | None:
        """The running child's process id, or None when no child runs."""
        proc = self._proc
        return proc.pid if proc is not None and proc.poll() is None else None

    def url(self, start_timeout: float) -> str:
        """The child's OpenAI-compatible base URL, starting the child first if none runs.

        Raises `BackendError` when the model does not load or the child does not report its port
        within `start_timeout` seconds (at least `MIN_START_SECONDS`).
        """
        with self._lock:
            if self._proc is None or self._proc.poll() is not None:
                self._start(max(start_timeout, MIN_START_SECONDS))
            return f"http://127.0.0.1:{self._port}/v1"

    def _start(self, deadline_s: float) -> None:
        """Start a child and wait for its handshake line; the caller holds the lock.

        A model path that is not a file is refused here, without a child. A child that has not
        reported within `deadline_s` is asked for its Python stack (SIGUSR1, see `local_server.py`)
        before it is killed, so that the one-line error says where it was stuck.
        """
        self._kill()
        if not Path(self.model_path).is_file():
            raise BackendError(f"the local model {self.name} did not load: no such file: {self.model_path}")
        command = [sys.executable, str(SERVER), "--model", self.model_path, "--n-ctx", str(self.n_ctx)]
        command += ["--threads", str(self.threads)]
        with tempfile.TemporaryFile() as errors:
            proc = subprocess.Popen(
                command,
                stdin=subprocess.PIPE,  # the child's lifeline: it exits when this end closes
                stdout=subprocess.PIPE,
                stderr=errors,
                start_new_session=True,  # a Ctrl-C meant for the terminal's foreground job is not the child's
            )
            self.starts += 1
            line = _read_line(proc.stdout, deadline_s) if proc.stdout is not None else b""
            if not line:
                timed_out = proc.poll() is None
                if timed_out:
                    with contextlib.suppress(OSError):
                        proc.send_signal(signal.SIGUSR1)  # the child writes its stack to stderr
                    with contextlib.suppress(subprocess.TimeoutExpired):
                        proc.wait(timeout=1)
                _kill(proc)
                errors.seek(0)
                tail = " ".join(errors.read().decode("utf-8", "replace").split())[-300:]
                if timed_out:
                    where = f": {tail}" if tail else ""
                    raise BackendError(f"the local model {self.name} did not start within {deadline_s:g} s{where}")
                how = _signal_name(proc.returncode)
                raise BackendError(f"the local model {self.name} did not load ({how}): {tail or 'no message'}")
        try:
            self._port = int(json.loads(line)["port"])
        except (ValueError, KeyError, TypeError) as exc:
            _kill(proc)
            raise BackendError(f"the local model process sent an unreadable handshake: {line[:80]!r}") from exc
        self._proc = proc

    def failure(self, exc: BaseException, timeout: float) -> BackendError:
        """The one-line error for a request that failed with `exc`; kills the child unless it is healthy.

        A child that died is reported with its signal; one that stopped answering (a timeout or a
        dropped connection while it still runs) is killed, so the next request starts afresh. An
        HTTP error from a live child (a prompt it refused) leaves it running.
        """
        with self._lock:
            proc = self._proc
            if proc is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=0.5)  # a connection dropped by a dying child: let it finish dying
            if proc is not None and proc.poll() is not None:
                self._proc = None
                return BackendError(
                    f"the local model process ({self.name}) died with {_signal_name(proc.returncode)}; "
                    "it restarts on the next question"
                )
            text = " ".join(str(exc).split()) or type(exc).__name__
            if isinstance(exc, httpx.TimeoutException) or "timed out" in text.lower() or "timeout" in text.lower():
                self._kill()
                return BackendError(f"the local model {self.name} timed out after {timeout:g} s; it was restarted")
            if isinstance(exc, httpx.TransportError) or "connect" in text.lower():
                self._kill()
                return BackendError(f"the local model {self.name} dropped the connection ({text[:120]})")
            return BackendError(f"the local model {self.name} failed: {type(exc).__name__}: {text[:160]}")

    def stop(self) -> None:
        """Stop the child if one runs."""
        with self._lock:
            self._kill()

    def _kill(self) -> None:
        if self._proc is not None:
            _kill(self._proc)
            self._proc = None


def _read_line(stream: IO[bytes], seconds: float) -> bytes:
    """One line from `stream`, or b"" when it closes or nothing arrives within `seconds`."""
    with selectors.DefaultSelector() as selector:
        selector.register(stream, selectors.EVENT_READ)
        if not selector.select(timeout=seconds):
            return b""
        return stream.readline()


def _kill(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL a child and reap it (it holds no state worth a graceful stop)."""
    if proc.poll() is None:
        proc.kill()
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=10)
    for stream in (proc.stdin, proc.stdout):
        if stream is not None:
            with contextlib.suppress(OSError):
                stream.close()


# The children of this process, by model file. A process-wide table on purpose: "one child per
# model per process" is a property of the process, not of any one Assistant or settings object.
_PROCESSES: dict[str, LocalModelProcess] = {}
_PROCESSES_LOCK = threading.Lock()


def supervised(model_path: str, *, n_ctx: int, threads: int) -> LocalModelProcess:
    """The child of this process for `model_path`, replaced (stopped) if it runs with another window or thread count."""
    key = str(Path(model_path).resolve())
    with _PROCESSES_LOCK:
        process = _PROCESSES.get(key)
        if process is None or (process.n_ctx, process.threads) != (n_ctx, threads):
            if process is not None:
                process.stop()
            process = _PROCESSES[key] = LocalModelProcess(key, n_ctx=n_ctx, threads=threads)
        return process


@atexit.register
def stop_all() -> None:
    """Stop every child of this process."""
    with _PROCESSES_LOCK:
        for process in _PROCESSES.values():
            process.stop()


class LocalChat(BaseChatModel):
    """The `local` backend: a GGUF model in a supervised child process, as a LangChain chat model."""

    model_path: str
    n_ctx: int = 4096
    n_threads: int = 0  # 0: every core
    max_tokens: int = 384
    temperature: float = 0.0
    timeout: float = 120.0  # seconds without a byte from the child before it counts as hung
    repeat_penalty: float = 1.1  # llama.cpp's completion default; its chat default (1.0) lets small models loop
    _clients: dict[str, Any] = PrivateAttr(default_factory=dict)

    @property
    def _llm_type(self) -> str:
        return "llama-cpp"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_path": self.model_path, "n_ctx": self.n_ctx, "temperature": self.temperature}

    @property
    def process(self) -> LocalModelProcess:
        """The child process this model's requests go to."""
        return supervised(self.model_path, n_ctx=self.n_ctx, threads=self.n_threads)

    def _client(self, url: str) -> Any:
        """The ChatOpenAI client for the child at `url` (one per URL: a restarted child has a new port)."""
        client = self._clients.get(url)
        if client is None:
            from langchain_openai import ChatOpenAI
            from pydantic import SecretStr

            self._clients.clear()
            client = self._clients[url] = ChatOpenAI(
                model=Path(self.model_path).name,
                base_url=url,
                api_key=SecretStr("local"),  # the child checks no key; the client refuses to start without one
                temperature=self.temperature,
                timeout=self.timeout,
                max_retries=0,  # a failed request means a dead or hung child: fall back, do not wait again
                # llama.cpp's server reads these two by these names (it ignores max_completion_tokens)
                extra_body={"max_tokens": self.max_tokens, "repeat_penalty": self.repeat_penalty},
            )
        return client

    def tokens(self, text: str) -> int:
        """How many of this model's tokens `text` is (asks the child, starting it if needed)."""
        return int(self._extras("tokenize/count", text)["count"])

    def token_ids(self, text: str) -> list[int]:
        """`text` as this model's token ids, with whatever the tokenizer puts first (a BOS token, if any)."""
        return [int(t) for t in self._extras("tokenize", text)["tokens"]]

    def _extras(self, endpoint: str, text: str) -> Any:
        process = self.process
        root = process.url(self.timeout).removesuffix("/v1")
        try:
            reply = httpx.post(f"{root}/extras/{endpoint}", json={"input": text}, timeout=self.timeout)
            reply.raise_for_status()
        except httpx.HTTPError as exc:
            raise process.failure(exc, self.timeout) from exc
        return reply.json()

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        process = self.process
        client = self._client(process.url(self.timeout))
        try:
            yield from client._stream(messages, stop=stop, run_manager=run_manager, **kwargs)
        except _request_errors() as exc:
            raise process.failure(exc, self.timeout) from exc

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return generate_from_stream(self._stream(messages, stop, run_manager, **kwargs))


def _request_errors() -> tuple[type[BaseException], ...]:
    """What a request to the child raises when the child fails (the HTTP client's and OpenAI client's errors)."""
    import openai

    return (httpx.HTTPError, openai.OpenAIError, OSError)
