"""`LoraSlots` wraps each target Linear of a model once with a `SlotLinear`. All slot memory lives in
one pre-allocated, rank-padded buffer per target, [S + 1, L, R, d] (index S is a permanent zero
slot), and each `SlotLinear` holds views into it, so activating an adapter is a `copy_` per target.
A forward pass uses either no slot (the base Linear alone, bit for bit), one slot for the whole
batch, one slot per batch row, or "live" per-row tensors that carry gradients (training).
"""

from __future__ import annotations

import contextlib
import threading
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from typing import Any

import torch
from torch import nn

from ..errors import InputError, ModelMismatchError
from .weights import LoraWeights


class _SlotState:
    """Which slot(s) the wrapped layers use in the current forward pass."""

    def __init__(self) -> None:
        self.slot: int | None = None  # one slot for the whole batch
        self.rank: int = 0  # rank loaded in that slot: the forward pass reads only that much of the padding
        self.rows: torch.Tensor | None = None  # [batch] slot index per row


class SlotLinear(nn.Module):
    """A target Linear plus views into the slot buffers of its layer: y = base(x) + B_s (A_s x)."""

    def __init__(self, base_layer: nn.Linear, state: _SlotState, a: torch.Tensor, b: torch.Tensor) -> None:
        super().__init__()
        self.base_layer = base_layer
        self.in_features, self.out_features = base_layer.in_features, base_layer.out_features
        self._state = state
        self.slot_a = a  # [S + 1, R, d_in]  (views into LoraSlots buffers; not registered)
        self.slot_b = b  # [S + 1, d_out, R]
        self.live: tuple[torch.Tensor, torch.Tensor] | None = None  # ([B, r, d_in], [B, d_out, r])

    @property
    def weight(self) -> torch.Tensor:
        return self.base_layer.weight

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.base_layer(x)
        if self.live is not None:  # differentiable per-row adapters (training)
            a, b = self.live
            return y + torch.bmm(torch.bmm(x, a.transpose(1, 2).to(x.dtype)), b.transpose(1, 2).to(x.dtype))
        st = self._state
        if st.rows is not None:  # one slot per row of a mixed batch
            a, b = self.slot_a[st.rows], self.slot_b[st.rows]  # (B, R, d_in), (B, d_out, R)
            return y + torch.bmm(torch.bmm(x, a.transpose(1, 2)), b.transpose(1, 2))
        if st.slot is not None:
            r = st.rank
            return y + (x @ self.slot_a[st.slot, :r].T) @ self.slot_b[st.slot, :, :r].T
        return y


