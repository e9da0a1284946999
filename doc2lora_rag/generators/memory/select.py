"""Keys chosen by the question: a write over the positions of the few sentences of a text closest to it.

A whole-document write stores ~24 keys per 128-token chunk, and a question's state must single out the
answer's key among all of them; on text written by others it rarely does (docs/training_log.md, session 13).
With the gold answer's positions alone the same values answer 0.600 of the prose dev questions against 0.133
for the whole-document write (`benchmarks/memory_oracle.py`, session 14): the loss is the competition among
keys, not the values. Here the question picks the sentences first, with a sentence embedder (the store's
routing embedder), and the write holds every position of those sentences and nothing else.

Each sentence is embedded after the text's first sentence (its title, where it has one), so a sentence that
names its subject only as "she" or "it" still matches a question that names it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import torch

SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) character spans of the text's sentences and lines (ends at . ! ? before a space, or a newline)."""
    spans, start = [], 0
    for m in SENTENCE_END.finditer(text):
        if text[start:m.start()].strip():
            spans.append((start, m.start()))
        start = m.end()
    if text[start:].strip():
        spans.append((start, len(text)))
    return spans


def closest_sentences(text: str, question: str, embedder: Any, top: int,
                      spans: Sequence[tuple[int, int]] | None = None) -> list[tuple[int, int]]:
    """The `top` sentence spans of `text` most similar to `question` (cosine of `embedder`'s vectors), closest first."""
    spans = list(spans) if spans is not None else sentence_spans(text)
    if not spans:
        return []
    shown = [text[a:b] for a, b in spans]
    shown = [shown[0]] + [f"{shown[0]}. {s}" for s in shown[1:]]  # the title's context on every sentence
    docs = torch.tensor(embedder.embed_documents(shown), dtype=torch.float32)
    query = torch.tensor(embedder.embed_query(question), dtype=torch.float32)
    docs = docs / docs.norm(dim=-1, keepdim=True).clamp(min=1e-12)
    order = (docs @ query).argsort(descending=True).tolist()
    return [spans[j] for j in order[:top]]


def positions_in(offsets: Sequence[tuple[int, int]], spans: Sequence[tuple[int, int]]) -> list[int]:
    """Token positions whose next token starts inside one of `spans` (the positions that store that token)."""
    return [p for p in range(len(offsets) - 1) if any(a <= offsets[p + 1][0] < b for a, b in spans)]
