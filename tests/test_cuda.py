"""The same paths on a CUDA device as on the CPU (tiny model): adapters generated on the GPU equal the
CPU's, a store on the GPU routes, writes jointly and answers in every mode as the CPU's does (the
deferring hybrid's two rows included), a batch with a different adapter per row answers alike, a routed
set exported to PEFT gives the engine's logits on the GPU, and the memory trainer takes its steps there.
Skipped where no CUDA device is present (CI)."""

from __future__ import annotations

import copy
import json

import pytest
import torch
from test_store import HashEmbedder
from tiny import ANSWERS, TEXTS, load_tiny_memory, save_tiny_memory

from doc2lora_rag import LoraWeights
from doc2lora_rag.generators.memory import MemoryGenerator
from doc2lora_rag.llm import AnswerEngine
from doc2lora_rag.rag import StoreQA
from doc2lora_rag.store import AdapterStore
from doc2lora_rag.training.memory_trainer import MemoryTrainConfig, train_memory

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")

QUESTIONS = ["Who founded Merros Holdings?", "When was Balrodun Robotics established?", "What is the Pramund Kite Festival famous for?"]
T = "down_proj"


@pytest.fixture
def pair(make_tiny_base, tmp_path) -> tuple[MemoryGenerator, MemoryGenerator]:
    """The same memory generator (statistics and random transforms from folders) on the CPU and on the GPU."""
    cpu = make_tiny_base(num_layers=3)
    save_tiny_memory(cpu, tmp_path)
    gpu = make_tiny_base(num_layers=3)
    gpu.model.to("cuda")
    return load_tiny_memory(cpu, tmp_path), load_tiny_memory(gpu, tmp_path)


def _deltas(lora: LoraWeights) -> torch.Tensor:
    return torch.stack([lora.delta(T, layer).float().cpu() for layer in lora.layers])


def _close(got: torch.Tensor, want: torch.Tensor, rel: float = 1e-3) -> bool:
    return bool((got.float().cpu() - want.float().cpu()).norm() <= rel * want.float().norm())


def test_adapters_generated_on_the_gpu_equal_the_cpus(pair) -> None:
    cpu, gpu = pair
    assert gpu.base.device.type == "cuda"
    for want, got in zip(cpu.generate(TEXTS), gpu.generate(TEXTS)):
        assert _close(_deltas(got), _deltas(want))


def test_a_store_on_the_gpu_routes_writes_and_answers_as_on_the_cpu(pair, tmp_path) -> None:
    stores, joints, answers = [], [], []
    for name, gen in zip(("cpu", "gpu"), pair):
        store = AdapterStore(tmp_path / name, gen, router=HashEmbedder(), chunk_tokens=16, group_size=2, overlap_tokens=2)
        store.add_texts(TEXTS, ids=["merros", "balrodun", "pramund"])
        ids = [e.id for e in store.entries()][:3]
        (joint,) = store.routed_adapters(ids)
        joints.append(joint)
        qa = StoreQA(store, AnswerEngine(gen.base, num_slots=2, max_rank=4))
        answers.append([qa.answer(q, mode=mode, k=2, max_new_tokens=6).answer
                        for q in QUESTIONS for mode in ("adapter", "rag", "hybrid", "none")])
        answers[-1].append("".join(qa.stream(QUESTIONS[0], mode="hybrid", k=2, max_new_tokens=6)))
        stores.append(store)
    assert _close(_deltas(joints[1]), _deltas(joints[0]))
    assert answers[1] == answers[0]
    for store in stores:
        store.close()


def test_a_batch_with_a_different_adapter_per_row_answers_on_the_gpu_as_on_the_cpu(pair) -> None:
    """`answer_batch` with per-row adapters (the evaluation's path): the rows' adapters are built on the CPU
    and must reach the model's device."""
    answers = []
    for gen in pair:
        rows = [*gen.generate(TEXTS), None]
        engine = AnswerEngine(gen.base, num_slots=2, max_rank=4)
        answers.append([a.text for a in engine.answer_batch([*QUESTIONS, QUESTIONS[0]], rows, max_new_tokens=6)])
    assert answers[1] == answers[0]


