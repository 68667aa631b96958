"""The web UI end to end in headless Chromium (Debian's /usr/bin/chromium, driven by Playwright)."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from assistant.embedding import Embedder
from assistant.pipeline import Assistant
from assistant.settings import Settings, StoreSettings
from assistant.ui import build_app, launch, warm_up
from scripts._browser import ARGS, CHROMIUM, free_port
from tests.conftest import SEED_CORPUS as SEED

HOSTILE = (
    "Harbor tank lantern notes\n\n"
    "The zebrafish lantern protocol counted 42 glowing otoliths in the harbor tank "
    '<script>window.__pwned=1; window.pwned=1</script> after <img src=x onerror="window.__pwned=1; window.pwned=1"> '
    'the second night, see <a href="javascript:window.__pwned=1">lantern log</a>.\n\n'
    "The harbor tank was cleaned weekly by the lantern team.\n"
)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not Path(CHROMIUM).exists(), reason="needs Debian chromium at /usr/bin/chromium (apt-get install chromium)"
    ),
]


@pytest.fixture(scope="module")
def assistant(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Assistant:
    root = tmp_path_factory.mktemp("browser")
    corpus = root / "corpus"
    corpus.mkdir()
    for path in SEED.iterdir():
        shutil.copy(path, corpus / path.name)
    (corpus / "hostile-notes.txt").write_text(HOSTILE, encoding="utf-8")
    result = Assistant(Settings(corpus=corpus, store=StoreSettings(path=root / "index")), embedder=embedder)
    warm_up(result)
    return result


@pytest.fixture(scope="module")
def app_url(assistant: Assistant) -> Iterator[str]:
    demo = build_app(assistant)
    url = launch(demo, port=free_port(), block=False)
    yield url
    demo.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any, app_url: str) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.goto(app_url)
    page.wait_for_selector("#question textarea")
    yield page
    context.close()


def bot_texts(page: Any) -> list[str]:
    return page.locator('#chat [data-testid="bot"]').all_inner_texts()


def ask(page: Any, question: str, turn: int) -> str:
    """Type a question, send it, and return the answer's text once it stops streaming."""
    page.fill("#question textarea", question)
    page.click("#send")
    page.wait_for_function(
        "n => document.querySelectorAll('#chat [data-testid=\"bot\"]').length >= n", arg=turn, timeout=30_000
    )
    last, since = None, time.monotonic()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        text = bot_texts(page)[turn - 1]
        if text != last or "Searching the documents" in text:
            last, since = text, time.monotonic()
        elif time.monotonic() - since > 0.8:
            return text
        time.sleep(0.05)
    raise AssertionError(f"answer {turn} kept changing: {last!r}")


def test_page_loads_with_status_examples_and_note(page: Any) -> None:
    """The page shows the index status, the not-medical-advice note and the example questions."""
    assert page.title() == "Corpus assistant"
    page.wait_for_function("(document.querySelector('#index-status')?.innerText || '').includes('documents')")
    assert "5 documents" in page.inner_text("#index-status")
    assert "not medical, legal or other professional advice" in page.inner_text("#note")
    assert page.get_by_text("What did the fMRI study find about brain networks?").count() >= 1
    assert not page.locator("#reindex").is_visible()


def test_question_gets_a_streamed_answer_with_citations(page: Any) -> None:
    """The answer appears in several growing pieces and ends with [n] links to the sources panel."""
    page.evaluate(
        """() => {
          window.__lengths = [];
          new MutationObserver(() => {
            const bots = document.querySelectorAll('#chat [data-testid="bot"]');
            if (bots.length) window.__lengths.push(bots[bots.length - 1].innerText.length);
          }).observe(document.querySelector('#chat'), {subtree: true, childList: true, characterData: true});
        }"""
    )
    text = ask(page, "How many healthy controls were in the magnetization transfer study?", 1)
    assert "41 healthy control subjects" in text
    assert "[1]" in text
    lengths = [n for n in page.evaluate("window.__lengths") if n > 40]  # skip the 'Searching…' placeholder
    assert len(set(lengths)) >= 3, lengths
    assert page.locator('#chat a.cite-ref[href="#cite-1-1"]').count() == 1
    assert "magnetization-transfer-imaging-trd-radiology.txt" in page.inner_text("#sources-panel")


def test_clicking_a_citation_shows_the_cited_passage(page: Any) -> None:
    """Clicking [1] in the chat highlights and scrolls to the entry whose <mark> is the cited span."""
    ask(page, "How many healthy controls were in the magnetization transfer study?", 1)
    page.click('#chat a.cite-ref[href="#cite-1-1"]')
    entry = page.locator("#cite-1-1")
    page.wait_for_function("document.querySelector('#cite-1-1').classList.contains('cite-active')")
    assert "41 healthy control subjects" in entry.locator("mark").inner_text()
    assert "Magnetization Transfer Imaging" in entry.inner_text()
    page.wait_for_timeout(600)  # smooth scrolling
    box, viewport = entry.bounding_box(), page.viewport_size
    assert box is not None
    assert 0 <= box["y"] < viewport["height"]
    assert page.url.endswith("/")  # handled in place, no navigation


