"""An LLM judge: a local GGUF model asked, per statement and evidence, "Is the statement supported?".

The verdict is read from the model's first answer token, not from generated text: the log-odds
log P("Yes") - log P("No") over the next-token distribution after the chat prompt (the model's own
chat template, from the GGUF metadata). Supported when the log-odds exceed `threshold` (0: "Yes" is
more likely than "No"). When the statement is not supported, a second question asks whether the
evidence contradicts it, scored the same way.

Only the last prompt position's logits are needed, so the model runs with `logits_all=False` and
the logits are read from llama.cpp directly (`llama_get_logits_ith(ctx, -1)`): `logits_all=True`
would compute a vocabulary-sized row for every prompt token, several seconds per item on a CPU
for the 150k-token vocabulary of Qwen2.5.

llama_cpp is imported only when a judge is built, so nothing else pays for it.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from assistant.errors import ConfigError
from assistant.evaluation.judges import Judgement
from assistant.evaluation.metrics import Verdict

SYSTEM = "You check statements against evidence. Answer with one word: Yes or No."
SUPPORT_QUESTION = (
    "Evidence:\n{evidence}\n\nStatement: {statement}\n\n"
    "Is the statement fully supported by the evidence above? Answer Yes or No."
)
CONTRADICT_QUESTION = (
    "Evidence:\n{evidence}\n\nStatement: {statement}\n\n"
    "Does the evidence above contradict the statement? Answer Yes or No."
)
# Evidence beyond this many characters (about 600 tokens) is cut: prompt processing dominates the
# cost, ~10 s per item for the 1.5B model on a busy 2-core machine at this length. Cited spans in
# eval answers are far shorter; benchmark evidence (a SciFact abstract, ExpertQA pages) is cut.
MAX_EVIDENCE_CHARS = 2500


class LlamaJudge:
    """Yes/No log-odds from a local llama.cpp model (see the module docstring)."""

    version = "1"

    def __init__(
        self,
        model_path: Path,
        *,
        label: str | None = None,
        threshold: float = 0.0,
        contradictions: bool = True,
        n_ctx: int = 2048,
        threads: int = 0,
    ) -> None:
        self.model_path = model_path
        self.label = label or model_path.stem
        self.name = f"llm:{self.label}"
        self.threshold = threshold
        self.contradictions = contradictions
        self.n_ctx = n_ctx
        self.threads = threads or os.cpu_count() or 1
        self._state: tuple[Any, Any, dict[str, list[int]]] | None = None
        self._lock = threading.Lock()

    @classmethod
    def from_name(cls, model: str | None = None, **options: Any) -> LlamaJudge:
        """The judge over an installed model name or a .gguf path (default: the default local model)."""
        from assistant import models

        name = model or models.DEFAULT_MODEL
        return cls(models.resolve(name), label=name if name in models.MODELS else None, **options)

    def describe(self) -> dict[str, object]:
        """Name, version, model file and threshold."""
        return {
            "name": self.name,
            "version": self.version,
            "model": self.model_path.name,
            "threshold": self.threshold,
            "contradictions": self.contradictions,
        }

    def _load(self) -> tuple[Any, Any, dict[str, list[int]]]:
        if self._state is None:
            try:
                from llama_cpp import Llama
                from llama_cpp.llama_chat_format import Jinja2ChatFormatter
            except ImportError as exc:
                raise ConfigError("the LLM judge needs llama-cpp-python: reinstall with scripts/install.sh") from exc
            try:
                llm = Llama(
                    model_path=str(self.model_path), n_ctx=self.n_ctx, n_threads=self.threads, seed=0, verbose=False
                )
            except (ValueError, RuntimeError) as exc:
                raise ConfigError(f"{self.model_path} did not load as a GGUF model: {exc}") from exc
            template = llm.metadata.get("tokenizer.chat_template")
            if not template:
                raise ConfigError(f"{self.model_path.name} has no chat template: use an instruction-tuned model")
            eos = llm.detokenize([llm.token_eos()]).decode(errors="ignore")
            bos = llm.detokenize([llm.token_bos()]).decode(errors="ignore")
            formatter = Jinja2ChatFormatter(template, eos_token=eos, bos_token=bos)
            answers = {
                word: [t[0] for t in (llm.tokenize(v.encode(), add_bos=False) for v in variants) if len(t) == 1]
                for word, variants in (("yes", ("Yes", " Yes", "yes")), ("no", ("No", " No", "no")))
            }
            self._state = (llm, formatter, answers)
        return self._state

    def log_odds(self, question: str, statement: str, passages: Sequence[str]) -> float:
        """The log-odds log P(Yes) - log P(No) of the first answer token to `question` about the statement."""
        import llama_cpp
        import numpy as np

        evidence = "\n\n".join(passages)[:MAX_EVIDENCE_CHARS]
        with self._lock:
            llm, formatter, answers = self._load()
            messages = [
                {"role": "system", "content": SYSTEM},
                {"role": "user", "content": question.format(evidence=evidence, statement=statement)},
            ]
            prompt = formatter(messages=messages).prompt
            tokens = llm.tokenize(prompt.encode(), add_bos=False, special=True)[-(self.n_ctx - 1) :]
            llm.reset()
            llm.eval(tokens)
            row = llama_cpp.llama_get_logits_ith(llm.ctx, -1)
            logits = np.ctypeslib.as_array(row, shape=(llm.n_vocab(),)).astype(np.float64)
        yes = float(np.logaddexp.reduce(logits[answers["yes"]]))
        no = float(np.logaddexp.reduce(logits[answers["no"]]))
        return yes - no if math.isfinite(yes - no) else 0.0

    def judge(self, statement: str, passages: Sequence[str]) -> Judgement:
        """Supported when the support log-odds pass the threshold; else contradicted or unsupported."""
        if not passages:
            return Judgement(Verdict.UNSUPPORTED, 0.0, "no evidence")
        support = self.log_odds(SUPPORT_QUESTION, statement, passages)
        if support > self.threshold:
            return Judgement(Verdict.SUPPORTED, support)
        if self.contradictions and self.log_odds(CONTRADICT_QUESTION, statement, passages) > 0:
            return Judgement(Verdict.CONTRADICTED, support, "the model reads the evidence as contradicting it")
        return Judgement(Verdict.UNSUPPORTED, support, f"support log-odds {support:.2f}")
