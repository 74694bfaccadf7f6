"""What each lab stand-in package holds: the real NVIDIA / Mellanox package name and version (from the stack's
artifacts), a Description saying it is a podforge lab stand-in, a marker file, and, where a role runs a command
or starts a service from the real package, a stand-in script whose every output says "simulated".
"""

from __future__ import annotations

from dataclasses import dataclass, field

from components.artifacts import PackageArtifact, stack_artifacts
from components.spec.cluster import ClusterSpec

LABEL = "podforge lab stand-in"
MARKER_DIR = "/usr/share/podforge-standins"
LIB_DIR = "/usr/lib/podforge-standins"


@dataclass(frozen=True)
class StandinFile:
    path: str          # absolute path on the installed host
    text: str
    mode: int = 0o644


@dataclass(frozen=True)
class StandinPackage:
    name: str
    version: str
    summary: str                                   # what the real package is
    depends: tuple[str, ...] = ()
    files: tuple[StandinFile, ...] = field(default_factory=tuple)

    @property
    def description(self) -> str:
        """Debian Description: a synopsis line, then the extended text (each line indented by one space)."""
        return (f"{self.summary} ({LABEL})\n"
                f" {LABEL}: carries the real package name and version so that pinned installs\n"
                f" resolve in the podforge lab. It installs a marker file and stand-in commands\n"
                f" whose every output says \"simulated\"; nothing of the real software.")


# Commands and services of the real packages that roles call or start: package name (branch-free) → commands,
# systemd units. `{branch}` is the driver branch.
_COMMANDS: dict[str, tuple[str, ...]] = {
    "nvidia-driver-{branch}": ("nvidia-smi", "nvidia-persistenced"),
    "nvidia-fabricmanager-{branch}": ("nv-fabricmanager",),
    "doca-ofed": ("ofed_info",),
    "nccl-tests": ("all_reduce_perf",),
    "nvidia-container-toolkit-base": ("nvidia-ctk",),
    "libnvidia-container-tools": ("nvidia-container-cli",),
    "datacenter-gpu-manager": ("dcgmi", "nv-hostengine"),
    "datacenter-gpu-manager-4-core": ("dcgmi", "nv-hostengine"),
}
_UNITS: dict[str, tuple[tuple[str, str], ...]] = {  # unit name, what runs in the real one
    "datacenter-gpu-manager-exporter": (("nvidia-dcgm-exporter", "NVIDIA DCGM exporter"),),
    "nvidia-driver-{branch}": (("nvidia-persistenced", "NVIDIA Persistence Daemon"),),
    "nvidia-fabricmanager-{branch}": (("nvidia-fabricmanager", "NVIDIA fabric manager service"),),
    "datacenter-gpu-manager": (("nvidia-dcgm", "NVIDIA DCGM service"),),
    "datacenter-gpu-manager-4-core": (("nvidia-dcgm", "NVIDIA DCGM service"),),
}
_SUMMARIES = {
    "driver": "NVIDIA data center driver",
    "fabric_manager": "NVIDIA Fabric Manager / NVSwitch support",
    "doca_ofed": "DOCA-OFED InfiniBand and RDMA stack",
    "nccl": "NVIDIA Collective Communication Library",
    "nccl_tests": "NCCL tests (all_reduce_perf and friends)",
    "container_toolkit": "NVIDIA Container Toolkit",
    "dcgm": "NVIDIA Data Center GPU Manager",
    "dcgm_exporter": "NVIDIA DCGM exporter for Prometheus",
}
# Exact dependencies the real packages declare, so APT resolves the stand-ins the way it resolves the originals.
_DEPENDS = {
    "libnccl-dev": ("libnccl2",),
    "nvidia-container-toolkit": ("nvidia-container-toolkit-base", "libnvidia-container-tools"),
    "libnvidia-container-tools": ("libnvidia-container1",),
}


def _script(command: str, package: str, version: str) -> str:
    return ("#!/bin/sh\n"
            f"# {LABEL} for {command} (package {package} {version}): there is no GPU, driver or fabric here.\n"
            f"echo \"simulated: $(basename \"$0\") $*: {LABEL} from {package} {version}; nothing was done\"\n")


def _daemon_path(package: str) -> str:
    return f"{LIB_DIR}/{package}/daemon"  # one per package, so two stand-ins never own the same file


def _unit(unit: str, what: str, package: str, version: str) -> str:
    return ("[Unit]\n"
            f"Description={what} ({LABEL}, simulated)\n\n"
            "[Service]\n"
            f"ExecStart={_daemon_path(package)} {unit} {package} {version}\n\n"
            "[Install]\n"
            "WantedBy=multi-user.target\n")


def _exporter_unit(what: str) -> str:
    return ("[Unit]\n"
            f"Description={what} ({LABEL}, simulated)\n\n"
            "[Service]\n"
            "ExecStart=/usr/bin/dcgm-exporter -f /etc/dcgm-exporter/default-counters.csv -a :9400\n\n"
            "[Install]\n"
            "WantedBy=multi-user.target\n")


