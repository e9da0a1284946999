"""`doc2lora bench rag --quick --tiny` end to end, and the LangChain migration example with --tiny."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from doc2lora_rag.bench import BENCH_MODES, BenchConfig, kv_cache_bytes
from doc2lora_rag.bench.config import bench_modes
from doc2lora_rag.cli import main
from doc2lora_rag.errors import InputError

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "examples" / "sample_corpus"
QA = ROOT / "examples" / "sample_qa.jsonl"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
TINY_MODES = tuple(m for m in BENCH_MODES if m != "selected")

pytest.importorskip("matplotlib")


@pytest.fixture(scope="module")
def bench_out(tmp_path_factory, smollm2_tokenizer) -> Path:  # the tokenizer fixture skips when the embedded model is missing
    out = tmp_path_factory.mktemp("bench")
    rc = main(["bench", "rag", "--docs", str(CORPUS), "--qa", str(QA), "--out", str(out), "--quick", "--tiny", "--max-new-tokens", "4", "--distill-docs", "1"])
    assert rc == 0
    return out


def test_files_written(bench_out: Path) -> None:
    results = json.loads((bench_out / "results.json").read_text())
    for name in ("results.json", "predictions.jsonl", "report.md", "accuracy_by_mode.png", "latency_by_mode.png", "memory_vs_length.png",
                 "accuracy_vs_chunks.png"):
        assert (bench_out / name).is_file(), name
        assert name in results["files"]
    for png in bench_out.glob("*.png"):
        data = png.read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 1000, png.name
    report = (bench_out / "report.md").read_text()
    for needle in ("## Results by mode", "## Accuracy vs number of chunks", "## Project targets", "load average", "transformers", "peft", "torch threads"):
        assert needle in report
    for mode in TINY_MODES:
        assert f"| {mode} |" in report
    assert "| selected |" not in report  # the tiny run's hypernetwork cannot write for a question


def test_results_are_sane(bench_out: Path) -> None:
    r = json.loads((bench_out / "results.json").read_text())
    assert set(r["modes"]) == set(TINY_MODES)
    assert r["corpus"]["questions"] == 4 and r["config"]["quick"] and r["config"]["tiny"]
    for mode, s in r["modes"].items():
        assert s["n"] == 4
        assert 0.0 <= s["accuracy"] <= 1.0 and 0.0 <= s["f1"] <= 1.0
        assert 0 < s["latency_p50_s"] <= s["latency_p95_s"] < 60
        assert s["prompt_tokens_mean"] > 10 and s["kv_cache_bytes_mean"] > 0
        if mode in ("classic-rag", "adapter", "hybrid"):
            assert 0.0 <= s["recall_at_k"] <= 1.0
        else:
            assert s["recall_at_k"] is None
        assert (s["adapter_mem_bytes_mean"] > 0) == (mode in ("adapter", "hybrid"))
    m = r["modes"]
    # the same k chunk texts are in the classic and hybrid prompts; adapter mode's prompt is the bare question's
    assert m["classic-rag"]["prompt_tokens_mean"] == m["hybrid"]["prompt_tokens_mean"] > m["adapter"]["prompt_tokens_mean"]
    assert m["adapter"]["prompt_tokens_mean"] == m["none"]["prompt_tokens_mean"]
    # KV bytes grow with prompt length, at a fixed number of bytes per token
    per_token = {mode: s["kv_cache_bytes_mean"] / s["prompt_tokens_mean"] for mode, s in m.items()}
    assert max(per_token.values()) == pytest.approx(min(per_token.values()))
    assert r["adapters"]["files"] >= 1 and r["adapters"]["disk_bytes"] > 0
    assert r["ingest"]["seconds_per_chunk_group"] > 0
    mem = r["memory_vs_length"]
    assert mem["tokens"][0] == 512 and mem["tokens"][-1] == 16384
    assert mem["kv_measured"][:2] == [True, True] and not mem["kv_measured"][-1]
    assert all(b > a for a, b in zip(mem["kv_bytes"], mem["kv_bytes"][1:]))
    assert mem["kv_bytes"][1] == 2 * mem["kv_bytes"][0]  # linear in tokens: the extrapolation is exact
    avc = r["accuracy_vs_chunks"]
    assert avc["k"] == [1, 4] and set(avc["modes"]) == {"classic-rag", "adapter", "hybrid"}
    for mode, vals in avc["modes"].items():
        # the main run's k is taken from its own records; k=1 answered afresh
        assert vals["accuracy"][-1] == m[mode]["accuracy"] and vals["recall"][-1] == m[mode]["recall_at_k"]
        assert all(0.0 <= x <= 1.0 for x in vals["accuracy"] + vals["recall"])
        assert vals["recall"][0] <= vals["recall"][-1]  # more chunks retrieved never lowers recall
    d = r["distill"]
    assert d["chunks"] >= 1 and d["seconds_per_chunk"] > 0 and d["n"] >= 1 and 0.0 <= d["accuracy"] <= 1.0
    names = {t["name"]: t for t in r["targets"]}
    assert set(names) == {"adapter_vs_oracle", "hybrid_vs_classic", "adapter_latency", "adapter_memory", "generation_speed"}
    for t in names.values():
        assert t["met"] in (True, False, None)
        assert t["value"] is None or math.isfinite(t["value"])
    lines = (bench_out / "predictions.jsonl").read_text().splitlines()
    assert len(lines) == 4 * len(TINY_MODES)


def test_selected_mode_runs_where_the_generator_writes_for_a_question() -> None:
    class Memory:
        def generate_for(self, text, question, embedder, sentences=1):  # noqa: ANN001, ANN202
            raise AssertionError("not called")

    assert bench_modes(Memory()) == BENCH_MODES and "selected" in BENCH_MODES
    assert bench_modes(object()) == TINY_MODES


def test_kv_cache_bytes_formats() -> None:
    import torch

    k = torch.zeros(1, 2, 10, 16)
    assert kv_cache_bytes(((k, k), (k, k))) == 4 * k.numel() * 4
    assert kv_cache_bytes(None) == 0
    with pytest.raises(TypeError):
        kv_cache_bytes(object())


def test_config_is_checked(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="k"):
        BenchConfig(docs=str(CORPUS), qa=str(QA), out=str(tmp_path), k=0)
    with pytest.raises(InputError, match="generator"):
        BenchConfig(docs=str(CORPUS), qa=str(QA), out=str(tmp_path), generator="other")
    with pytest.raises(InputError, match="folder"):
        BenchConfig(docs=str(tmp_path / "missing"), qa=str(QA), out=str(tmp_path))


def test_migrate_example_tiny(smollm2_tokenizer) -> None:
    pytest.importorskip("langchain_core")  # the example migrates a LangChain pipeline; the benchmark itself needs no framework
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))  # keep the caller's path (installed or not)
    env = {**os.environ, "PYTHONPATH": path, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    proc = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "migrate_benchmark.py"), "--tiny"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=180
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.splitlines()
    assert any(line.startswith("stuffed RAG") for line in lines) and any(line.startswith("adapters") for line in lines)
