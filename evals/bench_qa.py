"""Answer-quality benchmark on corpora nobody tuned the answerer on: one command, one table.

Run from the repo root (about 5 minutes on 2 cores, 3 once the PubMedQA index exists; `evals/train_scorer.py`
must have written evals/scorer_folds.json for the current features):
    .venv/bin/python evals/bench_qa.py [--questions 200] [--skip-langchain] [--skip-scifact] [--skip-pubmedqa]
        [--json PATH] [--verifier local|openai|ollama] [--squad PATH] [--caution low|normal|high|highest]

Rows, every one through `Assistant.answer()` with no history and the default (extractive) answerer:
1. SQuAD 2.0 open corpus. The 8 articles of `squad2/dev-half.json` are the corpus (one file each: title line,
   blank line, paragraphs). A seeded sample (seed 0) of --questions questions, half answerable, half not. An
   answerable question passes when the answer is not an abstention and its text or a cited span contains a gold
   answer after SQuAD normalisation; an unanswerable one passes when it abstains. Overall is the mean of the two
   rates. Median words are counted on answers that are not abstentions, without `[n]` markers.
   - "learned, leave-articles-out": each question is answered with the fold scorer that was trained without its
     article (evals/scorer_folds.json, 4 folds of 2 articles). This is the number to quote.
   - "learned, shipped": the shipped scorer, which was trained on these 8 articles (in-sample, for reference).
   `--squad PATH` runs the same protocol on another SQuAD 2.0 file (the other dev articles, say): its articles
   become the corpus, and a question whose article no fold left out is answered with the shipped scorer, which
   was not trained on it either; "(in-sample)" then marks only a shipped row whose articles it was trained on.
   - "never abstains": the leave-articles-out answerer with its learned abstention switched off (rules that
     abstain before weighing sentences still do).
   - "plain LangChain top-1 chunk": RecursiveCharacterTextSplitter(1000/200), MiniLM (sentence-transformers),
     Chroma; the answer is the best chunk, which never abstains.
2. Golden set (evals/golden.jsonl, seed corpus): answerable accuracy and abstentions, as `tests/test_golden.py`
   scores them.
3. SciFact claims: 500 abstracts, the first 60 test claims (as evals/bench_scale.py builds them): abstained, and
   the first citation is a relevant abstract.
4. PubMedQA: the 1,000 PQA-L abstracts as the corpus, the 500 test questions: the question's own abstract is
   the first citation.
With --verifier BACKEND, every section also gets a row with `answering.verifier` set to that backend (the
language model checks each extractive answer; see assistant/verifying.py): SQuAD "learned + <backend> verifier,
leave-articles-out" (the fold scorers), and golden and SciFact "with the verifier". About 1.4 s more per answer
(p50; 2.4 s p95) that is not an abstention with the local model (Qwen2.5-Coder-1.5B, 2 cores).
With --caution LEVEL, every row answers at that `answering.caution` level (the run sets
ASSISTANT_ANSWERING__CAUTION; each scorer's threshold for the level; the SQuAD rows' names say it).
Latency p50/p95 are warm `answer()` wall times in this process. The table (markdown) goes to stdout, progress to
stderr.
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing may be fetched from a model hub
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import argparse
import json
import shutil
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "evals"))

import bench_pubmedqa  # noqa: E402
import bench_scale  # noqa: E402
from train_scorer import SQUAD, balanced_sample, contains_gold, squad_articles, squad_file_text, squad_questions  # noqa: E402

from assistant.embedding import Embedder  # noqa: E402
from assistant.evaluation.golden import load_golden, run_golden  # noqa: E402
from assistant.pipeline import Assistant  # noqa: E402
from assistant.records import SPACED_MARKER, Answer  # noqa: E402
from assistant.scorer import CAUTION, Scorer, default_scorer  # noqa: E402
from assistant.settings import Settings, StoreSettings  # noqa: E402

WORK = ROOT / "evals" / "bench" / "qa"
GOLDEN = ROOT / "evals" / "golden.jsonl"
FOLDS = ROOT / "evals" / "scorer_folds.json"


@dataclass
class Row:
    """One system's results on the SQuAD protocol."""

    name: str
    answerable: int = 0
    unanswerable: int = 0
    n_answerable: int = 0
    n_unanswerable: int = 0
    words: list[int] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)

    def add(self, answerable: bool, passed: bool, words: int | None, seconds: float | None) -> None:
        """Count one question."""
        if answerable:
            self.n_answerable += 1
            self.answerable += passed
        else:
            self.n_unanswerable += 1
            self.unanswerable += passed
        if words is not None:
            self.words.append(words)
        if seconds is not None:
            self.seconds.append(seconds)

    def record(self) -> dict[str, Any]:
        """The row as numbers."""
        a, u = self.answerable / max(1, self.n_answerable), self.unanswerable / max(1, self.n_unanswerable)
        seconds = sorted(self.seconds)
        return {
            "name": self.name,
            "answerable": f"{self.answerable}/{self.n_answerable}",
            "unanswerable_abstained": f"{self.unanswerable}/{self.n_unanswerable}",
            "overall": round((a + u) / 2, 3),
            "median_words": statistics.median(self.words) if self.words else None,
            "p50_ms": round(1000 * seconds[len(seconds) // 2], 1) if seconds else None,
            "p95_ms": round(1000 * seconds[min(len(seconds) - 1, int(0.95 * len(seconds)))], 1) if seconds else None,
        }


def log(message: str) -> None:
    """Progress to stderr."""
    print(f"[{datetime.now():%H:%M:%S}] {message}", file=sys.stderr, flush=True)


def answer_words(answer: Answer) -> int:
    """Words of an answer's text without its [n] markers."""
    return len(SPACED_MARKER.sub("", answer.text).split())


def squad_passes(answer: Answer, answerable: bool, golds: list[str]) -> bool:
    """The protocol's pass rule for one answer."""
    if not answerable:
        return answer.abstained
    if answer.abstained:
        return False
    return contains_gold(answer.text, golds) or any(contains_gold(c.text, golds) for c in answer.citations)


def fold_scorers() -> dict[str, Scorer]:
    """The leave-articles-out scorer of each SQuAD article."""
    data = json.loads(FOLDS.read_text(encoding="utf-8"))
    out = {}
    for fold in data["folds"]:
        scorer = Scorer.from_dict(fold["scorer"])
        for article in fold["held_out_articles"]:
            out[article] = scorer
    return out


def timed(assistant: Assistant, question: str) -> tuple[Answer, float]:
    """One answer and its wall time."""
    started = time.perf_counter()
    result = assistant.answer(question)
    return result, time.perf_counter() - started


def verifying(assistant: Assistant, verifier: str) -> Assistant:
    """An Assistant over the same index whose extractive answers the `verifier` backend checks."""
    answering = assistant.settings.answering.model_copy(update={"verifier": verifier})
    settings = assistant.settings.model_copy(update={"answering": answering})
    return Assistant(settings, embedder=assistant.embedder, store=assistant.store)


def squad_assistant(embedder: Embedder, articles: list[dict[str, Any]], work: Path = WORK / "squad") -> Assistant:
    """An Assistant over the SQuAD articles as a corpus (in `work`: corpus/ and index/), indexed anew."""
    corpus = work / "corpus"
    shutil.rmtree(work, ignore_errors=True)
    corpus.mkdir(parents=True)
    for article in articles:
        (corpus / f"{article['title']}.txt").write_text(squad_file_text(article), encoding="utf-8")
    assistant = Assistant(
        Settings(corpus=corpus, store=StoreSettings(path=work / "index"), corpus_check_seconds=3600),
        embedder=embedder,
    )
    assistant.ingest(progress=False)
    return assistant


def squad_rows(
    embedder: Embedder, n_questions: int, langchain: bool, verifier: str | None = None, path: Path = SQUAD
) -> list[Row]:
    """The SQuAD open-corpus rows, over the articles of `path`."""
    articles = squad_articles(path, None)
    questions = balanced_sample(squad_questions(articles), n_questions)
    assistant = squad_assistant(embedder, articles)
    corpus = assistant.settings.corpus
    folds = fold_scorers()
    shipped = default_scorer()
    timed(assistant, "warm-up question about the corpus")
    # A question of an article no fold left out gets the shipped scorer: it was not trained on it either.
    trained = all(q["article"] in folds for q in questions)
    shipped_name = "learned, shipped (in-sample)" if trained else "learned, shipped"
    caution = assistant.settings.answering.caution
    level = "" if caution == "normal" else f", caution {caution}"
    rows = [Row(f"learned{level}, leave-articles-out"), Row(shipped_name + level), Row("never abstains")]
    checked = verifying(assistant, verifier) if verifier else None
    checked_row = Row(f"learned + {verifier} verifier, leave-articles-out")
    for q in questions:
        scorer = folds.get(q["article"], shipped)
        answerer = assistant.answerer
        never = Scorer(scorer.sentence, scorer.answer, -1.0, {}, dict.fromkeys(CAUTION, -1.0))
        for row, chosen in zip(rows, (scorer, shipped, never), strict=True):
            answerer.scorer = chosen
            result, seconds = timed(assistant, q["question"])
            words = None if result.abstained else answer_words(result)
            row.add(q["answerable"], squad_passes(result, q["answerable"], q["golds"]), words, seconds)
        if checked is not None:
            checked.answerer.scorer = scorer
            result, seconds = timed(checked, q["question"])
            words = None if result.abstained else answer_words(result)
            checked_row.add(q["answerable"], squad_passes(result, q["answerable"], q["golds"]), words, seconds)
    answerer.scorer = shipped
    if checked is not None:
        rows.append(checked_row)
    log(f"SQuAD: {len(questions)} questions answered")
    if langchain:
        rows.append(langchain_row(corpus, questions))
    return rows


def langchain_row(corpus: Path, questions: list[dict[str, Any]]) -> Row:
    """A plain LangChain index's top-1 chunk as the answer (it never abstains)."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings
    from langchain_chroma import Chroma
    from langchain_core.documents import Document
    from langchain_huggingface import HuggingFaceEmbeddings
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    files = sorted(corpus.glob("*.txt"))
    docs = [Document(page_content=f.read_text(encoding="utf-8"), metadata={"source": f.name}) for f in files]
    chunks = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200).split_documents(docs)
    embeddings = HuggingFaceEmbeddings(
        model_name=bench_scale.model_path(), encode_kwargs={"normalize_embeddings": True}
    )
    client = chromadb.PersistentClient(
        path=str(WORK / "squad" / "langchain"), settings=ChromaSettings(anonymized_telemetry=False)
    )
    store = Chroma.from_documents(chunks, embeddings, client=client, collection_name="plain")
    row = Row("plain LangChain top-1 chunk")
    for q in questions:
        started = time.perf_counter()
        top = store.similarity_search(q["question"], k=1)[0].page_content
        seconds = time.perf_counter() - started
        passed = contains_gold(top, q["golds"]) if q["answerable"] else False
        row.add(q["answerable"], passed, len(top.split()), seconds)
    log("SQuAD: plain LangChain answered")
    return row


def golden_rows(embedder: Embedder, verifier: str | None = None) -> list[dict[str, Any]]:
    """The golden set on the seed corpus, scored as the tests score it (and again with the verifier, if given)."""
    root = WORK / "golden"
    shutil.rmtree(root, ignore_errors=True)
    shutil.copytree(ROOT / "corpus", root / "corpus")
    assistant = Assistant(
        Settings(corpus=root / "corpus", store=StoreSettings(path=root / "index"), corpus_check_seconds=0),
        embedder=embedder,
    )
    assistant.ingest(progress=False)
    items = load_golden(GOLDEN)
    rows = []
    for checked in (assistant, verifying(assistant, verifier)) if verifier else (assistant,):
        report = run_golden(checked, items)
        answerable = [r for r in report.results if r.answerable]
        unanswerable = [r for r in report.results if not r.answerable]
        rows.append(
            {
                "answerable": f"{sum(r.correct for r in answerable)}/{len(answerable)}",
                "abstained": f"{sum(r.correct for r in unanswerable)}/{len(unanswerable)}",
                "accuracy": round(report.answerable_accuracy, 3),
            }
        )
    return rows


def cited_first(assistant: Assistant, questions: list[tuple[str, Callable[[str], bool]]]) -> dict[str, Any]:
    """Abstentions and 'the first citation is relevant' over (question, is-relevant-source) pairs."""
    abstained = first = 0
    seconds = []
    for text, relevant in questions:
        result, took = timed(assistant, text)
        seconds.append(took)
        abstained += result.abstained
        first += bool(result.citations) and relevant(result.citations[0].source)
    return {
        "n": len(questions),
        "abstained": abstained,
        "cited_first": first,
        "p50_ms": statistics.median(seconds) * 1000,
    }


def scifact_rows(embedder: Embedder, verifier: str | None = None) -> list[dict[str, Any]]:
    """SciFact claims over 500 abstracts (and again with the verifier, when one is given)."""
    root = WORK / "scifact"
    shutil.rmtree(root, ignore_errors=True)
    abstracts, claims = bench_scale.load(bench_scale.DATA, 500, 60)
    bench_scale.write_corpus(root / "corpus", abstracts)
    assistant = Assistant(
        Settings(corpus=root / "corpus", store=StoreSettings(path=root / "index"), corpus_check_seconds=3600),
        embedder=embedder,
    )
    assistant.ingest(progress=False)
    pairs: list[tuple[str, Callable[[str], bool]]] = [
        (c.text, lambda source, c=c: source.removesuffix(".md") in c.relevant) for c in claims
    ]
    rows = [cited_first(assistant, pairs)]
    if verifier:
        rows.append(cited_first(verifying(assistant, verifier), pairs))
    return rows


def pubmedqa_row(embedder: Embedder) -> dict[str, Any]:
    """PubMedQA's test questions over its 1,000 abstracts: the own abstract cited first."""
    root = WORK / "pubmedqa"
    records = bench_pubmedqa.write_corpus(bench_pubmedqa.DATA, root / "corpus")
    truth = json.loads((bench_pubmedqa.DATA / "test_ground_truth.json").read_text())
    assistant = Assistant(
        Settings(corpus=root / "corpus", store=StoreSettings(path=root / "index"), corpus_check_seconds=3600),
        embedder=embedder,
    )
    assistant.ingest(progress=False)
    pairs: list[tuple[str, Callable[[str], bool]]] = [
        (records[pmid]["QUESTION"], lambda source, pmid=pmid: source == f"{pmid}.txt") for pmid in sorted(truth)
    ]
    return cited_first(assistant, pairs)


def show(record: dict[str, Any]) -> None:
    """The table, as markdown."""
    print(f"\nAnswer-quality benchmark; {record['date']}, {record['commit'][:12]}\n")
    source = Path(record.get("squad_file", SQUAD)).name
    print(f"SQuAD 2.0 ({source}) as an open corpus: {record['squad_questions']} questions, half unanswerable, seed 0")
    print("| system | answerable | unanswerable abstained | overall | median words | p50 ms | p95 ms |")
    print("|---|---|---|---|---|---|---|")
    for row in record["squad"]:
        print(
            f"| {row['name']} | {row['answerable']} | {row['unanswerable_abstained']} | {row['overall']:.3f} "
            f"| {row['median_words']} | {row['p50_ms']} | {row['p95_ms']} |"
        )
    for name, label in (("golden", "Golden set (seed corpus)"), ("golden_verified", "Golden set, with the verifier")):
        if name in record:
            golden = record[name]
            print(f"\n{label}: answerable {golden['answerable']}, unanswerable abstained {golden['abstained']}")
    for name, label in (
        ("scifact", "SciFact claims, 500 abstracts"),
        ("scifact_verified", "SciFact claims, with the verifier"),
        ("pubmedqa", "PubMedQA, 1,000 abstracts"),
    ):
        if name in record:
            r = record[name]
            print(
                f"{label}: {r['n']} questions, abstained {r['abstained']}, relevant abstract cited first "
                f"{r['cited_first']}, p50 {r['p50_ms']:.0f} ms"
            )


def main(argv: list[str] | None = None) -> int:
    """Run every row and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--questions", type=int, default=200, help="SQuAD questions, half unanswerable")
    parser.add_argument("--skip-langchain", action="store_true", help="leave out the plain LangChain row")
    parser.add_argument("--skip-scifact", action="store_true", help="leave out the SciFact claims")
    parser.add_argument("--skip-pubmedqa", action="store_true", help="leave out PubMedQA")
    parser.add_argument("--json", type=Path, default=None, help="also write the numbers to this file")
    parser.add_argument("--squad", type=Path, default=SQUAD, help="the SQuAD 2.0 file whose articles are the corpus")
    parser.add_argument(
        "--verifier", choices=["local", "openai", "ollama"], help="add rows with this backend checking the answers"
    )
    parser.add_argument("--caution", choices=list(CAUTION), default="normal", help="the answering.caution level")
    args = parser.parse_args(argv)
    os.environ["ASSISTANT_ANSWERING__CAUTION"] = args.caution  # every Settings() of this run reads it
    embedder = Embedder()
    record: dict[str, Any] = {"date": datetime.now().isoformat(timespec="seconds"), "commit": bench_scale.commit()}
    record["squad_questions"] = args.questions
    rows = squad_rows(embedder, args.questions, not args.skip_langchain, args.verifier, args.squad)
    record["squad_file"] = str(args.squad)
    record["squad"] = [row.record() for row in rows]
    golden = golden_rows(embedder, args.verifier)
    record["golden"] = golden[0]
    if args.verifier:
        record["golden_verified"] = golden[1]
    log("golden set answered")
    if not args.skip_scifact:
        scifact = scifact_rows(embedder, args.verifier)
        record["scifact"] = scifact[0]
        if args.verifier:
            record["scifact_verified"] = scifact[1]
        log("SciFact claims answered")
    if not args.skip_pubmedqa:
        record["pubmedqa"] = pubmedqa_row(embedder)
        log("PubMedQA answered")
    show(record)
    if args.json:
        args.json.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
