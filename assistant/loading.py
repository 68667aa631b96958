"""Corpus files -> cleaned `Document`s, one loader per file type, chosen by extension.

Supported: `.txt`, `.md`/`.markdown`, `.html`/`.htm`, `.pdf` (PDFs with a text layer). A file that
cannot be read (empty, binary, undecodable, corrupt or image-only PDF) raises `LoadError` with its
path; `load_corpus` reports it and goes on with the other files. Hidden files and folders are
ignored; other extensions are reported as unsupported.
"""

from __future__ import annotations

import hashlib
import html
import io
import logging
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from stat import S_ISREG
from typing import ClassVar

from assistant.cleaning import Cleaned, clean_blocks, clean_text, is_title_case
from assistant.errors import CorpusError, LoadError
from assistant.records import Document

TEXT_SUFFIXES = {".txt", ".md", ".markdown"}
HTML_SUFFIXES = {".html", ".htm"}
PDF_SUFFIXES = {".pdf"}
SUPPORTED_SUFFIXES = TEXT_SUFFIXES | HTML_SUFFIXES | PDF_SUFFIXES
# A file is read whole, so its size is capped; a PDF of that size is mostly images. What is
# embedded is capped separately: 5 million characters of text is about 1.2 million tokens, a
# 2,500-page book, and a couple of hours of embedding on two cores; a larger text file is a log
# or a dump more often than a document, and is skipped with its size in the reason.
MAX_FILE_BYTES = 100 * 1024 * 1024
MAX_TEXT_CHARS = 5_000_000


@dataclass(frozen=True)
class Problem:
    """A corpus file that was skipped, and why."""

    source: str
    reason: str

    def __str__(self) -> str:
        return f"{printable(self.source)}: {self.reason}"


