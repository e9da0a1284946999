"""`doc2lora train`, `doc2lora eval` and `doc2lora export`: the model-side subcommands.

Registered in `cli.COMMANDS` like every other subcommand; kept apart from the store commands.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from .errors import InputError

EXIT_OK = 0


def _train(args: argparse.Namespace) -> int:
    """A hypernetwork config, or one with "kind": "memory" (the memory generator's transforms)."""
    if args.config is None:
        raise InputError("train needs --config FILE, e.g. doc2lora train --config configs/train_smollm2.json")
    if not Path(args.config).is_file():
        raise InputError(f"training config {args.config} does not exist; see configs/train_smollm2.json for an example")
    overrides = {"steps": args.steps, "out_dir": args.out_dir, "time_budget_s": args.time_budget}
    try:
        kind = json.loads(Path(args.config).read_text()).get("kind")
    except (json.JSONDecodeError, AttributeError):
        kind = None  # the config loader reports what is wrong with the file
    if kind == "memory":
        from .training.memory_trainer import MemoryTrainConfig, train_memory

        final = train_memory(MemoryTrainConfig.from_file(args.config, **overrides), progress=not args.quiet)
        print(f"trained memory transforms written to {final}")
        return EXIT_OK
    from .training.trainer import TrainConfig, train

    final = train(TrainConfig.from_file(args.config, **overrides), progress=not args.quiet)
    print(f"trained generator written to {final}")
    return EXIT_OK


def _add_train(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser("train", help="meta-train a hypernetwork or memory transforms (resumes from OUT_DIR/checkpoint)")
    p.add_argument("--config", default=None, metavar="FILE", help="JSON training config, e.g. configs/train_smollm2.json")
    p.add_argument("--steps", type=int, default=None, help="override the config's number of steps")
    p.add_argument("--out-dir", default=None, metavar="DIR", help="override the config's output folder")
    p.add_argument("--time-budget", type=float, default=None, metavar="SECONDS", help="stop and save after this much training time")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(handler=_train)
    return p


def _generator(kind: str | None, path: str | None, base: Any, closed_form: bool = False) -> Any:
    if kind is None:
        from .generators import default_kind

        kind = default_kind(base.name)
    if kind == "memory":  # statistics and transforms from `path` where it holds them, else the cache and the package
        from .generators.memory import MemoryGenerator

        return MemoryGenerator.default(base, path, trained=not closed_form)
    if closed_form:
        raise InputError("--closed-form applies to --generator memory only")
    if kind == "distill":
        from .generators.distill import DistillGenerator

        return DistillGenerator(base)
    from .generators.hypernet import AdapterGenerator

    return AdapterGenerator.from_pretrained(path, base) if path else AdapterGenerator.default(base)


def _eval_store(args: argparse.Namespace) -> int:
    """`eval --store DIR`: answer from an AdapterStore (modes routed, rag, hybrid) and report recall@k."""
    from .evaluation import STORE_MODES, evaluate_store, load_qa
    from .rag import StoreQA
    from .store import AdapterStore

    if args.mode not in STORE_MODES:
        raise InputError(f"with --store the mode must be one of {list(STORE_MODES)}, got {args.mode!r}")
    items = load_qa(args.qa)
    if args.limit:
        items = items[: args.limit]
    with AdapterStore(args.store, create=False, read_only=True) as store:
        summary = evaluate_store(items, store, args.mode, StoreQA(store, sentences=args.sentences), k=args.k, threshold=args.threshold,
                                 max_new_tokens=args.max_new_tokens, out=args.out)
    return _print_summary(summary, args.json)


def _eval(args: argparse.Namespace) -> int:
    from .base_model import load_base_model
    from .evaluation import MODES, SELECTED_MODES, evaluate, load_qa
    from .llm import AnswerEngine

    if args.qa is None:
        raise InputError("eval needs a QA.jsonl file, e.g. doc2lora eval data/heldout/qa.jsonl --docs data/heldout/docs")
    if args.store is not None:
        args.mode = args.mode or "routed"
        return _eval_store(args)
    args.mode = args.mode or "adapter"
    if args.mode not in MODES + SELECTED_MODES:
        raise InputError(f"unknown mode {args.mode!r}; choose from {list(MODES + SELECTED_MODES)}")
    if args.docs is None:
        raise InputError("eval needs --docs DIR (the folder the QA file's 'doc' names refer to)")
    items = load_qa(args.qa, args.docs)
    if args.split:
        from .evaluation import load_split

        part = load_split(args.qa, args.split)
        items = [i for i in items if i.doc in part]
    if args.per_doc:
        kept, seen = [], {}
        for item in items:
            seen[item.doc] = seen.get(item.doc, 0) + 1
            if seen[item.doc] <= args.per_doc:
                kept.append(item)
        items = kept
    if args.limit:
        items = items[: args.limit]
    base = load_base_model(args.base)
    engine = AnswerEngine(base)
    gen = _generator(args.generator, args.generator_path, base, args.closed_form) if args.mode in ("adapter", "wrong-adapter", *SELECTED_MODES) \
        else None
    summary = evaluate(items, args.docs, args.mode, engine, gen, batch_size=args.batch_size,
                       max_new_tokens=args.max_new_tokens, out=args.out, sentences=args.sentences)
    summary["generator"] = (gen.identity()["kind"] + ("-closed-form" if args.closed_form else "")) if gen is not None else None
    return _print_summary(summary, args.json)


def _print_summary(summary: dict[str, Any], as_json: bool) -> int:
    if as_json:
        print(json.dumps(summary))
    else:
        for k, v in summary.items():
            print(f"{k:>26}: {v}")
    return EXIT_OK


def _add_eval(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser("eval", help="score answers on a QA file in one mode")
    p.add_argument("qa", nargs="?", default=None, metavar="QA.jsonl", help='one {"doc": ..., "question": ..., "answers": [...]} per line')
    p.add_argument("--docs", default=None, metavar="DIR", help="folder holding the documents named by 'doc'")
    p.add_argument("--mode", default=None,
                   help="none | context | adapter | wrong-adapter | selected | wrong-selected (default adapter); "
                        "with --store: routed | rag | hybrid | selected (default routed)")
    p.add_argument("--sentences", type=int, default=1,
                   help="modes selected / wrong-selected: sentences of the document (or routed texts) the write holds (default 1)")
    p.add_argument("--store", default=None, metavar="DIR", help="answer from this AdapterStore (modes routed/rag/hybrid; no --docs)")
    p.add_argument("--k", type=int, default=2, help="with --store: entries routed per question (default 2)")
    p.add_argument("--threshold", type=float, default=None, help="with --store: relevance gate on the best routing score")
    p.add_argument("--generator", choices=["memory", "hypernet", "distill"], default=None,
                   help="memory: key/value-write adapters with meta-trained transforms (statistics fitted once and cached); "
                        "default: memory where transforms are packaged for the base model, else hypernet")
    p.add_argument("--generator-path", default=None, metavar="DIR",
                   help="a generator folder (default: the packaged one); with --generator memory, a folder of statistics "
                        "and/or transforms (what it lacks comes from the cache and the package)")
    p.add_argument("--closed-form", action="store_true", help="with --generator memory: the write without trained transforms")
    p.add_argument("--base", default=None, help="base model (default: the embedded SmolLM2-135M-Instruct)")
    p.add_argument("--split", choices=["dev", "test"], default=None,
                   help="only the documents of this part of the set (split.json beside the QA file): dev for choices, test to report")
    p.add_argument("--per-doc", type=int, default=0, metavar="N", help="at most N questions per document")
    p.add_argument("--limit", type=int, default=0, metavar="N", help="at most N questions in all")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--max-new-tokens", type=int, default=48)
    p.add_argument("--out", default=None, metavar="FILE", help="write every prediction as JSONL")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(handler=_eval)
    return p


def _export(args: argparse.Namespace) -> int:
    from .lora import LoraWeights

    if args.check is not None:  # before serving a folder (e.g. with vLLM): made for this base model?
        from .base_model import load_base_model
        from .lora.weights import check_peft_folder

        modules = check_peft_folder(args.check, load_base_model(args.base, device="cpu"))
        print(f"{args.check}: a PEFT adapter of {modules} modules for this base model")
        return EXIT_OK
    if args.store is not None:  # the adapter a routed set of entries is answered with (one joint write for memory stores)
        from .store import AdapterStore

        target = args.out_dir or args.adapter  # with --store the one positional is OUT_DIR
        if not args.ids or target is None or (args.out_dir and args.adapter):
            raise InputError("export --store needs --ids and one OUT_DIR, e.g. doc2lora export --store my_store --ids doc1#0 doc2 my_adapter")
        with AdapterStore(args.store, create=False, read_only=True) as store:
            lora = LoraWeights.concat(store.routed_adapters(args.ids))
        out = lora.to_peft(target, base_model_name_or_path=args.base)
        print(f"PEFT adapter of {len(args.ids)} entries written to {out}")
        return EXIT_OK
    if args.adapter is None or args.out_dir is None:
        raise InputError("export needs ADAPTER.safetensors and OUT_DIR (doc2lora export store/adapters/<sha>.safetensors my_adapter), "
                         "or --store STORE --ids ID... OUT_DIR")
    from .generators.memory import is_record_file

    if is_record_file(args.adapter):
        raise InputError(f"{args.adapter} is a memory record (what a memory store keeps), not an adapter; export through its store: "
                         "doc2lora export --store STORE --ids ENTRY_ID OUT_DIR")
    lora = LoraWeights.load(args.adapter)
    out = lora.to_peft(args.out_dir, base_model_name_or_path=args.base)
    print(f"PEFT adapter written to {out}")
    return EXIT_OK


def _add_export(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser("export", help="write an adapter file, or the adapter of a store's entries, as a standard PEFT adapter folder")
    p.add_argument("adapter", nargs="?", default=None, metavar="ADAPTER.safetensors")
    p.add_argument("out_dir", nargs="?", default=None, metavar="OUT_DIR")
    p.add_argument("--store", default=None, help="export the adapter a question routed to --ids of this store is answered with")
    p.add_argument("--ids", nargs="+", default=None, metavar="ENTRY_ID", help="with --store: the entry ids (adapter_id in search results)")
    p.add_argument("--base", default=None, help="base_model_name_or_path to record (default: the adapter's base model); "
                   "with --check, the base model to check against (default: the embedded one)")
    p.add_argument("--check", default=None, metavar="PEFT_DIR",
                   help="check an exported folder against a base model (recorded base model, module shapes) instead of exporting")
    p.set_defaults(handler=_export)
    return p


MODEL_COMMANDS = [("train", _add_train), ("eval", _add_eval), ("export", _add_export)]
