"""`podforge release status|observe|promote|rollback --stack NAME`: blue-green releases of the served model.

The observed state is a file of the project, `state/NAME.release.json` (or `--state-file`): which release takes
traffic, which one stands by, the candidate's observations and every switch. `observe` writes observations read
from Prometheus; `promote` and `rollback` write the switch. docs/release.md.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from components import exitcodes
from components import release as machine
from components.commands import example
from components.spec import load_stack_spec
from components.spec.release import Release


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("release", help="blue-green releases: status, observe the candidate, promote, roll back",
                       description="Blue-green releases of the served model (serving.release in the spec). The "
                                   "active release and the candidate run side by side; the Service selects the one "
                                   "taking traffic by the release label. `observe` records the candidate's readiness "
                                   "and latency from Prometheus; `promote` is refused until the candidate has been "
                                   "observed ready and within its SLO, without a break, for the soak (24h by "
                                   "default); `rollback` switches back in one step. The state is kept in "
                                   "state/STACK.release.json of the project. Exit 0: done; 1: refused, or the "
                                   "candidate was observed outside its SLO, or Prometheus could not be read; 2: "
                                   "invalid input, nothing written.",
                       **example("podforge release promote --stack superpod-serving --dry-run"))
    actions = p.add_subparsers(dest="action", required=True, parser_class=type(p))
    for name, text in (("status", "print who takes traffic, the candidate's soak and whether it may be promoted"),
                       ("observe", "query Prometheus once and record the candidate's readiness and latency"),
                       ("promote", "switch traffic to the candidate (refused until soaked)"),
                       ("rollback", "switch traffic back to the standby release")):
        a = actions.add_parser(name, help=text, description=text + ".")
        a.add_argument("--stack", required=True, help="stack name (reads Pulumi.NAME.yaml)")
        a.add_argument("--state-file", type=Path, metavar="FILE",
                       help="release state file (default: the project's state/NAME.release.json)")
        if name in ("promote", "rollback", "observe"):
            a.add_argument("--dry-run", action="store_true", help="say what would happen; write nothing")
        if name == "status":
            a.add_argument("--json", action="store_true", help="print the status as JSON")
        if name == "observe":
            a.add_argument("--prometheus", required=True, metavar="URL",
                           help="Prometheus base URL (its HTTP API /api/v1/query is queried)")
            a.add_argument("--namespace", required=True, help="namespace the serving workloads run in")
            a.add_argument("--timeout", type=float, default=10.0, metavar="SECONDS",
                           help="per-query timeout (default 10)")
        a.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    stack, loaded = load_stack_spec(args.stack)
    serving = loaded.spec.serving
    spec = serving.release if serving is not None else None
    if spec is None:
        return _bad(f"{loaded.file} declares no serving.release: add serving.release.active (docs/release.md)")
    path = args.state_file.absolute() if args.state_file else machine.state_path(stack.root, args.stack)
    now = time.time()
    try:
        state = _load(path, spec, now)
    except ValueError as exc:
        return _bad(f"{path}: {exc}")
    state = machine.reconcile(state, spec, now)
    if args.action == "status":
        return _status(state, spec, now, args.json)
    if args.action == "observe":
        return _observe(args, path, state, spec, now, args.stack)
    try:
        new = machine.promote(state, spec, now) if args.action == "promote" else machine.rollback(state, now)
    except machine.Refused as exc:
        print(f"podforge release {args.action}: refused: {exc}", file=sys.stderr)
        return exitcodes.FOUND
    patch = json.dumps(machine.service_patch(new, spec))
    if args.dry_run:
        print(f"would switch traffic {state.serving} → {new.serving} (Service patch {patch}); nothing written")
        return exitcodes.OK
    if (err := _save(path, new, args.stack)) is not None:
        return _bad(err)
    print(f"{new.events[-1].detail}; recorded in {path}")
    print(f"Service selector: {patch} (applied by the next `pulumi up` of the serving stack, or now with "
          f"kubectl patch service … --type merge -p '{patch}')")
    for line in machine.drift(new, spec):
        print(f"spec: {line}")
    return exitcodes.OK


def _bad(message: str) -> int:
    print(f"podforge release: {message}", file=sys.stderr)
    return exitcodes.INVALID


def _load(path: Path, spec: Release, now: float) -> machine.ReleaseState:
    if not path.exists():
        return machine.initial(spec, now)
    try:
        return machine.ReleaseState.from_json(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, json.JSONDecodeError, TypeError) as exc:
        raise ValueError(f"unreadable release state ({exc}); move it away to start over") from exc


def _save(path: Path, state: machine.ReleaseState, stack: str) -> str | None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(state.to_json(stack), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        return f"{path}: cannot write the release state ({exc.strerror}); name a writable --state-file"
    return None


def _status(state: machine.ReleaseState, spec: Release, now: float, as_json: bool) -> int:
    st = machine.status(state, spec, now)
    if as_json:
        print(json.dumps({"schema": 1, **st.__dict__}, indent=2, ensure_ascii=False))
        return exitcodes.OK
    print(f"serving: {st.serving}   (Service selector {st.selector})")
    print(f"standby: {st.standby or '—'}")
    if st.candidate:
        print(f"candidate: {st.candidate}, soaked {machine.human(st.soaked_seconds)} of {spec.soak}")
        if st.last_problems:
            print(f"  last observation: {', '.join(st.last_problems)}")
    print("promotion: allowed" if st.promotable else f"promotion: refused: {st.refusal}")
    for line in st.drift:
        print(f"spec: {line}")
    return exitcodes.OK


def _observe(args: argparse.Namespace, path: Path, state: machine.ReleaseState, spec: Release, now: float,
             stack: str) -> int:
    if state.candidate is None:
        print("podforge release observe: refused: no candidate to observe: declare serving.release.candidate",
              file=sys.stderr)
        return exitcodes.FOUND
    url = args.prometheus.rstrip("/")
    if not url.startswith(("http://", "https://")):
        return _bad(f"--prometheus {args.prometheus!r}: expected an http:// or https:// URL")
    results: dict[str, Any] = {}
    try:
        with httpx.Client(timeout=args.timeout) as client:
            for key, query in machine.observation_queries(spec, args.namespace, state.candidate).items():
                reply = client.get(f"{url}/api/v1/query", params={"query": query})
                body = reply.json()
                if reply.status_code != 200 or body.get("status") != "success":
                    raise ValueError(f"{key}: {body.get('error', reply.status_code)}")
                results[key] = body["data"]
    except (httpx.HTTPError, ValueError) as exc:
        print(f"podforge release observe: Prometheus at {url} could not be read ({exc}); nothing recorded",
              file=sys.stderr)
        return exitcodes.FOUND
    obs = machine.observation_from_results(state.candidate, now, results, f"prometheus {url}")
    new = machine.observe(state, spec, obs)
    problems = obs.problems(spec)
    verdict = "within SLO" if not problems else "outside SLO: " + ", ".join(problems)
    print(f"{obs.release}: ready {obs.ready_fraction}, p99 TTFT {obs.p99_ttft_seconds}s, "
          f"p99 latency {obs.p99_e2e_seconds}s — {verdict}; soaked {machine.human(machine.soaked(new, spec, now))} "
          f"of {spec.soak}")
    if args.dry_run:
        print("dry run: nothing written")
    elif (err := _save(path, new, stack)) is not None:
        return _bad(err)
    return exitcodes.OK if not problems else exitcodes.FOUND
