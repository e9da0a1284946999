"""The memory generator (the default): a key/value write into down_proj after one forward pass.

  config.py      `MemoryConfig`, the target layers it gives on a base model
  fit.py         fitting the statistics (C^-1, scorer, key maps); the features reading and fitting share
  write.py       the closed-form write and the joint write over several adapters (`combine_adapters`)
  transforms.py  `KVTransforms`, the meta-trained corrections of keys and values (and the position scorer they
                 were trained with, when refitted)
  compact.py     the statistics in the compact form the package ships (C^-1 as isotropic part + r eigenpairs)
  files.py       where statistics, transforms and the fitting corpus live; reading them safely
  records.py     `MemoryRecord`: what fixes an adapter (MLP inputs at its positions, next-token ids), what stores keep;
                 `TokenRecord`: the chunks' token ids, read into a MemoryRecord on first use
  generator.py   `MemoryGenerator`: text -> positions, keys, values -> `LoraWeights` (or records, expanded on reading)
"""

from __future__ import annotations

from .config import GENERATION_KEYS, TARGET, MemoryConfig
from .files import FIT_DOCS, FIT_SEED, FORMAT, STATS_VERSION, TRANSFORMS_FORMAT, cache_path, load_fit_corpus, packaged_stats_dir, packaged_transforms_dir
from .generator import MemoryGenerator
from .records import RECORD_FORMAT, MemoryRecord, TokenRecord, is_record_file
from .transforms import KVTransforms
from .write import GRAM, GRAM_EPS, associative_write, combine_adapters, factored_write

__all__ = ["FIT_DOCS", "FIT_SEED", "FORMAT", "GENERATION_KEYS", "GRAM", "GRAM_EPS", "RECORD_FORMAT", "STATS_VERSION", "TARGET",
           "TRANSFORMS_FORMAT", "KVTransforms", "MemoryConfig", "MemoryGenerator", "MemoryRecord", "TokenRecord", "associative_write", "cache_path",
           "combine_adapters", "factored_write", "is_record_file", "load_fit_corpus", "packaged_stats_dir", "packaged_transforms_dir"]
