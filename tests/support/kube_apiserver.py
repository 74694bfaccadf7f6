"""A real Kubernetes API server for the tests: etcd and kube-apiserver on 127.0.0.1, the CRDs loaded.

tools/build-kube.sh builds both from their Go modules (tools/kube-apiserver, tools/etcd) and links them into the
venv's bin directory; the CRDs come from each project's own published Go module in the Go module cache
(tools/crds/go.mod), read from the directory `go list -m -json MODULE` names, the way envtest users load them.
Everything is generated at start: the CA, the serving certificate, the client certificate the tests use (group
`system:masters`, so RBAC lets it do anything) and the service-account signing key. docs/kubernetes-tests.md.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import os
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

ROOT = Path(__file__).resolve().parents[2]
CRD_MODULE = ROOT / "tools" / "crds"
APPLY = "application/apply-patch+yaml"
FIELD_MANAGER = "podforge"

# The CRD files, per Go module (tools/crds/go.mod pins the versions), of the kinds the inference stack declares.
# Paths inside each module: LeaderWorkerSet and KEDA generate theirs with controller-gen into config/crd/bases,
# prometheus-operator publishes its into example/prometheus-operator-crd, cert-manager into deploy/crds (each
# module as the Go module proxy serves it).
CRD_FILES: dict[str, tuple[str, ...]] = {
    "sigs.k8s.io/lws": ("config/crd/bases/leaderworkerset.x-k8s.io_leaderworkersets.yaml",),
    "github.com/kedacore/keda/v2": ("config/crd/bases/keda.sh_scaledobjects.yaml",
                                    "config/crd/bases/keda.sh_triggerauthentications.yaml"),
    "github.com/prometheus-operator/prometheus-operator": (
        "example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml",
        "example/prometheus-operator-crd/monitoring.coreos.com_prometheusrules.yaml"),
    "github.com/cert-manager/cert-manager": ("deploy/crds/cert-manager.io_certificates.yaml",
                                             "deploy/crds/cert-manager.io_issuers.yaml",
                                             "deploy/crds/cert-manager.io_clusterissuers.yaml",
                                             "deploy/crds/cert-manager.io_certificaterequests.yaml"),
}


class KubeUnavailable(Exception):
    """The binaries are not there (the build was skipped): the tests that need them skip with this reason."""


class KubeError(Exception):
    """The API server or etcd did not come up, or a CRD did not load: a failure, with the logs' tails."""


def binaries() -> tuple[Path, Path]:
    """kube-apiserver and etcd where tools/build-kube.sh links them: the venv's bin directory."""
    bin_dir = Path(sys.executable).parent
    found = tuple(bin_dir / name for name in ("kube-apiserver", "etcd"))
    missing = [p.name for p in found if not os.access(p, os.X_OK)]
    if missing:
        shown = bin_dir.relative_to(ROOT) if bin_dir.is_relative_to(ROOT) else bin_dir.name
        raise KubeUnavailable(f"no {' and no '.join(missing)} in {shown}/: the API server build was skipped "
                              "(`make setup` with KUBE=build builds them, tools/build-kube.sh)")
    return found[0], found[1]


def module_dirs() -> dict[str, dict[str, str]]:
    """`go list -m -json` of each CRD module, in tools/crds, offline (the modules must be in the cache)."""
    env = {**os.environ, "GOPROXY": "off"}
    try:
        out = subprocess.run(["go", "list", "-m", "-json", *CRD_FILES], cwd=CRD_MODULE, env=env, check=True,
                             capture_output=True, text=True, timeout=120).stdout
    except FileNotFoundError:
        raise KubeError("go not found: the CRD modules are read through `go list -m -json` (tools/crds)") from None
    except subprocess.CalledProcessError as exc:
        raise KubeError(f"go list -m -json in tools/crds failed: {exc.stderr.strip()} "
                        "(tools/build-kube.sh downloads the CRD modules)") from None
    mods: dict[str, dict[str, str]] = {}
    decoder = json.JSONDecoder()
    text = out.strip()
    while text:
        mod, end = decoder.raw_decode(text)
        mods[mod["Path"]] = mod
        text = text[end:].strip()
    absent = [path for path in CRD_FILES if not mods.get(path, {}).get("Dir")]
    if absent:
        raise KubeError(f"not in the Go module cache: {', '.join(absent)} (tools/build-kube.sh downloads them)")
    return mods


def crd_documents() -> list[tuple[str, dict[str, Any]]]:
    """(module@version/file, CRD) for every file of CRD_FILES, read from the module cache."""
    docs = []
    for path, mod in module_dirs().items():
        for rel in CRD_FILES[path]:
            for doc in yaml.safe_load_all((Path(mod["Dir"]) / rel).read_text()):
                if doc and doc.get("kind") == "CustomResourceDefinition":
                    docs.append((f"{path}@{mod['Version']}/{rel}", doc))
    return docs


