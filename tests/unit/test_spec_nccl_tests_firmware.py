"""The spec's nccl-tests source pin (url, sha256, multi-node floors per SKU) and firmware versions per SKU: what
validates, and the one line each mistake gives (FILE:LINE: field.path: value — expected …)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from components.cli import main
from components.spec import load_stack_spec
from components.spec.cluster import ClusterSpec
from components.spec.software import nccl_tests_vars, sku_acceptance_vars
from tests.unit.plan_roots import CHECKOUT

SUPERPOD = CHECKOUT / "specs" / "superpod.yaml"
SHA = "52b472a58a4918d3221a9b8c4bd9335382643d7e241983918b64692d685cc3d1"
PIN = f"    sha256: {SHA}\n"


def _validate(tmp_path: Path, capsys: pytest.CaptureFixture[str], old: str, new: str) -> tuple[int, list[str], Path]:
    text = SUPERPOD.read_text(encoding="utf-8")
    assert text.count(old) == 1, old
    path = tmp_path / "superpod.yaml"
    path.write_text(text.replace(old, new), encoding="utf-8")
    code = main(["validate", "--spec", str(path)])
    return code, capsys.readouterr().err.splitlines(), path


def _line(path: Path, needle: str) -> int:
    text = path.read_text(encoding="utf-8")
    return text[:text.index(needle)].count("\n") + 1


def test_declared_firmware_and_floors_validate_and_reach_the_role_vars(tmp_path: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    code, lines, path = _validate(tmp_path, capsys, PIN, PIN + "    multinode_busbw_floor_gbs: {dgx-a100-80g: 150}\n"
                                  "  firmware:\n    dgx-a100-80g: {gpu_vbios: 92.00.45.00.06, compute_hca: 20.39.1002}\n")
    assert code == 0, lines
    spec = ClusterSpec.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
    got = sku_acceptance_vars(spec.software, "dgx-a100-80g")
    assert got == {"firmware": {"gpu_vbios": "92.00.45.00.06", "compute_hca": "20.39.1002", "storage_hca": None},
                   "allreduce_multinode_busbw_floor_gbs": 150.0}
    assert sku_acceptance_vars(spec.software, "other") == {
        "firmware": {"gpu_vbios": None, "compute_hca": None, "storage_hca": None},
        "allreduce_multinode_busbw_floor_gbs": None}


def test_the_example_pins_the_tarball_and_declares_nothing_unsourced() -> None:
    sw = load_stack_spec("superpod")[1].spec.software
    assert nccl_tests_vars(sw) == {"version": "2.13.6", "sha256": SHA,
                                   "url": "http://mirror.su1.bank.internal/artifacts/nccl-tests-2.13.6.tar.gz"}
    assert sw.firmware == {} and sw.nccl_tests.multinode_busbw_floor_gbs == {}


@pytest.mark.parametrize(("old", "new", "at", "field", "expected"), [
    (PIN, "    sha256: 52B472\n", "52B472", "software.nccl_tests.sha256", "expected"),
    (PIN, PIN.replace("sha256", "sha512"), "sha512", "software.nccl_tests", "sha256"),
    ("    version: 2.13.6\n", "    version: v2.13.6\n", "version: v2.13.6", "software.nccl_tests.version", "expected"),
    (PIN, PIN + "  firmware:\n    dgx-h100: {gpu_vbios: 96.00.74.00.01}\n", "dgx-h100",
     "software.firmware.dgx-h100", "the SKU of a GPU node of this spec"),
    (PIN, PIN + "    multinode_busbw_floor_gbs: {dgx-a100-80g: 0}\n", "dgx-a100-80g: 0",
     "software.nccl_tests.multinode_busbw_floor_gbs.dgx-a100-80g", "greater than 0"),
])
def test_a_bad_pin_or_a_firmware_entry_for_no_gpu_sku_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                                   old: str, new: str, at: str, field: str,
                                                                   expected: str) -> None:
    code, lines, path = _validate(tmp_path, capsys, old, new)
    assert code == 2
    head = f"{path}:{_line(path, at)}: {field}"
    matching = [text for text in lines if text.startswith(head)]
    assert matching, f"no line starting {head!r} in:\n" + "\n".join(lines)
    assert any(expected in text for text in matching), "\n".join(matching)
