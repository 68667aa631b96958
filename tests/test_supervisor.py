"""The local model in a supervised child: crashes, hangs and bad model files fall back; no orphans; a portable build."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from assistant import supervisor
from assistant.embedding import Embedder
from assistant.errors import BackendError
from assistant.llm import stream_text
from assistant.models import model_path
from assistant.pipeline import Assistant
from assistant.records import Answer
from assistant.settings import AnsweringSettings, LLMSettings
from assistant.supervisor import LocalChat, supervised
from assistant.ui import ChatHandler
from tests.conftest import REPO, make_settings

SMOLLM = model_path("smollm2-135m")
needs_smollm = pytest.mark.skipif(not SMOLLM.is_file(), reason="run `assistant models install smollm2-135m`")
QUESTION = "How many glowing otoliths did the harbor lantern survey count?"
N_CTX = 1024


@pytest.fixture(scope="module")
def indexed(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Assistant:
    """An Assistant over one small document, index built."""
    root = tmp_path_factory.mktemp("supervised")
    (root / "corpus").mkdir()
    (root / "corpus" / "lantern.txt").write_text(
        "Harbor lantern survey\n\nThe harbor lantern survey counted 42 glowing otoliths in the north tank. "
        "The survey team cleaned the tanks every spring and logged each lantern by hand.\n",
        encoding="utf-8",
    )
    assistant = Assistant(make_settings(root), embedder=embedder)
    assistant.ingest(progress=False)
    return assistant


def local(indexed: Assistant, model: Path = SMOLLM, **llm: object) -> Assistant:
    """An Assistant over the same index answering with the local backend on `model`."""
    options: dict[str, object] = {"context_window": N_CTX, "max_new_tokens": 96, **llm}
    settings = indexed.settings.model_copy(
        update={
            "answering": AnsweringSettings(answerer="local"),
            "llm": LLMSettings(model=str(model), **options),  # type: ignore[arg-type]
        }
    )
    return Assistant(settings, embedder=indexed.embedder, store=indexed.store)


def child_pid() -> int:
    """The running child of the SmolLM2 model (fails the test when none runs)."""
    pid = supervised(str(SMOLLM), n_ctx=N_CTX, threads=0).pid
    assert pid is not None, "no local model child is running"
    return pid


def gone(pid: int, within: float) -> bool:
    """Whether process `pid` no longer runs (or is a zombie) within `within` seconds."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            return True
        if state in {"Z", "X"}:
            return True
        time.sleep(0.1)
    return False


def stream_and_signal(assistant: Assistant, *signals: signal.Signals) -> tuple[list[str], Answer, int]:
    """Stream QUESTION; at the first delta, freeze the child (SIGSTOP) and send it `signals`, then let it go on."""
    deltas: list[str] = []
    result: Answer | None = None
    pid = 0
    for item in assistant.stream(QUESTION):
        if isinstance(item, Answer):
            result = item
            continue
        if not deltas:
            pid = child_pid()
            os.kill(pid, signal.SIGSTOP)  # mid-answer, before it can send the rest
            for sig in signals:
                os.kill(pid, sig)
            if signals:
                os.kill(pid, signal.SIGCONT)
        deltas.append(item)
    assert result is not None
    return deltas, result, pid


def assert_recovers(assistant: Assistant, dead_pid: int) -> None:
    """The next question starts a new child and gets a local answer (or the checker's ordinary fallback)."""
    result = assistant.answer(QUESTION)
    assert child_pid() != dead_pid
    assert result.answerer == "local" or "no passage supports" in result.fallback, result.fallback
    assert "died" not in result.fallback


@pytest.mark.llm
@needs_smollm
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGILL], ids=["SIGKILL", "SIGILL"])
def test_child_killed_mid_answer_falls_back_then_recovers(indexed: Assistant, sig: signal.Signals) -> None:
    """A child killed mid-answer: a one-line fallback naming the signal; the next answer restarts it."""
    assistant = local(indexed)
    deltas, result, pid = stream_and_signal(assistant, sig)
    assert deltas
    assert gone(pid, 5)
    assert result.answerer == "extractive"
    assert f"died with {sig.name}" in result.fallback
    assert "\n" not in result.fallback
    assert "42" in result.text
    assert_recovers(assistant, pid)


