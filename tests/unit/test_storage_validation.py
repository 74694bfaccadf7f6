"""Storage validation against the vendor support matrix: each refused array/fabric/protocol combination, NVMe-oF
field and mount option gives its one documented line (FILE:LINE: field.path: value — expected …)."""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.spec import SpecError, load_spec
from components.spec.storage import SUPPORT, ArrayVendor, ExportProtocol, supported
from tests.unit.plan_roots import CHECKOUT

Spec = dict[str, Any]
SUPERPOD = yaml.safe_load((CHECKOUT / "specs" / "superpod.yaml").read_text(encoding="utf-8"))
LAB = yaml.safe_load((CHECKOUT / "specs" / "lab.yaml").read_text(encoding="utf-8"))
ONTAP_RDMA = SUPPORT[1].source


def problems(tmp_path: Path, spec: Spec) -> list[str]:
    """The error lines of `spec`, each without its `FILE:LINE: ` prefix (checked to be there)."""
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False, allow_unicode=True), encoding="utf-8")
    try:
        load_spec(path)
    except SpecError as exc:
        lines = str(exc).splitlines()
        assert all(re.match(rf"^{re.escape(str(path))}:\d+: ", line) for line in lines), lines
        return [line.split(": ", 1)[1] for line in lines]
    return []


def superpod(change: Callable[[Spec], None]) -> Spec:
    spec = copy.deepcopy(SUPERPOD)
    change(spec)
    return spec


def storage_fabric(spec: Spec) -> Spec:
    return next(f for f in spec["fabrics"] if f["purpose"] == "storage")


def on_infiniband(spec: Spec) -> None:
    """The storage fabric as the superpod had it before: InfiniBand, with its subnet managers."""
    fabric = storage_fabric(spec)
    fabric.update(transport="infiniband", mtu=4096, subnet_managers=[{"host": "su1-dgx-01", "priority": 15}])
    fabric.pop("roce_gid_index")


def array(spec: Spec) -> Spec:
    return spec["storage"]["arrays"][0]


def test_the_example_stacks_validate(tmp_path: Path) -> None:
    assert problems(tmp_path, copy.deepcopy(SUPERPOD)) == []
    assert problems(tmp_path, copy.deepcopy(LAB)) == []


def test_ontap_nfs_over_rdma_on_infiniband_is_refused_naming_the_vendor_doc(tmp_path: Path) -> None:
    lines = problems(tmp_path, superpod(on_infiniband))
    expected = ("storage.arrays.0.exports.0.protocol: 'nfs-rdma' — expected a combination ONTAP supports: AFF A800 "
                "(HA pair) does not serve NFS over RDMA over InfiniBand (fabric su1-storage); it serves NFS over TCP "
                "(any model), NFS over RDMA over RoCE (A400/A700/A800/A900/C-Series/C250/C400/C800/A1K/A90/A70/A50/"
                f"A30/A20), NVMe-oF over TCP (any model) (source: {ONTAP_RDMA})")
    assert lines[0] == expected
    assert [line.split(":")[0] for line in lines] == ["storage.arrays.0.exports.0.protocol",
                                                      "storage.arrays.0.exports.1.protocol"]


def test_ontap_nvme_over_rdma_is_refused(tmp_path: Path) -> None:
    lines = problems(tmp_path, superpod(lambda s: array(s)["exports"][2].update(nvme_transport="rdma")))
    assert len(lines) == 1
    assert lines[0].startswith("storage.arrays.0.exports.2.nvme_transport: 'rdma' — expected a combination ONTAP "
                               "supports: AFF A800 (HA pair) does not serve NVMe-oF over RoCE (fabric su1-storage);")
    assert "Configure an NVMe LIF in ONTAP" in lines[0]


def test_nvme_of_on_a_model_without_it_is_refused(tmp_path: Path) -> None:
    def flasharray_c(spec: Spec) -> None:
        array(spec).update(vendor="pure", model="FlashArray//C60")
        array(spec)["exports"] = array(spec)["exports"][2:]
        for export in array(spec)["exports"]:
            export["nvme_transport"] = "rdma"
        spec["storage"]["mounts"] = spec["storage"]["mounts"][2:]
        spec.pop("serving")
    lines = problems(tmp_path, superpod(flasharray_c))
    assert lines[0].startswith("storage.arrays.0.exports.0.nvme_transport: 'rdma' — expected a combination "
                               "Purity//FA supports: FlashArray//C60 does not serve NVMe-oF over RoCE (fabric "
                               "su1-storage); it serves NVMe-oF over RoCE (FlashArray//X/X10/X20/X50/X70/X90)")
    assert "DirectFlash Fabric" in lines[0]
    assert not supported(ArrayVendor.pure, "FlashArray//C60", ExportProtocol.nvme_of, "roce")
    assert supported(ArrayVendor.pure, "FlashArray//X70", ExportProtocol.nvme_of, "roce")


def test_an_rdma_export_of_an_array_on_no_storage_fabric_is_refused(tmp_path: Path) -> None:
    spec = copy.deepcopy(LAB)
    spec["storage"]["arrays"][0]["exports"][0]["protocol"] = "nfs-rdma"
    spec["storage"]["arrays"][0]["model"] = "AFF A800"
    assert problems(tmp_path, spec) == [
        "storage.arrays.0.exports.0.protocol: 'nfs-rdma' — expected a TCP protocol (nfs, or nvme-of with "
        "nvme_transport tcp): array lab-flash is on no storage fabric, so nothing carries RDMA to it (name one in "
        "storage.arrays.N.fabric)"]


