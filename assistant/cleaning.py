"""Turning raw page text into clean article text: markup normalisation and furniture removal.

Web pages saved as text carry page furniture around the article: navigation and action labels
("Add to reading list", "Learn More"), newsletter and login prompts, app banners, byline widgets,
lists of links to other articles, legal footers. The method here is general, in the spirit of
jusText (Pomikálek, 2011): the text is cut into blocks (lines), each block is classified from its
own features, then short blocks are decided by their context.

1. Block features: word count, stop-word density, terminal punctuation, list markers, Title Case,
   ALL CAPS, and a small lexicon of generic web-interface vocabulary (sign-up, login, app, cookie,
   privacy, copyright, form submission, share/save/like controls). The lexicon only applies to
   blocks of at most 30 words, so a paragraph that mentions a copyright is never dropped.
2. Classes: BAD (interface vocabulary, bare labels, lone dates, ALL-CAPS labels, short imperative
   controls), META (bylines, dates and attributions, a bare label joined with the value on the
   next line: "published: February 29, 2024"; kept, since readers ask who and when), GOOD (prose:
   enough words, enough stop words, ends like a sentence or is a list item), SHORT (everything
   else: headings, titles, link-list items).
3. Context: exact repeats and truncated teasers (a block that is the prefix of a later block) go.
   The document title (first block that is not BAD) stays. Any other SHORT block stays only when it
   heads prose: the next non-SHORT block is GOOD, within a run of at most three SHORT blocks. So a
   heading before its paragraph survives, while a trailing list of related-article titles, which
   no prose follows, does not.

Metadata (title, author, publisher, date) is read from labelled lines before they are removed.
Bump CLEANING_VERSION whenever the output can change: it is part of the index fingerprint.

The text patterns later stages share are defined here, once: a word, a number, a byline, a venue line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

CLEANING_VERSION = "3"

STOP_WORDS = frozenset(
    """a about above after again against all also am an and any are as at be because been before being
    below between both but by can could did do does doing down during each few for from further had has
    have having he her here hers him his how i if in into is it its itself just me more most my no nor not
    now of off on once only or other our ours out over own same she should so some such than that the
    their theirs them then there these they this those through to too under until up very was we were
    what when where which while who whom why will with would you your yours
    don doesn didn isn aren wasn weren hasn haven hadn wouldn shouldn couldn""".split()
)

# Generic web-interface vocabulary (not phrases from any one site). Applies to short blocks only.
_FURNITURE = re.compile(
    r"""\b(news\s?letter|sign\s?(up|in)|log\s?(in|out)|logging\s+in|subscri(be|ption)|unsubscribe
    |privacy|cookies?|terms\s+(of\s+)?(use|service)|all\s+rights\s+reserved|copyright(ed)?
    |mobile\s+app|our\s+app|the\s+app|app\s+(store|image)|download\s+(the|our)\b|submission|submitting
    |the\s+form|advertisement|sponsored|share\s+(this|on)|follow\s+us|related\s+(articles?|resources|posts?
    |content|stories|reading)|you\s+may\s+also\s+like|recommended\s+for\s+you|read\s+more|full[\s-]text
    |access\s+(through|via)\s+your|institutional\s+access|click\s+here
    |table\s+of\s+contents|skip\s+to|back\s+to\s+top|add\s+to\s+(saved|favou?rites|cart)
    |accept\s+all)\b|©""",
    re.IGNORECASE | re.VERBOSE,
)
# First words of short interface controls ("Add like", "Learn More", "Share", "Print").
_CONTROL_VERBS = frozenset(
    """add bookmark close comment copy dislike download email flag follow hide home like load login learn
    menu next previous print read register reply report save search see share show sign skip subscribe
    tap toggle tweet view""".split()
)
# A labelled metadata line: who wrote or published a document and when ("Written by the News Team",
# "published: March 3, 2021", "Originally reported by Reuters"). Such lines are metadata,
# not headings; readers ask who and when, so they stay in the text.
BYLINE = re.compile(
    r"^\s*(?P<label>published|posted|updated|date|modified|written\s+by|by|author|authors|reviewed\s+by"
    r"|edited\s+by|source|originally\s+(?:reported|published)\s+by|publisher)\b\s*:?\s*(?P<value>.*)$",
    re.IGNORECASE,
)
_MONTHS = (
    r"(jan(uary)?|feb(ruary)?|mar(ch)?|apr(il)?|may|june?|july?|aug(ust)?|sep(t(ember)?)?|oct(ober)?"
    r"|nov(ember)?|dec(ember)?)\.?"
)
_DATE = re.compile(
    rf"^\s*({_MONTHS}\s+\d{{1,2}},?\s+\d{{4}}|\d{{1,2}}\s+{_MONTHS}\s+\d{{4}}|\d{{4}}-\d{{2}}-\d{{2}}"
    rf"|\d{{4}}\s+{_MONTHS}(\s+\d{{1,2}})?|{_MONTHS}\s+\d{{4}})\s*$",
    re.IGNORECASE,
)
# "Lancet 2019 March": a whole line naming a venue, then a year (and month, and day), as journal
# records print it. Metadata like a byline.
VENUE_LINE = re.compile(
    rf"^(?P<venue>[A-Z][\w&.\- ]{{2,60}}?)\s+(?P<date>(?:19|20)\d{{2}}(\s+(?i:{_MONTHS}))?(\s+\d{{1,2}})?)$"
)
# A word as every module counts words (headings, title case, answer length): letters, digits, inner
# apostrophes and hyphens.
WORD = re.compile(r"[A-Za-z0-9][\w'’\-]*")
# A number as every module reads numbers: digits with decimal points or thousands separators
# ("41", "3.5", "1,000"), also where they are part of a name or a unit ("7T", "50mg", "CD4").
NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_LIST_MARKER = re.compile(r"^\s*([-*•·▪]|\d{1,3}[.)])\s+")


@dataclass
class Cleaned:
    """The cleaned text and the metadata found on the way."""

    text: str
    title: str = ""
    author: str = ""
    publisher: str = ""
    date: str = ""
    dropped: list[str] = field(default_factory=list)  # blocks removed as furniture, for reports and tests


# --- markup normalisation -------------------------------------------------------------------------

_WIKI_LINK = re.compile(r"\[\[([^\]|]+)\|([^\]]+)\]\]")
_WIKI_BARE = re.compile(r"\[\[([^\]|]+)\]\]")
_MD_IMAGE = re.compile(r"!\[[^\]]*\]\([^)]*\)")
_MD_LINK = re.compile(r"\[([^\]]+)\]\((?:[^)\s]+)(?:\s+\"[^\"]*\")?\)")
_BOLD = re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1")
_ITALIC = re.compile(r"(?<![\w*])\*(?=\S)([^*\n]+?)(?<=\S)\*(?![\w*])")
_STRAY_MARKS = re.compile(r"\*\*|(?<!\w)__|__(?!\w)")
_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.*?)\s*#*\s*$", re.MULTILINE)


def normalise_markup(text: str) -> str:
    """Plain text from light markup: bold/italics, wiki links, markdown links and headings."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    # Typographic spaces and non-breaking hyphens become plain ones so words tokenise the same way.
    text = text.translate({0x00A0: " ", 0x2007: " ", 0x202F: " ", 0x2010: "-", 0x2011: "-", 0x200B: None, 0xFEFF: None})
    text = _WIKI_LINK.sub(r"\2", text)
    text = _WIKI_BARE.sub(lambda m: m.group(1).replace("-", " "), text)
    text = _MD_IMAGE.sub("", text)
    text = _MD_LINK.sub(r"\1", text)
    text = _BOLD.sub(r"\2", text)
    text = _ITALIC.sub(r"\1", text)
    text = _STRAY_MARKS.sub("", text)  # an unclosed ** left by a truncated teaser
    return _HEADING.sub(r"\1", text)