class LoraSlots:
    """Pre-allocated adapter slots over the target Linears of a base model.

    Wrap once (`LoraSlots(base, num_slots=4, max_rank=32)`), then `load(slot, lora)` copies an
    adapter in (rank-padded with zeros) and `use(slot)` / `use_rows([...])` activate it for the
    forward passes inside the `with` block; `grow(rank)` enlarges every slot. Not thread-safe by
    itself: callers serialise with `lock`.
    """

    def __init__(self, base: Any, num_slots: int = 4, max_rank: int = 32, targets: Sequence[str] = ("down_proj",)) -> None:
        if num_slots < 1 or max_rank < 1:
            raise InputError(f"num_slots and max_rank must be >= 1, got {num_slots} and {max_rank}")
        self.base = base
        self.num_slots, self.max_rank, self.targets = num_slots, max_rank, tuple(targets)
        self.lock = threading.RLock()
        self._state = _SlotState()
        self._loaded: list[str | None] = [None] * num_slots
        self._ranks: list[int] = [0] * num_slots
        # adapter key -> slot, shared by every engine on this model so that none serves stale weights
        self.lru: OrderedDict[str, int] = OrderedDict()
        self.buffers_a: dict[str, torch.Tensor] = {}
        self.buffers_b: dict[str, torch.Tensor] = {}
        self.modules: dict[str, list[SlotLinear]] = {}
        n_layers = base.num_layers
        for t in self.targets:
            d_in, d_out = base.target_shape(t)
            dev, dt = base.device, base.dtype
            self.buffers_a[t] = torch.zeros(num_slots + 1, n_layers, max_rank, d_in, device=dev, dtype=dt)
            self.buffers_b[t] = torch.zeros(num_slots + 1, n_layers, d_out, max_rank, device=dev, dtype=dt)
            self.modules[t] = [self._wrap(layer, t) for layer in range(n_layers)]

    def grow(self, rank: int) -> None:
        """Enlarge every slot to at least `rank` (rounded up to a multiple of 32); loaded adapters are kept."""
        if rank <= self.max_rank:
            return
        new = -(-rank // 32) * 32
        with self.lock, torch.no_grad():
            for t in self.targets:
                old_a, old_b = self.buffers_a[t], self.buffers_b[t]
                a = old_a.new_zeros(*old_a.shape[:2], new, old_a.shape[3])
                b = old_b.new_zeros(*old_b.shape[:3], new)
                a[:, :, : self.max_rank] = old_a
                b[..., : self.max_rank] = old_b
                self.buffers_a[t], self.buffers_b[t] = a, b
                for layer, m in enumerate(self.modules[t]):
                    m.slot_a, m.slot_b = a[:, layer], b[:, layer]
            self.max_rank = new

    def _wrap(self, layer: int, target: str) -> SlotLinear:
        path = self.base.spec.targets[target]
        parent = self.base.layers()[layer]
        *head, leaf = path.split(".")
        for part in head:
            parent = getattr(parent, part)
        current = getattr(parent, leaf)
        if isinstance(current, SlotLinear):
            raise InputError(f"layer {layer} {target} is already wrapped by slots; create LoraSlots once per model")
        if not isinstance(current, nn.Linear):
            raise InputError(f"layer {layer} {path} is a {type(current).__name__}, not an nn.Linear; slots need a plain Linear")
        wrapped = SlotLinear(current, self._state, self.buffers_a[target][:, layer], self.buffers_b[target][:, layer])
        setattr(parent, leaf, wrapped)
        return wrapped

    @property
    def zero_slot(self) -> int:
        return self.num_slots

    def _check_slot(self, slot: int) -> None:
        if not isinstance(slot, int) or not 0 <= slot < self.num_slots:
            raise InputError(f"slot must be an int in [0, {self.num_slots}), got {slot!r}")

    def load(self, slot: int, lora: LoraWeights, key: str | None = None) -> None:
        """Copy an adapter into a slot (zero-padded to max_rank; uncovered layers zero)."""
        self._check_slot(slot)
        if lora.rank > self.max_rank:
            raise InputError(f"adapter rank {lora.rank} exceeds the slots' max_rank {self.max_rank}; create LoraSlots with max_rank >= {lora.rank}")
        missing = set(lora.targets) - set(self.targets)
        if missing:
            raise InputError(f"adapter targets {sorted(missing)} are not wrapped (slots wrap {list(self.targets)})")
        if lora.model_type and lora.model_type != self.base.config.model_type:
            raise ModelMismatchError(f"adapter is for model_type {lora.model_type!r}, the model is {self.base.config.model_type!r}")
        if max(lora.layers) >= self.base.num_layers:
            raise ModelMismatchError(f"adapter covers layer {max(lora.layers)} but the model has {self.base.num_layers} layers")
        r = lora.rank
        idx = torch.tensor(lora.layers, device=self.base.device)
        with torch.no_grad():
            for t in self.targets:
                a_buf, b_buf = self.buffers_a[t][slot], self.buffers_b[t][slot]
                a_buf.zero_()
                b_buf.zero_()
                if t in lora.a:
                    a_buf[idx, :r] = lora.a[t].to(a_buf)
                    b_buf[idx, :, :r] = lora.b[t].to(b_buf) * lora.scaling
        self._loaded[slot] = key
        self._ranks[slot] = r

    def clear(self, slot: int) -> None:
        self._check_slot(slot)
        with torch.no_grad():
            for t in self.targets:
                self.buffers_a[t][slot].zero_()
                self.buffers_b[t][slot].zero_()
        self._loaded[slot] = None
        self._ranks[slot] = 0

    def loaded_key(self, slot: int) -> str | None:
        return self._loaded[slot]

    @contextlib.contextmanager
    def use(self, slot: int | None) -> Iterator[None]:
        """Forward passes inside the block use `slot` for every row (None: the base model)."""
        if slot is not None:
            self._check_slot(slot)
        prev = (self._state.slot, self._state.rows, self._state.rank)
        self._state.slot, self._state.rows = slot, None
        self._state.rank = self._ranks[slot] if slot is not None else 0
        try:
            yield
        finally:
            self._state.slot, self._state.rows, self._state.rank = prev

    @contextlib.contextmanager
    def use_rows(self, slots: Sequence[int | None]) -> Iterator[None]:
        """A mixed batch: row i uses slots[i] (None: no adapter)."""
        for s in slots:
            if s is not None:
                self._check_slot(s)
        rows = torch.tensor([self.zero_slot if s is None else s for s in slots], device=self.base.device)
        prev = (self._state.slot, self._state.rows)
        self._state.slot, self._state.rows = None, rows
        try:
            yield
        finally:
            self._state.slot, self._state.rows = prev

    @contextlib.contextmanager
    def use_live(self, a: dict[str, torch.Tensor], b: dict[str, torch.Tensor], layers: Sequence[int]) -> Iterator[None]:
        """Differentiable per-row adapters: a[t] [B, L, r, d_in], b[t] [B, L, d_out, r] (scaling folded in)."""
        touched = []
        try:
            for t in a:
                for i, layer in enumerate(layers):
                    m = self.modules[t][layer]
                    m.live = (a[t][:, i], b[t][:, i])
                    touched.append(m)
            yield
        finally:
            for m in touched:
                m.live = None
