"""The pools of one split (templates partitioned by index) and invented names that never cross splits."""

from __future__ import annotations

import functools
import random
import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

from ..errors import InputError
from .documents import SPLITS
from .templates import (
    ALBUM_ADJ,
    ALBUM_NOUN,
    AWKWARD,
    BAND_NOUN,
    BLOCKED,
    CODE_LETTERS,
    COLOURS,
    COMPANY_SUFFIX,
    CONNECTORS,
    CURRENCIES,
    DISTRACTORS,
    END,
    EVENT_NOUN,
    FAMILY_END,
    FESTIVAL_THEME,
    FIELDS,
    FILLERS,
    FIRST,
    FOODS,
    GENRES,
    GIVEN_END,
    GOODS,
    INDUSTRIES,
    INTROS,
    JOBS,
    LAB_NOUN,
    MATERIALS,
    MID,
    MONTHS,
    NUMBER_WORDS,
    OPENERS,
    OUTROS,
    PET_END,
    PET_FOODS,
    PRODUCT_TYPE,
    SHEET_HEADERS,
    SHEET_LINES,
    SHIP_NOUN,
    SPEC_BY_KIND,
    SPECIES,
    SPECS,
    TITLES,
    TOWN_PREFIX,
    TOWN_SUFFIX,
)

T = TypeVar("T")


def split_part(pool: Sequence[T], split: str) -> tuple[T, ...]:
    """The part of ``pool`` that belongs to ``split``: index ``i % 3 == 2`` is held out."""
    held = split == "heldout"
    return tuple(item for i, item in enumerate(pool) if (i % 3 == 2) == held)


def _words_of(text: str) -> set[str]:
    return {w.lower() for w in re.findall(r"[A-Za-z]+", text)}


def _reserved_words() -> frozenset[str]:
    """Every lowercase word used by templates and vocabularies; invented names avoid them."""
    texts: list[str] = []
    for spec in SPECS:
        texts.extend(spec.sentences + spec.questions + spec.labels)
    for pool in (
        INTROS, OPENERS, OUTROS, TITLES, SHEET_HEADERS, CONNECTORS, FILLERS, DISTRACTORS,
        COLOURS, JOBS, MATERIALS, GOODS, INDUSTRIES, FIELDS, MONTHS, FOODS, PET_FOODS,
        SPECIES, GENRES, CURRENCIES, COMPANY_SUFFIX, PRODUCT_TYPE, EVENT_NOUN, SHIP_NOUN,
        FESTIVAL_THEME, BAND_NOUN, ALBUM_ADJ, ALBUM_NOUN, TOWN_PREFIX,
        tuple(n for pair in LAB_NOUN for n in pair), tuple(NUMBER_WORDS.values()),
    ):
        texts.extend(pool)
    words: set[str] = set()
    for text in texts:
        words |= _words_of(text)
    return frozenset(words)


_RESERVED = _reserved_words()


@dataclass(frozen=True)
class Pools:
    """Everything one split may draw from."""

    split: str
    first: tuple[str, ...]
    mid: tuple[str, ...]
    end: tuple[str, ...]
    given_end: tuple[str, ...]
    family_end: tuple[str, ...]
    town_suffix: tuple[str, ...]
    town_prefix: tuple[str, ...]
    pet_end: tuple[str, ...]
    company_suffix: tuple[str, ...]
    product_type: tuple[str, ...]
    event_noun: tuple[str, ...]
    ship_noun: tuple[str, ...]
    lab_noun: tuple[tuple[str, str], ...]
    festival_theme: tuple[str, ...]
    band_noun: tuple[str, ...]
    album_adj: tuple[str, ...]
    album_noun: tuple[str, ...]
    code_letters: tuple[str, ...]
    sentences: dict[str, tuple[str, ...]]
    questions: dict[str, tuple[str, ...]]
    labels: dict[str, tuple[str, ...]]
    intros: tuple[str, ...]
    openers: tuple[str, ...]
    outros: tuple[str, ...]
    titles: tuple[str, ...]
    sheet_headers: tuple[str, ...]
    sheet_lines: tuple[str, ...]
    connectors: tuple[str, ...]
    fillers: tuple[str, ...]
    distractors: tuple[str, ...]


def check_split(split: object) -> str:
    if not isinstance(split, str) or split not in SPLITS:
        raise InputError(f"split must be one of {SPLITS}, got {split!r}; pass split='train' or split='heldout'")
    return split


@functools.cache
def split_pools(split: str) -> Pools:
    s = split
    return Pools(
        split=s,
        first=split_part(FIRST, s),
        mid=split_part(MID, s),
        end=split_part(END, s),
        given_end=split_part(GIVEN_END, s),
        family_end=split_part(FAMILY_END, s),
        town_suffix=split_part(TOWN_SUFFIX, s),
        town_prefix=split_part(TOWN_PREFIX, s),
        pet_end=split_part(PET_END, s),
        company_suffix=split_part(COMPANY_SUFFIX, s),
        product_type=split_part(PRODUCT_TYPE, s),
        event_noun=split_part(EVENT_NOUN, s),
        ship_noun=split_part(SHIP_NOUN, s),
        lab_noun=split_part(LAB_NOUN, s),
        festival_theme=split_part(FESTIVAL_THEME, s),
        band_noun=split_part(BAND_NOUN, s),
        album_adj=split_part(ALBUM_ADJ, s),
        album_noun=split_part(ALBUM_NOUN, s),
        code_letters=split_part(CODE_LETTERS, s),
        sentences={spec.kind: split_part(spec.sentences, s) for spec in SPECS},
        questions={spec.kind: split_part(spec.questions, s) for spec in SPECS},
        labels={spec.kind: split_part(spec.labels, s) for spec in SPECS},
        intros=split_part(INTROS, s),
        openers=split_part(OPENERS, s),
        outros=split_part(OUTROS, s),
        titles=split_part(TITLES, s),
        sheet_headers=split_part(SHEET_HEADERS, s),
        sheet_lines=split_part(SHEET_LINES, s),
        connectors=split_part(CONNECTORS, s),
        fillers=split_part(FILLERS, s),
        distractors=split_part(DISTRACTORS, s),
    )