# --- block classification -------------------------------------------------------------------------

GOOD, SHORT, BAD, META = "good", "short", "bad", "meta"


def _words(block: str) -> list[str]:
    return WORD.findall(block)


def numbers(text: str) -> set[str]:
    """The numbers written in `text`, thousands separators removed ("1,000" -> "1000")."""
    return {n.replace(",", "") for n in NUMBER.findall(text)}


def is_title_case(words: list[str], share: float = 0.75) -> bool:
    """Whether most content words (at least `share` of them) are capitalised, as in headings and titles."""
    content = [w for w in words if w.lower() not in STOP_WORDS and w[0].isalpha()]
    if len(content) < 2:
        return False
    capitalised = sum(1 for w in content if w[0].isupper())
    return capitalised / len(content) >= share


def classify(block: str) -> str:
    """GOOD, SHORT or BAD for one block, from its own features (see the module docstring)."""
    words = _words(block)
    n = len(words)
    stripped = block.strip()
    if n == 0:
        return BAD
    is_list = bool(_LIST_MARKER.match(stripped))
    if n <= 30 and _FURNITURE.search(stripped):
        return BAD
    if _DATE.match(stripped) or (n <= 4 and stripped.endswith(":")):
        return BAD
    if n <= 3 and BYLINE.match(stripped) and not BYLINE.match(stripped).group("value"):  # type: ignore[union-attr]
        return BAD
    letters = [c for c in stripped if c.isalpha()]
    if n <= 8 and len(letters) > 3 and all(c.isupper() for c in letters):
        return BAD
    if n <= 4 and words[0].lower() in _CONTROL_VERBS and not stripped.endswith((".", "?", "!")):
        return BAD
    label = BYLINE.match(stripped)
    if label and label.group("value") and n <= 10 and not stripped.endswith((".", "?", "!")):
        return META  # bylines, dates and attributions: "Written by ...", "published: ..."
    stop = sum(1 for w in words if w.lower() in STOP_WORDS) / n
    ends_like_sentence = stripped.endswith((".", "!", "?", '."', ".”", "?”", ":", ";", ".)"))
    if is_list and n >= 4 and stop >= 0.1:
        return GOOD
    if n >= 8 and stop >= 0.15 and (ends_like_sentence or n >= 25):
        if n < 20 and is_title_case(words):
            return SHORT
        return GOOD
    return SHORT


