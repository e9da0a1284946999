"""`AdapterManager`: every adapter in memory for one base model, from file to slot.

One manager per base model name in a process (`adapter_manager(name)`), shared by every store and
answer engine on that model:

- files: adapters (or a generator's records of them) read from a store's folder once, LRU by file path;
- joint adapters: routed sets combined by their generator's `combine` (one joint write), or built from
  their records by its `expand`, LRU by the store and the ids+content of the set, so a re-added id
  never reuses a stale combination;
- slots: which adapter set sits in which `LoraSlots` slot of a loaded model, LRU by the same key
  (`activate`); the slot buffers themselves belong to the loaded model (`BaseModel.ensure_slots`).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ..errors import CorruptFileError, InputError
from .slots import LoraSlots
from .weights import LoraWeights

COMBINED_EXTRA = "gram"  # adapters that carry their key Gram matrix can be combined by one joint write

_MANAGERS: dict[str, AdapterManager] = {}
_MANAGERS_LOCK = threading.Lock()


def adapter_manager(base_name: str, cache_size: int = 32) -> AdapterManager:
    """The process's manager for base model `base_name`, keeping at least `cache_size` loaded files."""
    with _MANAGERS_LOCK:
        manager = _MANAGERS.get(base_name)
        if manager is None:
            manager = _MANAGERS[base_name] = AdapterManager(base_name, cache_size)
    manager.reserve(cache_size)
    return manager


class Lru:
    """An LRU map of at most `size` items (not locked: its owner serialises access)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[str, Any] = OrderedDict()

    def get(self, key: str) -> Any:
        item = self._items.get(key)
        if item is not None:
            self._items.move_to_end(key)
        return item

    def put(self, key: str, item: Any) -> None:
        self._items[key] = item
        self._items.move_to_end(key)
        while len(self._items) > self.size:
            self._items.popitem(last=False)

    def drop(self, match: Callable[[str], bool]) -> None:
        for key in [k for k in self._items if match(k)]:
            del self._items[key]

    def clear(self) -> None:
        self._items.clear()

    def __len__(self) -> int:
        return len(self._items)


class AdapterManager:
    """Loading, caching, combining and slot placement of adapters for one base model (module docstring)."""

    def __init__(self, base_name: str, cache_size: int = 32) -> None:
        self.base_name = base_name
        self._lock = threading.Lock()
        self._files = Lru(cache_size)
        self._joint = Lru(max(2, cache_size // 4))

    @property
    def cache_size(self) -> int:
        return self._files.size

    def reserve(self, cache_size: int) -> None:
        """Keep at least `cache_size` loaded files (and a quarter as many joint adapters)."""
        with self._lock:
            self._files.size = max(self._files.size, cache_size)
            self._joint.size = max(self._joint.size, cache_size // 4)

    # -- files ---------------------------------------------------------------------------------

    def load(self, path: Path, what: str, loader: Callable[[Path], Any]) -> Any:
        """What `loader` reads from file `path` (an adapter, or a generator's record of one), cached (treat its tensors
        as read-only); `what` names it in errors."""
        key = str(path)
        with self._lock:
            lora = self._files.get(key)
        if lora is not None:
            return lora
        if not path.is_file():
            raise CorruptFileError(
                f"{what} names the missing adapter file {path.name}; "
                "the folder was changed outside doc2lora: delete the entry and add its document again"
            )
        lora = loader(path)
        with self._lock:
            self._files.put(key, lora)
        return lora

    def evict(self, path: Path) -> None:
        """Forget the file `path` (deleted from its store) and every joint adapter of its store."""
        key, folder = str(path), str(path.parent)
        with self._lock:
            self._files.drop(lambda k: k == key)
            self._joint.drop(lambda k: k.startswith(folder + "|"))

    def forget(self, files: bool = True) -> None:
        """Drop every joint adapter (and with `files`, every loaded file): the next reads start cold (benchmarks)."""
        with self._lock:
            self._joint.clear()
            if files:
                self._files.clear()

    # -- combining -----------------------------------------------------------------------------

    def combined(self, loras: Sequence[LoraWeights], combine: Callable[[], Callable | None], scope: str) -> list[LoraWeights]:
        """`loras` as one joint adapter when they all can be combined and `combine()` gives a combiner, else as
        they are. `scope` (the store folder) and the adapters' meta["id"] (id@content) key the cache."""
        if len(loras) < 2 or not all(COMBINED_EXTRA in x.extras for x in loras):
            return list(loras)
        def build() -> LoraWeights | None:
            combiner = combine()
            return None if combiner is None else combiner(loras)

        joint = self._joint_cached(loras, build, scope)
        return list(loras) if joint is None else [joint]

    def expanded(self, records: Sequence[Any], expand: Callable[[], Callable[[Sequence[Any]], LoraWeights]], scope: str,
                 tags: Sequence[str] | None = None) -> list[LoraWeights]:
        """[the one adapter a set of records stands for], built by `expand()(records)` (the generator's write over all
        their keys) and cached like joint adapters; `scope` and the records' meta["id"] key it, each followed by its tag
        (e.g. its weight in the write: the records' own ids, which the generator's caches use, stay the same)."""
        return [self._joint_cached(records, lambda: expand()(records), scope, tags)]

    def _joint_cached(self, parts: Sequence[Any], build: Callable[[], LoraWeights | None], scope: str,
                      tags: Sequence[str] | None = None) -> LoraWeights | None:
        """The joint adapter of `parts` (their meta["id"]s, each followed by its tag, and `scope` key it) from the cache,
        else `build()` and keep it (None: nothing to keep). Its meta["id"] is "joint:<ids>" (a single part keeps its own id)."""
        ids = "|".join(x.meta["id"] + (tags[i] if tags else "") for i, x in enumerate(parts))
        key = f"{scope}|{ids}"
        with self._lock:
            joint = self._joint.get(key)
        if joint is None:
            joint = build()
            if joint is None:
                return None
            joint = joint.with_meta(id=("joint:" + ids) if len(parts) > 1 else ids)
            with self._lock:
                self._joint.put(key, joint)
        return joint

    # -- slots ---------------------------------------------------------------------------------

    @staticmethod
    def activate(slots: LoraSlots, adapters: Sequence[LoraWeights], key: str | None, grow: bool = True) -> int:
        """The slot of `slots` holding the rank-concatenation of `adapters` (loaded on a miss, LRU eviction).

        `key` None (an adapter without meta["id"]) is never cached: loaded afresh each time. With `grow`
        the slots are enlarged to the set's rank, else a set above their rank is refused. Callers hold
        `slots.lock`.
        """
        lru = slots.lru  # key -> slot, kept with the slots so every engine on the model sees the same map
        if key is not None and key in lru:
            slot = lru[key]
            if slots.loaded_key(slot) == key:
                lru.move_to_end(key)
                return slot
            del lru[key]
        lora = LoraWeights.concat(list(adapters))
        if grow:
            slots.grow(lora.rank)
        if lora.rank > slots.max_rank:
            raise InputError(
                f"the selected adapters add up to rank {lora.rank}, above the slots' max_rank {slots.max_rank}; "
                "use fewer adapters (smaller k), or create the AnswerEngine with a larger max_rank or grow=True"
            )
        used = set(lru.values())
        free = [s for s in range(slots.num_slots) if s not in used]
        slot = free[0] if free else lru.popitem(last=False)[1]
        slots.load(slot, lora, key)
        if key is not None:
            lru[key] = slot
        return slot
