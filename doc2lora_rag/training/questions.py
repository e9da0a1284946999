"""Questions with short gold answers, made by program from a spaCy-parsed passage (`natural_corpus`).

Named entities, numbers and code names of a passage become questions whose gold answer is the span:
an object, date, place or count of the main clause a fronted question ("When did the project release
version 2.0?", `_fronted`), a subject "Who/What ...?" with the rest of its sentence, any other span an
echo question ("... released in what year?"); attributed quotations "Who said ...?". Questions are
spread over the whole passage (at most `MAX_QUESTIONS`).
"""

from __future__ import annotations

import random
import re

MAX_QUESTIONS = 8

LABELS = {"PERSON", "ORG", "GPE", "LOC", "FAC", "DATE", "CARDINAL", "QUANTITY", "MONEY", "PERCENT", "PRODUCT",
          "WORK_OF_ART", "EVENT", "LAW", "NORP", "LANGUAGE", "TIME", "CODE"}
CODE = re.compile(r"(?<![\w-])(--?[a-zA-Z][\w-]*|[A-Z][A-Z0-9]*_[A-Z0-9_]+|[a-z]+_[a-z0-9_]+|/[\w.-]+(?:/[\w.-]+)+|[\w.]+\(\))(?![\w-])")
YEAR = re.compile(r"^(in |since |by )?(1[5-9]\d\d|20\d\d)$")


def _wh(label: str, text: str, next_pos: str | None) -> str:
    if label == "PERSON":
        return "who"
    if label == "DATE":
        return "what year" if YEAR.match(text) else "when"
    if label in ("CARDINAL",) and next_pos == "NOUN":
        return "how many"
    if label in ("QUANTITY", "MONEY", "PERCENT"):
        return "how much"
    if label in ("GPE", "LOC", "FAC"):
        return "where"
    if label == "TIME":
        return "what time"
    if label == "CODE":
        return "which option" if text.startswith("-") else "which function" if text.endswith("()") else \
            "which file" if text.startswith("/") else "what"
    return "what"


def prose_sentence(sent) -> bool:
    """A sentence that reads as prose: capitalised, ends with a full stop, has a verb, few symbols."""
    text = sent.text.strip()
    words = [t for t in sent if not t.is_punct and not t.is_space]
    return (6 <= len(words) <= 32 and text[:1].isupper() and text.endswith((".", "!")) and not re.search(r"[{}<>|=$>\\[\]]|--", text)
            and sum(t.is_alpha for t in words) >= 0.7 * len(words) and any(t.pos_ in ("VERB", "AUX") for t in words)
            and "\n" not in text)


DO = {"VBD": "did", "VBZ": "does", "VBP": "do"}


def _fronted(sent, start: int, end: int, label: str) -> str | None:
    """A fronted wh-question about an object, date, place or count of the main clause, as people ask them.

    "Debian was founded by Ian Murdock in 1993." -> "When was Debian founded by Ian Murdock?"; "The
    aqueduct has eleven arches." -> "How many arches does the aqueduct have?" (subject-auxiliary
    inversion, do-support for a verb without auxiliary). None where the parse gives no such reading.
    """
    doc, root = sent.doc, sent.root
    span_root = doc[start:end].root
    subj = next((c for c in root.children if c.dep_ in ("nsubj", "nsubjpass")), None)
    if root.pos_ not in ("VERB", "AUX") or subj is None or subj.i > root.i or start <= subj.i < end:
        return None
    drop = set(range(start, end))
    wh = _wh(label, doc[start:end].text, doc[end].pos_ if end < sent.end else None)
    if wh.startswith("which ") or wh == "what time":
        return None
    if wh == "how many":
        noun = span_root.head
        if span_root.dep_ != "nummod" or noun.dep_ not in ("dobj", "pobj", "attr") or noun.i != end:
            return None
        wh, drop = f"how many {noun.text}", drop | {noun.i}
        governor = noun.head
    else:
        governor = span_root.head
        if span_root.dep_ not in ("dobj", "attr", "pobj", "npadvmod"):
            return None
    if span_root.dep_ == "pobj" or (wh.startswith("how many") and governor.dep_ == "prep"):
        prep = governor
        if prep.dep_ not in ("prep", "agent") or prep.head != root or prep.i != start - 1:
            return None
        if wh in ("when", "where", "what year"):
            if prep.lower_ not in ("in", "on", "at", "during"):
                return None  # "after the war" is not "when", "of Ireland" not "where"
            drop.add(prep.i)  # "in 1993" -> "when"; "by Ian Murdock" keeps its "by"
        elif wh.startswith("how many"):
            drop.add(prep.i)
    elif governor != root:
        return None
    wh = "when" if wh == "what year" else wh
    if span_root.dep_ == "attr":
        wh = "who" if label == "PERSON" else "what"  # "The capital is Oslo." -> "What is the capital?"
    aux = next((c for c in root.children if c.dep_ in ("aux", "auxpass") and subj.i < c.i < root.i), None)
    if aux is None and root.pos_ == "AUX":
        aux = root  # copula: "The capital is Oslo." -> "What is the capital?"
    verb = None
    if aux is None:
        if root.tag_ not in DO:
            return None
        aux_text, verb = DO[root.tag_], root.lemma_
    else:
        aux_text = aux.lower_
        drop.add(aux.i)
    def words(tokens) -> str:
        out = []
        for t in tokens:
            if t.i in drop or t.is_space:
                continue
            text = verb if t.i == root.i and verb is not None else t.text
            if t.i == sent.start and t.pos_ != "PROPN" and text != "I":
                text = text.lower()
            out.append(text + t.whitespace_)
        return "".join(out).strip().strip(" .;:!,")

    # what precedes the subject ("In 1998, ...") follows the clause in the question
    rest = " ".join(w for w in (words(doc[subj.left_edge.i:sent.end]), words(doc[sent.start:subj.left_edge.i])) if w)
    return f"{wh[0].upper()}{wh[1:]} {aux_text} {rest}?"