def _norm(block: str) -> str:
    return " ".join(block.lower().split()).rstrip(".…*_- ")


def _metadata(blocks: list[str], cleaned: Cleaned) -> None:
    """Fill author, publisher and date from labelled lines (the value may sit on the next line)."""
    for i, block in enumerate(blocks):
        match = BYLINE.match(block)
        if match:
            label = " ".join(match.group("label").lower().split())
            value = match.group("value").strip()
            if not value and i + 1 < len(blocks):
                value = blocks[i + 1].strip()
                inner = BYLINE.match(value)  # "Source" / "Originally reported by X"
                if inner and inner.group("value"):
                    value = inner.group("value").strip()
            if not value or len(_words(value)) > 8 or value.endswith((".", "!", "?")):
                continue
            dated = label in {"published", "posted", "date", "updated", "modified"}
            if dated and _DATE.match(value) and not cleaned.date:
                cleaned.date = value
            elif (label.endswith("by") and label.startswith("originally")) or label in {"source", "publisher"}:
                if not _DATE.match(value) and len(_words(value)) <= 6 and not cleaned.publisher:
                    cleaned.publisher = value
            elif label in {"written by", "by", "author", "authors"} and not cleaned.author:
                cleaned.author = value
    for block in blocks[:30]:
        venue = VENUE_LINE.match(block.strip())
        if venue and not cleaned.date:
            cleaned.date = venue.group("date")
            if not cleaned.publisher:
                cleaned.publisher = venue.group("venue").strip()


def _join_labels(blocks: list[str]) -> list[str]:
    """Join a bare label line with its value line: "published:" + "February 29, 2024"."""
    out: list[str] = []
    i = 0
    while i < len(blocks):
        block = blocks[i]
        label = BYLINE.match(block)
        if label and not label.group("value") and i + 1 < len(blocks):
            value = blocks[i + 1]
            if (not BYLINE.match(value) and len(_words(value)) <= 8 and classify(value) != BAD) or _DATE.match(value):
                out.append(f"{block} {value}")
                i += 2
                continue
        out.append(block)
        i += 1
    return out


def clean_blocks(blocks: list[str]) -> Cleaned:
    """Remove furniture from a list of text blocks; return the kept blocks joined by blank lines."""
    blocks = [" ".join(b.split()) if not _LIST_MARKER.match(b) else b.strip() for b in blocks]
    blocks = [b for b in blocks if b]
    cleaned = Cleaned(text="")
    _metadata(blocks, cleaned)
    blocks = _join_labels(blocks)
    classes = [classify(b) for b in blocks]
    keep = [c != BAD for c in classes]
    # Repeats and teasers: drop a block seen before, or one that is the start of a later block.
    norms = [_norm(b) for b in blocks]
    seen: set[str] = set()
    for i, norm in enumerate(norms):
        if norm in seen:
            keep[i] = False
            continue
        seen.add(norm)
        if len(norm) >= 40 and any(other.startswith(norm) and other != norm for other in norms[i + 1 :]):
            keep[i] = False
    title_index = next((i for i in range(len(blocks)) if keep[i]), None)
    for i, cls in enumerate(classes):
        if cls != SHORT or not keep[i] or i == title_index:
            continue
        # Walk forward over a short run to the first block that is not SHORT.
        run, j = 1, i + 1
        while j < len(blocks) and (classes[j] == SHORT or (not keep[j] and classes[j] != BAD)):
            if keep[j]:
                run += 1
            j += 1
        heads_prose = j < len(blocks) and classes[j] == GOOD and keep[j] and run <= 3
        keep[i] = heads_prose
    kept = [b for b, k in zip(blocks, keep, strict=True) if k]
    cleaned.dropped = [b for b, k in zip(blocks, keep, strict=True) if not k]
    cleaned.text = "\n\n".join(kept)
    if title_index is not None:
        cleaned.title = blocks[title_index].strip().rstrip(".")
    return cleaned


def clean_text(raw: str) -> Cleaned:
    """Clean a plain-text or markdown page: one block per line."""
    return clean_blocks(normalise_markup(raw).split("\n"))
