"""`python -m tests.benchmarks [--only NAME] [...]`: run the benchmarks and print their tables."""

from __future__ import annotations

import argparse
import sys

from tests.benchmarks import desensitize, desensitize_compare, fabric, gateway, kafka, plan, policy, rollout

BENCHMARKS = {"desensitize": desensitize, "desensitize_compare": desensitize_compare, "fabric": fabric,
              "gateway": gateway, "kafka": kafka, "plan": plan, "policy": policy, "rollout": rollout}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.benchmarks", description=__doc__)
    parser.add_argument("--only", choices=sorted(BENCHMARKS), action="append", help="run only this benchmark")
    parser.add_argument("--sizes", type=int, nargs="+", help="cluster sizes for the plan benchmark; lab host counts for rollout")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement; the fastest counts")
    args = parser.parse_args(argv)
    failed = 0
    for name in args.only or sorted(BENCHMARKS):
        failed += BENCHMARKS[name].run(sizes=args.sizes, repeat=args.repeat)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
