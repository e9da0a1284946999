"""Training prompts made from a chunk's own text (never from evaluation questions): sentences, names, cloze cues."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

from ...errors import InputError

PROMPT_STYLES = ("summary", "facts", "entity", "cloze", "about")
SUMMARY_PROMPT = "Summarise the text."
FACTS_PROMPT = "List the facts stated in the text."

_ABBREV = ("Dr", "Mr", "Mrs", "Ms", "Prof", "St", "Jr", "Sr", "Mt", "No", "vs", "e.g", "i.e", "etc")
_PROTECT = re.compile(r"\b(" + "|".join(re.escape(a) for a in _ABBREV) + r")\.")
_SENT_END = re.compile(r"(?<=[.!?])\s+(?=[\"'(\[]?[A-Z0-9])")
_WORD = re.compile(r"[A-Za-z][\w'’-]*\.?|\d[\d,.]*")
_LEADING_ARTICLES = {"The", "A", "An"}
_ROW = re.compile(r"^(.{1,60}?\s[|:\u2013-])\s+\S.*$")  # "Established | 1829", "Cost - 936 pounds"


def split_sentences(text: str) -> list[str]:
    """Sentences of `text`: lines first (headings, table rows), then ., ! and ? boundaries.

    Abbreviations such as "Dr." do not end a sentence. Whitespace is collapsed.
    """
    out = []
    for line in text.splitlines():
        line = " ".join(line.split())
        if not line:
            continue
        protected = _PROTECT.sub(lambda m: m.group(1) + "\0", line)
        for s in _SENT_END.split(protected):
            s = s.replace("\0", ".").strip()
            if s:
                out.append(s)
    return out


def _is_cap(word: str) -> bool:
    return word[:1].isupper()


def extract_entities(sentences: Sequence[str]) -> list[str]:
    """Names: runs of capitalised words, most frequent first (ties: first appearance).

    A run that starts a sentence counts only with two or more words, so ordinary sentence-initial
    words ("Storms", "Every") are not taken for names; a leading "The/A/An" is dropped and what
    follows it counts ("The Cordamar stove" -> "Cordamar"); a title such as "Dr." joins the run
    that follows it.
    """
    counts: Counter[str] = Counter()
    first: dict[str, int] = {}
    for s in sentences:
        words = s.replace("|", " | ").split()
        i = 0
        while i < len(words):
            if not _is_cap(words[i]) or not _WORD.fullmatch(words[i].strip(",;:()\"'")):
                i += 1
                continue
            j = i
            run = []
            while j < len(words) and _is_cap(words[j]):
                w = words[j]
                stripped = w.rstrip(",;:)\"'?!")
                is_title = stripped.rstrip(".") in _ABBREV and stripped.endswith(".")
                stripped = stripped if is_title else stripped.rstrip(".")
                run.append(stripped)
                j += 1
                if stripped != w.rstrip(".") and not is_title:  # punctuation closes the run
                    break
            at_start = i == 0
            if run and run[0] in _LEADING_ARTICLES:
                run = run[1:]
                at_start = False  # "The Cordamar stove": a capitalised word after an article is a name
            while run and run[-1].rstrip(".") in _ABBREV:  # a trailing lone title is not a name
                run = run[:-1]
            if run and (len(run) >= 2 or not at_start):
                name = " ".join(run)
                counts[name] += 1
                first.setdefault(name, len(first))
            i = max(j, i + 1)
    return sorted(counts, key=lambda n: (-counts[n], first[n]))


def _spread(items: Sequence[str], n: int) -> list[str]:
    """n items evenly spaced over `items` (all of them if n >= len(items)), order kept."""
    if n <= 0 or not items:
        return []
    if n >= len(items):
        return list(items)
    if n == 1:
        return [items[0]]
    step = (len(items) - 1) / (n - 1)
    return [items[round(k * step)] for k in range(n)]


def build_prompts(text: str, max_prompts: int = 16, styles: Sequence[str] = ("summary", "facts", "entity", "cloze")) -> list[str]:
    """Deterministic training prompts made from `text` alone, at most `max_prompts`.

    Styles (in this order of priority):
    - "summary": "Summarise the text."                          (one prompt)
    - "facts":   "List the facts stated in the text."           (one prompt)
    - "entity":  "What does the text say about <name>?" for each name (capitalised run, see
                 `extract_entities`), most frequent first
    - "cloze":   "Complete the sentence: <first half of the sentence>" for each sentence of >= 4 words
                 (for a table row "Key | value" / "Key - value": "Complete the sentence: Key |")
    - "about":   "What does the text say about <first three words of the sentence>?" per sentence
    The two global prompts come first; the remaining budget is shared evenly between the per-name and
    per-sentence styles (a style that runs short gives its share to the others), and sentences are
    picked evenly spaced over the text so a long chunk is covered from start to end.
    """
    unknown = [s for s in styles if s not in PROMPT_STYLES]
    if unknown:
        raise InputError(f"unknown prompt styles {unknown}; choose from {list(PROMPT_STYLES)}")
    if not isinstance(text, str) or not text.strip():
        raise InputError(f"text must be a non-empty string, got {text!r}")
    sentences = split_sentences(text)
    out = [p for s, p in (("summary", SUMMARY_PROMPT), ("facts", FACTS_PROMPT)) if s in styles]
    pools: list[tuple[str, list[str]]] = []
    if "entity" in styles:
        pools.append(("entity", [f"What does the text say about {e}?" for e in extract_entities(sentences)]))
    if "cloze" in styles:
        cloze = []
        for s in sentences:
            row = _ROW.match(s)
            words = s.split()
            if row:  # a table row "Key | value": the cue is the key and its separator
                cloze.append("Complete the sentence: " + row.group(1))
            elif len(words) >= 4:
                cloze.append("Complete the sentence: " + " ".join(words[: max(2, len(words) // 2)]))
        pools.append(("cloze", cloze))
    if "about" in styles:
        about = []
        for s in sentences:
            words = s.rstrip(".!?").split()
            if len(words) >= 3:
                about.append(f"What does the text say about \"{' '.join(words[:3])}\"?")
        pools.append(("about", about))
    budget = max(0, max_prompts - len(out))
    # share the budget: each pool gets an equal share, leftovers go to pools that still have items
    shares = [0] * len(pools)
    while budget > 0 and any(shares[i] < len(p) for i, (_, p) in enumerate(pools)):
        for i, (_, p) in enumerate(pools):
            if budget > 0 and shares[i] < len(p):
                shares[i] += 1
                budget -= 1
    for (kind, p), n in zip(pools, shares):
        # names are ranked (take the top ones); sentences are spread over the text
        out.extend(p[:n] if kind == "entity" else _spread(p, n))
    seen: set[str] = set()
    unique = [p for p in out if not (p in seen or seen.add(p))]
    return unique[:max_prompts]
