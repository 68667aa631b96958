"""Split an answer into statements, each with the citation numbers attached to it.

A statement is one sentence of the answer. Markers (`[1]`, `[1][2]`, `[1, 2]`) close a cited
segment: every sentence of the text between the previous markers and these ones inherits their
numbers, because an extractive answer quotes several sentences and then cites them once
("A. B. [1]"), and a generated answer often puts the marker before the full stop ("A [1].").
Sentences after the last marker have no citation.

Not claims, so not statements: a short lead-in ending in a colon ("No:", "The corpus contradicts
the premise:") is dropped from the sentence it introduces, and an abstention note ("The corpus does
not answer ...") is dropped entirely; both are the assistant talking about its sources.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from assistant.chunking import sentence_spans
from assistant.records import NOT_ANSWERED_PREFIX, RELATED_NOTE

_MARKERS = re.compile(r"(?:\s*\[\d+(?:\s*[,;]\s*\d+)*\])+")
_NUMBER = re.compile(r"\d+")
# A lead-in of at most six words before a colon, with no digits (a "Ratio: 3:1" is content).
_LEAD_IN = re.compile(r"^(?:[A-Za-z’']+\s+){0,5}[A-Za-z’']+:\s+")
# The assistant's own words about its sources (`records.abstention_text`, `records.RELATED_NOTE`),
# and the same said by a model in other words ("The corpus does not say ...").
_META = re.compile(
    rf"^(?:{re.escape(NOT_ANSWERED_PREFIX)}|the corpus does not (?:say|mention)|{re.escape(RELATED_NOTE[:30])}"
    r"|none of the documents (?:mention|say))",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Statement:
    """One claim of an answer and the numbers of the citations attached to it."""

    text: str
    citations: tuple[int, ...]


def _segments(text: str) -> list[tuple[str, tuple[int, ...]]]:
    """(text, citation numbers) for the runs of text between marker groups."""
    segments: list[tuple[str, tuple[int, ...]]] = []
    cursor = 0
    for match in _MARKERS.finditer(text):
        numbers = tuple(dict.fromkeys(int(n) for n in _NUMBER.findall(match.group())))
        segments.append((text[cursor : match.start()], numbers))
        cursor = match.end()
    segments.append((text[cursor:], ()))
    return segments


def _clean(sentence: str) -> str:
    sentence = sentence.strip().lstrip(".,;:!? ").strip()
    return _LEAD_IN.sub("", sentence, count=1).strip()


def split_statements(text: str) -> list[Statement]:
    """The statements of an answer, in order (see the module docstring)."""
    statements: list[Statement] = []
    for segment, numbers in _segments(text):
        for start, end in sentence_spans(segment):
            sentence = _clean(segment[start:end])
            if not re.search(r"[A-Za-z0-9]", sentence) or _META.match(sentence):
                continue
            statements.append(Statement(sentence, numbers))
    return statements
