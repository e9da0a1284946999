"""DistillGenerator (context distillation per chunk) on the tiny model: prompts built from the text only,
the loss goes down, rank 8*K for K chunks, determinism, input/config validation, `make_generator`;
and one slow real-model check that the fitted adapter makes a fact of the document more likely."""

from __future__ import annotations

import pytest
import torch

from doc2lora_rag import AdapterGenerator, ConfigError, InputError, LoraWeights
from doc2lora_rag.generators import GENERATOR_KINDS, make_generator
from doc2lora_rag.generators.distill import (
    FACTS_PROMPT,
    SUMMARY_PROMPT,
    DistillConfig,
    DistillGenerator,
    build_prompts,
    extract_entities,
    split_sentences,
)

TEXT = (
    "Local notes\n\n"
    "Merros Holdings sells kitchen scales to customers across the region. The founder of the firm was "
    "Dr. Wenmaine Ammann. The company has a staff of 1711. The main offices of Merros Holdings are in "
    "Great Norvenstead.\n\nRoads in the district were poor until well into the last century."
)
CARD = "Record card for Balrodun Robotics\nEstablished | 1829\nStarted by | Selios Merliworth\nHeadcount | 4577"

# tiny-model settings: few short answers, few steps (the tiny model is random, so this is about mechanics)
TINY = dict(steps=6, lr=1e-2, max_prompts=4, max_answer_tokens=6, batch_size=4)


# -- prompts -------------------------------------------------------------------------------------


def test_split_sentences_keeps_titles_and_table_rows() -> None:
    s = split_sentences(TEXT)
    assert s[0] == "Local notes"
    assert "The founder of the firm was Dr. Wenmaine Ammann." in s  # "Dr." does not end a sentence
    assert s[-1] == "Roads in the district were poor until well into the last century."
    assert split_sentences(CARD)[1:] == ["Established | 1829", "Started by | Selios Merliworth", "Headcount | 4577"]


def test_extract_entities_finds_names_not_sentence_openers() -> None:
    ents = extract_entities(split_sentences(TEXT))
    assert ents[0] == "Merros Holdings"  # most frequent first
    assert set(ents) == {"Merros Holdings", "Dr. Wenmaine Ammann", "Great Norvenstead"}
    assert extract_entities(["The Cordamar stove came onto the market."]) == ["Cordamar"]
    assert extract_entities(["Storms cut the power.", "Every year it rains."]) == []


def test_prompts_are_built_from_the_text_only() -> None:
    prompts = build_prompts(TEXT, max_prompts=16)
    assert prompts == build_prompts(TEXT, max_prompts=16)  # deterministic
    assert prompts[:2] == [SUMMARY_PROMPT, FACTS_PROMPT]
    assert len(prompts) == len(set(prompts)) <= 16
    flat = " ".join(TEXT.split())
    for p in prompts[2:]:
        if p.startswith("What does the text say about "):
            assert p.removeprefix("What does the text say about ").removesuffix("?") in flat
        else:
            assert p.startswith("Complete the sentence: ")
            assert p.removeprefix("Complete the sentence: ") in flat
    assert "What does the text say about Merros Holdings?" in prompts
    assert "Complete the sentence: Merros Holdings sells kitchen scales" in prompts
    # another text gives other prompts: nothing comes from a fixed question list
    other = build_prompts(CARD, max_prompts=16)
    assert set(other[2:]).isdisjoint(prompts[2:])
    assert "Complete the sentence: Established |" in other


def test_prompt_cap_styles_and_spread() -> None:
    long_text = " ".join(f"Sentence number {i} talks about item {i} in detail." for i in range(40))
    prompts = build_prompts(long_text, max_prompts=6, styles=("cloze",))
    assert len(prompts) == 6 and all(p.startswith("Complete the sentence: ") for p in prompts)
    assert "number 0 talks" in prompts[0] and "number 39 talks" in prompts[-1]  # spread over the text
    assert build_prompts(TEXT, max_prompts=1) == [SUMMARY_PROMPT]
    about = build_prompts(TEXT, styles=("about",))
    assert about[0] == 'What does the text say about "Local notes"?' or about[0].startswith('What does the text say about "')
    with pytest.raises(InputError, match="unknown prompt styles"):
        build_prompts(TEXT, styles=("oracle",))
    with pytest.raises(InputError):
        build_prompts("   ")


