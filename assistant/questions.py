"""What a question asks for: its content terms, the kind of answer it expects, its presuppositions.

Used by the extractive answerer to pick sentences and to decide when to abstain, and by
follow-up handling to tell whether a question leans on the conversation.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from itertools import takewhile

from assistant.cleaning import NUMBER, VENUE_LINE, WORD
from assistant.retrieval import analyse, lexical_form

# Words that shape a question but say nothing about its topic; left out of term coverage.
QUESTION_WORDS = frozenset(
    """what which who whom whose when where why how many much did does do is are was were can could would
    should will tell me explain describe give list please know anything something say says said mention
    mentioned mentions corpus document documents article articles text according there any kind type
    exactly actually really also us i you main think thinks title headline whether ok okay hey hi thanks thank
    yeah anyway name named called""".split()
)
NEGATION = re.compile(r"\b(not|no|never|neither|nor|without|none|cannot|lack(?:s|ed)?)\b|n['’]t\b", re.IGNORECASE)
# Opposite directions, as `analyse` stems them: a question asserting one while the source says the
# other has a false premise. These pairs go both ways; the words after them have a one-way opposite.
_OPPOSITES = """increas/decreas higher/lower more/less larger/smaller improv/worsen slower/faster posit/negat
    gain/loss success/fail first/last earliest/latest earlier/later win/lose largest/smallest highest/lowest
    maximum/minimum oldest/youngest older/younger accept/reject rise/fall stronger/weaker north/south
    east/west""".split()
ANTONYMS = {
    **{word: other for pair in _OPPOSITES for word, other in [pair.split("/"), pair.split("/")[::-1]]},
    "rais": "lower",
    "reduc": "increas",
    "slowli": "rapid",
    "rapid": "slow",
    "shrink": "increas",
    "shrank": "increas",
    "same": "differ",
}

# Every figure below is a `cleaning.NUMBER`.
_NUMBER = NUMBER.pattern
# A number that is not a year: "2017" dates a study, it counts nothing.
_NOT_A_YEAR = rf"\b(?!(?:19|20)\d{{2}}\b){_NUMBER}"
# A number written on its own: not part of a name or a compound ("3T", "COVID-19", "12-week").
STANDALONE_NUMBER = re.compile(rf"(?<![\w.,-]){_NUMBER}(?![\w-])")
# A number a question states ("about 70% of patients"), with its percent sign or word; not part of a name
# or a compound ("3T", "3-month"), nor a year ("in 1766" dates what it asks about and asserts no figure).
ASSERTED_NUMBER = re.compile(rf"(\b(?!(?:1\d|20)\d{{2}}\b){_NUMBER})(?![\w./-])\s*(%|percent\b|per cent\b)?")

# Answer types and the evidence a sentence needs to answer them.
# A count: a number that is not a percentage or a year.
_COUNT = (
    rf"{_NOT_A_YEAR}\b(?!\s*(?:%|percent))"
    r"|\b(two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|forty|fifty|dozens?|hundreds?"
    r"|thousands?|millions?|billions?)\b"
)
_UNIT_DOSE = rf"\b{_NUMBER}\s*(mg|milligrams?|mcg|µg|g|ml|mg/kg|µg/kg|iu|units?)\b"
_PERCENT = rf"{_NUMBER}\s*(%|percent|per cent)|\b(half|third|quarter|majority|minority)\b"
# A year of any era ("1066", "the 1960s", "the 12th century", "52 BC") or a month.
_DATE = (
    r"\b[1-9]\d{2,3}s?\b|\b\d{1,2}(st|nd|rd|th)[ -]centur(y|ies)\b|\b\d+\s*(BC|AD|BCE|CE)\b"
    # A month by its capital: "may" and "march" are also a verb.
    r"|\b(?-i:January|February|March|April|May|June|July|August|September|October|November|December)\b"
)
_DURATION = r"\b(seconds?|minutes?|hours?|days?|weeks?|months?|years?)\b"
_NAME = r"(?<![.!?]\s)(?<!^)\b(Dr\.?\s+)?[A-Z][a-z]+(?:\s+[A-Z][a-z]+)+|\bDr\.?\s+[A-Z][a-z]+"
ANSWER_EVIDENCE = {
    "number": re.compile(_COUNT, re.IGNORECASE),
    "dose": re.compile(_UNIT_DOSE, re.IGNORECASE),
    "percent": re.compile(_PERCENT, re.IGNORECASE),
    "date": re.compile(_DATE, re.IGNORECASE),
    "duration": re.compile(_DURATION, re.IGNORECASE),
    "name": re.compile(_NAME),
    # A place: "in China", "at Yale", "from the University of ...".
    "place": re.compile(r"\b(in|at|from)\s+(the\s+)?[A-Z][a-z]+"),
    # An organisation: an institution's name or an acronym of three or more capitals ("RSNA", "NIMH"); as
    # for names, one that only repeats the question's words answers nothing.
    "organization": re.compile(
        r"\b(University|Institute|College|School|Hospital|Cent(?:er|re)|Clinic|Foundation|Society|Association"
        r"|Agency|Department|Laborator(?:y|ies)|Council|Ministry|Corporation|Company|Inc|Ltd)\b|\b[A-Z]{3,}\b"
    ),
    # A named venue: "published in Nature's Scientific Reports", "reported by the Associated Press", or
    # a venue line ("Lancet 2019 March").
    "venue": re.compile(
        r"\b(published|appeared|reported|featured)\s+(in|by)\s+(the\s+)?([a-z]+\s+){0,2}?[A-Z][\w'’]+"
        rf"|{VENUE_LINE.pattern}"
    ),
    # A quoted title of three or more words: 'The paper, "Sleep Duration and Memory in ..."'.
    "title": re.compile(r"[\"“'‘][A-Z][^\"”]{10,300}[\"”'’]"),
    "money": re.compile(rf"[$€£¥]\s?\d|\b{_NUMBER}\s*(dollars|euros|pounds|usd|eur|gbp)\b", re.I),
}
ANSWER_NOUNS = {
    "number": "a number",
    "dose": "a dose",
    "percent": "a percentage",
    "date": "a date",
    "duration": "a duration",
    "name": "a name",
    "money": "a cost or price",
    "venue": "the journal or publisher",
    "title": "a title",
    "place": "a place",
    "organization": "the name of an organisation",
}
# What kind of answer a question asks for, tried in this order: the first that matches decides; the frame
# of the question ("when", "how many", "which journal") before the words of its topic ("price", "dose").
_TYPE_PATTERNS = {
    "number": re.compile(
        r"\bhow many\b|\bnumber of\b|\bhow large\b|\bsample size\b|\bhow big\b|\bhow old\b"
        r"|\b(average|mean|median)\s+(age|number|duration|score|size|length|time)\b",
        re.I,
    ),
    # "when" asks for a date as the question word, not as a conjunction ("... when the valve opens").
    "date": re.compile(
        r"(?:^\s*|[,;:]\s*|\b(?:and|but|so|since|until)\s+)when\b|\bwhat (year|date|month|day)\b"
        r"|\bwhich (year|date|month)\b|\bon what date\b|\bin what year\b",
        re.I,
    ),
    "duration": re.compile(r"\bhow long\b|\bfor how many (days|weeks|months|years)\b|\bhow soon\b", re.I),
    "venue": re.compile(
        r"\b(which|what) (\w+ )?(journal|publication|magazine|outlet|website|publisher|newspaper)s?\b"
        r"|\bname of the (journal|publication|magazine|outlet|website|publisher|newspaper)s?\b"
        # "Published in what city?" asks for a place: "in what" names a venue only with a venue noun (above).
        r"|\b(published|reported|appeared) by (what|which|whom)\b|\bwhere was (it|this|the \w+) published\b",
        re.I,
    ),
    "title": re.compile(
        r"\b(what|which)(?: is|'s| was) (the )?(full |exact )?(title|headline)\b|\b(title|headline) of\b"
        r"|\bwhat is (it|the \w+) called\b",
        re.I,
    ),
    "organization": re.compile(
        r"\b(which|what) (organi[sz]ations?|institutions?|universit(y|ies)|compan(y|ies)|societ(y|ies)"
        r"|agenc(y|ies))\b"
        r"|\bname of the (organi[sz]ation|institution|university|company|society|agency)\b",
        re.I,
    ),
    "place": re.compile(
        r"\b(which|what) (country|countries|city|cities|state|region of the world|hospital|clinic|location)\b"
        r"|\bwhere (was|were) (it|they|the \w+( \w+)?) (conducted|done|carried out|run|based|held)\b",
        re.I,
    ),
    "name": re.compile(
        r"\bname of the (researchers?|scientists?|person|authors?|doctors?|experts?)\b"
        r"|\b(which|what) (researchers?|scientists?|person|authors?|doctors?|experts?)\b"
        r"|\bwho (wrote|said|noted|published|led|authored|conducted|reported|ran|funded|paid|sponsored|financed)\b"
        r"|\bwho is quoted\b"
        r"|\bwho (is|are|was|were) the (authors?|researchers?|investigators?|scientists?|writers?|lead)\b"
        r"|\b(published|reported) (in|by) (what|which)\b",
        re.I,
    ),
    # Words of a topic, not a question's frame: they type a question only after the frames above, and
    # only one that asks what, which or how ("How often ...?" asks neither a share nor a duration).
    "dose": re.compile(r"\b(dose|doses|dosage|dosing|how much (of the drug|drug|medication)|mg\b|milligram)", re.I),
    "percent": re.compile(r"\b(percent(age)?|proportion|fraction|what share|rate of|how common)\b", re.I),
    "money": re.compile(r"\b(cost|costs|price|priced|expensive|cheap|afford|insurance cover|pay for)\b", re.I),
}
_AMOUNT_TYPES = frozenset({"dose", "percent", "money"})
# A claim ("Taxation had no effect on the rate of ...") and a why-question ask for no amount.
_ASKS_AMOUNT = re.compile(r"\b(what|which|how)\b", re.I)
_REASON_FIRST = re.compile(r"^\s*why\b", re.I)
# A yes/no question starts with an auxiliary, possibly after a leading phrase ("In the REM study, did ...").
_YES_NO = re.compile(
    r"^\s*(?:[^,?]{0,80},\s*)?(is|are|was|were|do|does|did|can|could|has|have|had|will|would|should|may|might)\b",
    re.I,
)
_CHOICE = re.compile(r",\s*or\b|\bor (does|do|did|is|are|was|were|can|will|has|have|as|just|only)\b", re.I)
_PREMISE = re.compile(
    r"^\s*(why|how come|what explains|what caused|what made|how did|how does|how do|how much did|how much does"
    r"|to what extent did|how many \w+ did)\b",
    re.I,
)
# "How does the article describe TRD?": asks what a document says, asserts nothing.
_REPORTING = re.compile(
    r"^\s*how (do|does|did)\b[^?]*\b(describe|define|explain|say|characteri[sz]e|mention|discuss|compare|measure"
    r"|present|portray|frame|summari[sz]e|report)\b",
    re.I,
)
_COUNTED = re.compile(
    r"\bhow many\s+(?:of\s+(?:the|these|those)\s+)?([A-Za-z-]+)(?:\s+([A-Za-z-]+))?"
    r"|\b(?:average|mean|median)\s+([A-Za-z-]+)()",
    re.I,
)
# Missing words shaped like drug or chemical names count as names the corpus must contain.
DRUG_LIKE = re.compile(
    r"(ium|amine|etine|azine|azole|zole|pam|lam|mab|nib|vir|pril|olol|sartan|statin|cillin|mycin|cycline|oxacin"
    r"|barbital|profen|dronate|tidine|prazole|afil|triptan|setron|lukast)$"
)
# A question across documents names them in the plural ("these studies", "which write-ups") or asks what
# "both" or "each" say; "each other", "or both?" and "the most common" ask of one passage.
_MULTI = re.compile(
    r"\b(the|these|those|all|both|various|different|several|many|most|other|which|two|three|four)\s+"
    r"([\w'-]+,?\s+){0,5}?(?-i:studies|articles|documents|sources|papers|write-?ups|pieces|reports|abstracts|reviews)\b"
    r"|\bboth\s+(the|these|those)\b|\beach\s+(one|of|say|says|said|put|describe|report)\b|\bin common\b",
    re.I,
)
ANAPHORA = re.compile(
    r"\b(it|its|they|them|their|this|that|these|those|he|she|his|her|there|same|the (study|paper|article|trial"
    r"|research|researchers|authors|scan|scans|findings|patients|participants|drug|treatment))\b",
    re.I,
)
# "the survey and the follow-up study": two documents named in one question.
_DOC = r"\b(article|study|paper|trial|piece|report|abstract)\b"
_TWO_DOCS = re.compile(rf"{_DOC}[^?]*\band\b[^?]*{_DOC}", re.I)


@dataclass
class Question:
    """A parsed question."""

    text: str
    terms: list[str]  # analysed content terms, in order, without question words
    critical: set[str] = field(default_factory=set)  # analysed terms that must be found: names, acronyms, numbers
    words_for: dict[str, str] = field(default_factory=dict)  # analysed term -> the word the user typed
    answer_type: str = ""  # one of ANSWER_EVIDENCE's keys, or "" for free-form
    yes_no: bool = False
    presupposes: bool = False  # "why did...", "how did...": asserts its premise
    negated: bool = False
    multi: bool = False
    counted: list[str] = field(default_factory=list)  # analysed words after "how many": what is counted
    focus: set[str] = field(default_factory=set)  # what the answer must be about: "What side effects ..."
    asks_reason: bool = False  # "why ...", "what might explain ...": the answer gives a cause
    asks_result: bool = False  # "what did the study find / show": the answer reports a result
    focus_head: str = ""  # the noun a which-question asks for: "species" in "Which species showed ..."
    named_sources: list[str] = field(default_factory=list)  # documents the question names ("the survey article")
    selectors: set[str] = field(default_factory=set)  # the terms that named them
    asked: set[str] = field(default_factory=set)  # words a byline or venue line answers for (set by the answerer)


def parse(text: str) -> Question:
    """Parse a question (see `Question`)."""
    terms: list[str] = []
    critical: set[str] = set()
    words_for: dict[str, str] = {}
    for position, word in enumerate(WORD.findall(lexical_form(text))):  # "1,000" is one word, as analysed
        if word.lower().strip("'’") in QUESTION_WORDS:
            continue
        for term in analyse(word):  # "brain-network" -> brain, network
            words_for.setdefault(term, word)
            if term not in terms:
                terms.append(term)
            is_named = position > 0 and any(c.isupper() for c in word)
            if is_named or any(c.isdigit() for c in word):
                critical.add(term)
    asks_amount = bool(_ASKS_AMOUNT.search(text)) and not _REASON_FIRST.match(text)
    kinds = [name for name in _TYPE_PATTERNS if asks_amount or name not in _AMOUNT_TYPES]
    typed = next(((name, m) for name in kinds if (m := _TYPE_PATTERNS[name].search(text))), None)
    answer_type = typed[0] if typed else ""
    # "Is the pass open all year, or only in summer?" offers a choice: not yes or no.
    yes_no = bool(_YES_NO.match(text)) and not _CHOICE.search(text)
    first_end = text.find("?") if "?" in text else len(text)  # "Was it rebuilt? If so, when?" keeps "when"
    if yes_no and typed is not None and typed[1].start() < first_end:
        # "Does the report say how much of the drug people should take?" asks whether, not how much:
        # "the best dose is not known yet" answers it.
        answer_type = ""
    return Question(
        text=text,
        terms=terms,
        critical=critical,
        words_for=words_for,
        answer_type=answer_type,
        yes_no=yes_no,
        presupposes=bool(_PREMISE.match(text)) and not _REPORTING.search(text),
        negated=bool(NEGATION.search(text)),
        multi=bool(_MULTI.search(text) or _TWO_DOCS.search(text)),
        counted=[t for m in _COUNTED.finditer(lexical_form(text)) for w in m.groups() if w for t in analyse(w)],
        focus=focus_terms(text),
        focus_head=focus_head(text),
        asks_reason=bool(_REASON.search(text)),
        asks_result=bool(_RESULT_QUESTION.search(text)),
    )


_REASON = re.compile(r"^\s*why\b|\b(explain|explains|reason|reasons|cause|causes|caused|how come)\b", re.I)
# Words that mark a sentence as giving a cause or an interpretation.
CAUSAL = re.compile(
    r"\b(because|due to|caused by|mediated by|explain|explains|suggest|suggests|so that|as a result|leads? to"
    r"|contributes? to|reason|thanks to|driven by)\b",
    re.I,
)
_RESULT_QUESTION = re.compile(
    r"\bwhat (did|does|do|has|have)\b.*\b(find|found|show|shown|reveal|report|observe|conclude|discover)\w*\b"
    r"|\b(results?|findings?|conclusions?|outcomes?)\b",
    re.I,
)
# Words that mark a sentence as reporting a result.
RESULT = re.compile(
    r"\b(found|finding|findings|showed|shows|revealed|reveals|demonstrated|results?|increase[sd]?|decrease[sd]?"
    r"|lower|higher|reduced|improved|associated|correlated?|differences|significant(ly)?|suggests?)\b",
    re.I,
)
_FOCUS = re.compile(
    r"^\s*(?:what|which)\s+(?!(?:is|are|was|were|do|does|did|has|have|had|can|could|will|would|should|may|might)\b)"
    r"((?:[\w'-]+\s+){1,8}?)(?:is|are|was|were|do|does|did|has|have|had|can|could|will|would"
    r"|should|may|might|\w+ed)\b"
    # "What was the premise of the inquiry?" asks for the premise (the phrase's last word, its head).
    r"|^\s*what\s+(?:is|are|was|were)\s+(?:the\s+|an?\s+)?((?:[\w'-]+\s+){0,2}?[\w'-]+)\s+(?:of|in|for|behind)\b",
    re.I,
)
_PREPOSITIONS = frozenset("of in on for from about with by at to during after before among between".split())
_ALTERNATIVES = re.compile(r"\b([a-z]+) or ([a-z]+)\b", re.I)
_KIND_OF = re.compile(r"^(?:kinds?|types?|sorts?|forms?)\s+of\s+", re.I)


def focus_terms(text: str) -> set[str]:
    """The question's focus.

    The noun phrase after "what/which" ("What parts of X are ...") up to its first
    preposition, past a "kind of" ("What kind of arches ..." asks for arches), and the options of an
    either-or question ("higher or lower").
    """
    focus: set[str] = set()
    if match := _FOCUS.match(text):
        words = _KIND_OF.sub("", match.group(1) or match.group(2)).split()
        words = list(takewhile(lambda word: word.lower() not in _PREPOSITIONS, words))
        focus.update(analyse(" ".join(words if match.group(1) else words[-1:])))  # "the full title": its head
    for first, second in _ALTERNATIVES.findall(text):
        a, b = analyse(first), analyse(second)
        if a and b and ANTONYMS.get(a[0]) == b[0]:
            focus.update((a[0], b[0]))
    return focus


_WHICH = re.compile(
    r"^\s*which\s+((?:[\w'-]+\s+){0,2}?[\w'-]+)\s+(?=(?:is|are|was|were|do|does|did|has|have|had|can|could|will"
    r"|would|should|may|might|\w+ed)\b)",
    re.I,
)


def focus_head(text: str) -> str:
    """The analysed noun a which-question asks for ("Which river crosses ..." -> "river")."""
    match = _WHICH.match(text)
    if not match:
        return ""
    words = [w for w in match.group(1).split() if w.lower() not in _PREPOSITIONS]
    analysed = analyse(words[-1]) if words else []
    return analysed[-1] if analysed else ""


def is_follow_up(text: str) -> bool:
    """Whether a question seems to lean on earlier turns (pronouns, 'the study', or very short)."""
    topical = [w for w in WORD.findall(text) if w.lower().strip("'’") not in QUESTION_WORDS]
    return bool(ANAPHORA.search(text)) or len(topical) <= 2


_STARTS_QUESTION = (
    r"(how|what|which|who|whom|whose|when|where|why|did|does|do|is|are|was|were|can|could|has|have|had|will|would)\b"
)
_COMPOUND = re.compile(rf"^(?P<a>\s*{_STARTS_QUESTION}.+?)(?:,\s*|\s+)and\s+(?P<b>{_STARTS_QUESTION}.+)$", re.I)


def split_compound(text: str) -> list[str]:
    """Split a question that asks two things ("What share ..., and how many ...?") into its parts.

    Several question marks separate questions too. A single question comes back as a one-item list.
    """
    pieces = [p.strip() + "?" for p in text.split("?") if len(p.split()) >= 3]
    if len(pieces) > 1:
        return pieces
    match = _COMPOUND.match(text.strip())
    if not match or min(len(match.group("a").split()), len(match.group("b").split())) < 3:
        return [text]
    first = match.group("a").strip().rstrip(",") + "?"
    second = match.group("b").strip()
    second = second[0].upper() + second[1:]
    return [first, second if second.endswith("?") else second + "?"]
