"""The claims of an answer: its statements that say something about the world, with their citations.

An answer is split into statements as `citing.split_statements` reads the assistant's own answers
(`runs`): markers close a cited segment, and every sentence of the text between the previous markers
and these ones inherits their numbers, because an extractive answer quotes several sentences and
then cites them once ("A. B. [1]"). Sentences after the last marker have no citation.

Not claims, so not statements: a short lead-in ending in a colon ("No:", "The corpus contradicts
the premise:") is dropped from the sentence it introduces, and an abstention note ("The corpus does
not answer ...") is dropped entirely; both are the assistant talking about its sources.
"""

from __future__ import annotations

import re

from assistant.citing import Statement, split_statements
from assistant.records import NOT_ANSWERED_PREFIX, RELATED_NOTE

# A lead-in of at most six words before a colon, with no digits (a "Ratio: 3:1" is content).
_LEAD_IN = re.compile(r"^(?:[A-Za-z’']+\s+){0,5}[A-Za-z’']+:\s+")
# The assistant's own words about its sources (`records.abstention_text`, `records.RELATED_NOTE`),
# and the same said by a model in other words ("The corpus does not say ...").
_META = re.compile(
    rf"^(?:{re.escape(NOT_ANSWERED_PREFIX)}|the corpus does not (?:say|mention)|{re.escape(RELATED_NOTE[:30])}"
    r"|none of the documents (?:mention|say))",
    re.IGNORECASE,
)


def claims(text: str) -> list[Statement]:
    """The statements of an answer that make claims, in order (see the module docstring)."""
    found: list[Statement] = []
    for statement in split_statements(text, runs=True):
        sentence = _LEAD_IN.sub("", statement.text, count=1).strip()
        if re.search(r"[A-Za-z0-9]", sentence) and not _META.match(sentence):
            found.append(Statement(sentence, statement.citations))
    return found