# -- config and input validation ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [("rank", 0), ("steps", -1), ("lr", 0.0), ("lr", 2.0), ("batch_size", 0), ("max_prompts", 1.5),
     ("max_chunk_tokens", 4), ("targets", "down_proj"), ("targets", ()), ("layers", []), ("layers", [0, 0]),
     ("prompt_styles", ("summary", "bogus")), ("top_k", 0), ("grad_clip", -1.0), ("seed", "x")],
)
def test_config_rejects_bad_fields(field: str, value: object) -> None:
    with pytest.raises(ConfigError, match=field):
        DistillConfig(**{field: value})


def test_config_checked_against_the_base_model(make_tiny_base) -> None:
    base = make_tiny_base()
    with pytest.raises(ConfigError, match="layers"):
        DistillGenerator(base, DistillConfig(layers=(0, 5)))
    with pytest.raises(ConfigError, match="targets"):
        DistillGenerator(base, DistillConfig(targets=("nonexistent_proj",)))
    with pytest.raises(ConfigError, match="config"):
        DistillGenerator(base, {"steps": 3})  # type: ignore[arg-type]


def test_bad_input_raises_input_error(make_tiny_base) -> None:
    gen = DistillGenerator(make_tiny_base(), DistillConfig(**TINY))
    for bad in ("a plain string", [""], ["  \n"], [3], None):
        with pytest.raises(InputError):
            gen.generate(bad)  # type: ignore[arg-type]
    with pytest.raises(InputError):
        gen.fit_chunk("")


# -- fitting ---------------------------------------------------------------------------------------


def sharpened(base):
    """A random model's next-token distribution is nearly flat (top-16 mass ~ 16/49152, loss ~ 0);
    scaling the final norm makes its logits peaked, like a trained model's, so the loss means something."""
    with torch.no_grad():
        base.model.model.norm.weight.mul_(30.0)
    return base


def test_loss_decreases_and_base_model_is_left_untouched(make_tiny_base) -> None:
    base = sharpened(make_tiny_base())
    ids = torch.tensor([base.tokenizer("Who founded Merros Holdings?")["input_ids"]])
    with torch.no_grad():
        before = base.model(input_ids=ids, use_cache=False).logits
    weights = [p.detach().clone() for p in base.model.parameters()]
    gen = DistillGenerator(base, DistillConfig(**{**TINY, "steps": 10}))
    with torch.no_grad():  # callers may be under no_grad: fitting turns gradients on itself
        lora, report = gen.fit_chunk(TEXT)
    assert report.prompts and len(report.losses) == 10
    assert report.losses[-1] < 0.9 * report.losses[0], report.losses
    assert torch.count_nonzero(lora.b["down_proj"]) > 0  # B started at zero and moved
    with torch.no_grad():
        after = base.model(input_ids=ids, use_cache=False).logits
    assert torch.equal(before, after)  # no adapter left active, frozen weights unchanged
    assert all(torch.equal(w, p) for w, p in zip(weights, base.model.parameters(), strict=True))
    assert not any(p.requires_grad for p in base.model.parameters())
    # the fitted adapter lowers the distillation loss on its own prompts vs no adapter
    answers = gen.teacher_answers(TEXT, report.prompts)
    assert gen.distill_loss(answers, lora) < gen.distill_loss(answers, None)


