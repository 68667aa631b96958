"""Load on the web UI: concurrent scripted sessions against a real `assistant ui` process.

Run from the repo root:  .venv/bin/python evals/bench_load.py [--sessions 16] [--seconds 60] [--corpus corpus]

A copy of the corpus is indexed in a temporary folder and `assistant ui` serves it on a free
loopback port, as its own process. Each session is its own `gradio_client.Client` (its own Gradio
session, like a browser tab) and, until the time is up, asks questions through `/ask`: a first
question, then follow-ups in the same conversation, and `/clear` after every fourth. Each
session walks the question list from its own offset, so no two conversations are alike. Checked
on every answer:

- latency: from the call to the final output (the answer is streamed; this is the whole of it);
- errors: an exception, or an answer that is a one-line error instead of an answer;
- leaks: the sources panel lists the conversation's own questions ("Answer n: ..."), and the
  chat returned must be exactly the chat sent plus this question and its answer. Any other
  question there, or a wrong count, is another session's history showing through.

Prints a table and one JSON line; `run()` is what `tests/test_load.py` calls.
"""

from __future__ import annotations

import argparse
import html
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
QUESTIONS = [
    "How many healthy control subjects took part in the magnetization transfer study?",
    "What did the 3T and 7T MRI study find in the amygdala?",
    "Which brain networks changed after ketamine in the fMRI study?",
    "What does the PET study say about synaptic density?",
    "How is ketamine given at the clinic?",
    "Who funded the magnetization transfer study?",
    "What is treatment-resistant depression?",
    "How quickly does ketamine act on depressive symptoms?",
]
SUMMARY = re.compile(r"<summary>Answer (\d+): (.*?)</summary>", re.DOTALL)


@dataclass
class Tally:
    """What the sessions measured, shared between their threads."""

    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    leaks: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def text_of(content: Any) -> str:
    """A chat message's text (Gradio 6 sends content as a list of typed parts)."""
    if isinstance(content, list):
        return " ".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return str(content)


def free_port() -> int:
    """A port nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_ui(root: Path, corpus: Path) -> tuple[subprocess.Popen[bytes], str]:
    """Copy `corpus` under root, start `assistant ui` on it; return the process and its URL once it answers."""
    shutil.copytree(corpus, root / "corpus")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASSISTANT_")}
    command = [sys.executable, "-m", "assistant", "--corpus", str(root / "corpus"), "--index", str(root / "index")]
    process = subprocess.Popen(
        [*command, "ui", "--port", str(port)], cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}/"
    import httpx

    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"assistant ui exited with {process.returncode}")
        try:
            if httpx.get(url + "config", timeout=2).status_code == 200:
                return process, url
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    process.kill()
    raise SystemExit("assistant ui did not start within 300 s")


def session(url: str, number: int, until: float, tally: Tally) -> None:
    """One scripted conversation after another until `until`, checking each answer."""
    from gradio_client import Client

    client = Client(url, verbose=False)
    asked: list[str] = []
    chat: list[Any] = []
    step = number
    while time.monotonic() < until:
        if len(asked) == 4:
            client.predict(api_name="/clear")
            asked, chat = [], []
        question = QUESTIONS[step % len(QUESTIONS)]
        step += 1
        started = time.monotonic()
        try:
            new_chat, panel, _box = client.predict(question, chat, 6, [], "extractive", api_name="/ask")
        except Exception as exc:  # noqa: BLE001 - every failure is counted, the session goes on
            with tally.lock:
                tally.errors.append(f"session {number}: {type(exc).__name__}: {exc}"[:300])
            asked, chat = [], []
            client.predict(api_name="/clear")
            continue
        elapsed = time.monotonic() - started
        asked.append(question)
        answer = text_of(new_chat[-1]["content"]) if new_chat else ""
        shown = [(int(n), html.unescape(q)) for n, q in SUMMARY.findall(panel)]
        expected = [(n, q) for n, q in enumerate(asked, 1)]
        problems = []
        if len(new_chat) != len(chat) + 2 or html.unescape(text_of(new_chat[-2]["content"])) != question:
            problems.append(f"chat of {len(new_chat)} messages after sending {len(chat)}")
        if sorted(shown) != expected[-len(shown) :] or not shown or shown[0][0] != len(asked):
            problems.append(f"panel lists {shown}, the session asked {expected}")
        with tally.lock:
            tally.latencies.append(elapsed)
            if "chat-error" in answer:
                tally.errors.append(f"session {number}: {answer[:200]}")
            tally.leaks.extend(f"session {number}: {p}" for p in problems)
        chat = new_chat


def run(sessions: int = 16, seconds: float = 60.0, corpus: Path = REPO / "corpus") -> dict[str, Any]:
    """Serve `corpus` with `assistant ui` and load it with `sessions` concurrent sessions for `seconds`."""
    with tempfile.TemporaryDirectory() as tmp:
        process, url = start_ui(Path(tmp), corpus)
        try:
            tally = Tally()
            until = time.monotonic() + seconds
            threads = [
                threading.Thread(target=session, args=(url, n, until, tally), daemon=True) for n in range(sessions)
            ]
            started = time.monotonic()
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=seconds + 120)
            wall = time.monotonic() - started
            hung = sum(thread.is_alive() for thread in threads)
        finally:
            process.terminate()
            process.wait(timeout=30)
    latencies = sorted(tally.latencies)
    return {
        "sessions": sessions,
        "seconds": round(wall, 1),
        "answers": len(latencies),
        "answers_per_s": round(len(latencies) / wall, 2) if wall else 0.0,
        "p50_s": round(statistics.median(latencies), 3) if latencies else None,
        "p95_s": round(latencies[int(0.95 * (len(latencies) - 1))], 3) if latencies else None,
        "errors": len(tally.errors) + hung,
        "leaks": len(tally.leaks),
        "examples": (tally.errors + tally.leaks)[:5],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--corpus", type=Path, default=REPO / "corpus")
    args = parser.parse_args()
    result = run(args.sessions, args.seconds, args.corpus)
    print(f"{'sessions':<10}{'answers':>9}{'per s':>8}{'p50 s':>8}{'p95 s':>8}{'errors':>8}{'leaks':>7}")
    print(
        f"{result['sessions']:<10}{result['answers']:>9}{result['answers_per_s']:>8}{result['p50_s']:>8}"
        f"{result['p95_s']:>8}{result['errors']:>8}{result['leaks']:>7}"
    )
    print(json.dumps(result))
    return 0 if not result["errors"] and not result["leaks"] else 1


if __name__ == "__main__":
    sys.exit(main())
