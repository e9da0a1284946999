"""The synthetic corpus's data types: documents, their questions and gold answers; approximate token counts."""

from __future__ import annotations

import math
from dataclasses import dataclass

SPLITS: tuple[str, ...] = ("train", "heldout")




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
