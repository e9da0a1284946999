"""The one prompt format every answering mode shares, and batching of prompts (left padding).

Used by the answer engine, the distill generator's teacher, the training teacher and the objective:
a question is asked the same way everywhere, with or without the document text before it.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

SYSTEM_PROMPT = "Answer the question briefly, in a few words."


def build_messages(question: str, context: str | None = None) -> list[dict[str, str]]:
    """The one prompt format every mode shares; `context` adds the document text before the question."""
    user = f"Question: {question}" if context is None else f"{context}\n\nQuestion: {question}"
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user}]


def prompt_ids(tokenizer, question: str, context: str | None = None) -> list[int]:
    ids = tokenizer.apply_chat_template(build_messages(question, context), add_generation_prompt=True, tokenize=True)
    if isinstance(ids, dict) or hasattr(ids, "keys"):
        ids = ids["input_ids"]
    return list(ids)


def left_pad(rows: Sequence[Sequence[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Left-pad token id lists for batched generation: (input_ids, attention_mask), both (B, T), on the CPU."""
    T = max(len(r) for r in rows)
    ids = torch.full((len(rows), T), pad_id, dtype=torch.long)
    mask = torch.zeros(len(rows), T, dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, T - len(r) :] = torch.tensor(r)
        mask[i, T - len(r) :] = 1
    return ids, mask
