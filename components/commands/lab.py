"""`podforge lab up | status | down`: the lab hall of nspawn hosts the lab stack's spec declares (docs/lab.md)."""

from __future__ import annotations

import argparse
import os
import sys

from components import exitcodes
from components.commands import example
from components.lab import hall
from components.lab.errors import LabError
from components.lab.layout import LabDirs, default_state_dir
from components.lab.services import declared_services
from components.lab.topology import lab_topology
from components.spec import load_stack_spec


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("lab", help="build, inspect or remove the local lab hall (needs root)",
                       description="The lab hall: one systemd-nspawn host per node of the lab stack's spec, "
                                   "each in its own network namespace on the lab bridge, running sshd with "
                                   "a pinned host key. State lives in the project's .lab/ (docs/lab.md).",
                       **example("podforge lab up && podforge lab status && podforge lab down"))
    actions = p.add_subparsers(dest="action", required=True, parser_class=type(p))
    for name, text, sample in (("up", "build and boot every host, start the bridge services; quick and changes nothing "
                                      "when already up",
                                "podforge lab up --stack lab"),
                               ("status", "hosts, sshd and services; exit 0 when all are up, 1 otherwise",
                                "podforge lab status"),
                               ("down", "remove every namespace, veth, mount, process and the bridge; "
                                        "safe to run twice", "podforge lab down --purge")):
        a = actions.add_parser(name, help=text, description=text[:1].upper() + text[1:] + ".", **example(sample))
        a.add_argument("--stack", default="lab", help="the lab stack (default: lab)")
        if name == "down":
            a.add_argument("--purge", action="store_true", help="also delete the cached image and all of the lab's state")
        a.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    stack, loaded = load_stack_spec(args.stack)
    topo = lab_topology(stack.name, loaded)
    if os.geteuid() != 0:
        print(f"podforge lab {args.action}: the lab needs root (network namespaces, overlay mounts, systemd-nspawn); "
              "run it as root", file=sys.stderr)
        return exitcodes.INVALID
    dirs = LabDirs(default_state_dir())
    try:
        if args.action == "up":
            hall.up(topo, dirs, progress=_progress)
            return exitcodes.OK
        if args.action == "down":
            hall.down(topo, dirs, purge=args.purge, progress=_progress)
            return exitcodes.OK
        return _print_status(hall.status(topo, dirs, declared_services(loaded.spec, topo.bridge_address.ip)))
    except LabError as exc:
        print(f"podforge lab {args.action}: {exc}", file=sys.stderr)
        return exitcodes.FOUND


def _progress(line: str) -> None:
    print(line, flush=True)


def _print_status(st: hall.LabStatus) -> int:
    print(f"bridge      {st.bridge}: {'up' if st.bridge_up else 'missing'}")
    print(f"supervisor  {f'pid {st.supervisor}' if st.supervisor else 'not running'}")
    print(f"{'HOST':<14}{'ADDRESS':<16}{'STATE':<13}{'BOOTS':>5}  {'SSHD':<9}{'SYSTEMD':<10}FAILED UNITS")
    for h in st.hosts:
        print(f"{h.hostname:<14}{h.address!s:<16}{h.state:<13}{h.boots:>5}  {'answers' if h.sshd else 'silent':<9}"
              f"{h.system:<10}{', '.join(h.failed_units) or '-'}")
    if st.services:
        print("services the spec expects on the bridge:")
        for svc, answers in st.services:
            pid = st.served.get(f"{svc.host}:{svc.port}")
            runner = (f"lab up, pid {pid}" if pid else "lab up, not running") if st.runs(svc) else "not served in the lab"
            print(f"  {svc.host}:{svc.port:<6} {'answers' if answers else 'silent':<9}{svc.name} ({runner})")
    up_count = sum(h.healthy for h in st.hosts)
    print(f"lab: {up_count}/{len(st.hosts)} hosts up" + ("" if st.healthy else " — not all up (podforge lab up)"))
    return exitcodes.OK if st.healthy else exitcodes.FOUND

