"""Faults with real processes and signals: ingests killed at random points, a full disk, a Chroma server that dies."""

from __future__ import annotations

import os
import random
import resource
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from assistant.embedding import Embedder
from assistant.pipeline import Assistant
from assistant.settings import Settings, StoreSettings
from assistant.store import ChromaStore
from assistant.ui import ChatHandler

KILLS = 20
FILES = 200
PROBE = "How many gulls did station 7 log?"


def note(i: int, version: int) -> str:
    """Corpus file i, in its `version`: a title and two sentences, one chunk."""
    return (
        f"Field note {i}\n\nStation {i} logged {i * 7 + version} gulls and {i + 3} terns on survey morning {version}.\n"
        f"The observers at station {i} also counted {i * 2 + version} cormorants near the breakwater.\n"
    )


def ingest_command(corpus: Path, index: Path) -> list[str]:
    """`assistant ingest` on corpus and index, as a separate process."""
    return [sys.executable, "-m", "assistant", "--corpus", str(corpus), "--index", str(index), "ingest"]


def clean_env() -> dict[str, str]:
    """The environment without ASSISTANT_ settings, so the command line decides."""
    return {k: v for k, v in os.environ.items() if not k.startswith("ASSISTANT_")}


def chunks_of(index: Path) -> dict[str, str]:
    """Chunk id -> text of an embedded index, failing on any id stored twice."""
    store = ChromaStore(StoreSettings(path=index))
    fingerprint = store.stored_fingerprint()
    assert fingerprint is not None
    store.open(fingerprint)
    pairs = [(chunk_id, text) for chunk_id, text, _meta in store.all_chunks()]
    ids = [chunk_id for chunk_id, _ in pairs]
    assert len(ids) == len(set(ids)), "a chunk is stored twice"
    return dict(pairs)


