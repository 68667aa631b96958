"""Question answering over a document corpus, with citations to the exact passages used.

The names below are imported on first use, so that `import assistant` (and the command line, which
starts loading the embedding model before it opens the index) does not pay for Chroma's client and
the answerer until they are needed.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from assistant.errors import AssistantError
    from assistant.indexing import IngestReport
    from assistant.pipeline import Assistant, answer, build_index
    from assistant.records import Answer, Citation
    from assistant.settings import Settings

_HOMES = {
    "Answer": "assistant.records",
    "Assistant": "assistant.pipeline",
    "AssistantError": "assistant.errors",
    "Citation": "assistant.records",
    "IngestReport": "assistant.indexing",
    "Settings": "assistant.settings",
    "answer": "assistant.pipeline",
    "build_index": "assistant.pipeline",
}

__all__ = ["Answer", "Assistant", "AssistantError", "Citation", "IngestReport", "Settings", "answer", "build_index"]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'assistant' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_HOMES])
