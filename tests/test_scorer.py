"""The learned sentence and answer models: fitting, the shipped file, training on a slice, use by the answerer."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from pathlib import Path
from typing import get_args

import numpy as np
import pytest

from assistant import verifying
from assistant.cli import _parser
from assistant.models import DEFAULT_MODEL, model_path
from assistant.pipeline import Assistant
from assistant.scorer import ANSWER_FEATURES, CAUTION, SENTENCE_FEATURES, Scorer, default_scorer, fit_logistic
from assistant.settings import AnsweringSettings
from tests.conftest import REPO


def test_fit_logistic_recovers_known_weights() -> None:
    """Labels drawn from a known logistic model: the fit finds its weights (standardised scale) and bias."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(20000, 2))
    true_w, true_b = np.array([2.0, -1.0]), 0.5
    y = (rng.random(20000) < 1 / (1 + np.exp(-(x @ true_w + true_b)))).astype(float)
    model = fit_logistic(x, y, ("a", "b"), l2=0.0)
    raw = np.array(model.weights) / np.array(model.scale)
    assert raw == pytest.approx(true_w, abs=0.1)
    bias = model.bias - float(np.sum(np.array(model.weights) * np.array(model.mean) / np.array(model.scale)))
    assert bias == pytest.approx(true_b, abs=0.1)
    assert model.probability({"a": 0.0, "b": 0.0}) == pytest.approx(1 / (1 + math.exp(-bias)), abs=1e-9)


def test_sample_weights_count_like_repeated_rows() -> None:
    """A row of weight 2 fits the same model as the row written twice."""
    x = np.array([[0.0], [1.0], [2.0], [3.0], [1.5]])
    y = np.array([0.0, 0.0, 1.0, 1.0, 0.0])
    weighted = fit_logistic(x, y, ("v",), weights=np.array([1, 1, 1, 1, 2.0]))
    repeated = fit_logistic(np.vstack([x, [[1.5]]]), np.append(y, 0.0), ("v",))
    assert weighted.probability({"v": 1.7}) == pytest.approx(repeated.probability({"v": 1.7}), abs=0.02)


def test_shipped_scorer_is_trained_and_matches_the_features() -> None:
    """The packaged scorer loads, names this version's features, and says what it was trained on."""
    scorer = default_scorer()
    assert scorer.sentence.names == SENTENCE_FEATURES
    assert scorer.answer.names == ANSWER_FEATURES
    assert 0.0 < scorer.threshold < 1.0
    assert not scorer.provenance.get("placeholder")
    assert "SQuAD" in scorer.provenance["data"]
    assert any(w != 0 for w in scorer.sentence.weights)


def test_caution_levels_are_trained_and_ordered(tmp_path: Path) -> None:
    """Every caution level has a threshold, stricter levels higher; they survive a save and load."""
    scorer = default_scorer()
    levels = [scorer.threshold_for(level) for level in CAUTION]
    assert levels == sorted(levels) and levels[0] < levels[-1]
    assert scorer.threshold_for("normal") == scorer.threshold
    path = tmp_path / "scorer.json"
    scorer.save(path)
    assert Scorer.load(path).thresholds == scorer.thresholds
    with pytest.raises(ValueError, match="caution 'paranoid'"):
        scorer.threshold_for("paranoid")
    # The setting and the command line offer exactly the trained levels (each writes them out, to import lightly).
    assert get_args(AnsweringSettings.model_fields["caution"].annotation) == tuple(CAUTION)
    option = next(a for a in _parser()._actions if "--caution" in a.option_strings)
    assert tuple(option.choices or ()) == tuple(CAUTION)


def test_a_higher_caution_abstains_where_normal_answers(seed_assistant: Assistant) -> None:
    """Golden questions whose answer confidence lies between the normal and the highest level's threshold are
    answered at normal and abstained on at highest; the most confident one is answered at both."""
    answering = seed_assistant.settings.answering.model_copy(update={"caution": "highest"})
    settings = seed_assistant.settings.model_copy(update={"answering": answering})
    cautious = Assistant(settings, embedder=seed_assistant.embedder, store=seed_assistant.store)
    scorer = seed_assistant.answerer.scorer
    low, high = scorer.threshold_for("normal"), scorer.threshold_for("highest")
    confidence: dict[str, float] = {}
    for line in (REPO / "evals" / "golden.jsonl").read_text(encoding="utf-8").splitlines():
        item = json.loads(line)
        if item["kind"] in {"fact", "paraphrase"}:  # one question each, answered (or not) by the answer model
            context = seed_assistant.context(item["question"])
            ranking = seed_assistant.answerer.rank(item["question"], context.passages, **context.answer_arguments())
            confidence[item["question"]] = ranking.confidence
    between = [q for q, c in confidence.items() if low <= c < high]
    assert len(between) >= 2  # else the seed corpus tests nothing here
    for question in between:
        assert not seed_assistant.answer(question).abstained, question
        assert cautious.answer(question).abstained, question
    most = max(confidence, key=lambda q: confidence[q])
    assert not cautious.answer(most).abstained


