"""Reading adapters: an entry's file, the routed set as the one adapter the engine switches in, verification.

`AdapterReads` is the adapter-reading half of `AdapterStore` (mixed in like `write.WriteProtocol`); it
uses the facade's manifest, meta, generator and the process's `lora.manager.AdapterManager`.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Sequence
from typing import Any

import torch

from ..errors import CorruptFileError, InputError
from ..lora import LoraWeights
from ..lora.manager import COMBINED_EXTRA, AdapterManager, adapter_manager
from .layout import ADAPTER_DIR, SUFFIX, check_id_list

# In one joint write of k routed groups the i-th group's values (i = 0 for the best) are scaled by
# ROUTE_DECAY**i, so groups routed after the best do not drown it (prose dev, k=4: 0.147 unweighted,
# 0.213 at 0.5, 0.200 at 0.25, against 0.200 at k=1; docs/training_log.md). `AdapterStore.route_decay`.
ROUTE_DECAY = 0.5


class AdapterReads:
    """Adapters by entry id (mixed into `AdapterStore`)."""

    def adapter(self, adapter_id: str) -> LoraWeights:
        """The adapter of an entry, meta["id"] = adapter_id (LRU-cached; treat its tensors as read-only)."""
        if not isinstance(adapter_id, str) or not adapter_id:
            raise InputError(f"adapter_id must be a non-empty str, got {adapter_id!r:.80}")
        lora, content_hash = self._file(adapter_id)
        if self.keeps_records:
            (lora,) = self._expanded([(adapter_id, lora, content_hash)])
        return lora.with_meta(id=adapter_id, content_hash=content_hash)

    def _file(self, adapter_id: str) -> tuple[Any, str]:
        """(the loaded file of an entry, its content hash)."""
        row = self.manifest.entry_file(adapter_id)
        if row is None:
            raise InputError(f"no adapter {adapter_id!r} in store {self.path}; ids come from search() or entries()")
        file_name, content_hash = row
        return self.adapters.load(self.path / ADAPTER_DIR / file_name, f"entry {adapter_id!r} of store {self.path}", self._read_file), content_hash

    def _read_file(self, path: Any) -> Any:
        """What one of this store's files holds: a generator's record (`keeps_records`) or an adapter (float32)."""
        if self.keeps_records:
            from ..generators import load_record

            return load_record(path)
        return LoraWeights.load(path, dtype=torch.float32)

    def _expanded(self, files: Sequence[tuple[str, Any, str]], weights: Sequence[float] | None = None) -> list[LoraWeights]:
        """The one adapter of loaded records (entry id, record, content hash): the generator's write over all their
        keys, each record's values scaled by its weight (default 1), cached."""
        weights = list(weights) if weights is not None else [1.0] * len(files)
        # a record's id does not carry its weight: the generator's caches (read records, prepared keys) hold it at any rank
        records = [record.with_meta(id=f"{adapter_id}@{content_hash[:16]}@{self._tag}") for adapter_id, record, content_hash in files]
        tags = [f"*{w:g}" if w != 1.0 else "" for w in weights]
        plain = all(w == 1.0 for w in weights)
        return self.adapters.expanded(records, lambda: self.generator.expand if plain else
                                      (lambda rs: self.generator.expand(rs, weights)), str(self.path / ADAPTER_DIR), tags)

    def route_weights(self, k: int) -> list[float]:
        """The weights of k routed groups in their joint write, best first (`ROUTE_DECAY`)."""
        return [self.route_decay ** i for i in range(k)]

    def routed_adapters(self, adapter_ids: Sequence[str]) -> list[LoraWeights]:
        """The adapters of `adapter_ids`, ready to be switched in together.

        Each has meta["id"] = "<id>@<content hash>@<store>", the slot key (a re-added id, or the same
        id in another store, never serves stale weights). Memory adapters (from `MemoryGenerator`) come back as one adapter
        written jointly over all their keys (with the recorded statistics, read from disk: the
        generator is loaded only when they are missing); others as the list, which the engine adds
        up (rank concatenation). `adapter_ids` are taken as routed, best first: in a joint write the i-th
        group's values weigh `route_decay`**i (`ROUTE_DECAY`).
        """
        ids = check_id_list(adapter_ids, "adapter_ids")
        weights = self.route_weights(len(ids))
        if self.keeps_records:
            return self._expanded([(adapter_id, *self._file(adapter_id)) for adapter_id in ids], weights)
        loras = []
        for adapter_id in ids:
            lora = self.adapter(adapter_id)
            loras.append(lora.with_meta(id=f"{adapter_id}@{str(lora.meta.get('content_hash', ''))[:16]}@{self._tag}"))
        if len(loras) > 1 and all(COMBINED_EXTRA in x.extras for x in loras):  # written jointly: weigh by rank
            loras = [x.scaled(w) if w != 1.0 else x for x, w in zip(loras, weights, strict=True)]
        return self.adapters.combined(loras, self._combiner, str(self.path / ADAPTER_DIR))

    @property
    def adapters(self) -> AdapterManager:
        """The process's adapter manager for this store's base model (loaded files, joint adapters, slots)."""
        name = str((self._meta.get("base_model") or {}).get("name") or "")
        return adapter_manager(name, self.cache_size)

    @functools.cached_property
    def _tag(self) -> str:
        """A short name of this store's folder in slot keys."""
        return hashlib.sha256(str(self.path).encode()).hexdigest()[:8]

    def _combiner(self) -> Any:
        """What joins routed adapters: the loaded generator's `combine`, else one found from the store's records
        without loading the generator (`generators.combiner`), else the generator's, loaded for it."""
        from ..generators import combiner

        if self._generator is None and self._stored_combiner is None:
            self._stored_combiner = combiner(self._meta.get("generator") or {}, self._meta.get("base_model") or {})
        if self._generator is None and self._stored_combiner is not None:
            return self._stored_combiner
        return getattr(self.generator, "combine", None)

    def verify(self, deep: bool = False) -> dict[str, list[str]]:
        """Consistency report: entries with missing files, unreferenced/temporary files, unreadable files (deep)."""
        referenced = self.manifest.referenced_files()
        present = {p.name for p in (self.path / ADAPTER_DIR).iterdir()}
        report = {
            "missing_files": sorted(e for name, ids in referenced.items() if name not in present for e in ids),
            "orphan_files": sorted(n for n in present if n.endswith(SUFFIX) and n not in referenced),
            "temp_files": sorted(n for n in present if n.startswith(".")),
            "unreadable_files": [],
        }
        if deep:
            for name in sorted(set(referenced) & present):
                try:
                    self._read_file(self.path / ADAPTER_DIR / name)
                except (CorruptFileError, InputError):
                    report["unreadable_files"].append(name)
        return report
