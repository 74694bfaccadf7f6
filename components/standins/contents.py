"""What each lab stand-in package holds. Names, dependencies, commands, files and units come from the oracle table
of what DGX OS ships (components/oracle/dgx_os.yaml), versions from the spec (software.*.version); nothing from
components/artifacts.py. Each stand-in carries a Description saying it is a podforge lab stand-in, a marker file,
and stand-in commands whose every output starts "simulated:". Where the oracle has a unit's text verbatim, the
stand-in ships that text, so the unit behaves as the packaged one (e.g. nvidia-persistenced's
`--no-persistence-mode`); only the binaries it runs are stand-ins.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from components import oracle
from components.spec.cluster import ClusterSpec
from components.spec.software import Pinned

LABEL = "podforge lab stand-in"
MARKER_DIR = "/usr/share/podforge-standins"


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


_SUMMARIES = {  # the synopsis where the oracle row has none
    "driver": "NVIDIA data center driver",
    "fabric_manager": "NVIDIA Fabric Manager / NVSwitch support",
    "doca_ofed": "DOCA-OFED InfiniBand and RDMA stack",
    "nccl": "NVIDIA Collective Communication Library",
    "container_toolkit": "NVIDIA Container Toolkit",
    "dcgm": "NVIDIA Data Center GPU Manager",
    "dcgm_exporter": "NVIDIA DCGM exporter for Prometheus",
}
STATE_DIR = "/run/podforge-standins"
"""Where the stand-in nvidia-persistenced records the persistence mode its flags asked for (file persistence-mode;
$PODFORGE_STANDIN_STATE_DIR overrides it); the stand-in `nvidia-smi -q` reports it, as the real one reports the
driver's."""

def _script(command: str, package: str, version: str) -> str:
    return ("#!/bin/sh\n"
            f"# {LABEL} for {command} (package {package} {version}): there is no GPU, driver or fabric here.\n"
            f"echo \"simulated: $(basename \"$0\") $*: {LABEL} from {package} {version}; nothing was done\"\n")


def _exporter_unit(what: str) -> str:
    return ("[Unit]\n"
            f"Description={what} ({LABEL}, simulated)\n\n"
            "[Service]\n"
            "ExecStart=/usr/bin/dcgm-exporter -f /etc/dcgm-exporter/default-counters.csv -a :9400\n\n"
            "[Install]\n"
            "WantedBy=multi-user.target\n")


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


def _persistenced_script(package: str, version: str) -> str:
    """Type=forking like the real daemon: records the persistence mode its flags ask for, forks an idler, exits."""
    return ("#!/bin/sh\n"
            f"# {LABEL} for nvidia-persistenced (package {package} {version}): no GPU or driver here.\n"
            f"state=${{PODFORGE_STANDIN_STATE_DIR:-{STATE_DIR}}}\n"
            "mode=Enabled\n"
            "for arg in \"$@\"; do [ \"$arg\" = --no-persistence-mode ] && mode=Disabled; done\n"
            "mkdir -p \"$state\" && echo \"$mode\" > \"$state/persistence-mode\"\n"
            f"echo \"simulated: nvidia-persistenced $*: {LABEL} from {package} {version}; persistence mode $mode\"\n"
            "sleep infinity >/dev/null 2>&1 &\n"
            "echo $! > \"$state/nvidia-persistenced.pid\"\n")


def _smi_script(package: str, version: str) -> str:
    """Every output starts "simulated:"; `-q` adds the persistence mode the stand-in daemon recorded (Disabled when
    none runs), in nvidia-smi's `-q` layout."""
    return ("#!/bin/sh\n"
            f"# {LABEL} for nvidia-smi (package {package} {version}): there is no GPU or driver here.\n"
            f"echo \"simulated: $(basename \"$0\") $*: {LABEL} from {package} {version}; nothing was done\"\n"
            "case \" $* \" in *\" -q \"*|*\" --query \"*)\n"
            f"  mode=$(cat \"${{PODFORGE_STANDIN_STATE_DIR:-{STATE_DIR}}}/persistence-mode\" 2>/dev/null || echo Disabled)\n"
            "  echo \"    Persistence Mode                      : $mode\" ;;\n"
            "esac\n")


