"""Tests of doc2lora_rag.chunking with the offline all-MiniLM tokenizer and a tiny word tokenizer."""

from __future__ import annotations

import random
import re
from itertools import pairwise
from typing import Any

import pytest

from doc2lora_rag import chunking
from doc2lora_rag.chunking import Chunk, chunk_text, group_chunks
from doc2lora_rag.errors import InputError


class WordTokenizer:
    """One token per whitespace-separated word; no ``verbose`` keyword (like a non-transformers tokenizer)."""

    def __call__(self, text: str, add_special_tokens: bool = False, return_offsets_mapping: bool = True) -> dict:
        return {"offset_mapping": [(m.start(), m.end()) for m in re.finditer(r"\S+", text)]}


@pytest.fixture(scope="module")
def hf_tokenizer() -> Any:
    transformers = pytest.importorskip("transformers")
    from doc2lora_rag.routing import minilm_model_dir

    return transformers.AutoTokenizer.from_pretrained(str(minilm_model_dir()))


def make_text(n_paragraphs: int, seed: int = 0) -> str:
    rng = random.Random(seed)
    words = "harbour keeper lantern archive festival vessel tide granite council orchard the of and a to".split()
    paragraphs = []
    for _ in range(n_paragraphs):
        sentences = [
            " ".join(rng.choice(words) for _ in range(rng.randint(4, 30))).capitalize() + rng.choice(".!?")
            for _ in range(rng.randint(1, 6))
        ]
        paragraphs.append(" ".join(sentences))
    return "\n\n".join(paragraphs)


def n_words(text: str) -> int:
    return len(text.split())


# ------------------------------------------------------------------------------ validation


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"text": 5}, "text must be a str"),
        ({"text": ""}, "empty"),
        ({"text": " \n\t "}, "empty"),
        ({"chunk_tokens": 7}, "chunk_tokens"),
        ({"chunk_tokens": True}, "chunk_tokens"),
        ({"chunk_tokens": 64.0}, "chunk_tokens"),
        ({"overlap_tokens": -1}, "overlap_tokens"),
        ({"chunk_tokens": 64, "overlap_tokens": 32}, "overlap_tokens"),
    ],
)
def test_invalid_arguments(kwargs: dict, match: str) -> None:
    args = {"text": "Some text.", "tokenizer": WordTokenizer(), "chunk_tokens": 64, "overlap_tokens": 8} | kwargs
    with pytest.raises(InputError, match=match):
        chunk_text(**args)


def test_tokenizer_without_offsets_is_rejected() -> None:
    def slow(text: str, **kwargs: Any) -> dict:
        raise NotImplementedError("return_offset_mapping is not available when using Python tokenizers")

    with pytest.raises(InputError, match="fast tokenizer"):
        chunk_text("Some text here.", slow)
    with pytest.raises(InputError, match="callable"):
        chunk_text("Some text here.", object())


def test_chunk_validation() -> None:
    with pytest.raises(InputError, match="before"):
        Chunk("x", 5, 2, 1)
    with pytest.raises(InputError, match="n_tokens"):
        Chunk("x", 0, 1, -1)


# ------------------------------------------------------------------------------- behaviour


def test_short_text_is_one_stripped_chunk() -> None:
    text = "\n  Just a short note.  \n"
    (chunk,) = chunk_text(text, WordTokenizer(), 16, 2)
    assert chunk == Chunk("Just a short note.", 3, 21, 4)


def test_cuts_at_token_limit_without_boundaries_and_overlaps_exactly() -> None:
    text = " ".join(f"w{i}" for i in range(100))
    chunks = chunk_text(text, WordTokenizer(), 16, 4)
    assert [n_words(c.text) for c in chunks[:-1]] == [16] * (len(chunks) - 1)
    for prev, nxt in pairwise(chunks):
        assert prev.text.split()[-4:] == nxt.text.split()[:4]
    assert chunks[-1].text.endswith("w99") and chunks[0].text.startswith("w0 ")


