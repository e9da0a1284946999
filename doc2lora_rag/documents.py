"""The library's own document type: a piece of text with its metadata.

Loaders produce :class:`Document` objects; framework integrations (LangChain,
LlamaIndex) convert to and from their own document types at the edge, so the
core never depends on those frameworks.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from doc2lora_rag.errors import InputError

__all__ = ["Document"]


@dataclass
class Document:
    """A text with free-form metadata and an optional stable identifier.

    ``metadata`` is copied on construction, so the mapping passed in is never
    shared with (or mutated through) the document.
    """

    text: str
    metadata: dict[str, Any] = field(default_factory=dict)
    id: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.text, str):
            raise InputError(
                f"Document.text must be a str, got {type(self.text).__name__} {self.text!r:.80}; "
                "decode bytes first (e.g. data.decode('utf-8'))."
            )
        if not isinstance(self.metadata, Mapping):
            raise InputError(
                f"Document.metadata must be a mapping, got {type(self.metadata).__name__} "
                f"{self.metadata!r:.80}; pass a dict such as {{'source': 'file.txt'}}."
            )
        self.metadata = dict(self.metadata)
        if self.id is not None and (not isinstance(self.id, str) or not self.id):
            raise InputError(
                f"Document.id must be a non-empty str or None, got {self.id!r:.80}; pass a string id or leave it unset."
            )

    def to_dict(self) -> dict[str, Any]:
        """Return a plain ``{"text", "metadata", "id"}`` dict (metadata copied)."""
        return {"text": self.text, "metadata": dict(self.metadata), "id": self.id}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Document:
        """Build a document from a mapping with ``text`` and optional ``metadata`` and ``id``."""
        if not isinstance(data, Mapping) or "text" not in data:
            raise InputError(
                f"Document.from_dict needs a mapping with a 'text' key, got {data!r:.80}; "
                "pass e.g. {'text': '...', 'metadata': {}}."
            )
        unknown = set(data) - {"text", "metadata", "id"}
        if unknown:
            raise InputError(
                f"Document.from_dict got unknown keys {sorted(unknown)}; allowed keys are 'text', 'metadata' and 'id'."
            )
        return cls(text=data["text"], metadata=data.get("metadata") or {}, id=data.get("id"))