def test_chunks_rank_layers_and_meta(make_tiny_base) -> None:
    base = make_tiny_base()
    gen = DistillGenerator(base, DistillConfig(**{**TINY, "steps": 1, "max_prompts": 2, "max_chunk_tokens": 24}))
    n_tokens = len(gen.tokenize(TEXT))
    k = -(-n_tokens // 24)
    assert k >= 2
    short, long = gen.generate(["Merros Holdings sells kitchen scales.", TEXT])
    for lora, chunks in ((short, 1), (long, k)):
        assert isinstance(lora, LoraWeights)
        assert lora.rank == 8 * chunks and lora.targets == ("down_proj",) and lora.layers == (0, 1)
        d_in, d_out = base.target_shape("down_proj")
        assert lora.a["down_proj"].shape == (2, 8 * chunks, d_in) and lora.b["down_proj"].shape == (2, d_out, 8 * chunks)
        assert lora.meta == {"generator": "distill", "chunks": chunks, "steps": 1}
        assert lora.base_model == base.name and lora.model_type == "llama" and lora.scaling == 1.0
        assert lora.a["down_proj"].dtype == torch.float32 and lora.a["down_proj"].device.type == "cpu"
    assert len(gen.last_reports) == 1 + k  # the last call's reports, one per chunk of every text
    ident = gen.identity()
    assert ident["kind"] == "distill" and ident["base_model"] == base.name and ident["rank"] == 8
    assert ident["steps"] == 1 and ident["targets"] == ["down_proj"] and ident["layers"] == [0, 1]
    assert gen.max_chunk_tokens == 24 and gen.base is base


def test_layers_subset_and_rank_setting(make_tiny_base) -> None:
    base = make_tiny_base()
    gen = DistillGenerator(base, DistillConfig(**{**TINY, "steps": 1, "max_prompts": 1, "rank": 4, "layers": (1,)}))
    (lora,) = gen.generate(["Merros Holdings sells kitchen scales."])
    assert lora.rank == 4 and lora.layers == (1,)


def test_deterministic_given_seed(make_tiny_base) -> None:
    cfg = DistillConfig(**{**TINY, "steps": 3, "batch_size": 2})  # mini-batches: the order is seeded too
    (x,) = DistillGenerator(make_tiny_base(), cfg).generate([TEXT])
    torch.manual_seed(999)  # the global RNG does not matter
    (y,) = DistillGenerator(make_tiny_base(), cfg).generate([TEXT])
    (z,) = DistillGenerator(make_tiny_base(), DistillConfig(**{**TINY, "steps": 3, "batch_size": 2, "seed": 1})).generate([TEXT])
    assert torch.equal(x.a["down_proj"], y.a["down_proj"]) and torch.equal(x.b["down_proj"], y.b["down_proj"])
    assert not torch.equal(x.a["down_proj"], z.a["down_proj"])


def test_existing_slots_are_reused(make_tiny_base) -> None:
    from doc2lora_rag.llm import AnswerEngine

    base = make_tiny_base()
    engine = AnswerEngine(base)
    gen = DistillGenerator(base, DistillConfig(**{**TINY, "steps": 1, "max_prompts": 1}))
    assert gen.slots is engine.slots
    (lora,) = gen.generate(["Merros Holdings sells kitchen scales."])
    assert engine.answer("Who sells kitchen scales?", lora, max_new_tokens=2).new_tokens >= 1


# -- choosing a generator ------------------------------------------------------------------------------


def test_make_generator_kinds(make_tiny_base) -> None:
    assert {"hypernet", "distill"} <= set(GENERATOR_KINDS)
    base = make_tiny_base()
    assert isinstance(make_generator("distill", base), DistillGenerator)
    assert isinstance(make_generator("hypernet", base), AdapterGenerator)
    with pytest.raises(InputError, match="hypernet"):
        make_generator("oracle", base)


# -- real model --------------------------------------------------------------------------------------


@pytest.mark.real_model
@pytest.mark.slow
def test_real_model_adapter_makes_own_fact_more_likely(real_base) -> None:
    """Fit one short document; the teacher-forced NLL of one of its facts drops with the adapter."""
    from doc2lora_rag.llm import prompt_ids

    doc = "Merros Holdings sells kitchen scales. The founder of Merros Holdings was Wenmaine Ammann."
    gen = DistillGenerator(real_base, DistillConfig(steps=12, lr=5e-3, max_prompts=8, max_answer_tokens=32))
    (lora,) = gen.generate([doc])
    tok = real_base.tokenizer
    prompt = prompt_ids(tok, "Who founded Merros Holdings?")
    answer = tok("Wenmaine Ammann", add_special_tokens=False)["input_ids"]
    ids = torch.tensor([prompt + answer])

    def nll(adapter: LoraWeights | None) -> float:
        with torch.no_grad():
            if adapter is None:
                ctx = real_base.slots.use(None)
            else:
                f = adapter.folded()
                ctx = real_base.slots.use_live({"down_proj": f.a["down_proj"][None]}, {"down_proj": f.b["down_proj"][None]}, f.layers)
            with ctx:
                logits = real_base.model(input_ids=ids, use_cache=False).logits[0].float()
        logp = torch.log_softmax(logits[len(prompt) - 1 : -1], dim=-1)
        return float(-logp.gather(1, torch.tensor(answer)[:, None]).mean())

    without, with_adapter = nll(None), nll(lora)
    assert with_adapter < without - 0.3, (without, with_adapter)
