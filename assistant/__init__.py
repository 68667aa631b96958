"""Question answering over a document corpus, with citations to the exact passages used."""

from assistant.errors import AssistantError
from assistant.indexing import IngestReport
from assistant.pipeline import Assistant, answer, build_index
from assistant.records import Answer, Citation
from assistant.settings import Settings

__all__ = ["Answer", "Assistant", "AssistantError", "Citation", "IngestReport", "Settings", "answer", "build_index"]
