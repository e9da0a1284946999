"""Self targets: the generator's own short, correct answers become the training targets of their questions."""

from __future__ import annotations

import json

import pytest

from doc2lora_rag import InputError
from doc2lora_rag.training.memory_trainer import located
from doc2lora_rag.training.self_targets import attach, question_set


def _corpus(tmp_path):
    rows = [{"id": f"nat-{i}", "source": "man" if i % 2 else "synthetic", "text": f"Doc {i} was written by Ada Quill in 19{i:02d}.",
             "questions": [{"question": f"Who wrote doc {i}?", "answers": ["Ada Quill"]},
                           {"question": f"When was doc {i} written?", "answers": [f"19{i:02d}"]},
                           {"question": "Not in the text?", "answers": ["absent"]}], "questions_by": "hand"}
            for i in range(8)]
    path = tmp_path / "corpus.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_question_set_keeps_natural_passages_and_answerable_questions(tmp_path) -> None:
    folders = question_set(_corpus(tmp_path), tmp_path / "set", docs=3, per_doc=4, parts=2, seed=0)
    assert [f.name for f in folders] == ["p0", "p1"]
    names = [n for f in folders for n in json.loads((f / "split.json").read_text())["dev"]]
    assert sorted(json.loads((tmp_path / "set" / "ids.json").read_text())) == sorted(n.removesuffix(".txt") for n in names)
    assert len(names) == 3 and all(int(n.split("-")[1].split(".")[0]) % 2 for n in names)  # synthetic ones skipped
    qa = [json.loads(line) for f in folders for line in (f / "qa.jsonl").read_text().splitlines()]
    assert len(qa) == 6 and all(q["answers"][0] != "absent" for q in qa)
    assert all((f / "docs" / q["doc"]).is_file() for f in folders for q in map(json.loads, (f / "qa.jsonl").read_text().splitlines()))
    again = question_set(_corpus(tmp_path), tmp_path / "again", docs=3, per_doc=4, parts=2, seed=0)
    assert [(f / "qa.jsonl").read_text() for f in again] == [(f / "qa.jsonl").read_text() for f in folders]  # seeded


def test_attach_keeps_short_correct_answers_before_the_gold_ones(tmp_path) -> None:
    corpus = _corpus(tmp_path)
    preds = [{"doc": "nat-1.txt", "question": "Who wrote doc 1?", "answers": ["Ada Quill"], "prediction": "It was  Ada Quill.\n",
              "correct": True},
             {"doc": "nat-1.txt", "question": "When was doc 1 written?", "answers": ["1901"], "prediction": "1999", "correct": False},
             {"doc": "nat-3.txt", "question": "Who wrote doc 3?", "answers": ["Ada Quill"],
              "prediction": "Ada Quill " + "and more " * 12, "correct": True}]
    path = tmp_path / "p.json"
    path.write_text(json.dumps({"predictions": {"selected": preds}}))
    out = tmp_path / "self.jsonl"
    assert attach(corpus, [path], out) == {"asked": 3, "kept": 1, "documents": 1}
    (row,) = [json.loads(line) for line in out.read_text().splitlines()]
    assert row["id"] == "nat-1" and row["text"].startswith("Doc 1")
    assert row["questions"] == [{"question": "Who wrote doc 1?", "answers": ["It was Ada Quill.", "Ada Quill"]}]
    assert located(row["text"], row["questions"][0]["answers"]) == row["text"].index("Ada Quill")  # the gold answer places it
    assert located(row["text"], ["nowhere", "also not"]) == -1
    with pytest.raises(InputError, match="eval_sets"):
        attach(corpus, [corpus], tmp_path / "x.jsonl")
    assert not (tmp_path / "x.jsonl").exists()
    path.write_text(json.dumps({"predictions": {"selected": [{**preds[0], "doc": "other.txt"}]}}))
    with pytest.raises(InputError, match="not in"):
        attach(corpus, [path], tmp_path / "y.jsonl")
    assert not (tmp_path / "y.jsonl").exists()
