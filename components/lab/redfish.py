"""The lab's Redfish BMCs: sushy-tools' emulator with its fake driver, one Redfish system per spec node whose
`bmc` names the bridge address (`redfish://10.199.77.1:8000/redfish/v1/Systems/lab-dgx-01` for the lab spec),
served over HTTPS with a certificate from the lab CA and TLS 1.3 as its floor.

The fake driver keeps power state and boot source per system (in STATE/services/redfish) and touches no
machine: a power action on a lab BMC changes only that record; the lab hosts themselves are the supervisor's.
Run by `lab up` as `python -m components.lab.redfish CONFIG HOST PORT CERT KEY`; sushy-tools is optional, and
without it the lab serves no BMCs (`lab status` says so).
"""

from __future__ import annotations

import hashlib
import importlib.util
import ssl
import sys
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from components.lab.certs import CertFiles, fingerprint
from components.spec import ClusterSpec

# A fixed namespace: a node keeps its system UUID across lab rebuilds.
SYSTEM_NAMESPACE = uuid.UUID("0d5b0c55-6a3e-5f53-9a59-1f0e4c3b7a10")


@dataclass(frozen=True)
class RedfishFiles:
    dir: Path

    @property
    def config(self) -> Path:
        return self.dir / "emulator.conf"

    @property
    def tls(self) -> CertFiles:
        return CertFiles(self.dir / "bmc.pem", self.dir / "bmc.key")

    @property
    def state(self) -> Path:
        return self.dir / "state"


def installed() -> bool:
    return importlib.util.find_spec("sushy_tools") is not None


def listen_address(spec: ClusterSpec, bridge: str) -> tuple[str, int] | None:
    """HOST, PORT of the BMCs the spec declares on the bridge (one emulator; the first node's port), or None."""
    for node in spec.nodes:
        parts = urlsplit(node.bmc)
        if parts.hostname == bridge:
            return bridge, parts.port or 443
    return None


def systems(spec: ClusterSpec, bridge: str) -> list[dict[str, object]]:
    """The fake driver's systems: one per node with its BMC on the bridge, named by hostname, powered on."""
    return [{"uuid": str(uuid.uuid5(SYSTEM_NAMESPACE, node.hostname)), "name": node.hostname, "power_state": "On",
             "external_notifier": False, "nics": [{"mac": _mac(node.hostname), "ip": str(node.management_address)}]}
            for node in spec.nodes if urlsplit(node.bmc).hostname == bridge]


def _mac(hostname: str) -> str:
    """A stable, locally administered unicast MAC per host."""
    digest = hashlib.sha256(hostname.encode()).digest()
    return ":".join(f"{b:02x}" for b in (0x02, *digest[:5]))


def config_text(spec: ClusterSpec, bridge: str, files: RedfishFiles) -> str:
    settings = {"SUSHY_EMULATOR_FAKE_DRIVER": True, "SUSHY_EMULATOR_FAKE_SYSTEMS": systems(spec, bridge),
                "SUSHY_EMULATOR_STATE_DIR": str(files.state)}
    # The emulator reads its configuration as a Python file (Flask's from_pyfile): repr() writes Python literals.
    lines = [f"{key} = {value!r}" for key, value in settings.items() if value is not None]
    return "# podforge lab: Redfish BMCs of the lab spec's nodes (sushy-tools fake driver)\n" + "\n".join(lines) + "\n"


def argv(files: RedfishFiles, host: str, port: int) -> list[str]:
    return [sys.executable, "-m", "components.lab.redfish", str(files.config), host, str(port), str(files.tls.cert),
            str(files.tls.key)]


def recipe(config: str, files: RedfishFiles, ca: CertFiles, host: str, port: int) -> dict[str, str]:
    return {"listen": f"{host}:{port}", "config": hashlib.sha256(config.encode()).hexdigest(),
            "cert": fingerprint(files.tls.cert), "ca": fingerprint(ca.cert)}


def answers(host: str, port: int, ca: Path) -> bool:
    """The service root answers over TLS checked against the lab CA."""
    context = ssl.create_default_context(cafile=str(ca))
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=context))
    try:
        with opener.open(f"https://{host}:{port}/redfish/v1/", timeout=1) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError, ssl.SSLError):
        return False


def serve(config: Path, host: str, port: int, cert: Path, key: Path) -> int:
    """sushy-emulator's own app with a TLS 1.3 floor (its command line would pin TLS 1.2)."""
    from sushy_tools.emulator import main as emulator

    emulator.app.configure(config_file=str(config))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    context.load_cert_chain(str(cert), str(key))
    emulator.app.run(host=host, port=port, ssl_context=context)
    return 0


def main(args: list[str]) -> int:
    if len(args) != 5:
        print("usage: python -m components.lab.redfish CONFIG HOST PORT CERT KEY", file=sys.stderr)
        return 2
    return serve(Path(args[0]), args[1], int(args[2]), Path(args[3]), Path(args[4]))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
