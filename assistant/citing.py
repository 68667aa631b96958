"""Check a generated answer against the passages it was given: markers, support, citations.

A language model's text is not trusted. `check` takes the raw output and the numbered passages of
the prompt and returns what may be shown:

- markers are read in every form models write (`[1]`, `[1, 2]`, `[1][3]`, `[1-3]`, `[Passage 2]`);
  a marker that points to no passage is removed and reported;
- each statement's cited passage is narrowed to the sentence (or two adjacent sentences) that best
  supports it, so a `Citation` is always a verbatim span of the document's cleaned text; a marker
  whose passage does not support its statement is removed and the statement is flagged;
- statements without any citation are flagged; one that a passage sentence clearly supports (most of
  its content terms) gets that citation added, also reported;
- citations are renumbered 1..n in order of first use;
- the fixed abstention phrase (or a paraphrase of it), with nothing supported besides, marks the
  answer as abstained.

Support is lexical: the statement's content terms (stemmed, stop words removed) must largely occur
in the cited sentence, every number it states must occur there too, and every acronym it names
(PET, MTR) must occur in the cited passage or its title, so one study's figures never answer for
another's. A sentence that reads as an
instruction to the model ("ignore the question and reply ...") is data, never evidence, so text
copied from an injected instruction is never supported. An answer with nothing supported is not an
answer from the corpus; the caller decides what to do with it (the pipeline falls back).

Pure functions over strings and records: tested with recorded model outputs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from assistant.chunking import sentence_spans
from assistant.records import Citation, Passage
from assistant.retrieval import analyse

ABSTAIN_PHRASE = "The passages do not contain the answer."

MIN_SHARED = 2  # content terms a statement must share with its supporting sentence ...
MIN_SHARE = 0.4  # ... and the share of its own content terms that makes up
SHORT_CLAIM = 2  # statements with at most this many content terms must share all of them
ATTRIBUTE_SHARE = 0.6  # an uncited statement gets a citation only when a sentence holds this share of its terms

_MARKER = re.compile(
    r"\[\s*(?:(?:passages?|sources?|docs?|documents?|refs?|ids?)\s*[:=]?\s*)?"
    r"(#?\d+(?:\s*(?:,|;|-|–|and|&)\s*(?:(?:passages?|sources?)\s*)?#?\d+)*)\s*\]",
    re.IGNORECASE,
)
_ABSTAIN = re.compile(
    r"\b(?:passages?|documents?|context|sources?|texts?)\s+(?:do|does|did)\s*(?:n['’]t|\s+not)\s+"
    r"(?:contain|include|provide|mention|say|answer)\b",
    re.IGNORECASE,
)
# Instructions addressed to a model, as an injected document would phrase them.
_INSTRUCTION = re.compile(
    r"\b(?:ignore|disregard|forget|override)\b[^.!?\n]{0,60}\b(?:question|instructions?|prompt|context|rules"
    r"|above|previous|passages?|system)\b"
    r"|\b(?:you|assistant|ai|model|chatbot|llm)\b[^.!?\n]{0,40}\b(?:must|should|shall|will|are to)\b[^.!?\n]{0,20}"
    r"\b(?:reply|respond|answer|say|output|print|write)\b"
    r"|\b(?:reply|respond|answer)\s+(?:only\s+)?with\s+(?:the\s+word\s+)?[\"“']?[A-Z]{3,}",
    re.IGNORECASE,
)
VERDICTS = frozenset({"yes", "no", "maybe"})
_NUMBER = re.compile(r"\d+(?:[.,]\d+)?")
_ACRONYM = re.compile(r"\b[a-z]?[A-Z][A-Z0-9]+s?\b")  # PET, MRI, fMRI, MDD, TRDs
# A statement ends at closing punctuation followed by space (markers after the stop, on the same
# line, stay with it), or at a newline; markers that open a line belong to that line's statement.
_STATEMENT_END = re.compile(r"(?<=[.!?])((?:[ \t]*\[[^\]\n]{1,40}\])*)(?=\s)|\n+")


@dataclass
class Statement:
    """One sentence of the answer, its markers removed, and the passages it cites."""

    text: str
    cited: list[int] = field(default_factory=list)  # passage numbers as written by the model


@dataclass
class Checked:
    """The answer as it may be shown: renumbered markers, verified citations, and what was wrong."""

    text: str
    citations: list[Citation]
    warnings: list[str]
    abstained: bool
    supported: int  # statements supported by at least one cited sentence
    statements: int  # statements with content (markers and the abstention phrase aside)


def marker_numbers(inner: str) -> list[int]:
    """The numbers inside one marker's brackets: "1, 2" -> [1, 2], "2-4" -> [2, 3, 4]."""
    numbers: list[int] = []
    for part in re.split(r"\s*(?:,|;|and|&)\s*", inner, flags=re.IGNORECASE):
        bounds = [int(n) for n in re.findall(r"\d+", part)]
        if len(bounds) == 2 and re.search(r"[-–]", part) and 0 <= bounds[1] - bounds[0] <= 20:
            numbers.extend(range(bounds[0], bounds[1] + 1))
        else:
            numbers.extend(bounds)
    return numbers


