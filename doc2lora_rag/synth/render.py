"""Rendering: fact values, entities, prose and fact-sheet blocks, one document with its questions."""

from __future__ import annotations

import math
import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from .documents import QA, SynthDoc, approx_tokens
from .names import Namer, Pools
from .templates import (
    COLOURS,
    CURRENCIES,
    FIELDS,
    FOODS,
    GENRES,
    GOODS,
    INDUSTRIES,
    JOBS,
    MATERIALS,
    MONTHS,
    NUMBER_WORDS,
    PET_FOODS,
    SPECIES,
)

# --------------------------------------------------------------------------- fact values


@dataclass(frozen=True)
class _Value:
    """A fact value as written in the text, its gold answers (substrings of it) and an optional link."""

    display: str
    answers: tuple[str, ...]
    link: tuple[str, str] | None = None  # (entity kind, name) when the value names a describable entity


_Maker = Callable[[random.Random, Namer], _Value]


def _fmt_count(n: int) -> str:
    return f"{n:,}" if n >= 10000 else str(n)


def _year(lo: int, hi: int) -> _Maker:
    def make(rng: random.Random, namer: Namer) -> _Value:
        y = str(rng.randint(lo, hi))
        return _Value(y, (y,))

    return make


def _count(lo: int, hi: int) -> _Maker:
    def make(rng: random.Random, namer: Namer) -> _Value:
        d = _fmt_count(rng.randint(lo, hi))
        return _Value(d, (d,))

    return make


def _pick(vocab: tuple[str, ...]) -> _Maker:
    def make(rng: random.Random, namer: Namer) -> _Value:
        v = rng.choice(vocab)
        return _Value(v, (v,))

    return make


def _person(titles: tuple[str, ...] = (), p_title: float = 0.0) -> _Maker:
    def make(rng: random.Random, namer: Namer) -> _Value:
        name = namer.person()
        if titles and rng.random() < p_title:
            display = f"{rng.choice(titles)} {name}"
            return _Value(display, (display, name), ("person", name))
        return _Value(name, (name,), ("person", name))

    return make


def _town(rng: random.Random, namer: Namer) -> _Value:
    name = namer.town()
    return _Value(name, (name,), ("town", name))


def _company(rng: random.Random, namer: Namer) -> _Value:
    name = namer.company()
    return _Value(name, (name,), ("company", name))


def _river(rng: random.Random, namer: Namer) -> _Value:
    word = namer.river()
    return _Value(f"River {word}", (f"River {word}", word))


def _code(rng: random.Random, namer: Namer) -> _Value:
    code = namer.code()
    return _Value(code, (code,))


def _price(rng: random.Random, namer: Namer) -> _Value:
    n = rng.randint(9, 1900)
    display = f"{n} {rng.choice(CURRENCIES)}"
    return _Value(display, (display, str(n)))


def _days(rng: random.Random, namer: Namer) -> _Value:
    word = NUMBER_WORDS[rng.randint(2, 9)]
    return _Value(f"{word} days", (f"{word} days", word))


def _metres(rng: random.Random, namer: Namer) -> _Value:
    n = rng.randint(18, 240)
    return _Value(f"{n} metres", (f"{n} metres", str(n)))


def _album(rng: random.Random, namer: Namer) -> _Value:
    title = namer.album()
    return _Value(f'"{title}"', (title,))


_KIND_FACTS: dict[str, tuple[tuple[str, _Maker], ...]] = {
    "person": (
        ("birth_year", _year(1931, 2001)),
        ("birthplace", _town),
        ("occupation", _pick(JOBS)),
        ("employer", _company),
        ("mentor", _person()),
    ),
    "company": (
        ("founding_year", _year(1820, 2015)),
        ("headquarters", _town),
        ("founder", _person(("Dr.",), 0.3)),
        ("employee_count", _count(12, 4800)),
        ("main_product", _pick(GOODS)),
        ("brand_colour", _pick(COLOURS)),
    ),
    "town": (
        ("founding_year", _year(1105, 1890)),
        ("population", _count(800, 250000)),
        ("river", _river),
        ("mayor", _person()),
        ("main_industry", _pick(INDUSTRIES)),
    ),
    "product": (
        ("product_code", _code),
        ("release_year", _year(1975, 2023)),
        ("manufacturer", _company),
        ("material", _pick(MATERIALS)),
        ("price", _price),
    ),
    "event": (
        ("event_year", _year(1850, 2022)),
        ("host_town", _town),
        ("organiser", _person(("Dr.", "Professor"), 0.25)),
        ("attendee_count", _count(40, 9000)),
        ("duration", _days),
    ),
    "ship": (
        ("launch_year", _year(1860, 2015)),
        ("captain", _person(("Captain",), 1.0)),
        ("home_port", _town),
        ("shipyard", _company),
        ("length", _metres),
        ("hull_colour", _pick(COLOURS)),
    ),
    "lab": (
        ("founding_year", _year(1890, 2018)),
        ("headquarters", _town),
        ("director", _person(("Dr.", "Professor"), 0.6)),
        ("research_field", _pick(FIELDS)),
        ("employee_count", _count(8, 900)),
    ),
    "festival": (
        ("first_year", _year(1890, 2019)),
        ("host_town", _town),
        ("month", _pick(MONTHS)),
        ("organiser", _person()),
        ("signature_food", _pick(FOODS)),
        ("attendee_count", _count(300, 60000)),
    ),
    "pet": (
        ("species", _pick(SPECIES)),
        ("owner", _person()),
        ("colour", _pick(COLOURS)),
        ("favourite_food", _pick(PET_FOODS)),
        ("home_town", _town),
    ),
    "band": (
        ("formation_year", _year(1958, 2020)),
        ("origin", _town),
        ("lead_singer", _person()),
        ("debut_album", _album),
        ("genre", _pick(GENRES)),
    ),
}
_ENTITY_KINDS: tuple[str, ...] = tuple(_KIND_FACTS)


