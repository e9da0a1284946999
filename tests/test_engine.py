"""AnswerEngine: answers and streaming on the tiny model, adapter effects, slot cache correctness;
on the embedded model (`real_model`), context answers carry an invented fact the bare model lacks."""

from __future__ import annotations

import pytest
import torch

from doc2lora_rag import AdapterGenerator, ConfigError, InputError, LoraWeights
from doc2lora_rag.llm import Answer, AnswerEngine, prompt_ids

QUESTION = "Who built the lighthouse?"
TEXTS = [
    "The lighthouse on Kessel Point was built in 1871 by the engineer Ada Morrow.",
    "Quinoa prices in the Altiplano doubled after the 2013 harvest.",
    "Seven ferries cross the strait every day in summer.",
    "The museum keeps a violin made in Cremona in 1698.",
]


def perturbed_generator(base, seed: int = 0) -> AdapterGenerator:
    gen = AdapterGenerator.untrained(base)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        gen.hypernet.scale_b.copy_(torch.randn(gen.hypernet.scale_b.shape, generator=g) * 0.3)
    return gen


def with_id(lora: LoraWeights, adapter_id: str) -> LoraWeights:
    return LoraWeights(lora.a, lora.b, lora.layers, lora.scaling, lora.base_model, lora.model_type, {"id": adapter_id})


@pytest.fixture
def engine(make_tiny_base) -> AnswerEngine:
    return AnswerEngine(make_tiny_base(), num_slots=2, max_rank=16, grow=False)


@pytest.fixture
def adapters(engine) -> list[LoraWeights]:
    return perturbed_generator(engine.base).generate(TEXTS)


def test_answer_returns_an_answer(engine) -> None:
    out = engine.answer(QUESTION, max_new_tokens=5)
    assert isinstance(out, Answer)
    assert isinstance(out.text, str) and out.text == out.text.strip()
    assert 1 <= out.new_tokens <= 5 and out.seconds > 0 and out.adapter_ids == []
    assert out.prompt_tokens == len(prompt_ids(engine.base.tokenizer, QUESTION))
    assert engine.answer(QUESTION, context=TEXTS[0], max_new_tokens=2).prompt_tokens > out.prompt_tokens


def test_stream_concatenates_to_the_greedy_answer(engine, adapters) -> None:
    for lora in (None, adapters[0]):
        full = engine.answer(QUESTION, lora, max_new_tokens=12)
        pieces = list(engine.stream(QUESTION, lora, max_new_tokens=12))
        assert all(isinstance(p, str) and p for p in pieces)
        assert "".join(pieces).strip() == full.text
    assert full.text  # the adapted answer is not empty, so the comparison above means something


def test_defer_to_text_spans_classic_rag_to_plain_hybrid(engine, adapters) -> None:
    context = TEXTS[0]
    rag = engine.answer(QUESTION, None, context, max_new_tokens=10).text
    hybrid = engine.answer(QUESTION, adapters[0], context, max_new_tokens=10).text
    assert rag != hybrid  # the adapter changes the answer, so the two ends below are told apart
    assert engine.answer(QUESTION, adapters[0], context, max_new_tokens=10, defer_to_text=0.0).text == rag
    assert engine.answer(QUESTION, adapters[0], context, max_new_tokens=10, defer_to_text=1.5).text == hybrid
    streamed = "".join(engine.stream(QUESTION, adapters[0], context, max_new_tokens=10, defer_to_text=0.0)).strip()
    assert streamed == rag
    # without context there is nothing to defer to: the adapters answer as usual
    assert engine.answer(QUESTION, adapters[0], max_new_tokens=6, defer_to_text=0.5).text == engine.answer(QUESTION, adapters[0], max_new_tokens=6).text
    for bad in (-0.1, "high", True):
        with pytest.raises(InputError, match="defer_to_text"):
            engine.answer(QUESTION, adapters[0], context, defer_to_text=bad)


