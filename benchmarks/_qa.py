"""Greedy accuracy of a set of questions, shared by the benchmark scripts that build documents in memory
(`doc2lora eval` / `evaluation.evaluate` reads documents from disk and reports more than accuracy)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from doc2lora_rag.evaluation import is_correct
from doc2lora_rag.llm import AnswerEngine


def synth_questions(docs: Sequence[Any], per_doc: int = 2) -> list[tuple[int, str, tuple[str, ...]]]:
    """(document index, question, gold answers) for the first `per_doc` answerable questions of each synthetic document."""
    return [(i, q.question, tuple(q.answers)) for i, d in enumerate(docs) for q in [q for q in d.qas if q.answers][:per_doc]]


def accuracy(engine: AnswerEngine, items: Sequence[tuple[Any, str, Sequence[str]]], texts: Mapping[Any, str] | Sequence[str],
             adapters: Mapping[Any, Any] | Sequence[Any] | None = None, contexts: bool = False, max_new_tokens: int = 48) -> float:
    """Share of `items` (document key, question, gold answers) answered correctly, in batches of 8.

    `adapters[key]` is active for a question when given; `texts[key]` is in the prompt when `contexts`.
    """
    correct = 0
    for start in range(0, len(items), 8):
        batch = items[start : start + 8]
        answers = engine.answer_batch(
            [q for _, q, _ in batch], [adapters[k] for k, _, _ in batch] if adapters else None,
            [texts[k] for k, _, _ in batch] if contexts else None, max_new_tokens=max_new_tokens,
        )
        correct += sum(is_correct(a.text, gold) for (_, _, gold), a in zip(batch, answers))
    return correct / len(items)
