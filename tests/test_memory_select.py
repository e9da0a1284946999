"""Keys chosen by the question (`generators.memory.select`, `MemoryGenerator.generate_for`) on the tiny model:
sentence spans, the embedder's choice with the title's context, the write over exactly those positions (the
same adapter as writing those keys out of a read of every position), bad input, and the evaluation's modes."""

from __future__ import annotations

import json

import pytest
import torch
from test_store import HashEmbedder
from tiny import TEXTS, load_tiny_memory, save_tiny_memory

from doc2lora_rag import InputError
from doc2lora_rag.chunking import split_equal
from doc2lora_rag.evaluation import evaluate, load_qa
from doc2lora_rag.generators.memory import KVTransforms, MemoryGenerator
from doc2lora_rag.generators.memory.select import closest_sentences, first_sentence, joined, positions_in, sentence_spans, titled
from doc2lora_rag.llm import AnswerEngine

T = "down_proj"


def test_sentence_spans_split_at_sentence_ends_and_lines() -> None:
    text = "Ilse Marwood (1891-1967)\n\nShe was born in Tullagh Bay. Her father was a pilot! Was he?\nLast line"
    assert [text[a:b] for a, b in sentence_spans(text)] == [
        "Ilse Marwood (1891-1967)", "She was born in Tullagh Bay.", "Her father was a pilot!", "Was he?", "Last line"]
    assert sentence_spans("   \n\n ") == []


def test_closest_sentences_read_each_sentence_after_the_title() -> None:
    text = "Ilse Marwood, engineer, surveyor, inventor and author of many books\nShe was born in Tullagh Bay. The bridge has eleven arches."
    spans = closest_sentences(text, "Where was Ilse Marwood born?", HashEmbedder(), 1)
    assert [text[a:b] for a, b in spans] == ["She was born in Tullagh Bay."]
    assert len(closest_sentences(text, "arches", HashEmbedder(), 5)) == 3  # no more than there are


class ConstantEmbedder:
    """Every text the same vector: the cosine cannot tell sentences apart, only the lexical share can."""

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [[1.0, 0.0] for _ in texts]

    def embed_query(self, text: str) -> list[float]:
        return [1.0, 0.0]


def test_bm25_and_the_lexical_share_of_the_sentence_choice() -> None:
    from doc2lora_rag.generators.memory.select import bm25, sentence_scores

    scores = bm25(["the harbour of the town", "the town hall", "a pilot at sea"], "Which harbour is in the town?")
    assert scores[0] > scores[1] > 0 and scores[2] == 0  # "harbour" is rarer than "town"; no shared word scores 0
    text = "Ilse Marwood\nShe sailed to Orkney in 1912. Her brother stayed at home."
    spans = sentence_spans(text)
    flat = sentence_scores(text, "When did she sail to Orkney?", ConstantEmbedder(), spans, lexical=0.0)
    assert torch.allclose(flat, torch.ones(3))  # the cosine alone: a tie
    assert [text[a:b] for a, b in closest_sentences(text, "When did she sail to Orkney?", ConstantEmbedder(), 1)] == [
        "She sailed to Orkney in 1912."]  # the words it shares with the question decide


def test_positions_in_are_the_positions_before_each_token_of_the_spans() -> None:
    offsets = [(0, 3), (3, 6), (6, 9), (9, 12)]
    assert positions_in(offsets, [(3, 9)]) == [0, 1]  # tokens 1 and 2 start inside: stored at positions 0 and 1
    assert positions_in(offsets, [(0, 3)]) == []  # the first token has no position before it


@pytest.fixture
def gens(make_tiny_base, tmp_path):
    base = make_tiny_base(num_layers=3)
    save_tiny_memory(base, tmp_path)
    every = MemoryGenerator.load(tmp_path / "stats", base, KVTransforms.load(tmp_path / "transforms", base), positions_per_chunk=16)
    return load_tiny_memory(base, tmp_path), every


