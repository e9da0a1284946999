"""The natural-text corpus builder: extraction, passages, questions (spaCy's real English pipeline)."""

from __future__ import annotations

import json
import random

import pytest

from doc2lora_rag.training import natural_corpus as nc
from doc2lora_rag.training import questions


def test_html_text_keeps_paragraphs_and_drops_scripts():
    raw = "<html><head><title>T</title><script>var x=1;</script></head><body><nav>menu</nav>" \
          "<p>First paragraph of the page text, long enough to keep.</p><p>Second one &amp; more words here, also long enough.</p></body></html>"
    paras = nc.paragraphs(nc.html_text(raw))
    assert paras == ["First paragraph of the page text, long enough to keep.", "Second one & more words here, also long enough."]


def test_rst_text_strips_roles_and_directives():
    raw = "Title\n=====\n\n.. note::\n\nUse :func:`open` to read a file and ``close`` it when the work is done.\n"
    text = nc.rst_text(raw)
    assert "Use open to read a file and close it when the work is done." in text
    assert "note::" not in text and "=====" not in text


def test_reserved_files_are_never_read(tmp_path):
    for name in ("changelog.gz", "NEWS.txt", "README.html", "RelNotes-2.0.txt", "whatsnew.rst.txt", "guide.html"):
        (tmp_path / name).write_text("x")
    assert [p.name for p in nc._files(str(tmp_path), "*")] == ["guide.html"]


def test_passages_respect_length_bounds():
    paras = [f"Paragraph number {i} " + "word " * 40 for i in range(200)]
    out = list(nc.passages(paras, random.Random(0), 60, 400))
    assert len(out) > 5
    assert all(4 * 60 <= len(p) <= 4 * 400 * 1.1 + 1 for p in out)


def test_fortune_questions_ask_for_the_author():
    text = "Simplicity is prerequisite for reliability in every system we build. -- Edsger Dijkstra\n\n" \
           "Short. -- Nobody\n\nThe best way to predict the future is to invent it, said the man. -- Alan Kay, 1971"
    qs = questions.fortune_questions(text)
    assert [q["answers"] for q in qs] == [["Edsger Dijkstra"], ["Alan Kay"]]
    assert qs[0]["question"].startswith('Who said: "Simplicity is prerequisite')


def test_doc_questions_turn_spans_into_questions():
    spacy = pytest.importorskip("spacy")
    nlp = spacy.load(nc.SPACY_PIPELINE)
    text = ("The Lakeline ferry was built in 1958 at a yard in Brevik. Anna Kovac designed the ferry for the harbour company. "
            "The ferry carries 240 passengers on every crossing of the lake.")
    qs = questions.doc_questions(nlp(text), text, random.Random(0))
    by_answer = {q["answers"][0]: q["question"] for q in qs}
    assert "Anna Kovac" in by_answer and by_answer["Anna Kovac"].startswith("Who designed the ferry")
    assert by_answer["1958"] == "When was the Lakeline ferry built at a yard in Brevik?"  # fronted, as people ask
    assert by_answer["240"] == "How many passengers does the ferry carry on every crossing of the lake?"
    for q in qs:  # the answer is in the text, never in its own question
        assert q["answers"][0] in text and q["answers"][0].lower() not in q["question"].lower()


def test_fronted_questions_invert_the_auxiliary_or_use_do():
    spacy = pytest.importorskip("spacy")
    nlp = spacy.load(nc.SPACY_PIPELINE)

    def ask(sentence: str, answer: str) -> str | None:
        doc = nlp(sentence)
        (ent,) = [e for e in doc.ents if e.text == answer]
        return questions._fronted(ent.sent, ent.start, ent.end, ent.label_)

    assert ask("In 1998, the project released version 2.0 with 1500 packages.", "1998") == \
        "When did the project release version 2.0 with 1500 packages?"
    assert ask("She married Tobias Fenwright in Dublin.", "Dublin") == "Where did she marry Tobias Fenwright?"
    assert ask("The capital of Norway is Oslo.", "Oslo") == "What is the capital of Norway?"
    assert ask("After the war, Smith moved to London with his wife.", "London") is None  # "to" is not "where"


def test_attach_questions_replaces_matching_passages_only(tmp_path, caplog):
    from doc2lora_rag.training.natural_corpus import attach_questions, text_sha

    docs = [{"id": "nat-00000", "source": "man", "text": "tar -x extracts files from an archive.",
             "questions": [{"question": "What does tar -x extracts?", "answers": ["files"]}]},
            {"id": "nat-00001", "source": "devil", "text": "ICHOR, n. A fluid that serves the gods.",
             "questions": [{"question": "What is ICHOR?", "answers": ["A fluid"]}]},
            {"id": "syn-1", "source": "synthetic", "text": "Deltibrook was founded in 1264.",
             "questions": [{"question": "When was Deltibrook founded?", "answers": ["1264"]}]}]
    hand = tmp_path / "hand.jsonl"
    hand.write_text("\n".join(json.dumps(r) for r in [
        {"id": "nat-00000", "sha256": text_sha(docs[0]["text"]), "questions": [
            {"question": "Which tar option unpacks an archive?", "answers": ["-x", "tar -x"]},
            {"question": "What does tar pack?", "answers": ["not in the text"]}]},
        {"id": "nat-00001", "sha256": text_sha("an older text"), "questions": [
            {"question": "What serves the gods in place of blood?", "answers": ["A fluid"]}]}]) + "\n")
    out = attach_questions(docs, hand)
    assert [d["id"] for d in out] == ["nat-00000", "nat-00001", "syn-1"]
    assert out[0]["questions"] == [{"question": "Which tar option unpacks an archive?", "answers": ["-x", "tar -x"]}]
    assert out[0]["questions_by"] == "hand"
    assert out[1]["questions"] == docs[1]["questions"]  # its text changed: keeps its own
    assert "differ from the text" in caplog.text and "no answer" in caplog.text
    only = attach_questions(docs, hand, only=True)
    assert [d["id"] for d in only] == ["nat-00000", "syn-1"]


def test_attach_questions_names_a_bad_line(tmp_path):
    from doc2lora_rag.errors import ConfigError
    from doc2lora_rag.training.natural_corpus import attach_questions

    hand = tmp_path / "hand.jsonl"
    hand.write_text('{"id": "nat-00000", "questions": []}\n')
    with pytest.raises(ConfigError, match="line 1"):
        attach_questions([], hand)


def test_the_handwritten_training_questions_are_well_formed():
    from pathlib import Path

    rows = [json.loads(line) for line in (Path(__file__).parents[1] / "data/train/handwritten_questions.jsonl").open()]
    assert len(rows) >= 300 and len({r["id"] for r in rows}) == len(rows)
    for r in rows:
        assert r["id"].startswith("nat-") and len(r["sha256"]) == 64 and int(r["sha256"], 16) >= 0
        assert r["source"] in nc.SOURCES and r["questions"], r["id"]
        for q in r["questions"]:
            assert q["question"].strip().endswith("?"), q
            assert q["answers"] and all(0 < len(a.split()) <= 6 for a in q["answers"]), q
