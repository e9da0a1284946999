"""Scoring and QA-file parsing of `doc2lora eval`, plus one end-to-end run on the tiny model."""

from __future__ import annotations

import json

import pytest

from doc2lora_rag import AnswerEngine, InputError
from doc2lora_rag.evaluation import derangement, evaluate, is_correct, load_qa, normalize_answer, token_f1


def test_normalisation_drops_case_punctuation_articles() -> None:
    assert normalize_answer("The  River, Kelrin!") == ["river", "kelrin"]


@pytest.mark.parametrize(
    ("prediction", "answers", "expected"),
    [
        ("It was founded in 1986.", ["1986"], True),
        ("It was founded in 1986.", ["6"], False),  # whole words only
        ("Dr. Vela Morant founded it", ["Vela Morant"], True),
        ("Vela founded it, with Morant", ["Vela Morant"], False),  # a sequence, not a bag
        ("the snail", ["the Snail", "Snail"], True),
        ("", ["x"], False),
    ],
)
def test_is_correct(prediction: str, answers: list[str], expected: bool) -> None:
    assert is_correct(prediction, answers) is expected


def test_token_f1_is_squad_like() -> None:
    assert token_f1("Vela Morant", ["Vela Morant"]) == 1.0
    assert token_f1("Vela", ["Vela Morant"]) == pytest.approx(2 * 1.0 * 0.5 / 1.5)
    assert token_f1("nothing here", ["Vela Morant"]) == 0.0
    assert token_f1("Vela", ["Morant", "Vela"]) == 1.0  # max over gold answers


def test_derangement_never_maps_a_doc_to_itself() -> None:
    swap = derangement(["b.txt", "a.txt", "c.txt", "a.txt"])
    assert sorted(swap) == ["a.txt", "b.txt", "c.txt"]
    assert all(k != v for k, v in swap.items())
    with pytest.raises(InputError, match="two documents"):
        derangement(["a.txt"])


def test_load_qa_errors_name_the_line(tmp_path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.txt").write_text("Quifo was founded in 1987.")
    good = {"doc": "a.txt", "question": "When?", "answers": ["1987"]}
    qa = tmp_path / "qa.jsonl"
    qa.write_text(json.dumps(good) + "\n" + "{not json\n")
    with pytest.raises(InputError, match=":2"):
        load_qa(qa, tmp_path / "docs")
    qa.write_text(json.dumps({**good, "doc": "missing.txt"}) + "\n")
    with pytest.raises(InputError, match="missing.txt"):
        load_qa(qa, tmp_path / "docs")
    qa.write_text(json.dumps({**good, "answers": []}) + "\n")
    with pytest.raises(InputError, match="answers"):
        load_qa(qa, tmp_path / "docs")
    qa.write_text(json.dumps(good) + "\n")
    assert load_qa(qa, tmp_path / "docs")[0].answers == ("1987",)


def test_evaluate_runs_every_mode_and_keeps_predictions(tmp_path, make_tiny_base) -> None:
    from doc2lora_rag import AdapterGenerator

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text("Quifo Ltd was founded in 1987 by Vela Morant.")
    (docs / "b.txt").write_text("The Zorros bicycle carries model number JR-2632.")
    qa = tmp_path / "qa.jsonl"
    qa.write_text(
        json.dumps({"doc": "a.txt", "question": "Who founded Quifo Ltd?", "answers": ["Vela Morant"]}) + "\n"
        + json.dumps({"doc": "b.txt", "question": "What model number?", "answers": ["JR-2632"]}) + "\n"
    )
    base = make_tiny_base()
    engine, gen = AnswerEngine(base), AdapterGenerator.untrained(base)
    items = load_qa(qa, docs)
    prompt_tokens = {}
    for mode in ("none", "context", "adapter", "wrong-adapter"):
        out = tmp_path / f"{mode}.jsonl"
        summary = evaluate(items, docs, mode, engine, gen, batch_size=2, max_new_tokens=4, out=out)
        assert summary["mode"] == mode and summary["n"] == 2
        assert 0.0 <= summary["accuracy"] <= 1.0 and summary["latency_p50_s"] > 0
        rows = [json.loads(line) for line in out.read_text().splitlines()]
        assert [r["doc"] for r in rows] == ["a.txt", "b.txt"]
        prompt_tokens[mode] = summary["prompt_tokens_mean"]
    assert prompt_tokens["context"] > prompt_tokens["none"] + 8  # only context mode puts the document in the prompt
    assert prompt_tokens["adapter"] == prompt_tokens["none"] == prompt_tokens["wrong-adapter"]
    with pytest.raises(InputError, match="unknown mode"):
        evaluate(items, docs, "routed", engine, gen)