def test_generate_for_writes_every_position_of_the_chosen_sentence_and_nothing_else(gens) -> None:
    gen, every = gens
    text, question = TEXTS[0], "Who was the founder of the firm?"
    lora = gen.generate_for(text, question, HashEmbedder())
    enc = gen.base.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    chunks = split_equal(enc["input_ids"], gen.max_chunk_tokens)
    ends, start = set(), 0
    for c in chunks:
        start += len(c)
        ends.add(start - 1)  # a chunk's last token: its successor is in the next chunk, not stored
    (span,) = closest_sentences(text, question, HashEmbedder(), 1)
    assert text[span[0]:span[1]] == "The founder of the firm was Wenmaine Ammann."
    want = [p for p in positions_in(enc["offset_mapping"], [span]) if p not in ends]
    assert lora.a[T].shape[1] == len(want) > 0 and lora.meta["selected_for"] == question
    # the same adapter as the keys of those positions written out of a read of every position
    keys, value_ids, picks = every.read(chunks)
    flat, start = [], 0
    for c, pk in zip(chunks, picks):
        flat += [start + int(x) for x in pk]
        start += len(c)
    sel = [flat.index(p) for p in want]
    a, b, _ = every.write(keys[:, sel], value_ids[sel], gen.config.selected_value_scale)  # at the selected write's scale
    assert gen.config.selected_value_scale != gen.config.value_scale
    x = torch.randn(len(gen.layers), 3, keys.shape[-1])
    ref, got = b @ (a @ x.transpose(1, 2)), lora.b[T] @ (lora.a[T] @ x.transpose(1, 2))
    assert (got - ref).norm() <= 1e-4 * ref.norm()
    assert gen.generate_for(text, question, HashEmbedder(), sentences=3).a[T].shape[1] > len(want)


def test_joined_texts_keep_their_sentences_and_titles() -> None:
    texts = ["Ilse Marwood. She was born in Tullagh Bay.", "Second part.\nIt sank in 1912."]
    text, spans, titles = joined(texts, "\n\n")
    assert text == "\n\n".join(texts)
    assert [text[a:b] for a, b in spans] == ["Ilse Marwood.", "She was born in Tullagh Bay.", "Second part.", "It sank in 1912."]
    assert titles == ["Ilse Marwood.", "Ilse Marwood.", "Second part.", "Second part."]  # each text's own first line
    _, _, titles = joined(texts, "\n\n", ["Ilse Marwood.", "The ferry Corran."])  # e.g. each text's document's first line
    assert titled(text, spans, titles) == ["Ilse Marwood.", "Ilse Marwood.. She was born in Tullagh Bay.",
                                           "The ferry Corran.. Second part.", "The ferry Corran.. It sank in 1912."]
    assert titled(text, spans) == ["Ilse Marwood.", "Ilse Marwood.. She was born in Tullagh Bay.", "Ilse Marwood.. Second part.",
                                   "Ilse Marwood.. It sank in 1912."]  # default: the joined text's first line on every sentence
    assert first_sentence("  \n ") is None
    with pytest.raises(ValueError, match="2 titles for 1 texts"):
        joined(texts[:1], "\n\n", ["a", "b"])


def test_generate_for_rejects_bad_input(gens) -> None:
    gen, _ = gens
    with pytest.raises(InputError, match="non-empty string"):
        gen.generate_for("  ", "Who?", HashEmbedder())
    with pytest.raises(InputError, match="sentences must be an int >= 1"):
        gen.generate_for(TEXTS[0], "Who?", HashEmbedder(), sentences=0)


def test_evaluate_selected_modes_write_one_adapter_per_question(gens, tmp_path) -> None:
    gen, _ = gens
    docs = tmp_path / "docs"
    docs.mkdir()
    for i, t in enumerate(TEXTS[:2]):
        (docs / f"{i}.txt").write_text(t)
    qa = tmp_path / "qa.jsonl"
    qa.write_text(json.dumps({"doc": "0.txt", "question": "Who was the founder?", "answers": ["Wenmaine Ammann"]}) + "\n"
                  + json.dumps({"doc": "1.txt", "question": "When was it established?", "answers": ["1829"]}) + "\n")
    items, engine = load_qa(qa, docs), AnswerEngine(gen.base)
    for mode in ("selected", "wrong-selected"):
        summary = evaluate(items, docs, mode, engine, gen, max_new_tokens=3, embedder=HashEmbedder(), sentences=2)
        assert summary["mode"] == mode and summary["n"] == 2 and summary["generation_s_per_doc_p50"] > 0
    with pytest.raises(InputError, match="writes for a question"):
        evaluate(items, docs, "selected", engine, object(), embedder=HashEmbedder())