def test_a_scorer_of_other_features_is_refused(tmp_path: Path) -> None:
    """A file written for another feature list fails with a message that says to retrain."""
    data = default_scorer().to_dict()
    data["sentence"]["names"] = [*data["sentence"]["names"][:-1], "something_else"]
    path = tmp_path / "scorer.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ValueError, match="retrain"):
        Scorer.load(path)


def test_ranking_exposes_features_and_puts_the_answer_first(seed_assistant: Assistant) -> None:
    """Every candidate carries every feature; the sentence that holds a plain fact ranks first."""
    question = "How many participants with treatment-resistant depression were in the magnetization transfer study?"
    context = seed_assistant.context(question)
    ranking = seed_assistant.answerer.rank(question, context.passages, **context.answer_arguments())
    assert not ranking.detail
    assert all(set(s.features) == set(SENTENCE_FEATURES) for s in ranking.sentences)
    assert set(ranking.answer_features) == set(ANSWER_FEATURES)
    logits = [s.logit for s in ranking.sentences]
    assert logits == sorted(logits, reverse=True)
    assert 0.0 <= ranking.confidence <= 1.0


@pytest.mark.slow
def test_training_script_runs_on_a_slice(tmp_path: Path) -> None:
    """evals/train_scorer.py on 2 articles and a few questions writes scorers that load and differ from zero."""
    out, folds = tmp_path / "scorer.json", tmp_path / "folds.json"
    command = [sys.executable, str(REPO / "evals" / "train_scorer.py"), "--articles", "2", "--questions", "25"]
    command += ["--others", "0", "--out", str(out), "--folds-out", str(folds)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=900, check=False, cwd=REPO)
    assert done.returncode == 0, done.stderr[-2000:]
    scorer = Scorer.load(out)
    assert any(w != 0 for w in scorer.sentence.weights)
    assert scorer.provenance["questions"] == {"squad": 50}
    saved = json.loads(folds.read_text(encoding="utf-8"))["folds"]
    assert [f["held_out_articles"] for f in saved] == [["Normans"], ["Huguenot"]]
    for fold in saved:
        Scorer.from_dict(fold["scorer"])
    assert "held-out articles" in done.stdout
    assert set(scorer.thresholds) == set(CAUTION) - {"normal"}
    assert "| highest | best balanced |" in done.stdout


@pytest.mark.slow
def test_composer_sweep_runs_on_a_slice(tmp_path: Path) -> None:
    """evals/sweep_composer.py composes the same rankings under each pair of shares; stricter ones add no words."""
    command = [sys.executable, str(REPO / "evals" / "sweep_composer.py"), "--articles", "1", "--questions", "60"]
    command += ["--work", str(tmp_path)]
    command += ["--runner-up", "0.5", "1.01", "--adjacent", "0.3", "1.01"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=900, check=False, cwd=REPO)
    assert done.returncode == 0, done.stderr[-2000:]
    rows = [line.split("|")[1:-1] for line in done.stdout.splitlines() if line.startswith("| ") and "=" in line]
    assert len(rows) == 4
    words = {(float(r[0]), float(r[1])): float(r[3]) for r in rows}
    assert words[(1.01, 1.01)] <= words[(0.5, 0.3)]
    assert words[(1.01, 1.01)] <= words[(1.01, 0.3)] and words[(1.01, 1.01)] <= words[(0.5, 1.01)]


def test_the_clause_measurement_keeps_the_segments_that_hold_question_words() -> None:
    """`sweep_composer.py --clauses` cuts a sentence to its segments from the first to the last question word."""
    sys.path.insert(0, str(REPO / "evals"))
    from sweep_composer import clause

    from assistant.retrieval import analyse

    text = "In Yuan poetry, the main development was the qu, which most poets of the era used."
    terms = set(analyse("What form of poetry was developed in the Yuan?"))
    assert clause(text, terms, 0, 0, 0) == "In Yuan poetry, the main development was the qu,"
    assert clause(text, terms, 0, 1, 0) == text  # one segment more
    assert clause(text, terms, 0, 0, 30) == text  # shorter than 30 words: left whole
    assert clause(text, set(analyse("glassmaking")), 0, 0, 0) == text  # no question word: left whole


