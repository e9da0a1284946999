"""What both trainers share: config files, the learning-rate schedule, the step loop, answer token ids,
optimizer state in safetensors (never pickle)."""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import fields
from pathlib import Path
from typing import Any

import torch

from ..errors import ConfigError
from ..files import atomic_write

logger = logging.getLogger(__name__)


def answer_ids(tokenizer, answer: str) -> list[int]:
    """The answer's token ids followed by the chat end-of-turn token (the eos token where there is none)."""
    end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    end = end if isinstance(end, int) and end != tokenizer.unk_token_id else tokenizer.eos_token_id
    return tokenizer(answer, add_special_tokens=False)["input_ids"] + [end]


def save_optimizer(opt: torch.optim.Optimizer, path: Path) -> None:
    """The optimizer's per-parameter state as flat safetensors (`<param index>.<key>`), written atomically."""
    from safetensors.torch import save_file

    tensors = {}
    for i, st in enumerate(opt.state_dict()["state"].values()):
        for k, v in st.items():
            tensors[f"{i}.{k}"] = (v if torch.is_tensor(v) else torch.tensor(float(v))).detach().cpu().contiguous()
    atomic_write(path, lambda tmp: save_file(tensors, tmp))


def load_optimizer(opt: torch.optim.Optimizer, path: Path) -> None:
    """Restore what `save_optimizer` wrote into an optimizer over the same parameters."""
    from safetensors.torch import load_file

    flat = load_file(str(path))
    sd = opt.state_dict()
    state = {}
    for i, pid in enumerate(p for g in sd["param_groups"] for p in g["params"]):
        entry = {k.split(".", 1)[1]: v for k, v in flat.items() if k.split(".", 1)[0] == str(i)}
        if entry:
            state[pid] = entry
    sd["state"] = state
    opt.load_state_dict(sd)


def config_from_file(cls: Any, path: str | Path, overrides: dict[str, Any]) -> Any:
    """A config dataclass from a JSON file, with the non-None `overrides` on top; unknown keys are refused."""
    try:
        data = json.loads(Path(path).read_text())
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path} is not valid JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold one JSON object of training settings")
    data.update({k: v for k, v in overrides.items() if v is not None})
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"{path}: unknown training config keys {unknown}; allowed {sorted(known)}")
    return cls(**data)


def lr_factor(step: int, cfg: Any, elapsed_s: float = 0.0) -> float:
    """Linear warm-up, then cosine to min_lr_ratio over the steps or the time budget, whichever ends first."""
    if step < cfg.warmup_steps:
        return (step + 1) / cfg.warmup_steps
    progress = min(1.0, (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps))
    if cfg.time_budget_s:
        progress = max(progress, min(1.0, elapsed_s / cfg.time_budget_s))
    return cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


def start_step(opt: torch.optim.Optimizer, cfg: Any, step: int, elapsed_s: float) -> bool:
    """False once cfg's time budget is spent; else set the learning rates of this step.

    The optimizer's two parameter groups take cfg.lr and cfg.scale_lr, scaled by `lr_factor`.
    """
    if cfg.time_budget_s and elapsed_s > cfg.time_budget_s:
        logger.info("time budget reached at step %d", step)
        return False
    for g, base_lr in zip(opt.param_groups, (cfg.lr, cfg.scale_lr)):
        g["lr"] = base_lr * lr_factor(step, cfg, elapsed_s)
    return True


def run_steps(cfg: Any, opt: torch.optim.Optimizer, params: Any, step: int, t_start: float, bar: Any,
              step_loss: Callable[[int], tuple[torch.Tensor, float, int] | None],
              evaluate: Callable[[int, float | None], None], save: Callable[[int], None]) -> int:
    """The training loop both trainers run, from `step` until cfg.steps or the time budget; returns the last step.

    `step_loss(step)` builds one step's loss: (loss to minimise, task loss for the running average, items
    in the step), or None to skip the step. Gradients are clipped to cfg.grad_clip over `params`;
    `evaluate(step, loss_ema)` runs every cfg.eval_every steps and at the last, `save(step)` every
    cfg.checkpoint_every.
    """
    ema = None
    while step < cfg.steps:
        if not start_step(opt, cfg, step, time.perf_counter() - t_start):
            break
        t0 = time.perf_counter()
        out = step_loss(step)
        if out is None:
            step += 1
            continue
        loss, task, items = out
        opt.zero_grad(set_to_none=True)
        loss.backward()
        gnorm = float(torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip))
        opt.step()
        step += 1
        ema = task if ema is None else 0.95 * ema + 0.05 * task
        bar.update(1)
        bar.set_postfix(loss=f"{ema:.3f}", gnorm=f"{gnorm:.2f}", items_s=f"{items / (time.perf_counter() - t0):.1f}")
        if step % cfg.eval_every == 0 or step == cfg.steps:
            evaluate(step, ema)
        if step % cfg.checkpoint_every == 0:
            save(step)
    return step