def test_prefers_paragraph_then_sentence_boundaries_in_last_quarter() -> None:
    words = [f"w{i}" for i in range(60)]
    # window of 32 tokens: the last quarter is tokens 24..32
    sentence = " ".join(words[:26]) + ". " + " ".join(words[26:29]) + "\n\n" + " ".join(words[29:])
    chunks = chunk_text(sentence, WordTokenizer(), 32, 4)
    assert chunks[0].text.endswith("w28") and chunks[0].n_tokens == 29  # paragraph break wins
    only_sentence = " ".join(words[:26]) + ". " + " ".join(words[26:])
    assert chunk_text(only_sentence, WordTokenizer(), 32, 4)[0].text.endswith("w25.")
    early = " ".join(words[:10]) + ".\n\n" + " ".join(words[10:])  # boundary too early: ignored
    assert chunk_text(early, WordTokenizer(), 32, 4)[0].n_tokens == 32
    quoted = " ".join(words[:27]) + '!" ' + " ".join(words[27:])
    assert chunk_text(quoted, WordTokenizer(), 32, 4)[0].text.endswith('w26!"')


def test_invariants_with_real_tokenizer(hf_tokenizer: Any) -> None:
    text = make_text(120)
    chunks = chunk_text(text, hf_tokenizer, 64, 8)
    assert len(chunks) > 10
    for chunk in chunks:
        assert text[chunk.start : chunk.end] == chunk.text and chunk.text == chunk.text.strip()
        assert chunk.n_tokens <= 64
        assert len(hf_tokenizer(chunk.text, add_special_tokens=False)["input_ids"]) <= 64
    covered = [False] * len(text)
    for prev, nxt in pairwise(chunks):
        assert prev.start < nxt.start < prev.end < nxt.end  # ordered and overlapping
    for chunk in chunks:
        covered[chunk.start : chunk.end] = [True] * (chunk.end - chunk.start)
    assert all(covered[i] for i, ch in enumerate(text) if not ch.isspace())
    ends_at_boundary = sum(c.text[-1] in ".!?" for c in chunks[:-1]) / (len(chunks) - 1)
    assert ends_at_boundary > 0.8


def test_windowed_tokenisation_matches_single_window(hf_tokenizer: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    text = make_text(40, seed=3) + " " + "x" * 300 + " tail words here."
    whole = chunk_text(text, hf_tokenizer, 48, 6)
    monkeypatch.setattr(chunking, "WINDOW_CHARS", 97)
    assert chunk_text(text, hf_tokenizer, 48, 6) == whole
    assert chunk_text(text, WordTokenizer(), 48, 6) == chunk_text(text, WordTokenizer(), 48, 6)


def test_long_text_many_windows() -> None:
    text = make_text(3000, seed=1)  # ~150k words, several tokenizer windows
    chunks = chunk_text(text, WordTokenizer(), 256, 32)
    assert all(c.n_tokens <= 256 for c in chunks)
    assert chunks[-1].end == len(text.rstrip())
    assert sum(c.n_tokens for c in chunks) - 32 * (len(chunks) - 1) <= n_words(text)


# ------------------------------------------------------------------------------- grouping


def test_group_chunks() -> None:
    chunks = [Chunk(f"c{i}", i, i + 1, 1) for i in range(7)]
    groups = group_chunks(chunks, 3)
    assert [[c.text for c in g] for g in groups] == [["c0", "c1", "c2"], ["c3", "c4", "c5"], ["c6"]]
    assert group_chunks([], 2) == []
    assert group_chunks(tuple(chunks), 10) == [chunks]
    for bad in (0, -1, 1.5, True):
        with pytest.raises(InputError, match="group_size"):
            group_chunks(chunks, bad)  # type: ignore[arg-type]
    with pytest.raises(InputError, match="Chunk"):
        group_chunks(["c0"], 2)  # type: ignore[list-item]
