"""The lab's package repository: the stand-in APT repository of the lab spec's pinned packages
(components.standins), built under STATE/repository and served on the bridge at the spec's source URLs.

The build is cached: STATE/repository.json records the digest of what it was built from (every stand-in's
name, version, dependencies and files, and the sources' URLs), and `lab up` rebuilds only when that changes,
building beside the old tree and swapping at the end. Serving runs as its own detached process:
`python -m components.lab.repository ROOT HOST PORT`.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import signal
import sys
import threading
import time
from pathlib import Path

from components.lab.errors import LabError
from components.spec import ClusterSpec
from components.standins import StandinBuildError, build_stack_repositories, serve_directory, standin_packages

# A second driver (and fabric manager, NSCQ) version served beside the spec's, so the GPU roles can be
# upgraded between two stand-in versions in the lab; APT installs the spec's pin because roles ask for it.
UPGRADE_DRIVER_VERSIONS = ("535.216.01",)


def recipe(spec: ClusterSpec) -> dict[str, object]:
    """What the repository is built from; equal recipes build byte-identical trees."""
    packages = standin_packages(spec, UPGRADE_DRIVER_VERSIONS)
    sources = sorted((s.name, s.url, s.suite) for s in spec.software.sources)
    digest = hashlib.sha256(repr((packages, sources)).encode()).hexdigest()
    return {"digest": digest, "packages": sorted(f"{p.name}={p.version}" for p in packages),
            "sources": [f"{url} {suite}" for _, url, suite in sources]}


def cached(root: Path, stamp: Path, spec: ClusterSpec) -> bool:
    try:
        built = json.loads(stamp.read_text())
    except (OSError, ValueError):
        return False
    return root.is_dir() and built.get("digest") == recipe(spec)["digest"]


def build(root: Path, stamp: Path, spec: ClusterSpec) -> float:
    """Build the repository tree at `root` (beside the old one, swapped at the end); seconds it took."""
    started = time.monotonic()
    fresh = root.with_name(root.name + ".new")
    old = root.with_name(root.name + ".old")
    for leftover in (fresh, old):
        shutil.rmtree(leftover, ignore_errors=True)
    try:
        build_stack_repositories(spec, fresh, UPGRADE_DRIVER_VERSIONS)
    except StandinBuildError as exc:
        shutil.rmtree(fresh, ignore_errors=True)
        raise LabError(f"building the stand-in repository: {exc}") from None
    stamp.unlink(missing_ok=True)
    if root.exists():
        root.rename(old)
    fresh.rename(root)  # the running server serves by path: the next request sees the new tree
    shutil.rmtree(old, ignore_errors=True)
    stamp.write_text(json.dumps(recipe(spec), indent=2) + "\n")
    return time.monotonic() - started


def serve(root: Path, host: str, port: int) -> int:
    """Serve `root` until SIGTERM (what `lab down` sends)."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    server = serve_directory(root, host, port)
    print(f"serving {root} on {server.url}", flush=True)
    while not stop.wait(1.0):
        pass
    server.close()
    return 0


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print("usage: python -m components.lab.repository ROOT HOST PORT", file=sys.stderr)
        return 2
    return serve(Path(argv[0]), argv[1], int(argv[2]))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
