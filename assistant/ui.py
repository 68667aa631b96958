"""Web UI: a Gradio chat with cited answers and a sources panel, over one shared `Assistant`.

The handlers are plain functions and generators (`ChatHandler.respond`, `render_sources`, ...) so
tests drive them without a browser; `build_app` only wires them to Gradio components.

Document text is untrusted. Every string that reaches HTML is escaped here, and the chat renders
our HTML (not Markdown), so corpus text can never become markup, links or maths.
"""

from __future__ import annotations

import html
import ipaddress
import logging
import os
import re
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assistant.errors import AssistantError, ConfigError
from assistant.records import MARKER, Answer, Citation

if TYPE_CHECKING:
    import gradio as gr

    from assistant.pipeline import Assistant, IndexStatus

logger = logging.getLogger(__name__)

Message = dict[str, str]
Outputs = tuple[list[Message], str, list["Turn"], str]

NOTE = (
    "Answers are quoted only from the documents listed in the index; if they do not say, the assistant "
    "says so. Read the cited passages before you rely on an answer: this is not medical, legal or other "
    "professional advice."
)
CONCURRENCY = 8  # chats answered at once; the extractive answerer takes ~20 ms, so 8 keeps queues short
MAX_TURNS_SHOWN = 20  # older answers' sources drop out of the panel to keep each update small


# One delegated listener handles marker clicks in the chat and entry clicks in the panel, so it
# keeps working when Gradio re-renders either component.
JS = """
() => {
  const activate = (id) => {
    const target = document.getElementById(id);
    if (!target) return;
    const turn = target.closest('details'); if (turn) turn.open = true;
    document.querySelectorAll('.cite-active').forEach((el) => el.classList.remove('cite-active'));
    target.classList.add('cite-active');
    target.scrollIntoView({behavior: 'smooth', block: 'center'});
  };
  document.addEventListener('click', (event) => {
    const link = event.target.closest('a[href^="#cite-"]');
    if (link) { event.preventDefault(); event.stopPropagation(); activate(link.getAttribute('href').slice(1)); return; }
    const entry = event.target.closest('.source-entry[id]');
    if (entry) activate(entry.id);
  }, true);
}
"""

CSS = """
#sources-panel { max-height: 640px; overflow-y: auto; }
.source-entry { border: 1px solid var(--border-color-primary); border-radius: 6px; padding: 6px 8px;
  margin: 6px 0; cursor: pointer; transition: background 0.3s; }
.source-entry.cite-active { outline: 2px solid var(--color-accent); background: var(--color-accent-soft); }
.source-file { font-family: var(--font-mono); font-size: 0.8em; opacity: 0.8; }
.passage { white-space: pre-wrap; margin: 4px 0 0; font-size: 0.9em; }
.passage mark { background: #ffe58a; color: inherit; }
.source-entry.related .passage { opacity: 0.85; }
.abstain-label { display: inline-block; background: #fff1d6; color: #7a4a00; border: 1px solid #e0a030;
  border-radius: 4px; padding: 1px 6px; font-weight: 600; }
.related-head { font-weight: 600; margin-top: 6px; }
.chat-error { color: #b00020; }
.fallback-note { color: #7a4a00; font-size: 0.9em; }
a.cite-ref { font-weight: 600; text-decoration: none; color: var(--link-text-color, #2563eb); }
.status-stale { color: #7a4a00; font-weight: 600; }
"""


@dataclass
class Turn:
    """One answered question of a conversation (errors are shown but not kept as turns)."""

    question: str
    answer: Answer


def history_of(turns: Sequence[Turn]) -> list[Message]:
    """Return the conversation as the role/content messages `Assistant.answer` takes (plain text)."""
    messages: list[Message] = []
    for turn in turns:
        messages.append({"role": "user", "content": turn.question})
        messages.append({"role": "assistant", "content": turn.answer.text})
    return messages


def stream_pieces(text: str, words: int = 2) -> Iterator[str]:
    """Yield progressively longer prefixes of `text`, `words` words at a time, ending with all of it."""
    tokens = re.findall(r"\S+\s*", text)
    for end in range(words, len(tokens) + words, words):
        yield "".join(tokens[:end]).rstrip()
    if not tokens:
        yield ""


def _text_html(text: str) -> str:
    return html.escape(text).replace("\n", "<br>")


def user_html(question: str, limit: int = 400) -> str:
    """Render a user's question as chat HTML (escaped; very long questions shortened for display)."""
    shown = question.strip()
    if len(shown) > limit:
        shown = shown[:limit] + "…"
    return _text_html(shown)


