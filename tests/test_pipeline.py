"""answer(): the public contract, input validation and automatic index maintenance."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from assistant import Answer, Citation, answer
from assistant.errors import CorpusError, QuestionError
from assistant.pipeline import Assistant
from tests.conftest import make_settings


def test_contract_of_answer(seed_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """answer() builds the missing index itself and returns an Answer whose to_dict is JSON-ready."""
    monkeypatch.chdir(seed_root)
    result = answer(
        "How many healthy controls were in the study?",
        history=[{"role": "user", "content": "Tell me about the magnetization transfer imaging study."}],
    )
    assert isinstance(result, Answer)
    assert isinstance(result.citations[0], Citation)
    data = json.loads(json.dumps(result.to_dict()))
    assert {"question", "answer", "abstained", "citations"} <= data.keys()
    assert set(data["citations"][0]) == {"number", "source", "title", "text", "start", "end"}
    assert data["answer"] == result.text and data["abstained"] is False
    assert (seed_root / "index").is_dir()


@pytest.mark.parametrize(
    ("question", "message"),
    [("", "empty"), ("   \n", "empty"), ("x" * 1_000_000, "limit"), (None, "must be text")],
)
def test_bad_questions_are_clear_errors(seed_assistant: Assistant, question: object, message: str) -> None:
    """Empty, over-long and non-text questions raise QuestionError with a one-line message."""
    with pytest.raises(QuestionError, match=message) as caught:
        seed_assistant.answer(question)  # type: ignore[arg-type]
    assert "\n" not in str(caught.value)


def test_bad_history_is_a_clear_error(seed_assistant: Assistant) -> None:
    """History that is not role/content messages raises QuestionError."""
    with pytest.raises(QuestionError, match="role"):
        seed_assistant.answer("What is MTR?", history=[{"role": "bot", "content": "hi"}])
    with pytest.raises(QuestionError, match="list"):
        seed_assistant.answer("What is MTR?", history="not a list")  # type: ignore[arg-type]


def test_stale_index_is_updated_before_answering(seed_root: Path, make_assistant: Callable[..., Assistant]) -> None:
    """A document added after the index was built is indexed and used by the next answer."""
    assistant = make_assistant(seed_root)
    assistant.ingest(progress=False)
    (seed_root / "corpus" / "zebrafish.txt").write_text(
        "Zebrafish Ketamine Study\n\nResearchers exposed 28 zebrafish larvae to ketamine and recorded their swimming.\n"
    )
    result = assistant.answer("How many zebrafish larvae were exposed to ketamine?")
    assert "28 zebrafish larvae" in result.text
    assert result.citations[0].source == "zebrafish.txt"


def test_missing_corpus_is_a_clear_error(tmp_path: Path, embedder: object) -> None:
    """No corpus folder: CorpusError saying what to create."""
    assistant = Assistant(make_settings(tmp_path), embedder=embedder)  # type: ignore[arg-type]
    with pytest.raises(CorpusError, match="does not exist"):
        assistant.answer("What is MTR?")


def test_answers_carry_the_index_fingerprint_and_timings(seed_assistant: Assistant) -> None:
    """Each answer is stamped with the fingerprint of the index it came from."""
    result = seed_assistant.answer("What is MTR?")
    assert result.index_fingerprint == seed_assistant.indexer.fingerprint
    assert result.timings["total"] > 0


def test_langchain_chain_gives_the_same_answer(seed_assistant: Assistant) -> None:
    """The LangChain runnable form of the pipeline returns the same Answer as the method."""
    question = "What side effects of ketamine does the Isha Health article mention?"
    via_chain = seed_assistant.chain.invoke({"question": question})
    assert via_chain.to_dict()["citations"] == seed_assistant.answer(question).to_dict()["citations"]


def test_corpus_folder_is_compared_at_most_every_corpus_check_seconds(
    seed_root: Path, make_assistant: Callable[..., Assistant]
) -> None:
    """Within corpus_check_seconds a question does not rescan the folder; with 0 it does, and indexes the new file."""
    lazy = make_assistant(seed_root, corpus_check_seconds=3600)
    lazy.answer("What is ketamine?")
    (seed_root / "corpus" / "lantern.txt").write_text(
        "Lantern Notes\n\nThe lantern festival in the old harbour drew 900 visitors over the weekend, more than in "
        "any year before, and the organisers plan to repeat it next spring.\n"
    )
    lazy.answer("How many visitors did the lantern festival draw?")
    assert "lantern.txt" not in lazy.indexer.records  # not compared yet: the file waits for the next check

    eager = make_assistant(seed_root, corpus_check_seconds=0)
    result = eager.answer("How many visitors did the lantern festival draw?")
    assert "lantern.txt" in eager.indexer.records
    assert "900" in result.text