def test_follow_up_question_is_answered_in_context(page: Any) -> None:
    """'Which regions did it measure?' after the amygdala question answers about that study."""
    ask(page, "What did the 3T and 7T MRI study find in the amygdala?", 1)
    text = ask(page, "Which regions did it measure?", 2)
    assert "3T and 7T" in text
    assert "Not found" not in text
    assert page.locator("#turn-2").count() == 1


def test_unanswerable_question_shows_the_abstention_state(page: Any) -> None:
    """The PET dose question is labelled 'Not found in the corpus' and lists related passages apart."""
    text = ask(page, "What dose of ketamine was used in the PET study?", 1)
    assert "Not found in the corpus" in text
    assert page.locator('#chat [data-testid="bot"] .abstain-label').count() == 1
    panel = page.inner_text("#sources-panel")
    assert "Related (not evidence)" in panel
    assert page.locator("#sources-panel mark").count() == 0


def test_hostile_document_renders_inert(page: Any) -> None:
    """Script, onerror and javascript: markup from a corpus file shows as text and never runs."""
    text = ask(page, "How many glowing otoliths did the zebrafish lantern protocol count?", 1)
    page.wait_for_timeout(500)
    assert "42 glowing otoliths" in text
    assert "<script>" in text
    assert "onerror=" in text
    assert "<script>" in page.inner_text("#sources-panel")
    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert page.evaluate("typeof window.pwned") == "undefined"
    assert page.locator("#chat img[src='x'], #sources-panel img, #chat script, #sources-panel script").count() == 0
    assert page.locator("#chat a[href^='javascript'], #sources-panel a[href^='javascript']").count() == 0
    page.click('#chat a.cite-ref[href="#cite-1-1"]')
    assert page.evaluate("typeof window.__pwned") == "undefined"


def test_errors_show_one_line_and_clear_starts_over(page: Any) -> None:
    """An empty question gives one error line; Clear empties the chat and the panel."""
    page.click("#send")
    page.wait_for_selector("#chat .chat-error")
    assert page.inner_text("#chat .chat-error").startswith("Error: the question is empty")
    ask(page, "How many healthy controls were in the magnetization transfer study?", 2)
    page.click("#clear")
    page.wait_for_function("document.querySelectorAll('#chat [data-testid=\"bot\"]').length === 0")
    assert "appear here" in page.inner_text("#sources-panel")


def test_login_when_enabled(browser: Any, assistant: Assistant) -> None:
    """With auth configured the app asks for a login, refuses a wrong password and admits the right one."""
    demo = build_app(assistant)
    url = launch(demo, port=free_port(), auth=[("ann", "correct horse")], block=False)
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(url)
        page.wait_for_selector("input[type=password]")
        assert page.locator("#question").count() == 0
        page.locator("input[type=text]").first.fill("ann")
        page.fill("input[type=password]", "wrong")
        page.keyboard.press("Enter")
        page.wait_for_timeout(1000)
        assert page.locator("#question").count() == 0
        page.locator("input[type=text]").first.fill("ann")
        page.fill("input[type=password]", "correct horse")
        page.keyboard.press("Enter")
        page.wait_for_selector("#question textarea", timeout=15_000)
        assert "41 healthy control subjects" in ask(
            page, "How many healthy controls were in the magnetization transfer study?", 1
        )
    finally:
        context.close()
        demo.close()


def test_changed_corpus_offers_a_reindex(browser: Any, tmp_path: Path, embedder: Embedder) -> None:
    """A file added to corpus/ shows up in the status line, and Re-index brings the index up to date."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copy(SEED / "fmri-brain-networks-ketamine.txt", corpus)
    assistant = Assistant(Settings(corpus=corpus, store=StoreSettings(path=tmp_path / "index")), embedder=embedder)
    assistant.ingest(progress=False)
    demo = build_app(assistant)
    url = launch(demo, port=free_port(), block=False)
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(url)
        page.wait_for_function("(document.querySelector('#index-status')?.innerText || '').includes('1 documents')")
        assert not page.locator("#reindex").is_visible()
        shutil.copy(SEED / "pet-imaging-ketamine-medical-xpress.txt", corpus)
        page.reload()
        page.wait_for_function("(document.querySelector('#index-status')?.innerText || '').includes('1 new')")
        assert page.locator("#reindex").is_visible()
        page.click("#reindex")
        page.wait_for_function("(document.querySelector('#index-status')?.innerText || '').includes('2 documents')")
        assert "Re-indexed" in page.inner_text("#index-status")
        page.wait_for_selector("#reindex", state="hidden")
    finally:
        context.close()
        demo.close()