def printable(name: str) -> str:
    """A file name safe to print on one line: newlines and other control characters escaped."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in name)


def corpus_entries(root: Path) -> list[tuple[str, str, os.stat_result]]:
    """Every non-hidden file under `root` as (source, path as a string, stat), in a stable order.

    One `os.walk` and one stat per file: the folder is compared with the index before every
    question, so this stays cheap at thousands of files (symbolic links to files are followed, to
    folders not, as `Path.rglob` does).
    """
    if not root.is_dir():
        raise CorpusError(f"corpus folder {root} does not exist: create it and add .md, .txt, .html or .pdf files")
    found: list[tuple[str, str, os.stat_result]] = []
    for folder, folders, names in os.walk(root):
        folders[:] = [f for f in folders if not f.startswith(".")]
        prefix = os.path.relpath(folder, root)
        prefix = "" if prefix == "." else prefix.replace(os.sep, "/") + "/"
        for name in names:
            if name.startswith("."):
                continue
            full = os.path.join(folder, name)  # noqa: PTH118 - strings: Path objects cost 10x per file
            try:
                stat = os.stat(full)  # noqa: PTH116
            except OSError:
                continue  # a dangling link, or gone since the listing
            if S_ISREG(stat.st_mode):
                found.append((prefix + name, full, stat))
    found.sort(key=lambda entry: entry[0].split("/"))
    return found


def corpus_files(root: Path) -> Iterator[Path]:
    """Every non-hidden file under `root`, in a stable order."""
    for _, path, _ in corpus_entries(root):
        yield Path(path)


def relative_source(path: Path, root: Path) -> str:
    """The corpus-relative path with forward slashes: the `source` of documents and citations."""
    return path.relative_to(root).as_posix()


def _decode(data: bytes, source: str) -> str:
    if b"\x00" in data[:8192] and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise LoadError(f"{source}: binary file, not text; skipped")
    for bom, codec in ((b"\xef\xbb\xbf", "utf-8-sig"), (b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16")):
        if data.startswith(bom):
            return data.decode(codec)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    # Windows-1252 is the usual non-UTF-8 web text; accept it only if it yields no control characters.
    try:
        text = data.decode("cp1252")
    except UnicodeDecodeError as exc:
        raise LoadError(f"{source}: undecodable text (neither UTF-8 nor Windows-1252); skipped") from exc
    if re.search(r"[\x00-\x08\x0b\x0c\x0e-\x1f]", text):
        raise LoadError(f"{source}: undecodable text; skipped")
    return text


class _HTMLBlocks(HTMLParser):
    """Text blocks of an HTML page; scripts, styles, navigation, headers, footers and forms are skipped."""

    SKIP: ClassVar[frozenset[str]] = frozenset(
        {
            "script",
            "style",
            "noscript",
            "template",
            "svg",
            "nav",
            "header",
            "footer",
            "aside",
            "form",
            "button",
            "iframe",
            "select",
            "head",
        }
    )
    BLOCK: ClassVar[frozenset[str]] = frozenset(
        {
            "p",
            "div",
            "section",
            "article",
            "main",
            "li",
            "ul",
            "ol",
            "h1",
            "h2",
            "h3",
            "h4",
            "h5",
            "h6",
            "br",
            "tr",
            "table",
            "blockquote",
            "pre",
            "dd",
            "dt",
            "figcaption",
            "hr",
            "title",
        }
    )

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[str] = []
        self.current: list[str] = []
        self.skip_depth = 0
        self.title = ""
        self.h1 = ""
        self.meta: dict[str, str] = {}
        self._in_title = False
        self._in_h1 = False
        self._li = False

    def _flush(self) -> None:
        text = " ".join("".join(self.current).split())
        if text:
            self.blocks.append(("- " if self._li else "") + text)
        self.current = []
        self._li = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "meta":
            values = {k: v or "" for k, v in attrs}
            key = (values.get("property") or values.get("name") or "").lower()
            if key and values.get("content"):
                self.meta.setdefault(key, values["content"])
            return
        if tag == "title":
            self._in_title = True
        if tag in self.SKIP and tag != "head":
            self.skip_depth += 1
        if tag in self.BLOCK:
            self._flush()
            self._li = tag == "li"
        if tag == "h1":
            self._in_h1 = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        if tag == "h1":
            self._in_h1 = False
        if tag in self.SKIP and tag != "head" and self.skip_depth:
            self.skip_depth -= 1
        if tag in self.BLOCK:
            self._flush()

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data
            return
        if self.skip_depth:
            return
        if self._in_h1:
            self.h1 += data
        self.current.append(data)


def _clean_html(raw: str) -> Cleaned:
    parser = _HTMLBlocks()
    parser.feed(raw)
    parser.close()
    parser._flush()
    cleaned = clean_blocks(parser.blocks)
    title = " ".join((parser.h1 or parser.title).split())
    if title:
        cleaned.title = title
    meta = parser.meta
    cleaned.publisher = cleaned.publisher or meta.get("og:site_name", "") or meta.get("citation_journal_title", "")
    cleaned.author = cleaned.author or meta.get("author", "") or meta.get("citation_author", "")
    cleaned.date = (
        cleaned.date
        or meta.get("article:published_time", "")
        or meta.get("citation_publication_date", "")
        or meta.get("date", "")
    )
    return cleaned


def _reflow_pdf_page(text: str) -> list[str]:
    """Join hard-wrapped PDF lines into paragraphs; drop lone page numbers."""
    paragraphs: list[str] = []
    current: list[str] = []
    lines = [line.rstrip() for line in text.splitlines()]
    width = max((len(line) for line in lines), default=0)
    for line in lines:
        stripped = line.strip()
        if not stripped or re.fullmatch(r"(page\s*)?\d{1,4}(\s*(of|/)\s*\d{1,4})?", stripped, re.IGNORECASE):
            if current:
                paragraphs.append(" ".join(current))
                current = []
            continue
        words = stripped.split()
        if (
            not current
            and len(stripped) < 0.6 * width
            and not stripped.endswith((".", "?", "!", ",", ";"))
            and (is_title_case(words))
        ):
            paragraphs.append(stripped)  # a heading line stands alone
            continue
        if current and current[-1].endswith("-") and stripped[:1].islower():
            current[-1] = current[-1][:-1] + stripped  # de-hyphenate a word broken at the line end
        else:
            current.append(stripped)
        # A line that ends a sentence well short of the column width ends its paragraph.
        if stripped.endswith((".", "?", "!", ":")) and len(stripped) < 0.8 * width:
            paragraphs.append(" ".join(current))
            current = []
    if current:
        paragraphs.append(" ".join(current))
    return paragraphs


def _clean_pdf(data: bytes, source: str) -> Cleaned:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    # pypdf logs every recoverable oddity of a broken file; the one-line LoadError says enough.
    logging.getLogger("pypdf").setLevel(logging.ERROR)

    try:
        reader = PdfReader(io.BytesIO(data))
        # Many PDFs are encrypted with an empty user password (only printing or copying is restricted).
        if reader.is_encrypted and not reader.decrypt(""):
            raise LoadError(f"{source}: encrypted PDF that needs a password; skipped")
        pages = [page.extract_text() or "" for page in reader.pages]
        info = reader.metadata
    except (PdfReadError, ValueError, KeyError, TypeError, OSError, AttributeError, RecursionError) as exc:
        raise LoadError(f"{source}: corrupt or unreadable PDF ({type(exc).__name__}); skipped") from exc
    if not any(page.strip() for page in pages):
        raise LoadError(f"{source}: PDF has no text layer (scanned image?); skipped")
    if sum(len(page) for page in pages) > MAX_TEXT_CHARS:
        raise LoadError(f"{source}: more than {MAX_TEXT_CHARS:,} characters of text; skipped")
    blocks = [paragraph for page in pages for paragraph in _reflow_pdf_page(page)]
    cleaned = clean_blocks(blocks)
    if info is not None:
        cleaned.title = str(info.title or "").strip() or cleaned.title
        cleaned.author = cleaned.author or str(info.author or "").strip()
    return cleaned


def load_file(path: Path, root: Path) -> Document:
    """Load and clean one corpus file; raise `LoadError` when it cannot be used."""
    source = relative_source(path, root)
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise LoadError(f"{source}: unsupported file type {suffix or '(none)'}; skipped")
    if path.is_symlink() and not path.resolve().is_relative_to(root.resolve()):
        raise LoadError(f"{source}: a symbolic link to a file outside the corpus folder; skipped")
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise LoadError(f"{source}: larger than {MAX_FILE_BYTES // 2**20} MB; skipped")
        data = path.read_bytes()
    except OSError as exc:
        raise LoadError(f"{source}: cannot be read ({exc.strerror}); skipped") from exc
    if not data.strip():
        raise LoadError(f"{source}: empty file; skipped")
    if suffix in PDF_SUFFIXES:
        cleaned = _clean_pdf(data, source)
    else:
        text = _decode(data, source)
        if len(text) > MAX_TEXT_CHARS:
            raise LoadError(f"{source}: {len(text):,} characters of text, over the {MAX_TEXT_CHARS:,} limit; skipped")
        cleaned = _clean_html(text) if suffix in HTML_SUFFIXES else clean_text(text)
    if not cleaned.text.strip():
        raise LoadError(f"{source}: no article text left after cleaning; skipped")
    title = cleaned.title or path.stem.replace("-", " ").replace("_", " ")
    return Document(
        source=source,
        title=html.unescape(title)[:300],
        text=cleaned.text,
        sha256=hashlib.sha256(data).hexdigest(),
        publisher=cleaned.publisher,
        date=cleaned.date,
        author=cleaned.author,
    )


def load_corpus(root: Path) -> tuple[list[Document], list[Problem]]:
    """Load every file under `root`; unreadable ones come back as `Problem`s, never as exceptions."""
    documents: list[Document] = []
    problems: list[Problem] = []
    for path in corpus_files(root):
        try:
            documents.append(load_file(path, root))
        except LoadError as exc:
            problems.append(Problem(relative_source(path, root), str(exc).split(": ", 1)[-1]))
    return documents, problems
