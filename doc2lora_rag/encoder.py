"""Encoder: the frozen base model read as a feature extractor over a document chunk.

For each requested layer l it returns the hidden state entering layer l ([B, L, T, D], so the
state that feeds the LoRA of layer l is read at that same layer) and, optionally, the input of each
LoRA target Linear at every token ([B, L, T, d_in]: for down_proj, the MLP's gated activations) and
the input of the module holding it ([B, L, T, D]: for down_proj, the MLP's normalised input).
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
    parent_inputs: dict[str, torch.Tensor]  # target -> (B, L, T, D), inputs of the modules holding them (when asked)
    next_embeddings: torch.Tensor  # (B, T, D) input embedding of the token after t (zero at the end)


class Encoder:
    """Reads per-layer activations of the frozen base model (no gradients)."""

    def __init__(self, base: BaseModel, layers: Sequence[int], capture_targets: Sequence[str] = (),
                 capture_parents: Sequence[str] = ()) -> None:
        """`capture_targets`: targets whose Linear inputs are returned; `capture_parents`: targets whose holding
        module's inputs are returned (for down_proj, the MLP's input)."""
        self.base = base
        self.layers = tuple(int(x) for x in layers)
        self.capture_targets = tuple(capture_targets)
        self.capture_parents = tuple(capture_parents)

    @torch.no_grad()
    def __call__(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> Activations:
        base = self.base
        model_layers = base.layers()
        captured: dict[tuple[str, int], torch.Tensor] = {}
        hidden: dict[int, torch.Tensor] = {}
        parents: dict[tuple[str, int], torch.Tensor] = {}
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

        def keep_parent_input(target: str, layer: int):
            def hook(_module, args, kwargs):
                parents[(target, layer)] = (args[0] if args else next(iter(kwargs.values()))).detach()
                if not self.capture_targets and layer == last and target == self.capture_parents[-1]:
                    raise _EarlyExit  # nothing else to read in this layer
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
                for t in self.capture_parents:
                    hooks.append(base.target_parent(layer, t).register_forward_pre_hook(keep_parent_input(t, layer), with_kwargs=True))
            if not self.capture_targets and not self.capture_parents:
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
            parent_inputs={t: torch.stack([parents[(t, i)] for i in self.layers], dim=1) for t in self.capture_parents},
            next_embeddings=next_emb,
        )


@torch.no_grad()
def target_inputs_from_parents(base: BaseModel, layers: Sequence[int], target: str, parent_inputs: torch.Tensor) -> torch.Tensor:
    """(L, n, D) inputs of the modules holding `target` at `layers` -> (L, n, d_in) inputs of the target Linear.

    Runs each holding module (e.g. the MLP) on its input until the target Linear is reached: what a full
    forward pass would have given at those tokens, without the rest of the model.
    """
    out: list[torch.Tensor] = []
    slots = getattr(base, "slots", None)

    def keep(_module, args):
        out.append(args[0].detach())
        raise _EarlyExit

    with slots.lock if slots is not None else contextlib.nullcontext():
        for i, layer in enumerate(layers):
            hook = base.target_module(layer, target).register_forward_pre_hook(keep)
            try:
                base.target_parent(layer, target)(parent_inputs[i][None].to(device=base.device, dtype=base.dtype))
            except _EarlyExit:
                pass
            finally:
                hook.remove()
    if len(out) != len(layers):
        raise RuntimeError(f"the {target} Linear was not reached from the module holding it in {len(layers) - len(out)} layers")
    return torch.stack([x[0] for x in out])
