"""Measure a cross-encoder reranker for the extractive answerer's candidate sentences (an experiment, not shipped).

Run from the repo root (deterministic, seed 0; about 37 minutes on 2 cores: 2.5 to read the candidates,
2 to run the frozen layers once, 7 to 8.5 per fold):
    .venv/bin/python evals/train_reranker.py [--work DIR [--reuse]] [--articles N] [--questions N]
        [--no-answer] [--folds N] [--epochs E]

Question: does a model that reads the question and a sentence together (option (b) of the answerer's
design: all-MiniLM-L6-v2 fine-tuned on CPU as a cross-encoder) pick the answering sentence more often
than the learned sentence model (`assistant/scorer.py`) alone, and at what cost per question?

Data: SQuAD 2.0 dev half (`../shared/benchmarks/squad2/dev-half.json`, 8 articles, 2,828 questions), never
the golden set, the held-out set or the seed corpus. The 8 articles are indexed by the assistant itself
and every question goes through `Assistant.context` and `ExtractiveAnswerer.rank`, as in
`evals/train_scorer.py` (whose `contains_gold` labels a candidate right when it holds a gold answer). The
candidates are ordered by the learned sentence model that did not see their article (`evals/scorer_folds.json`),
as the answerer orders them; the first `K_TRAIN` of each question are the training pairs.

Model: the bundled all-MiniLM-L6-v2 reads "[CLS] question [SEP] sentence [SEP]"; its bottom layers stay
frozen (their outputs are computed once and kept, as float16), its top `TOP_LAYERS` layers get rank-`RANK`
LoRA updates on every linear map, and a linear head reads the mean-pooled states. Loss: listwise, per
answerable question whose candidates hold a right one and a wrong one, -log of the softmax mass on the
right ones. AdamW, learning rate `LR` with 6% warm-up and linear decay, `EPOCHS` passes.

Protocol: 4 folds of 2 articles; each fold's questions are scored by a model trained on the other 6. The
table gives, out of fold, the share of answerable questions whose first candidate is right when the best
K candidates are reordered by `logit + weight x score` (weight 0: the sentence model alone).

With `--no-answer` the model also learns to abstain, as SQuAD 2.0 readers do: a learned no-answer score joins each
question's candidates in the softmax, and an unanswerable question's loss is -log of the mass on it (an answerable
question's stays -log of the mass on its right candidates). The table then gives, out of fold, how well the best
candidate's score minus the no-answer score tells answerable from unanswerable questions (ROC AUC), against the
sentence model's best logit on the same questions. `--folds N` trains only the first N folds.

Result with `--no-answer --folds 2 --epochs 2` (2026-12-01, the 1,434 questions of 4 articles scored out of
fold, 23 minutes): AUC 0.623 against 0.555 for the sentence model's best logit (the shipped answer model, with
more features, separates them at about 0.58). One model pass per candidate on the answer path for that gain,
still far from what the SQuAD target needs: not in the product. (With fewer than 4 folds the reordering table
below mixes reordered questions with ones that keep the sentence model's order.)

Result (2026-11-30, docs/experiments.md, "A cross-encoder reranker"): 0.697 alone, 0.714 at K=3 and weight 0.25
(the fewest candidates within 0.003 of the best row, 0.716 at K=6). Wired into `answer()`, the 200-question
SQuAD benchmark (`evals/bench_qa.py`) gave 65/100 answerable and 34/100 abstained with and without it, at p50
112 ms instead of 25 ms (3 pairs on one thread). Not worth its milliseconds, so it is not in the product.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "evals"))

import train_scorer  # noqa: E402

from assistant.embedding import Embedder, bundled_model_path  # noqa: E402
from assistant.scorer import SENTENCE_FEATURES, Scorer  # noqa: E402

MAX_TOKENS = 96  # question and sentence together; longer sentences are cut (longest first)
# The linear modules of a BERT layer that get LoRA updates, by their path inside the layer.
MODULES = (
    "attention.self.query",
    "attention.self.key",
    "attention.self.value",
    "attention.output.dense",
    "intermediate.dense",
    "output.dense",
)
K_TRAIN = 6  # candidates per question the reranker trains on (the sentence model's best first)
TOP_LAYERS = 3
RANK = 16
LR = 5e-4
EPOCHS = 3.0
QUESTIONS_PER_STEP = 4
SCALE = 2.0  # LoRA's alpha / rank
NEAR_BEST = 0.003
TOP_K_MAX = 8  # candidates scored per question (the weight and K are chosen among these)
WEIGHTS = (0.0, 0.125, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0)
N_FOLDS = 4
SEED = 0


def read_candidates(work: Path, articles: list[dict[str, Any]], questions: list[dict[str, Any]]) -> list[dict]:
    """Every question's candidates (text, label, sentence-model features), as the answerer makes them."""
    corpus = work / "squad" / "corpus"
    corpus.mkdir(parents=True, exist_ok=True)
    for article in articles:
        (corpus / f"{article['title']}.txt").write_text(train_scorer.squad_file_text(article), encoding="utf-8")
    assistant = train_scorer.build_assistant(corpus, work / "squad" / "index", Embedder())
    rows = []
    for q in questions:
        context = assistant.context(q["question"])
        ranking = assistant.answerer.rank(q["question"], context.passages, **context.answer_arguments())
        cands = [
            {
                "text": s.text,
                "label": int(q["answerable"] and train_scorer.contains_gold(s.text, q["golds"])),
                "f": [s.features[name] for name in SENTENCE_FEATURES],
            }
            for s in ranking.sentences
        ]
        rows.append(
            {
                "qid": q["id"],
                "group": q["article"],
                "question": q["question"],
                "answerable": q["answerable"],
                "cands": cands,
            }
        )
    return rows


