"""Questions that name the document they are about.

"According to the sleep article", "the BBC piece", "the Lancet abstract", "the survey and the
trial report".

Each document is known by its *names*: the words of its title, its publisher and author, its file
name ("sleep-and-memory-study.txt"), and the acronyms it defines whose long form is in those
words ("rapid eye movement (REM)" in a document titled "Rapid Eye Movement
Sleep ..."). A reference is a phrase of the question that ends in a document noun ("article",
"study", "paper", "piece", "abstract" ...) or follows "according to"; its words are matched against
every document's names, each word weighted by how few documents it names (`log(D / df)`: a word in
every title, such as "insulin" in a corpus about insulin, selects nothing).

A reference resolves to the documents with the best match, unless that is more than half of the
corpus (then it selects nothing). The matched words are *selectors*: they say which document, not
what the answer says, so the answerer drops them from the words a sentence must cover and takes its
answer from the selected documents.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import PurePosixPath

from assistant.retrieval import analyse

_NOUNS = (
    r"articles?|stud(?:y|ies)|papers?|pieces?|pages?|abstracts?|reports?|posts?|research|reviews?|stor(?:y|ies)"
    r"|write-?ups?|q&a|faqs?|summary|coverage|researchers|authors|trial|scans?"
)
# Words that cannot be inside a document's name in a question: they join clauses.
_GLUE = (
    r"(?i:the|a|an|this|that|these|those|did|does|do|is|are|was|were|has|have|had|and|or|to|what|which|who"
    r"|how|why|when|of|about|say|says|said)"
)
# "the sleep article", "this BBC piece", "the Lancet rapid eye movement abstract", "the PET and fMRI articles".
_REFERENCE = re.compile(
    rf"\b(?i:the|this|that|these|those|an?)\s+(?!(?i:kind|sort|type|form|part|piece|bit)\s+of\b)"
    rf"((?:(?!{_GLUE}\b)[\w'’/&.\-]+,?\s+(?:(?i:and|or)\s+(?:(?i:the)\s+)?)?){{1,6}}?)((?i:{_NOUNS}))\b"
    rf"|\b(?i:according to|as reported by|reported by|published by|in|by|from)\s+(?i:the\s+)?"
    rf"((?:[A-Z][\w'’&.\-]*\s*){{1,4}})()"
    # "Why does Isha Health say ...", "What did Medical Xpress report ...": a name as the one who says it.
    rf"|\b(?i:does|did|do)\s+((?:[A-Z][\w'’&.\-]*\s+){{1,4}}?)(?=(?i:say|report|write|think|claim|argue)\b)()",
)

_CONJUNCTS = re.compile(r",|\b(?i:and|or)\b")


@dataclass
class Reference:
    """What a question's document references resolved to."""

    sources: list[str] = field(default_factory=list)  # the selected documents, best match first
    selectors: set[str] = field(default_factory=set)  # analysed question words that named them
    nouns: set[str] = field(default_factory=set)  # "article", "piece": what the references called them

    def __bool__(self) -> bool:
        return bool(self.sources)


def _terms(text: str) -> set[str]:
    return set(analyse(re.sub(r"[-_/.]+", " ", text)))


_PARENTHESISED = re.compile(r"\((\b[A-Z][A-Za-z0-9]{1,9})s?\)")
_WORDS_BEFORE = re.compile(r"(?:[A-Za-z][\w'’-]*\s+){1,6}$")


def acronyms(text: str) -> dict[str, set[str]]:
    """Acronyms defined in `text` ("treatment-resistant depression (TRD)") -> the long form's terms.

    A simplified Schwartz & Hearst (2003) match: the long form is the shortest run of words before
    the parenthesis whose initials (hyphenated parts counted) spell the acronym's letters. Each
    parenthesis is found first and only the few words before it are examined.
    """
    found: dict[str, set[str]] = {}
    for match in _PARENTHESISED.finditer(text):
        before = _WORDS_BEFORE.search(text, max(0, match.start() - 240), match.start())
        if before is None:
            continue
        key = analyse(match.group(1))
        if not key:
            continue  # "(AND)", "(IT)": an acronym that is also a stop word defines nothing searchable
        words = before.group().split()
        letters = [c.lower() for c in match.group(1) if c.isalpha()]
        for size in range(1, len(words) + 1):
            candidate = words[-size:]
            initials = [part[0].lower() for word in candidate for part in re.split(r"[-‐]", word) if part]
            if initials[: len(letters)] == letters or [w[0].lower() for w in candidate] == letters:
                found[key[0]] = set(analyse(" ".join(candidate)))
                break
    return found


