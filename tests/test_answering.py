"""The extractive answerer: verbatim citations, abstention, premises, several documents, follow-ups."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from assistant.loading import load_file
from assistant.pipeline import Assistant
from assistant.questions import ASSERTED_NUMBER
from assistant.records import Answer
from assistant.references import acronyms
from tests.conftest import write_corpus

MTR = "magnetization-transfer-imaging-trd-radiology.txt"
ISHA = "hippocampal-volume-ketamine-isha-health.txt"
PET = "pet-imaging-ketamine-medical-xpress.txt"
FMRI = "fmri-brain-networks-ketamine.txt"


def _check_citations(assistant: Assistant, result: Answer) -> None:
    corpus = assistant.settings.corpus
    retrieved = {(p.source, p.start, p.end) for p in result.passages}
    for citation in result.citations:
        document = load_file(corpus / citation.source, corpus)
        assert document.text[citation.start : citation.end] == citation.text
        assert f"[{citation.number}]" in result.text
        assert any(s == citation.source and a <= citation.start and citation.end <= b for s, a, b in retrieved)


def test_exact_fact_is_quoted_with_offsets(seed_assistant: Assistant) -> None:
    """A number question quotes the sentence with the number, citing a verbatim span of the right file."""
    result = seed_assistant.answer("How many healthy control subjects were in the magnetization transfer study?")
    assert not result.abstained
    assert "41 healthy control subjects" in result.text
    assert result.citations[0].source == MTR
    _check_citations(seed_assistant, result)


@pytest.mark.parametrize(
    ("question", "missing"),
    [
        ("What dose of ketamine was given in the PET study?", "dose"),
        ("Is esketamine nasal spray approved for depression?", "esketamine"),
        ("What is the capital of France?", "France"),
        ("How many patients took part in the PET imaging study?", "number"),
    ],
)
def test_unanswerable_questions_abstain(seed_assistant: Assistant, question: str, missing: str) -> None:
    """Doses, drugs and facts the corpus never gives are abstentions that say what is missing."""
    result = seed_assistant.answer(question)
    assert result.abstained
    assert result.citations == []
    assert missing in result.text
    assert result.text.startswith("The corpus does not answer this question")


def test_abstention_points_to_related_passages_without_citing(seed_assistant: Assistant) -> None:
    """An abstention may list the closest passages as related, never as citations."""
    result = seed_assistant.answer("What dose of ketamine was given in the PET study?")
    assert result.related and not result.citations
    assert "[1]" not in result.text


def test_false_premise_is_corrected_from_the_source(seed_assistant: Assistant) -> None:
    """A question presupposing a correlation the study did not find is answered with the correction."""
    result = seed_assistant.answer("Why did the study find that MTR correlates with illness duration?")
    assert not result.abstained
    assert result.reason == "false premise"
    assert "Regional MTRs were not associated with symptom severity or illness duration." in result.text
    _check_citations(seed_assistant, result)


def test_opposite_direction_is_a_false_premise(seed_assistant: Assistant) -> None:
    """Asking why ketamine decreased amygdala volume quotes the slight increase the article reports."""
    result = seed_assistant.answer("Why did ketamine decrease amygdala volume in patients with TRD?")
    assert result.reason == "false premise"
    assert "slight increase in the whole left amygdalar volume" in result.text


def test_question_across_documents_cites_each(seed_assistant: Assistant) -> None:
    """A question about two named articles cites both documents."""
    result = seed_assistant.answer("What did the PET article and the fMRI article each find about ketamine?")
    assert {c.source for c in result.citations} >= {PET, FMRI}
    _check_citations(seed_assistant, result)


def test_follow_up_uses_the_conversation(seed_assistant: Assistant) -> None:
    """'How many healthy controls were in it?' after a question about the MTR study answers about that study."""
    first = seed_assistant.answer("What did the magnetization transfer imaging study of depression find?")
    history = [
        {"role": "user", "content": "What did the magnetization transfer imaging study of depression find?"},
        {"role": "assistant", "content": first.text},
    ]
    result = seed_assistant.answer("How many healthy controls were in it?", history=history)
    assert "41" in result.text
    assert result.citations[0].source == MTR
    alone = seed_assistant.answer("How many healthy controls were in it?")
    assert alone.standalone_question in {"", "How many healthy controls were in it?"}


def test_follow_up_keeps_the_study_it_refers_to(seed_assistant: Assistant) -> None:
    """A follow-up about 'it' after the PET study does not borrow another study's numbers."""
    history = [
        {"role": "user", "content": "What did the PET imaging study show?"},
        {"role": "assistant", "content": "It showed ketamine's impact on neurotransmitter systems."},
    ]
    result = seed_assistant.answer("How many patients were in it?", history=history)
    assert result.abstained


