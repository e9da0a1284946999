"""benchmarks/ship_rule.py: the pooled no-loss check and the clear-loss guards over eval_sets outputs."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from doc2lora_rag.errors import InputError

SPEC = importlib.util.spec_from_file_location("ship_rule", Path(__file__).parents[1] / "benchmarks" / "ship_rule.py")
ship_rule = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(ship_rule)


def write(path: Path, right: list[bool], adapter: list[bool] | None = None, docs: int = 10, prefix: str = "") -> None:
    """One eval file: question i belongs to document `prefix`d{i % docs}."""
    def rows(flags: list[bool]) -> list[dict]:
        return [{"doc": f"{prefix}d{i % docs}", "question": f"q{i}", "correct": c, "short_correct": c, "f1": float(c),
                 "prediction": "an answer"} for i, c in enumerate(flags)]
    preds = {"selected": rows(right)}
    if adapter is not None:
        preds["adapter"] = rows(adapter)
    path.write_text(json.dumps({"predictions": preds}))


def test_equal_runs_pass_and_a_clear_loss_fails(tmp_path):
    base = [i % 2 == 0 for i in range(40)]
    write(tmp_path / "a-old.json", base, adapter=base)
    write(tmp_path / "a-same.json", base, adapter=base)
    write(tmp_path / "a-worse.json", [False] * 40, adapter=base)
    assert ship_rule.main(["--dir", str(tmp_path), "--new", "same", "--against", "old", "--primary", "a", "--adapter", "a"]) == 0
    ok, lines = ship_rule.judge(tmp_path, "worse", "old", ["a"], [], ["a"])
    assert not ok
    assert any(line.startswith("FAIL guard") for line in lines)
    assert any(line.startswith("FAIL primary") for line in lines)


def test_pools_parts_and_checks_guard_sets(tmp_path):
    base = [i % 3 == 0 for i in range(30)]
    write(tmp_path / "a-old.json", base)
    write(tmp_path / "a-new.json", [True] * 30)  # primary gains
    for part in (0, 1):  # a guard set scored in two parts, with a clear loss
        write(tmp_path / f"g-old-p{part}.json", [True] * 20, docs=5, prefix=f"p{part}-")
        write(tmp_path / f"g-new-p{part}.json", [False] * 20, docs=5, prefix=f"p{part}-")
    ok, lines = ship_rule.judge(tmp_path, "new", "old", ["a"], ["g"], [])
    assert not ok
    assert [line.split()[0] for line in lines if " g " in line] == ["FAIL", "FAIL"]
    assert all(line.startswith("ok") for line in lines if "primary" in line)
    assert "n=40" in next(line for line in lines if " g " in line)


def test_missing_file_names_the_expected_paths(tmp_path):
    with pytest.raises(InputError, match="expected .*a-new.json"):
        ship_rule.judge(tmp_path, "new", "old", ["a"], [], [])
