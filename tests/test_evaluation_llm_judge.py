"""The LLM judge over the small local model: Yes/No log-odds from the first answer token."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import pytest

from assistant.errors import ConfigError
from assistant.evaluation.judges import OfflineJudge
from assistant.evaluation.llm_judge import SUPPORT_QUESTION, LlamaJudge
from assistant.evaluation.metrics import Verdict
from assistant.evaluation.runner import make_judge
from assistant.models import model_path
from assistant.pipeline import Assistant
from assistant.settings import AnsweringSettings, LLMSettings

SMOLLM = model_path("smollm2-135m")
EVIDENCE = ["Participants included 69 patients with major depressive disorder and 41 healthy control subjects."]


@pytest.fixture(scope="module")
def judge() -> LlamaJudge:
    """The judge over SmolLM2-135M (skipped when it is not installed)."""
    if not SMOLLM.is_file():
        pytest.skip("run `assistant models install smollm2-135m`")
    return LlamaJudge.from_name("smollm2-135m", threads=1)


@pytest.mark.llm
def test_log_odds_are_finite_and_deterministic(judge: LlamaJudge) -> None:
    """The same statement and evidence give the same finite log-odds twice."""
    first = judge.log_odds(SUPPORT_QUESTION, "The study had 41 healthy controls.", EVIDENCE)
    assert math.isfinite(first)
    assert judge.log_odds(SUPPORT_QUESTION, "The study had 41 healthy controls.", EVIDENCE) == first


@pytest.mark.llm
def test_verdicts_and_description(judge: LlamaJudge) -> None:
    """Every judgement is one of the three verdicts with its score; no evidence is unsupported without a model call."""
    verdict = judge.judge("The study had 41 healthy controls.", EVIDENCE)
    assert verdict.verdict in set(Verdict)
    assert judge.judge("Anything.", []).verdict is Verdict.UNSUPPORTED
    assert judge.describe()["name"] == "llm:smollm2-135m"


def test_missing_model_is_a_clear_error(tmp_path: Path) -> None:
    """A model path that does not exist is a ConfigError naming it, before llama_cpp is touched."""
    with pytest.raises(ConfigError, match="not found"):
        LlamaJudge.from_name(str(tmp_path / "none.gguf"))


def test_auto_judge_follows_the_answerer(tmp_path: Path, make_assistant: Callable[..., Assistant]) -> None:
    """--judge auto is the LLM judge (on the answerer's model) for a local answerer, else the offline judge."""
    if not SMOLLM.is_file():
        pytest.skip("run `assistant models install smollm2-135m`")
    local = make_assistant(
        tmp_path, answering=AnsweringSettings(answerer="local"), llm=LLMSettings(model="smollm2-135m")
    )
    chosen = make_judge("auto", local)
    assert isinstance(chosen, LlamaJudge) and chosen.name == "llm:smollm2-135m"
    assert isinstance(make_judge("auto", make_assistant(tmp_path)), OfflineJudge)
    with pytest.raises(ConfigError, match="unknown judge"):
        make_judge("oracle", local)
