"""Bad input that `validate` refuses with one line each: alias bombs, huge specs, one mistake one line, clashes at
their later occurrence, and combinations the later commands could not build; and what it still accepts."""

from __future__ import annotations

import re
import shutil
import time
import tracemalloc
from pathlib import Path

import pytest
import yaml

from components.arrays import DRIVERS
from components.arrays.netapp import MAX_KEY_SERVERS
from components.cli import main
from components.spec import SpecError, load_spec
from components.spec.ports import GPU_NODE_PORTS
from components.spec.problems import PRINTED_PROBLEMS
from components.spec.storage import KMIP_DRIVER_VENDORS, MAX_KMIP_SERVERS, ArrayVendor
from tests.unit.plan_roots import CHECKOUT
from tests.unit.test_spec_errors import LAB, SUPERPOD, validate

LAUGHS = ",".join(['"lol"'] * 9)
BILLION_LAUGHS = "# laughs\n" + "".join(
    f"{name}: &{name} [{','.join([f'*{prev}'] * 9) if prev else LAUGHS}]\n"
    for prev, name in zip([None, *"abcdefgh"], "abcdefghi", strict=True))
"""The classic alias bomb: nine levels of nine aliases, 351 bytes that would expand to 10^9 values."""


def edited(tmp_path: Path, spec: Path, *edits: tuple[str, str]) -> Path:
    text = spec.read_text(encoding="utf-8")
    for old, new in edits:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    path = tmp_path / spec.name
    path.write_text(text, encoding="utf-8")
    return path


def line_of(path: Path, text: str) -> int:
    content = path.read_text(encoding="utf-8")
    return content[:content.index(text)].count("\n") + 1


def test_a_billion_laughs_alias_bomb_is_one_line_fast_and_small(tmp_path: Path) -> None:
    assert len(BILLION_LAUGHS.encode()) == 351
    path = tmp_path / "bomb.yaml"
    path.write_text(BILLION_LAUGHS, encoding="utf-8")
    tracemalloc.start()
    started = time.perf_counter()
    with pytest.raises(SpecError) as caught:
        load_spec(path)
    elapsed = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert elapsed < 2 and peak < 5_000_000, (elapsed, peak)
    assert [str(p) for p in caught.value.problems] == [
        f"{path}:9: (document): 'h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]' — expected YAML aliases that repeat at most 10000 "
        "values (these expand the document to 490329064 values)"]


