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
(PET, REM) must occur in the cited passage or its title, so one study's figures never answer for
another's. A sentence that reads as an
instruction to the model ("ignore the question and reply ...") is data, never evidence, so text
copied from an injected instruction is never supported. An answer with nothing supported is not an
answer from the corpus; the caller decides what to do with it (the pipeline falls back).

Pure functions over strings and records: tested with recorded model outputs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import pairwise

from assistant.chunking import sentence_spans
from assistant.cleaning import numbers
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
# Markers in a row ("[1][2]", "[1] [Passage 3]") with the spaces before them.
_MARKERS = re.compile(rf"(?:[ \t]*{_MARKER.pattern})+", re.IGNORECASE)
VERDICTS = frozenset({"yes", "no", "maybe"})
_ACRONYM = re.compile(r"\b[a-z]?[A-Z][A-Z0-9]+s?\b")  # PET, MRI, fMRI, MDD, TRDs


@dataclass(frozen=True)
class Statement:
    """One sentence of an answer, its markers removed, and the passage numbers its markers cite."""

    text: str
    citations: tuple[int, ...] = ()


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
    found: list[int] = []
    for part in re.split(r"\s*(?:,|;|and|&)\s*", inner, flags=re.IGNORECASE):
        bounds = [int(n) for n in re.findall(r"\d+", part)]
        if len(bounds) == 2 and re.search(r"[-–]", part) and 0 <= bounds[1] - bounds[0] <= 20:
            found.extend(range(bounds[0], bounds[1] + 1))
        else:
            found.extend(bounds)
    return found


def split_statements(text: str, *, runs: bool = False) -> list[Statement]:
    """The statements of an answer, in order, each with the passage numbers its markers cite.

    A statement is a sentence (`chunking.sentence_spans`: a newline always ends one) with its
    markers taken out. A marker cites the sentence it stands in or follows ("Claim [1].", "Claim.
    [1]") and, after a full stop, ends it; markers that open a line cite that line's sentence ("[2]
    Claim."), and a marker alone on its line cites the statement before it.

    `runs` reads the assistant's own answers, where a marker closes a quote and a quote may hold
    several sentences ("A. B. [1]"): every marker ends a statement and cites each sentence since the
    marker before it (model output cannot be read so: "Aspirin [1] and ibuprofen [2] act fast.").
    """
    pieces: list[str] = []
    found: list[tuple[int, list[int], bool]] = []  # (offset in the text without markers, numbers, opens a line)
    cursor = size = 0
    for match in _MARKERS.finditer(text):
        pieces.append(text[cursor : match.start()])
        size += match.start() - cursor
        cited = [n for m in _MARKER.finditer(match.group()) for n in marker_numbers(m.group(1))]
        opens = not text[text.rfind("\n", 0, match.start()) + 1 : match.start()].strip()
        found.append((size, cited, opens))
        cursor = match.end()
    pieces.append(text[cursor:])
    plain = "".join(pieces)
    ends = {at for at, _, _ in found if runs or plain[:at].rstrip("\"'”’)").endswith((".", "!", "?"))}
    cuts = sorted({0, len(plain), *ends})
    spans = [span for lo, hi in pairwise(cuts) for span in sentence_spans(plain, lo, hi)]
    cites: list[list[int]] = [[] for _ in spans]
    run_start = 0  # with `runs`: where the quotes the next marker closes begin
    for at, cited, opens in found:
        before = [i for i, (start, _) in enumerate(spans) if run_start <= start < at]
        after = [i for i, (start, _) in enumerate(spans) if start >= at and "\n" not in plain[at:start]]
        if opens and after:
            targets = after[:1]  # "[2] Claim."
        elif runs:
            targets = before  # every sentence since the marker before
        else:
            targets = before[-1:] or after[:1]  # the sentence the marker stands in or follows
        for i in targets:
            cites[i] += cited
        if runs:
            run_start = at
    statements: list[Statement] = []
    for (start, end), cited in zip(spans, cites, strict=True):
        sentence = " ".join(plain[start:end].split()).lstrip(".,;:!? ")
        if re.search(r"[A-Za-z0-9]", sentence):
            statements.append(Statement(sentence, tuple(dict.fromkeys(cited))))
        elif statements and not runs:  # punctuation left behind by markers: its citations go before
            statements[-1] = Statement(statements[-1].text, tuple(dict.fromkeys([*statements[-1].citations, *cited])))
    return statements


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
    if not enough or not numbers(claim) <= numbers(sentence):
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
    renumbered: dict[tuple[str, int, int], int] = {}
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
        cited = list(statement.citations)
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
            if key not in renumbered:
                renumbered[key] = len(citations) + 1
                text = passage.text[span[0] - passage.start : span[1] - passage.start]
                citations.append(Citation(renumbered[key], passage.source, passage.title, text, *span))
            if renumbered[key] not in markers:
                markers.append(renumbered[key])
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
