"""Each kind of bad spec input gives its exact line: FILE:LINE: field.path: value — expected …, exit 2.

Every case takes an example spec, plants one mistake as a text edit in a copy, runs `podforge validate`
and looks for the one line that names the mistake (other lines may follow from it).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from components.cli import main
from components.spec.cluster import ClusterSpec
from tests.unit.plan_roots import CHECKOUT

LAB = CHECKOUT / "specs" / "lab.yaml"
SUPERPOD = CHECKOUT / "specs" / "superpod.yaml"

SITE_SKU = """catalogue:
  half-pod:
    vendor: example
    model: four-GPU HDR server
    gpu: {model: NVIDIA A100-SXM4-80GB, count: 4, memory_gib: 80, nvlink: true}
    nvswitch_count: 0
    cpu: x86_64
    numa_nodes: 2
    compute_hcas:
      - {device: mlx5_0, model: ConnectX-6, rate_gbps: 200, rail: 0, gpu: 0, numa_node: 0}
      - {device: mlx5_1, model: ConnectX-6, rate_gbps: 200, rail: 1, gpu: 2, numa_node: 1}
    acceptance: {allreduce_busbw_floor_gbs: 100}
    sources: [vendor datasheet]

nodes:
"""


@dataclass(frozen=True)
class Mistake:
    """One planted mistake: replace `old` (found exactly once) by `new`; expect one line at `at`."""

    name: str
    old: str
    new: str
    at: str  # text of the line the problem must point at (its first occurrence after the edit)
    field: str
    value: str
    expected: str  # a stable part of the expectation
    spec: Path = LAB


MISTAKES = [
    Mistake("unknown key (typo)", "    serial: LAB0000000002", "    serail: LAB0000000002", "    serail: LAB0000000002",
            "nodes.1.serail", "'serail'", "a key allowed here (did you mean 'serial'?)"),
    Mistake("unknown key in a section", "  wave_size: 2", "  wave_sise: 2", "  wave_sise: 2",
            "rollout.wave_sise", "'wave_sise'", "(did you mean 'wave_size'?)"),
    Mistake("wrong type", "ports: 40,", "ports: forty,", "lab-leaf-01, tier: leaf",
            "fabrics.0.switches.0.ports", "'forty'", "a whole number (Number of ports"),
    Mistake("value not among the choices", "routing_engine: ftree", "routing_engine: fattree", "routing_engine: fattree",
            "fabrics.0.routing_engine", "'fattree'", "one of 'ftree', 'updn', 'minhop', 'dor' or 'ar_updn'"),
    Mistake("not an address", "management_address: 10.199.77.14", "management_address: 10.199.77.300",
            "management_address: 10.199.77.300", "nodes.3.management_address", "'10.199.77.300'", "an IPv4 address"),
    Mistake("wrong type of a section", "rollout:\n  wave_size: 2\n  max_unavailable: 2\n  health_gate: true\n",
            "rollout: [2, 2]\n", "rollout: [2, 2]", "rollout", "[2, 2]", "a mapping"),
    Mistake("duplicate hostname", "hostname: lab-dgx-04", "hostname: lab-dgx-03",
            "lab-dgx-03\n    sku: dgx-a100-80g\n    serial: LAB0000000004",
            "nodes.3.hostname", "'lab-dgx-03'", "a unique hostname (already used at nodes.2.hostname on line 34)"),
    Mistake("duplicate address", "management_address: 10.199.77.14", "management_address: 10.199.77.13",
            "10.199.77.13\n    bmc: redfish://10.199.77.1:8000/redfish/v1/Systems/lab-dgx-04",
            "nodes.3.management_address", "'10.199.77.13'",
            "a unique address (already used at nodes.2.management_address on line 38)"),
    Mistake("duplicate serial", "serial: LAB0000000004", "serial: LAB0000000003",
            "LAB0000000003\n    roles: [gpu_node, kube_node]\n    management_address: 10.199.77.14",
            "nodes.3.serial", "'LAB0000000003'", "a unique serial (already used at nodes.2.serial on line 36)"),
    Mistake("address outside its subnet", "management_address: 10.199.77.14", "management_address: 10.199.78.14",
            "    management_address: 10.199.78.14", "nodes.3.management_address", "'10.199.78.14'",
            "an address inside the management network 10.199.77.0/24"),
    Mistake("cable to a port that does not exist", "switch: lab-leaf-01, port: 32}", "switch: lab-leaf-01, port: 41}",
            "port: 41}", "fabrics.0.node_links.31.port", "41", "a port of lab-leaf-01 (1..40)"),
    Mistake("cable to a port already taken", "switch: lab-leaf-01, port: 32}", "switch: lab-leaf-01, port: 31}",
            "hca: mlx5_9, switch: lab-leaf-01, port: 31}", "fabrics.0.node_links.31.port", "31",
            "a free port (lab-leaf-01 port 31 is already cabled to lab-dgx-04/mlx5_8 at fabrics.0.node_links.30.port "
            "on line 90)"),
    Mistake("a rail without a leaf", "rails: [0, 1, 2, 3, 4, 5, 6, 7]", "rails: [0, 1, 2, 3, 4, 5, 6]",
            "    switches:", "fabrics.0.switches", "'rail 7'", "a leaf switch with rail 7 in its rails"),
    Mistake("a compute HCA left uncabled", "      - {node: lab-dgx-02, hca: mlx5_3, switch: lab-leaf-01, port: 12}\n", "",
            "  - hostname: lab-dgx-02", "nodes.1.hostname", "'lab-dgx-02'",
            "compute HCA mlx5_3 (rail 3) cabled in fabrics.0.node_links"),
    Mistake("unknown SKU", "hostname: lab-dgx-02\n    sku: dgx-a100-80g", "hostname: lab-dgx-02\n    sku: dgx-a100-160g",
            "    sku: dgx-a100-160g", "nodes.1.sku", "'dgx-a100-160g'", "a catalogue SKU (dgx-a100-40g, dgx-a100-80g"),
    Mistake("counts contradicting the SKU", "nodes:\n", SITE_SKU, "    compute_hcas:",
            "catalogue.half-pod.compute_hcas", "2", "one compute HCA per GPU (4) in a rail-optimized SKU"),
    Mistake("SKU index out of its counts", "nodes:\n", SITE_SKU.replace("gpu: 2, numa_node: 1", "gpu: 5, numa_node: 1"),
            "gpu: 5, numa_node: 1", "catalogue.half-pod.compute_hcas.1.gpu", "5", "a GPU index of this SKU (0..3)"),
    Mistake("a built-in SKU redefined", "nodes:\n", SITE_SKU.replace("half-pod:", "dgx-a100-80g:"), "  dgx-a100-80g:",
            "catalogue.dgx-a100-80g", "'dgx-a100-80g'", "a new SKU name (this one is built in"),
    Mistake("fabric rate contradicting the SKU's HCAs", "  rate_gbps: 200", "  rate_gbps: 400", "    rate_gbps: 400",
            "fabrics.0.rate_gbps", "400", "the rate of the HCAs cabled into it (200 Gb/s: dgx-a100-80g mlx5_0)"),
    Mistake("driver and fabric manager versions differ", "fabric_manager: {version: 535.183.06",
            "fabric_manager: {version: 535.161.08", "  fabric_manager:", "software.fabric_manager.version",
            "'535.161.08'", "the driver's version 535.183.06"),
    Mistake("dcgm-exporter pinned beside DCGM 3", 'dcgm: {version: "1:4.4.1-1"', 'dcgm: {version: "1:3.3.7"',
            '  dcgm: {version: "1:3.3.7"', "software.dcgm.version", "'1:3.3.7'",
            "DCGM 4 or later when software.dcgm_exporter is pinned"),
    Mistake("dcgm-exporter from an undeclared source", "dcgm_exporter: {version: 4.6.0-1, source: lab-mirror}",
            "dcgm_exporter: {version: 4.6.0-1, source: nvidia}", "  dcgm_exporter:", "software.dcgm_exporter.source",
            "'nvidia'", "a source declared in software.sources (lab-mirror)"),
    Mistake("PKey declared twice", "pkey: 0x0101", "pkey: 0x7fff", "{name: compute, pkey: 0x7fff",
            "fabrics.0.partitions.1.pkey", "'0x7fff'", "a unique PKey (already used at fabrics.0.partitions.0.pkey on line 95)"),
    Mistake("PKey out of range", "pkey: 0x0101", "pkey: 0x8101", "pkey: 0x8101",
            "fabrics.0.partitions.1.pkey", "'0x8101'", "a PKey in 0x0001..0x7fff"),
    Mistake("export nobody consumes",
            "    - {export: lab-flash/datasets, role: gpu_node, mount_point: /mnt/datasets, options: [vers=4.1]}\n", "",
            "        - {name: datasets,", "storage.arrays.0.exports.1.name", "'datasets'", "an export some node mounts"),
    Mistake("consumer of a missing export", "export: lab-flash/datasets,", "export: lab-flash/dataset,",
            "export: lab-flash/dataset,", "storage.mounts.1.export", "'lab-flash/dataset'",
            "an export declared on an array (lab-flash/datasets, lab-flash/models)"),
    Mistake("a role permission with a * action", '{action: "metrics:view"}', '{action: "metrics:*"}', "metrics:*",
            "access.roles.data_analyst.permissions.1.action", "'metrics:*'", "never '*'"),
    Mistake("a role permission that is only *", '{action: "audit:read"}', '{action: "*"}', '{action: "*"}',
            "access.roles.audit_admin.permissions.0.action", "'*'", "never '*'"),
    Mistake("a permission that is not AREA:VERB", '{action: "audit:read"}', '{action: "audit:read:all"}',
            '{action: "audit:read:all"}', "access.roles.audit_admin.permissions.0.action", "'audit:read:all'",
            "an action AREA:VERB on an API endpoint"),
    Mistake("administrator without a second factor", "auth_methods: [ssh_key, totp]", "auth_methods: [password]",
            "auth_methods: [password]", "access.administrators.0.auth_methods", "['password']",
            "two authentication factors, one of them totp"),
    # Versions that pin nothing.
    Mistake("a version that is a tag", "nccl: {version: 2.21.5-1+cuda12.4", "nccl: {version: latest", "nccl: {version: latest",
            "software.nccl.version", "'latest'", "a pinned version, as APT prints it: digits first"),
    Mistake("a version with a leading v", "doca_ofed: {version: 2.7.0", "doca_ofed: {version: v2.7.0", "{version: v2.7.0",
            "software.doca_ofed.version", "'v2.7.0'", "not a tag such as latest or v1.2, a range or a wildcard"),
    Mistake("a version range", "container_toolkit: {version: 1.16.2-1", 'container_toolkit: {version: ">=1.16"',
            '{version: ">=1.16"', "software.container_toolkit.version", "'>=1.16'", "a pinned version"),
    Mistake("a version wildcard", "dcgm_exporter: {version: 4.6.0-1", "dcgm_exporter: {version: 4.6.x",
            "{version: 4.6.x", "software.dcgm_exporter.version", "'4.6.x'", "a pinned version"),
    # Time zones not in the tz database.
    Mistake("a misspelt time zone", "timezone: Asia/Shanghai", "timezone: Asia/Shangai", "timezone: Asia/Shangai",
            "site.timezone", "'Asia/Shangai'", "a time zone of the IANA tz database, e.g. Asia/Shanghai or UTC "
            "(did you mean 'Asia/Shanghai'?)"),
    Mistake("a time zone in the wrong case", "timezone: Asia/Shanghai", "timezone: asia/shanghai",
            "timezone: asia/shanghai", "site.timezone", "'asia/shanghai'", "(did you mean 'Asia/Shanghai'?)"),
    Mistake("a UTC offset for a time zone", "timezone: Asia/Shanghai", "timezone: UTC+8", "timezone: UTC+8",
            "site.timezone", "'UTC+8'", "a time zone of the IANA tz database"),
    # http:// where TLS is required.
    Mistake("Vault over http", "    address: https://10.199.77.1:8200", "    address: http://10.199.77.1:8200",
            "    address: http://10.199.77.1:8200", "keys.vault.address", "'http://10.199.77.1:8200'",
            "an https:// URL (TLS is required here) (Vault API address, https://HOST:8200 (TLS only))"),
    Mistake("an array's management API over http", "management: https://10.199.77.1:8443",
            "management: http://10.199.77.1:8443", "management: http://10.199.77.1:8443",
            "storage.arrays.0.management", "'http://10.199.77.1:8443'", "an https:// URL (TLS is required here)"),
    Mistake("a vendor repository over http", "url: https://developer.download.nvidia.com/compute/cuda/repos/ubuntu2204",
            "url: http://developer.download.nvidia.com/compute/cuda/repos/ubuntu2204",
            "url: http://developer.download.nvidia.com/compute/cuda/repos/ubuntu2204", "software.sources.0.url",
            "'http://developer.download.nvidia.com/compute/cuda/repos/ubuntu2204/x86_64'",
            "an https:// URL for a vendor repository", SUPERPOD),
    # known_hosts outside the project.
    Mistake("an absolute known_hosts path", "known_hosts: specs/known_hosts/su1}\n    rack: B07-U02",
            "known_hosts: /etc/ssh/ssh_known_hosts}\n    rack: B07-U02", "known_hosts: /etc/ssh/ssh_known_hosts}",
            "nodes.0.ssh.known_hosts", "'/etc/ssh/ssh_known_hosts'",
            "a file inside the project: a path relative to it that does not leave it", SUPERPOD),
    Mistake("a known_hosts path leaving the project", "known_hosts: specs/known_hosts/su1}\n    rack: B07-U02",
            "known_hosts: specs/../../keys/known_hosts}\n    rack: B07-U02", "known_hosts: specs/../../keys/known_hosts}",
            "nodes.0.ssh.known_hosts", "'specs/../../keys/known_hosts'", "a file inside the project", SUPERPOD),
    Mistake("a known_hosts path in the home directory", "known_hosts: specs/known_hosts/su1}\n    rack: B07-U02",
            "known_hosts: ~/.ssh/known_hosts}\n    rack: B07-U02", "known_hosts: ~/.ssh/known_hosts}",
            "nodes.0.ssh.known_hosts", "'~/.ssh/known_hosts'", "a file inside the project", SUPERPOD),
    # Service ports other than the protocol's, without a reason.
    Mistake("sshd on another port", "known_hosts: specs/known_hosts/su1}\n    rack: B07-U02",
            "known_hosts: specs/known_hosts/su1, port: 2222}\n    rack: B07-U02", "port: 2222}",
            "nodes.0.ssh.port", "2222", "port 22, SSH's (RFC 4253 section 4.1), or ssh.port_exception saying why", SUPERPOD),
    Mistake("Vault on another port", "    address: https://vault.su1.bank.internal:8200",
            "    address: https://vault.su1.bank.internal:8201", "    address: https://vault.su1.bank.internal:8201",
            "keys.vault.address", "'https://vault.su1.bank.internal:8201'",
            "port 8200, the Vault API's (Vault's tcp listener default, 127.0.0.1:8200), or keys.vault.port_exception",
            SUPERPOD),
    Mistake("Vault without a port (443)", "    address: https://vault.su1.bank.internal:8200",
            "    address: https://vault.su1.bank.internal", "    address: https://vault.su1.bank.internal",
            "keys.vault.address", "'https://vault.su1.bank.internal'", "port 8200, the Vault API's", SUPERPOD),
    Mistake("KMIP on another port", 'listen_addrs: ["10.10.4.10:5696"]', 'listen_addrs: ["10.10.4.10:15696"]',
            'listen_addrs: ["10.10.4.10:15696"]', "keys.vault.kmip.listen_addrs.0", "'10.10.4.10:15696'",
            "port 5696, KMIP's (IANA service name kmip, 5696/tcp), or keys.vault.kmip.port_exception", SUPERPOD),
    Mistake("NFS over RDMA on NFS's TCP port", "options: [ro, vers=4.1, proto=rdma, port=20049, nconnect=16]",
            "options: [ro, vers=4.1, proto=rdma, port=2049, nconnect=16]", "options: [ro, vers=4.1, proto=rdma, port=2049",
            "storage.mounts.0.options.3", "'port=2049'", "port 20049, NFS over RDMA's (RFC 8267 section 6.3), or the "
            "mount's port_exception", SUPERPOD),
    Mistake("NFS over TCP on the RDMA port", "mount_point: /mnt/models, options: [ro, vers=4.1]}",
            "mount_point: /mnt/models, options: [ro, vers=4.1, port=20049]}", "options: [ro, vers=4.1, port=20049]}",
            "storage.mounts.0.options.2", "'port=20049'", "port 2049, NFS over TCP's (IANA service name nfs, 2049/tcp)"),
    # Combinations a later command cannot build.
    Mistake("an array held to TLS 1.2 against a TLS-1.3-only KMIP listener",
            '        tls_min_version: "1.3"\n      exports:',
            '        tls_min_version: "1.2"\n        tls_exception: its ONTAP release predates TLS 1.3 for KMIP\n'
            '      exports:', "      tls_min_version: tls13", "keys.vault.kmip.tls_min_version", "'tls13'",
            "one TLS version both ends of KMIP accept: storage.arrays.0's client needs TLS 1.2 and the listener accepts "
            "only TLS 1.3 (storage.arrays.0.encryption.tls_min_version on line 645)", SUPERPOD),
    Mistake("the Vault API below TLS 1.3", '    address: https://10.199.77.1:8200\n    tls_min_version: "1.3"',
            '    address: https://10.199.77.1:8200\n    tls_min_version: "1.2"', '    tls_min_version: "1.2"\n    kmip:',
            "keys.vault.tls_min_version", "'1.2'", "1.3: the Vault API is podforge's own endpoint"),
    Mistake("a partition of the other fabric's HCAs", "members: compute, membership: full}",
            "members: storage, membership: full}", "members: storage, membership: full}",
            "fabrics.0.partitions.1.members", "'storage'", "ALL or compute: fabric lab-ib carries only compute HCAs"),
    Mistake("external KMIP on an array podforge has no KMIP driver for", "      vendor: netapp", "      vendor: dell",
            "        external_kmip: true", "storage.arrays.0.encryption.external_kmip", "True",
            "false for a dell array: podforge configures external KMIP on netapp and pure arrays only"),
    Mistake("more KMIP servers than ONTAP takes", "      server_ips: [10.199.77.1]",
            "      server_ips: [10.199.77.1, 10.199.77.2, 10.199.77.3, 10.199.77.4, 10.199.77.5]", "      server_ips: [",
            "keys.vault.kmip.server_ips", "['10.199.77.1', '10.199.77.2', '10.199.77.3', '10.199.77.4', '10.199.77.5']",
            "at most 4 names: a netapp array takes up to 4 KMIP servers"),
    Mistake("no name to reach the KMIP listener by", "      server_ips: [10.199.77.1]\n", "", "    kmip:",
            "keys.vault.kmip.server_hostnames", "[]", "the names the arrays reach the KMIP listener by"),
    Mistake("a subnet manager on a RoCE fabric", "    transport: infiniband", "    transport: roce\n    roce_gid_index: 3",
            "    subnet_managers:", "fabrics.0.subnet_managers", "['lab-dgx-01']",
            "no subnet manager on a RoCE fabric (OpenSM manages InfiniBand fabrics"),
    Mistake("an Ethernet MTU on InfiniBand", "    mtu: 4096", "    mtu: 9000", "    mtu: 9000", "fabrics.0.mtu", "9000",
            "an InfiniBand MTU: 256, 512, 1024, 2048 or 4096"),
    Mistake("the serving engine on dcgm-exporter's port", "  port: 8000", "  port: 9400", "  port: 9400",
            "serving.port", "9400", "a port free on the serving nodes: dcgm-exporter listens on 9400 on every gpu_node",
            SUPERPOD),
    Mistake("uplink to a spine port already taken", "leaf: su1-leaf-r7, leaf_port: 40, spine: su1-spine-10, spine_port: 16}",
            "leaf: su1-leaf-r7, leaf_port: 40, spine: su1-spine-10, spine_port: 15}",
            "leaf_port: 40, spine: su1-spine-10, spine_port: 15}",
            "fabrics.0.switch_links.159.spine_port", "15",
            "a free port (su1-spine-10 port 15 is already cabled to su1-leaf-r7 at fabrics.0.switch_links.158.spine_port on line",
            SUPERPOD),
]


def plant(mistake: Mistake, tmp_path: Path) -> tuple[Path, int]:
    """The spec copy with the mistake, and the line number the problem must name."""
    text = mistake.spec.read_text(encoding="utf-8")
    assert text.count(mistake.old) == 1, f"{mistake.name}: the example changed; {mistake.old!r} is not there once"
    edited = text.replace(mistake.old, mistake.new)
    assert mistake.at in edited, f"{mistake.name}: {mistake.at!r} not in the edited spec"
    line = edited[:edited.index(mistake.at)].count("\n") + 1
    path = tmp_path / mistake.spec.name
    path.write_text(edited, encoding="utf-8")
    return path, line


def validate(path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str]]:
    code = main(["validate", "--spec", str(path)])
    captured = capsys.readouterr()
    return code, captured.err.splitlines()


@pytest.mark.parametrize("mistake", MISTAKES, ids=[m.name for m in MISTAKES])
def test_each_mistake_names_its_file_line_and_path(mistake: Mistake, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    path, line = plant(mistake, tmp_path)
    code, lines = validate(path, capsys)
    assert code == 2
    head = f"{path}:{line}: {mistake.field}: {mistake.value} — expected "
    matching = [text for text in lines if text.startswith(head)]
    assert matching, f"no line starting {head!r} in:\n" + "\n".join(lines)
    assert any(mistake.expected in text for text in matching), "\n".join(matching)


def test_the_examples_themselves_are_clean(capsys: pytest.CaptureFixture[str]) -> None:
    for spec in (LAB, SUPERPOD):
        assert validate(spec, capsys) == (0, [])


def test_a_missing_key_points_at_the_mapping_that_lacks_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path, line = plant(Mistake("missing", "  location: podforge lab hall (containers on this machine's lab bridge)\n", "",
                               "site:\n  name: lab", "", "", ""), tmp_path)
    code, lines = validate(path, capsys)
    assert code == 2
    assert lines == [f"{path}:{line}: site.location: (missing) — expected a value: this field is required "
                     "(Where the hall is, for people (city, building, hall))"]


def test_a_key_declared_twice_is_reported_with_the_rest(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = LAB.read_text(encoding="utf-8").replace("  wave_size: 2\n", "  wave_size: 2\n  wave_size: 1\n")
    text = text.replace("pkey: 0x0101", "pkey: 0x9101")
    path = tmp_path / "lab.yaml"
    path.write_text(text, encoding="utf-8")
    code, lines = validate(path, capsys)
    assert code == 2
    second = text.splitlines().index("  wave_size: 1") + 1
    assert f"{path}:{second}: rollout.wave_size: 'wave_size' — expected each key once per mapping " \
           f"(already declared on line {second - 1})" in lines
    assert any(": fabrics.0.partitions.1.pkey: '0x9101' — expected a PKey in 0x0001..0x7fff" in text for text in lines)


def test_several_problems_are_all_reported_at_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A schema error in one section does not hide cross-reference problems in the others."""
    text = LAB.read_text(encoding="utf-8")
    for old, new in [("    serial: LAB0000000002", "    serail: LAB0000000002"),   # nodes: unknown key
                     ("pkey: 0x0101", "pkey: 0x7fff"),                           # fabrics: PKey twice
                     ("fabric_manager: {version: 535.183.06", "fabric_manager: {version: 535.161.08"),
                     ('{action: "metrics:view"}', '{action: "metrics:*"}'),      # access: * action
                     ("auth_methods: [ssh_key, totp]", "auth_methods: [password]"),
                     ("  wave_size: 2", "  wave_size: 3")]:                     # rollout: wave > max_unavailable
        assert text.count(old) == 1
        text = text.replace(old, new)
    path = tmp_path / "lab.yaml"
    path.write_text(text, encoding="utf-8")
    code, lines = validate(path, capsys)
    assert code == 2
    fields = [line.split(": ")[1] for line in lines]
    for field in ("nodes.1.serail", "fabrics.0.partitions.1.pkey", "software.fabric_manager.version",
                  "access.roles.data_analyst.permissions.1.action", "access.administrators.0.auth_methods",
                  "rollout.wave_size"):
        assert field in fields, f"{field} missing from:\n" + "\n".join(lines)
    numbers = [int(line.split(":")[1]) for line in lines]
    assert numbers == sorted(numbers), "problems are listed in file order"