def test_byline_answers_who_wrote_it(seed_assistant: Assistant) -> None:
    """Metadata lines kept by cleaning answer questions about authors and dates."""
    result = seed_assistant.answer("When was the Isha Health article on hippocampal volume published?")
    assert "February 29, 2024" in result.text
    assert result.citations[0].source == ISHA


def test_a_question_about_several_documents_gets_each_ones_date_line(seed_assistant: Assistant) -> None:
    """Each document's opening is read for its date or venue line, though retrieval ranks other passages first."""
    result = seed_assistant.answer("When were these articles published?")
    assert {c.source for c in result.citations} == {ISHA, MTR}
    assert "February 29, 2024" in result.text and "Radiology 2017 August" in result.text


def test_a_venue_line_answers_whether_a_journal_published_it(seed_assistant: Assistant) -> None:
    """A venue line is no heading to a yes-or-no question about the journal."""
    result = seed_assistant.answer("Was the Radiology study published in a journal?")
    assert not result.abstained and result.citations[0].text == "Radiology 2017 August"


def test_every_answer_sentence_is_a_cited_quote(seed_assistant: Assistant) -> None:
    """Apart from a short preface, the answer text is exactly its quotes followed by their markers."""
    result = seed_assistant.answer("Which brain networks did ketamine alter in the fMRI study?")
    body = result.text.split(": ", 1)[-1] if result.reason else result.text
    rebuilt = " ".join(f"{c.text} [{c.number}]" for c in result.citations)
    assert body == rebuilt


def test_acronym_definitions_expand_to_their_long_form() -> None:
    """Acronym definitions expand to their long form."""
    found = acronyms("patients with treatment-resistant depression (TRD) and major depressive disorder (MDD)")
    assert found["trd"] == {"treatment", "resist", "depress"}
    assert found["mdd"] == {"major", "depress", "disord"}


def test_acronym_that_is_a_stop_word_is_ignored() -> None:
    """An acronym that analyses to nothing ("(AND)", "(IT)") is skipped instead of crashing the answerer."""
    found = acronyms("the axillary node dissection (AND) and information technology (IT) teams")
    assert "and" not in found
    assert all(found.values())


def test_a_verifier_leaves_premise_corrections_alone(seed_assistant: Assistant) -> None:
    """The verifier checks answers, not corrections: a "no" from it does not undo a false-premise correction."""
    from langchain_core.language_models.fake_chat_models import FakeListChatModel

    verifier = FakeListChatModel(responses=["No."])
    checked = Assistant(
        seed_assistant.settings, embedder=seed_assistant.embedder, store=seed_assistant.store, verifier_model=verifier
    )
    corrected = checked.answer("Why did the study find that MTR correlates with illness duration?")
    assert corrected.reason == "false premise" and not corrected.abstained
    assert "verify" not in corrected.timings
    answered = checked.answer("How many healthy control subjects were in the magnetization transfer study?")
    assert answered.abstained and "verifier" in answered.reason


def test_the_sentence_is_chosen_for_what_is_asked_not_for_the_documents_name(seed_assistant: Assistant) -> None:
    """Dense similarity to the whole question favours a sentence that repeats the document's title words;
    without them (`dense_free`) the sentence that answers is closest, and it ranks first."""
    question = "Who approved the magnetization transfer imaging study?"
    context = seed_assistant.context(question)
    ranking = seed_assistant.answerer.rank(question, context.passages, **context.answer_arguments())
    best = ranking.sentences[0]
    assert "approved by the local ethics committee" in best.text
    assert best.features["dense_free_gap"] == 0.0  # the closest without the title words
    assert best.features["dense_gap"] < 0.0  # ... but not with them
    assert any("magnetization transfer ratio" in s.text and s.dense > best.dense for s in ranking.sentences)


# A document on another subject, so that a made-up corpus is not about one thing only.
HARBOUR = (
    "Harbour History\n\nThe harbour was dredged in 1820 to let larger ships reach the quays. Merchants paid for "
    "the work with a tax on every cargo landed.\n"
)