@dataclass(frozen=True)
class _Entity:
    kind: str
    name: str
    anaphors: tuple[str, ...]


def _make_entity(kind: str, namer: Namer, name: str | None = None) -> _Entity:
    """A new entity of ``kind``; ``name`` reuses a name already written in the document (a link)."""
    if kind == "person":
        name = name or namer.person()
        return _Entity(kind, name, (name.split()[-1],))
    if kind == "company":
        return _Entity(kind, name or namer.company(), ("the company", "the firm"))
    if kind == "town":
        return _Entity(kind, name or namer.town(), ("the town",))
    if kind == "product":
        pname, ptype = namer.product()
        return _Entity(kind, pname, (f"the {ptype}",))
    if kind == "event":
        ename, noun = namer.event()
        return _Entity(kind, ename, (f"the {noun.lower()}",))
    if kind == "ship":
        return _Entity(kind, namer.ship(), ("the ship", "the vessel"))
    if kind == "lab":
        lname, anaphor = namer.lab()
        return _Entity(kind, lname, (anaphor,))
    if kind == "festival":
        return _Entity(kind, namer.festival(), ("the festival",))
    if kind == "pet":
        return _Entity(kind, namer.pet(), ())
    if kind == "band":
        return _Entity(kind, namer.band(), ("the band",))
    raise ValueError(f"unknown entity kind {kind!r}")


# --------------------------------------------------------------------------- document assembly


@dataclass
class _Block:
    """A paragraph: prose sentences joined by spaces, or sheet/title lines joined by newlines."""

    style: str  # "prose", "sheet", "title", "filler"
    lines: list[str] = field(default_factory=list)

    def render(self) -> str:
        return " ".join(self.lines) if self.style in ("prose", "filler") else "\n".join(self.lines)


@dataclass(frozen=True)
class DocInfo:
    """What tests and audits need beyond the SynthDoc: entity names and every invented name."""

    entity_names: tuple[str, ...]
    names: tuple[str, ...]
    words: tuple[str, ...]


MAX_ATTEMPTS = 200


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _with_article(value: str) -> str:
    return f"an {value}" if value[:1].lower() in "aeiou" else f"a {value}"


def _sentence(template: str, ref: str, value: _Value, connector: str = "") -> str:
    text = template.format(e=ref, v=value.display, a_v=_with_article(value.display))
    return _cap(connector + text)


def _prose(
    rng: random.Random, pools: Pools, ent: _Entity, facts: list[tuple[str, _Value]], intro: bool
) -> _Block:
    block = _Block("prose")
    named = False
    connected = False  # at most one connector a paragraph, never on its first sentence
    if intro:
        block.lines.append(_cap(rng.choice(pools.intros).format(e=ent.name)))
        named = True
    for kind, value in facts:
        template = rng.choice(pools.sentences[kind])
        ref = ent.name
        if named and ent.anaphors and rng.random() < 0.4:
            ref = rng.choice(ent.anaphors)
        connector = ""
        if named and not connected and template.startswith("{e}") and rng.random() < 0.2:
            connector = rng.choice(pools.connectors)
            connected = True
        block.lines.append(_sentence(template, ref, value, connector))
        named = True
    return block


def _sheet(rng: random.Random, pools: Pools, ent: _Entity, facts: list[tuple[str, _Value]]) -> _Block:
    line = rng.choice(pools.sheet_lines)
    block = _Block("sheet", [_cap(rng.choice(pools.sheet_headers).format(e=ent.name))])
    for kind, value in facts:
        block.lines.append(line.format(label=rng.choice(pools.labels[kind]), v=value.display))
    return block


def _entity_blocks(
    rng: random.Random, pools: Pools, ent: _Entity, facts: list[tuple[str, _Value]]
) -> list[_Block]:
    style = rng.choices(("prose", "split", "sheet", "mixed"), weights=(55, 15, 15, 15))[0]
    intro = rng.random() < 0.35
    if style == "split" and len(facts) >= 4:
        cut = rng.randint(2, len(facts) - 2)
        return [_prose(rng, pools, ent, facts[:cut], intro), _prose(rng, pools, ent, facts[cut:], False)]
    if style == "sheet":
        return [_sheet(rng, pools, ent, facts)]
    if style == "mixed":
        cut = rng.randint(1, len(facts) - 1)
        return [_sheet(rng, pools, ent, facts[:cut]), _prose(rng, pools, ent, facts[cut:], False)]
    return [_prose(rng, pools, ent, facts, intro)]


