"""The built-in hardware catalogue holds the documented facts, and a site can add a SKU of its own."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from components.spec import load_spec
from components.spec.catalogue import builtin_catalogue
from components.spec.checks import sku_problems
from tests.unit.plan_roots import CHECKOUT


@pytest.mark.parametrize("name", sorted(builtin_catalogue()))
def test_builtin_entries_are_consistent_and_sourced(name: str) -> None:
    sku = builtin_catalogue()[name]
    assert list(sku_problems(("catalogue", name), sku)) == []
    assert sku.name == name and sku.sources


@pytest.mark.parametrize("name, memory", [("dgx-a100-40g", 40), ("dgx-a100-80g", 80)])
def test_dgx_a100_is_eight_gpus_six_nvswitches_eight_hdr_rails(name: str, memory: int) -> None:
    sku = builtin_catalogue()[name]
    assert (sku.gpu.count, sku.gpu.memory_gib, sku.nvswitch_count) == (8, memory, 6)
    assert [h.rail for h in sku.compute_hcas] == list(range(8))
    assert {(h.model, h.rate_gbps, h.link_layer) for h in sku.compute_hcas} == {("ConnectX-6", 200, "infiniband")}
    assert [h.gpu for h in sku.compute_hcas] == list(range(8))
    assert len(sku.storage_hcas) == 2


def test_a_one_gpu_server_has_no_nvswitch_and_no_infiniband() -> None:
    sku = builtin_catalogue()["gpu-h200-1"]
    assert (sku.gpu.count, sku.nvswitch_count, sku.has_nvswitch) == (1, 0, False)
    assert sku.compute_hcas == [] and sku.storage_hcas == []
    assert sku.acceptance.allreduce_busbw_floor_gbs is None


def test_a_site_sku_is_named_by_its_key_and_usable_by_nodes(tmp_path: Path) -> None:
    text = (CHECKOUT / "specs" / "lab.yaml").read_text(encoding="utf-8")
    entry = builtin_catalogue()["dgx-a100-80g"].model_dump(exclude={"name"}, mode="json")
    entry["model"] = "DGX A100 640GB (site build with 4 TB NVMe)"
    site = yaml.safe_dump({"catalogue": {"dgx-a100-80g-nvme": entry}}, sort_keys=False)
    text = text.replace("nodes:\n", site + "\nnodes:\n", 1)
    text = text.replace("hostname: lab-dgx-04\n    sku: dgx-a100-80g", "hostname: lab-dgx-04\n    sku: dgx-a100-80g-nvme")
    path = tmp_path / "lab.yaml"
    path.write_text(text, encoding="utf-8")
    spec = load_spec(path).spec
    node = spec.node("lab-dgx-04")
    assert spec.sku_of(node).name == "dgx-a100-80g-nvme"
    assert spec.sku_of(node).model.endswith("4 TB NVMe)")