def ingested(tmp_path: Path, make_assistant: Callable[..., Assistant], files: dict[str, str]) -> Assistant:
    """An Assistant over a made-up corpus (file name -> text) and the harbour document, its index built."""
    assistant = make_assistant(write_corpus(tmp_path, {**files, "harbour-history.txt": HARBOUR}))
    assistant.ingest(progress=False)
    return assistant


def test_a_cross_reference_is_not_quoted_as_an_antecedent(
    tmp_path: Path, make_assistant: Callable[..., Assistant]
) -> None:
    """A sentence opening with "This" brings its predecessor along, unless that is a pointer elsewhere."""
    files = {
        "orchard-survey.txt": "Orchard Survey\n\nThe survey counted pear trees in twelve valleys over three summers. "
        "For more information on pear trees, see Pear trees. "
        "This count found that frost in April halved the harvest of the northern valleys.\n",
        "river-report.txt": "River Report\n\nThe river report measured water levels at nine gauges along the lower "
        "river. Spring floods raised the levels by two metres in the wettest year of the decade.\n",
    }
    assistant = ingested(tmp_path, make_assistant, files)
    result = assistant.answer("What did frost in April do to the harvest of the northern valleys?")
    assert not result.abstained
    assert "halved the harvest" in result.text
    assert "For more information" not in result.text
    assert all("see Pear trees" not in c.text for c in result.citations)


def test_a_sentence_opening_with_he_brings_its_antecedent(
    tmp_path: Path, make_assistant: Callable[..., Assistant]
) -> None:
    """ "He had been replaced by Abercrombie": who "he" is stands in the sentence before, which comes along."""
    files = {
        "northern-campaign.txt": "Northern Campaign\n\nThe campaign of 1757 was led by Lord Loudoun, whose attack "
        "on the fortress at Louisbourg was called off. He was replaced by Abercrombie as commander in chief after "
        "the failures of that summer.\n",
    }
    assistant = ingested(tmp_path, make_assistant, files)
    result = assistant.answer("Who did Abercrombie replace as commander in chief?")
    assert not result.abstained
    assert "replaced by Abercrombie" in result.text
    assert "Loudoun" in result.text


def test_a_year_in_the_question_is_not_a_premise_to_correct() -> None:
    """ "In 1766" dates what is asked; "about 70%" asserts a figure that a document can contradict."""
    assert not ASSERTED_NUMBER.findall("What happened to the trading company in 1766?")
    assert [m[0] for m in ASSERTED_NUMBER.findall("Is it true that about 70% recover in 12 weeks?")] == ["70", "12"]


def test_negation_the_best_sentence_lacks_lowers_the_confidence(
    tmp_path: Path, make_assistant: Callable[..., Assistant]
) -> None:
    """ "Who never captured the fort?" is not answered by "Monckton captured the fort": the answer model reads
    the mismatch between a negated question and an affirmative best sentence (`best_negation_mismatch`)."""
    files = {
        "frontier-war.txt": "Frontier War\n\nColonel Monckton captured Fort Beauséjour in June 1755 after a short "
        "siege. The fort guarded the isthmus between the two colonies. Its garrison of 150 soldiers surrendered "
        "after two weeks of bombardment.\n",
    }
    assistant = ingested(tmp_path, make_assistant, files)

    def ranked(question: str) -> tuple[float, dict[str, float]]:
        context = assistant.context(question)
        ranking = assistant.answerer.rank(question, context.passages, **context.answer_arguments())
        return ranking.confidence, ranking.answer_features

    affirmative, plain = ranked("Who captured Fort Beausejour?")  # typed without the accent
    negated, mismatched = ranked("Who never captured Fort Beausejour?")
    assert plain["best_negation_mismatch"] == 0.0 and plain["missing_share"] == 0.0
    assert mismatched["best_negation_mismatch"] == 1.0
    assert negated < affirmative


@pytest.mark.slow
def test_an_abstention_says_the_documents_lack_a_kind_of_answer_only_when_no_candidate_holds_one(
    seed_assistant: Assistant,
) -> None:
    """'The documents do not give a title': true of every candidate, not just of the best one.

    The paper title quoted in the Isha Health article is a candidate for the question below; the best
    candidate is another sentence, and when the answerer abstains it must not deny that a title exists.
    """
    question = "What is the full title of the Scientific Reports paper that the Isha Health article discusses?"
    context = seed_assistant.context(question)
    ranking = seed_assistant.answerer.rank(question, context.passages, **context.answer_arguments())
    assert ranking.question.answer_type == "title"
    assert any(s.features["evidence"] for s in ranking.sentences)
    result = seed_assistant.answer(question)
    assert "do not give" not in result.text


