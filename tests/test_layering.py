"""Layering: read every module's imports from its source (lazy imports inside functions included).

  - no module of doc2lora_rag imports an integration or a framework (langchain*, llama_index*): the
    integrations import the package, never the reverse;
  - the core (every module of doc2lora_rag outside the layers above it) never imports the packages
    above the core either: training, bench, synth, the command line and evaluation;
  - no module imports another module's private (underscore) name, nor reads one as `module._name`.

`test_packaging` checks what `import doc2lora_rag` loads at run time; this test also sees the imports
that only run inside a function (the benchmark's LangChain baseline, the memory generator's first-use
fit), which a run-time check misses.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = "doc2lora_rag"
ABOVE_CORE = ("training", "bench", "synth", "cli", "cli_model", "evaluation", "__main__")  # may import the core, never the reverse
FRAMEWORKS = ("integrations", "langchain", "langchain_core", "langchain_classic", "langchain_community", "llama_index")
FORBIDDEN_FOR_CORE = (*FRAMEWORKS, *(f"{PACKAGE}.{name}" for name in ABOVE_CORE))
SCANNED = ("doc2lora_rag", "integrations", "benchmarks", "examples")  # whose private-name imports are checked


@dataclass(frozen=True)
class Import:
    module: str  # the absolute module imported from (or imported)
    names: tuple[str, ...]  # the names taken from it (empty for `import module`)
    line: int


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def absolute(node: ast.ImportFrom, name: str, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    base = name.split(".") if is_package else name.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def imports(path: Path, source: str | None = None) -> list[Import]:
    """Every import statement of a file (or of `source`, read as that file), at any depth (functions, methods, try blocks)."""
    name, is_package = module_name(path), path.name == "__init__.py"
    out = []
    for node in ast.walk(ast.parse(path.read_text() if source is None else source, str(path))):
        if isinstance(node, ast.Import):
            out.extend(Import(alias.name, (), node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            out.append(Import(absolute(node, name, is_package), tuple(a.name for a in node.names), node.lineno))
    return out


def is_submodule(module: str, name: str) -> bool:
    """True when `from module import name` takes a module (a private module of a package is allowed)."""
    base = REPO.joinpath(*module.split("."))
    return (base / f"{name}.py").is_file() or (base / name / "__init__.py").is_file()


def private_uses(path: Path) -> list[str]:
    """`from m import _x` and `m._x` (m an imported module) where m is another module of this repository."""
    own = module_name(path)
    found = []
    module_aliases: dict[str, str] = {}
    for imp in imports(path):
        if imp.module == "__future__":
            continue
        for n in imp.names:
            if is_submodule(imp.module, n):
                module_aliases[n] = f"{imp.module}.{n}"
            elif n.startswith("_") and not n.startswith("__") and imp.module != own:
                found.append(f"{path.relative_to(REPO)}:{imp.line} imports {imp.module}.{n}")
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    module_aliases[alias.asname] = alias.name
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in module_aliases
                and node.attr.startswith("_") and not node.attr.startswith("__")):
            found.append(f"{path.relative_to(REPO)}:{node.lineno} reads {module_aliases[node.value.id]}.{node.attr}")
    return found


def package_files(*roots: str) -> list[Path]:
    return sorted(p for root in roots for p in (REPO / root).rglob("*.py") if "__pycache__" not in p.parts)


def is_core(path: Path) -> bool:
    parts = path.relative_to(REPO / PACKAGE).with_suffix("").parts
    return parts[0] not in ABOVE_CORE


CORE_FILES = [p for p in package_files(PACKAGE) if is_core(p)]


def test_core_is_found() -> None:
    names = {module_name(p) for p in CORE_FILES}
    for expected in ("doc2lora_rag", "doc2lora_rag.store", "doc2lora_rag.generators", "doc2lora_rag.lora", "doc2lora_rag.routing"):
        assert expected in names, f"{expected} is not among the core modules this test reads"
    assert not any(module_name(p).startswith(("doc2lora_rag.training", "doc2lora_rag.bench", "doc2lora_rag.synth")) for p in CORE_FILES)


@pytest.mark.parametrize("path", CORE_FILES, ids=lambda p: str(p.relative_to(REPO)))
def test_core_never_imports_upwards(path: Path) -> None:
    bad = forbidden(path, FORBIDDEN_FOR_CORE)
    assert not bad, f"{path.relative_to(REPO)} (core) imports from above the core: {bad}"


@pytest.mark.parametrize("path", [p for p in package_files(PACKAGE) if not is_core(p)], ids=lambda p: str(p.relative_to(REPO)))
def test_package_never_imports_frameworks(path: Path) -> None:
    bad = forbidden(path, FRAMEWORKS)
    assert not bad, f"{path.relative_to(REPO)} imports an integration or a framework: {bad}"


def forbidden(path: Path, prefixes: tuple[str, ...]) -> list[str]:
    """The imports of `path` from any of the modules `prefixes` (or their submodules)."""
    above = {p.removeprefix(PACKAGE + ".") for p in prefixes if p.startswith(PACKAGE + ".")}
    return [f"line {imp.line}: {imp.module}" + (f" ({', '.join(imp.names)})" if imp.names else "")
            for imp in imports(path)
            if any(imp.module == f or imp.module.startswith(f + ".") for f in prefixes)
            or (imp.module == PACKAGE and set(imp.names) & above)]


def test_no_module_imports_private_names() -> None:
    bad = [use for p in package_files(*SCANNED) for use in private_uses(p)]
    assert not bad, "private names used across modules:\n" + "\n".join(bad)


def test_the_checks_see_lazy_imports() -> None:
    """The parser finds imports inside a function body, resolves relative ones, and keeps the names taken."""
    source = "def f():\n    from langchain_core.documents import Document\n    from ..lora import _x\n"
    found = {(imp.module, imp.names) for imp in imports(REPO / PACKAGE / "store" / "facade.py", source)}
    assert found == {("langchain_core.documents", ("Document",)), ("doc2lora_rag.lora", ("_x",))}


def test_every_internal_import_names_an_existing_module() -> None:
    """A moved module leaves no import behind (lazy ones run only when their function does)."""
    def exists(module: str) -> bool:
        base = REPO.joinpath(*module.split("."))
        return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()

    bad = [f"{p.relative_to(REPO)}:{imp.line} {imp.module}" for p in package_files(*SCANNED) for imp in imports(p)
           if imp.module.split(".")[0] in (PACKAGE, "integrations") and not exists(imp.module)]
    assert not bad, "imports of modules that do not exist:\n" + "\n".join(bad)
