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
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from .bench import add_bench
from .cli_model import MODEL_COMMANDS
from .errors import Doc2LoRAError, InputError, MissingDependencyError
from .generators import GENERATOR_KINDS, default_kind, describe, make_generator

AddParser = Callable[[Any], argparse.ArgumentParser]

EXIT_OK, EXIT_USER_ERROR = 0, 2


# -- info --------------------------------------------------------------------------------------


def _info(args: argparse.Namespace) -> int:
    import torch

    from .base_model import EMBEDDED_MODEL, default_device, load_base_model
    from .bench.measure import versions
    from .generators.hypernet import default_generator_dir

    device = args.device or str(default_device())
    report: dict[str, Any] = {"device": device, "torch_threads": torch.get_num_threads(), "versions": versions()}
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
    from .generators.memory import cache_path, packaged_transforms_dir

    transforms_dir, stats_dir = packaged_transforms_dir(base_name), cache_path(base_name)
    report["default_generator"] = default_kind(base_name)
    report["memory_generator"] = {
        "transforms": str(transforms_dir) if transforms_dir else None,
        "trained_steps": json.loads((transforms_dir / "transforms.json").read_text()).get("trained_steps", 0) if transforms_dir else 0,
        "statistics": str(stats_dir) if (stats_dir / "config.json").is_file() else None,
    }

    if args.json:
        print(json.dumps(report, indent=2))
        return EXIT_OK
    bm = report["base_model"]
    if "error" in bm:
        print(f"base model : {bm['name']} (unavailable: {bm['error']})")
    else:
        print(f"base model : {bm['name']} ({bm['model_type']}, {bm['num_layers']} layers, hidden {bm['hidden_size']}, vocab {bm['vocab_size']})")
    print(f"default    : {report['default_generator']} generator for new stores, ingest and eval")
    gen = report["generator"]
    if gen["kind"] == "packaged":
        print(f"hypernet   : packaged, {gen['trained_steps']} training steps ({gen['path']})")
    else:
        print(f"hypernet   : untrained ({gen['reason']}; adapters are zero)")
    mem = report["memory_generator"]
    trained = f"transforms packaged, {mem['trained_steps']} training steps" if mem["transforms"] else "no packaged transforms (closed form)"
    fitted = f"statistics cached in {mem['statistics']}" if mem["statistics"] else "statistics not fitted yet (first use fits them, ~3 min)"
    print(f"memory gen : {trained}; {fitted}")
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


# -- store: ingest / ask / ls / rm -------------------------------------------------------------

DEFAULT_STORE = "store"


def _make_generator(kind: str | None) -> Any:
    """None: the store's own generator (or the default for a new store)."""
    if kind is None:
        return None
    return make_generator(kind)


def _ingest(args: argparse.Namespace) -> int:
    from .store import AdapterStore

    if not args.paths:
        raise InputError("ingest needs at least one PATH (a file or folder), e.g. doc2lora ingest docs/ --store store")
    store = AdapterStore(
        args.store, _make_generator(args.generator), router=args.routing,
        chunk_tokens=args.chunk_tokens, group_size=args.group_size, adapter_format=args.adapter_format,
    )
    generate = None
    if args.ray is not None:
        from .ray_ingest import RayGenerate

        generate = RayGenerate(address=None if args.ray == "local" else args.ray, workers=args.ray_workers, num_gpus=args.ray_gpus)
    with store:
        store.add_paths(args.paths, progress=not args.quiet, batch_size=args.batch_size or (64 if generate else 8), generate=generate)
        r = store.last_ingest
        print(f"ingested {r.documents} documents as {r.entries} chunk groups ({r.generated} adapters generated, "
              f"{r.reused} reused) in {r.seconds:.1f}s; {store.path} holds {len(store)} documents")
    return EXIT_OK