def test_an_opposite_beside_the_questions_own_word_is_no_false_premise(
    tmp_path: Path, make_assistant: Callable[..., Assistant]
) -> None:
    """ "Why were the hill towns taxed higher?" is answered, not corrected, by a sentence that says the hill
    towns were taxed higher and the coast towns lower; a sentence with only "lower" still corrects it."""
    files = {
        "tax-rolls.txt": "Tax Rolls\n\nUnder the new rolls the hill towns were taxed higher and the coast towns "
        "were taxed lower, because the hill towns had resisted the census for a decade. The rolls were read aloud "
        "in every market square.\n",
    }
    assistant = ingested(tmp_path, make_assistant, files)
    result = assistant.answer("Why were the hill towns taxed higher?")
    assert not result.abstained
    assert result.reason != "false premise"
    assert "resisted the census" in result.text
    files["tax-rolls.txt"] = files["tax-rolls.txt"].replace(
        "taxed higher and the coast towns were taxed lower", "taxed lower than the coast towns"
    )
    (tmp_path / "second").mkdir()
    corrected = ingested(tmp_path / "second", make_assistant, files).answer("Why were the hill towns taxed higher?")
    assert corrected.reason == "false premise"
    assert "taxed lower" in corrected.text


def test_a_negation_paired_with_its_affirmative_corrects_no_premise(
    tmp_path: Path, make_assistant: Callable[..., Assistant]
) -> None:
    """ "Patients who did and did not receive the supplement" denies nothing about the supplement; a sentence
    saying it was not given, on its own or after "and", still corrects "Did the supplement reduce the pain
    scores?"."""
    paired = "Patients who did and did not receive the magnesium supplement were compared for pain scores."
    rest = " Pain scores fell by a third in the magnesium supplement group. The trial ran in four river clinics.\n"
    question = "Did the magnesium supplement reduce the pain scores of the patients?"
    result = ingested(tmp_path, make_assistant, {"trial.txt": f"Supplement Trial\n\n{paired}{rest}"}).answer(question)
    assert result.reason != "false premise"
    assert "fell by a third" in result.text
    denials = [
        "Patients who did not receive the magnesium supplement were compared for pain scores.",
        "Pain scores were compared over twelve weeks, and no patients received the magnesium supplement.",
    ]
    for number, denial in enumerate(denials):
        (tmp_path / str(number)).mkdir()
        files = {"trial.txt": f"Supplement Trial\n\n{denial}{rest}"}
        corrected = ingested(tmp_path / str(number), make_assistant, files).answer(question)
        assert corrected.reason == "false premise", denial


def test_a_short_sentence_full_of_names_can_answer(tmp_path: Path, make_assistant: Callable[..., Assistant]) -> None:
    """ "In 1788 Lord Harwick sold Elmbridge Manor to Colonel Dunmore." is a sentence, not a title: one content
    word ("sold") is lower case."""
    files = {
        "elmbridge-manor.txt": "Elmbridge Manor\n\nThe manor house was built of local stone in the reign of Queen "
        "Anne and extended twice in the following century. In 1788 Lord Harwick sold Elmbridge Manor to Colonel "
        "Dunmore. The new owner planted the avenue of limes that still leads to the house.\n",
    }
    result = ingested(tmp_path, make_assistant, files).answer("To whom did Lord Harwick sell Elmbridge Manor?")
    assert not result.abstained
    assert "Colonel Dunmore" in result.text


def test_the_window_feature_counts_words_of_the_sentence_before(
    tmp_path: Path, make_assistant: Callable[..., Assistant]
) -> None:
    """A sentence that says "he" gets credit for the name the sentence before it gives."""
    files = {
        "lighthouse.txt": "Lighthouse Keepers\n\nTomas Brekke kept the northern lighthouse for thirty years. "
        "In 1871 he rebuilt its lamp room after a winter storm. The lamp burned whale oil until 1890.\n",
    }
    assistant = ingested(tmp_path, make_assistant, files)
    question = "When did Tomas Brekke rebuild the lamp room?"
    context = assistant.context(question)
    ranking = assistant.answerer.rank(question, context.passages, **context.answer_arguments())
    by_text = {s.text.split()[0]: s.features for s in ranking.sentences}
    assert by_text["In"]["window"] > by_text["In"]["own"] + 0.2  # "Tomas Brekke" is in the sentence before


