"""Shared fixtures: the real embedding model (loaded once), seed-corpus copies and assistants in tmp_path."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from assistant.embedding import Embedder
from assistant.pipeline import Assistant
from assistant.settings import Settings, StoreSettings

REPO = Path(__file__).resolve().parents[1]
SEED_CORPUS = REPO / "corpus"
DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    """The real bundled all-MiniLM-L6-v2, shared by all tests (its counters are per test via `counting`)."""
    return Embedder()


def make_settings(root: Path, **overrides: object) -> Settings:
    """Settings for a corpus and an index under `root`."""
    # Tests edit the corpus and ask at once: compare the folder before every question.
    overrides.setdefault("corpus_check_seconds", 0)
    return Settings(corpus=root / "corpus", store=StoreSettings(path=root / "index"), **overrides)  # type: ignore[arg-type]


def copy_seeds(root: Path) -> Path:
    """Copy the seed corpus to root/corpus and return that folder."""
    target = root / "corpus"
    shutil.copytree(SEED_CORPUS, target)
    return target


def write_corpus(root: Path, files: dict[str, str]) -> Path:
    """Write a made-up corpus to root/corpus (file name -> text) and return `root`."""
    corpus = root / "corpus"
    corpus.mkdir()
    for name, text in files.items():
        (corpus / name).write_text(text, encoding="utf-8")
    return root


@pytest.fixture
def seed_root(tmp_path: Path) -> Path:
    """A tmp folder holding a copy of the seed corpus in corpus/."""
    copy_seeds(tmp_path)
    return tmp_path


@pytest.fixture
def make_assistant(embedder: Embedder) -> Callable[..., Assistant]:
    """Build an Assistant over `root` with the shared embedder."""

    def build(root: Path, **overrides: object) -> Assistant:
        return Assistant(make_settings(root, **overrides), embedder=embedder)

    return build


@pytest.fixture(scope="session")
def seed_assistant(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Assistant:
    """One Assistant over the seed corpus with its index built, shared by read-only tests."""
    root = tmp_path_factory.mktemp("seed")
    copy_seeds(root)
    assistant = Assistant(make_settings(root), embedder=embedder)
    assistant.ingest(progress=False)
    return assistant


def start_chroma(data: Path, port: int | None = None) -> tuple[int, subprocess.Popen[bytes]]:
    """Start a real Chroma server (`chroma run`) on `port` (default: a free loopback port); wait until it listens."""
    chroma = shutil.which("chroma", path=str(Path(sys.executable).parent))
    if chroma is None:
        pytest.fail("the chroma CLI is not installed next to this Python")
    if port is None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
    env = {**os.environ, "ANONYMIZED_TELEMETRY": "False"}
    process = subprocess.Popen(
        [chroma, "run", "--path", str(data), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return port, process
        if process.poll() is not None:
            break
        time.sleep(0.2)
    process.kill()
    pytest.fail("chroma server did not start within 60 s")


@pytest.fixture
def chroma_server(tmp_path: Path) -> Iterator[int]:
    """A real Chroma server (`chroma run`) on a free loopback port, stopped after the test."""
    port, process = start_chroma(tmp_path / "server-data")
    try:
        yield port
    finally:
        process.terminate()
        process.wait(timeout=20)
