"""Seeded, offline generator of synthetic documents with question/answer pairs.

The hypernetwork is meta-trained and evaluated on these documents. Each document
describes one to four invented entities (people, companies, towns, products,
events, ships, research labs, festivals, pets, bands) with several facts each,
in varied prose, fact-sheet and mixed styles, padded with neutral filler and
distractor sentences. Every fact yields one question whose gold answers (short,
1-4 words) all appear verbatim in the document text, and every question names
its entity so that it stays unambiguous when a document covers several.

Two splits exist. Every pool the generator draws from (name syllables, name
suffixes, sentence, question, label, intro, filler and layout templates) is
partitioned deterministically: the item at index ``i`` of a pool belongs to the
held-out split when ``i % 3 == 2`` and to the training split otherwise. Invented
name words are additionally kept only when the parity of their CRC-32 matches
the split, so no entity name of one split can ever occur in the other.
Categorical answer vocabularies (colours, jobs, materials, months...) are shared.

Lengths are counted with :func:`approx_tokens` (about four characters a token).

Public API: :class:`QA`, :class:`SynthDoc`, :func:`make_corpus`,
:func:`write_eval_set`, :func:`load_jsonl_corpus`, :func:`approx_tokens`,
:func:`template_pools`, and the command line
``python -m doc2lora_rag.training.synth --split heldout --n 60 --seed 1 --out DIR``.
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
import math
import os
import random
import re
import shutil
import sys
import tempfile
import uuid
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from doc2lora_rag.errors import InputError, LoaderError

logger = logging.getLogger(__name__)

__all__ = [
    "QA",
    "SPLITS",
    "SynthDoc",
    "approx_tokens",
    "load_jsonl_corpus",
    "main",
    "make_corpus",
    "template_pools",
    "write_eval_set",
]

SPLITS: tuple[str, ...] = ("train", "heldout")

_T = TypeVar("_T")


# --------------------------------------------------------------------------- public data


@dataclass(frozen=True)
class QA:
    """One question about a document, its acceptable gold answers and the fact kind it asks about."""

    question: str
    answers: tuple[str, ...]
    kind: str


@dataclass(frozen=True)
class SynthDoc:
    """A document (synthetic or user-supplied) and the questions asked about it."""

    doc_id: str
    text: str
    qas: tuple[QA, ...]


def approx_tokens(text: str) -> int:
    """Approximate token count of ``text``: one token per four characters, rounded up."""
    return math.ceil(len(text) / 4)


# --------------------------------------------------------------------------- name pools

_FIRST = (
    "Ab", "Al", "Am", "Ar", "Ash", "Bal", "Bel", "Bran", "Bre", "Bro", "Cal", "Cor", "Cra",
    "Dal", "Dar", "Del", "Dor", "Dre", "El", "Em", "Fal", "Fen", "Fro", "Gal", "Gar", "Gre",
    "Hal", "Har", "Ith", "Jan", "Jor", "Kal", "Kel", "Kor", "Lan", "Lor", "Mal", "Mar", "Mer",
    "Mor", "Nal", "Nor", "Ol", "Or", "Ost", "Pal", "Per", "Pra", "Quil", "Ral", "Ren", "Ros",
    "Sal", "Sel", "Sor", "Tal", "Tam", "Tor", "Tre", "Ul", "Val", "Ves", "Vor", "Vra", "Wal",
    "Wen", "Yar", "Zel", "Zor",
)
_MID = (
    "a", "e", "i", "o", "u", "ra", "re", "ri", "ro", "la", "le", "li", "lo", "na", "ne", "ni",
    "no", "va", "ve", "vi", "da", "de", "di", "ma", "me", "mi", "ta", "te", "ti", "sa", "se",
    "ba", "be", "ka", "ke", "ga", "go", "wy", "ven", "del", "mer", "ran", "sel", "tor",
)
_END = (
    "n", "r", "s", "th", "x", "l", "nd", "rn", "rk", "rt", "ric", "ren", "rin", "ron", "lin",
    "lan", "las", "mar", "mir", "mont", "mund", "dor", "dris", "dell", "vin", "vel", "ros",
    "sk", "stan", "well", "wick", "ber", "bek", "var", "zan", "dun", "gard", "sen", "mos", "tis",
)
_GIVEN_END = (
    "a", "ia", "o", "en", "in", "an", "el", "is", "ira", "ela", "ette", "ine", "us", "ard",
    "os", "eth", "ina", "ie", "ara", "ory", "enne", "ika", "ald", "io",
)
_FAMILY_END = (
    "ant", "ell", "son", "rick", "ley", "worth", "mont", "ard", "ine", "oway", "ing", "by",
    "ter", "ler", "mann", "off", "ez", "ani", "ovic", "ett", "ridge",
)
_TOWN_SUFFIX = (
    "holt", "mere", "bury", "wick", "ford", "stead", "by", "haven", "ton", "field", "moor",
    "dale", "combe", "well", "gate", "brook", "ham", "ley", "thorpe", "cross", "minster",
)
_TOWN_PREFIX = (
    "Port", "Upper", "Lower", "North", "East", "Old", "New", "West", "Great", "Little",
    "South", "Saint",
)
_PET_END = (
    "o", "y", "ie", "ko", "bo", "kin", "sy", "ly", "zo", "to", "ba", "dy", "ster", "les", "pip",
    "mo", "ky", "gle", "nie", "wen", "bert", "nut", "bean", "fer",
)
_COMPANY_SUFFIX = (
    "Dynamics", "Works", "Holdings", "Industries", "Textiles", "Instruments", "Logistics",
    "Mills", "Optics", "Systems", "Ceramics", "Engineering", "Partners", "Trading", "Robotics",
    "Timber", "Press", "Motors",
)
_PRODUCT_TYPE = (
    "lamp", "kettle", "bicycle", "headset", "drone", "stove", "camera", "blender", "radio",
    "backpack", "scooter", "desk chair", "toaster", "telescope", "sewing machine", "speaker",
)
_EVENT_NOUN = (
    "Summit", "Conference", "Congress", "Regatta", "Symposium", "Fair", "Assembly",
    "Exhibition", "Tournament", "Convention", "Rally", "Gathering",
)
_SHIP_NOUN = (
    "Star", "Dawn", "Spirit", "Gull", "Wanderer", "Heron", "Crown", "Promise", "Tide",
    "Petrel", "Venture", "Pride",
)
_LAB_NOUN = (
    ("Institute", "the institute"),
    ("Laboratory", "the laboratory"),
    ("Research Centre", "the centre"),
    ("Observatory", "the observatory"),
    ("Research Station", "the station"),
    ("Field Station", "the field station"),
)
_FESTIVAL_THEME = (
    "Lantern", "Harvest", "Kite", "Apple", "Puppet", "Salt", "Tulip", "Bread", "Folk", "Lake",
    "Chalk", "Honey", "Cider", "Ribbon", "Mushroom", "Poetry", "Sail", "Bell",
)
_BAND_NOUN = (
    "Foxes", "Orchards", "Comets", "Pilots", "Ravens", "Engines", "Mirrors", "Harbours",
    "Owls", "Strangers", "Lanterns", "Satellites",
)
_ALBUM_ADJ = (
    "Quiet", "Distant", "Broken", "Northern", "Paper", "Electric", "Hollow", "Borrowed",
    "Sleepless", "Restless", "Velvet", "Crooked", "Wandering", "Secret", "Lonely", "Endless",
    "Careless", "Patient",
)
_ALBUM_NOUN = (
    "Harbour", "Rooms", "Weather", "Lights", "Letters", "Roads", "Summer", "Gardens",
    "Machines", "Signals", "Rivers", "Houses", "Tides", "Maps", "Windows", "Bridges",
    "Echoes", "Kingdoms",
)
_CODE_LETTERS = tuple("ABCDEFGHJKLMNPRSTVWXZ")

# Substrings an invented word must never contain.
_BLOCKED = (
    "nig", "fag", "cum", "tit", "cunt", "shit", "fuk", "fuck", "rape", "nazi", "slut", "whor",
    "dick", "cock", "jew", "gay", "fat", "kill", "dead", "poo", "piss", "anal", "anus", "sex",
    "porn", "bitch", "bum", "ass", "arse", "damn", "hell", "god",
)
_AWKWARD = re.compile(r"(.)\1\1|aa|ii|uu|yy|[aeiou]{3}|[^aeiouy]{4}")

# --------------------------------------------------------------------------- shared answer vocabularies

_COLOURS = (
    "red", "blue", "green", "yellow", "orange", "purple", "teal", "maroon", "navy blue",
    "olive green", "silver", "crimson", "turquoise", "charcoal grey", "white", "black", "pink",
    "lavender", "amber", "cream",
)
_JOBS = (
    "carpenter", "architect", "nurse", "pharmacist", "baker", "ferry pilot", "librarian",
    "surveyor", "violin maker", "beekeeper", "electrician", "translator", "schoolteacher",
    "veterinarian", "glassblower", "cartographer", "tailor", "geologist", "locksmith", "chemist",
    "bookbinder", "watchmaker", "dentist", "journalist",
)
_MATERIALS = (
    "brushed steel", "oak", "bamboo", "recycled plastic", "aluminium", "walnut", "ceramic",
    "copper", "glass", "cork", "birch plywood", "titanium", "cast iron", "linen", "brass",
    "carbon fibre",
)
_GOODS = (
    "garden tools", "bicycle parts", "paper cups", "ceramic tiles", "fishing nets",
    "wool blankets", "water pumps", "glass bottles", "wooden toys", "solar panels",
    "kitchen scales", "boat engines", "printing ink", "tin cans", "leather boots",
    "school desks", "roof tiles", "wall clocks", "seed packets", "brass fittings",
)
_INDUSTRIES = (
    "fishing", "glassmaking", "the wool trade", "shipbuilding", "tourism", "salt mining",
    "clockmaking", "paper milling", "brewing", "pottery", "forestry", "cheesemaking",
    "silk weaving", "copper mining", "boatbuilding", "printing",
)
_FIELDS = (
    "soil chemistry", "tidal energy", "bird migration", "glacier dynamics", "crop genetics",
    "battery materials", "sleep research", "coral ecology", "speech recognition",
    "volcanic gases", "bee health", "desert hydrology", "fungal biology", "ocean acoustics",
    "protein folding", "lichen ecology",
)
_MONTHS = (
    "January", "February", "March", "April", "May", "June", "July", "August", "September",
    "October", "November", "December",
)
_FOODS = (
    "apple cake", "smoked eel", "pepper soup", "honey bread", "plum dumplings", "fried trout",
    "cheese pies", "chestnut pancakes", "onion tart", "lamb stew", "almond biscuits",
    "herring rolls",
)
_PET_FOODS = (
    "carrots", "sardines", "boiled chicken", "sunflower seeds", "apple slices", "cheese rinds",
    "dandelion leaves", "peanuts", "cucumber", "tuna flakes", "oat biscuits",
)
_SPECIES = (
    "tabby cat", "beagle", "grey parrot", "tortoise", "ferret", "border collie", "rabbit",
    "goldfish", "pony", "hamster", "dachshund", "canary", "greyhound", "guinea pig",
)
_GENRES = (
    "folk rock", "jazz", "synth pop", "bluegrass", "punk", "sea shanties", "brass band music",
    "electronic music", "blues", "reggae", "chamber pop", "surf rock",
)
_CURRENCIES = ("euros", "dollars", "pounds", "francs", "crowns")
_NUMBER_WORDS = {2: "two", 3: "three", 4: "four", 5: "five", 6: "six", 7: "seven", 8: "eight", 9: "nine"}

# --------------------------------------------------------------------------- fact templates


@dataclass(frozen=True)
class _FactSpec:
    """Templates of one fact kind: sentences use {e} (entity) and {v} or {a_v} (value, with article)."""

    kind: str
    sentences: tuple[str, ...]
    questions: tuple[str, ...]
    labels: tuple[str, ...]


_SPECS: tuple[_FactSpec, ...] = (
    _FactSpec(
        "founding_year",
        (
            "{e} was founded in {v}.",
            "In {v}, {e} was founded.",
            "{e} dates back to {v}, the year it was founded.",
            "The founding of {e} took place in {v}.",
            "{e} has existed since its founding in {v}.",
            "Records show that {e} was established in {v}.",
        ),
        (
            "When was {e} founded?",
            "In what year was {e} founded?",
            "What year was {e} established?",
            "In which year did {e} come into existence?",
            "Which year marks the founding of {e}?",
            "{e} was founded in which year?",
        ),
        ("Founded", "Year founded", "Established"),
    ),
    _FactSpec(
        "headquarters",
        (
            "{e} is based in {v}.",
            "{e} has its headquarters in {v}.",
            "The main offices of {e} are in {v}.",
            "{e} operates out of {v}.",
            "From its base in {v}, {e} runs most of its work.",
            "{e} is headquartered in the town of {v}.",
        ),
        (
            "Where is {e} based?",
            "In which town is {e} headquartered?",
            "Where are the headquarters of {e}?",
            "What town is home to {e}?",
            "Which town does {e} operate from?",
            "Where does {e} have its main offices?",
        ),
        ("Headquarters", "Based in", "Head office"),
    ),
    _FactSpec(
        "employee_count",
        (
            "{e} employs {v} people.",
            "About {v} people work for {e}.",
            "{e} has a staff of {v}.",
            "The workforce of {e} numbers {v}.",
            "{e} currently has {v} employees.",
            "At last count, {v} people were on the payroll of {e}.",
        ),
        (
            "How many people does {e} employ?",
            "How many employees does {e} have?",
            "What is the size of the staff at {e}?",
            "How large is the workforce of {e}?",
            "How many people work for {e}?",
            "What is the headcount of {e}?",
        ),
        ("Employees", "Staff", "Headcount"),
    ),
    _FactSpec(
        "founder",
        (
            "{e} was founded by {v}.",
            "{v} started {e}.",
            "The founder of {e} was {v}.",
            "{v} set up {e} with a small loan.",
            "{e} owes its existence to its founder, {v}.",
            "It was {v} who established {e}.",
        ),
        (
            "Who founded {e}?",
            "Who was the founder of {e}?",
            "Who started {e}?",
            "Which person set up {e}?",
            "Who established {e}?",
            "Name the founder of {e}.",
        ),
        ("Founder", "Founded by", "Started by"),
    ),
    _FactSpec(
        "main_product",
        (
            "{e} is best known for making {v}.",
            "{e} makes {v}.",
            "Most of the revenue of {e} comes from {v}.",
            "{e} built its name on {v}.",
            "{e} mainly produces {v}.",
            "{e} sells {v} to customers across the region.",
        ),
        (
            "What does {e} make?",
            "What is {e} best known for producing?",
            "Which goods bring in most of the revenue of {e}?",
            "What is the main product of {e}?",
            "What does {e} mainly produce?",
            "What kind of goods does {e} sell?",
        ),
        ("Main product", "Makes", "Core product"),
    ),
    _FactSpec(
        "brand_colour",
        (
            "The brand colour of {e} is {v}.",
            "{e} uses {v} as its brand colour.",
            "Everything that {e} prints carries its signature colour, {v}.",
            "{e} chose {v} as the colour of its logo.",
            "The logo of {e} is {v}.",
            "The vans and signs of {e} are painted {v}, its house colour.",
        ),
        (
            "What is the brand colour of {e}?",
            "Which colour does {e} use for its logo?",
            "What is the signature colour of {e}?",
            "What colour is the logo of {e}?",
            "Which colour is associated with {e}?",
            "What house colour does {e} use?",
        ),
        ("Brand colour", "Logo colour", "House colour"),
    ),
    _FactSpec(
        "birth_year",
        (
            "{e} was born in {v}.",
            "Born in {v}, {e} was the youngest of three children.",
            "{e} came into the world in {v}.",
            "The birth year of {e} is {v}.",
            "{e} was born in the year {v}.",
            "Records give {v} as the year {e} was born.",
        ),
        (
            "When was {e} born?",
            "In what year was {e} born?",
            "What is the birth year of {e}?",
            "Which year was {e} born in?",
            "In which year was {e} born?",
            "What year of birth is recorded for {e}?",
        ),
        ("Born", "Birth year", "Year of birth"),
    ),
    _FactSpec(
        "birthplace",
        (
            "{e} was born in the town of {v}.",
            "{v} is the birthplace of {e}.",
            "{e} is a native of {v}.",
            "{e} was born and raised in {v}.",
            "The hometown of {e} is {v}.",
            "{e} comes originally from {v}.",
        ),
        (
            "Where was {e} born?",
            "In which town was {e} born?",
            "What is the birthplace of {e}?",
            "Which town is {e} from?",
            "What is the hometown of {e}?",
            "Where does {e} come from originally?",
        ),
        ("Birthplace", "Hometown", "Place of birth"),
    ),
    _FactSpec(
        "occupation",
        (
            "{e} works as {a_v}.",
            "By profession, {e} is {a_v}.",
            "{e} earns a living as {a_v}.",
            "{e} has spent most of their career as {a_v}.",
            "{e} trained as {a_v} and still works in that job.",
            "{e} is employed as {a_v}.",
        ),
        (
            "What does {e} do for a living?",
            "What is the occupation of {e}?",
            "What job does {e} have?",
            "What is {e} by profession?",
            "What work does {e} do?",
            "What is the profession of {e}?",
        ),
        ("Occupation", "Profession", "Job"),
    ),
    _FactSpec(
        "employer",
        (
            "{e} works for {v}.",
            "{e} is employed by {v}.",
            "{e} has been on the staff of {v} for years.",
            "{e} joined {v} and has stayed there ever since.",
            "The employer of {e} is {v}.",
            "These days {e} works at {v}.",
        ),
        (
            "Who does {e} work for?",
            "Which company employs {e}?",
            "Where is {e} employed?",
            "Which firm did {e} join?",
            "What company does {e} work for?",
            "Who is the employer of {e}?",
        ),
        ("Employer", "Works for", "Company"),
    ),
    _FactSpec(
        "mentor",
        (
            "{e} was trained by {v}.",
            "The mentor of {e} was {v}.",
            "{e} learned the trade from {v}.",
            "Early on, {e} studied under {v}.",
            "{v} mentored {e} for many years.",
            "{e} credits {v} as a mentor.",
        ),
        (
            "Who mentored {e}?",
            "Who was the mentor of {e}?",
            "From whom did {e} learn the trade?",
            "Under whom did {e} study?",
            "Who trained {e}?",
            "Whom does {e} credit as a mentor?",
        ),
        ("Mentor", "Trained by", "Teacher"),
    ),
    _FactSpec(
        "population",
        (
            "{e} has a population of {v}.",
            "About {v} people live in {e}.",
            "{e} is home to {v} residents.",
            "The last census counted {v} inhabitants in {e}.",
            "Some {v} people call {e} home.",
            "{e} has {v} inhabitants.",
        ),
        (
            "What is the population of {e}?",
            "How many people live in {e}?",
            "How many residents does {e} have?",
            "How many inhabitants did the last census count in {e}?",
            "How many people call {e} home?",
            "What is the number of inhabitants of {e}?",
        ),
        ("Population", "Residents", "Inhabitants"),
    ),
    _FactSpec(
        "river",
        (
            "{e} lies on the {v}.",
            "The {v} flows through {e}.",
            "{e} was built along the banks of the {v}.",
            "{e} sits where the {v} bends to the south.",
            "The {v} runs through the middle of {e}.",
            "{e} grew up around a bridge over the {v}.",
        ),
        (
            "Which river flows through {e}?",
            "What river does {e} lie on?",
            "Along which river was {e} built?",
            "What is the name of the river in {e}?",
            "Which river runs through {e}?",
            "On what river does {e} stand?",
        ),
        ("River", "Waterway", "On the river"),
    ),
    _FactSpec(
        "mayor",
        (
            "The mayor of {e} is {v}.",
            "{v} serves as mayor of {e}.",
            "{e} is governed by its mayor, {v}.",
            "{v} was elected mayor of {e}.",
            "{e} elected {v} as its mayor.",
            "Since the last election, {v} has been the mayor of {e}.",
        ),
        (
            "Who is the mayor of {e}?",
            "Who serves as mayor of {e}?",
            "Who governs {e} as mayor?",
            "Who was elected mayor of {e}?",
            "Who did {e} elect as mayor?",
            "Which person holds the office of mayor in {e}?",
        ),
        ("Mayor", "Current mayor", "Governed by"),
    ),
    _FactSpec(
        "main_industry",
        (
            "The main industry in {e} is {v}.",
            "{e} lives mostly from {v}.",
            "Most jobs in {e} depend on {v}.",
            "{e} is known for {v}.",
            "{e} built its economy on {v}.",
            "For generations, {v} has kept {e} in work.",
        ),
        (
            "What is the main industry of {e}?",
            "What does the economy of {e} mostly depend on?",
            "Which industry provides most jobs in {e}?",
            "What is {e} known for economically?",
            "What industry is {e} built on?",
            "Which trade keeps {e} in work?",
        ),
        ("Main industry", "Economy", "Chief trade"),
    ),
    _FactSpec(
        "product_code",
        (
            "The product code of {e} is {v}.",
            "{e} is sold under the code {v}.",
            "{e} carries the model number {v}.",
            "Catalogues list {e} as item {v}.",
            "The code {v} identifies {e} in the catalogue.",
            "{e} appears in stock lists under the reference {v}.",
        ),
        (
            "What is the product code of {e}?",
            "Under which code is {e} sold?",
            "What model number does {e} carry?",
            "What item number do catalogues list for {e}?",
            "Which code identifies {e}?",
            "What reference is {e} listed under?",
        ),
        ("Product code", "Model number", "Reference"),
    ),
    _FactSpec(
        "release_year",
        (
            "{e} was released in {v}.",
            "{e} first went on sale in {v}.",
            "{e} came onto the market in {v}.",
            "The launch of {e} took place in {v}.",
            "{e} has been available since {v}.",
            "Shops began stocking {e} in {v}.",
        ),
        (
            "When was {e} released?",
            "In what year did {e} first go on sale?",
            "When did {e} come onto the market?",
            "What year was {e} launched?",
            "Since which year has {e} been available?",
            "In which year did shops begin stocking {e}?",
        ),
        ("Released", "On sale since", "Launch year"),
    ),
    _FactSpec(
        "manufacturer",
        (
            "{e} is made by {v}.",
            "{v} manufactures {e}.",
            "{e} comes from the factories of {v}.",
            "{e} is produced by {v}.",
            "The maker of {e} is {v}.",
            "{v} designed and builds {e}.",
        ),
        (
            "Who makes {e}?",
            "Which company manufactures {e}?",
            "From whose factories does {e} come?",
            "Which firm produces {e}?",
            "Who is the maker of {e}?",
            "Which company builds {e}?",
        ),
        ("Manufacturer", "Made by", "Maker"),
    ),
    _FactSpec(
        "material",
        (
            "{e} is made of {v}.",
            "The body of {e} is built from {v}.",
            "{e} has a casing of {v}.",
            "Its makers built {e} out of {v}.",
            "{e} is crafted from {v}.",
            "The main material in {e} is {v}.",
        ),
        (
            "What is {e} made of?",
            "What material is the body of {e} built from?",
            "What is the casing of {e} made from?",
            "Out of what material is {e} built?",
            "What is {e} crafted from?",
            "What is the main material in {e}?",
        ),
        ("Material", "Body", "Made from"),
    ),
    _FactSpec(
        "price",
        (
            "{e} costs {v}.",
            "{e} sells for {v}.",
            "The price of {e} is {v}.",
            "{e} retails at {v}.",
            "Buyers pay {v} for {e}.",
            "{e} is priced at {v}.",
        ),
        (
            "How much does {e} cost?",
            "What does {e} sell for?",
            "What is the price of {e}?",
            "At what price does {e} retail?",
            "How much do buyers pay for {e}?",
            "What is {e} priced at?",
        ),
        ("Price", "Retail price", "Cost"),
    ),
    _FactSpec(
        "event_year",
        (
            "{e} took place in {v}.",
            "{e} was held in {v}.",
            "In {v}, {e} was staged for the first and only time.",
            "{e} happened in {v}.",
            "The year of {e} was {v}.",
            "{e} was organised in {v}.",
        ),
        (
            "When did {e} take place?",
            "In what year was {e} held?",
            "In which year was {e} staged?",
            "What year did {e} happen?",
            "In which year was {e}?",
            "When was {e} organised?",
        ),
        ("Year", "Date", "Held in"),
    ),
    _FactSpec(
        "host_town",
        (
            "{e} was hosted by the town of {v}.",
            "{e} was held in the town of {v}.",
            "The host town of {e} was {v}.",
            "{v} played host to {e}.",
            "{e} was staged in {v}.",
            "Visitors travelled to {v} for {e}.",
        ),
        (
            "Where was {e} held?",
            "Which town hosted {e}?",
            "What was the host town of {e}?",
            "In which town did {e} take place?",
            "Where was {e} staged?",
            "To which town did visitors travel for {e}?",
        ),
        ("Host town", "Venue", "Location"),
    ),
    _FactSpec(
        "organiser",
        (
            "{e} was organised by {v}.",
            "{v} organised {e}.",
            "The person behind {e} was {v}.",
            "{v} was in charge of running {e}.",
            "{e} was put together by {v}.",
            "Organising {e} was the job of {v}.",
        ),
        (
            "Who organised {e}?",
            "Who was the organiser of {e}?",
            "Who was behind {e}?",
            "Who was in charge of running {e}?",
            "Who put {e} together?",
            "Whose job was it to organise {e}?",
        ),
        ("Organiser", "Organised by", "Run by"),
    ),
    _FactSpec(
        "attendee_count",
        (
            "{e} drew {v} visitors.",
            "About {v} people attended {e}.",
            "{e} attracted a crowd of {v}.",
            "Attendance at {e} reached {v}.",
            "Some {v} guests came to {e}.",
            "{e} welcomed {v} attendees.",
        ),
        (
            "How many visitors did {e} draw?",
            "How many people attended {e}?",
            "How big was the crowd at {e}?",
            "What was the attendance at {e}?",
            "How many guests came to {e}?",
            "How many attendees did {e} welcome?",
        ),
        ("Attendance", "Visitors", "Crowd"),
    ),
    _FactSpec(
        "duration",
        (
            "{e} lasted {v}.",
            "{e} ran for {v}.",
            "{e} went on for {v}.",
            "The whole of {e} took {v}.",
            "{e} stretched over {v}.",
            "From start to finish, {e} lasted {v}.",
        ),
        (
            "How long did {e} last?",
            "For how long did {e} run?",
            "How long did {e} go on?",
            "How much time did {e} take?",
            "Over how many days did {e} stretch?",
            "How long was {e} from start to finish?",
        ),
        ("Duration", "Running time", "Lasted"),
    ),
    _FactSpec(
        "launch_year",
        (
            "{e} was launched in {v}.",
            "{e} first took to the water in {v}.",
            "{e} slid down the slipway in {v}.",
            "The launch of {e} came in {v}.",
            "{e} entered service in {v}.",
            "{e} has been afloat since {v}.",
        ),
        (
            "When was {e} launched?",
            "In what year did {e} first take to the water?",
            "When did {e} slide down the slipway?",
            "In which year was {e} launched?",
            "When did {e} enter service?",
            "Since what year has {e} been afloat?",
        ),
        ("Launched", "In service since", "Launch"),
    ),
    _FactSpec(
        "captain",
        (
            "{e} is commanded by {v}.",
            "The captain of {e} is {v}.",
            "{v} commands {e}.",
            "{e} sails under {v}.",
            "{v} took command of {e} some years ago.",
            "At the helm of {e} stands {v}.",
        ),
        (
            "Who commands {e}?",
            "Who is the captain of {e}?",
            "Who is in command of {e}?",
            "Under whose command does {e} sail?",
            "Who took command of {e}?",
            "Who stands at the helm of {e}?",
        ),
        ("Captain", "Commanded by", "Master"),
    ),
    _FactSpec(
        "home_port",
        (
            "The home port of {e} is {v}.",
            "{e} is registered in {v}.",
            "{e} sails out of {v}.",
            "{e} returns to its home port of {v} each winter.",
            "{v} is where {e} is based.",
            "{e} spends most of the year moored in {v}.",
        ),
        (
            "What is the home port of {e}?",
            "Where is {e} registered?",
            "Which port does {e} sail out of?",
            "To which port does {e} return each winter?",
            "Which port is {e} based in?",
            "Where does {e} spend most of the year moored?",
        ),
        ("Home port", "Port of registry", "Base"),
    ),
    _FactSpec(
        "shipyard",
        (
            "{e} was built by {v}.",
            "{v} built {e}.",
            "{e} came out of the yards of {v}.",
            "The shipyard that built {e} was {v}.",
            "{e} was constructed at the yard of {v}.",
            "Workers at {v} built {e}.",
        ),
        (
            "Who built {e}?",
            "Which shipyard built {e}?",
            "Out of whose yards did {e} come?",
            "Which company constructed {e}?",
            "At whose yard was {e} constructed?",
            "Which yard was {e} built by?",
        ),
        ("Builder", "Built by", "Shipyard"),
    ),
    _FactSpec(
        "length",
        (
            "{e} is {v} long.",
            "{e} measures {v} from bow to stern.",
            "The hull of {e} is {v} long.",
            "{e} has a length of {v}.",
            "From bow to stern, {e} runs to {v}.",
            "{e} stretches {v} end to end.",
        ),
        (
            "How long is {e}?",
            "What does {e} measure from bow to stern?",
            "How long is the hull of {e}?",
            "What is the length of {e}?",
            "How many metres long is {e}?",
            "How far does {e} stretch end to end?",
        ),
        ("Length overall", "Hull length", "Size"),
    ),
    _FactSpec(
        "hull_colour",
        (
            "The hull of {e} is painted {v}.",
            "{e} has a {v} hull.",
            "{e} is easy to spot thanks to its {v} paint.",
            "Its owners keep {e} painted {v}.",
            "{e} wears a coat of {v} paint.",
            "The paint on {e} is {v}.",
        ),
        (
            "What colour is the hull of {e}?",
            "What colour is {e} painted?",
            "What colour paint makes {e} easy to spot?",
            "Which colour do the owners keep {e} painted?",
            "What colour of paint does {e} wear?",
            "What colour is the paint on {e}?",
        ),
        ("Hull colour", "Paint", "Colour"),
    ),
    _FactSpec(
        "director",
        (
            "{e} is directed by {v}.",
            "The director of {e} is {v}.",
            "{v} leads {e}.",
            "{v} has run {e} for the past decade.",
            "{e} is headed by {v}.",
            "At the head of {e} is {v}.",
        ),
        (
            "Who directs {e}?",
            "Who is the director of {e}?",
            "Who leads {e}?",
            "Who has been running {e}?",
            "Who heads {e}?",
            "Who is at the head of {e}?",
        ),
        ("Director", "Led by", "Head"),
    ),
    _FactSpec(
        "research_field",
        (
            "{e} studies {v}.",
            "Researchers at {e} focus on {v}.",
            "{e} specialises in {v}.",
            "The main research topic at {e} is {v}.",
            "Most of the work at {e} concerns {v}.",
            "{e} is a leading centre for {v}.",
        ),
        (
            "What does {e} study?",
            "What do researchers at {e} focus on?",
            "What does {e} specialise in?",
            "What is the main research topic at {e}?",
            "What field does most of the work at {e} concern?",
            "In which field is {e} a leading centre?",
        ),
        ("Research field", "Focus", "Speciality"),
    ),
    _FactSpec(
        "first_year",
        (
            "{e} was first held in {v}.",
            "{e} began in {v}.",
            "The first edition of {e} took place in {v}.",
            "{e} has run every year since {v}.",
            "{e} started in {v}.",
            "{e} dates from {v}, when it was first held.",
        ),
        (
            "When was {e} first held?",
            "In what year did {e} begin?",
            "When did the first edition of {e} take place?",
            "Since which year has {e} run?",
            "When did {e} start?",
            "What year does {e} date from?",
        ),
        ("First held", "Running since", "First edition"),
    ),
    _FactSpec(
        "month",
        (
            "{e} takes place every {v}.",
            "{e} is held each year in {v}.",
            "Every year in {v}, {e} fills the streets.",
            "{e} always falls in {v}.",
            "{e} comes around each {v}.",
            "The dates of {e} are always in {v}.",
        ),
        (
            "In which month does {e} take place?",
            "When in the year is {e} held?",
            "In what month does {e} fill the streets?",
            "Which month does {e} fall in?",
            "What month does {e} come around?",
            "In which month are the dates of {e}?",
        ),
        ("Month", "When", "Time of year"),
    ),
    _FactSpec(
        "signature_food",
        (
            "The signature dish of {e} is {v}.",
            "Visitors to {e} queue for {v}.",
            "{e} is famous for its {v}.",
            "No visit to {e} is complete without {v}.",
            "Stalls at {e} sell mostly {v}.",
            "{e} is where people go to eat {v}.",
        ),
        (
            "What is the signature dish of {e}?",
            "What do visitors to {e} queue for?",
            "Which food is {e} famous for?",
            "Without which dish is a visit to {e} incomplete?",
            "What do the stalls at {e} mostly sell?",
            "What do people go to {e} to eat?",
        ),
        ("Signature dish", "Food", "Speciality dish"),
    ),
    _FactSpec(
        "species",
        (
            "{e} is {a_v}.",
            "{e} is a pet {v}.",
            "{e} is {a_v} with a loud voice.",
            "In fact, {e} is {a_v}.",
            "{e} is a rather clever {v}.",
            "Everyone agrees that {e} is a friendly {v}.",
        ),
        (
            "What kind of animal is {e}?",
            "What sort of pet is {e}?",
            "What animal is {e}?",
            "What type of animal is {e}?",
            "What kind of pet is {e}?",
            "Which animal is {e}?",
        ),
        ("Species", "Animal", "Kind"),
    ),
    _FactSpec(
        "owner",
        (
            "{e} belongs to {v}.",
            "The owner of {e} is {v}.",
            "{v} owns {e}.",
            "{e} lives with {v}.",
            "{v} adopted {e} as a young animal.",
            "{e} was bought by {v}.",
        ),
        (
            "Who owns {e}?",
            "Who is the owner of {e}?",
            "To whom does {e} belong?",
            "Who does {e} live with?",
            "Who adopted {e}?",
            "Who bought {e}?",
        ),
        ("Owner", "Belongs to", "Lives with"),
    ),
    _FactSpec(
        "colour",
        (
            "{e} is mostly {v} in colour.",
            "{e} has {v} markings.",
            "The colouring of {e} is {v}.",
            "{e} is easy to recognise by its {v} colouring.",
            "{e} is {a_v} animal.",
            "{e} is {v} from head to tail.",
        ),
        (
            "What colour is {e}?",
            "What colour are the markings of {e}?",
            "What is the colouring of {e}?",
            "By what colouring can {e} be recognised?",
            "What is the main colour of {e}?",
            "What colour is {e} from head to tail?",
        ),
        ("Colouring", "Markings", "Main colour"),
    ),
    _FactSpec(
        "favourite_food",
        (
            "The favourite food of {e} is {v}.",
            "{e} loves {v} more than anything.",
            "Nothing pleases {e} like {v}.",
            "{e} will do almost anything for {v}.",
            "{e} gets {v} as a weekend treat.",
            "Given the choice, {e} always picks {v}.",
        ),
        (
            "What is the favourite food of {e}?",
            "What does {e} love to eat most?",
            "What food pleases {e} most?",
            "What treat will {e} do almost anything for?",
            "What does {e} get as a weekend treat?",
            "What does {e} always pick to eat given the choice?",
        ),
        ("Favourite food", "Treat", "Diet"),
    ),
    _FactSpec(
        "home_town",
        (
            "{e} lives in {v}.",
            "{e} spends its days in a garden in {v}.",
            "Home for {e} is a house in {v}.",
            "{e} is a well-known sight in {v}.",
            "{e} has always lived in {v}.",
            "Neighbours in {v} all know {e}.",
        ),
        (
            "Where does {e} live?",
            "In which town does {e} spend its days?",
            "In what town is the home of {e}?",
            "In which town is {e} a well-known sight?",
            "Which town has {e} always lived in?",
            "Where do the neighbours all know {e}?",
        ),
        ("Home town", "Lives in", "Town"),
    ),
    _FactSpec(
        "formation_year",
        (
            "{e} formed in {v}.",
            "{e} got together in {v}.",
            "{e} first formed in {v}.",
            "The story of {e} begins in {v}, when the members first met.",
            "{e} came together in {v}.",
            "It was in {v} that {e} formed.",
        ),
        (
            "When did {e} form?",
            "In what year did {e} get together?",
            "In which year did {e} first form?",
            "In which year does the story of {e} begin?",
            "What year did {e} come together?",
            "What is the formation year of {e}?",
        ),
        ("Formed", "Together since", "Formation year"),
    ),
    _FactSpec(
        "origin",
        (
            "{e} started out in {v}.",
            "The home town of {e} is {v}.",
            "{e} grew out of the music scene in {v}.",
            "{e} played their first concerts in {v}.",
            "{v} is where {e} got started.",
            "{e} rehearsed in a garage in {v} for years.",
        ),
        (
            "Where did {e} start out?",
            "What is the home town of {e}?",
            "Out of which town's music scene did {e} grow?",
            "Where did {e} play their first concerts?",
            "In which town did {e} get started?",
            "Where did {e} rehearse for years?",
        ),
        ("Origin", "From", "Home scene"),
    ),
    _FactSpec(
        "lead_singer",
        (
            "The lead singer of {e} is {v}.",
            "{v} sings lead for {e}.",
            "{v} fronts {e}.",
            "{v} has been the singer of {e} from the start.",
            "Vocals in {e} come from {v}.",
            "{e} relied on {v} for lead vocals.",
        ),
        (
            "Who is the lead singer of {e}?",
            "Who sings lead for {e}?",
            "Who fronts {e}?",
            "Who has been the singer of {e} from the start?",
            "Who provides the vocals in {e}?",
            "On whom did {e} rely for lead vocals?",
        ),
        ("Lead singer", "Vocals", "Frontperson"),
    ),
    _FactSpec(
        "debut_album",
        (
            "The debut album of {e} was called {v}.",
            "{e} released their first album, {v}, to good reviews.",
            "{v} was the first record by {e}.",
            "{e} made their debut with the album {v}.",
            "The first album {e} put out was {v}.",
            "{e} opened their career with a record named {v}.",
        ),
        (
            "What was the debut album of {e}?",
            "What was the first album released by {e}?",
            "What was the first record by {e}?",
            "With which album did {e} make their debut?",
            "What was the first album {e} put out?",
            "What was the record that opened the career of {e}?",
        ),
        ("Debut album", "First album", "First record"),
    ),
    _FactSpec(
        "genre",
        (
            "{e} made their name playing {v}.",
            "The music of {e} is best described as {v}.",
            "{e} built a following with their {v}.",
            "Critics file {e} under {v}.",
            "The sound of {e} is rooted in {v}.",
            "Fans know {e} for {v}.",
        ),
        (
            "What kind of music did {e} make their name playing?",
            "How is the music of {e} best described?",
            "What genre is the music of {e}?",
            "Under which genre do critics file {e}?",
            "In which genre is the sound of {e} rooted?",
            "What do fans know {e} for?",
        ),
        ("Genre", "Style", "Sound"),
    ),
)
_SPEC_BY_KIND: dict[str, _FactSpec] = {spec.kind: spec for spec in _SPECS}

# --------------------------------------------------------------------------- document-level templates

_INTROS = (
    "Here is a short profile of {e}.",
    "The following notes concern {e}.",
    "This entry collects the basic facts about {e}.",
    "What follows is a brief account of {e}.",
    "Few people outside the region know much about {e}.",
    "There is a fair amount to say about {e}.",
    "The next part of this note turns to {e}.",
    "Some background on {e} is useful here.",
    "Anyone curious about {e} will find the essentials below.",
)
_OPENERS = (
    "The notes below were compiled from local records.",
    "This page gathers a few facts from various sources.",
    "What follows was pieced together from archives and interviews.",
    "These notes were written for a small local newsletter.",
    "The information below comes from a mix of official and informal sources.",
    "This short document summarises what could be confirmed.",
)
_OUTROS = (
    "Further details will be added as more sources are checked.",
    "That is all that could be confirmed for now.",
    "Corrections are welcome and will be added to later versions.",
    "More information could turn up in the regional archive.",
    "The rest of the story remains to be written.",
    "Readers who know more are encouraged to get in touch.",
)
_TITLES = (
    "{e}",
    "About {e}",
    "Notes on {e}",
    "A profile of {e}",
    "{e} in brief",
    "Local notes",
    "From the regional archive",
    "Assorted facts",
    "Short profiles",
)
_SHEET_HEADERS = (
    "Fact sheet: {e}",
    "Key facts about {e}",
    "{e} at a glance",
    "Summary of {e}",
    "Quick facts on {e}",
    "Record card for {e}",
)
_SHEET_LINES = (
    "{label}: {v}",
    "- {label}: {v}",
    "{label} - {v}",
    "* {label}: {v}",
    "\u2022 {label}: {v}",
    "{label} | {v}",
)
_CONNECTORS = (
    "In addition, ",
    "Notably, ",
    "As it happens, ",
    "For the record, ",
    "It is also worth noting that ",
    "Beyond that, ",
)
_FILLERS = (
    "Local historians still argue about some of the details.",
    "The weather that year was unusually wet.",
    "Much of the surrounding land is used for grazing sheep.",
    "Visitors often remark on how quiet the area is in winter.",
    "Old photographs of the area show narrow streets and low houses.",
    "Some of the early paperwork was lost in a fire at the records office.",
    "Newspapers in the region covered the story only briefly.",
    "The nearest railway station is a short bus ride away.",
    "Several smaller projects were started around the same time, though most did not last.",
    "Public interest has grown steadily over the years.",
    "The surrounding hills are popular with walkers in the summer months.",
    "A number of letters from that period survive in private collections.",
    "Opinions on the matter have changed a great deal since then.",
    "There was little money to spare in the early days.",
    "Roads in the district were poor until well into the last century.",
    "Much of what is known comes from a handful of interviews.",
    "The local library keeps a folder of newspaper clippings on the subject.",
    "Winters in the region are long, and the summers are short but bright.",
    "Over time, the story has been retold in several slightly different versions.",
    "A small museum in the area occasionally puts on exhibitions about local history.",
    "The district council publishes a short report on local affairs every spring.",
    "Few of the original buildings from that time are still standing.",
    "Travel writers have described the region as pleasant but unremarkable.",
    "Not everyone at the time thought the plans were sensible.",
    "Schoolchildren in the area sometimes visit as part of their lessons.",
    "The coastline nearby is known for strong winds and sudden fog.",
    "Many families in the region have lived there for generations.",
    "Some accounts from the period contradict one another on minor points.",
    "The market square fills up with stalls on most Saturdays.",
    "Local radio has run a few programmes about the subject over the years.",
    "Maps from the period show only a scattering of farms and tracks.",
    "People who grew up nearby tend to remember it fondly.",
    "A volunteer group looks after the footpaths in the area.",
    "The regional tourist office hands out leaflets with a short summary.",
    "The first written accounts were brief and rather dry.",
    "Later writers added colourful details that are hard to check.",
    "Most of the work in the early years was done by hand.",
    "The area was once covered by dense forest.",
    "Local cafés keep a few framed photographs on their walls.",
    "An amateur society meets once a month to discuss local history.",
    "In bad years, money was short and plans were put on hold.",
    "The harbour nearby is mostly used by small boats.",
    "Some residents would prefer that things stayed exactly as they are.",
    "The regional bus timetable changes twice a year.",
    "Records kept by the parish offer a few useful clues.",
    "Nobody seems to agree on who first suggested the idea.",
    "An old wall still marks the edge of the original site.",
    "Storms regularly cut the power in the surrounding villages.",
    "There is a small car park at the end of the lane.",
    "The local paper once printed a long feature on the subject.",
    "Students from a nearby college have written essays on the topic.",
    "It is easy to miss the place when driving past.",
    "Some of the stories told about those years are probably exaggerated.",
    "The countryside around it is flat and open.",
    "During the summer, the days are long and the evenings are mild.",
    "Plans for further changes are discussed from time to time.",
    "A handful of guidebooks mention it in passing.",
    "The area has changed less than most people expect.",
    "Several streets nearby were renamed in a burst of civic pride.",
    "People from the surrounding villages still come in to shop.",
    "The old post office now serves as a small gallery.",
    "Most visitors arrive by car, though a few still come on foot.",
    "Rain is common in autumn, and the paths can turn to mud.",
    "The history of the area is told on a set of boards by the main road.",
    "There have been several attempts to write a proper account of it all.",
    "The arguments of that time now seem rather quaint.",
)
# Distractor fillers name values ({year}, {number}, {town}, {person}) that are never gold answers.
_DISTRACTORS = (
    "A flood in {year} damaged several bridges in the district.",
    "The regional archive holds {number} boxes of old letters and maps.",
    "A similar scheme was later tried in {town}, with mixed results.",
    "A local historian, {person}, once wrote a short pamphlet about the area.",
    "In {year}, a new road made the journey to the coast much shorter.",
    "Roughly {number} trees were planted along the river banks in a single spring.",
    "The neighbouring town of {town} tells a rather different story.",
    "{person}, a retired teacher, collects postcards from the region.",
    "An unusually cold winter in {year} is still talked about.",
    "The old market hall could hold about {number} people.",
    "People from {town} sometimes make the trip over for the day.",
    "A guidebook by {person} gives the area only a single line.",
    "The railway line closed in {year} and was never reopened.",
    "A petition against the new bypass gathered {number} signatures.",
    "Letters sent from {town} in those years mention it only in passing.",
    "{person} painted a well-known view of the valley.",
    "A fire in {year} destroyed the old grain store.",
    "The reading room of the library holds around {number} volumes.",
    "Road signs still point the way to {town}.",
    "A radio talk given by {person} brought the place some attention.",
    "The first telephone line reached the area in {year}.",
    "The local choir has {number} members.",
    "Bus services link the area with {town} twice a day.",
    "{person} once described the place as a good spot to do nothing at all.",
)


def _part(pool: Sequence[_T], split: str) -> tuple[_T, ...]:
    """The part of ``pool`` that belongs to ``split``: index ``i % 3 == 2`` is held out."""
    held = split == "heldout"
    return tuple(item for i, item in enumerate(pool) if (i % 3 == 2) == held)


def _words_of(text: str) -> set[str]:
    return {w.lower() for w in re.findall(r"[A-Za-z]+", text)}


def _reserved_words() -> frozenset[str]:
    """Every lowercase word used by templates and vocabularies; invented names avoid them."""
    texts: list[str] = []
    for spec in _SPECS:
        texts.extend(spec.sentences + spec.questions + spec.labels)
    for pool in (
        _INTROS, _OPENERS, _OUTROS, _TITLES, _SHEET_HEADERS, _CONNECTORS, _FILLERS, _DISTRACTORS,
        _COLOURS, _JOBS, _MATERIALS, _GOODS, _INDUSTRIES, _FIELDS, _MONTHS, _FOODS, _PET_FOODS,
        _SPECIES, _GENRES, _CURRENCIES, _COMPANY_SUFFIX, _PRODUCT_TYPE, _EVENT_NOUN, _SHIP_NOUN,
        _FESTIVAL_THEME, _BAND_NOUN, _ALBUM_ADJ, _ALBUM_NOUN, _TOWN_PREFIX,
        tuple(n for pair in _LAB_NOUN for n in pair), tuple(_NUMBER_WORDS.values()),
    ):
        texts.extend(pool)
    words: set[str] = set()
    for text in texts:
        words |= _words_of(text)
    return frozenset(words)


_RESERVED = _reserved_words()


@dataclass(frozen=True)
class _Pools:
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


def _check_split(split: object) -> str:
    if not isinstance(split, str) or split not in SPLITS:
        raise InputError(f"split must be one of {SPLITS}, got {split!r}; pass split='train' or split='heldout'")
    return split


@functools.cache
def _pools(split: str) -> _Pools:
    s = split
    return _Pools(
        split=s,
        first=_part(_FIRST, s),
        mid=_part(_MID, s),
        end=_part(_END, s),
        given_end=_part(_GIVEN_END, s),
        family_end=_part(_FAMILY_END, s),
        town_suffix=_part(_TOWN_SUFFIX, s),
        town_prefix=_part(_TOWN_PREFIX, s),
        pet_end=_part(_PET_END, s),
        company_suffix=_part(_COMPANY_SUFFIX, s),
        product_type=_part(_PRODUCT_TYPE, s),
        event_noun=_part(_EVENT_NOUN, s),
        ship_noun=_part(_SHIP_NOUN, s),
        lab_noun=_part(_LAB_NOUN, s),
        festival_theme=_part(_FESTIVAL_THEME, s),
        band_noun=_part(_BAND_NOUN, s),
        album_adj=_part(_ALBUM_ADJ, s),
        album_noun=_part(_ALBUM_NOUN, s),
        code_letters=_part(_CODE_LETTERS, s),
        sentences={spec.kind: _part(spec.sentences, s) for spec in _SPECS},
        questions={spec.kind: _part(spec.questions, s) for spec in _SPECS},
        labels={spec.kind: _part(spec.labels, s) for spec in _SPECS},
        intros=_part(_INTROS, s),
        openers=_part(_OPENERS, s),
        outros=_part(_OUTROS, s),
        titles=_part(_TITLES, s),
        sheet_headers=_part(_SHEET_HEADERS, s),
        sheet_lines=_part(_SHEET_LINES, s),
        connectors=_part(_CONNECTORS, s),
        fillers=_part(_FILLERS, s),
        distractors=_part(_DISTRACTORS, s),
    )


def template_pools(split: str) -> dict[str, tuple[str, ...]]:
    """The templates ``split`` draws from, by pool name (``"question:founding_year"``, ``"filler"``...).

    The pools of the two splits are disjoint; tests and audits use this to check it.
    """
    p = _pools(_check_split(split))
    out: dict[str, tuple[str, ...]] = {}
    for kind in _SPEC_BY_KIND:
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
    if not 4 <= len(low) <= 11 or low in _RESERVED or _AWKWARD.search(low):
        return False
    if any(bad in low for bad in _BLOCKED):
        return False
    # The parity of the CRC-32 decides the split a word may belong to: names never cross splits.
    return zlib.crc32(low.encode("ascii")) % 2 == (1 if split == "heldout" else 0)


class _Namer:
    """Invents names from one split's pools, never reusing a word within one document."""

    def __init__(self, pools: _Pools, rng: random.Random) -> None:
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


