"""The command line: ingest, ask (text and JSON), status, chat; errors are one line with exit code 1."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from assistant.cli import main
from assistant.models import model_path


@pytest.fixture
def cli_root(seed_root: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(seed_root)
    return seed_root


def test_ingest_then_status(cli_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`ingest` reports what it indexed; `status` then says the index is up to date."""
    assert main(["ingest", "--quiet"]) == 0
    assert "4 documents" in capsys.readouterr().out
    assert main(["status"]) == 0
    assert "up to date" in capsys.readouterr().out


def test_ask_json_prints_exactly_to_dict(cli_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`ask --json` prints the Answer's to_dict() and nothing else."""
    assert main(["ask", "How many healthy control subjects were in the magnetization transfer study?", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert "41" in data["answer"]
    assert data["citations"][0]["source"] == "magnetization-transfer-imaging-trd-radiology.txt"


def test_ask_text_lists_sources(cli_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Plain `ask` prints the answer and a numbered list of quoted sources."""
    assert main(["ask", "What side effects of ketamine does the Isha Health article mention?"]) == 0
    out = capsys.readouterr().out
    assert "Sources:" in out and "[1]" in out and "dissociation" in out


def test_caution_makes_the_answerer_abstain_more(cli_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`--caution highest` abstains on a question whose answer the normal level gives (its confidence is between)."""
    question = "What weaknesses did critics point out in the PET ketamine research?"
    assert main(["ask", "--json", question]) == 0
    assert not json.loads(capsys.readouterr().out)["abstained"]
    assert main(["--caution", "highest", "ask", "--json", question]) == 0
    assert json.loads(capsys.readouterr().out)["abstained"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [(["ask", ""], "empty"), (["ask", "x" * 5000], "limit"), (["--corpus", "nowhere", "ask", "hi"], "does not exist")],
)
def test_errors_are_one_line_and_exit_1(
    cli_root: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    """Bad input prints one `error:` line on stderr and exits 1."""
    assert main(argv) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and message in err and "\n" not in err


def test_empty_corpus_exits_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """An empty corpus folder is a one-line error, not a traceback."""
    (tmp_path / "corpus").mkdir()
    monkeypatch.chdir(tmp_path)
    assert main(["ask", "What is MTR?"]) == 1
    assert "no readable documents" in capsys.readouterr().err


def test_chat_keeps_the_conversation(cli_root: Path) -> None:
    """`chat` answers a follow-up in context and survives an empty line and an error."""
    stdin = io.StringIO(
        "What did the magnetization transfer imaging study of depression find?\n\n"
        "How many healthy controls were in it?\n/clear\n/quit\n"
    )
    stdout = io.StringIO()
    assert main(["chat"], stdin=stdin, stdout=stdout) == 0
    out = stdout.getvalue()
    assert "41 healthy control subjects" in out
    assert "conversation cleared" in out


@pytest.mark.llm
@pytest.mark.skipif(not model_path("smollm2-135m").is_file(), reason="run `assistant models install smollm2-135m`")
def test_ask_and_chat_stream_a_local_model_answer(cli_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With --answerer local, tokens are printed as they arrive, then the checked answer or a one-line fallback."""
    monkeypatch.setenv("ASSISTANT_LLM__MODEL", "smollm2-135m")
    monkeypatch.setenv("ASSISTANT_LLM__CONTEXT_WINDOW", "2048")
    monkeypatch.setenv("ASSISTANT_LLM__MAX_NEW_TOKENS", "32")
    writes: list[str] = []

    class Recording(io.StringIO):
        def write(self, text: str) -> int:
            writes.append(text)
            return super().write(text)

    stdout = Recording()
    assert main(["--answerer", "local", "ask", "How many healthy controls were in the study?"], stdout=stdout) == 0
    assert len(writes) > 3  # streamed piece by piece, not printed at once
    out = stdout.getvalue()
    assert any(end in out for end in ("Sources:", "Note:", "Related passages"))
    stdin = io.StringIO("What did the magnetization transfer study find?\nHow many controls were in it?\n/quit\n")
    chat = io.StringIO()
    assert main(["--answerer", "local", "chat"], stdin=stdin, stdout=chat) == 0
    assert sum(chat.getvalue().count(end) for end in ("Sources:", "Note:", "Related passages")) >= 2


@pytest.mark.llm
@pytest.mark.skipif(not model_path("smollm2-135m").is_file(), reason="run `assistant models install smollm2-135m`")
def test_ask_with_a_local_verifier_checks_the_answer(cli_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """--verifier local runs the local model on the extractive answer: it keeps it, abstains, or says it could not."""
    monkeypatch.setenv("ASSISTANT_LLM__MODEL", "smollm2-135m")
    monkeypatch.setenv("ASSISTANT_LLM__CONTEXT_WINDOW", "2048")
    stdout = io.StringIO()
    question = "How many healthy controls were in the study?"
    assert main(["--verifier", "local", "ask", "--json", question], stdout=stdout) == 0
    result = json.loads(stdout.getvalue())
    assert "verify" in result["timings_ms"]
    if result["abstained"]:
        assert "verifier" in result["reason"] and not result["citations"]
    else:
        assert result["citations"]
        assert all(w.startswith("not verified") for w in result["warnings"])


def test_the_package_imports_its_parts_on_first_use() -> None:
    """`import assistant` loads neither Chroma nor the answerer; its public names still resolve, lazily."""
    import subprocess
    import sys

    code = (
        "import sys, assistant\n"
        "print('chromadb' in sys.modules, 'assistant.pipeline' in sys.modules)\n"
        "from assistant import Answer, Assistant, AssistantError, Citation, IngestReport, Settings, answer\n"
        "import assistant.pipeline as p, assistant.errors as e\n"
        "print(Assistant is p.Assistant, answer is p.answer, AssistantError is e.AssistantError,\n"
        "      callable(assistant.build_index))\n"
        "print(sorted(set(assistant.__all__) - set(dir(assistant))))\n"
        "try:\n"
        "    assistant.no_such_name\n"
        "except AttributeError as exc:\n"
        "    print(exc)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert done.stdout.splitlines() == [
        "False False",
        "True True True True",
        "[]",
        "module 'assistant' has no attribute 'no_such_name'",
    ]


def test_the_model_loads_beside_the_index_and_errors_still_surface(
    cli_root: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The CLI loads the embedder on a thread; a model that cannot load fails the command with one line."""
    assert main(["ingest", "--quiet"]) == 0
    capsys.readouterr()
    monkeypatch.setattr("assistant.embedding.bundled_model_path", lambda: cli_root / "no-model-here")
    (cli_root / "corpus" / "extra.md").write_text("An extra document.\n\nIt has one sentence to embed.\n")
    assert main(["ingest", "--quiet"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: embedding model not found") and "\n" not in err


def test_main_leaves_the_process_alone(cli_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`main`, which scripts and host applications call, neither refuses httpx's tool nor patches `overrides`."""
    import sys

    import overrides

    assert main(["ingest", "--quiet"]) == 0
    assert main(["status"]) == 0
    capsys.readouterr()
    assert overrides.override.__module__ == "overrides.overrides"
    assert sys.modules.get("httpx._main", "absent") is not None


def test_the_command_exits_with_its_code_and_prints_everything(cli_root: Path) -> None:
    """`python -m assistant` (entry: exit handlers, then os._exit) keeps its exit code and its output."""
    import subprocess
    import sys

    def command(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "assistant", *args],
            check=False,
            capture_output=True,
            text=True,
            timeout=300,
            cwd=cli_root,
        )

    done = command("ask", "How many healthy controls were in the study?")
    assert done.returncode == 0, done.stderr
    assert "Sources:" in done.stdout and "[1]" in done.stdout
    failed = command("ask", "   ")
    assert failed.returncode == 1
    assert failed.stderr.startswith("error: the question is empty")
