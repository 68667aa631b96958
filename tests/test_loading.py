"""Loading: one loader per file type, metadata, and bad files reported and skipped."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from assistant.errors import CorpusError, LoadError
from assistant.loading import load_corpus, load_file
from tests.conftest import DATA, SEED_CORPUS


def test_seed_corpus_loads_with_titles() -> None:
    """The four seeds load, each with its title and its corpus-relative path."""
    documents, problems = load_corpus(SEED_CORPUS)
    assert problems == []
    titles = {d.source: d.title for d in documents}
    assert titles["magnetization-transfer-imaging-trd-radiology.txt"] == (
        "Magnetization Transfer Imaging of Treatment-resistant Depression"
    )
    assert titles["fmri-brain-networks-ketamine.txt"].startswith("Brain Imaging Study Shows How Ketamine")
    assert len(documents) == 4


def test_pdf_text_is_reflowed_and_metadata_read() -> None:
    """A text PDF loads as paragraphs (hard wraps joined, page numbers dropped) with its title and author."""
    doc = load_file(DATA / "sample.pdf", DATA)
    assert doc.title == "Imaging Notes"
    assert doc.author == "Test Author"
    assert "volume of the left amygdala in every participant before and after the infusion." in doc.text
    assert "\n2" not in doc.text


def test_html_skips_scripts_navigation_and_footers() -> None:
    """HTML loads its article text; scripts, nav, header, aside, forms and footers are not text."""
    doc = load_file(DATA / "sample.html", DATA)
    assert doc.title == "How a Ketamine Clinic Visit Works"
    assert (doc.publisher, doc.date) == ("Example Health", "2024-05-01")
    assert "The infusion itself lasts about forty minutes" in doc.text
    assert "- Bring a companion" in doc.text
    for furniture in ("should never appear", "Home", "header banner", "Related articles", "newsletter", "Copyright"):
        assert furniture not in doc.text


def test_markdown_markup_is_normalised() -> None:
    """Markdown headings, bold, wiki links and links become plain text."""
    doc = load_file(DATA / "sample.md", DATA)
    assert doc.title == "Notes on Magnetization Transfer"
    assert (
        "The magnetization transfer ratio reflects macromolecular content, as described in the MTR primer." in doc.text
    )
    assert "**" not in doc.text and "](" not in doc.text


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("broken.pdf", b"%PDF-1.4\n1 0 obj << /Type /Catalog garbage", "PDF"),
        ("empty.txt", b"   \n", "empty"),
        ("image.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)), "binary"),
        ("latin.txt", b"\x81\x8d\x8f\x90\x9d" * 20, "decod"),
        ("table.xlsx", b"PK\x03\x04", "unsupported"),
    ],
)
def test_bad_files_are_reported_and_others_still_load(tmp_path: Path, name: str, content: bytes, reason: str) -> None:
    """A corrupt, empty, binary, undecodable or unsupported file is one Problem; the good files still load."""
    shutil.copy(SEED_CORPUS / "fmri-brain-networks-ketamine.txt", tmp_path / "good.txt")
    (tmp_path / name).write_bytes(content)
    documents, problems = load_corpus(tmp_path)
    assert [d.source for d in documents] == ["good.txt"]
    assert len(problems) == 1
    assert problems[0].source == name
    assert reason.lower() in problems[0].reason.lower()
    with pytest.raises(LoadError, match=name):
        load_file(tmp_path / name, tmp_path)


def test_hidden_files_are_ignored_and_subfolders_kept(tmp_path: Path) -> None:
    """Dot-files are not corpus documents; files in subfolders get their relative path as source."""
    (tmp_path / "sub").mkdir()
    shutil.copy(DATA / "sample.md", tmp_path / "sub" / "notes.md")
    (tmp_path / ".DS_Store").write_bytes(b"\x00\x01")
    documents, problems = load_corpus(tmp_path)
    assert [d.source for d in documents] == ["sub/notes.md"]
    assert problems == []


def test_missing_corpus_folder_is_a_clear_error(tmp_path: Path) -> None:
    """A corpus folder that does not exist raises CorpusError saying what to do."""
    with pytest.raises(CorpusError, match="does not exist"):
        load_corpus(tmp_path / "nope")
