"""Golden-set evaluation: run each question through the assistant and score the answer.

A golden record (one JSON object per line of `evals/golden.jsonl`) has `id`, `kind`, `question`,
`history`, `answerable`, `expected_sources` (corpus-relative paths), `key_facts` (a list of facts,
each a list of acceptable lower-case phrasings) and `notes`.

An answerable question is correct when the answer does not abstain, contains every key fact and
cites at least one expected source. An unanswerable one is correct when the answer abstains.
Every citation must be a verbatim span of its document's cleaned text.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from assistant.loading import load_file
from assistant.pipeline import Assistant
from assistant.records import Answer


@dataclass(frozen=True)
class GoldenItem:
    """One golden question."""

    id: str
    kind: str
    question: str
    history: list[dict[str, str]]
    answerable: bool
    expected_sources: list[str]
    key_facts: list[list[str]]
    notes: str = ""


@dataclass
class ItemResult:
    """How one golden question went."""

    id: str
    kind: str
    answerable: bool
    correct: bool
    abstained: bool
    facts_found: bool
    cites_expected: bool
    bad_citations: list[str] = field(default_factory=list)
    seconds: float = 0.0
    answer: str = ""


def load_golden(path: Path) -> list[GoldenItem]:
    """Read a golden JSONL file."""
    items = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if line.strip():
            try:
                items.append(GoldenItem(**json.loads(line)))
            except (TypeError, json.JSONDecodeError) as exc:
                raise ValueError(f"{path}:{number}: not a golden record ({exc})") from exc
    return items


def facts_present(text: str, key_facts: list[list[str]]) -> bool:
    """Whether every key fact appears in `text` in one of its phrasings (case-insensitive)."""
    lowered = text.lower()
    return all(any(option.lower() in lowered for option in options) for options in key_facts)


def score(item: GoldenItem, answer: Answer, document_texts: dict[str, str]) -> ItemResult:
    """Score one answer against its golden record."""
    bad = [
        f"[{c.number}] {c.source}:{c.start}-{c.end}"
        for c in answer.citations
        if document_texts.get(c.source, "")[c.start : c.end] != c.text
    ]
    facts = facts_present(answer.text, item.key_facts)
    cites = any(c.source in item.expected_sources for c in answer.citations)
    correct = (not answer.abstained and facts and cites) if item.answerable else answer.abstained
    return ItemResult(item.id, item.kind, item.answerable, correct, answer.abstained, facts, cites, bad)


@dataclass
class GoldenReport:
    """Totals over a golden set."""

    results: list[ItemResult]

    @property
    def answerable_accuracy(self) -> float:
        """Share of answerable questions answered correctly with an expected source cited."""
        rows = [r for r in self.results if r.answerable]
        return sum(r.correct for r in rows) / len(rows) if rows else float("nan")

    @property
    def abstention_recall(self) -> float:
        """Share of unanswerable questions the assistant abstained on."""
        rows = [r for r in self.results if not r.answerable]
        return sum(r.correct for r in rows) / len(rows) if rows else float("nan")

    @property
    def bad_citations(self) -> list[str]:
        """Citations whose text is not the document text at their offsets."""
        return [f"{r.id}: {b}" for r in self.results for b in r.bad_citations]

    def by_kind(self) -> dict[str, tuple[int, int]]:
        """(correct, total) per question kind."""
        out: dict[str, tuple[int, int]] = {}
        for r in self.results:
            ok, total = out.get(r.kind, (0, 0))
            out[r.kind] = (ok + r.correct, total + 1)
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "answerable_accuracy": self.answerable_accuracy,
            "abstention_recall": self.abstention_recall,
            "bad_citations": self.bad_citations,
            "by_kind": self.by_kind(),
            "results": [asdict(r) for r in self.results],
        }


def run_golden(assistant: Assistant, items: Iterable[GoldenItem]) -> GoldenReport:
    """Answer every golden question with `assistant` and score it."""
    assistant.ensure_index()
    corpus = assistant.settings.corpus
    texts: dict[str, str] = {}
    results = []
    for item in items:
        started = time.perf_counter()
        answer = assistant.answer(item.question, history=item.history or None)
        elapsed = time.perf_counter() - started
        for citation in answer.citations:
            if citation.source not in texts:
                texts[citation.source] = load_file(corpus / citation.source, corpus).text
        result = score(item, answer, texts)
        result.seconds = elapsed
        result.answer = answer.text
        results.append(result)
    return GoldenReport(results)