@pytest.mark.slow
def test_ingest_killed_at_random_points_never_breaks_the_index(tmp_path: Path, embedder: Embedder) -> None:
    """kill -9 of `assistant ingest` at 20 random points: the index answers after each, then equals a clean build."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    versions = dict.fromkeys(range(FILES), 0)
    for i in range(FILES):
        (corpus / f"note-{i:03d}.txt").write_text(note(i, 0), encoding="utf-8")
    index = tmp_path / "index"
    rng = random.Random(13)
    subprocess.run(ingest_command(corpus, index), check=True, env=clean_env(), capture_output=True)

    def change_files() -> None:
        for i in rng.sample(sorted(versions), 40):  # new versions, so every ingest has writing to do
            versions[i] += 1
            (corpus / f"note-{i:03d}.txt").write_text(note(i, versions[i]), encoding="utf-8")

    # The window a kill can land in: one update ingest of the same size, timed, not the first full
    # build (which a cold start, compiling a fresh checkout's modules, can make several times longer).
    change_files()
    started = time.monotonic()
    subprocess.run(ingest_command(corpus, index), check=True, env=clean_env(), capture_output=True)
    update = time.monotonic() - started
    reader = Assistant(Settings(corpus=corpus, store=StoreSettings(path=index)), embedder=embedder)
    kills = []
    for _round in range(KILLS):
        change_files()
        if rng.random() < 0.2:  # and sometimes files go away
            gone = rng.choice(sorted(versions))
            (corpus / f"note-{gone:03d}.txt").unlink()
            del versions[gone]
        delay = rng.uniform(0.3, max(0.4, 0.9 * update))
        process = subprocess.Popen(
            ingest_command(corpus, index), env=clean_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        time.sleep(delay)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        kills.append((round(delay, 2), process.returncode))
        # The index answers at once (read-only: this reader does not ingest the changed corpus itself).
        result = reader.retrieve(PROBE, k=3)
        assert result, f"no passages after a kill at {delay:.2f} s"
        assert all(p.text for p in result)
    landed = sum(code == -signal.SIGKILL for _, code in kills)
    assert landed >= KILLS // 2, kills  # most kills landed mid-ingest
    print(f"{landed} of {KILLS} ingests killed mid-way (the rest had finished)")  # for -s runs
    finished = subprocess.run(
        ingest_command(corpus, index), env=clean_env(), capture_output=True, text=True, check=False
    )
    assert finished.returncode == 0, finished.stderr
    clean = tmp_path / "clean"
    subprocess.run(ingest_command(corpus, clean), check=True, env=clean_env(), capture_output=True)
    survived, expected = chunks_of(index), chunks_of(clean)
    assert survived == expected  # every chunk there exactly once, with the current text
    assert len(expected) == len(versions)
    if 7 in versions:  # the reader process sees the final versions, not the ones it loaded
        current = f"Station 7 logged {7 * 7 + versions[7]} gulls"
        assert any(current in p.text for p in reader.retrieve("Station 7 logged gulls and terns", k=5))


def test_full_disk_during_ingest_is_one_line_and_the_index_still_answers(tmp_path: Path, embedder: Embedder) -> None:
    """An ingest whose writes fail (file size limit: the disk is full) exits 1 with one line; the old index answers."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for i in range(5):
        (corpus / f"note-{i:03d}.txt").write_text(note(i, 0), encoding="utf-8")
    index = tmp_path / "index"
    subprocess.run(ingest_command(corpus, index), check=True, env=clean_env(), capture_output=True)
    for i in range(5, 400):
        (corpus / f"note-{i:03d}.txt").write_text(note(i, 0) * 20, encoding="utf-8")
    largest = max(path.stat().st_size for path in index.rglob("*") if path.is_file())

    def small_disk() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (largest + 4096, largest + 4096))

    failed = subprocess.run(
        ingest_command(corpus, index),
        env=clean_env(),
        capture_output=True,
        text=True,
        preexec_fn=small_disk,
        check=False,
    )
    assert failed.returncode == 1, (failed.returncode, failed.stderr[-2000:])
    lines = [line for line in failed.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, failed.stderr[-2000:]
    assert lines[0].startswith("error: "), lines[0]
    reader = Assistant(Settings(corpus=corpus, store=StoreSettings(path=index)), embedder=embedder)
    passages = reader.retrieve("How many gulls did station 3 log?", k=3)
    assert any(p.source == "note-003.txt" for p in passages)


@pytest.fixture
def restartable_server(tmp_path: Path) -> Iterator[tuple[int, list[subprocess.Popen[bytes]]]]:
    """A Chroma server on a free loopback port whose process list the test may kill and extend."""
    from tests.conftest import start_chroma

    port, process = start_chroma(tmp_path / "server-data")
    processes = [process]
    try:
        yield port, processes
    finally:
        for proc in processes:
            proc.kill()
            proc.wait(timeout=20)


@pytest.mark.server
def test_chroma_server_dying_is_one_line_and_the_ui_recovers_when_it_is_back(
    tmp_path: Path, embedder: Embedder, restartable_server: tuple[int, list[subprocess.Popen[bytes]]]
) -> None:
    """Server killed: the chat shows a one-line error; server restarted on the same data: the next question works."""
    from tests.conftest import start_chroma

    port, processes = restartable_server
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for i in range(5):
        (corpus / f"note-{i:03d}.txt").write_text(note(i, 0), encoding="utf-8")
    settings = Settings(corpus=corpus, store=StoreSettings(mode="server", port=port, path=tmp_path / "locks"))
    assistant = Assistant(settings, embedder=embedder)
    assistant.ingest(progress=False)
    handler = ChatHandler(assistant, stream_delay=0)
    question = "How many gulls did station 3 log?"
    chat, _panel, turns, _box = list(handler.respond(question, [], []))[-1]
    assert "21 gulls" in chat[-1]["content"]

    # Mid-question: the server is frozen, a question goes out and waits on it, then the server dies.
    os.kill(processes[0].pid, signal.SIGSTOP)
    outputs: list[tuple] = []
    asking = threading.Thread(target=lambda: outputs.extend(handler.respond(question, chat, turns)))
    asking.start()
    time.sleep(1.5)
    assert asking.is_alive(), "the question did not wait on the frozen server"
    processes[0].kill()
    processes[0].wait(timeout=20)
    asking.join(timeout=120)
    assert not asking.is_alive()
    chat, _panel, turns, box = outputs[-1]
    error = chat[-1]["content"]
    assert "Chroma" in error
    assert "Traceback" not in error
    assert error.count("<br") == 0
    assert box == question  # the question stays in the box, to ask again

    _port, process = start_chroma(tmp_path / "server-data", port=port)
    processes.append(process)
    chat, _panel, turns, _box = list(handler.respond(question, chat, turns))[-1]
    assert "21 gulls" in chat[-1]["content"]
