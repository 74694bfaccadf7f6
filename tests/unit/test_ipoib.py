"""IPoIB from the spec: per-rail addresses on the compute HCAs' netdevs (or P_Key child interfaces), the netplan
file and child-interface unit rendered for them, the doca_ofed role's argument_specs accepting the host vars, and
the spec check's one line per mistake."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from components.host import host_views
from components.render.fabric_files import fabric_files
from components.render.netplan import CHILDREN_UNIT, NETPLAN_FILE, ipoib_files, ipoib_interfaces
from components.spec import load_stack_spec
from components.spec.cluster import ClusterSpec
from components.spec.loader import load_spec
from components.spec.problems import SpecError
from tests.unit.plan_roots import CHECKOUT

LAB = CHECKOUT / "specs" / "lab.yaml"
ROLE = CHECKOUT / "playbooks" / "roles" / "doca_ofed"
LAB_NETDEVS = ["ibp12s0", "ibp18s0", "ibp75s0", "ibp84s0", "ibp141s0", "ibp148s0", "ibp186s0", "ibp204s0"]
LAB_DEVICES = ["mlx5_0", "mlx5_1", "mlx5_2", "mlx5_3", "mlx5_6", "mlx5_7", "mlx5_8", "mlx5_9"]


@pytest.fixture(scope="module")
def lab() -> ClusterSpec:
    return load_stack_spec("lab")[1].spec


@pytest.fixture(scope="module")
def superpod() -> ClusterSpec:
    return load_stack_spec("superpod")[1].spec


def _with_partitions(spec: ClusterSpec, **by_name: dict[str, object]) -> ClusterSpec:
    """The spec with fields of its compute fabric's partitions changed, by partition name."""
    fabric = spec.compute_fabric()
    assert fabric is not None
    parts = [p.model_validate({**p.model_dump(), **by_name.get(p.name, {})}) for p in fabric.partitions]
    changed = fabric.model_copy(update={"partitions": parts})
    return spec.model_copy(update={"fabrics": [changed if f is fabric else f for f in spec.fabrics]})


def test_the_lab_gets_a_subnet_per_rail_at_the_node_host_number(lab) -> None:
    got = [(i.name, i.device, i.rail, i.address, i.mtu, i.parent) for i in ipoib_interfaces(lab, lab.node("lab-dgx-03"))]
    pairs = enumerate(zip(LAB_NETDEVS, LAB_DEVICES, strict=True))
    assert got == [(n, d, r, f"172.31.{r}.13/24", 4092, None) for r, (n, d) in pairs]


def test_the_lab_netplan_file_configures_each_netdev_for_networkd(lab) -> None:
    text = fabric_files(lab, "lab-dgx-02")[NETPLAN_FILE]
    assert text.startswith("# IPoIB on lab-dgx-02's compute HCAs: rendered by podforge from the spec\n")
    doc = yaml.safe_load(text)
    assert list(doc) == ["network"] and doc["network"]["version"] == 2
    assert "renderer" not in doc["network"]  # a file-wide renderer would override DGX OS's own choice
    ethernets = doc["network"]["ethernets"]
    assert list(ethernets) == LAB_NETDEVS
    assert ethernets["ibp141s0"] == {"renderer": "networkd", "addresses": ["172.31.4.12/24"], "mtu": 4092,
                                     "dhcp4": False, "dhcp6": False, "link-local": [], "accept-ra": False,
                                     "optional": True}
    assert all("infiniband-mode" not in e and "match" not in e for e in ethernets.values())
    assert CHILDREN_UNIT not in fabric_files(lab, "lab-dgx-02")  # the default partition needs no child


def test_the_host_vars_carry_the_interfaces_the_netplan_file_holds(lab, tmp_path) -> None:
    view = host_views(lab, tmp_path)["lab-dgx-04"]
    interfaces = view.host_vars()["podforge_ipoib_interfaces"]
    ethernets = yaml.safe_load(view.files()[NETPLAN_FILE])["network"]["ethernets"]
    assert [i["name"] for i in interfaces] == list(ethernets)
    assert [i["address"] for i in interfaces] == [e["addresses"][0] for e in ethernets.values()]
    assert interfaces[7] == {"name": "ibp204s0", "address": "172.31.7.14/24", "mtu": 4092, "purpose": "compute",
                             "device": "mlx5_9", "rail": 7, "fabric": "lab-ib", "partition": "Default",
                             "parent": None, "pkey": None}