def test_a_who_question_abstains_when_no_candidate_names_anyone(
    tmp_path: Path, make_assistant: Callable[..., Assistant]
) -> None:
    """As "how many" without a figure: "who funded" or "which university" with no name in any candidate."""
    files = {
        "heron-survey.txt": "Heron Survey\n\nThe survey counted herons at twelve wetland sites along the coast. "
        "Volunteers walked each site at dawn. Heron numbers rose at nine of the twelve sites.\n",
    }
    assistant = ingested(tmp_path, make_assistant, files)
    for question, noun in (("Who funded the heron survey?", "a name"), ("Which university ran the heron survey?", "")):
        result = assistant.answer(question)
        assert result.abstained, (question, result.text)
        assert noun in result.text
    # With a name in a candidate, the same kind of question is answered.
    (tmp_path / "named").mkdir()
    keeper = {"keeper.txt": "Lighthouse Keepers\n\nThe northern lighthouse was funded by Tomas Brekke in 1871.\n"}
    named = ingested(tmp_path / "named", make_assistant, keeper)
    assert "Tomas Brekke" in named.answer("Who funded the northern lighthouse?").text


def test_a_which_journal_question_abstains_when_no_candidate_names_a_venue(
    tmp_path: Path, make_assistant: Callable[..., Assistant]
) -> None:
    """A venue is as precise as a name: "which journal" with no venue in any candidate is an abstention."""
    files = {
        "heron-survey.txt": "Heron Survey\n\nThe survey counted herons at twelve wetland sites along the coast. "
        "A recent study published in a respected journal described the method. Heron numbers rose at nine sites.\n",
    }
    result = ingested(tmp_path, make_assistant, files).answer("Which journal published the heron survey?")
    assert result.abstained, result.text
    assert "the journal or publisher" in result.text
    (tmp_path / "named").mkdir()
    venue = {"heron.txt": "Heron Survey\n\nThe heron survey was published in the Journal of Coastal Birds in 2019.\n"}
    named = ingested(tmp_path / "named", make_assistant, venue)
    assert "Journal of Coastal Birds" in named.answer("Which journal published the heron survey?").text


def test_a_when_question_abstains_when_may_is_the_only_month(
    tmp_path: Path, make_assistant: Callable[..., Assistant]
) -> None:
    """ "May" is a month by its capital only: "the survey may help" dates nothing."""
    files = {
        "heron-survey.txt": "Heron Survey\n\nThe survey counted herons at twelve wetland sites along the coast. "
        "Its counts may help planners protect the marshes. Volunteers may march along the dykes at dawn.\n",
    }
    assistant = make_assistant(write_corpus(tmp_path, files))  # no other document, so no date anywhere
    assistant.ingest(progress=False)
    result = assistant.answer("When did the heron survey start?")
    assert result.abstained, result.text
    assert "a date" in result.text


def test_a_why_question_about_a_price_asks_for_a_cause_not_a_price(
    tmp_path: Path, make_assistant: Callable[..., Assistant]
) -> None:
    """ "Price" is the topic of "Why did the price ... rise?": no figure in the corpus is no reason to abstain."""
    files = {
        "orchard.txt": "Orchard Report\n\nApple prices rose sharply last autumn. A late frost destroyed most of the "
        "blossom in the valley, so the harvest was small. Growers sold what fruit they had to local markets.\n",
    }
    result = ingested(tmp_path, make_assistant, files).answer("Why did the price of apples rise last autumn?")
    assert not result.abstained, result.text
    assert "late frost" in result.text


def test_a_question_that_names_two_documents_quotes_each(
    tmp_path: Path, make_assistant: Callable[..., Assistant]
) -> None:
    """ "The orchard study versus the river report": no "and" or "both", yet each named document answers."""
    files = {
        "orchard-study.txt": "Orchard Study\n\nThe study counted pear trees in twelve valleys over three summers. "
        "Frost in April halved the harvest of the northern valleys.\n",
        "river-report.txt": "River Report\n\nThe river report measured water levels at nine gauges along the lower "
        "river. Spring floods raised the levels by two metres in the wettest year of the decade.\n",
    }
    result = ingested(tmp_path, make_assistant, files).answer(
        "What was measured in the orchard study versus the river report?"
    )
    assert {c.source for c in result.citations} == {"orchard-study.txt", "river-report.txt"}, result.text
