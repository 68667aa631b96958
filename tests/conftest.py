"""Shared fixtures: the real embedding model (loaded once), seed-corpus copies and assistants in tmp_path."""

from __future__ import annotations

import shutil
from collections.abc import Callable
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
    return Settings(corpus=root / "corpus", store=StoreSettings(path=root / "index"), **overrides)  # type: ignore[arg-type]


def copy_seeds(root: Path) -> Path:
    """Copy the seed corpus to root/corpus and return that folder."""
    target = root / "corpus"
    shutil.copytree(SEED_CORPUS, target)
    return target


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
