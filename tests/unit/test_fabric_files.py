"""opensm.conf, partitions.conf and nccl.conf rendered from the example specs match what the fabric model says."""

from __future__ import annotations

import pytest

from components.host import host_views
from components.render.fabric_files import (
    UCX_CONF,
    fabric_files,
    nccl_ib_hca,
    render_nccl_conf,
    render_opensm_conf,
    render_partitions_conf,
    render_ucx_conf,
    sm_port_device,
)
from components.spec import load_stack_spec
from components.spec.cluster import ClusterSpec
from components.verify.expectations import NodeExpectation
from components.verify.nccl_conf import ib_hca_devices, parse_nccl_conf


@pytest.fixture(scope="module")
def superpod() -> ClusterSpec:
    return load_stack_spec("superpod")[1].spec


@pytest.fixture(scope="module")
def lab() -> ClusterSpec:
    return load_stack_spec("lab")[1].spec


def _fabric(spec: ClusterSpec, name: str):
    return next(f for f in spec.fabrics if f.name == name)


def _roce(spec: ClusterSpec) -> ClusterSpec:
    """The superpod with its compute fabric on RoCE (no subnet managers on Ethernet)."""
    compute = spec.compute_fabric()
    roce = compute.model_copy(update={"transport": "roce", "roce_gid_index": 3, "subnet_managers": []})
    return spec.model_copy(update={"fabrics": [roce if f is compute else f for f in spec.fabrics]})


def _ib_storage(spec: ClusterSpec):
    """The superpod's storage fabric as an InfiniBand fabric with its own subnet managers and partitions (the
    example's storage fabric is RoCE, which runs no OpenSM)."""
    storage = _fabric(spec, "su1-storage")
    return storage.model_validate({
        **storage.model_dump(), "transport": "infiniband", "mtu": 4096, "routing_engine": "updn",
        "roce_gid_index": None,
        "subnet_managers": [{"host": "su1-dgx-01", "priority": 15}, {"host": "su1-dgx-02", "priority": 14}],
        "partitions": [{"name": "Default", "pkey": 0x7FFF, "members": "ALL", "membership": "full"},
                       {"name": "storage", "pkey": 0x0201, "members": "storage", "membership": "full"}]})


SU1_DGX_01_COMPUTE_OPENSM = """\
# OpenSM for fabric su1-compute (compute, 200 Gb/s) on su1-dgx-01: rendered by podforge from the spec;
# edits are overwritten. One OpenSM instance per fabric. It binds to port 1 of mlx5_0, the host's first HCA
# cabled into su1-compute; the port GUID is read on the node when the instance starts (GUIDs are not known
# before the hardware is).
sm_priority 15
routing_engine ftree
lmc 0
# A standby SM polls the master every sminfo_polling_timeout ms and takes over after polling_retry_number
# unanswered polls.
sminfo_polling_timeout 10000
polling_retry_number 4
partition_config_file /etc/opensm/su1-compute/partitions.conf
log_file /var/log/opensm-su1-compute.log
"""

SU1_COMPUTE_PARTITIONS = """\
# Partitions of fabric su1-compute: rendered by podforge from the spec (fabrics[].partitions); edits are overwritten.
# Members are written as ALL with the partition's membership as defmember: port GUIDs are not known before the
# hardware is, and every CA port on this fabric is a compute HCA. Switches and this subnet manager are
# full members of the default partition, so limited members can still reach them.
Default=0x7fff, ipoib, mtu=5, defmember=full : ALL, ALL_SWITCHES=full, SELF=full;
compute=0x0101, ipoib, mtu=5, defmember=full : ALL, SELF=full;
"""

SU1_DGX_01_NCCL = """\
# /etc/nccl.conf for su1-dgx-01 (DGX A100 640GB): rendered by podforge from the spec; edits are overwritten.
# The compute HCAs in rail order, port 1 each. The leading equals sign asks for exact device names:
# a bare mlx5_1 is a prefix and would also select mlx5_10.
NCCL_IB_HCA==mlx5_0:1,mlx5_1:1,mlx5_2:1,mlx5_3:1,mlx5_6:1,mlx5_7:1,mlx5_8:1,mlx5_9:1
# P_Key index of NCCL's queue pairs: index 0 holds the default partition (0x7fff), of which the nodes are full
# members; another partition's index is assigned by OpenSM at run time.
NCCL_IB_PKEY=0
NCCL_SOCKET_IFNAME==enp225s0f1
NCCL_DEBUG=WARN
"""


def test_the_master_subnet_manager_gets_the_spec_priority_and_the_fabric_settings(superpod) -> None:
    assert render_opensm_conf(superpod, _fabric(superpod, "su1-compute"), "su1-dgx-01") == SU1_DGX_01_COMPUTE_OPENSM