# --------------------------------------------------------------------------- fact values


@dataclass(frozen=True)
class _Value:
    """A fact value as written in the text, its gold answers (substrings of it) and an optional link."""

    display: str
    answers: tuple[str, ...]
    link: tuple[str, str] | None = None  # (entity kind, name) when the value names a describable entity


_Maker = Callable[[random.Random, _Namer], _Value]


def _fmt_count(n: int) -> str:
    return f"{n:,}" if n >= 10000 else str(n)


def _year(lo: int, hi: int) -> _Maker:
    def make(rng: random.Random, namer: _Namer) -> _Value:
        y = str(rng.randint(lo, hi))
        return _Value(y, (y,))

    return make


def _count(lo: int, hi: int) -> _Maker:
    def make(rng: random.Random, namer: _Namer) -> _Value:
        d = _fmt_count(rng.randint(lo, hi))
        return _Value(d, (d,))

    return make


def _pick(vocab: tuple[str, ...]) -> _Maker:
    def make(rng: random.Random, namer: _Namer) -> _Value:
        v = rng.choice(vocab)
        return _Value(v, (v,))

    return make


def _person(titles: tuple[str, ...] = (), p_title: float = 0.0) -> _Maker:
    def make(rng: random.Random, namer: _Namer) -> _Value:
        name = namer.person()
        if titles and rng.random() < p_title:
            display = f"{rng.choice(titles)} {name}"
            return _Value(display, (display, name), ("person", name))
        return _Value(name, (name,), ("person", name))

    return make


