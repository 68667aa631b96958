"""Many processes, one index: a running assistant sees another process's ingest; concurrent ingests serialise."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from assistant.embedding import Embedder
from assistant.pipeline import Assistant
from assistant.settings import Settings, StoreSettings

DOCS = {
    "lantern.txt": "Harbor lantern survey\n\nThe harbor lantern survey counted 42 otoliths in the north tank.\n",
    "tide.txt": "Tide gauge notes\n\nThe tide gauge at the east pier was recalibrated in March after a storm.\n",
}
NEW_NAME = "quorvane.txt"
NEW_TEXT = (
    "Clinic network report\n\nThe pilot trial of Quorvane enrolled 417 participants from three coastal clinics "
    "in the spring.\n"
)
NEW_QUESTION = "How many participants did the Quorvane pilot trial enroll?"
GONE_QUESTION = "When was the tide gauge at the east pier recalibrated?"


def cli(root: Path, settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    """Run `assistant --corpus --index ARGS` as its own process, with the store mode of `settings`."""
    env = {
        **os.environ,
        "ASSISTANT_STORE__MODE": settings.store.mode,
        "ASSISTANT_STORE__PORT": str(settings.store.port),
    }
    command = [sys.executable, "-m", "assistant", "--corpus", str(settings.corpus), "--index", str(settings.store.path)]
    return subprocess.run([*command, *args], capture_output=True, text=True, env=env, cwd=root, check=False)


def settings_for(root: Path, mode: str, port: int) -> Settings:
    """Settings over root/corpus, with the index embedded in root/index or on the Chroma server at `port`."""
    return Settings(corpus=root / "corpus", store=StoreSettings(mode=mode, port=port, path=root / "index"))  # type: ignore[arg-type]


@pytest.fixture(params=["embedded", pytest.param("server", marks=pytest.mark.server)])
def store_mode(request: pytest.FixtureRequest) -> tuple[str, int]:
    """Each store mode: embedded, and a real Chroma server on a loopback port."""
    if request.param == "server":
        return "server", request.getfixturevalue("chroma_server")
    return "embedded", 8000


def test_running_assistant_sees_another_process_ingest(
    tmp_path: Path, embedder: Embedder, store_mode: tuple[str, int]
) -> None:
    """A file added (or deleted) and ingested by another process is answered from (or gone) at the next question."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name, text in DOCS.items():
        (corpus / name).write_text(text, encoding="utf-8")
    settings = settings_for(tmp_path, *store_mode)
    running = Assistant(settings, embedder=embedder)
    running.ingest(progress=False)
    assert running.answer(NEW_QUESTION).abstained
    assert running.answer(GONE_QUESTION).citations[0].source == "tide.txt"

    (corpus / NEW_NAME).write_text(NEW_TEXT, encoding="utf-8")
    (corpus / "tide.txt").unlink()
    done = cli(tmp_path, settings, "ingest")
    assert done.returncode == 0, done.stderr

    own_write = running.indexer.generation
    result = running.answer(NEW_QUESTION)
    assert not result.abstained, result.text
    assert "417" in result.text
    assert [c.source for c in result.citations] == [NEW_NAME]
    assert all(c.source != "tide.txt" for c in running.answer(GONE_QUESTION).citations)
    assert {p.source for p in running.retrieve("tide gauge recalibrated storm", k=5)} <= {NEW_NAME, "lantern.txt"}
    assert running.status().documents == 2
    assert running.indexer.generation == own_write  # this process wrote nothing: it read the other's ingest


def test_two_concurrent_ingests_serialise_and_leave_each_chunk_once(tmp_path: Path) -> None:
    """Two `assistant ingest` processes started together on one index both succeed; the index equals a clean build."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for i in range(40):
        (corpus / f"note-{i:02d}.txt").write_text(
            f"Field note {i}\n\nStation {i} logged {i * 7} gulls and {i + 3} terns on the survey morning.\n"
            f"The observers at station {i} also counted {i * 2} cormorants.\n",
            encoding="utf-8",
        )
    settings = settings_for(tmp_path, "embedded", 8000)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASSISTANT_")}
    command = [sys.executable, "-m", "assistant", "--corpus", str(corpus), "--index", str(tmp_path / "index"), "ingest"]
    runs = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) for _ in "ab"]
    outputs = [run.communicate(timeout=300) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    status = cli(tmp_path, settings, "status")
    assert status.returncode == 0, status.stderr
    assert "documents: 40, chunks: 40" in status.stdout
    from assistant.store import ChromaStore

    shared = ChromaStore(settings.store)
    fingerprint = shared.stored_fingerprint()
    assert fingerprint is not None
    shared.open(fingerprint)
    ids = [chunk_id for chunk_id, _text, _meta in shared.all_chunks()]
    assert len(ids) == len(set(ids)) == 40  # one chunk per note, none twice