def _daemon_script(command: str, package: str, version: str, forking: bool) -> str:
    """A stand-in for a daemon a packaged unit runs: says so, then idles (forked where the unit is Type=forking)."""
    idle = "sleep infinity >/dev/null 2>&1 &\n" if forking else "exec sleep infinity\n"
    return ("#!/bin/sh\n"
            f"# {LABEL} for {command} (package {package} {version}): there is no GPU, driver or fabric here.\n"
            f"echo \"simulated: $(basename \"$0\") $*: {LABEL} from {package} {version}; it manages nothing\"\n"
            + idle)


def _unit_file(unit: oracle.Unit, package: str, version: str) -> str:
    header = (f"# {LABEL} ({package} {version}, simulated): the packaged unit's text as the oracle table has it\n"
              f"# (source: {unit.source.splitlines()[0][:150]}); the commands it runs are stand-ins.\n")
    return header + str(unit.text)


def _version(spec: ClusterSpec, package: oracle.Package, driver_version: str | None) -> str | None:
    if package.component in ("driver", "fabric_manager") and driver_version is not None:
        return driver_version
    pin: Pinned | None = getattr(spec.software, package.component, None)
    return pin.version if pin is not None else None


def standin_package(package: oracle.Package, version: str) -> StandinPackage:
    """The stand-in of one oracle row at one version: marker, commands, conffiles and units the row names."""
    files = [StandinFile(f"{MARKER_DIR}/{package.name}",
                         f"{LABEL}: {package.name} {version} (stands in for the {package.component} package; "
                         f"simulated)\n")]
    unit_info = {name: oracle.unit(name) for name in package.units}
    runs = {u.exec_start.split()[0]: u for u in unit_info.values() if u is not None and u.text}
    for command, path in package.commands.items():
        if command == "dcgm-exporter":
            text = _exporter_script(package.name, version)
        elif command == "nvidia-persistenced":
            text = _persistenced_script(package.name, version)
        elif command == "nvidia-smi":
            text = _smi_script(package.name, version)
        elif path in runs:
            text = _daemon_script(command, package.name, version, "Type=forking" in str(runs[path].text))
        else:
            text = _script(command, package.name, version)
        files.append(StandinFile(path, text, 0o755))
    for f in package.files:
        files.append(StandinFile(str(f["path"]), f"# {LABEL}: {f['path']} of {package.name} {version} (simulated)\n"))
    for info in unit_info.values():
        if info is None or not info.path.endswith(".service"):
            continue  # SysV scripts (openibd) are not stood in
        if not info.text and package.component != "dcgm_exporter":
            continue  # no verbatim text in the oracle: no unit rather than an invented one
        text = _unit_file(info, package.name, version) if info.text else _exporter_unit(_SUMMARIES[package.component])
        files.append(StandinFile(info.path, text))
    depends = tuple(f"{dep} (= {version})" for dep in package.depends)
    return StandinPackage(package.name, version, package.summary or _SUMMARIES[package.component], depends,
                          tuple(files))


def standin_sources(spec: ClusterSpec, driver_versions: tuple[str, ...] = ()) -> list[tuple[str, StandinPackage]]:
    """(spec source name, stand-in) for every package the oracle names for the stack; `driver_versions` adds the
    driver's and Fabric Manager's packages (meta, utilities, NSCQ) at further versions (an upgrade in the lab)."""
    out: dict[tuple[str, str], tuple[str, StandinPackage]] = {}
    packages = oracle.stack_packages(spec)
    for driver_version in (None, *driver_versions):
        for package in packages:
            if driver_version is not None and package.component not in ("driver", "fabric_manager"):
                continue
            version = _version(spec, package, driver_version)
            pin: Pinned | None = getattr(spec.software, package.component, None)
            if version is None or pin is None:
                continue
            out[(package.name, version)] = (pin.source, standin_package(package, version))
    return [out[key] for key in sorted(out)]


def standin_packages(spec: ClusterSpec, driver_versions: tuple[str, ...] = ()) -> list[StandinPackage]:
    """Stand-ins for every package the oracle table names for the stack's OS, branch and GPU nodes, at the spec's
    versions; `driver_versions` adds the driver's packages at further versions."""
    return [package for _, package in standin_sources(spec, driver_versions)]
