"""What the answerer knows about each document beyond its retrieved passages.

Every analysed term (with the long forms of the acronyms the document defines), how many of its
sentences hold each term, and its section headings: worked out from the index's chunks the first
time a question reaches the document.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from assistant.chunking import section_headings, sentence_spans
from assistant.retrieval import ChunkInfo, LexicalIndex, analyse


def _reassemble(parts: list[tuple[int, str]]) -> str:
    """A document's text from its chunks (offset, text); uncovered gaps become line breaks."""
    size = max(start + len(text) for start, text in parts)
    chars = ["\n"] * size
    for start, text in parts:
        chars[start : start + len(text)] = text
    return "".join(chars)


@dataclass
class Facts:
    """What the answerer knows about one document beyond its passages."""

    terms: set[str]  # every analysed term of the document, with the long forms of its acronyms
    expansions: dict[str, set[str]]  # acronym -> its long form's terms, as the document defines them
    sentence_freq: Counter[str]  # term -> sentences holding it ("" -> the sentence count)
    headings: list[tuple[int, str]]  # section headings (and FAQ questions) by offset


class DocumentFacts:
    """`Facts` of each document, worked out from its chunks the first time the answerer looks at it.

    Lazily, so that a process starting over thousands of documents pays only for those its
    questions reach.
    """

    def __init__(self, lexical: LexicalIndex) -> None:
        self._chunks: dict[str, list[ChunkInfo]] = {}
        self.defined: dict[str, dict[str, set[str]]] = {}  # source -> the expansions of its acronyms
        for chunk in lexical.chunks:
            self._chunks.setdefault(chunk.source, []).append(chunk)
            self.defined.setdefault(chunk.source, {}).update({short: set(long) for short, long in chunk.defines})
        self._facts: dict[str, Facts] = {}

    def add(self, chunks: list[ChunkInfo]) -> None:
        """Know documents the index does not hold (replacing what was known of their sources)."""
        fresh: dict[str, list[ChunkInfo]] = {}
        for chunk in chunks:
            fresh.setdefault(chunk.source, []).append(chunk)
        for source, group in fresh.items():
            self._chunks[source] = group
            self.defined[source] = {short: set(long) for chunk in group for short, long in chunk.defines}
            self._facts.pop(source, None)

    def of(self, source: str) -> Facts:
        """The facts of `source` (empty ones for a document the index does not hold)."""
        if source not in self._facts:
            self._facts[source] = self._work_out(self._chunks.get(source, []), self.defined.get(source, {}))
        return self._facts[source]

    @staticmethod
    def _work_out(chunks: list[ChunkInfo], expansions: dict[str, set[str]]) -> Facts:
        facts = Facts(set(), expansions, Counter({"": 0}), [])
        seen: set[int] = set()
        for chunk in chunks:
            facts.terms.update(analyse(chunk.title + "\n" + chunk.text))
            for s, e in sentence_spans(chunk.text):
                if chunk.start + s in seen:
                    continue
                seen.add(chunk.start + s)
                facts.sentence_freq[""] += 1
                facts.sentence_freq.update(set(analyse(chunk.text[s:e])))
        if chunks:
            text = _reassemble([(c.start, c.text) for c in chunks])
            facts.headings = section_headings(text, chunks[0].title)
        for long_form in facts.expansions.values():
            facts.terms |= long_form
        return facts