# -- certificates, generated at start ---------------------------------------------------------------------------

def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    path.chmod(0o600)


def _cert(subject: x509.Name, key, issuer: x509.Name, signer, *, ca: bool = False,
          sans: list[x509.GeneralName] | None = None, client: bool = False) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(key.public_key())
               .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
               .not_valid_after(now + datetime.timedelta(days=1))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if ca:
        builder = builder.add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                                      content_commitment=False, key_encipherment=False,
                                                      data_encipherment=False, key_agreement=False,
                                                      encipher_only=False, decipher_only=False), critical=True)
    else:
        usage = x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH if client else x509.oid.ExtendedKeyUsageOID.SERVER_AUTH
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return builder.sign(signer, hashes.SHA256())


@dataclass(frozen=True)
class Pki:
    ca: Path
    serving_cert: Path
    serving_key: Path
    client_cert: Path
    client_key: Path
    sa_key: Path
    sa_pub: Path


def make_pki(directory: Path) -> Pki:
    """A CA, the API server's serving certificate for 127.0.0.1, an admin client certificate and the
    service-account signing key pair, written into `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    ca_key, ca_name = _key(), x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "podforge-test-ca")])
    ca = _cert(ca_name, ca_key, ca_name, ca_key, ca=True)
    serving_key = _key()
    serving = _cert(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-apiserver")]), serving_key, ca_name,
                    ca_key, sans=[x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")])
    client_key = _key()
    client = _cert(x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "system:masters"),
                              x509.NameAttribute(NameOID.COMMON_NAME, "podforge-test-admin")]),
                   client_key, ca_name, ca_key, client=True)
    sa_key = _key()
    pki = Pki(*(directory / n for n in ("ca.crt", "serving.crt", "serving.key", "client.crt", "client.key",
                                        "sa.key", "sa.pub")))
    for path, cert in ((pki.ca, ca), (pki.serving_cert, serving), (pki.client_cert, client)):
        path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    _write_key(pki.serving_key, serving_key)
    _write_key(pki.client_key, client_key)
    _write_key(pki.sa_key, sa_key)
    pki.sa_pub.write_bytes(sa_key.public_key().public_bytes(serialization.Encoding.PEM,
                                                            serialization.PublicFormat.SubjectPublicKeyInfo))
    return pki


# -- the servers ------------------------------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


@dataclass
class KubeApiServer:
    """A started etcd + kube-apiserver pair; `client` talks to the API server as an admin."""

    url: str
    pki: Pki
    workdir: Path
    processes: list[subprocess.Popen] = field(default_factory=list)
    client: httpx.Client = field(init=False)
    _resources: dict[str, dict[str, tuple[str, bool]]] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        ctx = ssl.create_default_context(cafile=str(self.pki.ca))
        ctx.load_cert_chain(str(self.pki.client_cert), str(self.pki.client_key))
        self.client = httpx.Client(base_url=self.url, verify=ctx, timeout=60)

    # discovery: apiVersion + kind -> (resource, namespaced)
    def resource(self, api_version: str, kind: str, *, refresh: bool = False) -> tuple[str, bool]:
        if refresh or api_version not in self._resources:
            base = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
            reply = self.client.get(base)
            if reply.status_code == 404:
                raise LookupError(f"the API server serves no {api_version}")
            reply.raise_for_status()
            self._resources[api_version] = {r["kind"]: (r["name"], r["namespaced"])
                                            for r in reply.json()["resources"] if "/" not in r["name"]}
        try:
            return self._resources[api_version][kind]
        except KeyError:
            raise LookupError(f"the API server serves no {kind} in {api_version}") from None

    def path_of(self, obj: dict[str, Any]) -> str:
        api_version, kind, meta = obj["apiVersion"], obj["kind"], obj["metadata"]
        plural, namespaced = self.resource(api_version, kind)
        base = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
        ns = f"/namespaces/{meta['namespace']}" if namespaced else ""
        return f"{base}{ns}/{plural}/{meta['name']}"

    def apply(self, obj: dict[str, Any], *, dry_run: bool = False) -> httpx.Response:
        """Server-side apply of `obj` as field manager podforge (PATCH, application/apply-patch+yaml)."""
        params = {"fieldManager": FIELD_MANAGER, "force": "true"}
        if dry_run:
            params["dryRun"] = "All"
        return self.client.patch(self.path_of(obj), params=params, content=json.dumps(obj),
                                 headers={"Content-Type": APPLY})

    def create(self, obj: dict[str, Any]) -> httpx.Response:
        """A plain create (POST to the collection), as field manager podforge."""
        return self.client.post(self.path_of(obj).rsplit("/", 1)[0], params={"fieldManager": FIELD_MANAGER},
                                json=obj)

    def get(self, obj: dict[str, Any]) -> httpx.Response:
        return self.client.get(self.path_of(obj))

    def load_crds(self, crds: list[tuple[str, dict[str, Any]]], timeout: float = 120) -> list[str]:
        """Apply each CRD and wait until every one is Established and its resource is served."""
        for source, crd in crds:
            reply = self.apply(crd)
            if reply.status_code >= 300:
                raise KubeError(f"CRD {crd['metadata']['name']} from {source} refused: {reply.status_code} "
                                f"{reply.text[:500]}")
        deadline = time.monotonic() + timeout
        for _source, crd in crds:
            name = crd["metadata"]["name"]
            while True:
                reply = self.client.get(f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}")
                conditions = {c["type"]: c["status"] for c in reply.json().get("status", {}).get("conditions", [])}
                if conditions.get("Established") == "True":
                    break
                if time.monotonic() > deadline:
                    raise KubeError(f"CRD {name} not Established after {timeout:.0f} s: {conditions}")
                time.sleep(0.5)
            group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
            for version in (v["name"] for v in crd["spec"]["versions"] if v.get("served", True)):
                while True:
                    try:
                        self.resource(f"{group}/{version}", kind, refresh=True)
                        break
                    except LookupError:
                        if time.monotonic() > deadline:
                            raise KubeError(f"{kind} {group}/{version} not served after {timeout:.0f} s") from None
                        time.sleep(0.5)
        return [crd["metadata"]["name"] for _s, crd in crds]

    def stop(self) -> None:
        self.client.close()
        for proc in reversed(self.processes):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


def _wait(what: str, check, proc: subprocess.Popen, log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise KubeError(f"{what} exited with {proc.returncode}; its log ends:\n{_tail(log)}")
        try:
            ok, last = check()
            if ok:
                return
        except (httpx.HTTPError, OSError) as exc:
            last = str(exc)
        time.sleep(0.5)
    raise KubeError(f"{what} not ready after {timeout:.0f} s ({last}); its log ends:\n{_tail(log)}")


@contextmanager
def kube_apiserver(workdir: Path, *, timeout: float = 180) -> Iterator[KubeApiServer]:
    """Start etcd and kube-apiserver in `workdir`, wait for /readyz, yield the server, stop both after."""
    apiserver_bin, etcd_bin = binaries()
    pki = make_pki(workdir / "pki")
    processes: list[subprocess.Popen] = []
    server: KubeApiServer | None = None
    try:
        client_port, peer_port = _free_port(), _free_port()
        etcd_url, peer_url = f"http://127.0.0.1:{client_port}", f"http://127.0.0.1:{peer_port}"
        etcd_log = workdir / "etcd.log"
        etcd = subprocess.Popen(
            [str(etcd_bin), "--name=podforge-test", f"--data-dir={workdir / 'etcd'}",
             f"--listen-client-urls={etcd_url}", f"--advertise-client-urls={etcd_url}",
             f"--listen-peer-urls={peer_url}", f"--initial-advertise-peer-urls={peer_url}",
             f"--initial-cluster=podforge-test={peer_url}", "--unsafe-no-fsync", "--log-level=warn"],
            stdout=etcd_log.open("wb"), stderr=subprocess.STDOUT)
        processes.append(etcd)

        def etcd_healthy() -> tuple[bool, str]:
            reply = httpx.get(f"{etcd_url}/health", timeout=5)
            return reply.status_code == 200 and reply.json().get("health") == "true", reply.text

        _wait("etcd", etcd_healthy, etcd, etcd_log, timeout)

        port = _free_port()
        api_log = workdir / "kube-apiserver.log"
        apiserver = subprocess.Popen(
            [str(apiserver_bin), f"--etcd-servers={etcd_url}", "--bind-address=127.0.0.1",
             "--advertise-address=127.0.0.1", f"--secure-port={port}", f"--cert-dir={workdir / 'certs'}",
             f"--tls-cert-file={pki.serving_cert}", f"--tls-private-key-file={pki.serving_key}",
             f"--client-ca-file={pki.ca}", "--authorization-mode=RBAC",
             "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
             f"--service-account-key-file={pki.sa_pub}", f"--service-account-signing-key-file={pki.sa_key}",
             "--service-cluster-ip-range=10.96.0.0/16", "--endpoint-reconciler-type=none", "--profiling=false",
             "--v=0"],
            stdout=api_log.open("wb"), stderr=subprocess.STDOUT)
        processes.append(apiserver)
        server = KubeApiServer(f"https://127.0.0.1:{port}", pki, workdir, processes)

        def ready() -> tuple[bool, str]:
            reply = server.client.get("/readyz")
            return reply.status_code == 200, reply.text[-300:]

        _wait("kube-apiserver", ready, apiserver, api_log, timeout)
        yield server
    finally:
        if server is not None:
            server.stop()
        else:
            for proc in reversed(processes):
                proc.terminate()
                proc.wait(timeout=30)
