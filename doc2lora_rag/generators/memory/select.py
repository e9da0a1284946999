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

import re
from collections.abc import Sequence
from typing import Any

import torch

from ...routing.lexical import okapi_scores, tokenize_words

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


def first_sentence(text: str) -> str | None:
    """The text's first sentence or line (its title, where it has one); None for a text without one."""
    spans = sentence_spans(text)
    return text[spans[0][0]:spans[0][1]] if spans else None


def titled(text: str, spans: Sequence[tuple[int, int]], titles: Sequence[str | None] | None = None) -> list[str]:
    """The sentences `spans` of `text` as they are scored: each after its title (`titles[i]`, default the text's first
    sentence, so that a sentence naming its subject only as "she" still matches a question that names it); a sentence
    that is its own title, or has none, alone."""
    shown = [text[a:b] for a, b in spans]
    if titles is None:
        titles = [shown[0] if shown else None] * len(shown)
    if len(titles) != len(shown):
        raise ValueError(f"titled got {len(titles)} titles for {len(shown)} sentences")
    return [s if not t or t == s else f"{t}. {s}" for s, t in zip(shown, titles)]


def joined(texts: Sequence[str], separator: str, titles: Sequence[str | None] | None = None
           ) -> tuple[str, list[tuple[int, int]], list[str | None]]:
    """Several texts as one (`separator` between them, as a prompt joins them), the spans of their sentences in it and
    each sentence's title: `titles[i]` for the sentences of text i (e.g. its document's first line) where given, else
    text i's own first sentence."""
    if titles is not None and len(titles) != len(texts):
        raise ValueError(f"joined got {len(titles)} titles for {len(texts)} texts")
    spans: list[tuple[int, int]] = []
    heads: list[str | None] = []
    start = 0
    for i, text in enumerate(texts):
        own = sentence_spans(text)
        head = titles[i] if titles is not None and titles[i] else first_sentence(text)
        spans += [(start + a, start + b) for a, b in own]
        heads += [head] * len(own)
        start += len(text) + len(separator)
    return separator.join(texts), spans, heads


def sentence_vectors(text: str, spans: Sequence[tuple[int, int]], embedder: Any,
                     titles: Sequence[str | None] | None = None) -> torch.Tensor:
    """(len(spans), dim) unit vectors of the sentences `spans` of `text`, each embedded after its title (`titled`)."""
    docs = torch.tensor(embedder.embed_documents(titled(text, spans, titles)), dtype=torch.float32)
    return docs / docs.norm(dim=-1, keepdim=True).clamp(min=1e-12)


def bm25(sentences: Sequence[str], question: str, k1: float = 1.5, b: float = 0.75) -> torch.Tensor:
    """Okapi BM25 of `question` against each sentence: the routing index's word tokens and scorer
    (`routing.lexical.okapi_scores`, Lucene's idf counted over these sentences), each distinct question word once."""
    words = list(dict.fromkeys(tokenize_words(question)))
    return torch.from_numpy(okapi_scores([tokenize_words(s) for s in sentences], words, k1, b)).float()


def sentence_scores(text: str, question: str, embedder: Any, spans: Sequence[tuple[int, int]],
                    vectors: torch.Tensor | None = None, lexical: float = LEXICAL_WEIGHT,
                    titles: Sequence[str | None] | None = None) -> torch.Tensor:
    """Each span's score for `question`: cosine of `embedder`'s vectors (each sentence after its title, `titled`) plus
    `lexical` x its BM25 score (same titles) over the largest one. `vectors`: the spans' `sentence_vectors`."""
    docs = vectors if vectors is not None else sentence_vectors(text, spans, embedder, titles)
    query = torch.tensor(embedder.embed_query(question), dtype=torch.float32)
    score = docs @ (query / query.norm().clamp(min=1e-12))
    if lexical:
        lex = bm25(titled(text, spans, titles), question)
        score = score + lexical * lex / lex.max().clamp(min=1e-9)
    return score


def closest_sentences(text: str, question: str, embedder: Any, top: int, spans: Sequence[tuple[int, int]] | None = None,
                      vectors: torch.Tensor | None = None, lexical: float = LEXICAL_WEIGHT,
                      titles: Sequence[str | None] | None = None) -> list[tuple[int, int]]:
    """The `top` sentence spans of `text` that best match `question` (`sentence_scores`), best first. `vectors`: the
    spans' `sentence_vectors`, when several questions ask about one text; `lexical` 0: the embedder's cosine alone;
    `titles`: each span's title (`titled`; default the text's first sentence)."""
    spans = list(spans) if spans is not None else sentence_spans(text)
    if not spans:
        return []
    order = sentence_scores(text, question, embedder, spans, vectors, lexical, titles).argsort(descending=True).tolist()
    return [spans[j] for j in order[:top]]


def positions_in(offsets: Sequence[tuple[int, int]], spans: Sequence[tuple[int, int]]) -> list[int]:
    """Token positions whose next token starts inside one of `spans` (the positions that store that token)."""
    return [p for p in range(len(offsets) - 1) if any(a <= offsets[p + 1][0] < b for a, b in spans)]