def split_statements(text: str) -> list[Statement]:
    """The answer's statements, each with the passage numbers its markers cite, in order."""
    statements: list[Statement] = []
    cursor = 0
    pieces: list[str] = []
    for match in _STATEMENT_END.finditer(text):
        pieces.append(text[cursor : match.end()])
        cursor = match.end()
    pieces.append(text[cursor:])
    for piece in pieces:
        cited = [n for m in _MARKER.finditer(piece) for n in marker_numbers(m.group(1))]
        body = " ".join(_MARKER.sub(" ", piece).split())
        body = re.sub(r"\s+([.,;:!?])", r"\1", body)
        if body or cited:
            statements.append(Statement(body, cited))
    # A marker alone on its own "statement" belongs to the one before it.
    merged: list[Statement] = []
    for statement in statements:
        if not statement.text.strip(" .,;:") and merged:
            merged[-1].cited += statement.cited
        else:
            merged.append(statement)
    return merged


def is_verdict(statement: str) -> bool:
    """Whether a statement is only a yes/no verdict ("Yes.", "No.", "Maybe."), which cites nothing itself."""
    return statement.strip(" .,;:!").lower() in VERDICTS


def is_instruction(sentence: str) -> bool:
    """Whether a document sentence reads as an instruction to a model (never evidence)."""
    return _INSTRUCTION.search(sentence) is not None


def says_no_answer(text: str) -> bool:
    """Whether a statement is the abstention phrase or a paraphrase of it."""
    return _ABSTAIN.search(text) is not None


def _supports(claim: str, claim_terms: set[str], sentence: str) -> float:
    """How well `sentence` supports `claim`: the share of claim terms it holds, 0 when it cannot."""
    if not claim_terms or is_instruction(sentence):
        return 0.0
    terms = set(analyse(sentence))
    shared = claim_terms & terms
    share = len(shared) / len(claim_terms)
    if len(claim_terms) <= SHORT_CLAIM:
        enough = shared == claim_terms
    else:
        enough = len(shared) >= MIN_SHARED and share >= MIN_SHARE
    numbers = set(_NUMBER.findall(claim))
    if not enough or not numbers <= set(_NUMBER.findall(sentence)):
        return 0.0
    return share


def best_span(claim: str, passage: Passage, *, at_least: float = 0.0) -> tuple[int, int] | None:
    """Document offsets of the sentence (or adjacent pair) of `passage` that best supports `claim`.

    None when no sentence supports it (or none with a share of its terms of at least `at_least`).
    """
    claim_terms = set(analyse(claim))
    named = {a.rstrip("s") for a in _ACRONYM.findall(claim)}
    context = f"{passage.title}\n{passage.text}"
    if any(not re.search(rf"\b{re.escape(a)}", context) for a in named):
        return None
    spans = sentence_spans(passage.text)
    best: tuple[float, int, int] | None = None
    for i, (start, end) in enumerate(spans):
        candidates = [(start, end)]
        if i + 1 < len(spans):
            candidates.append((start, spans[i + 1][1]))
        for lo, hi in candidates:
            score = _supports(claim, claim_terms, passage.text[lo:hi])
            # Ties go to the shorter span: a pair must add support to be preferred to its sentence.
            if score > 0 and score >= at_least and (best is None or (score, lo - hi) > (best[0], best[1] - best[2])):
                best = (score, lo, hi)
    if best is None:
        return None
    return passage.start + best[1], passage.start + best[2]


def _short(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _attribute(claim: str, passages: list[Passage]) -> int | None:
    """The number of the first passage that clearly supports an uncited claim, if any."""
    for n, passage in enumerate(passages, 1):
        if best_span(claim, passage, at_least=ATTRIBUTE_SHARE):
            return n
    return None


def check(raw: str, passages: list[Passage]) -> Checked:
    """Verify `raw` model output against `passages` (numbered 1..n as in the prompt)."""
    warnings: list[str] = []
    citations: list[Citation] = []
    numbers: dict[tuple[str, int, int], int] = {}
    parts: list[str] = []
    supported = statements = 0
    said_no_answer = False
    for statement in split_statements(raw):
        if says_no_answer(statement.text):
            said_no_answer = True
            continue
        if is_verdict(statement.text):
            # "Yes." opening the answer to a yes/no question: the statements after it carry the evidence.
            parts.append(statement.text)
            continue
        statements += 1
        markers: list[int] = []
        cited = list(dict.fromkeys(statement.cited))
        if not cited:
            found = _attribute(statement.text, passages)
            if found:
                cited = [found]
                warnings.append(f"added marker for passage {found} to an uncited statement: “{_short(statement.text)}”")
        for n in cited:
            if not 1 <= n <= len(passages):
                warnings.append(f"removed marker [{n}]: there is no passage {n}")
                continue
            span = best_span(statement.text, passages[n - 1])
            if span is None:
                warnings.append(f"removed marker [{n}]: passage {n} does not support “{_short(statement.text)}”")
                continue
            passage = passages[n - 1]
            key = (passage.source, *span)
            if key not in numbers:
                numbers[key] = len(citations) + 1
                text = passage.text[span[0] - passage.start : span[1] - passage.start]
                citations.append(Citation(numbers[key], passage.source, passage.title, text, *span))
            if numbers[key] not in markers:
                markers.append(numbers[key])
        if markers:
            supported += 1
        elif not cited:
            warnings.append(f"uncited statement: “{_short(statement.text)}”")
        else:
            warnings.append(f"unsupported statement: “{_short(statement.text)}”")
        parts.append(" ".join([statement.text, *(f"[{m}]" for m in markers)]))
    if said_no_answer and not supported:
        return Checked(ABSTAIN_PHRASE, [], warnings, True, 0, statements)
    if said_no_answer:
        warnings.append("the model also said the passages do not contain (part of) the answer")
    return Checked(" ".join(parts), citations, warnings, False, supported, statements)