def _town(rng: random.Random, namer: _Namer) -> _Value:
    name = namer.town()
    return _Value(name, (name,), ("town", name))


def _company(rng: random.Random, namer: _Namer) -> _Value:
    name = namer.company()
    return _Value(name, (name,), ("company", name))


def _river(rng: random.Random, namer: _Namer) -> _Value:
    word = namer.river()
    return _Value(f"River {word}", (f"River {word}", word))


def _code(rng: random.Random, namer: _Namer) -> _Value:
    code = namer.code()
    return _Value(code, (code,))


def _price(rng: random.Random, namer: _Namer) -> _Value:
    n = rng.randint(9, 1900)
    display = f"{n} {rng.choice(_CURRENCIES)}"
    return _Value(display, (display, str(n)))


def _days(rng: random.Random, namer: _Namer) -> _Value:
    word = _NUMBER_WORDS[rng.randint(2, 9)]
    return _Value(f"{word} days", (f"{word} days", word))


def _metres(rng: random.Random, namer: _Namer) -> _Value:
    n = rng.randint(18, 240)
    return _Value(f"{n} metres", (f"{n} metres", str(n)))


def _album(rng: random.Random, namer: _Namer) -> _Value:
    title = namer.album()
    return _Value(f'"{title}"', (title,))