def test_a_non_default_partition_gets_child_interfaces_and_the_unit_creating_them(superpod) -> None:
    spec = _with_partitions(superpod, Default={"ipoib_cidr": None},
                            compute={"ipoib_cidr": "172.20.0.0/16", "ipoib_rail_prefix": 22})
    node = spec.node("su1-dgx-05")
    interfaces = ipoib_interfaces(spec, node)
    assert [(i.name, i.parent, i.pkey, i.address) for i in interfaces][:2] == [
        ("ibp12s0.8101", "ibp12s0", 0x8101, "172.20.0.15/22"), ("ibp18s0.8101", "ibp18s0", 0x8101, "172.20.4.15/22")]
    files = ipoib_files(spec, node)
    assert list(yaml.safe_load(files[NETPLAN_FILE])["network"]["ethernets"]) == [f"{n}.8101" for n in LAB_NETDEVS]
    unit = files[CHILDREN_UNIT]
    starts = [line for line in unit.splitlines() if line.startswith("ExecStart=")]
    assert starts[0] == ("ExecStart=/bin/sh -c 'test -e /sys/class/net/ibp12s0.8101 || "
                         "echo 0x8101 > /sys/class/net/ibp12s0/create_child'")
    assert len(starts) == 8
    assert "Requires=sys-subsystem-net-devices-ibp12s0.device" in unit and "\nType=oneshot\n" in unit
    assert interfaces[0].as_var()["pkey"] == "0x8101"


def test_a_spec_without_ipoib_cidr_renders_no_ipoib_files(superpod, tmp_path) -> None:
    spec = _with_partitions(superpod, Default={"ipoib_cidr": None})
    assert ipoib_files(spec, spec.node("su1-dgx-01")) == {}
    view = host_views(spec, tmp_path)["su1-dgx-01"]
    assert view.host_vars()["podforge_ipoib_interfaces"] == []
    assert NETPLAN_FILE not in view.files() and "/etc/ucx/ucx.conf" in view.files()


def test_the_role_argument_specs_accept_the_rendered_interfaces(lab, superpod) -> None:
    options = yaml.safe_load((ROLE / "meta" / "argument_specs.yml").read_text())["argument_specs"]["main"]["options"]
    spec = {"doca_ofed_ipoib_interfaces": options["doca_ofed_ipoib_interfaces"]}
    children = _with_partitions(superpod, Default={"ipoib_cidr": None}, compute={"ipoib_cidr": "172.20.0.0/16"})
    for stack, host in ((lab, "lab-dgx-01"), (children, "su1-dgx-02")):
        rendered = [i.as_var() for i in ipoib_interfaces(stack, stack.node(host))]
        result = ArgumentSpecValidator(spec).validate({"doca_ofed_ipoib_interfaces": rendered})
        assert result.error_messages == [], host
    wrong = [{**rendered[0], "purpose": "storage"}]
    assert ArgumentSpecValidator(spec).validate({"doca_ofed_ipoib_interfaces": wrong}).error_messages


def test_the_role_installs_the_rendered_files_and_applies_netplan_in_a_handler() -> None:
    tasks = yaml.safe_load((ROLE / "tasks" / "main.yml").read_text())
    copies = {t["ansible.builtin.copy"]["dest"]: t for t in tasks if "ansible.builtin.copy" in t}
    netplan = copies["{{ doca_ofed_netplan_path }}"]
    assert netplan["ansible.builtin.copy"]["mode"] == "0600" and netplan["notify"] == "Apply netplan"
    assert netplan["ansible.builtin.copy"]["content"] == "{{ doca_ofed_netplan }}"
    defaults = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
    assert defaults["doca_ofed_netplan_path"] == NETPLAN_FILE
    assert "/etc/systemd/system/" + defaults["doca_ofed_ipoib_children_unit"] == CHILDREN_UNIT
    handlers = {h["name"]: h for h in yaml.safe_load((ROLE / "handlers" / "main.yml").read_text())}
    assert handlers["Apply netplan"]["ansible.builtin.command"] == "netplan apply"
    assert handlers["Apply netplan"]["when"] == "not doca_ofed_simulated | bool"
    assert not (ROLE / "templates").exists()  # the networkd [IPoIB] template is gone


def _problems(tmp_path: Path, old: str, new: str) -> list[str]:
    text = LAB.read_text()
    assert text.count(old) == 1, old
    path = tmp_path / "lab.yaml"
    path.write_text(text.replace(old, new))
    with pytest.raises(SpecError) as caught:
        load_spec(path, CHECKOUT, display="specs/lab.yaml")
    return [str(p) for p in caught.value.problems]


DEFAULT = "      - {name: Default, pkey: 0x7fff, ipoib: true, members: ALL, membership: full, ipoib_cidr: 172.31.0.0/16}"
COMPUTE = "      - {name: compute, pkey: 0x0101, ipoib: true, members: compute, membership: full}"


