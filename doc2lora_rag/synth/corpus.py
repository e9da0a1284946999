"""make_corpus: n deterministic documents of one split."""

from __future__ import annotations

import logging
import random

from ..errors import InputError
from .documents import SynthDoc
from .names import check_split, split_pools
from .render import MAX_ATTEMPTS, DocInfo, try_doc

logger = logging.getLogger(__name__)


def _check_int(name: str, value: object, lo: int, fix: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InputError(f"{name} must be an int, got {value!r} ({type(value).__name__}); {fix}")
    if value < lo:
        raise InputError(f"{name} must be >= {lo}, got {value}; {fix}")
    return value


def generate(
    n_docs: int, split: str = "train", seed: int = 0, min_tokens: int = 60, max_tokens: int = 600
) -> list[tuple[SynthDoc, DocInfo]]:
    """make_corpus, also returning each document's entity names and invented names."""
    _check_int("n_docs", n_docs, 1, "pass the number of documents to generate, e.g. n_docs=100")
    split = check_split(split)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise InputError(f"seed must be an int, got {seed!r} ({type(seed).__name__}); pass e.g. seed=0")
    _check_int("min_tokens", min_tokens, 40, "documents need at least 40 tokens to hold three facts")
    if min_tokens > 300:
        raise InputError(f"min_tokens must be <= 300, got {min_tokens}; longer minimums cannot be met reliably")
    _check_int("max_tokens", max_tokens, min_tokens + 40, "leave at least 40 tokens between min_tokens and max_tokens")
    pools = split_pools(split)
    out: list[tuple[SynthDoc, DocInfo]] = []
    for i in range(n_docs):
        rng = random.Random(f"doc2lora-synth:{split}:{seed}:{i}")
        doc_id = f"{split}-s{seed}-{i:05d}"
        for _ in range(MAX_ATTEMPTS):
            built = try_doc(rng, pools, doc_id, min_tokens, max_tokens)
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
    return [doc for doc, _ in generate(n_docs, split, seed, min_tokens, max_tokens)]
