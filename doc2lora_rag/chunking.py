"""Token-sized chunking of text with any Hugging Face (fast) tokenizer.

:func:`chunk_text` splits a text into overlapping chunks of at most
``chunk_tokens`` tokens. A chunk ends at the last paragraph break (blank line)
in the final quarter of its token window if there is one, else at the last
sentence end (``.``, ``!``, ``?`` or ``…``, optionally followed by a closing
quote or bracket, then whitespace) or line break there, else exactly at the
window's token limit. The next chunk starts ``overlap_tokens`` tokens before
the previous one ended.

The tokenizer only needs ``tokenizer(text, add_special_tokens=False,
return_offsets_mapping=True)`` returning a mapping with ``"offset_mapping"``
(every ``transformers`` *fast* tokenizer does). The text is tokenised in
windows of about 64k characters cut at whitespace, so memory stays bounded
by the window size plus the chunks produced, whatever the text length.

:func:`group_chunks` packs consecutive chunks into groups (one adapter each).
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from doc2lora_rag.errors import InputError

__all__ = ["Chunk", "chunk_text", "group_chunks"]

logger = logging.getLogger(__name__)

#: characters per tokenizer call; windows are cut at the start of a whitespace run
WINDOW_CHARS = 1 << 16
#: a boundary is looked for in the last quarter of each chunk's token window
BOUNDARY_FRACTION = 0.25

_SENTENCE_END = frozenset(".!?…。！？")
_CLOSERS = frozenset("\"'”’)]»")
_LOOKAHEAD_CHARS = 64
_WHITESPACE = re.compile(r"\s")


@dataclass(frozen=True)
class Chunk:
    """A piece of a text: ``text == source[start:end]`` with ``n_tokens`` tokens."""

    text: str
    start: int
    end: int
    n_tokens: int

    def __post_init__(self) -> None:
        if not isinstance(self.text, str):
            raise InputError(f"Chunk.text must be a str, got {type(self.text).__name__}; pass the chunk's text.")
        for name in ("start", "end", "n_tokens"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise InputError(f"Chunk.{name} must be a non-negative int, got {value!r}; pass a valid offset/count.")
        if self.end < self.start:
            raise InputError(f"Chunk.end ({self.end}) is before Chunk.start ({self.start}); pass offsets with start <= end.")


def chunk_text(text: str, tokenizer: Any, chunk_tokens: int = 256, overlap_tokens: int = 32) -> list[Chunk]:
    """Split ``text`` into chunks of at most ``chunk_tokens`` tokens overlapping by about ``overlap_tokens``.

    Offsets are character offsets into ``text``; chunk texts are stripped of
    leading and trailing whitespace (offsets adjusted accordingly).

    Raises:
        InputError: ``text`` is not a non-empty string, ``chunk_tokens < 8``,
            ``overlap_tokens`` is not in ``[0, chunk_tokens / 2)``, or the
            tokenizer cannot return offsets (a slow tokenizer).
    """
    _check_params(text, chunk_tokens, overlap_tokens)
    if not callable(tokenizer):
        raise InputError(
            f"tokenizer must be callable like a Hugging Face tokenizer, got {type(tokenizer).__name__}; "
            "pass e.g. AutoTokenizer.from_pretrained(name)."
        )
    min_cut = max(1, chunk_tokens - int(chunk_tokens * BOUNDARY_FRACTION))
    chunks: list[Chunk] = []
    buf: list[tuple[int, int]] = []
    for window_tokens in _token_offsets(text, tokenizer):
        buf.extend(window_tokens)
        pos = 0
        # emit only while more tokens follow the window, so the last chunk is cut at the end of the text
        while len(buf) - pos > chunk_tokens:
            cut = _choose_cut(text, buf, pos, chunk_tokens, min_cut)
            _emit(chunks, text, buf, pos, pos + cut)
            pos += cut - overlap_tokens
        del buf[:pos]
    if buf:
        _emit(chunks, text, buf, 0, len(buf))
    if not chunks:
        raise InputError(
            f"text of {len(text)} characters produced no tokens with {type(tokenizer).__name__}; pass text with visible content."
        )
    return chunks


def group_chunks(chunks: Sequence[Chunk], group_size: int) -> list[list[Chunk]]:
    """Pack consecutive chunks into lists of ``group_size`` (the last group may be shorter)."""
    if not isinstance(group_size, int) or isinstance(group_size, bool) or group_size < 1:
        raise InputError(f"group_size must be an int >= 1, got {group_size!r}; pass e.g. group_size=4.")
    if isinstance(chunks, (str, bytes)) or not isinstance(chunks, Sequence):
        raise InputError(f"chunks must be a sequence of Chunk, got {type(chunks).__name__}; pass the list from chunk_text().")
    for index, chunk in enumerate(chunks):
        if not isinstance(chunk, Chunk):
            raise InputError(f"chunks[{index}] is {type(chunk).__name__}, not Chunk; pass the list returned by chunk_text().")
    return [list(chunks[i : i + group_size]) for i in range(0, len(chunks), group_size)]


# --------------------------------------------------------------------------- helpers


def _check_params(text: object, chunk_tokens: object, overlap_tokens: object) -> None:
    if not isinstance(text, str):
        raise InputError(
            f"text must be a str, got {type(text).__name__} {text!r:.60}; pass the document's text (e.g. Document.text)."
        )
    if not text.strip():
        raise InputError(f"text is empty or only whitespace ({text!r:.60}); pass a text with content.")
    if not isinstance(chunk_tokens, int) or isinstance(chunk_tokens, bool) or chunk_tokens < 8:
        raise InputError(f"chunk_tokens must be an int >= 8, got {chunk_tokens!r}; pass e.g. chunk_tokens=256.")
    if (
        not isinstance(overlap_tokens, int)
        or isinstance(overlap_tokens, bool)
        or overlap_tokens < 0
        or 2 * overlap_tokens >= chunk_tokens
    ):
        raise InputError(
            f"overlap_tokens must be an int with 0 <= overlap_tokens < chunk_tokens / 2 "
            f"(= {chunk_tokens / 2:g}), got {overlap_tokens!r}; pass e.g. overlap_tokens={chunk_tokens // 8}."
        )


def _windows(text: str) -> Iterator[tuple[int, int]]:
    """Yield ``(start, end)`` character windows; each cut falls where a whitespace run begins."""
    n = len(text)
    start = 0
    while start < n:
        end = min(start + WINDOW_CHARS, n)
        if end < n:
            end = _window_cut(text, start, end)
        yield start, end
        start = end


def _window_cut(text: str, start: int, end: int) -> int:
    """Move ``end`` to the start of a whitespace run: backwards, else forwards (<= 4 windows), else keep it."""
    cut = end
    while cut > start and not text[cut].isspace():
        cut -= 1
    while cut > start and text[cut - 1].isspace():
        cut -= 1
    if cut > start:
        return cut
    match = _WHITESPACE.search(text, end, min(len(text), start + 4 * WINDOW_CHARS))
    return match.start() if match else end  # one very long "word": cut it (tokens may differ there)


def _token_offsets(text: str, tokenizer: Any) -> Iterator[list[tuple[int, int]]]:
    """Yield, per window, the tokens' absolute ``(start, end)`` character offsets."""
    last_end = 0
    # transformers tokenizers accept verbose=False (no "sequence longer than max length" warning: windows
    # are longer than the model's context on purpose); other tokenizer-like objects may not
    extra: dict[str, bool] = {"verbose": False}
    for w_start, w_end in _windows(text):
        window_text = text[w_start:w_end]
        try:
            try:
                encoding = tokenizer(window_text, add_special_tokens=False, return_offsets_mapping=True, **extra)
            except TypeError:
                if not extra:
                    raise
                extra = {}
                encoding = tokenizer(window_text, add_special_tokens=False, return_offsets_mapping=True)
            offsets = encoding["offset_mapping"]
        except (NotImplementedError, KeyError, TypeError) as exc:
            raise InputError(
                f"tokenizer {type(tokenizer).__name__} cannot return offset mappings ({type(exc).__name__}: "
                f"{exc}); pass a fast tokenizer, e.g. AutoTokenizer.from_pretrained(name, use_fast=True)."
            ) from exc
        if offsets and isinstance(offsets[0], list) and offsets[0] and not isinstance(offsets[0][0], int):
            offsets = offsets[0]  # a batched result for a single text
        window: list[tuple[int, int]] = []
        for s, e in offsets:
            s, e = int(s) + w_start, int(e) + w_start
            # keep offsets monotonic (byte-level tokenizers may repeat a character's span)
            s = max(s, min(last_end, e))
            window.append((s, e))
            last_end = max(last_end, e)
        yield window


