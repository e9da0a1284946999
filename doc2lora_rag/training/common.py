"""Pieces both trainers use: answer token ids, optimizer state in safetensors (never pickle)."""

from __future__ import annotations

from pathlib import Path

import torch

from ..files import atomic_write


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