_KIND_FACTS: dict[str, tuple[tuple[str, _Maker], ...]] = {
    "person": (
        ("birth_year", _year(1931, 2001)),
        ("birthplace", _town),
        ("occupation", _pick(_JOBS)),
        ("employer", _company),
        ("mentor", _person()),
    ),
    "company": (
        ("founding_year", _year(1820, 2015)),
        ("headquarters", _town),
        ("founder", _person(("Dr.",), 0.3)),
        ("employee_count", _count(12, 4800)),
        ("main_product", _pick(_GOODS)),
        ("brand_colour", _pick(_COLOURS)),
    ),
    "town": (
        ("founding_year", _year(1105, 1890)),
        ("population", _count(800, 250000)),
        ("river", _river),
        ("mayor", _person()),
        ("main_industry", _pick(_INDUSTRIES)),
    ),
    "product": (
        ("product_code", _code),
        ("release_year", _year(1975, 2023)),
        ("manufacturer", _company),
        ("material", _pick(_MATERIALS)),
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
        ("hull_colour", _pick(_COLOURS)),
    ),
    "lab": (
        ("founding_year", _year(1890, 2018)),
        ("headquarters", _town),
        ("director", _person(("Dr.", "Professor"), 0.6)),
        ("research_field", _pick(_FIELDS)),
        ("employee_count", _count(8, 900)),
    ),
    "festival": (
        ("first_year", _year(1890, 2019)),
        ("host_town", _town),
        ("month", _pick(_MONTHS)),
        ("organiser", _person()),
        ("signature_food", _pick(_FOODS)),
        ("attendee_count", _count(300, 60000)),
    ),
    "pet": (
        ("species", _pick(_SPECIES)),
        ("owner", _person()),
        ("colour", _pick(_COLOURS)),
        ("favourite_food", _pick(_PET_FOODS)),
        ("home_town", _town),
    ),
    "band": (
        ("formation_year", _year(1958, 2020)),
        ("origin", _town),
        ("lead_singer", _person()),
        ("debut_album", _album),
        ("genre", _pick(_GENRES)),
    ),
}
_ENTITY_KINDS: tuple[str, ...] = tuple(_KIND_FACTS)


