"""Where the memory generator's files live and how they are read.

    weights/<base model>/memory/   transforms.json + transforms.safetensors, meta-trained (`KVTransforms`), packaged;
                                   config.json + stats.safetensors, the statistics in compact form (`compact`), packaged
    $DOC2LORA_CACHE/memory/v<STATS_VERSION>/<base model>/   config.json + stats.safetensors, fitted on first use
    fit_corpus.json (beside this module)   the texts and answers that first-use fit reads

Every folder carries a format name and the base-model identity it was written for; `read_folder`
refuses a missing, corrupt, foreign or mismatched one with the fix in the message.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from functools import partial
from importlib import resources
from pathlib import Path
from typing import Any

import torch

from ...base_model import IDENTITY_KEYS, BaseModel
from ...errors import ConfigError, CorruptFileError, InputError, ModelMismatchError
from ...lora import LoraWeights
from .compact import COMPACT_KEYS
from .write import combine_adapters, regularised_c

FORMAT = "doc2lora-memory"
STATS_VERSION = 3  # bumped when the fitted statistics change meaning; part of the cache path
TRANSFORMS_FORMAT = "doc2lora-memory-transforms"
FIT_CORPUS_FORMAT = "doc2lora-memory-fit-corpus"
FIT_DOCS, FIT_SEED = 200, 11  # the synthetic documents `MemoryGenerator.default` fits statistics on (fit_corpus.json)


def packaged_transforms_dir(base_name: str) -> Path | None:
    """The meta-trained transforms shipped in the package for a base model, if any."""
    path = Path(str(resources.files("doc2lora_rag") / "weights" / base_name / "memory"))
    return path if (path / "transforms.json").is_file() else None


def packaged_stats_dir(base_name: str) -> Path | None:
    """The statistics shipped in the package for a base model (compact form), if any: nothing to fit on first use."""
    path = Path(str(resources.files("doc2lora_rag") / "weights" / base_name / "memory"))
    return path if (path / "config.json").is_file() and (path / "stats.safetensors").is_file() else None


def stats_folder(recorded: str | None, base_name: str) -> Path:
    """Where the statistics an identity records live: "packaged", a folder that still exists, else the cache."""
    if recorded == "packaged":
        packaged = packaged_stats_dir(base_name)
        if packaged is not None:
            return packaged
    elif recorded and (Path(recorded) / "config.json").is_file():
        return Path(recorded)
    return cache_path(base_name)


def cache_path(base_name: str) -> Path:
    """Where the command line keeps the statistics it fits for a base model."""
    from ...base_model import cache_dir

    return cache_dir() / "memory" / f"v{STATS_VERSION}" / base_name



def fit_corpus_path() -> Path:
    """The packaged fitting texts: FIT_DOCS synthetic training documents (`synth.write_fit_corpus` writes the file)."""
    return Path(str(resources.files(__package__) / "fit_corpus.json"))


def load_fit_corpus() -> tuple[list[str], list[list[str]]]:
    """(texts, answers) the first-use fit reads; answers[i] occur verbatim in texts[i]."""
    path = fit_corpus_path()
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise CorruptFileError(f"{path} is missing or corrupt ({exc}); reinstall doc2lora-rag") from exc
    if not isinstance(data, dict) or data.get("format") != FIT_CORPUS_FORMAT:
        raise CorruptFileError(f"{path} is not a memory fitting corpus (format {FIT_CORPUS_FORMAT!r}); reinstall doc2lora-rag")
    return [d["text"] for d in data["docs"]], [list(d["answers"]) for d in data["docs"]]


def read_folder(path: Path, base: BaseModel, meta_name: str, tensors_name: str, fmt: str, what: str,
                 remedy: str) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """(metadata, tensors) of a folder written for `base`: clear errors for a missing, corrupt, foreign or mismatched one."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        meta = json.loads((path / meta_name).read_text())
    except FileNotFoundError as exc:
        raise InputError(f"{path} holds no {what} (no {meta_name}); {remedy}") from exc
    except json.JSONDecodeError as exc:
        raise CorruptFileError(f"{path / meta_name} is not valid JSON ({exc}); {remedy}") from exc
    if not isinstance(meta, dict) or meta.get("format") != fmt:
        raise ConfigError(f"{path / meta_name} does not describe {what} (format {meta.get('format') if isinstance(meta, dict) else None!r}, "
                          f"want {fmt!r})")
    mine = {k: meta.get("base_model", {}).get(k) for k in IDENTITY_KEYS}
    theirs = {k: base.identity().get(k) for k in IDENTITY_KEYS}
    if mine != theirs:
        raise ModelMismatchError(f"{what} in {path} were made for base model {mine['name']!r}, not {theirs['name']!r}; {remedy}")
    try:
        tensors = load_file(str(path / tensors_name))
    except (SafetensorError, OSError) as exc:
        raise CorruptFileError(f"{path / tensors_name} is missing or corrupt ({exc}); {remedy}") from exc
    return meta, tensors


def stored_combiner(identity: dict[str, Any], base_identity: dict[str, Any]) -> Callable[[Sequence[LoraWeights]], LoraWeights] | None:
    """`combine_adapters` with the C of the statistics `identity` records, read from disk without a model or a fit.

    The folder is the recorded one when it still exists, else the cache (where `MemoryGenerator.default`
    keeps them); None unless it holds the same fit (fit info, layers, last read layer) for the same
    base model, so the caller falls back to the generator itself (`MemoryGenerator.combine`).
    """
    from safetensors.torch import load_file

    folder = stats_folder((identity.get("source") or {}).get("statistics"), str(base_identity.get("name")))
    try:
        meta = json.loads((folder / "config.json").read_text())
    except (OSError, json.JSONDecodeError):
        return None
    same_base = all(meta.get("base_model", {}).get(k) == base_identity.get(k) for k in IDENTITY_KEYS)
    same_fit = meta.get("fit") == identity.get("fit") and meta.get("config", {}).get("last_read_layer") == identity.get("last_read_layer")
    if meta.get("format") != FORMAT or not same_base or not same_fit:
        return None
    stats = load_file(str(folder / "stats.safetensors"))
    if "c_inv" not in stats and not all(k in stats for k in COMPACT_KEYS):
        return None
    c_reg = regularised_c(stats)
    if len(c_reg) != len(identity.get("layers", ())):
        return None
    return partial(combine_adapters, c_reg=c_reg)