def test_stop_strings_end_generation_early(engine, adapters) -> None:
    lora = adapters[0]
    full = engine.answer(QUESTION, lora, max_new_tokens=24)
    assert full.new_tokens == 24  # the tiny random model never emits end-of-turn on its own
    stop = full.text[len(full.text) // 3 : len(full.text) // 3 + 3]
    assert stop.strip(), full.text
    early = engine.answer(QUESTION, lora, max_new_tokens=24, stop=[stop])
    assert early.new_tokens < full.new_tokens  # generation itself stopped, not only the text
    assert full.text.startswith(early.text) and stop.strip() in early.text  # greedy: a prefix that reaches the stop
    streamed = "".join(engine.stream(QUESTION, lora, max_new_tokens=24, stop=[stop]))
    assert streamed.strip() == early.text


@pytest.mark.parametrize("question", ["", "   ", None, 3, ["q"]])
def test_bad_question_raises(engine, question) -> None:
    with pytest.raises(InputError, match="question"):
        engine.answer(question)
    with pytest.raises(InputError, match="question"):
        list(engine.stream(question))


@pytest.mark.parametrize("max_new_tokens", [0, -1, 2.5, "8", None])
def test_bad_max_new_tokens_raises(engine, max_new_tokens) -> None:
    with pytest.raises(InputError, match="max_new_tokens"):
        engine.answer(QUESTION, max_new_tokens=max_new_tokens)


def test_bad_context_raises(engine) -> None:
    with pytest.raises(InputError, match="context"):
        engine.answer(QUESTION, context=["not", "a", "string"])


def test_adapter_changes_logits_and_output(engine, adapters) -> None:
    ids = torch.tensor([prompt_ids(engine.base.tokenizer, QUESTION)])
    with torch.no_grad():
        plain = engine.base.model(input_ids=ids).logits
        engine.slots.load(0, adapters[0])
        with engine.slots.use(0):
            adapted = engine.base.model(input_ids=ids).logits
    assert (adapted - plain).abs().max() > 1e-2
    none = engine.answer(QUESTION, max_new_tokens=8)
    with_adapter = engine.answer(QUESTION, adapters[0], max_new_tokens=8)
    assert with_adapter.text != none.text


def test_rank_above_max_rank_raises(engine, adapters) -> None:
    with pytest.raises(InputError, match="max_rank"):
        engine.answer(QUESTION, adapters[:3], max_new_tokens=2)  # 3 x rank 8 > 16
    assert engine.answer(QUESTION, adapters[:2], max_new_tokens=2).new_tokens >= 1  # 16 fits


def test_cached_slots_stay_correct_after_a_failed_load(engine, adapters, make_tiny_base) -> None:
    """A refused request must not make two cache entries share one slot."""
    fresh = AnswerEngine(make_tiny_base(), num_slots=2, max_rank=16)
    b, a, c, d = (with_id(x, name) for x, name in zip(adapters, "bacd"))
    expected_b = fresh.answer(QUESTION, b, max_new_tokens=8).text
    assert expected_b != fresh.answer(QUESTION, max_new_tokens=8).text  # b's answer shows whether b is active
    engine.answer(QUESTION, a, max_new_tokens=1)
    engine.answer(QUESTION, b, max_new_tokens=1)
    with pytest.raises(InputError, match="max_rank"):
        engine.answer(QUESTION, [c, d, a], max_new_tokens=1)
    engine.answer(QUESTION, d, max_new_tokens=1)
    assert engine.answer(QUESTION, b, max_new_tokens=8).text == expected_b
    assert fresh.answer(QUESTION, d, max_new_tokens=8).text != expected_b  # d would have been distinguishable


def test_adapters_without_id_are_never_served_stale(engine, adapters, make_tiny_base) -> None:
    """Anonymous adapters must not be cached by object identity (ids are reused after garbage collection)."""
    fresh = AnswerEngine(make_tiny_base(), num_slots=2, max_rank=16)
    lora = LoraWeights(
        {t: v.clone() for t, v in adapters[0].a.items()},
        {t: v.clone() for t, v in adapters[0].b.items()},
        adapters[0].layers,
        1.0,
        adapters[0].base_model,
        adapters[0].model_type,
    )
    first = engine.answer(QUESTION, lora, max_new_tokens=8).text
    lora.b["down_proj"].copy_(adapters[3].b["down_proj"])  # same object, different weights
    lora.a["down_proj"].copy_(adapters[3].a["down_proj"])
    second = engine.answer(QUESTION, lora, max_new_tokens=8).text
    assert second == fresh.answer(QUESTION, adapters[3], max_new_tokens=8).text
    assert second != first
    gen = perturbed_generator(engine.base)  # freshly generated, then dropped: ids get reused
    for text in TEXTS:
        got = engine.answer(QUESTION, gen.generate([text])[0], max_new_tokens=6).text
        assert got == fresh.answer(QUESTION, gen.generate([text])[0], max_new_tokens=6).text, text


# -- embedded model -----------------------------------------------------------------------------

FACTS = [
    (
        "The Zorbulon Institute is a small research centre in the town of Pellisford. It was founded in 1987 by "
        "Marta Kelvingrove, a marine biologist, and studies deep-sea sponges.",
        "Who founded the Zorbulon Institute?",
        "Kelvingrove",
    ),
    (
        "The Velmora Chess Club was founded by Ingrid Saltmarsh in 1952. The club meets every Thursday in the old library.",
        "Who founded the Velmora Chess Club?",
        "Saltmarsh",
    ),
]


@pytest.fixture(scope="module")
def real_engine(real_base) -> AnswerEngine:
    return AnswerEngine(real_base)


@pytest.fixture(scope="module")
def context_answers(real_engine) -> list[Answer]:
    return [real_engine.answer(q, context=doc, max_new_tokens=20) for doc, q, _ in FACTS]


@pytest.mark.real_model
def test_context_answers_contain_the_fact(context_answers) -> None:
    for (_, _, fact), ans in zip(FACTS, context_answers):
        assert fact in ans.text, ans.text


@pytest.mark.real_model
def test_without_context_the_fact_is_unknown(real_engine) -> None:
    doc, question, fact = FACTS[0]
    ans = real_engine.answer(question, max_new_tokens=20)
    assert ans.text and fact not in ans.text


@pytest.mark.real_model
def test_streaming_on_the_embedded_model(real_engine, context_answers) -> None:
    doc, question, fact = FACTS[1]
    pieces = list(real_engine.stream(question, context=doc, max_new_tokens=20))
    assert len(pieces) > 3
    assert "".join(pieces).strip() == context_answers[1].text
    assert fact in "".join(pieces)


def test_the_base_model_owns_one_set_of_slots(make_tiny_base) -> None:
    base = make_tiny_base()
    first = base.ensure_slots(num_slots=2, max_rank=8)
    engine = AnswerEngine(base, num_slots=4, max_rank=40)
    assert engine.slots is first is base.slots and first.max_rank >= 40 and first.num_slots == 2  # shared, grown, not rebuilt
    with pytest.raises(ConfigError, match="not wrapped"):
        base.ensure_slots(("q_proj",))
    assert base.ensure_slots() is first


def test_deferring_decoding_hands_an_adapter_loop_to_the_text() -> None:
    from doc2lora_rag.llm import _DeferToText, repeats_ngram

    assert repeats_ngram([5, 6, 7, 8, 5, 6, 7, 8], 4) and not repeats_ngram([5, 6, 7, 8, 5, 6, 7, 9], 4)
    assert not repeats_ngram([5, 5, 5], 4) and not repeats_ngram([5, 5, 5, 5, 5], 0)
    flat = torch.zeros(2, 12)
    flat[0, 3] = 0.5  # the text row's best token, far below 0.2 probability over 12 tokens
    flat[1, 8] = 9.0  # the adapter row's: 8
    proc = _DeferToText(0.2)
    prompt = torch.tensor([[1, 2], [1, 2]])
    assert int(proc(prompt, flat.clone()).argmax(-1)[1]) == 8  # no loop: the adapters decide
    answer = torch.tensor([[1, 2, 5, 6, 7, 8, 5, 6, 7]] * 2)  # a second 8 would repeat 5 6 7 8
    assert proc(answer, flat.clone()).argmax(-1).tolist() == [3, 3]
    sure = flat.clone()
    sure[0, 3] = 9.0  # the text is sure: its token, loop or not
    assert proc(prompt, sure).argmax(-1).tolist() == [3, 3]