def test_store_selected_mode_writes_the_routed_texts_closest_sentences(gens, tmp_path) -> None:
    from doc2lora_rag.rag import CONTEXT_SEPARATOR, StoreQA, write_for_question
    from doc2lora_rag.store import AdapterStore

    gen, _ = gens
    embedder = HashEmbedder()
    store = AdapterStore(tmp_path / "store", gen, router=embedder, chunk_tokens=16, group_size=2, overlap_tokens=2)
    store.add_texts(TEXTS, ids=["merros", "balrodun", "pramund"])
    engine = AnswerEngine(gen.base, num_slots=2, max_rank=4)
    q = "Who was the founder of Merros Holdings?"
    res = StoreQA(store, engine, sentences=2).answer(q, mode="selected", k=2, max_new_tokens=5)
    hits = store.search(q, 2)
    assert res.mode == "selected" and res.adapter_ids == [d.id for d, _ in hits] and res.prompt_tokens < 40  # no text in the prompt
    # each routed text's sentences scored after their document's first line
    heads = [first_sentence(store.first_texts([d.metadata["doc_id"]])[d.metadata["doc_id"]]) for d, _ in hits]
    assert set(heads) <= {first_sentence(t) for t in TEXTS}
    assert store.first_texts(["merros", "nope"]).keys() == {"merros"}  # unknown ids are skipped
    with pytest.raises(InputError, match="one per text"):
        write_for_question(store, q, [d.text for d, _ in hits], 2, ["merros"] * 3)
    text, spans, titles = joined([d.text for d, _ in hits], CONTEXT_SEPARATOR, heads)
    want = gen.generate_for(text, q, embedder, 2, spans, titles)
    assert res.answer == engine.answer(q, want, max_new_tokens=5).text
    # hybrid with the selected write: the routed texts in the prompt, the same selected adapter, deferring to the text
    hy = StoreQA(store, engine, sentences=2, hybrid_adapters="selected", hybrid_defer=0.2).answer(q, mode="hybrid", k=2, max_new_tokens=5)
    context = CONTEXT_SEPARATOR.join(d.text for d, _ in hits)
    assert hy.context == context and hy.adapter_ids == res.adapter_ids
    assert hy.answer == engine.answer(q, want, context, max_new_tokens=5, defer_to_text=0.2).text
    # no mode named: a memory-generator store routing with an embedder answers in selected mode
    qa = StoreQA(store, engine, sentences=2)
    assert qa.default_mode == "selected"
    default = qa.answer(q, k=2, max_new_tokens=5)
    assert default.mode == "selected" and default.answer == res.answer
    assert "".join(qa.stream(q, k=2, max_new_tokens=5)) == res.answer
    # hybrid without hybrid_adapters named: such a store's hybrid uses the selected write too
    assert qa.hybrid_adapters == "selected" and qa.answer(q, mode="hybrid", k=2, max_new_tokens=5).answer == hy.answer
    with pytest.raises(InputError, match="sentences must be an int >= 1"):
        StoreQA(store, engine, sentences=0)
    store.close()
    other = AdapterStore(tmp_path / "hyper", router=HashEmbedder(), chunk_tokens=16, generator=_hypernet(gen.base))
    other.add_texts(TEXTS[:1], ids=["merros"])
    assert StoreQA(other, engine).default_mode == "adapter" and StoreQA(other, engine).hybrid_adapters == "same"
    with pytest.raises(InputError, match="needs a store built with the memory generator"):
        StoreQA(other, engine).answer(q, mode="selected", k=1)
    with pytest.raises(InputError, match="needs a store built with the memory generator"):
        StoreQA(other, engine, hybrid_adapters="selected").answer(q, mode="hybrid", k=1)
    other.close()


def _hypernet(base):  # noqa: ANN001, ANN202
    from doc2lora_rag import AdapterGenerator

    return AdapterGenerator.untrained(base)
