"""The gensim part of the natural corpus: news articles and encyclopedia passages with hand-written questions, held-out blocks."""

from __future__ import annotations

import json
import zipfile

import pytest

from doc2lora_rag import ConfigError
from doc2lora_rag.training.gensim_corpus import MEMBER, lee_articles, main, news_docs
from doc2lora_rag.training.natural_corpus import text_sha

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
    assert json.loads((tmp_path / "dev" / "news" / "p0" / "split.json").read_text())["dev"] == ["lee-003.txt"]
    with pytest.raises(ConfigError, match="no passage of those blocks"):
        main(["--questions", str(_questions(tmp_path)), "--lee", str(cor), "--out", str(out), "--dev-from", "lee-9",
              "--dev-out", str(tmp_path / "dev2")])


def test_encyclopedia_passages_are_prose_paragraphs_of_each_page(tmp_path) -> None:
    import bz2

    from doc2lora_rag.training.gensim_corpus import WIKI_MEMBER, wiki_pages, wiki_passages

    para = ("The harbour town of Polwenna was founded in 1402 by fishermen from the north coast, who built the first "
            "quay of granite brought by boat from the quarries at Trewint, three miles along the shore. ")
    wikitext = ("'''Polwenna''' is a town.\n\n" + "[[Category:Towns]]\n" + (para * 2) + "\n\n== History ==\n" +
                "{| class=wikitable\n| a || b\n|}\n" + "\n".join([para * 3] * 4))
    xml = ('<mediawiki xmlns="http://www.mediawiki.org/xml/export-0.10/"><page><title>Polwenna</title><revision>'
           f"<text>{wikitext}</text></revision></page><page><title>Old</title><revision><text>#REDIRECT [[Polwenna]]"
           "</text></revision></page></mediawiki>")
    wheel = tmp_path / "gensim-4.4.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        z.writestr(WIKI_MEMBER, bz2.compress(xml.encode()))
    pages = wiki_pages(wheel)
    assert [t for t, _ in pages] == ["Polwenna"] and "'''" not in pages[0][1]  # the redirect is skipped, markup stripped
    docs = wiki_passages(pages, per_page=3, min_words=60, max_words=200)
    assert [d["id"] for d in docs] == ["wiki-000", "wiki-001", "wiki-002"] and all(d["source"] == "encyclopedia" for d in docs)
    assert all(d["text"].startswith("Polwenna\nThe harbour town") for d in docs)
    assert not any("Category" in d["text"] or "wikitable" in d["text"] or "|" in d["text"] for d in docs)
    assert docs == wiki_passages(pages, per_page=3, min_words=60, max_words=200)  # seeded