def _question(sent, start: int, end: int, label: str, max_words: int = 32) -> str | None:
    """A question about tokens [start, end) of a spaCy sentence, or None when none reads well."""
    toks = list(sent)
    s = start - sent.start
    root = sent.root
    span_root = sent.doc[start:end].root
    first_word = next((t for t in toks if not t.is_punct), None)
    if span_root.dep_ in ("nsubj", "nsubjpass") and span_root.head == root and first_word is not None and first_word.i >= start:
        wh = "Who" if label in ("PERSON", "NORP") else "What"
        rest = sent.doc[end:sent.end].text.rstrip(" .;:!")
        q = f"{wh} {rest}?"
    else:
        nxt = sent.doc[end].pos_ if end < sent.end else None
        wh = _wh(label, sent.doc[start:end].text, nxt)
        if wh.startswith("which ") and end < sent.end and sent.doc[end].lower_ == wh.split()[1]:
            wh = "which"  # "the -l option" -> "the which option", not "which option option"
        prev = sent.doc[start - 1] if start > sent.start else None
        if wh == "where" and prev is not None and prev.lower_ in ("in", "at", "on", "near", "from", "to"):
            s -= 1 if prev.lower_ in ("in", "at", "on") else 0
            if prev.lower_ in ("in", "at", "on"):
                start -= 1
        if wh == "what year" and prev is not None and prev.lower_ == "in":
            wh = "in what year"
            start -= 1
        left = sent.doc[sent.start:start].text
        right = sent.doc[end:sent.end].text.rstrip(" .;:!,")
        q = f"{left} {wh} {right}".strip() + "?"
        q = q[0].upper() + q[1:]
    q = re.sub(r"\s+([,.;:)?])", r"\1", " ".join(q.replace("*", "").split())).replace(".?", "?")
    if len(q.split()) > max_words or len(q.split()) < 4:
        return None
    return q


def doc_questions(doc, text: str, rng: random.Random) -> list[dict]:
    """Question/answer pairs of one spaCy-parsed passage, spread over it."""
    spans = [(e.start, e.end, e.label_) for e in doc.ents if e.label_ in LABELS]
    for m in CODE.finditer(text):
        sp = doc.char_span(m.start(), m.end(), alignment_mode="expand")
        if sp is not None:
            spans.append((sp.start, sp.end, "CODE"))
    cands, seen = [], set()
    for start, end, label in sorted(set(spans)):
        sent = doc[start].sent
        if not prose_sentence(sent):
            continue
        answer = doc[start:end].text.strip(" .,;:()\"'")
        if answer.lower().startswith("the "):
            answer = answer[4:]
        if not answer or len(answer.split()) > 6 or answer.lower() in seen or answer not in text:
            continue
        q = _fronted(sent, start, end, label) or _question(sent, start, end, label)
        if q is None or answer.lower() in q.lower():
            continue
        seen.add(answer.lower())
        cands.append({"question": q, "answers": [answer], "kind": label.lower(), "pos": doc[start].idx})
    if len(cands) > MAX_QUESTIONS:  # spread over the passage: one per stretch, picked at random within it
        step = len(cands) / MAX_QUESTIONS
        cands = [cands[int(i * step) + rng.randrange(max(1, int(step)))] for i in range(MAX_QUESTIONS)]
    for c in cands:
        c.pop("pos")
    return cands


def fortune_questions(text: str) -> list[dict]:
    """Attributed quotations: "Who said: '<the quotation's first words> ...'?" -> the author."""
    out = []
    for item in text.split("\n\n"):
        quote, _, who = item.rpartition(" -- ")
        author = who.split(",")[0].strip(" .")
        words = quote.split()
        if not quote or not author or len(author.split()) > 5 or not author[:1].isupper() or len(words) < 5:
            continue
        start = " ".join(words[:12]).strip("\"' ")
        out.append({"question": f"Who said: \"{start}{' ...' if len(words) > 12 else ''}\"?", "answers": [author], "kind": "person"})
    return out[:MAX_QUESTIONS]