def template_pools(split: str) -> dict[str, tuple[str, ...]]:
    """The templates ``split`` draws from, by pool name (``"question:founding_year"``, ``"filler"``...).

    The pools of the two splits are disjoint; tests and audits use this to check it.
    """
    p = split_pools(check_split(split))
    out: dict[str, tuple[str, ...]] = {}
    for kind in SPEC_BY_KIND:
        out[f"sentence:{kind}"] = p.sentences[kind]
        out[f"question:{kind}"] = p.questions[kind]
        out[f"label:{kind}"] = p.labels[kind]
    out.update(
        intro=p.intros, opener=p.openers, outro=p.outros, title=p.titles,
        sheet_header=p.sheet_headers, sheet_line=p.sheet_lines, connector=p.connectors,
        filler=p.fillers, distractor=p.distractors,
    )
    return out


# --------------------------------------------------------------------------- names


def _acceptable_word(word: str, split: str) -> bool:
    low = word.lower()
    if not 4 <= len(low) <= 11 or low in _RESERVED or AWKWARD.search(low):
        return False
    if any(bad in low for bad in BLOCKED):
        return False
    # The parity of the CRC-32 decides the split a word may belong to: names never cross splits.
    return zlib.crc32(low.encode("ascii")) % 2 == (1 if split == "heldout" else 0)


class Namer:
    """Invents names from one split's pools, never reusing a word within one document."""

    def __init__(self, pools: Pools, rng: random.Random) -> None:
        self._p = pools
        self._rng = rng
        self._used: set[str] = set()
        self.words: list[str] = []
        self.names: list[str] = []

    def _word(self, mid_p: float, ends: tuple[str, ...]) -> str:
        p, rng = self._p, self._rng
        for _ in range(2000):
            word = rng.choice(p.first)
            if rng.random() < mid_p:
                word += rng.choice(p.mid)
            word = (word + rng.choice(ends)).capitalize()
            if word.lower() not in self._used and _acceptable_word(word, p.split):
                self._used.add(word.lower())
                self.words.append(word)
                return word
        raise RuntimeError(f"could not invent a fresh {p.split} name word; the syllable pools are too small")

    def _pick_unused(self, pool: tuple[str, ...]) -> str:
        fresh = [x for x in pool if x.lower() not in self._used]
        choice = self._rng.choice(fresh or list(pool))
        self._used.add(choice.lower())
        return choice

    def _named(self, name: str) -> str:
        self.names.append(name)
        return name

    def person(self) -> str:
        given = self._word(0.5, self._p.given_end)
        family = self._word(0.5, self._p.family_end)
        return self._named(f"{given} {family}")

    def town(self) -> str:
        word = self._word(0.4, self._p.town_suffix)
        if self._rng.random() < 0.15:
            word = f"{self._pick_unused(self._p.town_prefix)} {word}"
        return self._named(word)

    def river(self) -> str:
        return self._named(self._word(0.3, self._p.end))

    def company(self) -> str:
        if self._rng.random() < 0.2:
            return self._named(f"{self._word(0.5, self._p.family_end)} & {self._word(0.5, self._p.family_end)}")
        return self._named(f"{self._word(0.6, self._p.end)} {self._pick_unused(self._p.company_suffix)}")

    def product(self) -> tuple[str, str]:
        kind = self._pick_unused(self._p.product_type)
        return self._named(f"the {self._word(0.6, self._p.end)} {kind}"), kind

    def event(self) -> tuple[str, str]:
        noun = self._pick_unused(self._p.event_noun)
        return self._named(f"the {self._word(0.5, self._p.end)} {noun}"), noun

    def ship(self) -> str:
        if self._rng.random() < 0.5:
            return self._named(f"the {self._word(0.3, self._p.given_end)}")
        return self._named(f"the {self._word(0.5, self._p.end)} {self._pick_unused(self._p.ship_noun)}")

    def lab(self) -> tuple[str, str]:
        noun, anaphor = self._rng.choice(self._p.lab_noun)
        return self._named(f"the {self._word(0.5, self._p.end)} {noun}"), anaphor

    def festival(self) -> str:
        theme = self._pick_unused(self._p.festival_theme)
        return self._named(f"the {self._word(0.5, self._p.end)} {theme} Festival")

    def pet(self) -> str:
        return self._named(self._word(0.5, self._p.pet_end))

    def band(self) -> str:
        if self._rng.random() < 0.75:
            return self._named(f"the {self._word(0.5, self._p.end)} {self._pick_unused(self._p.band_noun)}")
        return self._named(self._word(0.6, self._p.end))

    def album(self) -> str:
        return self._named(f"{self._pick_unused(self._p.album_adj)} {self._pick_unused(self._p.album_noun)}")

    def code(self) -> str:
        letters = "".join(self._rng.choice(self._p.code_letters) for _ in range(2))
        digits = str(self._rng.randint(100, 9999)).zfill(3)
        return self._named(f"{letters}-{digits}")
