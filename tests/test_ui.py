"""The web UI's handlers (no browser): rendering, streaming, errors, concurrency, serving."""

from __future__ import annotations

import itertools
import logging
import shutil
import threading
from pathlib import Path

import httpx
import pytest

from assistant import cli
from assistant.embedding import Embedder
from assistant.errors import ConfigError
from assistant.models import model_path
from assistant.pipeline import Assistant
from assistant.records import Answer, Citation, Passage
from assistant.settings import AnsweringSettings, LLMSettings, Settings, StoreSettings
from assistant.ui import (
    ChatHandler,
    Turn,
    answer_html,
    auth_from_env,
    build_app,
    history_of,
    is_loopback,
    launch,
    render_sources,
    stream_pieces,
    user_html,
)
from scripts._browser import free_port
from tests.conftest import SEED_CORPUS as SEED

HOSTILE = (
    "Harbor tank lantern notes\n\n"
    "The zebrafish lantern protocol counted 42 glowing otoliths in the harbor tank "
    '<script>window.__pwned=1</script> after <img src=x onerror="window.__pwned=1"> the second night, '
    'see <a href="javascript:window.__pwned=1">lantern log</a>.\n\n'
    "The harbor tank was cleaned weekly by the lantern team.\n"
)
FIRST = "What did the 3T and 7T MRI study find in the amygdala?"
FOLLOW_UP = "Which regions did it measure?"


def make_corpus(root: Path) -> Path:
    """The four seed documents plus a hostile one, in `root/corpus`."""
    corpus = root / "corpus"
    corpus.mkdir(parents=True)
    for path in SEED.iterdir():
        shutil.copy(path, corpus / path.name)
    (corpus / "hostile-notes.txt").write_text(HOSTILE, encoding="utf-8")
    return corpus


