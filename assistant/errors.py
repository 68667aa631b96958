"""The errors the assistant raises on purpose: each message says what happened and what to do next.

The CLI prints `str(error)` on one line and exits 1; the UI shows the same line in the chat.
Anything that is not an `AssistantError` is a bug and keeps its traceback.
"""

from __future__ import annotations


class AssistantError(Exception):
    """Base class: a problem the user can fix, with a one-line message saying how."""


class ConfigError(AssistantError):
    """A setting, a model file or a path is wrong."""


class CorpusError(AssistantError):
    """The corpus folder is missing or holds nothing that can be indexed."""


class QuestionError(AssistantError):
    """The question cannot be asked: empty, too long, or not text."""


class StoreError(AssistantError):
    """The index cannot be opened, is locked by another ingest, or does not match its settings."""


class LoadError(AssistantError):
    """One corpus file could not be read; ingest reports it and goes on with the others."""


class BackendError(AssistantError):
    """A language model backend is unreachable, timed out or returned unusable output.

    The pipeline catches it and answers with the extractive answerer instead, saying so.
    """
