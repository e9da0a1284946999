"""The news part of the natural corpus: the Lee corpus's articles with hand-written questions, a held-out block."""

from __future__ import annotations

import json
import zipfile

import pytest

from doc2lora_rag import ConfigError
from doc2lora_rag.training.natural_corpus import text_sha
from doc2lora_rag.training.news_corpus import MEMBER, lee_articles, main, news_docs

ARTICLES = ["Fire crews from Mittagong saved 12 homes on Tuesday.", "The council met in Goulburn and voted 5 to 2.",
            "Fire crews from Mittagong saved 12 homes on Tuesday.", "Qantas said 3,000 jobs would go by June."]


def _questions(tmp_path):
    rows = [{"id": "lee-000", "sha256": text_sha(ARTICLES[0]), "questions": [{"question": "Where were the crews from?",
                                                                              "answers": ["Mittagong"]}]},
            {"id": "lee-001", "sha256": text_sha(ARTICLES[1]), "questions": [{"question": "Where did the council meet?",
                                                                              "answers": ["Goulburn"]}]},
            {"id": "lee-003", "sha256": text_sha(ARTICLES[3]), "questions": [{"question": "How many Qantas jobs go?",
                                                                              "answers": ["3,000 jobs"]},
                                                                             {"question": "Which airline?", "answers": ["Ansett"]}]}]
    path = tmp_path / "q.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_articles_come_from_the_wheel_or_the_file_each_text_once(tmp_path) -> None:
    cor = tmp_path / "lee_background.cor"
    cor.write_text("\n".join(ARTICLES) + "\n\n")
    wheel = tmp_path / "gensim-4.4.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        z.writestr(MEMBER, cor.read_text())
    assert lee_articles(cor) == lee_articles(wheel) == ARTICLES
    assert [d["id"] for d in news_docs(ARTICLES)] == ["lee-000", "lee-001", "lee-003"]  # lee-002 repeats lee-000
    with pytest.raises(ConfigError, match="no Lee corpus"):
        lee_articles(tmp_path / "missing.cor")


def test_corpus_and_development_block(tmp_path, capsys) -> None:
    cor = tmp_path / "lee.cor"
    cor.write_text("\n".join(ARTICLES))
    head = tmp_path / "natural.jsonl"
    head.write_text(json.dumps({"id": "nat-00000", "source": "man", "text": "x", "questions": []}) + "\n")
    out = tmp_path / "corpus.jsonl"
    assert main(["--questions", str(_questions(tmp_path)), "--lee", str(cor), "--append", str(head), "--out", str(out),
                 "--dev-from", "lee-003", "--dev-out", str(tmp_path / "dev")]) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in rows] == ["nat-00000", "lee-000", "lee-001", "lee-003"]
    assert rows[-1]["questions"] == [{"question": "How many Qantas jobs go?", "answers": ["3,000 jobs"]}]  # no answer dropped
    assert json.loads((tmp_path / "dev" / "ids.json").read_text()) == ["lee-003"]
    assert json.loads((tmp_path / "dev" / "p0" / "split.json").read_text())["dev"] == ["lee-003.txt"]
    with pytest.raises(ConfigError, match="no article from that id on"):
        main(["--questions", str(_questions(tmp_path)), "--lee", str(cor), "--out", str(out), "--dev-from", "lee-9",
              "--dev-out", str(tmp_path / "dev2")])
