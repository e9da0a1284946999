"""The store's adapters in memory: loaded files by content hash, and joint adapters by their slot key (both LRU)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path

import torch

from ..errors import CorruptFileError
from ..lora import LoraWeights

COMBINED_EXTRA = "gram"  # adapters that carry their key Gram matrix can be combined by one joint write


class AdapterCache:
    """Loads adapter files once and keeps the `size` most recent (and size // 4 joint adapters)."""

    def __init__(self, folder: Path, size: int) -> None:
        self.folder = folder
        self.size = size
        self._lock = threading.Lock()
        self._files: OrderedDict[str, LoraWeights] = OrderedDict()  # content_hash -> adapter
        self._joint: OrderedDict[str, LoraWeights] = OrderedDict()  # joint adapters by their slot key

    def load(self, file_name: str, content_hash: str, what: str) -> LoraWeights:
        """The adapter in `file_name` (float32, cached; treat its tensors as read-only); `what` names it in errors."""
        with self._lock:
            lora = self._files.get(content_hash)
            if lora is not None:
                self._files.move_to_end(content_hash)
                return lora
        path = self.folder / file_name
        if not path.is_file():
            raise CorruptFileError(
                f"{what} names the missing adapter file {file_name}; "
                "the folder was changed outside doc2lora: delete the entry and add its document again"
            )
        lora = LoraWeights.load(path, dtype=torch.float32)
        with self._lock:
            self._files[content_hash] = lora
            while len(self._files) > self.size:
                self._files.popitem(last=False)
        return lora

    def evict(self, content_hash: str) -> None:
        with self._lock:
            self._files.pop(content_hash, None)

    def combined(self, loras: Sequence[LoraWeights], combine: Callable[[], Callable | None]) -> list[LoraWeights]:
        """`loras` as one joint adapter when they all can be combined and `combine()` gives a combiner, else as they are."""
        if len(loras) < 2 or not all(COMBINED_EXTRA in x.extras for x in loras):
            return list(loras)
        key = "joint:" + "|".join(x.meta["id"] for x in loras)
        with self._lock:
            joint = self._joint.get(key)
            if joint is not None:
                self._joint.move_to_end(key)
                return [joint]
        combiner = combine()
        if combiner is None:
            return list(loras)
        joint = combiner(loras).with_meta(id=key)
        with self._lock:
            self._joint[key] = joint
            while len(self._joint) > max(2, self.size // 4):
                self._joint.popitem(last=False)
        return [joint]
