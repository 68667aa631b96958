"""Document references in questions, section headings as context, and the question types they feed."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from assistant.chunking import heading_at, is_heading, section_headings
from assistant.pipeline import Assistant, combine
from assistant.questions import parse
from assistant.records import Answer, Citation
from assistant.references import DocumentNames, acronyms
from tests.conftest import write_corpus

MTR = "magnetization-transfer-imaging-trd-radiology.txt"
ISHA = "hippocampal-volume-ketamine-isha-health.txt"
PET = "pet-imaging-ketamine-medical-xpress.txt"
FMRI = "fmri-brain-networks-ketamine.txt"

ROWS = [
    (FMRI, "Brain Imaging Study Shows How Ketamine Rapidly Reduces Severe Depression", "", "", "Scientists used fMRI."),
    (ISHA, "Unveiling the Brain's Response to Ketamine in Depression", "", "Isha Team", "It uses 3T and 7T MRI."),
    (
        MTR,
        "Magnetization Transfer Imaging of Treatment-resistant Depression",
        "Radiology",
        "",
        "We compared the magnetization transfer ratio (MTR) between groups.",
    ),
    (PET, "Ketamine's Role in Treating Depression Revealed Through PET Imaging", "Medical Xpress", "", "PET scans."),
]


def names_of(rows: list[tuple[str, str, str, str, str]]) -> DocumentNames:
    """Names from (source, title, publisher, author, text) rows, each text read for the acronyms it defines."""
    return DocumentNames([row[:4] for row in rows], {row[0]: acronyms(row[4]) for row in rows})


@pytest.fixture
def names() -> DocumentNames:
    return names_of(ROWS)


@pytest.mark.parametrize(
    ("question", "sources"),
    [
        ("According to the brain-network article, what could ketamine-based care offer?", [FMRI]),
        ("Does the Isha Health piece see depression as a low mood?", [ISHA]),
        ("What did the Radiology abstract conclude?", [MTR]),
        ("What does the MTR study say about illness duration?", [MTR]),  # an acronym the document defines
        ("The PET study and the fMRI article: what do they find?", [PET, FMRI]),
        ("What was reported by Medical Xpress?", [PET]),
        ("What do the PET and fMRI articles say about speed?", [PET, FMRI]),  # one noun, two names
        ("Do the Isha Health, Medical Xpress or Radiology write-ups name a journal?", [ISHA, PET, MTR]),
        ("Why does Isha Health say depression is more than a mood?", [ISHA]),  # the name as the one who says it
    ],
)
def test_references_resolve_to_the_named_documents(names: DocumentNames, question: str, sources: list[str]) -> None:
    """A document-noun phrase, a name after "according to"/"by" or one that says something picks those documents."""
    reference = names.resolve(question)
    assert reference.sources == sources
    assert reference.selectors  # the words that named them


@pytest.mark.parametrize(
    "question",
    [
        "What does the ketamine study say about mood?",  # a word in (almost) every title names nothing
        "What does this kind of brain-scan research teach us?",  # "kind of" is not a document's name
        "Which parts of the brain did the researchers study?",  # no words between determiner and noun
        "How does ketamine act so fast?",
        "What did the patients and controls study find?",  # coordinated words that name no document
        "Why do Scientists say ketamine works?",  # says something, but names no document
    ],
)
def test_phrases_that_name_no_particular_document_select_nothing(names: DocumentNames, question: str) -> None:
    assert not names.resolve(question)


def test_one_documents_names_are_worked_out_without_every_documents() -> None:
    """`of` reads only the document asked for, and agrees with the table of every document's names."""
    names = names_of(ROWS)
    first = ROWS[0][0]
    assert names.of(first) and names.of("not-in-the-corpus.txt") == set()
    assert "names" not in vars(names)  # the table of every document was not built
    assert all(names.of(source) == words for source, words in names.names.items())


def test_a_single_document_corpus_has_nothing_to_select() -> None:
    assert not names_of(ROWS[:1]).resolve("What does the brain-network article say?")


TEXT = (
    "The Title Of The Page\n\nWritten by Some Team\n\nIntro paragraph. Another sentence.\n\n"
    "Critical View\n\nThe sample was small.\n\nIn-Depth FAQs\n\nQ: What are the side effects?\n\n"
    "A: Nausea was reported.\n"
)