def test_a_recursive_alias_is_one_line_at_its_anchor(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "loop.yaml"
    path.write_text("site: {name: lab}\nnodes: &nodes [*nodes]\n", encoding="utf-8")
    assert validate(path, capsys) == (2, [f"{path}:2: (document): 'nodes: &nodes [*nodes]' — expected valid YAML "
                                          "without recursive aliases (this anchor's value uses its own alias)"])


def test_aliases_a_spec_shares_its_settings_with_still_validate(tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    pin = "    ssh: {user: root, known_hosts: .lab/known_hosts}\n"
    text = LAB.read_text(encoding="utf-8")
    assert text.count(pin) == 4
    text = text.replace(pin, "    ssh: &pin {user: root, known_hosts: .lab/known_hosts}\n", 1).replace(pin, "    ssh: *pin\n")
    path = tmp_path / "lab.yaml"
    path.write_text(text, encoding="utf-8")
    assert validate(path, capsys) == (0, [])


def test_a_huge_spec_prints_the_first_problems_and_counts_the_rest(tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    data = yaml.safe_load(LAB.read_text(encoding="utf-8"))
    first = data["nodes"][0]
    data["nodes"] = [{**first, "hostname": f"n{k}", "serial": f"S{k}", "management_address": "10.199.78.1",
                      "bmc": f"redfish://10.199.77.1:8000/redfish/v1/Systems/n{k}"} for k in range(300)]
    path = tmp_path / "huge.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    started = time.perf_counter()
    code, lines = validate(path, capsys)
    assert code == 2 and time.perf_counter() - started < 30
    assert len(lines) == PRINTED_PROBLEMS + 1
    match = re.fullmatch(r"\.\.\. and (\d+) more problems \((\d+) in all\)", lines[-1])
    assert match is not None, lines[-1]
    assert int(match.group(2)) - int(match.group(1)) == PRINTED_PROBLEMS and int(match.group(2)) > 300
    numbers = [int(line.split(":")[1]) for line in lines[:-1]]
    assert numbers == sorted(numbers), "the first problems in file order"


# One mistake, one line: what only follows from it is not reported again.
ONE_LINE = [
    ("a misspelt key (not also the key it misspells, missing)", LAB,
     ("    serial: LAB0000000002", "    serail: LAB0000000002"), "nodes.1.serail"),
    ("a driver version that is a tag (not also its branch and the fabric manager's)", LAB,
     ('driver: {branch: "535", version: 535.183.06', 'driver: {branch: "535", version: latest'), "software.driver.version"),
    ("a misspelt node in a cable (not also that node's HCA left uncabled)", LAB,
     ("{node: lab-dgx-02, hca: mlx5_3,", "{node: lab-dgx-2, hca: mlx5_3,"), "fabrics.0.node_links.11.node"),
    ("a misspelt export in a mount (not also the export left unmounted)", LAB,
     ("export: lab-flash/datasets,", "export: lab-flash/dataset,"), "storage.mounts.1.export"),
    ("a rail no leaf serves (not also every cable of that rail)", LAB,
     ("rails: [0, 1, 2, 3, 4, 5, 6, 7]", "rails: [0, 1, 2, 3, 4, 5, 6]"), "fabrics.0.switches"),
    ("Vault over http", LAB, ("    address: https://10.199.77.1:8200", "    address: http://10.199.77.1:8200"),
     "keys.vault.address"),
    ("an array's KMIP client on TLS 1.2 against a TLS-1.3-only listener", SUPERPOD,
     ('        tls_min_version: "1.3"\n      exports:',
      '        tls_min_version: "1.2"\n        tls_exception: ONTAP 9.8\n      exports:'),
     "keys.vault.kmip.tls_min_version"),
]


@pytest.mark.parametrize(("name", "spec", "edit", "field"), ONE_LINE, ids=[c[0] for c in ONE_LINE])
def test_one_mistake_gives_one_line(name: str, spec: Path, edit: tuple[str, str], field: str, tmp_path: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    code, lines = validate(edited(tmp_path, spec, edit), capsys)
    assert code == 2
    assert [line.split(": ")[1] for line in lines] == [field], "\n".join(lines)


def test_a_misspelt_cable_node_says_which_node_it_looks_like(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = edited(tmp_path, LAB, ("{node: lab-dgx-02, hca: mlx5_3,", "{node: lab-dgx-2, hca: mlx5_3,"))
    _, lines = validate(path, capsys)
    assert lines == [f"{path}:71: fabrics.0.node_links.11.node: 'lab-dgx-2' — expected a hostname declared in nodes "
                     "(1 cable(s) of fabrics.0.node_links name it; did you mean 'lab-dgx-02'?)"]


def test_a_clash_is_reported_at_the_field_declared_later_naming_the_earlier(tmp_path: Path,
                                                                            capsys: pytest.CaptureFixture[str]) -> None:
    """The same clash, with `keys` after `storage` and then before it: the line is always the later one."""
    strict = ("      tls_min_version: tls12\n      tls_exception: the lab array's KMIP client (PyKMIP 0.11) speaks only "
              "TLS 1.2\n", "      tls_min_version: tls13\n")
    path = edited(tmp_path, LAB, strict)
    array, listener = line_of(path, '        tls_min_version: "1.2"'), line_of(path, "      tls_min_version: tls13")
    assert array < listener
    _, lines = validate(path, capsys)
    assert len(lines) == 1 and lines[0].startswith(f"{path}:{listener}: keys.vault.kmip.tls_min_version: 'tls13'")
    assert f"(storage.arrays.0.encryption.tls_min_version on line {array})" in lines[0]

    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    reordered = {k: data[k] for k in ("site", "networks", "keys", *[k for k in data if k not in ("site", "networks",
                                                                                                  "keys")])}
    path.write_text(yaml.safe_dump(reordered, sort_keys=False, allow_unicode=True), encoding="utf-8")
    array, listener = line_of(path, "tls_min_version: '1.2'"), line_of(path, "tls_min_version: tls13")
    assert listener < array
    _, lines = validate(path, capsys)
    assert len(lines) == 1 and lines[0].startswith(f"{path}:{array}: storage.arrays.0.encryption.tls_min_version: '1.2'")
    assert f"(keys.vault.kmip.tls_min_version on line {listener})" in lines[0]


def test_a_role_listed_twice_is_reported_at_its_second_mention(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    path = edited(tmp_path, SUPERPOD, ("    roles: [gpu_node, inference_local]\n    management_address: 10.10.0.30",
                                       "    roles: [gpu_node, inference_local, gpu_node]\n    management_address: 10.10.0.30"))
    line = line_of(path, "roles: [gpu_node, inference_local, gpu_node]")
    assert validate(path, capsys) == (2, [f"{path}:{line}: nodes.19.roles.2: 'gpu_node' — expected a unique role "
                                          f"(already used at nodes.19.roles.0 on line {line})"])


def test_a_known_hosts_file_that_does_not_exist_yet_validates(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A fresh clone has no .lab/known_hosts: the commands that connect refuse a missing file, validate does not."""
    path = edited(tmp_path, SUPERPOD, ("known_hosts: specs/known_hosts/su1}\n    rack: B07-U02",
                                       "known_hosts: specs/known_hosts/../never-written}\n    rack: B07-U02"))
    assert not (CHECKOUT / "specs" / "never-written").exists()
    assert validate(path, capsys) == (0, [])


def test_a_port_with_a_declared_reason_validates(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = edited(tmp_path, SUPERPOD,
                  ("known_hosts: specs/known_hosts/su1}\n    rack: B07-U02",
                   "known_hosts: specs/known_hosts/su1, port: 2222, port_exception: the hall's jump host forwards "
                   "2222}\n    rack: B07-U02"),
                  ("    address: https://vault.su1.bank.internal:8200\n",
                   "    address: https://vault.su1.bank.internal\n    port_exception: behind the hall's TLS load "
                   "balancer on 443\n"),
                  ('listen_addrs: ["10.10.4.10:5696"]',
                   'listen_addrs: ["10.10.4.10:15696"]\n      port_exception: 5696 is taken by the HSM'))
    assert validate(path, capsys) == (0, [])


def test_without_a_time_zone_database_the_time_zone_cannot_be_checked(monkeypatch,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr("components.spec.checks._timezones", frozenset)
    code, lines = validate(LAB, capsys)
    assert code == 2
    assert lines == [f"{LAB}:7: site.timezone: 'Asia/Shanghai' — expected an IANA time zone; this machine has no time "
                     "zone database to check it against (install tzdata)"]


def _project(tmp_path: Path, spec: Path) -> Path:
    """A copy of the project whose spec is `spec`: the stacks, the program and the policy config."""
    root = tmp_path / "project"
    (root / "specs").mkdir(parents=True)
    for name in ("__main__.py", "Pulumi.yaml", "Pulumi.lab.yaml", "Pulumi.superpod.yaml"):
        shutil.copy(CHECKOUT / name, root / name)
    shutil.copytree(CHECKOUT / "policies" / "config", root / "policies" / "config")
    shutil.copy(spec, root / "specs" / spec.name)
    return root


@pytest.mark.parametrize(("stack", "spec", "edit", "field"), [
    ("superpod", SUPERPOD, ('        tls_min_version: "1.3"\n      exports:',
                            '        tls_min_version: "1.2"\n        tls_exception: ONTAP 9.8\n      exports:'),
     "keys.vault.kmip.tls_min_version"),
    ("lab", LAB, ("members: compute, membership: full}", "members: storage, membership: full}"),
     "fabrics.0.partitions.1.members"),
    ("lab", LAB, ("      vendor: netapp", "      vendor: dell"), "storage.arrays.0.encryption.external_kmip"),
    ("lab", LAB, ("      server_ips: [10.199.77.1]", "      server_ips: [10.199.77.1, 10.199.77.2, 10.199.77.3, "
                                                       "10.199.77.4, 10.199.77.5]"), "keys.vault.kmip.server_ips"),
], ids=["array TLS 1.2 exception, TLS-1.3 KMIP listener", "partition of the other fabric's HCAs",
        "external KMIP on a dell array", "five KMIP servers for ONTAP"])
def test_combinations_the_later_commands_crashed_on_are_refused_by_each(stack: str, spec: Path, edit: tuple[str, str],
                                                                        field: str, tmp_path: Path,
                                                                        capsys: pytest.CaptureFixture[str]) -> None:
    """`plan` refused these only inside the program, `policy check` and `inventory` with a traceback."""
    root = _project(tmp_path, edited(tmp_path, spec, edit))
    for command in (["validate"], ["plan"], ["policy", "check"], ["inventory"]):
        assert main(["--project-dir", str(root), *command, "--stack", stack]) == 2, command
        err = capsys.readouterr().err
        assert "Traceback" not in err
        assert [line.split(": ")[1] for line in err.splitlines()] == [field], (command, err)


def test_the_spec_knows_the_array_drivers_limits_and_the_gpu_node_ports() -> None:
    assert KMIP_DRIVER_VENDORS == set(DRIVERS)
    assert MAX_KMIP_SERVERS == {ArrayVendor.netapp: MAX_KEY_SERVERS}
    defaults = yaml.safe_load((CHECKOUT / "playbooks" / "roles" / "dcgm" / "defaults" / "main.yml").read_text())
    ports = {int(defaults[k].rsplit(":", 1)[1]) for k in ("dcgm_exporter_listen", "dcgm_node_exporter_listen",
                                                          "dcgm_exporter_hostengine")}
    assert ports == set(GPU_NODE_PORTS)