def with_lora(layers: Any, rank: int) -> Any:
    """`layers` with a rank-`rank` LoRA update beside every linear map of MODULES (torch is imported here:
    it is a training-time dependency)."""
    import torch

    class _Linear(torch.nn.Module):
        def __init__(self, base: torch.nn.Linear) -> None:
            super().__init__()
            self.base = base
            self.lora_a = torch.nn.Parameter(torch.randn(rank, base.in_features) / math.sqrt(base.in_features))
            self.lora_b = torch.nn.Parameter(torch.zeros(base.out_features, rank))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.base(x) + (x @ self.lora_a.T @ self.lora_b.T) * SCALE

    for layer in layers:
        for name in MODULES:
            parent, _, leaf = name.rpartition(".")
            owner = layer.get_submodule(parent)
            setattr(owner, leaf, _Linear(getattr(owner, leaf)))
    return layers


class Trainer:
    """The frozen bottom of the model, run once over every pair; then top layers trained per fold."""

    def __init__(self, rows: list[dict], k: int) -> None:
        import torch
        from tokenizers import Tokenizer
        from transformers import BertModel

        torch.set_num_threads(2)
        self.torch = torch
        self.rows = rows
        self.bert = BertModel.from_pretrained(str(bundled_model_path()), local_files_only=True)
        self.bert.eval()
        for parameter in self.bert.parameters():
            parameter.requires_grad_(False)
        self.bottom = len(self.bert.encoder.layer) - TOP_LAYERS
        tokenizer = Tokenizer.from_file(str(bundled_model_path() / "tokenizer.json"))
        tokenizer.enable_truncation(MAX_TOKENS)
        tokenizer.no_padding()
        self.k = k  # candidates per question the frozen layers ran on, and the folds score
        self.pairs = [(i, j) for i, r in enumerate(rows) for j in range(min(k, len(r["cands"])))]
        encoded = tokenizer.encode_batch([(rows[i]["question"], rows[i]["cands"][j]["text"]) for i, j in self.pairs])
        self.lengths = [len(e.ids) for e in encoded]
        self.offsets = np.concatenate([[0], np.cumsum(self.lengths)]).astype(np.int64)
        self.states = torch.zeros(int(self.offsets[-1]), self.bert.config.hidden_size, dtype=torch.float16)
        order = sorted(range(len(self.pairs)), key=lambda x: self.lengths[x])
        with torch.inference_mode():
            for s in range(0, len(order), 64):
                batch = order[s : s + 64]
                width = max(self.lengths[x] for x in batch)
                ids = torch.zeros(len(batch), width, dtype=torch.long)
                types = torch.zeros_like(ids)
                mask = torch.zeros_like(ids)
                for row, x in enumerate(batch):
                    n = self.lengths[x]
                    ids[row, :n] = torch.tensor(encoded[x].ids)
                    types[row, :n] = torch.tensor(encoded[x].type_ids)
                    mask[row, :n] = 1
                hidden = self.bert.embeddings(input_ids=ids, token_type_ids=types)
                for layer in self.bert.encoder.layer[: self.bottom]:
                    hidden = self._layer(layer, hidden, mask)
                for row, x in enumerate(batch):
                    self.states[self.offsets[x] : self.offsets[x + 1]] = hidden[row, : self.lengths[x]].half()

    def _layer(self, layer: Any, hidden: Any, mask: Any) -> Any:
        extended = (1.0 - mask[:, None, None, :].float()) * self.torch.finfo(self.torch.float32).min
        out = layer(hidden, attention_mask=extended)
        return out[0] if isinstance(out, tuple) else out

    def forward(self, top: Any, head: Any, batch: list[int]) -> Any:
        torch = self.torch
        width = max(self.lengths[x] for x in batch)
        hidden = torch.zeros(len(batch), width, self.bert.config.hidden_size)
        mask = torch.zeros(len(batch), width)
        for row, x in enumerate(batch):
            hidden[row, : self.lengths[x]] = self.states[self.offsets[x] : self.offsets[x + 1]].float()
            mask[row, : self.lengths[x]] = 1
        for layer in top:
            hidden = self._layer(layer, hidden, mask)
        weights = mask.unsqueeze(-1)
        return head((hidden * weights).sum(1) / weights.sum(1)).squeeze(-1)

    def train(self, held: set[str], no_answer: bool = False, epochs: float = EPOCHS) -> dict[str, list[float]]:
        """Train a model without the `held` articles; return its scores of the held questions' candidates.

        With `no_answer`, unanswerable questions train a no-answer score too (see the module docstring), and the
        scores returned are each candidate's minus the no-answer score.
        """
        torch = self.torch
        torch.manual_seed(SEED)
        rng = random.Random(SEED)
        top = with_lora(copy.deepcopy(self.bert.encoder.layer[self.bottom :]), RANK)
        head = torch.nn.Linear(self.bert.config.hidden_size, 1)
        null = torch.nn.Parameter(torch.zeros(()), requires_grad=no_answer)
        groups: dict[int, list[int]] = {}
        for x, (i, j) in enumerate(self.pairs):
            if self.rows[i]["group"] not in held and j < K_TRAIN:
                groups.setdefault(i, []).append(x)
        label = {x: self.rows[i]["cands"][j]["label"] for x, (i, j) in enumerate(self.pairs)}
        if no_answer:  # every unanswerable question, and answerable ones with a right candidate
            usable = [g for i, g in groups.items() if not self.rows[i]["answerable"] or any(label[x] for x in g)]
        else:
            usable = [g for g in groups.values() if 0 < sum(label[x] for x in g) < len(g)]
        parameters = [p for p in [*top.parameters(), *head.parameters(), null] if p.requires_grad]
        optimiser = torch.optim.AdamW(parameters, lr=LR, weight_decay=0.01)
        steps = max(1, int(len(usable) * epochs / QUESTIONS_PER_STEP))
        schedule = torch.optim.lr_scheduler.LambdaLR(
            optimiser, lambda s: min(1.0, (s + 1) / (0.06 * steps)) * max(0.0, 1 - s / steps)
        )
        top.train()
        step = 0
        while step < steps:
            order = usable[:]
            rng.shuffle(order)
            for s in range(0, len(order), QUESTIONS_PER_STEP):
                if step >= steps:
                    break
                chosen = order[s : s + QUESTIONS_PER_STEP]
                scores = self.forward(top, head, [x for g in chosen for x in g])
                loss, at = torch.zeros(()), 0
                for g in chosen:
                    part = scores[at : at + len(g)]
                    right = torch.tensor([bool(label[x]) for x in g])
                    every = torch.cat([null.view(1), part]) if no_answer else part
                    target = torch.logsumexp(part[right], 0) if right.any() else null
                    loss = loss + torch.logsumexp(every, 0) - target
                    at += len(g)
                optimiser.zero_grad()
                (loss / len(chosen)).backward()
                optimiser.step()
                schedule.step()
                step += 1
        top.eval()
        scored: dict[str, list[float]] = {}
        tests = sorted(
            (x for x, (i, _) in enumerate(self.pairs) if self.rows[i]["group"] in held), key=self.lengths.__getitem__
        )
        with torch.inference_mode():
            for s in range(0, len(tests), 64):
                batch = tests[s : s + 64]
                for x, value in zip(batch, self.forward(top, head, batch).tolist(), strict=True):
                    i, j = self.pairs[x]
                    row = scored.setdefault(self.rows[i]["qid"], [0.0] * min(self.k, len(self.rows[i]["cands"])))
                    row[j] = value - float(null)
        return scored