DAEMON_SCRIPT = ("#!/bin/sh\n"
                 f"# Runs in place of a real NVIDIA daemon in a {LABEL} unit: says so, then idles.\n"
                 f"echo \"simulated: $1 from $2 $3 is a {LABEL}; it manages nothing\"\n"
                 "exec sleep infinity\n")


# The stand-in dcgm-exporter answers like the real one on its --address with the fields of its --collectors file,
# each as `# HELP` / `# TYPE` only: there is no GPU, so no sample is served, and a `podforge_standin_simulated`
# series plus a comment say so. Options as the real exporter's (-a/--address, -f/--collectors); others ignored.
EXPORTER_BODY = r"""import argparse, csv, http.server

parser = argparse.ArgumentParser(prog="dcgm-exporter")
parser.add_argument("-a", "--address", default=":9400")
parser.add_argument("-f", "--collectors", default="/etc/dcgm-exporter/default-counters.csv")
args, _ = parser.parse_known_args()
host, _, port = args.address.rpartition(":")
fields = []
with open(args.collectors, encoding="utf-8") as f:
    for row in csv.reader(line for line in f if line.strip() and not line.lstrip().startswith("#")):
        if len(row) >= 2:
            fields.append((row[0].strip(), row[1].strip(), ",".join(row[2:]).strip()))
lines = [f"# simulated: {LABEL} from {PACKAGE} {VERSION}; no GPU, no sample values"]
for name, kind, about in fields:
    lines += [f"# HELP {name} {about}", f"# TYPE {name} {kind}"]
lines += [f"# HELP podforge_standin_simulated 1: this exporter is a {LABEL}",
          "# TYPE podforge_standin_simulated gauge",
          f'podforge_standin_simulated{{package="{PACKAGE}",version="{VERSION}"}} 1']
body = ("\n".join(lines) + "\n").encode()


class Metrics(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200 if self.path == "/metrics" else 404)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.end_headers()
        if self.path == "/metrics":
            self.wfile.write(body)

    def log_message(self, *_):
        pass


print(f"simulated: dcgm-exporter stand-in serving {len(fields)} field(s) on {args.address}", flush=True)
http.server.HTTPServer((host or "0.0.0.0", int(port)), Metrics).serve_forever()
"""


def _exporter_script(package: str, version: str) -> str:
    return ("#!/usr/bin/python3\n"
            f"# {LABEL} for dcgm-exporter (package {package} {version}): there is no GPU here.\n"
            f"LABEL, PACKAGE, VERSION = {LABEL!r}, {package!r}, {version!r}\n" + EXPORTER_BODY)


def standin_package(artifact: PackageArtifact, branch: str) -> StandinPackage:
    # Tables are keyed branch-free: nvidia-driver-535 → nvidia-driver-{branch}.
    key = artifact.name.removesuffix(f"-{branch}") + "-{branch}" if artifact.name.endswith(f"-{branch}") else artifact.name
    files = [StandinFile(f"{MARKER_DIR}/{artifact.name}",
                         f"{LABEL}: {artifact.name} {artifact.version} (stands in for the {artifact.component} "
                         f"package; simulated)\n")]
    files += [StandinFile(f"/usr/bin/{cmd}", _script(cmd, artifact.name, artifact.version), 0o755)
              for cmd in _COMMANDS.get(key, ())]
    units = _UNITS.get(key, ())
    if artifact.component == "dcgm_exporter":
        # The real package's unit runs the exporter itself; so does the stand-in's (roles override ExecStart).
        files.append(StandinFile("/usr/bin/dcgm-exporter", _exporter_script(artifact.name, artifact.version), 0o755))
        files += [StandinFile(f"/lib/systemd/system/{unit}.service", _exporter_unit(what)) for unit, what in units]
    else:
        files += [StandinFile(f"/lib/systemd/system/{unit}.service", _unit(unit, what, artifact.name, artifact.version))
                  for unit, what in units]
        if units:
            files.append(StandinFile(_daemon_path(artifact.name), DAEMON_SCRIPT, 0o755))
    depends = tuple(f"{dep} (= {artifact.version})" for dep in _DEPENDS.get(artifact.name, ()))
    return StandinPackage(artifact.name, artifact.version, _SUMMARIES[artifact.component], depends, tuple(files))


def standin_packages(spec: ClusterSpec, driver_versions: tuple[str, ...] = ()) -> list[StandinPackage]:
    """Stand-ins for every package the stack's artifacts list; `driver_versions` adds the driver, fabric manager and
    NSCQ at further versions (an upgrade between two driver versions in the lab)."""
    branch = spec.software.driver.branch
    artifacts = list(stack_artifacts(spec).packages)
    for version in driver_versions:
        artifacts += [PackageArtifact(a.name, version, a.component, a.source, a.url, a.suite, a.why)
                      for a in stack_artifacts(spec).packages if a.component in ("driver", "fabric_manager")]
    unique = {(a.name, a.version): a for a in artifacts}
    return [standin_package(a, branch) for _, a in sorted(unique.items())]