def test_the_standby_subnet_manager_differs_only_in_its_priority(superpod) -> None:
    standby = render_opensm_conf(superpod, _fabric(superpod, "su1-compute"), "su1-dgx-02")
    assert standby == SU1_DGX_01_COMPUTE_OPENSM.replace("on su1-dgx-01", "on su1-dgx-02").replace(
        "sm_priority 15", "sm_priority 14")


def test_a_storage_fabric_instance_uses_its_engine_its_own_files_and_a_storage_hca(superpod) -> None:
    storage = _ib_storage(superpod)
    conf = render_opensm_conf(superpod, storage, "su1-dgx-02")
    settings = dict(line.split(" ", 1) for line in conf.splitlines() if line and not line.startswith("#"))
    assert settings == {"sm_priority": "14", "routing_engine": "updn", "lmc": "0",
                        "sminfo_polling_timeout": "10000", "polling_retry_number": "4",
                        "partition_config_file": "/etc/opensm/su1-storage/partitions.conf",
                        "log_file": "/var/log/opensm-su1-storage.log"}
    assert sm_port_device(superpod, storage, "su1-dgx-02") == "mlx5_4"
    assert "port 1 of mlx5_4" in conf


def test_the_sminfo_polling_settings_come_from_the_fabric(superpod) -> None:
    compute = _fabric(superpod, "su1-compute")
    fast = compute.model_copy(update={"sminfo_polling_timeout_ms": 500, "polling_retry_number": 2})
    conf = render_opensm_conf(superpod, fast, "su1-dgx-02")
    settings = dict(line.split(" ", 1) for line in conf.splitlines() if line and not line.startswith("#"))
    assert (settings["sminfo_polling_timeout"], settings["polling_retry_number"]) == ("500", "2")


@pytest.mark.parametrize(("field", "value"), [("sminfo_polling_timeout_ms", 0), ("polling_retry_number", 0),
                                              ("sminfo_polling_timeout_ms", 2**32)])
def test_sminfo_polling_settings_out_of_range_are_refused(superpod, field: str, value: int) -> None:
    compute = _fabric(superpod, "su1-compute")
    with pytest.raises(ValueError, match=field):
        compute.model_validate({**compute.model_dump(), field: value})


def test_compute_partitions_make_the_nodes_full_members_of_the_default_and_compute(superpod) -> None:
    assert render_partitions_conf(superpod, _fabric(superpod, "su1-compute")) == SU1_COMPUTE_PARTITIONS


def test_a_limited_default_partition_on_a_compute_fabric_is_found(superpod) -> None:
    """NCCL talks on P_Key index 0, the default partition: compute nodes that are limited members there cannot
    reach each other; full members, a storage fabric, or a fabric of one node are no finding."""
    compute = _fabric(superpod, "su1-compute")
    assert compute.limited_default_partition() is None
    limited = compute.model_copy(update={"partitions": [
        compute.partitions[1], compute.partitions[0].model_copy(update={"membership": "limited"})]})
    assert limited.limited_default_partition() == 1
    storage = _ib_storage(superpod)
    assert storage.model_copy(update={"partitions": [
        storage.partitions[0].model_copy(update={"membership": "limited"})]}).limited_default_partition() is None
    one_node = limited.model_copy(update={"node_links": [link for link in compute.node_links
                                                         if link.node == "su1-dgx-01"]})
    assert one_node.limited_default_partition() is None
    only_storage_members = limited.model_copy(update={"partitions": [
        limited.partitions[1].model_copy(update={"members": "storage"})]})
    assert only_storage_members.limited_default_partition() is None


def test_storage_partitions(superpod) -> None:
    lines = render_partitions_conf(superpod, _ib_storage(superpod)).splitlines()
    assert [line for line in lines if not line.startswith("#")] == [
        "Default=0x7fff, ipoib, mtu=5, defmember=full : ALL, ALL_SWITCHES=full, SELF=full;",
        "storage=0x0201, ipoib, mtu=5, defmember=full : ALL, SELF=full;",
    ]


def test_nccl_conf_names_the_80gb_compute_hcas_in_rail_order(superpod) -> None:
    assert render_nccl_conf(superpod, superpod.node("su1-dgx-01")) == SU1_DGX_01_NCCL


def test_every_superpod_node_gets_the_same_settings(superpod) -> None:
    bodies = {render_nccl_conf(superpod, n).split("\n", 1)[1] for n in superpod.nodes}
    assert len(bodies) == 1


def test_the_rendered_nccl_conf_passes_the_verify_check_parser(superpod) -> None:
    node = superpod.node("su1-dgx-07")
    settings = parse_nccl_conf(render_nccl_conf(superpod, node))
    exclude, devices = ib_hca_devices(settings["NCCL_IB_HCA"])
    view = host_views(superpod)[node.hostname]
    expected = [h.device for h in NodeExpectation.of("superpod", superpod, view).compute_hcas]
    assert not exclude and devices == expected == ["mlx5_0", "mlx5_1", "mlx5_2", "mlx5_3",
                                                    "mlx5_6", "mlx5_7", "mlx5_8", "mlx5_9"]


