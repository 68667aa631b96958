"""Judge validity: how often a judge agrees with human support labels.

Two human-labelled sets, read in place from the shared benchmarks folder (never copied here):

- ExpertQA (Malaviya et al., 2024, MIT): claims of system answers with the evidence they cite and
  an expert `support` label. Task: "Complete" (supported) against "Incomplete" (evidence cited but
  not supporting). "Missing" claims cite no evidence at all (trivially unsupported), and "Partial"
  and "N/A" are ambiguous, so all three are left out.
- SciFact (Wadden et al., 2020; claims CC BY 4.0, abstracts ODC-By): dev claims with SUPPORT /
  CONTRADICT labels against an abstract, or none (not enough information; judged against the first
  abstract the claim cites). Tasks: supported against not (binary), and supported / contradicted /
  unsupported (three-way).

Items are split in two halves by a hash of their id: the offline judge's weight and threshold, and
the scorer judge's model and threshold (`evals/train_judge.py`), are fitted on the dev half and every
number reported is on the held-out half. The score
is balanced accuracy (mean recall per class), so always answering "supported" scores 0.5.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from tqdm import tqdm

from assistant.errors import ConfigError
from assistant.evaluation.judges import (
    JUDGE_FEATURES,
    Judge,
    JudgeModel,
    OfflineJudge,
    ScorerJudge,
    contradiction,
    quoted,
    scorer_digest,
)
from assistant.evaluation.metrics import Verdict, balanced_accuracy
from assistant.records import SPACED_MARKER
from assistant.scorer import fit_logistic

if TYPE_CHECKING:
    from assistant.pipeline import Assistant

# LLM judges take ~10 s per item on a busy 2-core CPU: by default a fixed sample per dataset.
LLM_DEFAULT_LIMIT = 40


@dataclass(frozen=True)
class LabelledClaim:
    """A claim, the passages it is judged against, and the human label."""

    dataset: str
    id: str
    claim: str
    passages: tuple[str, ...]
    label: Verdict

    @property
    def dev(self) -> bool:
        """Whether the item is in the dev half (calibration) rather than the held-out half (reporting)."""
        return hashlib.sha256(f"{self.dataset}:{self.id}".encode()).digest()[0] % 2 == 0


def load_expertqa(path: Path) -> list[LabelledClaim]:
    """ExpertQA claims labelled Complete (supported) or Incomplete (unsupported), with their evidence."""
    labels = {"Complete": Verdict.SUPPORTED, "Incomplete": Verdict.UNSUPPORTED}
    items = []
    for number, line in enumerate(path.read_text().splitlines()):
        record = json.loads(line)
        for system, answer in sorted(record["answers"].items()):
            for position, claim in enumerate(answer["claims"]):
                label = labels.get(claim.get("support", ""))
                # Each evidence string opens with "[n] url" and a blank line, then the text; some hold
                # the URL alone, which gives a judge nothing to read.
                evidence = [e.split("\n\n", 1) for e in claim.get("evidence") or []]
                passages = tuple(p[1].strip() for p in evidence if len(p) == 2 and p[1].strip())
                if label is None or not passages:
                    continue
                text = SPACED_MARKER.sub("", claim["claim_string"]).strip()
                items.append(LabelledClaim("expertqa", f"{number}/{system}/{position}", text, passages, label))
    return items


def load_scifact(claims: Path, corpus: Path) -> list[LabelledClaim]:
    """SciFact dev claims with their abstract: SUPPORT, CONTRADICT, or no evidence (unsupported)."""
    records = [json.loads(line) for line in claims.read_text().splitlines() if line.strip()]
    wanted: set[str] = set()
    for record in records:
        wanted |= set(record["evidence"]) | {str(d) for d in record["cited_doc_ids"][:1]}
    abstracts: dict[str, str] = {}
    with corpus.open() as handle:
        for line in handle:
            doc = json.loads(line)
            if doc["_id"] in wanted:
                abstracts[doc["_id"]] = f"{doc['title']}\n{doc['text']}"
    labels = {"SUPPORT": Verdict.SUPPORTED, "CONTRADICT": Verdict.CONTRADICTED}
    items = []
    for record in records:
        if record["evidence"]:
            doc, sets = next(iter(record["evidence"].items()))
            label = labels[sets[0]["label"]]
        else:
            doc, label = str(record["cited_doc_ids"][0]), Verdict.UNSUPPORTED
        if doc in abstracts:
            items.append(LabelledClaim("scifact", str(record["id"]), record["claim"], (abstracts[doc],), label))
    return items


def load_benchmarks(folder: Path) -> list[LabelledClaim]:
    """Both labelled sets from the shared benchmarks folder, or a ConfigError saying what is missing."""
    expertqa = folder / "expertqa" / "rand_test.jsonl"
    claims, corpus = folder / "scifact" / "claims_dev.jsonl", folder / "scifact" / "corpus.jsonl"
    for path in (expertqa, claims, corpus):
        if not path.is_file():
            raise ConfigError(f"{path} not found: pass --benchmarks with the folder holding expertqa/ and scifact/")
    return load_expertqa(expertqa) + load_scifact(claims, corpus)


def scores(items: Sequence[LabelledClaim], predicted: Sequence[Verdict]) -> dict[str, dict[str, Any]]:
    """Balanced accuracy per dataset and task (binary: supported or not; SciFact also three-way)."""
    out: dict[str, dict[str, Any]] = {}
    for dataset in sorted({i.dataset for i in items}):
        rows = [(i.label, p) for i, p in zip(items, predicted, strict=True) if i.dataset == dataset]
        gold = [str(g is Verdict.SUPPORTED) for g, _ in rows]
        guess = [str(p is Verdict.SUPPORTED) for _, p in rows]
        task = "Complete vs Incomplete" if dataset == "expertqa" else "SUPPORT vs CONTRADICT + no evidence"
        out[dataset] = {"balanced_accuracy": balanced_accuracy(gold, guess), "n": len(rows), "task": task}
        if dataset == "scifact":
            three = balanced_accuracy([str(g) for g, _ in rows], [str(p) for _, p in rows])
            task = "supported / contradicted / unsupported"
            out["scifact_3way"] = {"balanced_accuracy": three, "n": len(rows), "task": task}
    return out


def _round(table: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {k: {**v, "balanced_accuracy": round(v["balanced_accuracy"], 3)} for k, v in table.items()}


def calibrate(judge: OfflineJudge, items: Sequence[LabelledClaim]) -> tuple[float, float]:
    """The (weight, threshold) that maximise the mean binary balanced accuracy over the datasets of `items`."""
    judge.warm([text for i in items for text in (i.claim, *i.passages)])
    signals = []
    for item in items:
        coverage, cosine, missing, closest = judge.signals(item.claim, item.passages)
        vetoed = bool(missing) or bool(closest and contradiction(item.claim, closest))
        signals.append((coverage, cosine, vetoed))
    best = (-1.0, judge.weight, judge.threshold)
    for weight in (w / 10 for w in range(11)):
        for threshold in (t / 100 for t in range(20, 96, 2)):
            predicted = [
                Verdict.SUPPORTED
                if not vetoed and weight * cov + (1 - weight) * cos >= threshold
                else Verdict.UNSUPPORTED
                for cov, cos, vetoed in signals
            ]
            table = scores(items, predicted)
            value = sum(table[d]["balanced_accuracy"] for d in ("expertqa", "scifact") if d in table) / 2
            if value > best[0]:
                best = (value, weight, threshold)
    return best[1], best[2]


# The scorer judge's folds (for choosing its threshold out of fold) and L2 penalty.
JUDGE_FOLDS = 5
JUDGE_L2 = 1.0


def fit_scorer_judge(
    judge: ScorerJudge, items: Sequence[LabelledClaim], *, progress: bool = True
) -> tuple[JudgeModel, dict[str, Any]]:
    """Fit the scorer judge's model on `items` (the dev half), and its threshold out of fold.

    Each (dataset, label) group weighs the same in the fit, since the score is balanced accuracy
    per dataset. The threshold is the one that maximises the mean of the datasets' balanced
    accuracy over out-of-fold predictions (items in `JUDGE_FOLDS` folds by position, so the fit is
    deterministic). Returns the model and its out-of-fold numbers.
    """
    started = time.monotonic()
    judge.warm([p for i in items for p in i.passages])
    read = [(i, judge.features(i.claim, i.passages)) for i in tqdm(items, desc="features", disable=not progress)]
    usable = [(i, found[0]) for i, found in read if found is not None]
    x = np.array([[values[name] for name in JUDGE_FEATURES] for _, values in usable])
    y = np.array([float(i.label is Verdict.SUPPORTED) for i, _ in usable])
    groups = [(i.dataset, i.label is Verdict.SUPPORTED) for i, _ in usable]
    sizes = {g: groups.count(g) for g in set(groups)}
    weights = np.array([len(groups) / len(sizes) / sizes[g] for g in groups])
    fold = np.arange(len(usable)) % JUDGE_FOLDS
    out_of_fold = np.zeros(len(usable))
    for k in range(JUDGE_FOLDS):
        part = fit_logistic(x[fold != k], y[fold != k], JUDGE_FEATURES, weights=weights[fold != k], l2=JUDGE_L2)
        out_of_fold[fold == k] = [part.probability(dict(zip(JUDGE_FEATURES, row, strict=True))) for row in x[fold == k]]
    probability = {id(i): float(p) for (i, _), p in zip(usable, out_of_fold, strict=True)}
    # A quote is supported at every threshold (2), a claim without an evidence sentence at none (-1).
    floor = [2.0 if quoted(i.claim, i.passages) else probability.get(id(i), -1.0) for i in items]

    def mean_accuracy(threshold: float) -> tuple[float, dict[str, dict[str, Any]]]:
        predicted = [Verdict.SUPPORTED if p >= threshold else Verdict.UNSUPPORTED for p in floor]
        table = scores(items, predicted)
        datasets = [d for d in ("expertqa", "scifact") if d in table]
        return sum(table[d]["balanced_accuracy"] for d in datasets) / max(1, len(datasets)), table

    threshold = max((t / 100 for t in range(5, 96)), key=lambda t: (mean_accuracy(t)[0], -abs(t - 0.5)))
    model = fit_logistic(x, y, JUDGE_FEATURES, weights=weights, l2=JUDGE_L2)
    counts = {d: sum(1 for i in items if i.dataset == d) for d in sorted({i.dataset for i in items})}
    provenance = {
        "data": "ExpertQA (Complete vs Incomplete) and SciFact dev claims (SUPPORT vs not), dev half by id hash",
        "items": counts,
        "without_evidence_sentence": len(items) - len(usable),
        "folds": JUDGE_FOLDS,
        "l2": JUDGE_L2,
        "trained_seconds": round(time.monotonic() - started, 1),
    }
    oof = _round(mean_accuracy(threshold)[1])
    return JudgeModel(model, threshold, scorer_digest(), provenance), oof


def judge_items(judge: Judge, items: Sequence[LabelledClaim], *, progress: bool = True) -> list[Verdict]:
    """The judge's verdict on every item."""
    if isinstance(judge, OfflineJudge):
        judge.warm([text for i in items for text in (i.claim, *i.passages)])
    if isinstance(judge, ScorerJudge):
        judge.warm([p for i in items for p in i.passages])
    return [judge.judge(i.claim, i.passages).verdict for i in tqdm(items, desc=judge.name, disable=not progress)]


