"""Packaging: the core imports no framework, the public API is pinned, the CLI runs."""

from __future__ import annotations

import json
import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import doc2lora_rag

REPO = Path(__file__).resolve().parents[1]
OPTIONAL_SUBPACKAGES = {"training", "integrations"}  # allowed to import heavier things; never imported by the core
CORE = {"base_model", "model_specs", "lora", "files", "encoder", "generators", "prompts", "llm", "errors", "store", "routing", "cli"}


def core_modules() -> list[str]:
    names = [m.name for m in pkgutil.iter_modules(doc2lora_rag.__path__)]
    return sorted(f"doc2lora_rag.{n}" for n in names if n not in OPTIONAL_SUBPACKAGES and n != "__main__")


def run(*args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    return subprocess.run([sys.executable, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)


def test_core_modules_are_discovered() -> None:
    found = {m.rsplit(".", 1)[1] for m in core_modules()}
    assert CORE <= found, f"missing core modules: {sorted(CORE - found)}"
    assert not found & OPTIONAL_SUBPACKAGES


def test_core_imports_neither_langchain_nor_llama_index() -> None:
    modules = core_modules()
    code = (
        "import importlib, json, sys\n"
        "import doc2lora_rag\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0].startswith(('langchain', 'llama_index')))))\n"
    )
    proc = run("-c", code)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == []


def test_public_api_is_pinned() -> None:
    assert doc2lora_rag.__all__ == [
        "AdapterGenerator",
        "AdapterStore",
        "AnswerEngine",
        "BaseModel",
        "ConfigError",
        "CorruptFileError",
        "Doc2LoRAError",
        "Document",
        "InputError",
        "LoraSlots",
        "LoraWeights",
        "MissingDependencyError",
        "ModelMismatchError",
        "StoreError",
        "StoreQA",
        "load_base_model",
    ]
    for name in doc2lora_rag.__all__:
        assert getattr(doc2lora_rag, name) is not None
    assert isinstance(doc2lora_rag.__version__, str)


def test_cli_help() -> None:
    proc = run("-m", "doc2lora_rag.cli", "--help")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("usage: doc2lora") and "info" in proc.stdout


def test_cli_registry_drives_the_parser() -> None:
    from doc2lora_rag import cli

    parser = cli.build_parser()
    names = [name for name, _ in cli.COMMANDS]
    assert names[0] == "info" and len(set(names)) == len(names)
    for name in names:
        assert callable(parser.parse_args([name]).handler)


@pytest.mark.real_model
def test_cli_info_text_and_json() -> None:
    proc = run("-m", "doc2lora_rag.cli", "info")
    assert proc.returncode == 0, proc.stderr[-3000:]
    for label in ("base model : smollm2-135m-instruct", "default    : memory generator", "hypernet   :", "memory gen :", "device     :",
                  "versions   :", "torch", "peft"):
        assert label in proc.stdout
    proc = run("-m", "doc2lora_rag", "info", "--json")
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout)
    assert report["base_model"]["name"] == "smollm2-135m-instruct" and report["base_model"]["num_layers"] == 30
    assert report["generator"]["kind"] in {"packaged", "untrained"} and report["default_generator"] == "memory"
    assert set(report["memory_generator"]) == {"transforms", "trained_steps", "statistics"}
    assert set(report["versions"]) == {"python", "torch", "transformers", "peft", "doc2lora_rag"}


def test_cli_user_errors_exit_2_with_a_message(tmp_path: Path, capsys) -> None:
    from doc2lora_rag import cli

    assert cli.main(["info", "--base", str(tmp_path / "no-such-model")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: cannot load base model") and "no-such-model" in err
    assert cli.main([]) == 2  # no subcommand: help, exit 2
    with pytest.raises(SystemExit) as exc:
        cli.main(["no-such-command"])
    assert exc.value.code == 2