def test_headings_are_short_title_lines_and_faq_questions_not_bylines_or_the_title() -> None:
    found = section_headings(TEXT, "The Title Of The Page")
    assert [h for _, h in found] == ["Critical View", "In-Depth FAQs", "Q: What are the side effects?"]
    assert heading_at(found, TEXT.index("The sample")) == "Critical View"
    assert heading_at(found, TEXT.index("A: Nausea")) == "Q: What are the side effects?"
    assert heading_at(found, TEXT.index("Intro")) == ""
    assert not is_heading("This sentence ends with a period.")
    assert not is_heading("Radiology 2017 August")


@pytest.mark.parametrize(
    ("question", "answer_type"),
    [
        ("Does the article say it stays safe when people use it for years?", ""),  # "when" as a conjunction
        ("When was the article updated?", "date"),
        ("Has it been updated? If so, when?", "date"),
        ("What is the name of the journal that published the study?", "venue"),
        ("Which news outlet reported the study?", "venue"),
        ("Which journals were the studies published in?", "venue"),
        ("The scriptures were first published in what city?", "place"),  # "published in what" + a place noun
        ("Published by whom?", "venue"),
        ("Why did the price of oil rise?", ""),  # asks for a cause: "price" is its topic
        ("When did oil start getting priced in gold?", "date"),  # the frame before the topic
        ("Taxation had no effect on the rate of diabetes.", ""),  # a claim asks for no amount
        ("How often is the treatment repeated?", ""),  # asks for no share
        ("Which organization is named in the copyright notice?", "organization"),
        ("What is the full title of the paper?", "title"),
        ("In which country was the study carried out?", "place"),
        ("Where did the TRD patients have lower MTR?", ""),  # a place in the brain, not on a map
        ("Who are the authors of the Radiology paper?", "name"),
        ("What does the Isha Health article advise people to do?", ""),
        ("What's the headline of the piece about brain networks?", "title"),
        ("Does the article say how much ketamine people should get?", ""),  # asks whether, not how much
    ],
)
def test_answer_types(question: str, answer_type: str) -> None:
    assert parse(question).answer_type == answer_type


@pytest.mark.parametrize(
    ("question", "multi"),
    [
        ("Which write-ups pitch this research as a source of hope?", True),
        ("What do the fMRI, PET and Isha Health articles say about memory?", True),
        ("What do the survey article and the trial report each say about sleep?", True),
        ("Did any of these studies find changes on one side of the brain?", True),
        ("What is the most common side effect?", False),  # "common" is not "in common"
        ("Do the regions talk to each other?", False),
        ("Was the difference on the left side, the right side or both?", False),
        ("What is the title of the Scientific Reports paper?", False),  # a journal's name, one paper
        ("What did various countries request of Congress?", False),
    ],
)
def test_questions_across_documents(question: str, multi: bool) -> None:
    assert parse(question).multi is multi


def test_either_or_questions_are_not_yes_no() -> None:
    assert not parse("Does it only lift mood for a while, or does it change the brain?").yes_no
    assert parse("Does it change the brain?").yes_no


def test_a_part_that_asks_nothing_of_its_own_stays_with_its_question(seed_assistant: Assistant) -> None:
    parts = seed_assistant._parts("Does ketamine physically change the brain? What does the Isha Health piece think?")
    assert len(parts) == 1
    assert len(seed_assistant._parts("What share of people do not respond? How many patients had TRD?")) == 2
    # A part that only asks how the answer is worded, or asks nothing of its own, qualifies the part before.
    assert len(seed_assistant._parts("Which of the articles say ketamine works fast, and how does each put it?")) == 1
    assert len(seed_assistant._parts("Has the article been updated? If so, when?")) == 1
    assert len(seed_assistant._parts("Which of the articles say ketamine works fast, and how fast does it work?")) == 2


def test_the_head_of_a_which_question() -> None:
    assert parse("Which brain region showed the largest change?").focus_head == "region"
    assert parse("Which brain networks are implicated?").focus_head == "network"
    assert parse("What does the article say?").focus_head == ""


def test_reporting_questions_presuppose_nothing() -> None:
    assert not parse("How does the brain-network article describe treatment-resistant depression?").presupposes
    assert parse("Why does ketamine take several weeks to act?").presupposes


def test_irregular_verb_forms_meet_their_base_form() -> None:
    from assistant.retrieval import analyse

    assert analyse("written consent") == analyse("writing consent")
    assert analyse("the study found") == analyse("the study finds")


def test_hyphenated_words_keep_every_part_and_auxiliaries_are_no_focus() -> None:
    parsed = parse("What does the brain-network article say about ketamine-based care?")
    assert {"brain", "network", "ketamin", "base"} <= set(parsed.terms)
    assert parsed.focus == set()