@pytest.mark.llm
@needs_smollm
def test_chat_ui_survives_a_child_that_dies_and_answers_again(indexed: Assistant) -> None:
    """In the web UI, a child dying with SIGILL mid-answer gives a noted extractive answer; the chat goes on."""
    handler = ChatHandler(local(indexed), stream_delay=0)
    killed = 0
    outputs = []
    for output in handler.respond(QUESTION, [], []):
        outputs.append(output)
        if not killed and output[0][-1]["content"].endswith("▍"):  # the first streamed token is on screen
            killed = child_pid()
            for sig in (signal.SIGSTOP, signal.SIGILL, signal.SIGCONT):  # frozen first: it cannot finish the answer
                os.kill(killed, sig)
    chat, _panel, turns, _box = outputs[-1]
    assert killed
    assert "died with SIGILL" in chat[-1]["content"]
    assert "42" in chat[-1]["content"]
    assert turns[-1].answer.answerer == "extractive"
    chat, _panel, turns, _box = list(handler.respond("Who logged each lantern?", chat, turns))[-1]
    assert len(turns) == 2
    assert "died" not in chat[-1]["content"]
    assert child_pid() != killed


@pytest.mark.llm
@needs_smollm
def test_hung_child_times_out_is_killed_and_replaced(indexed: Assistant) -> None:
    """A child that stops answering is given up after the timeout and killed; the next question starts a new one."""
    assistant = local(indexed, timeout=3)
    started = time.monotonic()
    _, result, pid = stream_and_signal(assistant)  # SIGSTOP only: the child hangs
    assert time.monotonic() - started < 30
    assert result.answerer == "extractive"
    assert "timed out after 3 s" in result.fallback
    assert gone(pid, 5)
    assert_recovers(local(indexed), pid)  # the default timeout: a busy machine may need more than 3 s to answer


@pytest.mark.llm
def test_model_that_does_not_load_falls_back_with_the_reason(indexed: Assistant, tmp_path: Path) -> None:
    """A file that is not a GGUF model: the child exits, the answer is extractive with a one-line 'did not load'."""
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF" + b"\x00" * 64)
    result = local(indexed, model=broken).answer(QUESTION)
    assert result.answerer == "extractive"
    assert "did not load" in result.fallback
    assert "\n" not in result.fallback
    assert supervised(str(broken), n_ctx=N_CTX, threads=0).pid is None


@pytest.mark.llm
@needs_smollm
def test_one_child_per_model_shared_by_chat_models() -> None:
    """Two chat models on one file use one child; the wrapper streams several chunks and invokes."""
    first = LocalChat(model_path=str(SMOLLM), n_ctx=N_CTX, max_tokens=16)
    second = LocalChat(model_path=str(SMOLLM), n_ctx=N_CTX, max_tokens=8)
    chunks = list(stream_text(first, "Name a colour.", timeout=60))
    assert len(chunks) > 1
    assert "".join(chunks).strip()
    assert str(second.invoke("Say hello.").content).strip()
    assert first.process is second.process
    assert first.process.pid == child_pid()
    assert first.tokens("Say hello.") > 1


@pytest.mark.llm
@needs_smollm
def test_concurrent_requests_take_turns_instead_of_cutting_each_other_short() -> None:
    """Two answers streamed at once from one child each run to their end, as long as when asked alone."""
    chat = LocalChat(model_path=str(SMOLLM), n_ctx=N_CTX, max_tokens=40)
    prompts = ["Count from one to twenty in words.", "List ten colours, one per line."]
    alone = ["".join(stream_text(chat, prompt, timeout=60)) for prompt in prompts]
    together: dict[int, str] = {}

    def ask(i: int) -> None:
        together[i] = "".join(stream_text(chat, prompts[i], timeout=60))

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    # Not compared for equality: greedy decoding of a 135M model can take another path when the
    # server's prompt cache holds the other request's prefix. An answer cut short by the other
    # request stops within a few tokens of its start.
    for i, text in enumerate(alone):
        assert len(together.get(i) or "") >= 0.5 * len(text), (together, alone)