def test_the_engines_logits_with_adapters_on_the_gpu_equal_the_cpus_and_an_exported_peft_folders(pair, tmp_path) -> None:
    from peft import PeftModel

    logits = []
    for name, gen in zip(("cpu", "gpu"), pair):
        joint = gen.combine(gen.generate(TEXTS[:2]))
        tokens = torch.tensor([gen.base.tokenizer(QUESTIONS[0])["input_ids"]], device=gen.base.device)
        plain = copy.deepcopy(gen.base.model)  # before the engine wraps the model's Linears
        engine = AnswerEngine(gen.base, num_slots=1, max_rank=4)
        with torch.no_grad(), engine.slots.use(engine.adapters.activate(engine.slots, [joint], f"cuda-test-{name}")):
            logits.append(gen.base.model(input_ids=tokens).logits.float().cpu())
        if name == "gpu":
            peft_model = PeftModel.from_pretrained(plain, str(joint.to_peft(tmp_path / "peft"))).eval()
            with torch.no_grad():
                exported = peft_model(input_ids=tokens).logits.float().cpu()
            assert (exported - logits[-1]).abs().max() <= 1e-3 * logits[-1].abs().max()
    assert (logits[1] - logits[0]).abs().max() <= 1e-3 * logits[0].abs().max()


def test_the_memory_trainer_steps_on_the_gpu_as_on_the_cpu(pair, tmp_path) -> None:
    lines = [json.dumps({"text": t, "questions": [{"question": q, "answers": [a[0]]}]})
             for t, q, a in zip(TEXTS, QUESTIONS, ANSWERS)]
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("\n".join(lines * 3) + "\n")
    histories = []
    for name, gen in zip(("cpu", "gpu"), pair):
        cfg = MemoryTrainConfig(out_dir=str(tmp_path / f"run-{name}"), corpus=str(corpus), steps=4, docs_per_step=3,
                                qas_per_doc=1, rank=4, warmup_steps=1, checkpoint_every=2, eval_every=2, eval_docs=3,
                                lr=1e-2, scale_lr=1e-1)
        train_memory(cfg, progress=False, generator=gen)
        state = json.loads((tmp_path / f"run-{name}" / "checkpoint" / "trainer_state.json").read_text())
        assert state["step"] == 4
        histories.append(state["history"])
    (cpu0, gpu0) = (h[0] for h in histories)
    assert abs(gpu0["own"] - cpu0["own"]) <= 1e-3 * abs(cpu0["own"])  # step 0: the same transforms, the same loss
    assert all(torch.isfinite(torch.tensor(h["own"])) for h in histories[1])


def test_the_memory_trainers_write_runs_on_the_gpu_and_equals_the_cpus(pair) -> None:
    """The trainer's records and its differentiable write sit on the model's device: a GPU step moves no keys."""
    from types import SimpleNamespace

    from doc2lora_rag.generators.memory import KVTransforms
    from doc2lora_rag.training.memory_trainer import _live, _records

    cpu = pair[0]
    t = KVTransforms(len(cpu.layers), cpu.stats["c_inv"].shape[1], cpu.base.config.hidden_size, 4)
    with torch.no_grad():
        t.P.normal_(std=0.1)
        t.U.normal_(std=0.1)
    deltas = []
    for gen, dev in zip(pair, ("cpu", "cuda")):
        c_inv = gen.stats["c_inv"].to(dev)
        records = _records(gen, [SimpleNamespace(text=x) for x in TEXTS], False, c_inv)
        assert all(k.device.type == dev and ck.device.type == dev and ids.device.type == dev for k, ck, ids in records)
        moved = copy.deepcopy(t).to(dev)
        a, b, _ = _live(gen, records, moved, torch.tensor([0, 1, 1, 2], device=dev), c_inv)
        assert a[T].device.type == dev and b[T].device.type == dev
        (b[T] @ a[T]).sum().backward()
        assert moved.P.grad is not None and moved.P.grad.device.type == dev
        deltas.append((b[T] @ a[T]).detach().cpu())
    assert (deltas[1] - deltas[0]).norm() <= 1e-3 * deltas[0].norm()