def answer_html(answer: Answer, turn: int, text: str | None = None) -> str:
    """Render an answer (or a streamed prefix of it) as chat HTML, its [n] markers linked to the panel."""
    body = _text_html(answer.text if text is None else text)
    numbers = {c.number for c in answer.citations}

    def link(match: re.Match[str]) -> str:
        n = int(match.group(1))
        if n not in numbers:
            return match.group(0)
        return f'<a class="cite-ref" href="#cite-{turn}-{n}" title="Show source {n}">[{n}]</a>'

    body = MARKER.sub(link, body)
    if answer.fallback:
        body = f'<div class="fallback-note">Note: {html.escape(answer.fallback)}.</div>{body}'
    if not answer.abstained:
        return body
    return (
        '<span class="abstain-label">Not found in the corpus</span><br>'
        f"{body}<br><em>Closest passages are listed beside the chat under “Related (not evidence)”.</em>"
    )


def error_html(exc: BaseException) -> str:
    """Render a failed question as one readable line; log unexpected errors with their traceback."""
    if isinstance(exc, AssistantError):
        line = f"Error: {' '.join(str(exc).split())}"
    else:
        logger.error("the UI failed to answer", exc_info=exc)
        line = f"Internal error: {type(exc).__name__}"
    return f'<span class="chat-error">{html.escape(line)}</span>'


def _marked(citation: Citation, answer: Answer) -> str:
    """Render the passage around `citation`, escaped, with the cited span in <mark>."""
    holders = [
        p
        for p in answer.passages
        if p.source == citation.source and p.start <= citation.start and citation.end <= p.end
    ]
    for passage in sorted(holders, key=lambda p: p.end - p.start):
        offset = citation.start - passage.start
        if passage.text[offset : offset + len(citation.text)] == citation.text:
            before, after = passage.text[:offset], passage.text[offset + len(citation.text) :]
            return f"{html.escape(before)}<mark>{html.escape(citation.text)}</mark>{html.escape(after)}"
    # No retrieved passage holds the span (should not happen): show the span on its own.
    return f"<mark>{html.escape(citation.text)}</mark>"


def _entry(citation: Citation, element_id: str, passage_html: str, *, related: bool = False) -> str:
    label = "" if related else f'<a class="cite-ref" href="#{element_id}">[{citation.number}]</a> '
    return (
        f'<div class="source-entry{" related" if related else ""}" id="{element_id}">'
        f'<div class="source-head">{label}<strong>{html.escape(citation.title or citation.source)}</strong></div>'
        f'<div class="source-file">{html.escape(citation.source)} · chars {citation.start}–{citation.end}</div>'
        f'<blockquote class="passage">{passage_html}</blockquote></div>'
    )


def render_turn(number: int, turn: Turn, *, open_: bool = True) -> str:
    """Render one answer's sources: cited passages with the span marked, or the related passages."""
    answer = turn.answer
    question = turn.question if len(turn.question) <= 90 else turn.question[:90] + "…"
    parts = [f'<details class="turn" id="turn-{number}"{" open" if open_ else ""}>']
    parts.append(f"<summary>Answer {number}: {html.escape(question)}</summary>")
    if answer.abstained:
        parts.append('<span class="abstain-label">Not found in the corpus</span>')
        if answer.related:
            parts.append('<div class="related-head">Related (not evidence)</div>')
            for i, c in enumerate(answer.related, 1):
                parts.append(_entry(c, f"related-{number}-{i}", html.escape(c.text), related=True))
    else:
        parts.extend(_entry(c, f"cite-{number}-{c.number}", _marked(c, answer)) for c in answer.citations)
    parts.append("</details>")
    return "".join(parts)


def render_sources(turns: Sequence[Turn]) -> str:
    """Render the sources panel: the newest answer's sources open on top, earlier answers collapsed."""
    if not turns:
        return '<div class="sources-empty">The sources of each answer appear here.</div>'
    shown = list(enumerate(turns, 1))[-MAX_TURNS_SHOWN:]
    return "".join(render_turn(n, t, open_=n == len(turns)) for n, t in reversed(shown))