def _line(text: str, needle: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if needle in line)


def test_an_ipoib_network_overlapping_a_site_network_is_one_line(tmp_path) -> None:
    problems = _problems(tmp_path, DEFAULT, DEFAULT.replace("172.31.0.0/16", "10.199.0.0/16"))
    line = _line(LAB.read_text(), "name: Default, pkey: 0x7fff")
    assert problems == [f"specs/lab.yaml:{line}: fabrics.0.partitions.0.ipoib_cidr: '10.199.0.0/16' — expected a network "
                        "overlapping none of the site's networks (overlaps networks.management 10.199.77.0/24)"]


def test_two_overlapping_ipoib_networks_are_one_clash_at_the_later(tmp_path) -> None:
    problems = _problems(tmp_path, COMPUTE, COMPUTE.replace("}", ", ipoib_cidr: 172.31.128.0/17}"))
    text = LAB.read_text()
    first, later = _line(text, "name: Default, pkey: 0x7fff"), _line(text, "name: compute, pkey: 0x0101")
    assert problems == [f"specs/lab.yaml:{later}: fabrics.0.partitions.1.ipoib_cidr: '172.31.128.0/17' — expected an IPoIB "
                        f"network overlapping no other (overlaps 172.31.0.0/16 at fabrics.0.partitions.0.ipoib_cidr "
                        f"on line {first})"]


def test_a_rail_prefix_without_room_for_eight_rails_is_refused(tmp_path) -> None:
    problems = _problems(tmp_path, DEFAULT, DEFAULT.replace("172.31.0.0/16}", "172.31.0.0/22, ipoib_rail_prefix: 24}"))
    line = _line(LAB.read_text(), "name: Default, pkey: 0x7fff")
    assert problems == [f"specs/lab.yaml:{line}: fabrics.0.partitions.0.ipoib_rail_prefix: 24 — expected a prefix from /22 up "
                        "that splits 172.31.0.0/22 into a subnet per rail (8 rails)"]


def test_a_limited_partition_with_ipoib_addresses_is_refused(tmp_path) -> None:
    limited = COMPUTE.replace("membership: full}", "membership: limited, ipoib_cidr: 172.30.0.0/16}")
    problems = _problems(tmp_path, COMPUTE, limited)
    line = _line(LAB.read_text(), "name: compute, pkey: 0x0101")
    assert problems == [f"specs/lab.yaml:{line}: fabrics.0.partitions.1.membership: 'limited' — expected full on a partition "
                        "with an ipoib_cidr (two limited members cannot talk over IPoIB)"]


def test_a_node_whose_host_number_leaves_the_rail_subnet_is_refused(tmp_path) -> None:
    # 8 rails of /29 fill a /26; a /29 has hosts 1..6, and the lab's host numbers are 11..14.
    problems = _problems(tmp_path, DEFAULT, DEFAULT.replace("172.31.0.0/16}", "172.31.0.0/26, ipoib_rail_prefix: 29}"))
    text = LAB.read_text()
    lines = [n for n, line in enumerate(text.splitlines(), 1) if "management_address: 10.199.77.1" in line]
    assert problems == [f"specs/lab.yaml:{n}: nodes.{i}.management_address: '10.199.77.1{i + 1}' — expected a host number "
                        f"1..6 on the management network: it is the node's host number on the /29 IPoIB rail "
                        f"subnets of fabrics.0.partitions.0" for i, n in enumerate(lines)]


def test_a_sku_without_netdevs_is_refused_once(tmp_path) -> None:
    text = LAB.read_text()
    path = tmp_path / "lab.yaml"
    path.write_text(text.replace("sku: dgx-a100-80g", "sku: dgx-a100-40g").replace("mlx5_6", "mlx5_4")
                    .replace("mlx5_7", "mlx5_5").replace("mlx5_8", "mlx5_6").replace("mlx5_9", "mlx5_7"))
    with pytest.raises(SpecError) as caught:
        load_spec(path, CHECKOUT, display="specs/lab.yaml")
    line = _line(text, "sku: dgx-a100-80g")
    assert [str(p) for p in caught.value.problems] == [
        f"specs/lab.yaml:{line}: nodes.0.sku: 'dgx-a100-40g' — expected a SKU whose compute HCAs name their netdev (catalogue "
        "compute_hcas[].netdev; mlx5_0, mlx5_1, mlx5_2, mlx5_3, mlx5_4, mlx5_5, mlx5_6, mlx5_7 name none), for the "
        "IPoIB addresses of fabrics.0.partitions.0"]