@pytest.fixture(scope="module")
def assistant(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Assistant:
    root = tmp_path_factory.mktemp("ui")
    settings = Settings(corpus=make_corpus(root), store=StoreSettings(path=root / "index"))
    result = Assistant(settings, embedder=embedder)
    result.ingest(progress=False)
    return result


def run(handler: ChatHandler, question: str, chat: list | None = None, turns: list | None = None) -> list[tuple]:
    return list(handler.respond(question, chat or [], turns or []))


def hostile_answer() -> Answer:
    text = 'Intro <b>bold</b>. The <script>alert(1)</script> span <img src=x onerror="x()">. Tail.'
    span = 'The <script>alert(1)</script> span <img src=x onerror="x()">.'
    start = text.index(span)
    passage = Passage("evil.txt#0", "evil.txt", "<i>Evil</i> title", text, 100, 100 + len(text), 1.0)
    citation = Citation(1, "evil.txt", "<i>Evil</i> title", span, 100 + start, 100 + start + len(span))
    return Answer(question="q", text=f"{span} [1]", abstained=False, citations=[citation], passages=[passage])


def test_sources_panel_marks_the_span_inside_its_passage_and_escapes_everything() -> None:
    """The panel shows title, file and passage, the cited span in <mark>, with all document text escaped."""
    html = render_sources([Turn("q <x>", hostile_answer())])
    assert "<script" not in html
    assert "<img" not in html
    assert "<i>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;i&gt;Evil&lt;/i&gt; title" in html
    assert "evil.txt" in html
    assert 'id="cite-1-1"' in html
    assert "Intro &lt;b&gt;bold&lt;/b&gt;. <mark>The &lt;script&gt;" in html
    assert "</mark> Tail." in html


def test_chat_answer_escapes_text_and_links_markers_to_the_panel() -> None:
    """Answer text is escaped in the chat and each [n] becomes a link to #cite-<turn>-<n>."""
    html = answer_html(hostile_answer(), 3)
    assert "<script" not in html
    assert "<img" not in html
    assert '<a class="cite-ref" href="#cite-3-1"' in html
    assert "[2]" in answer_html(Answer("q", "no such [2]", False), 1)  # unknown markers stay plain text
    assert "<b>" not in user_html("<b>hi</b>")


def test_abstention_is_labelled_and_lists_related_passages_as_not_evidence() -> None:
    """An abstaining answer shows 'Not found in the corpus' and a 'Related (not evidence)' list."""
    related = [Citation(1, "a.txt", "A", "closest <passage>", 0, 17)]
    answer = Answer("q", "The corpus does not answer this question.", True, related=related)
    assert "Not found in the corpus" in answer_html(answer, 1)
    panel = render_sources([Turn("q", answer)])
    assert "Not found in the corpus" in panel
    assert "Related (not evidence)" in panel
    assert "closest &lt;passage&gt;" in panel
    assert "<mark>" not in panel


def test_stream_pieces_grow_to_the_full_text() -> None:
    """Streaming yields ever longer prefixes that end with the whole text."""
    text = "One two three four five. [1]"
    pieces = list(stream_pieces(text))
    assert len(pieces) == 3
    assert all(text.startswith(p) for p in pieces)
    assert all(len(a) < len(b) for a, b in itertools.pairwise(pieces))
    assert pieces[-1] == text
    assert list(stream_pieces("")) == [""]


def test_chat_handler_streams_a_cited_answer(assistant: Assistant) -> None:
    """A question streams in pieces and ends with linked markers and the marked passage in the panel."""
    updates = run(
        ChatHandler(assistant, stream_delay=0), "How many healthy controls were in the magnetization transfer study?"
    )
    assert len(updates) > 4
    texts = [chat[-1]["content"] for chat, _, _, _ in updates[1:]]
    assert all(len(a) <= len(b) for a, b in itertools.pairwise(texts))
    chat, panel, turns, box = updates[-1]
    assert box == ""
    assert [m["role"] for m in chat] == ["user", "assistant"]
    assert "41 healthy control subjects" in chat[-1]["content"]
    assert 'href="#cite-1-1"' in chat[-1]["content"]
    assert "<mark>Participants included 69 patients" in panel
    assert "magnetization-transfer-imaging-trd-radiology.txt" in panel
    assert len(turns) == 1
    assert turns[0].answer.citations


def test_follow_up_is_answered_in_the_context_of_the_conversation(assistant: Assistant) -> None:
    """The chat history reaches Assistant.answer: a follow-up that abstains alone is answered in context."""
    handler = ChatHandler(assistant, stream_delay=0)
    alone = run(handler, FOLLOW_UP)[-1][2][0].answer
    assert alone.abstained
    chat, _, turns, _ = run(handler, FIRST)[-1]
    chat, panel, turns, _ = run(handler, FOLLOW_UP, chat, turns)[-1]
    assert len(turns) == 2
    assert not turns[1].answer.abstained
    assert "3T and 7T" in turns[1].answer.text
    assert 'href="#cite-2-1"' in chat[-1]["content"]
    assert panel.index('id="turn-2"') < panel.index('id="turn-1"')  # newest answer on top
    assert history_of(turns)[0] == {"role": "user", "content": FIRST}


def test_unanswerable_question_shows_the_abstention_state(assistant: Assistant) -> None:
    """The PET ketamine dose is not in the corpus: the chat says so and the panel lists related passages."""
    chat, panel, turns, _ = run(
        ChatHandler(assistant, stream_delay=0), "What dose of ketamine was used in the PET study?"
    )[-1]
    assert turns[0].answer.abstained
    assert "Not found in the corpus" in chat[-1]["content"]
    assert "Related (not evidence)" in panel


def test_hostile_document_text_is_escaped_in_chat_and_panel(assistant: Assistant) -> None:
    """Markup quoted from a corpus file reaches the browser as text, never as tags."""
    question = "How many glowing otoliths did the zebrafish lantern protocol count?"
    chat, panel, turns, _ = run(ChatHandler(assistant, stream_delay=0), question)[-1]
    assert turns[0].answer.citations[0].source == "hostile-notes.txt"
    for html in (chat[-1]["content"], panel):
        assert "42 glowing otoliths" in html
        assert "<script" not in html
        assert "<img" not in html
        assert 'href="javascript' not in html
        assert "&lt;script&gt;" in html


@pytest.mark.parametrize(
    ("question", "expected"),
    [("", "Error: the question is empty"), ("   ", "Error: the question is empty"), ("x" * 5000, "the limit is")],
)
def test_bad_questions_become_one_error_line_in_the_chat(assistant: Assistant, question: str, expected: str) -> None:
    """Empty or over-long questions give one readable line, keep the history, and keep the typed text."""
    chat, _, turns, box = run(ChatHandler(assistant, stream_delay=0), question)[-1]
    assert expected in chat[-1]["content"]
    assert "\n" not in chat[-1]["content"]
    assert "Traceback" not in chat[-1]["content"]
    assert turns == []
    assert box == question


def test_unexpected_errors_show_their_type_and_log_the_traceback(
    assistant: Assistant, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A bug shows 'Internal error: <type>' in the chat; the traceback goes to the server log."""
    handler = ChatHandler(assistant, stream_delay=0)

    def broken(*args: object, **kwargs: object) -> Answer:
        raise ValueError("secret detail")

    monkeypatch.setattr(handler.assistant, "answer", broken)
    with caplog.at_level(logging.ERROR, logger="assistant.ui"):
        chat, _, _, _ = run(handler, "anything")[-1]
    assert "Internal error: ValueError" in chat[-1]["content"]
    assert "secret detail" not in chat[-1]["content"]
    assert "secret detail" in caplog.text
    assert caplog.records[0].exc_info is not None


def test_missing_index_over_an_empty_corpus_is_one_line(tmp_path: Path, embedder: Embedder) -> None:
    """With nothing to index, the chat says what to do instead of failing."""
    (tmp_path / "corpus").mkdir()
    settings = Settings(corpus=tmp_path / "corpus", store=StoreSettings(path=tmp_path / "index"))
    handler = ChatHandler(Assistant(settings, embedder=embedder), stream_delay=0)
    chat, _, turns, _ = run(handler, "Anything?")[-1]
    assert chat[-1]["content"].startswith('<span class="chat-error">Error: ')
    assert "no readable documents" in chat[-1]["content"]
    assert turns == []
    assert "0 documents" in handler.status()[0]


def test_unknown_backend_is_refused(assistant: Assistant) -> None:
    """An answerer the UI does not offer is refused with a one-line error."""
    chat = list(ChatHandler(assistant, stream_delay=0).respond("Hi?", [], [], None, None, "gpt"))[-1][0]
    assert "unknown answerer" in chat[-1]["content"]


def test_settings_limit_passages_and_sources(assistant: Assistant, monkeypatch: pytest.MonkeyPatch) -> None:
    """The k slider and the source filter reach Assistant.answer."""
    handler = ChatHandler(assistant, stream_delay=0)
    question = "How many healthy controls were in the magnetization transfer study?"
    seen: list[dict] = []
    real = assistant.answer
    monkeypatch.setattr(assistant, "answer", lambda q, **kw: seen.append(kw) or real(q, **kw))
    list(handler.respond(question, [], [], 3.0, []))
    assert (seen[-1]["k"], seen[-1]["sources"]) == (3, None)
    only = "pet-imaging-ketamine-medical-xpress.txt"
    answer = list(handler.respond(question, [], [], None, [only]))[-1][2][0].answer
    assert {p.source for p in answer.passages} == {only}
    assert "41 healthy control" not in answer.text
    assert only in {source for _, source in handler.source_choices()}


def test_status_line_says_when_the_corpus_changed(tmp_path: Path, embedder: Embedder) -> None:
    """A file added after the last ingest makes the status say so and ask for a re-index."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copy(SEED / "fmri-brain-networks-ketamine.txt", corpus)
    settings = Settings(corpus=corpus, store=StoreSettings(path=tmp_path / "index"))
    handler = ChatHandler(Assistant(settings, embedder=embedder))
    handler.assistant.ingest(progress=False)
    line, stale = handler.status()
    assert "1 documents" in line
    assert "newest document modified" in line
    assert not stale
    (corpus / "new <b>.txt").write_text("A new document about lanterns.\n", encoding="utf-8")
    line, stale = handler.status()
    assert stale
    assert "1 new" in line
    assert "Re-index" in line


def test_clear_starts_over(assistant: Assistant) -> None:
    """Clear empties the chat, the panel and the history."""
    chat, panel, turns, box = ChatHandler(assistant).clear()
    assert (chat, turns, box) == ([], [], "")
    assert "appear here" in panel


def test_eight_concurrent_chats_keep_their_own_histories(assistant: Assistant) -> None:
    """Eight chats at once each get the answers a lone chat gets, with no history crossing over."""
    handler = ChatHandler(assistant, stream_delay=0.001)
    firsts = [
        FIRST,
        "How many healthy controls were in the magnetization transfer study?",
        "How many glowing otoliths did the zebrafish lantern protocol count?",
        "What did the fMRI study of brain networks show?",
    ] * 2
    expected = {}
    for q in set(firsts):
        chat, _, turns, _ = run(handler, q)[-1]
        expected[q] = (turns[0].answer.text, run(handler, FOLLOW_UP, chat, turns)[-1][2][1].answer.text)
    results: dict[int, list[Turn]] = {}
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(firsts))

    def chat_session(i: int) -> None:
        try:
            barrier.wait()
            chat, _, turns, _ = run(handler, firsts[i])[-1]
            results[i] = run(handler, FOLLOW_UP, chat, turns)[-1][2]
        except BaseException as exc:  # noqa: BLE001 - re-raised in the main thread by the assert below
            errors.append(exc)

    threads = [threading.Thread(target=chat_session, args=(i,)) for i in range(len(firsts))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors
    for i, turns in results.items():
        assert [t.question for t in turns] == [firsts[i], FOLLOW_UP]
        assert (turns[0].answer.text, turns[1].answer.text) == expected[firsts[i]]
    assert len(results) == len(firsts)


def test_login_comes_from_the_environment_or_a_file(tmp_path: Path) -> None:
    """ASSISTANT_UI_AUTH and ASSISTANT_UI_AUTH_FILE give launch(auth=...) pairs; malformed lines are errors."""
    assert auth_from_env({}) is None
    assert auth_from_env({"ASSISTANT_UI_AUTH": "ann:s3cr:et"}) == [("ann", "s3cr:et")]
    path = tmp_path / "users"
    path.write_text("# team\nann:one\n\nbob:two\n", encoding="utf-8")
    assert auth_from_env({"ASSISTANT_UI_AUTH_FILE": str(path)}) == [("ann", "one"), ("bob", "two")]
    with pytest.raises(ConfigError):
        auth_from_env({"ASSISTANT_UI_AUTH": "no-colon"})
    with pytest.raises(ConfigError):
        auth_from_env({"ASSISTANT_UI_AUTH_FILE": str(tmp_path / "missing")})


def test_cli_ui_command_binds_loopback_by_default(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """`assistant ui` defaults to 127.0.0.1:7860 and hands the Assistant to ui.serve."""
    calls = []
    monkeypatch.setattr("assistant.ui.serve", lambda assistant, host, port, no_login: calls.append((host, port)) or 0)
    assert cli.main(["--corpus", str(tmp_path), "--index", str(tmp_path / "i"), "ui"]) == 0
    assert cli.main(["--corpus", str(tmp_path), "--index", str(tmp_path / "i"), "ui", "--port", "9001"]) == 0
    assert calls == [("127.0.0.1", 7860), ("127.0.0.1", 9001)]


def test_server_serves_no_files_from_disk_and_has_analytics_off(assistant: Assistant) -> None:
    """The running app refuses /file= paths outside its own assets and reports analytics disabled."""
    demo = build_app(assistant)
    url = launch(demo, port=free_port(), block=False)
    try:
        assert url.startswith("http://127.0.0.1:")
        for path in (
            "gradio_api/file=/etc/passwd",
            "file=/etc/passwd",
            f"gradio_api/file={SEED / 'fmri-brain-networks-ketamine.txt'}",
            "gradio_api/file=../../../../etc/passwd",
            "gradio_api/file=pyproject.toml",
        ):
            response = httpx.get(url + path, timeout=10)
            assert response.status_code in {403, 404}, path
            assert "root:" not in response.text
        config = httpx.get(url + "config", timeout=10).json()
        assert config["analytics_enabled"] is False
        assert httpx.get(url, timeout=10).status_code == 200
    finally:
        demo.close()


@pytest.mark.llm
@pytest.mark.skipif(not model_path("smollm2-135m").is_file(), reason="run `assistant models install smollm2-135m`")
def test_local_model_answer_streams_real_tokens_then_the_checked_answer(assistant: Assistant) -> None:
    """With the local model, the chat grows token by token; sources and turns appear with the final answer."""
    llm = LLMSettings(model="smollm2-135m", context_window=2048, max_new_tokens=32)
    settings = assistant.settings.model_copy(update={"answering": AnsweringSettings(answerer="local"), "llm": llm})
    local = Assistant(settings, embedder=assistant.embedder, store=assistant.store)
    handler = ChatHandler(local, stream_delay=0)
    assert handler.backends() == ["local", "extractive"]
    outputs = run(handler, FIRST)
    partial = [chat[-1]["content"] for chat, _panel, _turns, _box in outputs if chat[-1]["content"].endswith("▍")]
    assert len(partial) > 3
    assert all(len(a) <= len(b) for a, b in itertools.pairwise(partial))
    chat, panel, turns, _box = outputs[-1]
    assert not chat[-1]["content"].endswith("▍")
    assert len(turns) == 1
    assert turns[0].answer.answerer in {"local", "extractive"}
    assert 'id="turn-1"' in panel


def test_fallback_note_is_shown_above_the_answer_and_escaped() -> None:
    """An answer that fell back to the extractive answerer says so, in escaped text, before the answer."""
    answer = Answer("q", "Quoted answer. [1]", False, fallback="the local answerer <b>timed out</b> after 1 s")
    html = answer_html(answer, 1)
    assert html.startswith('<div class="fallback-note">Note: the local answerer &lt;b&gt;timed out')
    assert "<b>" not in html


def test_scripted_api_has_named_endpoints_and_answers(assistant: Assistant) -> None:
    """gradio_client sees /ask, /clear, /status and /reindex only, and /ask returns a cited answer."""
    from gradio_client import Client

    demo = build_app(assistant)
    url = launch(demo, port=free_port(), block=False)
    try:
        client = Client(url, verbose=False)
        api = client.view_api(return_format="dict", print_info=False)
        assert isinstance(api, dict)
        assert set(api["named_endpoints"]) == {"/ask", "/clear", "/status", "/reindex"}
        assert not api["unnamed_endpoints"]
        chat, panel, box = client.predict(FIRST, [], 6, [], "extractive", api_name="/ask")
        assert chat[-1]["role"] == "assistant"
        content = chat[-1]["content"]  # Gradio 6 sends message content as a list of typed parts
        text = " ".join(part.get("text", "") for part in content) if isinstance(content, list) else content
        assert "amygdala" in text.lower()
        assert 'href="#src-1-1"' in text or "[1]" in text
        assert 'id="turn-1"' in panel
        assert box == ""
    finally:
        demo.close()


def test_ui_refuses_a_public_address_without_a_login(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys) -> None:
    """`assistant ui --host 0.0.0.0` with no login configured exits 1 with one line saying how to turn login on."""
    monkeypatch.delenv("ASSISTANT_UI_AUTH", raising=False)
    monkeypatch.delenv("ASSISTANT_UI_AUTH_FILE", raising=False)
    monkeypatch.setattr("assistant.ui.warm_up", lambda assistant: pytest.fail("started despite no login"))
    assert cli.main(["--corpus", str(tmp_path), "--index", str(tmp_path / "i"), "ui", "--host", "0.0.0.0"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert "refusing to serve on 0.0.0.0 without a login" in err
    assert "ASSISTANT_UI_AUTH" in err
    assert "--no-login" in err
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.0.2.7") and not is_loopback("example.org")


def test_examples_are_offered_only_when_the_corpus_answers_them(
    assistant: Assistant, tmp_path: Path, embedder: Embedder
) -> None:
    """The configured examples the corpus answers are shown; on another corpus the seed examples drop out."""
    from assistant.settings import UISettings
    from assistant.ui import answerable_examples

    assert answerable_examples(assistant) == list(assistant.settings.ui.examples)  # seed documents are here
    mine = [
        "How many glowing otoliths did the zebrafish lantern protocol count?",
        "What is the capital of Australia?",
    ]
    harbor = tmp_path / "corpus"
    harbor.mkdir()
    (harbor / "harbor.txt").write_text(HOSTILE, encoding="utf-8")
    store = StoreSettings(path=tmp_path / "index")
    other = Assistant(Settings(corpus=harbor, store=store), embedder=embedder)
    other.ingest(progress=False)
    assert answerable_examples(other) == []  # the seed corpus's examples mean nothing here
    configured = Assistant(Settings(corpus=harbor, store=store, ui=UISettings(examples=mine)), embedder=embedder)
    assert answerable_examples(configured) == mine[:1]