def _add_ingest(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser("ingest", help="turn files and folders into adapters in a store")
    p.add_argument("paths", nargs="*", metavar="PATH", help="files or folders (.txt .md .html .pdf; others via unstructured)")
    p.add_argument("--store", default=DEFAULT_STORE, metavar="DIR", help=f"store directory, created when missing (default {DEFAULT_STORE})")
    p.add_argument("--generator", choices=list(GENERATOR_KINDS), default=None,
                   help="adapter generator (default: the store's own; for a new store memory where trained transforms "
                        "are packaged for the base model, else hypernet)")
    p.add_argument("--chunk-tokens", type=int, default=None, metavar="N", help="tokens per chunk (new store: 128)")
    p.add_argument("--group-size", type=int, default=None, metavar="N", help="chunks per adapter (new store: 2)")
    p.add_argument("--routing", choices=["dense", "bm25", "hybrid"], default=None, help="routing mode of a new store (default dense)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--adapter-format", choices=["record", "tokens", "lora"], default=None,
                   help="a new store's files: tokens (the memory generator's default: token ids, each group read when a question "
                        "first routes to it), record (read at ingest, ~1 MB a group), lora (adapters)")
    p.add_argument("--ray", nargs="?", const="local", default=None, metavar="ADDRESS",
                   help="generate on a Ray cluster (ADDRESS: 'auto', 'ray://host:10001', host:port; none: a local one); "
                        "needs doc2lora-rag[ray]")
    p.add_argument("--ray-workers", type=int, default=2, metavar="N", help="with --ray: actors, each holding the base model (default 2)")
    p.add_argument("--ray-gpus", type=float, default=0, metavar="G", help="with --ray: GPUs per actor (default 0)")
    p.add_argument("--batch-size", type=int, default=None, metavar="N", help="documents per commit (default 8; 64 with --ray)")
    p.set_defaults(handler=_ingest)
    return p


def _ask(args: argparse.Namespace) -> int:
    from .rag import StoreQA
    from .store import AdapterStore

    if not args.question:
        raise InputError('ask needs a QUESTION, e.g. doc2lora ask "Who founded the festival?" --store store')
    with AdapterStore(args.store, create=False, read_only=True) as store:
        result = StoreQA(store, sentences=args.sentences).answer(
            args.question, mode=args.mode, k=args.k, threshold=args.threshold, max_new_tokens=args.max_new_tokens
        )
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
        return EXIT_OK
    print(result.answer)
    if result.gated:
        print(f"(no adapter or text used: best routing score {result.scores[0] if result.scores else 'none'} < threshold {args.threshold})")
    for src, score in zip(result.sources, result.scores):
        where = src.get("file_name") or src.get("source") or src.get("doc_id")
        print(f"  [{score:.3f}] {src['adapter_id']}  {where}")
    t = result.timings
    print(f"mode {result.mode}; route {t['route_s']:.3f}s, adapters {t['adapter_s']:.3f}s, generate {t['generate_s']:.2f}s, "
          f"total {t['total_s']:.2f}s; prompt {result.prompt_tokens} tokens")
    return EXIT_OK


def _add_ask(subparsers: Any) -> argparse.ArgumentParser:
    from .rag import MODES

    p = subparsers.add_parser("ask", help="answer a question from a store")
    p.add_argument("question", nargs="?", help="the question")
    p.add_argument("--store", default=DEFAULT_STORE, metavar="DIR", help=f"store directory from `doc2lora ingest` (default {DEFAULT_STORE})")
    p.add_argument("--mode", choices=list(MODES), default=None,
                   help="adapter: routed adapters, no text; rag: routed text in the prompt; hybrid: both; selected: one memory "
                        "adapter written for the question over the routed texts' closest sentences, no text; none: bare model "
                        "(default: selected for a memory-generator store, else adapter)")
    p.add_argument("--sentences", type=int, default=1, help="with --mode selected: sentences the write holds (default 1)")
    p.add_argument("--k", type=int, default=2, help="entries to route to (default 2)")
    p.add_argument("--threshold", type=float, default=None, help="use nothing retrieved when the best routing score is below this")
    p.add_argument("--max-new-tokens", type=int, default=48, help="answer length cap (default 48)")
    p.add_argument("--json", action="store_true", help="print one JSON object: answer, adapter ids, sources, scores, timings")
    p.set_defaults(handler=_ask)
    return p


def _ls(args: argparse.Namespace) -> int:
    from .store import AdapterStore

    # bm25 routing: listing needs no embedder, whatever embedder the store was built with
    with AdapterStore(args.store, create=False, read_only=True, router="bm25") as store:
        groups: dict[str, int] = {}
        for e in store.entries():
            groups[e.doc_id] = groups.get(e.doc_id, 0) + 1
        docs = store.get_by_ids(store.doc_ids())
        meta = store.meta
    rows = [{"id": d.id, "groups": groups.get(d.id, 0), "chars": len(d.text), "metadata": d.metadata} for d in docs]
    if args.json:
        print(json.dumps({"store": str(store.path), "meta": meta, "documents": rows}, indent=2))
        return EXIT_OK
    gen = meta.get("generator")
    print(f"{store.path}: {len(rows)} documents, {sum(groups.values())} adapters; generator {describe(gen) if gen else 'none yet'}, "
          f"base {(meta.get('base_model') or {}).get('name', '?')}, chunking {meta['chunking']}")
    for r in rows:
        where = r["metadata"].get("file_name") or r["metadata"].get("source") or ""
        page = f" p.{r['metadata']['page']}" if "page" in r["metadata"] else ""
        print(f"  {r['id']}  {r['groups']:>3} groups  {r['chars']:>7} chars  {where}{page}")
    return EXIT_OK


def _add_ls(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser("ls", help="list the documents of a store")
    p.add_argument("--store", default=DEFAULT_STORE, metavar="DIR", help=f"store directory (default {DEFAULT_STORE})")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(handler=_ls)
    return p


def _rm(args: argparse.Namespace) -> int:
    from .store import AdapterStore

    if not args.ids:
        raise InputError("rm needs at least one ID (see `doc2lora ls`)")
    with AdapterStore(args.store, create=False, router="bm25") as store:
        docs, entries = len(store), len(store.entries())
        store.delete(args.ids)
        gone_docs, gone_entries = docs - len(store), entries - len(store.entries())
        print(f"removed {gone_docs} documents and {gone_entries} adapters; {len(store)} documents left")
        if not gone_entries:
            print(f"(no document or entry has the id(s) {', '.join(args.ids)}; see `doc2lora ls --store {args.store}`)")
    return EXIT_OK


def _add_rm(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser("rm", help="remove documents (doc ids) or single adapters (entry ids) from a store")
    p.add_argument("ids", nargs="*", metavar="ID", help="document or entry ids (see `doc2lora ls`)")
    p.add_argument("--store", default=DEFAULT_STORE, metavar="DIR", help=f"store directory (default {DEFAULT_STORE})")
    p.set_defaults(handler=_rm)
    return p


# -- registry ----------------------------------------------------------------------------------

def _serve(args: argparse.Namespace) -> int:
    if not args.stores:
        raise InputError("serve needs at least one STORE folder from `doc2lora ingest`, e.g. doc2lora serve store --port 8000")
    named: dict[str, str] = {}
    for spec in args.stores:
        name, sep, path = spec.partition("=")
        name, path = (name, path) if sep else (Path(spec).name, spec)
        if not name or not path or name in named:
            raise InputError(f"store {spec!r}: give each store a distinct name, as DIR (named by its folder) or NAME=DIR")
        named[name] = path
    url = f"http://{args.host}:{args.port}/v1"
    if args.ray is not None:
        import time

        from .ray_serve import OpenStores, serve_chat

        serve_chat(OpenStores(named, default_max_tokens=args.max_new_tokens, threads=args.threads),
                   address=None if args.ray == "local" else args.ray, host=args.host, port=args.port,
                   replicas=args.replicas, num_cpus=args.ray_cpus, num_gpus=args.ray_gpus, max_batch_size=args.max_batch)
        print(f"serving {', '.join(named)} at {url} on Ray Serve ({args.replicas} replicas); Ctrl-C stops", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            return EXIT_OK
    try:
        import uvicorn
    except ImportError as exc:
        raise MissingDependencyError("doc2lora serve needs uvicorn and starlette: pip install 'doc2lora-rag[serve]'") from exc
    from .chat_api import ChatService, make_app, open_stores

    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    service = ChatService(open_stores(named), default_max_tokens=args.max_new_tokens)
    print(f"serving {', '.join(named)} at {url} (POST /v1/chat/completions, GET /v1/models); Ctrl-C stops", flush=True)
    try:
        uvicorn.run(make_app(service), host=args.host, port=args.port, log_level="warning")
    finally:
        service.close()
    return EXIT_OK


def _add_serve(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser("serve", help="an OpenAI-compatible chat endpoint over stores (the request's model names the store)")
    p.add_argument("stores", nargs="*", metavar="STORE", help="store folders (served under their folder names) or NAME=DIR")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.add_argument("--max-new-tokens", type=int, default=48, help="answer length when a request gives no max_tokens (default 48)")
    p.add_argument("--threads", type=int, default=0, help="torch threads per process (default: torch's)")
    p.add_argument("--ray", nargs="?", const="local", default=None, metavar="ADDRESS",
                   help="serve on Ray Serve (ADDRESS: 'auto', 'ray://host:10001'; none: a local cluster); needs doc2lora-rag[ray]")
    p.add_argument("--replicas", type=int, default=2, help="with --ray: replicas, each with its own model and adapter slots (default 2)")
    p.add_argument("--ray-cpus", type=float, default=1, help="with --ray: CPUs per replica (default 1)")
    p.add_argument("--ray-gpus", type=float, default=0, help="with --ray: GPUs per replica (default 0)")
    p.add_argument("--max-batch", type=int, default=8, help="with --ray: completions answered in one batched generate (default 8)")
    p.set_defaults(handler=_serve)
    return p


COMMANDS: list[tuple[str, AddParser]] = [
    ("info", _add_info),
    ("ingest", _add_ingest),
    ("ask", _add_ask),
    ("ls", _add_ls),
    ("rm", _add_rm),
    ("bench", add_bench),
    ("serve", _add_serve),
    *MODEL_COMMANDS,
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
