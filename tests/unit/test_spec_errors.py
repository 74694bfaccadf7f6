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
            "nodes.3.hostname", "'lab-dgx-03'", "a unique hostname (already used at nodes.2.hostname)"),
    Mistake("duplicate address", "management_address: 10.199.77.14", "management_address: 10.199.77.13",
            "10.199.77.13\n    bmc: redfish://10.199.77.1:8000/redfish/v1/Systems/lab-dgx-04",
            "nodes.3.management_address", "'10.199.77.13'",
            "a unique address (already used at nodes.2.management_address)"),
    Mistake("duplicate serial", "serial: LAB0000000004", "serial: LAB0000000003",
            "LAB0000000003\n    roles: [gpu_node, kube_node]\n    management_address: 10.199.77.14",
            "nodes.3.serial", "'LAB0000000003'", "a unique serial (already used at nodes.2.serial)"),
    Mistake("address outside its subnet", "management_address: 10.199.77.14", "management_address: 10.199.78.14",
            "    management_address: 10.199.78.14", "nodes.3.management_address", "'10.199.78.14'",
            "an address inside the management network 10.199.77.0/24"),
    Mistake("cable to a port that does not exist", "switch: lab-leaf-01, port: 32}", "switch: lab-leaf-01, port: 41}",
            "port: 41}", "fabrics.0.node_links.31.port", "41", "a port of lab-leaf-01 (1..40)"),
    Mistake("cable to a port already taken", "switch: lab-leaf-01, port: 32}", "switch: lab-leaf-01, port: 31}",
            "hca: mlx5_9, switch: lab-leaf-01, port: 31}", "fabrics.0.node_links.31.port", "31",
            "a free port (lab-leaf-01 port 31 is already cabled to lab-dgx-04/mlx5_8)"),
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
            "fabrics.0.partitions.1.pkey", "'0x7fff'", "a unique PKey (already used at fabrics.0.partitions.0.pkey)"),
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
    Mistake("uplink to a spine port already taken", "leaf: su1-leaf-r7, leaf_port: 40, spine: su1-spine-10, spine_port: 16}",
            "leaf: su1-leaf-r7, leaf_port: 40, spine: su1-spine-10, spine_port: 15}",
            "leaf_port: 40, spine: su1-spine-10, spine_port: 15}",
            "fabrics.0.switch_links.159.spine_port", "15", "a free port (su1-spine-10 port 15 is already cabled to su1-leaf-r7)",
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
           "(this one is declared twice)" in lines
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
    for field in ("nodes.1.serail", "nodes.1.serial", "fabrics.0.partitions.1.pkey", "software.fabric_manager.version",
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