class DocumentNames:
    """Resolves document references in questions against the names of the indexed documents.

    Built from (source, title, publisher, author) rows and the acronyms each document defines
    (`defined`: source -> `acronyms()` of its text). The names are worked out on first use, a
    document's own when it is asked for (`of`): a question with no reference in it never pays for
    reading every document's title (0.25 s at 5,000 documents).
    """

    def __init__(self, documents: Iterable[tuple[str, str, str, str]], defined: dict[str, dict[str, set[str]]]) -> None:
        self._documents = documents
        self._defined = defined
        self._of: dict[str, set[str]] = {}

    @cached_property
    def _rows(self) -> dict[str, list[str]]:
        """Source -> the title, publisher and author of each of its rows."""
        rows: dict[str, list[str]] = {}
        for source, title, publisher, author in self._documents:
            rows.setdefault(source, []).extend([title, publisher, author])
        return rows

    def of(self, source: str) -> set[str]:
        """The analysed words `source` can be referred to by (see the module docstring); empty if unknown.

        Worked out for this document alone and kept: the answerer asks this of the few documents a
        question's candidates come from, on every question.
        """
        if source not in self._of:
            if source not in self._rows:
                return set()
            words = _terms(" ".join([*self._rows[source], PurePosixPath(source).stem]))
            for short_form, long_form in self._defined.get(source, {}).items():
                # "rapid eye movement (REM)" names a document titled "Rapid Eye Movement ...".
                if long_form and len(long_form & words) >= max(2, len(long_form) - 1):
                    words.add(short_form)
            self._of[source] = words
        return self._of[source]

    @cached_property
    def names(self) -> dict[str, set[str]]:
        """Source -> the analysed words it can be referred to by, for every document."""
        return {source: self.of(source) for source in self._rows}

    @cached_property
    def weight(self) -> dict[str, float]:
        """Idf of each name word over the documents."""
        frequency = Counter(term for terms in self.names.values() for term in terms)
        return {t: math.log(len(self.names) / n) for t, n in frequency.items()}

    def _named(self, words: set[str]) -> dict[str, set[str]]:
        """The documents `words` name best -> the words that name each; none if that is half the corpus or more."""
        hits = {source: words & names for source, names in self.names.items()}
        scores = {source: sum(self.weight[t] for t in hit) for source, hit in hits.items()}
        best = max(scores.values())
        top = {source: hits[source] for source, score in scores.items() if score >= best - 1e-9}
        return {} if best <= 0 or len(top) > len(self.names) / 2 else top

    def resolve(self, question: str) -> Reference:
        """The documents the question names, if it names any (see the module docstring)."""
        matches = list(_REFERENCE.finditer(question))
        if not matches or len(self.names) < 2:
            return Reference()
        chosen: list[str] = []
        selectors: set[str] = set()
        nouns: set[str] = set()
        for match in matches:
            # "the PET and fMRI articles", "the A, B or C studies": each name is looked up on its own, and a
            # list names one document per name or is no list of names ("that medical and clinical research").
            name = match.group(1) or match.group(3) or match.group(5) or ""
            found = [self._named(_terms(part)) for part in _CONJUNCTS.split(name)]
            if len(found) > 1 and any(len(hits) != 1 for hits in found):
                continue
            for hits in found:
                for source, words in hits.items():
                    if source not in chosen:
                        chosen.append(source)
                    selectors |= {t for t in words if self.weight[t] > 0}
            if any(found):
                nouns |= _terms(match.group(2) or "")
        return Reference(chosen, selectors, nouns)
