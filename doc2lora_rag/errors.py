"""Exception types of doc2lora-rag: every error the library raises on purpose derives from Doc2LoRAError.

Each message says what was wrong, the value received, and how to fix it.
"""

from __future__ import annotations


class Doc2LoRAError(Exception):
    """Base class of all doc2lora-rag errors."""


class InputError(Doc2LoRAError, ValueError):
    """A caller passed a value the library cannot use (empty text, wrong type, bad k, unknown mode)."""


class ConfigError(Doc2LoRAError, ValueError):
    """A configuration file or object has unknown, missing or invalid fields."""


class CorruptFileError(Doc2LoRAError):
    """A file on disk is truncated, corrupt or not in the expected format."""


class ModelMismatchError(Doc2LoRAError):
    """Two artefacts belong to different base models (or generators) and cannot be combined."""


class MissingDependencyError(Doc2LoRAError, ImportError):
    """An optional dependency or packaged model is not installed; the message names the install command."""


class StoreError(Doc2LoRAError):
    """An AdapterStore operation failed; the store on disk is left as it was."""


class LoaderError(InputError):
    """A file could not be read into documents (unreadable, binary, corrupt, unsupported)."""
