"""`podforge artifacts --stack NAME [--format text|json]`: every package and container image the stack needs, with
versions and sources, for building an air-gapped mirror."""

from __future__ import annotations

import argparse
import json

from components import exitcodes
from components.artifacts import artifacts_text, stack_artifacts
from components.commands import example
from components.spec import load_stack_spec


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("artifacts", help="list every package and container image a stack needs (air-gapped mirror)",
                       description="List every package (name, exact version, source name and URL) and container "
                                   "image the stack's spec needs from outside the operating system's archive: the "
                                   "NVIDIA driver and fabric manager, DOCA-OFED, NCCL and nccl-tests, the container "
                                   "toolkit, DCGM, and the serving engine's image. Mirror these (with their "
                                   "dependencies) to install without the vendor repositories.",
                       **example("podforge artifacts --stack superpod --format json | jq -r '.packages[].name'"))
    p.add_argument("--stack", required=True, help="stack name (reads the project's Pulumi.NAME.yaml)")
    p.add_argument("--format", choices=("text", "json"), default="text", help="a table (default) or JSON")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    stack, loaded = load_stack_spec(args.stack)
    artifacts = stack_artifacts(loaded.spec)
    if args.format == "json":
        print(json.dumps({"schema": 1, "stack": stack.name, "spec": loaded.file, **artifacts.as_json()}, indent=2,
                         ensure_ascii=False))
    else:
        print(artifacts_text(stack.name, loaded.file, artifacts), end="")
    return exitcodes.OK