@dataclass(frozen=True)
class _Entity:
    kind: str
    name: str
    anaphors: tuple[str, ...]


def _make_entity(kind: str, namer: _Namer, name: str | None = None) -> _Entity:
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
class _DocInfo:
    """What tests and audits need beyond the SynthDoc: entity names and every invented name."""

    entity_names: tuple[str, ...]
    names: tuple[str, ...]
    words: tuple[str, ...]


_MAX_ATTEMPTS = 200


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _with_article(value: str) -> str:
    return f"an {value}" if value[:1].lower() in "aeiou" else f"a {value}"


def _sentence(template: str, ref: str, value: _Value, connector: str = "") -> str:
    text = template.format(e=ref, v=value.display, a_v=_with_article(value.display))
    return _cap(connector + text)


def _prose(
    rng: random.Random, pools: _Pools, ent: _Entity, facts: list[tuple[str, _Value]], intro: bool
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


def _sheet(rng: random.Random, pools: _Pools, ent: _Entity, facts: list[tuple[str, _Value]]) -> _Block:
    line = rng.choice(pools.sheet_lines)
    block = _Block("sheet", [_cap(rng.choice(pools.sheet_headers).format(e=ent.name))])
    for kind, value in facts:
        block.lines.append(line.format(label=rng.choice(pools.labels[kind]), v=value.display))
    return block


def _entity_blocks(
    rng: random.Random, pools: _Pools, ent: _Entity, facts: list[tuple[str, _Value]]
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


def _try_doc(
    rng: random.Random, pools: _Pools, doc_id: str, min_tokens: int, max_tokens: int
) -> tuple[SynthDoc, _DocInfo] | None:
    target = rng.randint(min_tokens, max_tokens)
    namer = _Namer(pools, rng)
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
    info = _DocInfo(tuple(e.name for e, _ in entities), tuple(namer.names), tuple(namer.words))
    return SynthDoc(doc_id, text, tuple(qas)), info


def _check_int(name: str, value: object, lo: int, fix: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InputError(f"{name} must be an int, got {value!r} ({type(value).__name__}); {fix}")
    if value < lo:
        raise InputError(f"{name} must be >= {lo}, got {value}; {fix}")
    return value


def _generate(
    n_docs: int, split: str = "train", seed: int = 0, min_tokens: int = 60, max_tokens: int = 600
) -> list[tuple[SynthDoc, _DocInfo]]:
    """make_corpus, also returning each document's entity names and invented names."""
    _check_int("n_docs", n_docs, 1, "pass the number of documents to generate, e.g. n_docs=100")
    split = _check_split(split)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise InputError(f"seed must be an int, got {seed!r} ({type(seed).__name__}); pass e.g. seed=0")
    _check_int("min_tokens", min_tokens, 40, "documents need at least 40 tokens to hold three facts")
    if min_tokens > 300:
        raise InputError(f"min_tokens must be <= 300, got {min_tokens}; longer minimums cannot be met reliably")
    _check_int("max_tokens", max_tokens, min_tokens + 40, "leave at least 40 tokens between min_tokens and max_tokens")
    pools = _pools(split)
    out: list[tuple[SynthDoc, _DocInfo]] = []
    for i in range(n_docs):
        rng = random.Random(f"doc2lora-synth:{split}:{seed}:{i}")
        doc_id = f"{split}-s{seed}-{i:05d}"
        for _ in range(_MAX_ATTEMPTS):
            built = _try_doc(rng, pools, doc_id, min_tokens, max_tokens)
            if built is not None:
                out.append(built)
                break
        else:
            raise InputError(
                f"could not build document {i} within {min_tokens}..{max_tokens} tokens; widen the token range"
            )
    logger.debug("generated %d %s documents (seed %d)", n_docs, split, seed)
    return out


def make_corpus(
    n_docs: int, split: str = "train", seed: int = 0, min_tokens: int = 60, max_tokens: int = 600
) -> list[SynthDoc]:
    """``n_docs`` synthetic documents of ``split`` ("train" or "heldout"), deterministic for the arguments.

    Document ``i`` depends only on (split, seed, i, min_tokens, max_tokens), so a longer corpus
    extends a shorter one. Lengths lie within [min_tokens, max_tokens] by :func:`approx_tokens`.
    """
    return [doc for doc, _ in _generate(n_docs, split, seed, min_tokens, max_tokens)]


# --------------------------------------------------------------------------- files

_SAFE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


def _check_doc_id(doc_id: object, where: str) -> str:
    if not isinstance(doc_id, str) or not _SAFE_ID.fullmatch(doc_id):
        raise InputError(
            f"{where}: document id {doc_id!r} is not usable as a file name; use 1-128 letters, digits, "
            "'.', '_' or '-', starting with a letter or digit"
        )
    return doc_id


def _is_replaceable(path: Path) -> bool:
    """Only an empty folder or a previous eval set (docs/*.txt and qa.jsonl) may be overwritten."""
    for child in path.iterdir():
        if child.name == "qa.jsonl" and child.is_file():
            continue
        if child.name == "docs" and child.is_dir() and all(
            f.is_file() and f.suffix == ".txt" for f in child.iterdir()
        ):
            continue
        return False
    return True


def write_eval_set(docs: list[SynthDoc], out_dir: str | Path) -> Path:
    """Write ``out_dir/docs/<doc_id>.txt`` and ``out_dir/qa.jsonl`` atomically; return ``out_dir``.

    Each qa.jsonl line is ``{"doc": "<doc_id>.txt", "question": ..., "answers": [...]}``. The set is
    written to a temporary folder next to ``out_dir`` and renamed into place; an existing ``out_dir``
    is replaced only when it is empty or holds a previous eval set.
    """
    if isinstance(docs, (str, bytes)) or not isinstance(docs, Sequence) or not docs:
        raise InputError(f"docs must be a non-empty list of SynthDoc, got {docs!r:.80}; pass make_corpus(...)")
    seen: set[str] = set()
    for i, doc in enumerate(docs):
        if not isinstance(doc, SynthDoc):
            raise InputError(f"docs[{i}] must be a SynthDoc, got {type(doc).__name__}; build it with SynthDoc(...)")
        _check_doc_id(doc.doc_id, f"docs[{i}]")
        if doc.doc_id in seen:
            raise InputError(f"docs[{i}]: duplicate doc_id {doc.doc_id!r}; every document needs its own id")
        seen.add(doc.doc_id)
    out = Path(out_dir)
    target = out.resolve()
    if target.exists() and not target.is_dir():
        raise InputError(f"out_dir {str(out)!r} exists and is not a folder; pass a folder path")
    if target.is_dir() and not _is_replaceable(target):
        raise InputError(
            f"out_dir {str(out)!r} holds files other than a previous eval set; refusing to overwrite it, "
            "pass an empty or new folder"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        (tmp / "docs").mkdir()
        lines: list[str] = []
        for doc in docs:
            with open(tmp / "docs" / f"{doc.doc_id}.txt", "w", encoding="utf-8", newline="") as fh:
                fh.write(doc.text)
            for qa in doc.qas:
                record = {"doc": f"{doc.doc_id}.txt", "question": qa.question, "answers": list(qa.answers)}
                lines.append(json.dumps(record, ensure_ascii=False))
        with open(tmp / "qa.jsonl", "w", encoding="utf-8", newline="\n") as fh:
            fh.write("".join(line + "\n" for line in lines))
        if target.exists():
            old = target.parent / f".{target.name}.old-{uuid.uuid4().hex[:8]}"
            os.replace(target, old)
            os.replace(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    logger.info("wrote %d documents and %d questions to %s", len(docs), len(lines), target)
    return out


def _preview(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


_LINE_FORMAT = '{"text": "...", "questions": ["...", {"question": "...", "answers": ["..."]}]}'


def _parse_question(item: object, where: str) -> QA:
    if isinstance(item, str):
        if not item.strip():
            raise InputError(f"{where}: empty question string; remove it or write the question")
        return QA(item.strip(), (), "user")
    if not isinstance(item, dict):
        raise InputError(
            f"{where}: a question must be a string or an object with 'question' and 'answers', "
            f"got {_preview(item)}"
        )
    question = item.get("question")
    if not isinstance(question, str) or not question.strip():
        raise InputError(f"{where}: 'question' must be a non-empty string, got {_preview(question)}")
    answers = item.get("answers", [])
    if isinstance(answers, str):
        answers = [answers]
    if not isinstance(answers, list) or not all(isinstance(a, str) and a.strip() for a in answers):
        raise InputError(f"{where}: 'answers' must be a list of non-empty strings, got {_preview(answers)}")
    return QA(question.strip(), tuple(a.strip() for a in answers), "user")


def load_jsonl_corpus(path: str | Path) -> list[SynthDoc]:
    """Read a user corpus: one JSON object a line, ``{"text": ..., "questions": [...], "id": ...}``.

    A question is a string (no gold answer: ``answers=()``) or ``{"question": ..., "answers": [...]}``.
    ``id`` is optional (default ``doc-<line number>``). Blank lines are skipped. Malformed lines raise
    :class:`InputError` naming the line number; an unreadable file raises :class:`LoaderError`.
    """
    p = Path(path)
    if not p.is_file():
        raise LoaderError(f"JSONL corpus {str(p)!r} does not exist or is not a file; pass the path of a .jsonl file")
    try:
        raw = p.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise LoaderError(f"JSONL corpus {str(p)!r} is not UTF-8 text ({exc.reason}); save it as UTF-8") from exc
    except OSError as exc:
        raise LoaderError(f"JSONL corpus {str(p)!r} could not be read ({exc.strerror}); check its permissions") from exc
    docs: list[SynthDoc] = []
    first_line: dict[str, int] = {}
    for lineno, line in enumerate(raw.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{p.name} line {lineno}"
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(
                f"{where}: not valid JSON ({exc.msg} at column {exc.colno}); each line must be one object "
                f"like {_LINE_FORMAT}"
            ) from exc
        if not isinstance(obj, dict):
            raise InputError(f"{where}: expected a JSON object, got {_preview(obj)}; write {_LINE_FORMAT}")
        for key in ("text", "questions"):
            if key not in obj:
                raise InputError(f"{where}: missing key {key!r} (keys present: {sorted(obj)}); write {_LINE_FORMAT}")
        text = obj["text"]
        if not isinstance(text, str) or not text.strip():
            raise InputError(f"{where}: 'text' must be a non-empty string, got {_preview(text)}")
        questions = obj["questions"]
        if not isinstance(questions, list):
            raise InputError(f"{where}: 'questions' must be a list, got {_preview(questions)}")
        qas = tuple(_parse_question(q, f"{where}, question {j}") for j, q in enumerate(questions))
        raw_id = obj.get("id", f"doc-{lineno:05d}")
        if isinstance(raw_id, int) and not isinstance(raw_id, bool):
            raw_id = str(raw_id)
        doc_id = _check_doc_id(raw_id, where)
        if doc_id in first_line:
            raise InputError(f"{where}: id {doc_id!r} already used on line {first_line[doc_id]}; ids must be unique")
        first_line[doc_id] = lineno
        docs.append(SynthDoc(doc_id, text, qas))
    if not docs:
        raise InputError(f"JSONL corpus {str(p)!r} holds no documents; write one {_LINE_FORMAT} object a line")
    return docs


# --------------------------------------------------------------------------- command line


def write_fit_corpus(path: str | Path) -> Path:
    """Write the memory generator's packaged fitting corpus (`generators/memory/fit_corpus.json`).

    The synthetic training documents its first-use fit reads: FIT_DOCS of them, seed FIT_SEED, each with
    the first answer of every question (answers occur verbatim in the text). The core reads the file and
    never imports this module; `tests/test_synth.py` checks the packaged file against this function.
    """
    from doc2lora_rag.generators.memory import FIT_DOCS, FIT_SEED
    from doc2lora_rag.generators.memory.files import FIT_CORPUS_FORMAT

    docs = make_corpus(FIT_DOCS, "train", seed=FIT_SEED, min_tokens=60, max_tokens=300)
    data = {"format": FIT_CORPUS_FORMAT, "made_by": f"make_corpus({FIT_DOCS}, 'train', seed={FIT_SEED}, min_tokens=60, max_tokens=300)",
            "docs": [{"text": d.text, "answers": [q.answers[0] for q in d.qas if q.answers]} for d in docs]}
    path = Path(path)
    path.write_text(json.dumps(data, ensure_ascii=False, indent=0) + "\n")
    return path


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: generate a corpus of one split and write it as an eval set."""
    parser = argparse.ArgumentParser(
        prog="python -m doc2lora_rag.training.synth",
        description="Write a seeded synthetic eval set: DIR/docs/<id>.txt and DIR/qa.jsonl.",
    )
    parser.add_argument("--split", choices=SPLITS, default="train")
    parser.add_argument("--n", type=int, required=True, help="number of documents")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", required=True, help="output folder (created or replaced)")
    parser.add_argument("--min-tokens", type=int, default=60)
    parser.add_argument("--max-tokens", type=int, default=600)
    args = parser.parse_args(argv)
    try:
        docs = make_corpus(args.n, args.split, args.seed, args.min_tokens, args.max_tokens)
        out = write_eval_set(docs, args.out)
    except InputError as exc:
        parser.exit(2, f"error: {exc}\n")
    n_questions = sum(len(d.qas) for d in docs)
    sys.stdout.write(f"wrote {len(docs)} {args.split} documents and {n_questions} questions to {out}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
