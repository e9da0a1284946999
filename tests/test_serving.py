"""doc2lora_rag.serving, what the framework distributions under integrations/ import from the core:
its pinned API, and nothing in doc2lora_rag imports a distribution back (read from the source, lazy
imports included; tests/test_layering.py on the arch branch checks the frameworks themselves)."""

from __future__ import annotations

import ast
from pathlib import Path

import doc2lora_rag

PACKAGE = Path(doc2lora_rag.__file__).resolve().parent
INTEGRATIONS = ("integrations", "langchain_doc2lora")


def imported_roots(path: Path) -> set[str]:
    """Top-level names of every absolute import in a file, wherever it stands (module, function, try)."""
    roots = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            roots.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
            if node.module.startswith("llama_index.") and node.module.split(".")[1] in ("llms", "vector_stores"):
                roots.add("integrations")  # a llama-index-*-doc2lora distribution
    return roots


def modules() -> dict[str, Path]:
    return {str(p.relative_to(PACKAGE).with_suffix("")).replace("/", "."): p for p in sorted(PACKAGE.rglob("*.py"))}


def test_nothing_in_the_package_imports_an_integration() -> None:
    offenders = {name: sorted(imported_roots(path) & set(INTEGRATIONS)) for name, path in modules().items()}
    assert {name: found for name, found in offenders.items() if found} == {}


def test_serving_api_is_pinned() -> None:
    """What the framework distributions import from the core (doc2lora_rag.serving): changing it breaks them."""
    from doc2lora_rag import serving

    assert serving.__all__ == [
        "DEFAULT_MAX_NEW_TOKENS",
        "ROUTING_KEYS",
        "StopFilter",
        "TextEmbeddingRouter",
        "answer",
        "check_adapter_ids",
        "check_engine",
        "check_filter_keys",
        "check_question",
        "check_stop",
        "core_store",
        "count_tokens",
        "cut_at_stop",
        "load_adapters",
        "metadata_keys",
        "prompt_tokens",
        "routing_keys",
        "shared_engine",
        "stream",
    ]
    for name in serving.__all__:
        assert getattr(serving, name) is not None