@pytest.mark.slow
def test_a_named_document_answers_and_its_name_need_not_be_in_the_sentence(seed_assistant: Assistant) -> None:
    """The answer comes from the named article, even when another article repeats the question's words."""
    result = seed_assistant.answer(
        "For people whose usual depression pills haven't helped, what do doctors think ketamine-based care "
        "could offer, according to the brain-network article?"
    )
    assert not result.abstained
    assert {c.source for c in result.citations} == {FMRI}
    assert "valuable option" in result.text


# Questions about the seed documents that they cannot answer. These pinned the rule-based answerer
# one by one; the answerer's decisions are now learned on public benchmarks (assistant/scorer.py), so
# the list is a small measured set like the golden one: 6 of 8 abstain since a question asking for a name,
# an organisation or a place abstains when no candidate holds one (3 before; 5 before the answer model read
# whether a question asking for a figure or a date got one; golden and held-out gained more, see docs/experiments.md).
UNANSWERABLE = [
    "is ketamine addictive?",  # its only other word is in every passage
    "Who are the authors of the Radiology paper on magnetization transfer imaging?",  # no person is named
    "In which country was the magnetization transfer imaging study of TRD carried out?",
    "What is the name of the journal that published the PET imaging study of ketamine?",  # a news site reported it
    "Which university is Dr. John Krystal affiliated with?",  # "PET" and "MDD" are no organisations
    "who paid for the fMRI ketamine brain network research?",
    "Which brain region showed the largest change on the PET scans after ketamine?",  # it names no region
    "What does the PET article say?",  # names a document, asks nothing about it
]
UNANSWERABLE_FLOOR = 6  # 7 of 8 measured


@pytest.mark.slow
def test_questions_the_corpus_cannot_answer_mostly_abstain(seed_assistant: Assistant) -> None:
    """At least the measured number of these unanswerable questions abstain."""
    answered = [q for q in UNANSWERABLE if not seed_assistant.answer(q).abstained]
    assert len(UNANSWERABLE) - len(answered) >= UNANSWERABLE_FLOOR, answered


@pytest.mark.slow
def test_cross_references_and_bylines_are_not_quoted_as_answers(seed_assistant: Assistant) -> None:
    for question in [
        "What weaknesses did critics point out in the PET ketamine research?",
        "Does the Isha Health piece see depression as just a low mood?",
        "What did the PET scans let researchers see about how ketamine acts in the brain?",
    ]:
        result = seed_assistant.answer(question)
        for citation in result.citations:
            assert not citation.text.startswith(("For more information", "Written by")), (question, citation.text)


# Questions whose answer is one particular sentence of the seed documents (a reason, a title, a
# byline, a copyright line, a corrected figure). Measured like UNANSWERABLE above: 3 of 8 quote it
# first from the right document; the floor is one below.
QUOTED = [
    # a "why" question quotes the sentence that gives the reason
    (
        "Why was it useful for the 3T/7T ketamine researchers to scan people without depression as well as patients?",
        "because it sheds light",
        ISHA,
    ),
    # the headline of the document that says X
    (
        "What's the headline of the piece saying ketamine changes communication between key brain regions?",
        "Rapidly Reduces Severe Depression",
        FMRI,
    ),
    # the title quoted in the text, not the article's own
    (
        "What is the full title of the Scientific Reports paper the Isha Health article discusses?",
        "Hippocampal Volume Changes",
        ISHA,
    ),
    ("who wrote the isha health article about ketamine and hippocampal volume?", "Isha Team", ISHA),
    ("Who is credited as the author of the Isha Health article?", "Isha Team", ISHA),
    ("Which organization is named in the copyright notice of the Radiology abstract?", "RSNA", MTR),
    # "Purpose To detect ...": the section label counts as the sentence's heading
    ("What was the stated purpose of the 2017 magnetization transfer imaging study?", "biophysical", MTR),
    # a figure the question asserts and the document contradicts
    (
        "The PET article says about 70% of people with major depression don't respond to regular treatment "
        "— why is it so high?",
        "Approximately 30%",
        PET,
    ),
]
QUOTED_FLOOR = 2


@pytest.mark.slow
def test_the_answer_quotes_the_sentence_that_answers(seed_assistant: Assistant) -> None:
    """At least the measured number of these questions are answered by quoting their sentence first."""
    missed = []
    for question, quoted, source in QUOTED:
        result = seed_assistant.answer(question)
        if result.abstained or quoted not in result.text or result.citations[0].source != source:
            missed.append(question)
    assert len(QUOTED) - len(missed) >= QUOTED_FLOOR, missed


