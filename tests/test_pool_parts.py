"""benchmarks/pool_parts.py: pooling eval_sets outputs of distinct parts, refusing overlapping ones."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from doc2lora_rag.errors import InputError

SPEC = importlib.util.spec_from_file_location("pool_parts", Path(__file__).parents[1] / "benchmarks" / "pool_parts.py")
pool_parts = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(pool_parts)


def write(path: Path, rows: list[tuple[str, str, bool]], mode: str = "selected") -> str:
    preds = [{"doc": d, "question": q, "correct": c, "short_correct": c, "f1": float(c), "prediction": "an answer"}
             for d, q, c in rows]
    path.write_text(json.dumps({"predictions": {mode: preds}}))
    return str(path)


def test_pools_parts_and_counts_gains(tmp_path, capsys):
    a = write(tmp_path / "a.json", [("d1", "q1", True), ("d1", "q2", False)])
    b = write(tmp_path / "b.json", [("d2", "q3", True), ("d2", "q4", True)])
    old_a = write(tmp_path / "oa.json", [("d1", "q1", False), ("d1", "q2", True)])
    old_b = write(tmp_path / "ob.json", [("d2", "q3", True), ("d2", "q4", False)])
    assert len(pool_parts.pooled([a, b], "selected")) == 4
    assert pool_parts.main([a, b, "--against", old_a, old_b]) == 0
    out = capsys.readouterr().out
    assert "pooled   selected: 0.750" in out and "n=4 docs=2" in out
    assert "against  selected: 0.500" in out
    assert "gained 2, lost 1 of 4 questions in both" in out
    assert "difference correct: +0.250" in out
    pairs = pool_parts.paired(pool_parts.pooled([a, b], "selected"), pool_parts.pooled([old_a, old_b], "selected"))
    diff, lo, hi = pool_parts.paired_difference(pairs)
    assert diff == 0.25 and lo <= diff <= hi and -1.0 <= lo and hi <= 1.0


def test_refuses_overlapping_parts_and_missing_mode(tmp_path):
    a = write(tmp_path / "a.json", [("d1", "q1", True)])
    b = write(tmp_path / "b.json", [("d1", "q2", True)])
    with pytest.raises(InputError, match="d1"):
        pool_parts.pooled([a, b], "selected")
    with pytest.raises(InputError, match="no predictions for mode 'adapter'"):
        pool_parts.pooled([a], "adapter")
    other = write(tmp_path / "c.json", [("d9", "q9", True)])
    with pytest.raises(InputError, match="share no question"):
        pool_parts.paired(pool_parts.pooled([a], "selected"), pool_parts.pooled([other], "selected"))
