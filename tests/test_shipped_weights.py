"""The weights in the wheel do their job: the packaged memory statistics (compact form) and transforms (with
the position scorer they carry), loaded the way a user gets them (`MemoryGenerator.default`), write
adapters that answer the sample corpus's fixed questions without the text in the prompt, where the bare
model answers none. A corrupt, stale or mismatched weights file fails here; nothing is fitted."""

from __future__ import annotations

from pathlib import Path

import pytest

from doc2lora_rag.evaluation import evaluate, load_qa

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
# 20 questions on the 5 sample documents, 48 new tokens, greedy: the packaged generator answered
# ADAPTER_OBSERVED of them (measured 2026-12-06 with the compact statistics and the transforms of 786 steps, the
# last 425 on natural text; the same count with the 361-step transforms); one fewer is tolerated.
ADAPTER_OBSERVED = 6


@pytest.mark.real_model
def test_packaged_transforms_answer_what_the_bare_model_cannot(real_base, tmp_path) -> None:
    from doc2lora_rag.generators.memory import MemoryGenerator, packaged_stats_dir, packaged_transforms_dir
    from doc2lora_rag.llm import AnswerEngine

    assert packaged_transforms_dir(real_base.name) is not None, "no memory transforms packaged for the embedded model"
    assert packaged_stats_dir(real_base.name) is not None, "no memory statistics packaged for the embedded model"
    gen = MemoryGenerator.default(real_base)
    assert gen.identity()["source"]["statistics"] == "packaged"
    assert gen.transforms is not None and gen.transforms.trained_steps > 0
    items = load_qa(EXAMPLES / "sample_qa.jsonl", EXAMPLES / "sample_corpus")
    assert len(items) == 20
    engine = AnswerEngine(real_base)
    bare = evaluate(items, EXAMPLES / "sample_corpus", "none", engine, out=tmp_path / "none.jsonl")
    adapter = evaluate(items, EXAMPLES / "sample_corpus", "adapter", engine, gen, out=tmp_path / "adapter.jsonl")
    correct = round(adapter["accuracy"] * len(items))
    assert bare["accuracy"] == 0.0, (tmp_path / "none.jsonl").read_text()
    assert correct >= ADAPTER_OBSERVED - 1, (tmp_path / "adapter.jsonl").read_text()


# the same 20 questions, each answered by a write over the sentence of its document closest to it (mode
# "selected", MiniLM): SELECTED_OBSERVED answered (measured 2026-12-06; 11 with the 361-step transforms); another
# document's sentence: none
SELECTED_OBSERVED = 13


@pytest.mark.real_model
def test_packaged_weights_written_for_the_question_answer_more(real_base, tmp_path) -> None:
    from doc2lora_rag.generators.memory import MemoryGenerator
    from doc2lora_rag.llm import AnswerEngine

    gen, engine = MemoryGenerator.default(real_base), AnswerEngine(real_base)
    items = load_qa(EXAMPLES / "sample_qa.jsonl", EXAMPLES / "sample_corpus")
    selected = evaluate(items, EXAMPLES / "sample_corpus", "selected", engine, gen, out=tmp_path / "selected.jsonl")
    wrong = evaluate(items, EXAMPLES / "sample_corpus", "wrong-selected", engine, gen, out=tmp_path / "wrong.jsonl")
    assert round(selected["accuracy"] * len(items)) >= SELECTED_OBSERVED - 1, (tmp_path / "selected.jsonl").read_text()
    assert wrong["accuracy"] <= 0.05, (tmp_path / "wrong.jsonl").read_text()