@pytest.mark.slow
def test_a_sentence_repeated_in_a_list_of_takeaways_is_quoted_once(seed_assistant: Assistant) -> None:
    result = seed_assistant.answer(
        "What still needs to be figured out about ketamine according to the fMRI brain-network article "
        "and the PET article?"
    )
    assert result.text.count("optimal dosage") == 1


@pytest.mark.slow
def test_an_on_topic_question_in_everyday_words_is_not_rejected_for_its_vocabulary(seed_assistant: Assistant) -> None:
    """Most words are not in the corpus, but the question is close in meaning to some sentences."""
    result = seed_assistant.answer(
        "None of the usual antidepressant pills have ever worked for me. Do doctors think ketamine-based "
        "treatment could be worth considering for someone in my situation?"
    )
    assert "none of the documents mention" not in result.text
    assert seed_assistant.answer("How do I fix a flat tire on my bicycle?").abstained


def test_parts_answered_by_the_same_quote_say_it_once() -> None:
    """A compound question whose two parts quote the same sentence says it once."""
    quote = Citation(1, "a.txt", "A", "Published: February 29, 2024", 0, 28)
    part = Answer("When?", "Published: February 29, 2024 [1]", False, [quote])
    other = Answer("Which date?", "Published: February 29, 2024 [1]", False, [quote])
    merged = combine("When, and which date?", [part, other])
    assert merged.text.count("February 29, 2024") == 1
    assert len(merged.citations) == 1


@pytest.mark.slow
def test_a_chatty_follow_up_is_not_rejected_for_its_filler_words(seed_assistant: Assistant) -> None:
    history = [
        {"role": "user", "content": "What does the PET article say about ketamine's risks?"},
        {"role": "assistant", "content": "It calls ketamine a powerful medication with potential side effects."},
    ]
    result = seed_assistant.answer(
        "ok, and does it say whether it's been shown to be safe over the long haul?", history=history
    )
    assert "none of the documents mention" not in result.text


def test_date_lines_answer_by_their_label_and_bylines_only_who_questions(
    tmp_path: Path, make_assistant: Callable[..., Assistant]
) -> None:
    files = {
        "report.txt": "Coastal Wetlands Survey\n\nWritten by\n\nField Team\n\npublished:\n\nJanuary 5, 2020\n\n"
        "updated:\n\nMarch 2, 2021\n\nThe survey counted herons at twelve wetland sites along the coast. "
        "Volunteers gave written consent before they joined the counts. Heron numbers rose at nine of the twelve "
        "sites.\n",
        "notes.txt": "River Notes\n\nAnglers reported more trout in the upper river this spring. Water temperature "
        "stayed below fifteen degrees for most of the season.\n",
    }
    assistant = make_assistant(write_corpus(tmp_path, files))
    updated = assistant.answer("When was the wetlands survey last updated?")
    assert "March 2, 2021" in updated.text and "January 5" not in updated.text
    published = assistant.answer("When was the wetlands survey published?")
    assert "January 5, 2020" in published.text and "March 2" not in published.text
    assert "Field Team" in assistant.answer("Who wrote the wetlands survey?").text
    # "in writing" asks nothing of the author: the byline is no answer to it.
    consent = assistant.answer("Did the volunteers of the wetlands survey agree in writing to take part?")
    assert not any(c.text.startswith("Written by") for c in consent.citations)
    # "write-ups" names documents; "which journal" asks for a venue, which a date line is not.
    for question in ("Which write-ups say heron numbers rose?", "Which journal was the wetlands survey published in?"):
        result = assistant.answer(question)
        assert not any(c.text.startswith(("Written by", "published")) for c in result.citations), question


def test_a_kind_of_question_focuses_on_what_follows() -> None:
    """ "What kind of arches ..." asks for arches: "kind" (a question word) is not the focus."""
    assert parse("What kind of arches does Norman architecture have?").focus == {"arch"}
    assert parse("What types of medium are used for the signal?").focus == {"medium"}
    assert parse("What side effects of ketamine are reported?").focus == {"side", "effect"}


def test_what_was_the_x_of_asks_for_x_and_a_past_verb_ends_the_focus() -> None:
    """ "What was the premise of the inquiry?" asks for the premise; "the full title" for the title."""
    assert parse("What was the premise of the canal inquiry?").focus == {"premis"}
    assert parse("What is the full title of the survey paper?").focus == {"titl"}
    assert parse("What treaty ended the border war?").focus == {"treati"}
