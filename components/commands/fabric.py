"""`podforge fabric netlist|check --stack NAME`: the spec's intended cabling as an ibsim netlist, and a
discovered fabric (ibnetdiscover output, or a live run) checked against it, one line per problem."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from components import exitcodes
from components.cabling.compare import FabricCheck, compare, report_dict, report_text, switch_name
from components.cabling.discovered import DiscoveryError, Topology, parse_ibnetdiscover
from components.cabling.intent import fabric_named, intent
from components.cabling.netlist import render_netlist
from components.commands import example
from components.spec import load_stack_spec
from components.spec.fabric import Fabric


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("fabric", help="InfiniBand cabling: render the intended netlist, check a fabric against it",
                       description="The spec's cabling of each fabric (fabrics[].node_links and switch_links): "
                                   "`netlist` prints it as an ibsim netlist; `check` compares a discovered fabric "
                                   "(ibnetdiscover output) with it and prints one line a technician can act on "
                                   "per problem.",
                       **example("podforge fabric check --stack superpod --fabric su1-compute --live"))
    verbs = p.add_subparsers(dest="fabric_command", required=True)
    net = verbs.add_parser("netlist", help="print the ibsim netlist of the intended cabling",
                           description="Print the ibsim netlist (the ibnetdiscover-compatible format `ibsim -s` "
                                       "loads) of a fabric's intended cabling: every switch with its port count, "
                                       "every node HCA cabled into the fabric as a one-port Hca with node "
                                       "description `HOST DEVICE`, every cable from both ends, at the speed the "
                                       "fabric's rate implies. Several fabrics are printed one after the other.",
                           **example("podforge fabric netlist --stack superpod --fabric su1-compute > su1.net"))
    net.add_argument("--stack", required=True, help="stack name (reads Pulumi.NAME.yaml and the spec it names)")
    net.add_argument("--fabric", metavar="NAME", help="only this fabric (default: every fabric of the spec)")
    net.set_defaults(run=run_netlist)
    check = verbs.add_parser("check", help="check a discovered fabric against the intended cabling",
                             description="Compare a discovered fabric with the spec's cabling and print, per "
                                         "problem, one line: `move cable at A (now to B) to C`, `missing link A ↔ "
                                         "B`, `unexpected link A ↔ B`, `link A ↔ B up at 4X EDR, expected 4X HDR` "
                                         "(speeds only where the discovery reports them). Exit 0 when every "
                                         "cable is as intended, 1 on any problem, 2 on bad input.",
                             **example("podforge fabric check --stack superpod --ibnetdiscover su1.topo"))
    check.add_argument("--stack", required=True, help="stack name (reads Pulumi.NAME.yaml and the spec it names)")
    check.add_argument("--fabric", metavar="NAME",
                       help="the fabric the discovery is of (default: with a file, the fabrics whose switches it "
                            "names; with --live, every fabric this host has an HCA on)")
    source = check.add_mutually_exclusive_group(required=True)
    source.add_argument("--ibnetdiscover", metavar="FILE", help="ibnetdiscover output to check ('-': standard input)")
    source.add_argument("--live", action="store_true",
                        help="run ibnetdiscover here, from this host's first HCA cabled into each fabric (or "
                             "--ca); needs infiniband-diags and an HCA on the fabric")
    check.add_argument("--ca", metavar="DEVICE", help="with --live: the HCA ibnetdiscover uses (e.g. mlx5_0; "
                                                      "default: as above, else ibnetdiscover's first active port)")
    check.add_argument("--format", choices=("text", "json"), default="text",
                       help="standard output as text (default) or JSON (schema 1)")
    check.add_argument("--json", metavar="FILE", help="also write the report as JSON (schema 1) to FILE")
    check.set_defaults(run=run_check)


def _fail(message: str) -> int:
    print(f"podforge fabric: {message}", file=sys.stderr)
    return exitcodes.INVALID


def run_netlist(args: argparse.Namespace) -> int:
    loaded = load_stack_spec(args.stack)[1]
    try:
        fabrics = fabric_named(loaded.spec, args.fabric)
        texts = [render_netlist(loaded.spec, f, str(loaded.file)) for f in fabrics]
    except ValueError as exc:
        return _fail(f"{exc}")
    print("\n".join(texts), end="")
    return exitcodes.OK


def _read(path: str) -> str:
    return sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")


def _file_checks(args: argparse.Namespace, spec, fabrics: list[Fabric]) -> list[FabricCheck] | int:
    try:
        topo = parse_ibnetdiscover(_read(args.ibnetdiscover))
    except OSError as exc:
        return _fail(f"cannot read --ibnetdiscover {args.ibnetdiscover}: {exc.strerror or exc}")
    except DiscoveryError as exc:
        where = f"{args.ibnetdiscover}:{exc.line}" if exc.line else args.ibnetdiscover
        return _fail(f"{where}: {exc}")
    if args.fabric is None:
        found = {switch_name(n.description, {s.name for f in fabrics for s in f.switches})
                 for n in topo.nodes.values() if n.kind == "switch"}
        fabrics = [f for f in fabrics if any(s.name in found for s in f.switches)]
        if not fabrics:
            return _fail(f"{args.ibnetdiscover} names no switch of any fabric of the spec: name the fabric with "
                         "--fabric, or discover from a node on it")
    return [compare(intent(spec, f), topo, args.ibnetdiscover) for f in fabrics]


def _live_checks(args: argparse.Namespace, spec, fabrics: list[Fabric]) -> list[FabricCheck] | int:
    from components.cabling.live import LiveDiscoveryError, discover, local_hostname

    host = local_hostname()
    checks = []
    plan: list[tuple[Fabric, str | None]] = []
    for fabric in fabrics:
        devices = list(fabric.cables_by_node.get(host, {}))
        if args.ca is not None or devices:
            plan.append((fabric, args.ca or devices[0]))
        elif args.fabric is not None:
            plan.append((fabric, None))
    if not plan:
        return _fail(f"--live: this host ({host}) has no HCA cabled into any fabric of the spec: name the fabric "
                     "with --fabric (ibnetdiscover then uses this host's first active port), or --ca DEVICE")
    for fabric, ca in plan:
        try:
            text = discover(ca)
            topo: Topology = parse_ibnetdiscover(text)
        except LiveDiscoveryError as exc:
            return _fail(f"--live: {exc}")
        except DiscoveryError as exc:
            return _fail(f"--live: ibnetdiscover output unreadable: {exc}")
        source = f"ibnetdiscover on {host}" + (f" via {ca}" if ca else "")
        checks.append(compare(intent(spec, fabric), topo, source))
    return checks


def run_check(args: argparse.Namespace) -> int:
    stack, loaded = load_stack_spec(args.stack)
    if args.ca is not None and not args.live:
        return _fail("--ca goes with --live (a file already says which port it was discovered from)")
    try:
        fabrics = [f for f in fabric_named(loaded.spec, args.fabric) if f.transport == "infiniband"]
    except ValueError as exc:
        return _fail(f"{exc}")
    if not fabrics:
        return _fail(f"fabric {args.fabric} is not InfiniBand: ibnetdiscover discovers InfiniBand fabrics only")
    checks = _file_checks(args, loaded.spec, fabrics) if args.ibnetdiscover else _live_checks(args, loaded.spec,
                                                                                                fabrics)
    if isinstance(checks, int):
        return checks
    report = report_dict(stack.name, str(loaded.file), checks)
    if args.json:
        try:
            Path(args.json).write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        except OSError as exc:
            return _fail(f"cannot write --json {args.json}: {exc.strerror or exc}")
    if args.format == "json":
        print(json.dumps(report, indent=2, ensure_ascii=False))
    else:
        print(report_text(checks))
    return exitcodes.OK if report["ok"] else exitcodes.FOUND