def _choose_cut(text: str, buf: list[tuple[int, int]], pos: int, chunk_tokens: int, min_cut: int) -> int:
    """Number of tokens from ``buf[pos]`` in the next chunk: at a boundary in the last quarter, else the limit."""
    best_sentence = 0
    for count in range(chunk_tokens, min_cut - 1, -1):
        end = buf[pos + count - 1][1]
        next_start = buf[pos + count][0]
        kind = _boundary_kind(text, end, next_start)
        if kind == 2:
            return count
        if kind == 1 and not best_sentence:
            best_sentence = count
    return best_sentence or chunk_tokens


def _boundary_kind(text: str, end: int, next_start: int) -> int:
    """2: paragraph break after ``end``; 1: sentence end or line break; 0: neither."""
    j = end
    while j > 0 and text[j - 1].isspace():
        j -= 1  # the token itself may carry trailing whitespace (e.g. a "\n\n" token)
    k = j
    limit = min(len(text), max(next_start, end) + _LOOKAHEAD_CHARS)
    while k < limit and text[k].isspace():
        k += 1
    if k == j:
        return 0  # the token's content is followed by more content: mid-word or mid-sentence
    gap = text[j:k]
    newlines = gap.count("\n")
    if newlines >= 2:
        return 2
    if newlines == 1:
        return 1
    i = j - 1
    while i > 0 and text[i] in _CLOSERS:
        i -= 1
    return 1 if i >= 0 and text[i] in _SENTENCE_END else 0


def _emit(chunks: list[Chunk], text: str, buf: list[tuple[int, int]], lo: int, hi: int) -> None:
    start = buf[lo][0]
    end = max(e for _, e in buf[lo:hi])
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    if start >= end:
        return
    if chunks and chunks[-1].start <= start and end <= chunks[-1].end:
        return  # only whitespace tokens were left after the previous chunk: nothing new
    chunks.append(Chunk(text=text[start:end], start=start, end=end, n_tokens=hi - lo))


def split_equal(ids: list[int], max_tokens: int) -> list[list[int]]:
    """Split token ids into K = ceil(n / max_tokens) near-equal consecutive chunks (how a generator reads a long group)."""
    k = max(1, math.ceil(len(ids) / max_tokens))
    size = math.ceil(len(ids) / k)
    return [ids[i : i + size] for i in range(0, len(ids), size)]
