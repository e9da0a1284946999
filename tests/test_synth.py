"""Tests of doc2lora_rag.synth: determinism, gold answers, split disjointness, lengths, files."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from doc2lora_rag import synth
from doc2lora_rag.errors import InputError
from doc2lora_rag.synth import QA, SynthDoc, load_jsonl_corpus, make_corpus, write_eval_set
from doc2lora_rag.synth.__main__ import main as synth_main
from doc2lora_rag.synth.corpus import generate

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def generated() -> dict[str, list]:
    return {split: generate(150, split, seed=7) for split in synth.SPLITS}


def _words(text: str) -> set[str]:
    return set(re.findall(r"[A-Za-z]+", text))


def test_deterministic_and_prefix_stable() -> None:
    a = make_corpus(12, "train", seed=3)
    b = make_corpus(12, "train", seed=3)
    assert a == b
    assert make_corpus(5, "train", seed=3) == a[:5]
    assert len({d.doc_id for d in a}) == 12


def test_different_seeds_and_splits_differ() -> None:
    base = make_corpus(10, "train", seed=0)
    other_seed = make_corpus(10, "train", seed=1)
    other_split = make_corpus(10, "heldout", seed=0)
    assert not {d.text for d in base} & {d.text for d in other_seed}
    assert not {d.text for d in base} & {d.text for d in other_split}
    assert {d.doc_id for d in base}.isdisjoint({d.doc_id for d in other_seed})


def test_gold_answers_verbatim_short_and_questions_name_entity(generated: dict[str, list]) -> None:
    for split, items in generated.items():
        for doc, info in items:
            assert doc.qas, doc.doc_id
            for qa in doc.qas:
                assert qa.answers, qa
                for answer in qa.answers:
                    assert answer in doc.text, (split, doc.doc_id, answer)
                    assert 1 <= len(answer.split()) <= 4, answer
                named = [n for n in info.entity_names if n in qa.question or n[:1].upper() + n[1:] in qa.question]
                assert named, (doc.doc_id, qa.question)


def test_variety_of_entity_and_fact_kinds(generated: dict[str, list]) -> None:
    kinds = {qa.kind for doc, _ in generated["train"] for qa in doc.qas}
    assert len(kinds) >= 40, sorted(kinds)
    multi = [info for _, info in generated["train"] if len(info.entity_names) >= 2]
    assert len(multi) >= 40
    styles = [doc.text for doc, _ in generated["train"]]
    assert sum(":" in t.split("\n\n")[0] or "\n- " in t or "\n* " in t for t in styles) >= 10  # fact sheets


def test_entity_names_disjoint_between_splits(generated: dict[str, list]) -> None:
    names = {s: {n for _, info in items for n in info.names} for s, items in generated.items()}
    words = {s: {w for _, info in items for w in info.words} for s, items in generated.items()}
    assert len(names["train"]) > 1000 and len(names["heldout"]) > 1000
    assert not names["train"] & names["heldout"]
    assert not words["train"] & words["heldout"]
    for split, other in (("train", "heldout"), ("heldout", "train")):
        other_text_words: set[str] = set()
        for doc, _ in generated[other]:
            other_text_words |= _words(doc.text)
            for qa in doc.qas:
                other_text_words |= _words(qa.question)
        assert not words[split] & other_text_words, sorted(words[split] & other_text_words)[:10]


def test_question_skeletons_disjoint_between_splits(generated: dict[str, list]) -> None:
    skeletons: dict[str, set[str]] = {}
    for split, items in generated.items():
        out: set[str] = set()
        for doc, info in items:
            for qa in doc.qas:
                q = qa.question
                for name in sorted(info.entity_names, key=len, reverse=True):
                    q = q.replace(name, "<E>").replace(name[:1].upper() + name[1:], "<E>")
                assert "<E>" in q, qa.question
                out.add(q)
        skeletons[split] = out
    assert len(skeletons["train"]) > 150 and len(skeletons["heldout"]) > 60
    assert not skeletons["train"] & skeletons["heldout"], sorted(skeletons["train"] & skeletons["heldout"])[:5]


def test_template_pools_partitioned() -> None:
    pools = {s: synth.template_pools(s) for s in synth.SPLITS}
    assert pools["train"].keys() == pools["heldout"].keys()
    all_train = {t for p in pools["train"].values() for t in p}
    all_held = {t for p in pools["heldout"].values() for t in p}
    assert not all_train & all_held, sorted(all_train & all_held)[:5]
    for key in pools["train"]:
        assert pools["train"][key] and pools["heldout"][key], key
        if key.startswith(("question:", "sentence:")):
            assert len(pools["train"][key]) + len(pools["heldout"][key]) >= 3, key
        if key.startswith("sentence:"):
            for template in pools["train"][key] + pools["heldout"][key]:
                assert "{e}" in template and ("{v}" in template or "{a_v}" in template), template
    fact_kinds = [k for k in pools["train"] if k.startswith("question:")]
    assert len(fact_kinds) >= 40


def test_length_distribution(generated: dict[str, list]) -> None:
    for split, items in generated.items():
        tokens = sorted(len(doc.text) / 4 for doc, _ in items)
        assert tokens[0] >= 59 and tokens[-1] <= 600, (split, tokens[0], tokens[-1])
        assert tokens[0] < 110 and tokens[-1] > 500, (split, tokens[0], tokens[-1])
        assert sum(t < 200 for t in tokens) >= 25 and sum(t > 400 for t in tokens) >= 25
        words = [len(doc.text.split()) for doc, _ in items]
        assert min(words) >= 35 and max(words) <= 600
        for doc, info in items:
            if synth.approx_tokens(doc.text) < 130:
                assert len(info.entity_names) == 1 and 3 <= len(doc.qas) <= 5, doc.doc_id


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"n_docs": 3, "split": "test"}, "'test'"),
        ({"n_docs": 0}, "n_docs must be >= 1, got 0"),
        ({"n_docs": 2.5}, "n_docs must be an int, got 2.5"),
        ({"n_docs": 3, "seed": "1"}, "seed must be an int, got '1'"),
        ({"n_docs": 3, "min_tokens": 10}, "min_tokens must be >= 40, got 10"),
        ({"n_docs": 3, "min_tokens": 100, "max_tokens": 120}, "max_tokens must be >= 140, got 120"),
    ],
)
def test_make_corpus_rejects_bad_arguments(kwargs: dict, fragment: str) -> None:
    with pytest.raises(InputError) as err:
        make_corpus(**kwargs)
    assert fragment in str(err.value)


def test_custom_token_range_respected() -> None:
    docs = make_corpus(20, "train", seed=2, min_tokens=100, max_tokens=200)
    assert all(100 <= synth.approx_tokens(d.text) <= 200 for d in docs)


def test_write_eval_set_format_and_overwrite(tmp_path: Path) -> None:
    docs = make_corpus(4, "heldout", seed=5)
    out = tmp_path / "evalset"
    assert write_eval_set(docs, out) == out
    files = sorted(p.name for p in (out / "docs").iterdir())
    assert files == sorted(f"{d.doc_id}.txt" for d in docs)
    assert (out / "docs" / f"{docs[0].doc_id}.txt").read_text(encoding="utf-8") == docs[0].text
    records = [json.loads(line) for line in (out / "qa.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(records) == sum(len(d.qas) for d in docs)
    assert set(records[0]) == {"doc", "question", "answers"}
    assert records[0] == {
        "doc": f"{docs[0].doc_id}.txt",
        "question": docs[0].qas[0].question,
        "answers": list(docs[0].qas[0].answers),
    }
    # A previous eval set is replaced whole; no temporary folders are left behind.
    write_eval_set(docs[:2], out)
    assert len(list((out / "docs").iterdir())) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["evalset"]


def test_write_eval_set_refuses_foreign_folder_and_bad_docs(tmp_path: Path) -> None:
    docs = make_corpus(2, "train", seed=0)
    (tmp_path / "notes.txt").write_text("keep me", encoding="utf-8")
    with pytest.raises(InputError, match="refusing to overwrite"):
        write_eval_set(docs, tmp_path)
    assert (tmp_path / "notes.txt").read_text(encoding="utf-8") == "keep me"
    with pytest.raises(InputError, match="non-empty list"):
        write_eval_set([], tmp_path / "x")
    with pytest.raises(InputError, match="duplicate doc_id 'a'"):
        write_eval_set([SynthDoc("a", "t", ()), SynthDoc("a", "u", ())], tmp_path / "x")
    with pytest.raises(InputError, match="not usable as a file name"):
        write_eval_set([SynthDoc("../evil", "t", ())], tmp_path / "x")


def test_load_jsonl_corpus_happy_path(tmp_path: Path) -> None:
    path = tmp_path / "corpus.jsonl"
    lines = [
        {"id": "alpha", "text": "Mira Holt built the lighthouse in 1901.", "questions": [
            "Who built the lighthouse?",
            {"question": "When was the lighthouse built?", "answers": ["1901"]},
        ]},
        {"text": "Second document.", "questions": []},
    ]
    path.write_text(json.dumps(lines[0]) + "\n\n" + json.dumps(lines[1]) + "\n", encoding="utf-8")
    docs = load_jsonl_corpus(path)
    assert docs[0] == SynthDoc(
        "alpha",
        "Mira Holt built the lighthouse in 1901.",
        (QA("Who built the lighthouse?", (), "user"), QA("When was the lighthouse built?", ("1901",), "user")),
    )
    assert docs[1].doc_id == "doc-00003" and docs[1].qas == ()


@pytest.mark.parametrize(
    ("line", "fragment"),
    [
        ("{not json", "line 2: not valid JSON"),
        ('["a list"]', "line 2: expected a JSON object"),
        ('{"questions": []}', "line 2: missing key 'text'"),
        ('{"text": "x"}', "line 2: missing key 'questions'"),
        ('{"text": "   ", "questions": []}', "line 2: 'text' must be a non-empty string"),
        ('{"text": "x", "questions": "q?"}', "line 2: 'questions' must be a list"),
        ('{"text": "x", "questions": [3]}', "line 2, question 0: a question must be a string"),
        ('{"text": "x", "questions": [{"answers": ["a"]}]}', "line 2, question 0: 'question' must be"),
        ('{"text": "x", "questions": [{"question": "q?", "answers": [""]}]}', "'answers' must be a list"),
        ('{"id": "first", "text": "x", "questions": []}', "line 2: id 'first' already used on line 1"),
        ('{"id": "a/b", "text": "x", "questions": []}', "line 2: document id 'a/b' is not usable"),
    ],
)
def test_load_jsonl_corpus_errors_name_the_line(tmp_path: Path, line: str, fragment: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"id": "first", "text": "ok", "questions": ["q?"]}\n' + line + "\n", encoding="utf-8")
    with pytest.raises(InputError) as err:
        load_jsonl_corpus(path)
    assert fragment in str(err.value)


def test_load_jsonl_corpus_missing_or_empty_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="does not exist"):
        load_jsonl_corpus(tmp_path / "nope.jsonl")
    (tmp_path / "empty.jsonl").write_text("\n \n", encoding="utf-8")
    with pytest.raises(InputError, match="holds no documents"):
        load_jsonl_corpus(tmp_path / "empty.jsonl")


def test_cli_writes_eval_set(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cli"
    assert synth_main(["--split", "heldout", "--n", "3", "--seed", "1", "--out", str(out)]) == 0
    assert len(list((out / "docs").iterdir())) == 3
    assert "wrote 3 heldout documents" in capsys.readouterr().out
    assert [d.text for d in make_corpus(3, "heldout", seed=1)] == [
        (out / "docs" / f"heldout-s1-{i:05d}.txt").read_text(encoding="utf-8") for i in range(3)
    ]


def test_committed_heldout_set_matches_generator() -> None:
    root = REPO / "data" / "heldout"
    if not (root / "qa.jsonl").is_file():
        pytest.skip("data/heldout has not been generated in this checkout")
    docs = make_corpus(60, "heldout", seed=1)
    for doc in docs:
        assert (root / "docs" / f"{doc.doc_id}.txt").read_text(encoding="utf-8") == doc.text
    records = [json.loads(x) for x in (root / "qa.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(records) == sum(len(d.qas) for d in docs)


def test_packaged_memory_fit_corpus_is_what_synth_makes(tmp_path) -> None:
    """The core fits memory statistics on a packaged file (it never imports synth): the file must be synth's output."""
    from doc2lora_rag.generators.memory import load_fit_corpus
    from doc2lora_rag.generators.memory.files import fit_corpus_path
    from doc2lora_rag.synth import write_fit_corpus

    fresh = write_fit_corpus(tmp_path / "fit_corpus.json")
    assert fresh.read_text() == fit_corpus_path().read_text(), "regenerate it: python -c 'from doc2lora_rag.synth import write_fit_corpus; ...'"
    texts, answers = load_fit_corpus()
    assert len(texts) == len(answers) == 200 and all(a in t for t, ans in zip(texts, answers) for a in ans)
