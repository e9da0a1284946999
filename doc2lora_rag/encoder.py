"""Encoder: the frozen base model read as a feature extractor over a document chunk.

For each requested layer l it returns the hidden state entering layer l ([B, L, T, D], so the
state that feeds the LoRA of layer l is read at that same layer) and, optionally, the input of each
LoRA target Linear at every token ([B, L, T, d_in]: for down_proj, the MLP's gated activations).
The forward pass stops after the last layer it needs (an early exit through a forward hook).
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from .base_model import BaseModel


class _EarlyExit(Exception):
    """Raised inside a forward hook to stop the base model once the needed layers have run."""


@dataclass
class Activations:
    hidden: torch.Tensor  # (B, L, T, D) hidden state entering each requested layer
    mask: torch.Tensor  # (B, T) 1 for real tokens
    target_inputs: dict[str, torch.Tensor]  # target -> (B, L, T, d_in), inputs of the target Linears
    next_embeddings: torch.Tensor  # (B, T, D) input embedding of the token after t (zero at the end)


class Encoder:
    """Reads per-layer activations of the frozen base model (no gradients)."""

    def __init__(self, base: BaseModel, layers: Sequence[int], capture_targets: Sequence[str] = ()) -> None:
        self.base = base
        self.layers = tuple(int(x) for x in layers)
        self.capture_targets = tuple(capture_targets)

    @torch.no_grad()
    def __call__(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> Activations:
        base = self.base
        model_layers = base.layers()
        captured: dict[tuple[str, int], torch.Tensor] = {}
        hidden: dict[int, torch.Tensor] = {}
        hooks = []
        last = max(self.layers)

        def keep_hidden(layer: int):
            def hook(_module, args, kwargs):
                hidden[layer] = (args[0] if args else kwargs["hidden_states"]).detach()
            return hook

        def keep_input(target: str, layer: int):
            def hook(_module, args):
                captured[(target, layer)] = args[0].detach()
                if layer == last and target == self.capture_targets[-1]:
                    raise _EarlyExit
            return hook

        def stop(_module, _args, _output):
            raise _EarlyExit

        slots = getattr(base, "slots", None)
        # The hooks live on the shared model: hold the slot lock so no answer runs through them meanwhile.
        with slots.lock if slots is not None else contextlib.nullcontext():
            for layer in self.layers:
                hooks.append(model_layers[layer].register_forward_pre_hook(keep_hidden(layer), with_kwargs=True))
                for t in self.capture_targets:
                    hooks.append(base.target_module(layer, t).register_forward_pre_hook(keep_input(t, layer)))
            if not self.capture_targets:
                hooks.append(model_layers[last].register_forward_hook(stop))
            try:
                with slots.use(None) if slots is not None else contextlib.nullcontext():
                    base.model(input_ids=input_ids, attention_mask=attention_mask, use_cache=False)
            except _EarlyExit:
                pass
            finally:
                for h in hooks:
                    h.remove()
        emb = base.model.get_input_embeddings()(input_ids)  # (B, T, D)
        next_emb = torch.zeros_like(emb)
        next_emb[:, :-1] = emb[:, 1:] * attention_mask[:, 1:, None].to(emb.dtype)
        return Activations(
            hidden=torch.stack([hidden[i] for i in self.layers], dim=1),
            mask=attention_mask,
            target_inputs={t: torch.stack([captured[(t, i)] for i in self.layers], dim=1) for t in self.capture_targets},
            next_embeddings=next_emb,
        )
