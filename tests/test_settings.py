"""Settings: environment variables, strictness and the index fingerprint."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from assistant.settings import ChunkingSettings, Settings, fingerprint


def test_environment_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    """ASSISTANT_-prefixed variables, nested with __, set fields."""
    monkeypatch.setenv("ASSISTANT_RETRIEVAL__K", "9")
    monkeypatch.setenv("ASSISTANT_STORE__MODE", "server")
    settings = Settings()
    assert settings.retrieval.k == 9
    assert settings.store.mode == "server"


def test_unknown_keys_are_errors() -> None:
    """A misspelt setting is rejected instead of silently ignored."""
    with pytest.raises(ValidationError):
        Settings(retreival={"k": 3})  # type: ignore[call-arg]


def test_fingerprint_tracks_what_shapes_the_index() -> None:
    """Chunking, model and cleaning versions change the fingerprint; retrieval settings do not."""
    base = fingerprint(Settings(), embedder="m1", cleaning="1", chunker="1")
    assert base == fingerprint(Settings(retrieval={"k": 12}), embedder="m1", cleaning="1", chunker="1")  # type: ignore[arg-type]
    assert base != fingerprint(
        Settings(chunking=ChunkingSettings(max_tokens=100)), embedder="m1", cleaning="1", chunker="1"
    )
    assert base != fingerprint(Settings(), embedder="m2", cleaning="1", chunker="1")
    assert base != fingerprint(Settings(), embedder="m1", cleaning="2", chunker="1")
