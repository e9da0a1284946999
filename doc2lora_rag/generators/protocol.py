"""What every generator is: text in, one `LoraWeights` per text out, for one frozen base model.

A generator reads a text as pieces of at most `max_chunk_tokens` tokens (`token_pieces`): a plain
string is split into near-equal pieces (`chunking.split_equal`); a text given as its pieces (the
store's chunks of one group, cut once by `chunking.chunk_text`) keeps those cuts, consecutive pieces
packed together up to the limit. It says what it is with `identity()`: a JSON-able dict with at
least "kind" (the registry's name for it) and "base_model"; a store records it and refuses adapters
from any other generator. `generators.from_identity` rebuilds the generator an identity describes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol, runtime_checkable

from ..base_model import BaseModel
from ..chunking import split_equal
from ..errors import InputError
from ..lora import LoraWeights


@runtime_checkable
class Generator(Protocol):
    """The interface the store, the CLI and the evaluation use (memory, hypernet and distill implement it)."""

    base: BaseModel
    max_chunk_tokens: int  # the longest piece of text it reads at once, in base-model tokens
    # True: `generate` takes a text as its pieces too (the store then passes each group as the chunks it cut);
    # a generator without it gets whole strings
    reads_pieces: bool

    def generate(self, texts: Sequence[Text]) -> list[LoraWeights]:
        """One adapter per text (a string, or its consecutive pieces)."""
        ...

    def identity(self) -> dict[str, Any]:
        """What the generator is ("kind", "base_model", its settings and weights), JSON-able."""
        ...


Text = str | Sequence[str]  # a text, or its consecutive pieces (joined they are the text)
PIECE_SLACK = 4  # a piece re-tokenized on its own may come out a few tokens longer than where it was cut


def check_texts(texts: Any) -> list[Text]:
    """Validate a list of texts: non-empty strings, or non-empty lists of string pieces that are not all blank
    (a single string is refused to avoid char iteration)."""
    if isinstance(texts, str) or not isinstance(texts, Sequence):
        raise InputError(f"texts must be a list of strings, got {type(texts).__name__}; wrap one text as [text]")
    out: list[Text] = []
    for i, t in enumerate(texts):
        if isinstance(t, (list, tuple)) and t and all(isinstance(p, str) for p in t):
            t = tuple(t)
            joined = "".join(t)
        elif isinstance(t, str):
            joined = t
        else:
            raise InputError(f"texts[{i}] must be a str (or a non-empty list of str pieces), got {type(t).__name__}")
        if not joined.strip():
            raise InputError(f"texts[{i}] is empty or whitespace; remove it or pass real text")
        out.append(t)
    return out


def token_pieces(tokenize: Callable[[str], list[int]], text: Text, max_tokens: int) -> list[list[int]]:
    """The token ids a generator reads, in pieces of at most ~max_tokens.

    A string: near-equal pieces. Pieces: kept where they were cut, consecutive ones packed while the
    packed text stays within max_tokens (+ PIECE_SLACK); a piece longer than that is split in near-equal parts.
    """
    if isinstance(text, str):
        ids = tokenize(text)
        return split_equal(ids, max_tokens) if ids else []
    packed: list[str] = []
    for piece in text:
        if packed and len(tokenize(packed[-1] + piece)) <= max_tokens + PIECE_SLACK:
            packed[-1] += piece
        else:
            packed.append(piece)
    out = []
    for part in packed:
        ids = tokenize(part)
        out.extend(split_equal(ids, max_tokens) if len(ids) > max_tokens + PIECE_SLACK else [ids] if ids else [])
    return out
