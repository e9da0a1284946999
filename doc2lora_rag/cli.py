"""The `doc2lora` command line: one subcommand per `_add_<name>(subparsers)` function in `COMMANDS`.

To add a subcommand (`ingest`, `ask`, `eval`, `train`, `bench`, `ls`, `rm`, `export`, ...), write
`_add_<name>(subparsers)` that creates its parser and sets `handler=<function(args) -> int>` with
`set_defaults`, then append `("<name>", _add_<name>)` to `COMMANDS`. Handlers use the public API only,
print their results, and raise `Doc2LoRAError` subclasses for user errors: `main` prints
`error: <message>` to stderr and returns exit code 2.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from collections.abc import Callable, Sequence
from typing import Any

from .errors import Doc2LoRAError, InputError, MissingDependencyError

AddParser = Callable[[Any], argparse.ArgumentParser]

EXIT_OK, EXIT_USER_ERROR = 0, 2


# -- info --------------------------------------------------------------------------------------


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    import torch

    from . import __version__

    out = {"python": platform.python_version(), "torch": torch.__version__, "doc2lora_rag": __version__}
    for dist in ("transformers", "peft"):
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            out[dist] = "not installed"
    return out


def _info(args: argparse.Namespace) -> int:
    import torch

    from .base_model import EMBEDDED_MODEL, default_device, load_base_model
    from .generator import default_generator_dir

    device = args.device or str(default_device())
    report: dict[str, Any] = {"device": device, "torch_threads": torch.get_num_threads(), "versions": _versions()}
    try:
        base = load_base_model(args.base, device=device)
        report["base_model"] = base.identity()
        base_name = base.name
    except MissingDependencyError as exc:  # info is diagnostic: say what is missing instead of failing
        report["base_model"] = {"name": args.base or EMBEDDED_MODEL, "error": str(exc)}
        base_name = args.base or EMBEDDED_MODEL
    except OSError as exc:  # transformers' "not a folder / not on the hub"
        raise InputError(f"cannot load base model {args.base!r} ({exc}); pass a local model folder or a cached hub id") from exc
    gen_dir = default_generator_dir()
    if gen_dir is not None and base_name == EMBEDDED_MODEL:
        meta = json.loads((gen_dir / "config.json").read_text())
        report["generator"] = {"kind": "packaged", "path": str(gen_dir), "trained_steps": meta.get("trained_steps", 0)}
    else:
        report["generator"] = {"kind": "untrained", "reason": f"no trained generator is packaged for {base_name!r}"}

    if args.json:
        print(json.dumps(report, indent=2))
        return EXIT_OK
    bm = report["base_model"]
    if "error" in bm:
        print(f"base model : {bm['name']} (unavailable: {bm['error']})")
    else:
        print(f"base model : {bm['name']} ({bm['model_type']}, {bm['num_layers']} layers, hidden {bm['hidden_size']}, vocab {bm['vocab_size']})")
    gen = report["generator"]
    if gen["kind"] == "packaged":
        print(f"generator  : packaged, {gen['trained_steps']} training steps ({gen['path']})")
    else:
        print(f"generator  : untrained ({gen['reason']}; adapters are zero)")
    print(f"device     : {device} ({report['torch_threads']} torch threads)")
    print("versions   : " + ", ".join(f"{k} {v}" for k, v in report["versions"].items()))
    return EXIT_OK


def _add_info(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser("info", help="show the base model, generator, device and versions")
    p.add_argument("--base", default=None, help="base model hub id or folder (default: the embedded SmolLM2-135M-Instruct)")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1, ... (default: cuda if available)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    p.set_defaults(handler=_info)
    return p


# -- registry ----------------------------------------------------------------------------------

COMMANDS: list[tuple[str, AddParser]] = [
    ("info", _add_info),
]


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = argparse.ArgumentParser(
        prog="doc2lora",
        description="Documents become LoRA adapters that a frozen LLM answers from, instead of prompt text.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for _name, add in COMMANDS:
        add(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "handler", None) is None:
        parser.print_help()
        return EXIT_USER_ERROR
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # weight-loading bars are noise on a command line
    try:
        return int(args.handler(args) or EXIT_OK)
    except Doc2LoRAError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR


if __name__ == "__main__":
    sys.exit(main())
