"""`podforge capacity --model M --precision P --sku S`: the smallest tensor × pipeline layout of a catalogue model
that fits a SKU's GPUs, with weights and KV cache per GPU; `--table` prints every model × precision; `--stack`
plans a stack's serving section. Exit 0 fits, 1 does not fit or the GPUs cannot run the precision, 2 bad input."""

from __future__ import annotations

import argparse
import json
import sys

from components import exitcodes
from components.capacity import DEFAULT_MAX_NODES, PRECISIONS, CapacityInputError, catalogue, plan, request
from components.capacity.check import catalogue_model_of, precision_of
from components.capacity.planner import Layout, evaluate
from components.capacity.table import capacity_table
from components.commands import example
from components.spec import load_stack_spec
from components.spec.catalogue import builtin_catalogue
from components.spec.catalogue_models import Sku
from components.spec.checks import serving_nodes

TABLE_SKUS = ("dgx-a100-80g", "dgx-a100-40g")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("capacity", help="which layouts of a model at a precision fit a SKU's GPUs",
                       description="Plan a catalogue model (components/capacity/models.yaml) at a precision on a "
                                   "catalogue SKU: weights and KV cache per GPU for tensor-parallel (a power of two "
                                   "dividing the attention heads) × pipeline-parallel (a power of two) layouts, "
                                   "within gpu_memory_utilization 0.9 of each GPU; prints the smallest layout that "
                                   "fits and its nodes per replica, or the shortfall in GiB. Exit 0 when it fits, "
                                   "1 when it does not fit or the SKU's GPUs cannot run the precision (FP8 compute "
                                   "on Ampere), 2 on bad input. Method and sources: docs/capacity.md.",
                       **example("podforge capacity --model deepseek-r1 --precision int4-awq --sku dgx-a100-80g"))
    p.add_argument("--model", help=f"catalogue model ({', '.join(catalogue().models)})")
    p.add_argument("--precision", choices=PRECISIONS,
                   help="bf16; fp8 (FP8 compute: Ada/Hopper); fp8-w8a16 (FP8 weights, 16-bit compute); int8 (W8A8); "
                        "int4-awq")
    p.add_argument("--sku", action="append", metavar="SKU",
                   help=f"catalogue SKU ({', '.join(builtin_catalogue())}); with --table repeatable (default: "
                        f"{' and '.join(TABLE_SKUS)})")
    p.add_argument("--max-model-len", type=int, metavar="N",
                   help="context length in tokens the KV cache holds per sequence (default: the model's "
                        "max_position_embeddings)")
    p.add_argument("--concurrency", type=int, default=1, metavar="C",
                   help="full-length sequences whose KV cache must fit at once (default 1)")
    p.add_argument("--max-nodes", type=int, default=DEFAULT_MAX_NODES, metavar="N",
                   help=f"largest replica considered, in nodes (default {DEFAULT_MAX_NODES})")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--json", action="store_true",
                      help="print one JSON object: fits, nodes_per_replica, tensor_parallel, pipeline_parallel, "
                           "weights_gib_per_gpu, kv_gib_per_gpu, reason")
    mode.add_argument("--table", action="store_true",
                      help="print the Markdown table of every catalogue model × precision on the --sku SKUs")
    mode.add_argument("--stack", metavar="NAME",
                      help="plan the serving section of the stack's spec (Pulumi.NAME.yaml) on its serving nodes")
    p.set_defaults(run=run)


def _bad(message: str) -> int:
    print(f"podforge capacity: {message}", file=sys.stderr)
    return exitcodes.INVALID


def _sku(name: str) -> Sku:
    skus = builtin_catalogue()
    if name not in skus:
        raise CapacityInputError(f"unknown SKU {name!r}; the catalogue has {', '.join(skus)}")
    return skus[name]


def run(args: argparse.Namespace) -> int:
    try:
        if args.table:
            skus = [_sku(s) for s in (args.sku or TABLE_SKUS)]
            print(capacity_table(skus, args.max_model_len, args.concurrency, args.max_nodes), end="")
            return exitcodes.OK
        if args.stack:
            return _stack(args.stack)
        missing = [f"--{o}" for o in ("model", "precision", "sku") if not getattr(args, o)]
        if missing:
            return _bad(f"{', '.join(missing)} missing: give --model, --precision and --sku (or --table, --stack)")
        if len(args.sku) > 1:
            return _bad("one --sku to plan on (several only with --table)")
        req = request(args.model, args.precision, _sku(args.sku[0]), args.max_model_len, args.concurrency)
        result = plan(req, args.max_nodes)
    except CapacityInputError as exc:
        return _bad(f"{exc}")
    if args.json:
        print(json.dumps(result.as_json(), ensure_ascii=False))
    else:
        print(f"{result.model} at {result.precision} on {result.sku}: {result.reason}")
    return exitcodes.OK if result.fits else exitcodes.FOUND


def _stack(name: str) -> int:
    """The stack's declared layout and the smallest one that fits its serving nodes."""
    _, loaded = load_stack_spec(name)
    serving = loaded.spec.serving
    if serving is None:
        return _bad(f"{loaded.file} has no serving section to plan")
    model = catalogue_model_of(serving)
    if model is None:
        return _bad(f"{loaded.file}: serving.model.name {serving.model.name!r} is no catalogue model; set "
                    "serving.model.catalogue_model")
    skus = {**loaded.spec.catalogue, **builtin_catalogue()}
    servers = [n for n in serving_nodes(loaded.spec) if n.sku in skus]
    if not servers:
        return _bad(f"{loaded.file}: no serving nodes to plan on")
    sku = min((skus[n.sku] for n in servers), key=lambda s: (s.gpu.memory_gib, s.gpu.count))
    req = request(model, precision_of(serving), sku, serving.max_model_len, serving.concurrency,
                  serving.gpu_memory_utilization)
    declared = evaluate(req, Layout(serving.tensor_parallel_size, serving.pipeline_parallel_size))
    smallest = plan(req, len(servers))
    print(f"{loaded.file} serving: {model} at {req.precision.name} on {len(servers)} {sku.name} node"
          f"{'s' if len(servers) > 1 else ''}")
    print(f"  declared {declared.reason}")
    print(f"  smallest {smallest.reason}")
    return exitcodes.OK if declared.fits and declared.nodes_per_replica <= len(servers) else exitcodes.FOUND