def test_nccl_comment_lines_hold_no_equals_sign(superpod) -> None:
    # Older NCCL releases read every line with an `=` as a setting, comments included.
    conf = render_nccl_conf(_roce(superpod), superpod.node("su1-dgx-01"))
    assert all("=" not in line for line in conf.splitlines() if line.startswith("#"))


def test_roce_adds_the_gid_index_and_infiniband_the_pkey_index(superpod) -> None:
    roce = parse_nccl_conf(render_nccl_conf(_roce(superpod), superpod.node("su1-dgx-03")))
    ib = parse_nccl_conf(render_nccl_conf(superpod, superpod.node("su1-dgx-03")))
    assert roce["NCCL_IB_GID_INDEX"] == "3" and "NCCL_IB_PKEY" not in roce
    assert "NCCL_IB_GID_INDEX" not in ib and ib["NCCL_IB_PKEY"] == "0"
    assert {k: v for k, v in roce.items() if k != "NCCL_IB_GID_INDEX"} == {
        k: v for k, v in ib.items() if k != "NCCL_IB_PKEY"}


def test_opensm_files_are_refused_for_a_roce_fabric(superpod) -> None:
    roce = _roce(superpod)
    with pytest.raises(ValueError, match="roce: OpenSM runs only on InfiniBand"):
        render_partitions_conf(roce, roce.compute_fabric())


def test_a_host_that_is_not_a_subnet_manager_is_refused(superpod) -> None:
    with pytest.raises(ValueError, match="su1-dgx-05 is not a subnet manager of fabric su1-compute"):
        render_opensm_conf(superpod, _fabric(superpod, "su1-compute"), "su1-dgx-05")


def test_a_partition_naming_ports_its_fabric_lacks_is_refused(superpod) -> None:
    storage = _ib_storage(superpod)
    wrong = storage.model_copy(update={"partitions": [storage.partitions[0].model_copy(update={"members": "compute"})]})
    with pytest.raises(ValueError, match="members compute"):
        render_partitions_conf(superpod, wrong)


def test_lab_subnet_manager_gets_nccl_opensm_and_partitions(lab) -> None:
    files = fabric_files(lab, "lab-dgx-01")
    assert sorted(files) == ["/etc/nccl.conf", "/etc/netplan/60-podforge-ipoib.yaml", "/etc/opensm/lab-ib/opensm.conf",
                             "/etc/opensm/lab-ib/partitions.conf", "/etc/ucx/ucx.conf"]
    assert parse_nccl_conf(files["/etc/nccl.conf"])["NCCL_SOCKET_IFNAME"] == "=host0"  # the lab's one network
    assert sorted(fabric_files(lab, "lab-dgx-02")) == ["/etc/nccl.conf", "/etc/netplan/60-podforge-ipoib.yaml",
                                                       "/etc/ucx/ucx.conf"]


def test_a_sku_without_hcas_gets_no_hca_list() -> None:
    h200 = load_stack_spec("h200")[1].spec
    node = h200.nodes[0]
    assert nccl_ib_hca(h200, node) == ""
    assert parse_nccl_conf(render_nccl_conf(h200, node)) == {"NCCL_DEBUG": "WARN"}
    assert render_ucx_conf(h200, node) is None and sorted(fabric_files(h200, node.hostname)) == ["/etc/nccl.conf"]


def test_ucx_conf_names_the_compute_hcas_in_rail_order_like_nccl(superpod) -> None:
    node = superpod.node("su1-dgx-04")
    text = render_ucx_conf(superpod, node)
    assert text is not None and text.startswith("# /etc/ucx/ucx.conf for su1-dgx-04 (DGX A100 640GB)")
    settings = parse_nccl_conf(text)  # the same KEY=value lines
    assert settings == {"UCX_NET_DEVICES": "mlx5_0:1,mlx5_1:1,mlx5_2:1,mlx5_3:1,mlx5_6:1,mlx5_7:1,mlx5_8:1,mlx5_9:1"}
    assert settings["UCX_NET_DEVICES"] == parse_nccl_conf(render_nccl_conf(superpod, node))["NCCL_IB_HCA"][1:]
    assert fabric_files(superpod, node.hostname)[UCX_CONF] == text


def test_rendering_is_deterministic(superpod) -> None:
    first = [fabric_files(superpod, n.hostname) for n in superpod.nodes]
    again = [fabric_files(load_stack_spec("superpod")[1].spec, n.hostname) for n in superpod.nodes]
    assert first == again