def first_right(rows: list[dict], scores: dict[str, list[float]], weight: float, k: int) -> float:
    """Share of answerable questions whose first candidate after reordering the top k is right."""
    hits = total = 0
    for row in rows:
        if not row["answerable"]:
            continue
        total += 1
        cands = row["cands"][:k]
        if not cands:
            continue
        s = scores.get(row["qid"], [])
        best = max(range(len(cands)), key=lambda j: cands[j]["logit"] + weight * (s[j] if j < len(s) else 0.0))
        hits += cands[best]["label"]
    return hits / max(1, total)


def answerability(rows: list[dict], scores: dict[str, list[float]]) -> tuple[int, float, float]:
    """Out of fold: questions scored, and the ROC AUC (answerable against not) of the best candidate's score
    minus the no-answer score, and of the sentence model's best logit."""
    from sklearn.metrics import roc_auc_score

    scored = [row for row in rows if row["qid"] in scores and row["cands"]]
    answerable = [int(row["answerable"]) for row in scored]
    reranker = [max(scores[row["qid"]]) for row in scored]
    sentence_model = [row["cands"][0]["logit"] for row in scored]
    if len(set(answerable)) < 2:
        return len(scored), math.nan, math.nan  # a slice with one kind of question only
    return len(scored), float(roc_auc_score(answerable, reranker)), float(roc_auc_score(answerable, sentence_model))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--articles", type=int, default=None, help="use only the first N SQuAD articles")
    parser.add_argument("--questions", type=int, default=None, help="a seeded sample of N questions per article")
    parser.add_argument("--work", type=Path, default=None)
    parser.add_argument("--reuse", action="store_true", help="reuse the candidates saved in --work")
    parser.add_argument("--no-answer", action="store_true", help="learn a no-answer score too; report its AUC")
    parser.add_argument("--folds", type=int, default=N_FOLDS, help="train only the first N folds")
    parser.add_argument("--epochs", type=float, default=EPOCHS)
    args = parser.parse_args(argv)
    started = time.monotonic()
    articles = train_scorer.squad_articles(train_scorer.SQUAD, args.articles)
    questions = train_scorer.squad_questions(articles)
    if args.questions:
        questions = train_scorer.per_article_sample(questions, args.questions)
    with tempfile.TemporaryDirectory() as tmp:
        work = args.work or Path(tmp)
        saved = work / "reranker-candidates.json"
        if args.reuse and saved.is_file():
            rows = json.loads(saved.read_text(encoding="utf-8"))
        else:
            train_scorer.use_placeholder(work)
            rows = read_candidates(work, articles, questions)
            if args.work:
                saved.write_text(json.dumps(rows), encoding="utf-8")
    read_s = time.monotonic() - started
    # The answerer's order: each article's candidates by the sentence model that did not see it.
    folds_file = json.loads(train_scorer.FOLDS_FILE.read_text(encoding="utf-8"))["folds"]
    order_by = {a: Scorer.from_dict(f["scorer"]) for f in folds_file for a in f["held_out_articles"]}
    for row in rows:
        model = order_by[row["group"]].sentence
        for cand in row["cands"]:
            cand["logit"] = model.logit(dict(zip(SENTENCE_FEATURES, cand["f"], strict=True)))
        row["cands"].sort(key=lambda c: -c["logit"])
    names = list(dict.fromkeys(row["group"] for row in rows))
    folds = [names[i::N_FOLDS] for i in range(min(N_FOLDS, len(names)))][: args.folds]
    trainer = Trainer(rows, TOP_K_MAX)
    frozen_s = time.monotonic() - started - read_s
    print(f"{len(rows)} questions, {len(trainer.pairs)} pairs; frozen layers: {frozen_s:.0f} s", file=sys.stderr)
    oof: dict[str, list[float]] = {}
    for i, held in enumerate(folds):
        mark = time.monotonic()
        oof.update(trainer.train(set(held), args.no_answer, args.epochs))
        print(f"fold {i} ({', '.join(held)}): {time.monotonic() - mark:.0f} s", file=sys.stderr)
    if args.no_answer:
        n, auc, baseline = answerability(rows, oof)
        print(f"out of fold, {n} questions: answerable against unanswerable, ROC AUC")
        print(f"  best candidate minus the no-answer score  {auc:.3f}")
        print(f"  the sentence model's best logit           {baseline:.3f}")
    table = {f"K={k} weight={w}": first_right(rows, oof, w, k) for k in (2, 3, 4, 6) for w in WEIGHTS}
    # Each candidate reordered costs a model pass per question: the fewest candidates whose best weight is
    # within NEAR_BEST of the best of all (NEAR_BEST is about 4 of the 1,299 answerable questions).
    top = max(table.values())
    best_key = max(
        (key for key in table if table[key] >= top - NEAR_BEST),
        key=lambda key: (-int(key.split()[0][2:]), table[key], -float(key.split("weight=")[1])),
    )
    print(f"total {time.monotonic() - started:.0f} s", file=sys.stderr)
    print("out of fold, answerable questions whose first candidate is right:")
    for key, value in table.items():
        print(f"  {key:<20} {value:.3f}{'  <- fewest candidates near the best' if key == best_key else ''}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
