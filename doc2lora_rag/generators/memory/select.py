"""Keys chosen by the question: a write over the positions of the few sentences of a text closest to it.

A whole-document write stores ~24 keys per 128-token chunk, and a question's state must single out the
answer's key among all of them; on text written by others it rarely does (docs/training_log.md, session 13).
With the gold answer's positions alone the same values answer 0.600 of the prose dev questions against 0.133
for the whole-document write (`benchmarks/memory_oracle.py`, session 14): the loss is the competition among
keys, not the values. Here the question picks the sentences first, with a sentence embedder (the store's
routing embedder), and the write holds every position of those sentences and nothing else.

Each sentence is embedded after the text's first sentence (its title, where it has one), so a sentence that
names its subject only as "she" or "it" still matches a question that names it. The embedder's cosine is added
to LEXICAL_WEIGHT x the sentence's BM25 score against the question over the max across the text's sentences:
the words a question shares with its sentence (names, numbers, rare terms) count beside the meaning. With it, the
chosen sentence holds the answer for 0.707 of the prose dev questions and 0.440 of the tech dev ones, against
0.613 and 0.380 by the cosine alone (`benchmarks/sentence_choice.py`, session 15; weights 0.1-1.0 tried there).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from typing import Any

import torch

from ...routing.lexical import tokenize_words

SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")
LEXICAL_WEIGHT = 0.3  # the BM25 share of a sentence's score (module docstring)


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


def sentence_vectors(text: str, spans: Sequence[tuple[int, int]], embedder: Any) -> torch.Tensor:
    """(len(spans), dim) unit vectors of the sentences `spans` of `text`, each embedded after the first (its title)."""
    shown = [text[a:b] for a, b in spans]
    shown = [shown[0]] + [f"{shown[0]}. {s}" for s in shown[1:]]  # the title's context on every sentence
    docs = torch.tensor(embedder.embed_documents(shown), dtype=torch.float32)
    return docs / docs.norm(dim=-1, keepdim=True).clamp(min=1e-12)


def bm25(sentences: Sequence[str], question: str, k1: float = 1.5, b: float = 0.75) -> torch.Tensor:
    """Okapi BM25 of `question` against each sentence (the routing index's word tokens and always-positive idf
    log(1 + (N - n + 0.5) / (n + 0.5)), N and n counted over these sentences; each distinct question word counted
    once, where the routing index's `BM25Index` counts a repeated word again)."""
    docs = [tokenize_words(s) for s in sentences]
    avg = max(sum(map(len, docs)) / max(len(docs), 1), 1e-9)
    df = Counter(w for d in docs for w in set(d))
    words = set(tokenize_words(question))
    out = []
    for d in docs:
        tf = Counter(d)
        out.append(sum(math.log(1 + (len(docs) - df[w] + 0.5) / (df[w] + 0.5)) * tf[w] * (k1 + 1)
                       / (tf[w] + k1 * (1 - b + b * len(d) / avg)) for w in words if w in tf))
    return torch.tensor(out, dtype=torch.float32)


def sentence_scores(text: str, question: str, embedder: Any, spans: Sequence[tuple[int, int]],
                    vectors: torch.Tensor | None = None, lexical: float = LEXICAL_WEIGHT) -> torch.Tensor:
    """Each span's score for `question`: cosine of `embedder`'s vectors (the title's context on each sentence) plus
    `lexical` x its BM25 score (same context) over the largest one. `vectors`: the spans' `sentence_vectors`."""
    docs = vectors if vectors is not None else sentence_vectors(text, spans, embedder)
    query = torch.tensor(embedder.embed_query(question), dtype=torch.float32)
    score = docs @ (query / query.norm().clamp(min=1e-12))
    if lexical:
        shown = [text[a:b] for a, b in spans]
        lex = bm25([shown[0]] + [f"{shown[0]} {s}" for s in shown[1:]], question)
        score = score + lexical * lex / lex.max().clamp(min=1e-9)
    return score


def closest_sentences(text: str, question: str, embedder: Any, top: int, spans: Sequence[tuple[int, int]] | None = None,
                      vectors: torch.Tensor | None = None, lexical: float = LEXICAL_WEIGHT) -> list[tuple[int, int]]:
    """The `top` sentence spans of `text` that best match `question` (`sentence_scores`), best first. `vectors`: the
    spans' `sentence_vectors`, when several questions ask about one text; `lexical` 0: the embedder's cosine alone."""
    spans = list(spans) if spans is not None else sentence_spans(text)
    if not spans:
        return []
    order = sentence_scores(text, question, embedder, spans, vectors, lexical).argsort(descending=True).tolist()
    return [spans[j] for j in order[:top]]


def positions_in(offsets: Sequence[tuple[int, int]], spans: Sequence[tuple[int, int]]) -> list[int]:
    """Token positions whose next token starts inside one of `spans` (the positions that store that token)."""
    return [p for p in range(len(offsets) - 1) if any(a <= offsets[p + 1][0] < b for a, b in spans)]