def _sample(items: Sequence[LabelledClaim], limit: int | None) -> list[LabelledClaim]:
    """At most `limit` items per dataset, in a fixed hash order (the same sample every run)."""
    if limit is None:
        return list(items)
    chosen: list[LabelledClaim] = []
    for dataset in sorted({i.dataset for i in items}):
        rows = sorted((i for i in items if i.dataset == dataset), key=lambda i: hashlib.sha256(i.id.encode()).digest())
        chosen += rows[:limit]
    return chosen


def validate(
    assistant: Assistant,
    *,
    judge: str = "auto",
    model: str | None = None,
    benchmarks: Path,
    limit: int | None = None,
    calibrate_first: bool = False,
    save: Path | None = None,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Score a judge against the held-out half of the human labels; optionally store the numbers in `save`."""
    from assistant.evaluation.runner import make_judge

    # The scorer judge reads the benchmark's evidence, not the assistant's corpus: its statistics come from that.
    chosen = ScorerJudge.shipped(assistant.embedder) if judge == "scorer" else make_judge(judge, assistant, model)
    items = load_benchmarks(benchmarks)
    dev = [i for i in items if i.dev]
    held_out = [i for i in items if not i.dev]
    if calibrate_first:
        if isinstance(chosen, ScorerJudge):
            chosen.model, oof = fit_scorer_judge(ScorerJudge(chosen.embedder), dev, progress=False)
            log(f"fitted on {len(dev)} dev items: threshold = {chosen.model.threshold:.2f}, out of fold {oof}")
        elif isinstance(chosen, OfflineJudge):
            chosen.weight, chosen.threshold = calibrate(chosen, dev)
            log(f"calibrated on {len(dev)} dev items: weight = {chosen.weight}, threshold = {chosen.threshold}")
        else:
            raise ConfigError("--calibrate fits the offline and scorer judges; leave it out for --judge llm")
    if limit is None and not isinstance(chosen, OfflineJudge | ScorerJudge):
        limit = LLM_DEFAULT_LIMIT
    sample = _sample(held_out, limit)
    log(f"judging {len(sample)} held-out items with the {chosen.name} judge")
    table = _round(scores(sample, judge_items(chosen, sample)))
    for dataset, row in table.items():
        accuracy = row["balanced_accuracy"]
        log(f"{chosen.name:>12} {dataset:<13} balanced accuracy {accuracy:.3f}  n = {row['n']}  ({row['task']})")
    entry: dict[str, Any] = {
        "measured": datetime.now(UTC).date().isoformat(),
        "judge": chosen.describe(),
        "split": "held-out half (items whose id hash is odd); the offline and scorer judges were fitted on the other",
        "sample": f"at most {limit} items per dataset" if limit else "all held-out items",
        "datasets": table,
    }
    if save is not None:
        stored = json.loads(save.read_text()) if save.is_file() else {}
        stored.setdefault("judges", {})[chosen.name] = entry
        stored["measured"] = datetime.now(UTC).date().isoformat()
        stored["command"] = "assistant eval --validate-judges [--judge llm] (see README, Evaluate)"
        save.write_text(json.dumps(stored, indent=2, ensure_ascii=False) + "\n")
        log(f"saved to {save}")
    return entry
