"""`podforge schema`: the spec's JSON Schema, for editors (yaml-language-server and the like)."""

from __future__ import annotations

import argparse
import json

from components import exitcodes
from components.commands import example
from components.spec.cluster import ClusterSpec


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("schema", help="print the spec's JSON Schema",
                       description="Print the JSON Schema (draft 2020-12) of a cluster spec.",
                       **example("podforge schema > .vscode/podforge.schema.json"))
    p.set_defaults(run=run)


def spec_schema() -> dict[str, object]:
    schema = ClusterSpec.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://podforge.dev/schema/cluster-spec.json"
    return schema


def run(args: argparse.Namespace) -> int:
    print(json.dumps(spec_schema(), indent=2, ensure_ascii=False))
    return exitcodes.OK