@pytest.mark.slow
def test_reranker_experiment_runs_on_a_slice() -> None:
    """evals/train_reranker.py (the cross-encoder measurement) runs on 4 articles and prints its table."""
    command = [sys.executable, str(REPO / "evals" / "train_reranker.py"), "--articles", "4", "--questions", "6"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=900, check=False, cwd=REPO)
    assert done.returncode == 0, done.stderr[-2000:]
    rows = [line for line in done.stdout.splitlines() if line.strip().startswith("K=")]
    assert len(rows) == 32
    assert sum("<- fewest candidates near the best" in line for line in rows) == 1


@pytest.mark.slow
def test_reranker_no_answer_experiment_runs_on_a_slice() -> None:
    """evals/train_reranker.py --no-answer (a learned no-answer score) runs one fold and prints its AUC lines."""
    command = [sys.executable, str(REPO / "evals" / "train_reranker.py"), "--articles", "2", "--questions", "8"]
    command += ["--no-answer", "--folds", "1", "--epochs", "1"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=900, check=False, cwd=REPO)
    assert done.returncode == 0, done.stderr[-2000:]
    assert re.search(r"out of fold, [1-8] questions: answerable against unanswerable, ROC AUC", done.stdout)
    assert "best candidate minus the no-answer score" in done.stdout
    assert len([line for line in done.stdout.splitlines() if line.strip().startswith("K=")]) == 32


@pytest.mark.slow
def test_sentence_model_alternatives_run_on_a_slice() -> None:
    """evals/explore_scorer.py (gradient boosting, learned answer types) runs on 2 articles and prints its table."""
    command = [sys.executable, str(REPO / "evals" / "explore_scorer.py"), "--articles", "2", "--questions", "12"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=900, check=False, cwd=REPO)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "24 answerable SQuAD questions, 2 folds" in done.stdout
    rows = [line for line in done.stdout.splitlines() if line.startswith("| ") and line[2:3].isalpha()]
    assert len(rows) == 5  # the header and four models
    assert all(0.0 <= float(line.rsplit("|", 2)[1]) <= 1.0 for line in rows[1:])


@pytest.mark.slow
def test_verifier_training_runs_on_a_slice_and_writes_its_threshold(tmp_path: Path) -> None:
    """evals/train_verifier.py scores every decision on a few questions with the small model and writes a threshold.

    With `--alternatives 1` it also scores the second chance (the next ranked sentence of a rejected answer).
    """
    if not model_path("smollm2-135m").is_file():
        pytest.skip("run `assistant models install smollm2-135m`")
    output = tmp_path / "verifier.json"
    command = [sys.executable, str(REPO / "evals" / "train_verifier.py"), "--articles", "2", "--questions", "8"]
    command += ["--claims", "8", "--model", "smollm2-135m", "--alternatives", "1", "--write", "--output", str(output)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=900, check=False, cwd=REPO)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "8 training questions, 2 articles, model smollm2-135m" in done.stdout
    assert "8 training claims, model smollm2-135m" in done.stdout
    rows = [line for line in done.stdout.splitlines() if line.startswith("| ") and line[2:3].isalpha()]
    # each table's header; six decisions on questions (one a second chance), four on claims
    assert len(rows) == 2 + 6 + 4
    assert any("first of the best 2 sentences" in line for line in rows)
    for line in rows:
        if not line.startswith("| decision"):
            answered, abstained, overall = (cell.strip() for cell in line.split("|")[2:5])
            assert answered.endswith("/4") and abstained.endswith("/4") and 0.0 <= float(overall) <= 1.0
    name = model_path("smollm2-135m").name
    written = json.loads(output.read_text())["models"][name]
    threshold, statement = written["threshold"], written["statement"]["threshold"]
    assert f"threshold on every training question: {threshold}" in done.stdout
    assert f"statement threshold on every training claim: {statement}" in done.stdout
    assert verifying.trained_threshold(name, output) == threshold
    assert verifying.trained_threshold(name, output, statement=True) == statement


def test_the_shipped_verifier_threshold_was_trained_with_the_current_prompt() -> None:
    """A changed verifier prompt needs `evals/train_verifier.py --write` again (else the threshold is ignored)."""
    shipped = json.loads(verifying.THRESHOLD_FILE.read_text())
    assert shipped["prompt"] == verifying.prompt_fingerprint()
    assert verifying.trained_threshold(model_path(DEFAULT_MODEL).name) is not None
    assert "statement" in shipped["models"][model_path(DEFAULT_MODEL).name]