def test_a_file_that_is_not_yaml_gives_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "notes.yaml"
    path.write_text("site: {name: lab\nnodes: [\n", encoding="utf-8")
    code, lines = validate(path, capsys)
    assert code == 2
    assert len(lines) == 1 and lines[0].startswith(f"{path}:") and "expected valid YAML" in lines[0]


def test_a_binary_file_gives_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "image.yaml"
    path.write_bytes(b"site: \xff\xfe\x00")
    code, lines = validate(path, capsys)
    assert code == 2
    assert lines == [f"{path}: (document): 'byte 6' — expected a UTF-8 text file (YAML)"]


def test_a_document_that_is_not_a_mapping_gives_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "list.yaml"
    path.write_text("- just\n- a list\n", encoding="utf-8")
    code, lines = validate(path, capsys)
    assert code == 2
    assert lines == [f"{path}:1: (document): 'list' — expected a mapping of spec sections"]


def test_a_missing_file_gives_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "absent.yaml"
    code, lines = validate(path, capsys)
    assert code == 2
    assert lines == [f"{path}: (document): '{path}' — expected a readable file (No such file or directory)"]


def test_yaml_1_1_surprises_stay_strings(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`serial: 0123` is the serial 0123, not the octal number 83 that YAML 1.1 would make of it."""
    text = LAB.read_text(encoding="utf-8").replace("serial: LAB0000000004", "serial: 0123")
    path = tmp_path / "lab.yaml"
    path.write_text(text, encoding="utf-8")
    assert validate(path, capsys) == (0, [])


def test_the_installed_command_exits_2_without_a_traceback(tmp_path: Path) -> None:
    """The console script, as a user runs it: every problem on stderr, exit 2, no traceback."""
    podforge = Path(sys.executable).with_name("podforge")
    installed = str(podforge) if podforge.exists() else shutil.which("podforge")
    command = [installed] if installed else [sys.executable, "-m", "components.cli"]
    path, line = plant(MISTAKES[0], tmp_path)
    result = subprocess.run([*command, "validate", "--spec", str(path)], capture_output=True, text=True,
                            cwd=CHECKOUT, timeout=120, check=False)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    assert f"{path}:{line}: nodes.1.serail: 'serail' — expected a key allowed here" in result.stderr
    missing = subprocess.run([*command, "validate", "--spec", str(tmp_path / "absent.yaml")], capture_output=True,
                             text=True, cwd=CHECKOUT, timeout=120, check=False)
    assert missing.returncode == 2
    assert len(missing.stderr.splitlines()) == 1 and "Traceback" not in missing.stderr


@pytest.mark.parametrize("section", list(ClusterSpec.model_fields))
def test_a_section_of_the_wrong_type_is_one_line_and_the_rest_is_still_checked(
        section: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Whatever section is broken, the cross-reference rules that do not read it still run, without a crash."""
    data = yaml.safe_load(SUPERPOD.read_text(encoding="utf-8"))
    data[section] = 5
    data["software"] = data["software"] if section == "software" else {**data["software"], "fabric_manager": {
        **data["software"]["fabric_manager"], "version": "535.161.08"}}
    path = tmp_path / "superpod.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    code, lines = validate(path, capsys)
    assert code == 2
    fields = [line.split(": ")[1] for line in lines]
    assert section in fields
    if section != "software":
        assert "software.fabric_manager.version" in fields
