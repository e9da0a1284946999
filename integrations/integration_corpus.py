"""The tiny corpus and reference checks the integration tests share (importable from their tests:
pytest puts this folder on sys.path for its conftest.py)."""

from __future__ import annotations

import re
from typing import Any

from doc2lora_rag.serving import core_store

QUESTION = "Who built the lighthouse?"
DOCS = {
    "lighthouse": "The lighthouse on Kessel Point was built in 1871 by the engineer Ada Morrow.",
    "quinoa": "Quinoa prices in the Altiplano doubled after the 2013 harvest.",
    "ferries": "Seven ferries cross the strait every day in summer.",
    "violin": "The museum keeps a violin made in Cremona in 1698.",
}
MAX_TOKENS = 8


def direct_answer(engine: Any, store: Any, question: str, ids: list[str], context: str | None = None) -> str:
    """The engine's own answer with those adapters (the reference the integrations must match)."""
    adapters = [core_store(store).adapter(i) for i in ids]
    return engine.answer(question, adapters or None, context, max_new_tokens=MAX_TOKENS).text


def assert_no_document_text(call: Any) -> None:
    """No document's text, nor any distinctive word of it, reached the model (question or context)."""
    for text in DOCS.values():
        assert text not in call.question and (call.context is None or text not in call.context)
        for word in re.findall(r"\w{6,}", text):
            if word.lower() not in QUESTION.lower():
                assert word not in call.question and (call.context is None or word not in call.context)


def assert_example_routes_each_question_to_its_document(script: str, n: int = 3) -> None:
    """Run ``examples/<script> --tiny --n <n>`` (tiny model, offline) and check both pipelines ran and
    MiniLM routed each question to its own document."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    from doc2lora_rag.evaluation import load_qa

    repo = Path(__file__).resolve().parents[1]
    path = os.pathsep.join(filter(None, [str(repo), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PYTHONPATH": path}
    args = [sys.executable, f"examples/{script}", "--tiny", "--n", str(n)]
    proc = subprocess.run(args, cwd=repo, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("RAG, text in prompt") == n and proc.stdout.count("adapters, no text") == n
    expected = list(dict.fromkeys(item.doc for item in load_qa(repo / "examples" / "sample_qa.jsonl")))[:n]
    routed = re.findall(r"adapters (?:of )?\['([^']+)'", proc.stdout)
    assert [re.split("[#:]", r)[0] for r in routed] == expected