PARENT = textwrap.dedent(
    """
    import sys, time
    sys.path.insert(0, {repo!r})
    from assistant.supervisor import LocalChat
    chat = LocalChat(model_path={model!r}, n_ctx=512)
    chat.tokens("start")
    print(chat.process.pid, flush=True)
    time.sleep(600)
    """
)


@pytest.mark.llm
@needs_smollm
def test_no_orphan_after_the_parent_is_killed(tmp_path: Path) -> None:
    """SIGKILL the process that started a model child: the child exits too."""
    script = tmp_path / "parent.py"
    script.write_text(PARENT.format(repo=str(REPO), model=str(SMOLLM)), encoding="utf-8")
    parent = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout is not None
        pid = int(parent.stdout.readline())
        assert not gone(pid, 0.5)
        parent.kill()
        parent.wait(timeout=10)
        assert gone(pid, 10), f"model child {pid} outlived its parent"
    finally:
        parent.kill()


def test_missing_model_file_is_a_backend_error_without_a_child(tmp_path: Path) -> None:
    """A model path that is not a file: BackendError at once, one line, no child started."""
    process = supervised(str(tmp_path / "nothing.gguf"), n_ctx=512, threads=1)
    started = time.monotonic()
    with pytest.raises(BackendError, match="did not load: no such file") as caught:
        process.url(5)
    assert time.monotonic() - started < 1
    assert "\n" not in str(caught.value)
    assert process.pid is None
    assert process.starts == 0


def test_child_that_never_reports_is_killed_with_its_stack_in_the_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A child stuck before its handshake is killed at the deadline; the one-line error says where it was."""
    stuck = tmp_path / "stuck_server.py"
    stuck.write_text(
        "import faulthandler, signal, time\n"
        "faulthandler.register(signal.SIGUSR1)\n"
        "def loading_forever():\n"
        "    time.sleep(600)\n"
        "loading_forever()\n",
        encoding="utf-8",
    )
    model = tmp_path / "model.gguf"
    model.write_bytes(b"GGUF")
    monkeypatch.setattr(supervisor, "SERVER", stuck)
    process = supervisor.LocalModelProcess(str(model), n_ctx=512, threads=1)
    with pytest.raises(BackendError, match="did not start within 2 s") as caught:
        process._start(2)
    assert "loading_forever" in str(caught.value)
    assert "\n" not in str(caught.value)
    assert process.pid is None


def llama_libraries() -> Iterator[Path]:
    """The native libraries of the installed llama-cpp-python."""
    import llama_cpp

    yield from Path(llama_cpp.__file__).parent.glob("lib/*.so*")


@pytest.mark.skipif(shutil.which("objdump") is None, reason="needs objdump (binutils) to read the build")
def test_llama_cpp_build_is_portable() -> None:
    """The installed llama.cpp has no AVX-512 or AMX instructions (it must run on every x86-64-v3 machine)."""
    if os.uname().machine != "x86_64":
        pytest.skip("the portable flags are for x86-64")
    libraries = sorted({path.resolve() for path in llama_libraries() if "ggml" in path.name})
    assert libraries, "llama-cpp-python's ggml libraries not found"
    for library in libraries:
        listing = subprocess.run(
            ["objdump", "-d", "--no-show-raw-insn", str(library)], capture_output=True, text=True, check=False
        )
        assert listing.returncode == 0, listing.stderr
        for register in ("%zmm", "%tmm", "%k1"):
            assert register not in listing.stdout, f"{library.name} uses {register} (AVX-512 or AMX)"