def test_an_array_fabric_that_is_not_a_storage_fabric_is_refused(tmp_path: Path) -> None:
    lines = problems(tmp_path, superpod(lambda s: array(s).update(fabric="su1-compute")))
    assert lines == ["storage.arrays.0.fabric: 'su1-compute' — expected a fabric of purpose storage declared in "
                     "fabrics (su1-storage)"]


def test_an_ontap_release_before_the_first_with_the_protocol_is_refused(tmp_path: Path) -> None:
    lines = problems(tmp_path, superpod(lambda s: array(s).update(os_version="9.9.1")))
    assert lines[0] == ("storage.arrays.0.os_version: '9.9.1' — expected ONTAP 9.10.1 or later for NFS over RDMA "
                        f"over RoCE on AFF A800 (HA pair) (storage.arrays.0.exports.0; source: {ONTAP_RDMA})")


def test_nfs_4_1_over_rdma_on_ontap_before_9_14_1_is_refused(tmp_path: Path) -> None:
    lines = problems(tmp_path, superpod(lambda s: array(s).update(os_version="9.12.1")))
    assert lines == [
        f"storage.mounts.{k}.options.{o}: 'vers=4.1' — expected an NFS version ONTAP 9.12.1 serves over RDMA: NFS 4.1 "
        f"over RDMA needs ONTAP 9.14.1 or later (source: {ONTAP_RDMA})" for k, o in ((0, 1), (1, 0))]


def test_an_nvme_connect_option_among_the_mount_options_is_refused(tmp_path: Path) -> None:
    def misplaced(spec: Spec) -> None:
        spec["storage"]["mounts"][2]["options"] = ["noatime", "nr-io-queues=8"]
    assert problems(tmp_path, superpod(misplaced)) == [
        "storage.mounts.2.options.1: 'nr-io-queues=8' — expected a mount option of the xfs filesystem: nr-io-queues "
        "is an `nvme connect` option (nvme-cli), put it in nvme_options"]


def test_an_unknown_nvme_option_is_refused(tmp_path: Path) -> None:
    lines = problems(tmp_path, superpod(lambda s: s["storage"]["mounts"][2].update(nvme_options=["io-queues=8"])))
    assert lines == ["storage.mounts.2.nvme_options.0: 'io-queues=8' — expected NAME=N with NAME one of nr-io-queues, "
                     "nr-write-queues, nr-poll-queues, queue-size, keep-alive-tmo, reconnect-delay, ctrl-loss-tmo (the "
                     "`nvme connect` options a discovery.conf line also takes)"]


def test_one_nvme_namespace_mounted_by_two_nodes_is_refused(tmp_path: Path) -> None:
    def shared(spec: Spec) -> None:
        spec["storage"]["mounts"][2]["hosts"] = ["su1-dgx-18", "su1-dgx-19"]
    assert problems(tmp_path, superpod(shared)) == [
        "storage.mounts.2.hosts: ['su1-dgx-18', 'su1-dgx-19'] — expected one node per NVMe-oF namespace: "
        "su1-flash-01/scratch-19 holds a xfs filesystem, which only one node may mount, and 2 do (su1-dgx-18, "
        "su1-dgx-19); give each node its own namespace"]


def test_an_nvme_export_without_transport_or_nqn_is_refused(tmp_path: Path) -> None:
    def bare(spec: Spec) -> None:
        del array(spec)["exports"][2]["nvme_transport"]
        array(spec)["exports"][3]["nqn"] = "iqn.2024-01.com.example:x"
    assert problems(tmp_path, superpod(bare)) == [
        "storage.arrays.0.exports.2.nvme_transport: None — expected tcp or rdma: the NVMe-oF transport `nvme connect "
        "--transport` uses",
        "storage.arrays.0.exports.3.nqn: 'iqn.2024-01.com.example:x' — expected an NVMe Qualified Name "
        "nqn.YYYY-MM.reverse-domain:… of at most 223 bytes"]


def test_a_label_longer_than_xfs_takes_is_refused(tmp_path: Path) -> None:
    lines = problems(tmp_path, superpod(lambda s: array(s)["exports"][2].update(label="scratch-dgx-19")))
    assert lines == ["storage.arrays.0.exports.2.label: 'scratch-dgx-19' — expected a xfs label of at most 12 "
                     "letters, digits, '_', '.' or '-' (set label: when the export name is longer)"]


@pytest.mark.parametrize(("option", "expected"), [
    ("proto=rdma", "expected no RDMA on models: it is an nfs (TCP) export (declare it nfs-rdma where the array serves "
                   "NFS over RDMA)"),
    ("nconnect=32", "expected nconnect=1..16 (nfs(5); Linux NFS_MAX_CONNECTIONS)"),
])
def test_nfs_mount_options_against_the_protocol_are_refused(tmp_path: Path, option: str, expected: str) -> None:
    spec = copy.deepcopy(LAB)
    spec["storage"]["mounts"][0]["options"].append(option)
    assert problems(tmp_path, spec) == [f"storage.mounts.0.options.2: {option!r} — {expected}"]


def test_every_support_row_names_a_source_and_a_known_vendor() -> None:
    assert all(row.source and row.vendor in ArrayVendor for row in SUPPORT)
    assert not [row for row in SUPPORT if row.vendor is ArrayVendor.netapp and row.transport == "infiniband"]
