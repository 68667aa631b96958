"""Plain records that flow through the pipeline: Document -> Chunk -> Passage -> Citation -> Answer."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

# How every answerer and `combine` words an abstention; the evaluation recognises it by this prefix.
NOT_ANSWERED_PREFIX = "The corpus does not answer"
RELATED_NOTE = "The closest passages are listed as related reading, not as an answer."
# A citation marker as the assistant writes it, "[3]" (model-written forms are read by `citing.py`).
MARKER = re.compile(r"\[(\d+)\]")
# ... with the space before it, to take markers out of a text ("A [1] B." -> "A B.").
SPACED_MARKER = re.compile(r"\s*\[\d+\]")


def abstention_text(detail: str, question: str = "") -> str:
    """The sentence that says the corpus does not answer (a part of a compound question when given)."""
    about = f"“{question}”" if question else "this question"
    return f"{NOT_ANSWERED_PREFIX} {about}: {detail}."


@dataclass(frozen=True)
class Document:
    """One corpus file after loading and cleaning.

    `text` is the cleaned text; every offset elsewhere (chunks, citations) points into it.
    `sha256` is the hash of the raw file bytes, which decides whether a file changed.
    """

    source: str  # path relative to the corpus folder, with forward slashes
    title: str
    text: str
    sha256: str
    publisher: str = ""
    date: str = ""
    author: str = ""


@dataclass(frozen=True)
class Chunk:
    """A token-bounded slice of a document: `text == document.text[start:end]`."""

    source: str
    index: int
    text: str
    start: int
    end: int
    tokens: int

    @property
    def id(self) -> str:
        """Stable id: the same document content always gives the same chunk ids."""
        return f"{self.source}#{self.index}"


@dataclass(frozen=True)
class Passage:
    """A retrieved chunk with its document metadata and retrieval scores."""

    chunk_id: str
    source: str
    title: str
    text: str
    start: int
    end: int
    score: float  # fused score; higher is better
    dense: float | None = None  # cosine similarity, when the dense retriever returned it
    lexical: float | None = None  # BM25 score, when the lexical retriever returned it
    publisher: str = ""
    date: str = ""


@dataclass(frozen=True)
class Citation:
    """A verbatim span of a corpus document that supports part of an answer."""

    number: int
    source: str
    title: str
    text: str
    start: int
    end: int

    def to_dict(self) -> dict[str, Any]:
        """The JSON form used by `Answer.to_dict()`."""
        return asdict(self)


@dataclass
class Answer:
    """The result of `answer()`: text with `[n]` markers, its citations, or an abstention.

    When `abstained` is true the corpus does not answer the question: `text` says what is missing,
    `citations` is empty, and `related` may hold the closest passages, which are not evidence.
    """

    question: str
    text: str
    abstained: bool
    citations: list[Citation] = field(default_factory=list)
    related: list[Citation] = field(default_factory=list)
    reason: str = ""  # why the answerer abstained or corrected the question, in a few words
    standalone_question: str = ""  # the question as retrieved, after folding in the conversation
    passages: list[Passage] = field(default_factory=list)
    answerer: str = "extractive"
    index_fingerprint: str = ""
    timings: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)  # what the citation check removed or flagged
    fallback: str = ""  # why a generative answerer was replaced by the extractive one, if it was

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict: the contract of `assistant ask --json`."""
        return {
            "question": self.question,
            "answer": self.text,
            "abstained": self.abstained,
            "citations": [c.to_dict() for c in self.citations],
            "related": [c.to_dict() for c in self.related],
            "reason": self.reason,
            "standalone_question": self.standalone_question,
            "answerer": self.answerer,
            "index_fingerprint": self.index_fingerprint,
            "retrieved": [
                {"chunk_id": p.chunk_id, "source": p.source, "score": round(p.score, 6)} for p in self.passages
            ],
            "timings_ms": {k: round(v * 1000, 1) for k, v in self.timings.items()},
            "warnings": list(self.warnings),
            "fallback": self.fallback,
        }