def render_status(status: IndexStatus, newest_mtime_ns: int | None = None) -> str:
    """Render the index status line, saying so when the corpus folder changed since the last ingest."""
    line = f"Index: {status.documents} documents, {status.chunks} chunks"
    if newest_mtime_ns:
        stamp = datetime.fromtimestamp(newest_mtime_ns / 1e9, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")
        line += f" · newest document modified {stamp}"
    text = html.escape(line)
    if status.stale:
        change = (
            f"Corpus changed since the last ingest ({len(status.added)} new, {len(status.changed)} changed, "
            f"{len(status.removed)} removed): press Re-index."
        )
        text += f'<br><span class="status-stale">{html.escape(change)}</span>'
    return text


class ChatHandler:
    """The chat's event handlers, bound to one shared (thread-safe) `Assistant`."""

    def __init__(self, assistant: Assistant, *, stream_delay: float = 0.02) -> None:
        self.assistant = assistant
        # A short pause between streamed pieces lets the browser paint them; the answer itself is ready.
        self.stream_delay = stream_delay

    def respond(  # noqa: PLR0917 - Gradio passes the input components positionally
        self,
        question: str,
        chat: Sequence[Message] | None,
        turns: Sequence[Turn] | None,
        k: float | None = None,
        sources: Sequence[str] | None = None,
        backend: str | None = None,
    ) -> Iterator[Outputs]:
        """Answer `question` in this conversation, yielding (chat, sources panel, turns, textbox).

        `backend` is the answerer chosen in the settings panel (None: the configured one). A
        generative answerer's tokens are shown as they arrive; its citations when it completes.
        """
        before = list(chat or [])
        done = list(turns or [])
        text = question if isinstance(question, str) else ""
        if text.strip():
            before.append({"role": "user", "content": user_html(text)})
        panel = render_sources(done)
        yield [*before, {"role": "assistant", "content": "<em>Searching the documents…</em>"}], panel, done, ""
        try:
            if backend is not None and backend not in self.backends():
                raise ConfigError(f"unknown answerer {backend!r}: choose one of {', '.join(self.backends())}")
            if self.assistant.backend(backend) != "extractive":
                yield from self._stream(text, before, done, backend, k, sources)
                return
            result = self.assistant.answer(
                text, history=history_of(done), sources=list(sources) if sources else None, k=int(k) if k else None
            )
        except Exception as exc:  # noqa: BLE001 - every failure becomes one chat line; the server keeps serving
            yield [*before, {"role": "assistant", "content": error_html(exc)}], panel, done, text
            return
        done = [*done, Turn(text.strip(), result)]
        panel = render_sources(done)
        for prefix in stream_pieces(result.text):
            yield [*before, {"role": "assistant", "content": answer_html(result, len(done), prefix)}], panel, done, ""
            if self.stream_delay:
                time.sleep(self.stream_delay)
        yield [*before, {"role": "assistant", "content": answer_html(result, len(done))}], panel, done, ""

    def backends(self) -> list[str]:
        """The answerers this UI offers: extractive, and the configured generative one if any."""
        configured = self.assistant.backend()
        return ["extractive"] if configured == "extractive" else [configured, "extractive"]

    def _stream(  # noqa: PLR0917 - the respond() inputs, passed on
        self,
        text: str,
        before: list[Message],
        done: list[Turn],
        backend: str | None,
        k: float | None,
        sources: Sequence[str] | None,
    ) -> Iterator[Outputs]:
        """Show a generative answer token by token, then the checked answer and its sources."""
        panel = render_sources(done)
        partial = Answer(text, "", False)  # no citations yet: markers stay plain text while streaming
        streamed = ""
        result: Answer | None = None
        try:
            for item in self.assistant.stream(
                text,
                history=history_of(done),
                sources=list(sources) if sources else None,
                k=int(k) if k else None,
                answerer=backend,
            ):
                if isinstance(item, Answer):
                    result = item
                    break
                streamed += item
                shown = answer_html(partial, len(done) + 1, streamed) + "▍"
                yield [*before, {"role": "assistant", "content": shown}], panel, done, ""
        except Exception as exc:  # noqa: BLE001 - every failure becomes one chat line; the server keeps serving
            yield [*before, {"role": "assistant", "content": error_html(exc)}], panel, done, text
            return
        if result is None:  # pragma: no cover - Assistant.stream always ends with the Answer
            return
        done = [*done, Turn(text.strip(), result)]
        yield (
            [*before, {"role": "assistant", "content": answer_html(result, len(done))}],
            render_sources(done),
            done,
            "",
        )

    def clear(self) -> Outputs:
        """Start over: empty chat, empty panel, no history."""
        return [], render_sources([]), [], ""

    def status(self) -> tuple[str, bool]:
        """Render the index status line and tell whether the corpus changed since the last ingest."""
        try:
            status = self.assistant.status()
            records = self.assistant.indexer.records
        except AssistantError as exc:
            return f'<span class="chat-error">{html.escape(str(exc))}</span>', False
        return render_status(status, max((r.mtime_ns for r in records.values()), default=None)), status.stale

    def source_choices(self) -> list[tuple[str, str]]:
        """List (label, source) pairs for the source filter, from the index manifest."""
        try:
            records = self.assistant.indexer.records
        except AssistantError:
            return []
        return [(f"{r.title or s} ({s})", s) for s, r in sorted(records.items())]


def build_app(assistant: Assistant, *, stream_delay: float = 0.02, examples: Sequence[str] | None = None) -> gr.Blocks:
    """Build the Gradio Blocks app over `assistant` (serve it with `launch`).

    `examples` are the example questions offered (default: `answerable_examples(assistant)`).
    """
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"  # read by gradio at import time and in Blocks()
    import gradio as gr

    handler = ChatHandler(assistant, stream_delay=stream_delay)

    def check() -> tuple[str, Any]:
        line, stale = handler.status()
        return line, gr.update(visible=stale)

    def refresh() -> tuple[str, Any, Any]:
        return *check(), gr.update(choices=handler.source_choices())

    def reindex(progress: gr.Progress = gr.Progress(track_tqdm=True)) -> tuple[str, Any, Any]:  # noqa: B008 - Gradio's API
        progress(0, desc="Re-indexing the corpus")
        try:
            report = assistant.ingest(progress=True)  # the tqdm bar is what gr.Progress tracks
        except AssistantError as exc:
            status, button, choices = refresh()
            failed = html.escape(f"Re-index failed: {exc}")
            return f'<span class="chat-error">{failed}</span><br>{status}', button, choices
        status, button, choices = refresh()
        return f"{status}<br>{html.escape('Re-indexed: ' + report.summary())}", button, choices

    demo = gr.Blocks(title="Corpus assistant", analytics_enabled=False)
    with demo:
        gr.Markdown("## Ask the corpus")
        gr.Markdown(NOTE, elem_id="note")
        with gr.Row():
            status = gr.HTML(elem_id="index-status", js_on_load=None)
            reindex_button = gr.Button("Re-index", visible=False, size="sm", scale=0, elem_id="reindex")
        with gr.Row(equal_height=False):
            with gr.Column(scale=3):
                chatbot = gr.Chatbot(
                    label="Conversation",
                    elem_id="chat",
                    height=520,
                    render_markdown=False,  # messages are our escaped HTML; Markdown would reinterpret corpus text
                    sanitize_html=True,  # and Gradio's sanitizer stays on as a second line of defence
                    allow_tags=False,
                    latex_delimiters=[],
                    buttons=[],
                    feedback_options=None,
                    group_consecutive_messages=False,
                )
                with gr.Row():
                    question = gr.Textbox(
                        placeholder="Ask a question about the documents…",
                        show_label=False,
                        scale=5,
                        elem_id="question",
                        max_lines=4,
                    )
                    send = gr.Button("Ask", variant="primary", scale=1, elem_id="send")
                    clear = gr.Button("Clear", scale=1, elem_id="clear")
                shown = list(examples) if examples is not None else answerable_examples(assistant)
                if shown:
                    gr.Examples(shown, inputs=[question], label="Example questions")
                with gr.Accordion("Settings", open=False, elem_id="settings"):
                    k = gr.Slider(1, 20, value=assistant.settings.retrieval.k, step=1, label="Passages (k)")
                    sources = gr.Dropdown(
                        choices=handler.source_choices(), multiselect=True, label="Only these documents (empty: all)"
                    )
                    offered = handler.backends()
                    backend = gr.Dropdown(choices=offered, value=offered[0], label="Answerer")
            with gr.Column(scale=2):
                gr.Markdown("### Sources")
                panel = gr.HTML(render_sources([]), elem_id="sources-panel", js_on_load=None)
        turns = gr.State([])

        outputs = [chatbot, panel, turns, question]
        inputs = [question, chatbot, turns, k, sources, backend]
        # The scriptable API (gradio_client): /ask, /clear, /status, /reindex; everything else is private.
        asked = gr.on(
            [question.submit, send.click],
            handler.respond,
            inputs,
            outputs,
            concurrency_limit=CONCURRENCY,
            show_progress="hidden",
            api_name="ask",
        )
        # answering may have updated a stale index
        asked.then(check, None, [status, reindex_button], show_progress="hidden", api_visibility="private")
        clear.click(handler.clear, None, outputs, cancels=[asked], queue=False, api_name="clear")
        chatbot.clear(  # its trash icon
            handler.clear,
            None,
            outputs,
            cancels=[asked],
            queue=False,
            api_visibility="private",
        )
        reindex_button.click(reindex, None, [status, reindex_button, sources], concurrency_limit=1, api_name="reindex")
        demo.load(refresh, None, [status, reindex_button, sources], api_visibility="private")
        # Notice files added to corpus/ while the page is open (a stat per file, once a minute).
        gr.Timer(60).tick(check, None, [status, reindex_button], show_progress="hidden", api_name="status")
    demo.queue(default_concurrency_limit=CONCURRENCY, max_size=64)
    return demo


def auth_from_env(environ: dict[str, str] | None = None) -> list[tuple[str, str]] | None:
    """Read login pairs from ASSISTANT_UI_AUTH ("user:password") or ASSISTANT_UI_AUTH_FILE (user:password lines)."""
    env = os.environ if environ is None else environ
    lines: list[str] = []
    if env.get("ASSISTANT_UI_AUTH"):
        lines.append(env["ASSISTANT_UI_AUTH"])
    if env.get("ASSISTANT_UI_AUTH_FILE"):
        path = Path(env["ASSISTANT_UI_AUTH_FILE"])
        try:
            lines += path.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise ConfigError(f"cannot read ASSISTANT_UI_AUTH_FILE {path}: {exc.strerror}") from exc
    pairs: list[tuple[str, str]] = []
    for line in (raw.strip() for raw in lines):
        if not line or line.startswith("#"):
            continue
        user, sep, password = line.partition(":")
        if not sep or not user or not password:
            raise ConfigError("UI login entries must look like user:password (ASSISTANT_UI_AUTH / _FILE)")
        pairs.append((user, password))
    return pairs or None


def launch(
    demo: gr.Blocks,
    *,
    host: str = "127.0.0.1",
    port: int = 7860,
    auth: list[tuple[str, str]] | None = None,
    block: bool = True,
) -> str:
    """Serve `demo` on host:port (never shared publicly); return its local URL."""
    _app, url, _share = demo.launch(
        server_name=host,
        server_port=port,
        share=False,
        auth=auth,
        prevent_thread_lock=not block,
        show_error=False,  # errors are shown in the chat as one line, never as tracebacks
        footer_links=[],
        run_history=False,  # do not keep questions in the browser's storage
        mcp_server=False,
        enable_monitoring=False,
        ssr_mode=False,
        quiet=True,  # serve() prints its own line; Gradio's would suggest share=True
        css=CSS,
        js=JS,
    )
    return str(url)


def answerable_examples(assistant: Assistant) -> list[str]:
    """The configured example questions (`ui.examples`) that the extractive answerer answers on this corpus.

    An example the corpus cannot answer would teach a new user that the assistant refuses, so it is
    not offered: on a corpus of one's own the seed corpus's examples all drop out. A few
    milliseconds each; an index that cannot be read offers none.
    """
    shown: list[str] = []
    for question in assistant.settings.ui.examples:
        try:
            if not assistant.answer(question, answerer="extractive").abstained:
                shown.append(question)
        except AssistantError:
            return []
    return shown


def warm_up(assistant: Assistant) -> list[str]:
    """Build or update the index and load the models, so the first question is answered quickly.

    Returns the example questions to offer (`answerable_examples`), which answering them warms up.
    """
    try:
        assistant.ensure_index()
        return answerable_examples(assistant)
    except AssistantError as exc:
        logger.warning("warm-up failed (the UI will show this on the first question): %s", exc)
        return []


def is_loopback(host: str) -> bool:
    """Whether `host` is this machine only (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: it may resolve to anything
        return False


def serve(assistant: Assistant, *, host: str = "127.0.0.1", port: int = 7860, no_login: bool = False) -> int:
    """`assistant ui`: serve the web UI until interrupted; return the exit code.

    On an address other than loopback it refuses to start without a login, unless `no_login`
    says an open UI is meant (a trusted network, or a proxy in front that authenticates).
    """
    auth = auth_from_env()
    if not auth and not no_login and not is_loopback(host):
        raise ConfigError(
            f"refusing to serve on {host} without a login: set ASSISTANT_UI_AUTH=user:password "
            "(or ASSISTANT_UI_AUTH_FILE), or pass --no-login to serve it open on purpose"
        )
    examples = warm_up(assistant)
    demo = build_app(assistant, examples=examples)
    try:
        url = launch(demo, host=host, port=port, auth=auth, block=False)
    except OSError as exc:
        raise ConfigError(f"cannot serve on {host}:{port} ({exc}): choose another --port") from exc
    print(f"Serving on {url}{' (login required)' if auth else ''}; Ctrl-C stops.")
    demo.block_thread()  # returns on Ctrl-C, after closing the server
    return 0
