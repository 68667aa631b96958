"""Cleaning: markup normalisation and general furniture removal, checked against hand-annotated seeds."""

from __future__ import annotations

import json

import pytest

from assistant.cleaning import BYLINE, VENUE_LINE, classify, clean_blocks, clean_text, normalise_markup, numbers
from tests.conftest import DATA, SEED_CORPUS

ANNOTATIONS = json.loads((DATA / "seed_furniture.json").read_text())["furniture"]


def _norm(text: str) -> str:
    return " ".join(normalise_markup(text).split())


@pytest.mark.parametrize("name", sorted(ANNOTATIONS))
def test_every_body_line_survives(name: str) -> None:
    """Every line of a seed that is not annotated furniture appears verbatim in the cleaned text."""
    raw = (SEED_CORPUS / name).read_text()
    cleaned = " ".join(clean_text(raw).text.split())
    furniture = set(ANNOTATIONS[name])
    body = [line for line in raw.splitlines() if line.strip() and line.strip() not in furniture]
    missing = [line for line in body if _norm(line) not in cleaned]
    assert not missing


@pytest.mark.parametrize("name", sorted(ANNOTATIONS))
def test_furniture_is_removed(name: str) -> None:
    """No annotated furniture line survives as a block of the cleaned text."""
    blocks = {" ".join(b.split()) for b in clean_text((SEED_CORPUS / name).read_text()).text.split("\n\n")}
    survivors = [line for line in ANNOTATIONS[name] if line in blocks]
    assert not survivors


def test_long_furniture_sentences_are_gone_entirely() -> None:
    """Sentence-length furniture (login walls, legal footers) does not survive even inside other text."""
    text = clean_text((SEED_CORPUS / "magnetization-transfer-imaging-trd-radiology.txt").read_text()).text
    for phrase in ("mobile app", "terms of use", "WebMD", "CME credits", "full text access"):
        assert phrase not in text


def test_markup_is_normalised() -> None:
    """Bold, wiki links, markdown links and headings become plain text."""
    raw = "# Heading\n**bold** and [[slug|Label]] and [[bare-slug]] and [text](http://x.y) and ![img](a.png)"
    assert normalise_markup(raw) == "Heading\nbold and Label and bare slug and text and "


def test_truncated_teaser_is_dropped() -> None:
    """A block that is the truncated start of a later block (a teaser) is removed, the full block kept."""
    full = "A recent study published in a journal has made strides in understanding how the drug relieves depression."
    cleaned = clean_blocks(["Title Of The Page", full[:70] + "**", "Summary", full])
    assert cleaned.text.count("A recent study") == 1
    assert full in cleaned.text


def test_metadata_is_read_from_labels() -> None:
    """Bylines, dates, attributions and venue lines become metadata, and bylines stay in the text."""
    isha = clean_text((SEED_CORPUS / "hippocampal-volume-ketamine-isha-health.txt").read_text())
    assert (isha.author, isha.date) == ("Isha Team", "February 29, 2024")
    assert "published: February 29, 2024" in isha.text
    pet = clean_text((SEED_CORPUS / "pet-imaging-ketamine-medical-xpress.txt").read_text())
    assert pet.publisher == "Medical Xpress"
    mtr = clean_text((SEED_CORPUS / "magnetization-transfer-imaging-trd-radiology.txt").read_text())
    assert (mtr.publisher, mtr.date, mtr.title) == (
        "Radiology",
        "2017 August",
        "Magnetization Transfer Imaging of Treatment-resistant Depression",
    )


def test_a_paragraph_mentioning_copyright_is_content() -> None:
    """The furniture lexicon applies to short blocks only: long prose that mentions © is kept."""
    paragraph = (
        "Results were robust across all the sites that took part in the trial, and the authors note that the "
        "analysis plan was registered in advance. © The authors, 2020, published under an open licence."
    )
    assert classify(paragraph) == "good"


def test_heading_before_prose_is_kept_and_link_list_dropped() -> None:
    """A heading that heads a paragraph stays; a trailing list of article titles goes."""
    blocks = [
        "Main Title Here",
        "Mapping Brain Activity",
        "Scientists used imaging to examine how different regions interact after the treatment was given.",
        "More Stories",
        "How Fish Reacting to Ketamine May Unlock New Treatments",
        "Rapamycin and Ketamine: A Promising Combination?",
    ]
    text = clean_blocks(blocks).text
    assert "Mapping Brain Activity" in text
    assert "Rapamycin" not in text
    assert "More Stories" not in text


def test_numbers_drop_thousands_separators_and_include_units() -> None:
    """Numbers are read with their decimals, without thousands separators, also inside units and names."""
    assert numbers("1,000 people and 3.5 mg in 2017") == {"1000", "3.5", "2017"}
    assert numbers("a 7T scanner, 50mg twice, the 2nd trial") == {"7", "50", "2"}
    assert numbers("no figures here") == set()


def test_bylines_are_whole_labels_and_venue_lines_whole_lines() -> None:
    """A byline starts with a whole label ("By", not "Byzantine"); a venue line is a whole line with a year."""
    assert BYLINE.match("Written by Isha Team")
    assert BYLINE.match("Authors: Jane Doe, John Roe")
    assert not BYLINE.match("Byzantine Mosaics")
    assert not BYLINE.match("Dated Methods Revisited")
    prose = "A long paragraph of prose about the mosaics of Ravenna that ends like a sentence."
    assert clean_blocks(["Byzantine Mosaics", prose]).author == ""
    assert VENUE_LINE.match("Radiology 2017 August")
    assert not VENUE_LINE.match("The 2019 study found lower hippocampal volumes.")
    assert not VENUE_LINE.match("Model 3000")