def _mentions(text: str, answers: set[str]) -> bool:
    return any(re.search(rf"(?<![\w]){re.escape(a)}(?![\w])", text) for a in answers)


def _render(blocks: list[_Block]) -> str:
    return "\n\n".join(b.render() for b in blocks if b.lines)


def try_doc(
    rng: random.Random, pools: Pools, doc_id: str, min_tokens: int, max_tokens: int
) -> tuple[SynthDoc, DocInfo] | None:
    target = rng.randint(min_tokens, max_tokens)
    namer = Namer(pools, rng)
    # Short documents hold one entity with 3-5 facts; longer ones get entities (at most four) until
    # facts fill 55-95% of the target, and filler sentences make up the rest.
    short = target < 130
    budget = target if short else target * rng.uniform(0.55, 0.95)
    entities: list[tuple[_Entity, list[tuple[str, _Value]]]] = []
    entity_blocks: list[_Block] = []
    links: list[tuple[str, str]] = []
    while len(entities) < (1 if short else 4):
        if entities and links and rng.random() < 0.5:
            kind, name = links.pop(rng.randrange(len(links)))
            ent = _make_entity(kind, namer, name)
        else:
            present = {e.kind for e, _ in entities}
            ent = _make_entity(rng.choice([k for k in _ENTITY_KINDS if k not in present]), namer)
        specs = list(_KIND_FACTS[ent.kind])
        rng.shuffle(specs)
        if short:
            n_facts = rng.randint(3, min(5, len(specs)))
        else:
            room = (budget - approx_tokens(_render(entity_blocks))) / 16
            n_facts = max(3, min(len(specs), round(room) + rng.randint(-1, 1)))
        facts = [(kind, make(rng, namer)) for kind, make in specs[:n_facts]]
        links.extend(v.link for _, v in facts if v.link is not None)
        entities.append((ent, facts))
        entity_blocks.extend(_entity_blocks(rng, pools, ent, facts))
        if approx_tokens(_render(entity_blocks)) >= 0.9 * budget:
            break

    blocks: list[_Block] = []
    if rng.random() < 0.3:
        blocks.append(_Block("title", [_cap(rng.choice(pools.titles).format(e=entities[0][0].name))]))
    if rng.random() < 0.25:
        blocks.append(_Block("filler", [rng.choice(pools.openers)]))
    head = len(blocks)
    blocks.extend(entity_blocks)
    outro = rng.random() < 0.2
    if outro:
        blocks.append(_Block("filler", [rng.choice(pools.outros)]))

    # Pad with filler and distractor sentences that mention no gold answer, up to the target length.
    gold = {a for _, facts in entities for _, v in facts for a in v.answers}
    candidates: list[str] = list(pools.fillers + pools.distractors)
    rng.shuffle(candidates)
    chars = len(_render(blocks))
    chosen_fill: list[str] = []
    for template in candidates:
        if math.ceil(chars / 4) >= target:
            break
        sentence = template.format(
            year=rng.randint(1800, 2020),
            number=rng.randint(40, 9000),
            town=namer.town() if "{town}" in template else "",
            person=namer.person() if "{person}" in template else "",
        )
        if _mentions(sentence, gold) or math.ceil((chars + len(sentence) + 2) / 4) > max_tokens:
            continue
        chosen_fill.append(sentence)
        chars += len(sentence) + 2
    prose = [b for b in blocks if b.style == "prose"]
    inserted: list[tuple[_Block, str]] = []
    group: _Block | None = None
    for sentence in chosen_fill:
        if prose and rng.random() < 0.35:
            block = rng.choice(prose)
            block.lines.insert(rng.randint(1, len(block.lines)), sentence)
            inserted.append((block, sentence))
            continue
        if group is None or len(group.lines) >= rng.randint(3, 6):
            group = _Block("filler")
            blocks.insert(rng.randint(head + 1, len(blocks) - int(outro)), group)
        group.lines.append(sentence)
        inserted.append((group, sentence))

    text = _render(blocks)
    while approx_tokens(text) > max_tokens and inserted:
        block, sentence = inserted.pop()
        block.lines.remove(sentence)
        text = _render(blocks)
    if not min_tokens <= approx_tokens(text) <= max_tokens:
        return None

    qas: list[QA] = []
    for ent, facts in entities:
        for kind, value in facts:
            question = _cap(rng.choice(pools.questions[kind]).format(e=ent.name))
            missing = [a for a in value.answers if a not in text]
            if missing:  # a template bug, not a user error: fail loudly
                raise RuntimeError(f"synth bug: answers {missing} of {kind!r} are not in document {doc_id}")
            qas.append(QA(question, value.answers, kind))
    info = DocInfo(tuple(e.name for e, _ in entities), tuple(namer.names), tuple(namer.words))
    return SynthDoc(doc_id, text, tuple(qas)), info
