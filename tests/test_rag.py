"""StoreQA on the tiny model (modes, relevance gate, streaming, no stale adapters after a re-add,
store evaluation, CLI listing/removal) and on the embedded model (`real_model`): the sample corpus
ingested with an untrained generator, one answer per mode, and the CLI."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch
from test_store import DOCS, add_docs, open_store, small_generator

from doc2lora_rag import InputError, LoraWeights, cli
from doc2lora_rag.evaluation import QAItem, evaluate_store, load_qa
from doc2lora_rag.llm import AnswerEngine
from doc2lora_rag.rag import HYBRID_DEFER, HYBRID_DEFER_SELECTED, MODES, QAResult, StoreQA, default_hybrid_defer
from doc2lora_rag.store import AdapterStore

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
Q = "Which oven bakes the rye bread?"
CHUNKING = {"chunk_tokens": 8, "overlap_tokens": 1}


def anonymous(lora: LoraWeights) -> LoraWeights:
    """The same weights without meta["id"]: an engine never caches it (ids are what the slot LRU keys on)."""
    return LoraWeights(lora.a, lora.b, lora.layers, lora.scaling, lora.base_model, lora.model_type)


@pytest.fixture
def qa(tmp_path: Path, make_tiny_base) -> StoreQA:
    base = make_tiny_base()
    store = open_store(tmp_path / "store", small_generator(base), **CHUNKING)
    add_docs(store)
    yield StoreQA(store, AnswerEngine(base, num_slots=2, max_rank=32))
    store.close()


@pytest.fixture
def reference(make_tiny_base) -> AnswerEngine:
    """A second engine on an identical tiny model: what the answers must equal."""
    return AnswerEngine(make_tiny_base(), num_slots=2, max_rank=32)


def test_modes_use_adapters_and_or_text_as_documented(qa: StoreQA, reference: AnswerEngine) -> None:
    hits = qa.store.search(Q, k=2)
    ids = [d.id for d, _ in hits]
    adapters = [qa.store.adapter(i) for i in ids]
    context = "\n\n".join(d.text for d, _ in hits)
    none = qa.answer(Q, mode="none", max_new_tokens=8)
    assert none.sources == [] and none.scores == [] and none.adapter_ids == [] and not none.gated
    assert none.answer == reference.answer(Q, max_new_tokens=8).text

    adapter = qa.answer(Q, mode="adapter", k=2, max_new_tokens=8)
    assert adapter.adapter_ids == ids and [s["adapter_id"] for s in adapter.sources] == ids
    assert adapter.scores == [s for _, s in hits] and adapter.sources[0]["doc_id"] == "bakery"
    assert adapter.prompt_tokens == none.prompt_tokens, "adapter mode puts no retrieved text in the prompt"
    assert adapter.answer == reference.answer(Q, adapters, max_new_tokens=8).text
    assert adapter.answer != none.answer, "the adapters change the answer, so the comparisons mean something"

    rag = qa.answer(Q, mode="rag", k=2, max_new_tokens=8)
    assert rag.adapter_ids == [] and rag.prompt_tokens > none.prompt_tokens and rag.context == context
    assert rag.answer == reference.answer(Q, context=context, max_new_tokens=8).text

    hybrid = qa.answer(Q, mode="hybrid", k=2, max_new_tokens=8)
    assert hybrid.adapter_ids == ids and hybrid.prompt_tokens == rag.prompt_tokens
    assert hybrid.answer == reference.answer(Q, adapters, context, max_new_tokens=8, defer_to_text=HYBRID_DEFER).text
    for r in (none, adapter, rag, hybrid):
        assert isinstance(r, QAResult) and set(r.timings) == {"route_s", "adapter_s", "generate_s", "total_s"}
        assert r.timings["total_s"] >= r.timings["generate_s"] > 0
        assert set(r.to_dict()) == {"answer", "mode", "adapter_ids", "sources", "scores", "timings", "prompt_tokens", "gated", "adapter_bytes"}


def test_hybrid_scale_weakens_the_adapters_next_to_the_text(qa: StoreQA, reference: AnswerEngine) -> None:
    hits = qa.store.search(Q, k=2)
    adapters = [qa.store.adapter(d.id) for d, _ in hits]
    context = "\n\n".join(d.text for d, _ in hits)
    qa.hybrid_defer = None  # the adapters at their scale for every token
    qa.hybrid_scale = 0.0
    off = qa.answer(Q, mode="hybrid", k=2, max_new_tokens=8)
    assert off.answer == reference.answer(Q, context=context, max_new_tokens=8).text, "scale 0 is classic RAG"
    qa.hybrid_scale = 0.5
    half = [a.scaled(0.5) for a in adapters]
    assert qa.answer(Q, mode="hybrid", k=2, max_new_tokens=8).answer == reference.answer(Q, half, context, max_new_tokens=8).text
    assert qa.answer(Q, mode="adapter", k=2, max_new_tokens=8).answer == reference.answer(Q, adapters, max_new_tokens=8).text, \
        "adapter mode keeps full strength"
    for bad in (-0.1, 1.5, "x", True):
        with pytest.raises(InputError, match="hybrid_scale"):
            StoreQA(qa.store, qa.engine, hybrid_scale=bad)


def test_hybrid_defer_hands_each_token_to_the_text_or_the_adapters(qa: StoreQA, reference: AnswerEngine) -> None:
    hits = qa.store.search(Q, k=2)
    adapters = [qa.store.adapter(d.id) for d, _ in hits]
    context = "\n\n".join(d.text for d, _ in hits)
    for defer in (0.0, 0.01, 1.5):
        qa.hybrid_defer = defer
        got = qa.answer(Q, mode="hybrid", k=2, max_new_tokens=8).answer
        assert got == reference.answer(Q, adapters, context, max_new_tokens=8, defer_to_text=defer).text
        assert "".join(qa.stream(Q, mode="hybrid", k=2, max_new_tokens=8)).strip() == got
    qa.hybrid_defer = 0.0
    assert qa.answer(Q, mode="hybrid", k=2, max_new_tokens=8).answer == reference.answer(Q, context=context, max_new_tokens=8).text
    assert qa.answer(Q, mode="adapter", k=2, max_new_tokens=8).answer == reference.answer(Q, adapters, max_new_tokens=8).text, \
        "only hybrid mode defers"
    qa.hybrid_defer = None
    with pytest.raises(InputError, match="hybrid_defer"):
        StoreQA(qa.store, qa.engine, hybrid_defer=-1)
    with pytest.raises(InputError, match="'auto'"):
        StoreQA(qa.store, qa.engine, hybrid_defer="0.3")
    # "auto" (the default) follows the hybrid adapters: each kind keeps the threshold chosen for it
    assert StoreQA(qa.store, qa.engine).hybrid_defer == HYBRID_DEFER == default_hybrid_defer("same")
    assert StoreQA(qa.store, qa.engine, hybrid_adapters="selected").hybrid_defer == HYBRID_DEFER_SELECTED != HYBRID_DEFER
    assert StoreQA(qa.store, qa.engine, hybrid_adapters="selected", hybrid_defer=0.1).hybrid_defer == 0.1


def test_hybrid_next_adds_the_adapters_of_the_groups_beyond_the_prompt(qa: StoreQA, reference: AnswerEngine) -> None:
    hits = qa.store.search(Q, k=2)
    context = hits[0][0].text
    beyond = [qa.store.adapter(hits[1][0].id)]
    qa.hybrid_adapters, qa.hybrid_defer = "next", None
    res = qa.answer(Q, mode="hybrid", k=1, max_new_tokens=8)
    assert res.context == context and res.adapter_ids == [hits[1][0].id]  # text of the best group, adapter of the next
    assert [s["adapter_id"] for s in res.sources] == [d.id for d, _ in hits]
    assert res.answer == reference.answer(Q, beyond, context, max_new_tokens=8).text
    assert qa.answer(Q, mode="rag", k=1, max_new_tokens=8).context == context  # other modes unchanged
    with pytest.raises(InputError, match="hybrid_adapters"):
        StoreQA(qa.store, qa.engine, hybrid_adapters="all")


def test_scaled_adapter_scales_its_delta(tiny_base) -> None:
    lora = small_generator(tiny_base).generate(["Rye bread is baked in the stone oven."])[0].with_meta(id="a")
    half = lora.scaled(0.5)
    assert half.meta["id"] == "a*0.5" and lora.meta["id"] == "a", "a distinct id: slots never serve one for the other"
    t = lora.targets[0]
    full = lora.delta(t, lora.layers[0])
    assert full.abs().sum() > 0 and torch.allclose(half.delta(t, lora.layers[0]), 0.5 * full)


def test_relevance_gate(qa: StoreQA) -> None:
    none = qa.answer(Q, mode="none", max_new_tokens=8)
    best = qa.store.search(Q, k=1)[0][1]
    for mode in ("adapter", "hybrid", "rag"):
        gated = qa.answer(Q, mode=mode, k=2, threshold=best + 0.01, max_new_tokens=8)
        assert gated.gated and gated.adapter_ids == [] and gated.context is None
        assert gated.answer == none.answer and gated.prompt_tokens == none.prompt_tokens
        assert gated.scores[0] == best, "the routed entries are still reported"
        passed = qa.answer(Q, mode=mode, k=2, threshold=best - 0.01, max_new_tokens=8)
        assert not passed.gated and (passed.adapter_ids or passed.context)


def test_bad_arguments(qa: StoreQA) -> None:
    with pytest.raises(InputError) as err:
        qa.answer(Q, mode="retrieval")
    assert all(m in str(err.value) for m in MODES)
    with pytest.raises(InputError, match="unknown mode"):
        qa.stream(Q, mode="nope")  # checked at the call, not at the first piece
    for k in (0, -2, 1.5, True):
        with pytest.raises(InputError, match="k must be"):
            qa.answer(Q, k=k)
    for question in ("", "  ", None, 3):
        with pytest.raises(InputError, match="question"):
            qa.answer(question)
    with pytest.raises(InputError, match="threshold"):
        qa.answer(Q, threshold="high")
    with pytest.raises(InputError, match="AdapterStore"):
        StoreQA(object())


def test_stream_concatenates_to_the_answer(qa: StoreQA) -> None:
    for mode in ("adapter", "hybrid"):
        full = qa.answer(Q, mode=mode, k=2, max_new_tokens=10).answer
        pieces = list(qa.stream(Q, mode=mode, k=2, max_new_tokens=10))
        assert pieces and "".join(pieces).strip() == full


def test_readding_an_id_never_serves_the_old_adapter(qa: StoreQA, reference: AnswerEngine) -> None:
    """The engine caches slots by adapter id; a re-added id has new weights under the same entry id."""
    question = "Rye bread oven?"
    qa.store.add_texts(["Rye bread oven."], ids=["note"])  # one chunk: entry id == "note"
    first = qa.answer(question, mode="adapter", k=1, max_new_tokens=8)
    old = qa.store.adapter("note")
    qa.store.add_texts(["Rye bread oven in Cremona, Italy!"], ids=["note"])  # two chunks, still one group
    second = qa.answer(question, mode="adapter", k=1, max_new_tokens=8)
    assert first.adapter_ids == second.adapter_ids == ["note"]
    new_answer = reference.answer(question, [anonymous(qa.store.adapter("note"))], max_new_tokens=8).text
    assert new_answer != reference.answer(question, [anonymous(old)], max_new_tokens=8).text == first.answer
    assert second.answer == new_answer


def test_evaluate_store_reports_recall(qa: StoreQA) -> None:
    items = [
        QAItem("bakery.txt", "Which oven bakes the rye bread?", ("Big Agnes",)),
        QAItem("ship.txt", "What does the research ship map with its sonar?", ("sea floor",)),
        QAItem("council.txt", "Which oven bakes the rye bread in the morning?", ("budget",)),  # routes to the bakery
    ]
    summary = evaluate_store(items, qa.store, "routed", qa, k=1, max_new_tokens=4)
    assert summary["recall_at_k"] == pytest.approx(2 / 3) and summary["n"] == 3 and summary["k"] == 1
    for key in ("accuracy", "f1", "latency_p50_s", "prompt_tokens_mean", "max_new_tokens", "batch_size"):
        assert key in summary
    rag = evaluate_store(items, qa.store, "rag", qa, k=1, max_new_tokens=4)
    assert rag["recall_at_k"] == summary["recall_at_k"] and rag["prompt_tokens_mean"] > summary["prompt_tokens_mean"]
    assert evaluate_store(items, qa.store, "hybrid", qa, k=3, max_new_tokens=2)["recall_at_k"] == 1.0
    with pytest.raises(InputError, match="routed"):
        evaluate_store(items, qa.store, "adapter", qa)
    with pytest.raises(InputError, match="nowhere.txt"):
        evaluate_store([QAItem("nowhere.txt", "q?", ("a",))], qa.store, "rag", qa)


def test_cli_ls_and_rm_on_a_tiny_store(tmp_path: Path, tiny_base, capsys) -> None:
    with open_store(tmp_path / "store", small_generator(tiny_base), **CHUNKING) as store:
        add_docs(store)
        n_entries = len(store.entries())
    assert cli.main(["ls", "--store", str(tmp_path / "store"), "--json"]) == 0
    listing = json.loads(capsys.readouterr().out)
    assert [d["id"] for d in listing["documents"]] == list(DOCS)
    assert sum(d["groups"] for d in listing["documents"]) == n_entries
    assert listing["meta"]["generator"]["kind"] == "hypernet" and listing["meta"]["chunking"]["chunk_tokens"] == 8
    assert cli.main(["ls", "--store", str(tmp_path / "store")]) == 0
    assert "3 documents" in capsys.readouterr().out
    assert cli.main(["rm", "ship", "no-such", "--store", str(tmp_path / "store")]) == 0
    assert "removed 1 documents" in capsys.readouterr().out
    with AdapterStore(tmp_path / "store", read_only=True, router="bm25") as store:
        assert store.doc_ids() == ["bakery", "council"] and store.verify() == {
            "missing_files": [], "orphan_files": [], "temp_files": [], "unreadable_files": []}
    assert cli.main(["ls", "--store", str(tmp_path / "absent")]) == 2
    assert "no adapter store" in capsys.readouterr().err
    assert cli.main(["ask", "--store", str(tmp_path / "store")]) == 2
    assert "needs a QUESTION" in capsys.readouterr().err


def test_cli_ingest_with_distill_missing_says_so(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setitem(sys.modules, "doc2lora_rag.generators.distill", None)  # makes `import doc2lora_rag.generators.distill` fail
    code = cli.main(["ingest", str(EXAMPLES / "sample_corpus"), "--store", str(tmp_path / "s"), "--generator", "distill"])
    assert code == 2 and "distill" in capsys.readouterr().err and not (tmp_path / "s").exists()


# -- embedded model -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def real_qa(real_base, tmp_path_factory) -> StoreQA:
    from doc2lora_rag import AdapterGenerator

    path = tmp_path_factory.mktemp("real") / "store"
    store = AdapterStore(path, AdapterGenerator.untrained(real_base), chunk_tokens=256, group_size=2)
    store.add_paths([EXAMPLES / "sample_corpus"])
    yield StoreQA(store)
    store.close()


@pytest.mark.real_model
def test_real_model_answers_in_every_mode(real_qa: StoreQA) -> None:
    items = {i.question: i for i in load_qa(EXAMPLES / "sample_qa.jsonl")}
    question = "Who is the current coordinator of the Orlen Bakery Cooperative?"
    gold = items[question].answers[0]
    results = {m: real_qa.answer(question, mode=m, k=1, max_new_tokens=16 if m in ("rag", "hybrid") else 8)
               for m in MODES if m != "selected"}  # selected: memory-generator stores only (test_memory_select)
    for mode, r in results.items():
        assert r.answer and r.mode == mode, mode
    assert results["rag"].sources[0]["file_name"] == "orlen_bakery_cooperative.html"
    assert gold in results["rag"].answer and gold in results["hybrid"].answer
    assert gold not in results["none"].answer
    # an untrained generator emits exact-zero adapters: adapter mode is the bare model, bit for bit
    assert results["adapter"].answer == results["none"].answer and results["adapter"].adapter_ids


@pytest.mark.real_model
def test_real_model_cli_ask_json(real_qa: StoreQA, capsys) -> None:
    question = "Who is the current coordinator of the Orlen Bakery Cooperative?"
    code = cli.main(["ask", question, "--store", str(real_qa.store.path), "--k", "2", "--max-new-tokens", "4", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["mode"] == "adapter" and out["answer"]
    assert out["sources"][0]["file_name"] == "orlen_bakery_cooperative.html" and len(out["scores"]) == 2
    assert out["adapter_ids"] == [s["adapter_id"] for s in out["sources"]]
    assert set(out["timings"]) == {"route_s", "adapter_s", "generate_s", "total_s"}


@pytest.mark.real_model
@pytest.mark.slow
def test_real_model_cli_ingest(tmp_path: Path, capsys) -> None:
    store = tmp_path / "store"
    code = cli.main(["ingest", str(EXAMPLES / "sample_corpus" / "kestrel_mora_vessel.txt"), "--store", str(store), "--quiet"])
    assert code == 0 and "ingested 1 documents" in capsys.readouterr().out
    assert cli.main(["ls", "--store", str(store), "--json"]) == 0
    listing = json.loads(capsys.readouterr().out)
    assert listing["documents"][0]["metadata"]["file_name"] == "kestrel_mora_vessel.txt"
    assert listing["meta"]["base_model"]["name"] == "smollm2-135m-instruct"
    assert listing["meta"]["generator"]["kind"] == "memory", "a new store on the embedded model uses the memory generator"


@pytest.mark.real_model
def test_real_model_cli_eval_store(real_qa: StoreQA, capsys) -> None:
    code = cli.main(["eval", str(EXAMPLES / "sample_qa.jsonl"), "--store", str(real_qa.store.path), "--mode", "routed",
                     "--limit", "3", "--max-new-tokens", "2", "--json"])
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["mode"] == "routed" and summary["n"] == 3 and summary["k"] == 2
    assert summary["recall_at_k"] == 1.0, "MiniLM routes the three Velmora questions to the Velmora document"
