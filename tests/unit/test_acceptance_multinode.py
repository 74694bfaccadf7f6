"""The acceptance gate's multi-node all-reduce, run by ansible-playbook --check on two local hosts (a wave of two
GPU nodes): mpirun is a stand-in that records its command line and prints canned all_reduce_perf output, so the
host list, the rank count, the parsing and the floor are the role's own logic. Also the shared parser
(filter_plugins/podforge_acceptance.py) read directly."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.unit.test_roles_behaviour import ALL_REDUCE, HEALTHY_PORT, fake_node

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
PLUGIN = ROOT / "playbooks" / "roles" / "acceptance" / "filter_plugins" / "podforge_acceptance.py"


def _plugin() -> Any:
    spec = importlib.util.spec_from_file_location("podforge_acceptance", PLUGIN)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


acceptance = _plugin()

# nccl-tests 2.17-style output of a 16-rank run, one GPU per rank (two nodes); {busbw} is filled in.
MULTINODE = ALL_REDUCE.replace("nGpus 8", "nGpus 1")


def run_wave(tmp: Path, variables: dict[str, Any], mpirun_rc: int = 0, busbw: str = "185.20") -> dict[str, Any]:
    """ansible-playbook --check of the acceptance role on a wave of two local hosts; the json callback's result."""
    (tmp / "multinode.txt").write_text(MULTINODE.format(busbw=busbw, oob="0"))
    mpirun = tmp / "mpirun"
    mpirun.write_text(f"#!/bin/sh\necho \"$@\" > {tmp / 'mpirun.args'}\ncat {tmp / 'multinode.txt'}\n"
                      f"[ {mpirun_rc} -eq 0 ] || echo 'ORTE was unable to reach one of the remote nodes' >&2\n"
                      f"exit {mpirun_rc}\n")
    mpirun.chmod(0o755)
    hosts = {name: {"ansible_connection": "local", "ansible_host": address, "ansible_python_interpreter": sys.executable}
             for name, address in (("dgx-01", "10.0.0.1"), ("dgx-02", "10.0.0.2"))}
    (tmp / "hosts.yml").write_text(yaml.safe_dump({"all": {"hosts": hosts}}))
    play = [{"name": "acceptance of a wave", "hosts": "all", "gather_facts": True,
             "gather_subset": ["!all", "min", "virtual"], "max_fail_percentage": 0, "roles": [{"role": "acceptance"}]}]
    (tmp / "play.yml").write_text(yaml.safe_dump(play))
    (tmp / "vars.json").write_text(json.dumps({**variables, "acceptance_mpirun_binary": str(mpirun)}))
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
           "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json",
           "ANSIBLE_LOCALHOST_WARNING": "False", "ANSIBLE_INVENTORY_UNPARSED_WARNING": "False"}
    done = subprocess.run([str(BIN / "ansible-playbook"), "--check", "-i", str(tmp / "hosts.yml"), "-e",
                           f"@{tmp / 'vars.json'}", str(tmp / "play.yml")], capture_output=True, text=True, env=env,
                          timeout=300, check=False)
    start = done.stdout.find("{")
    assert start >= 0, done.stdout + done.stderr
    return json.loads(done.stdout[start:])


def failures(result: dict[str, Any]) -> int:
    return sum(s["failures"] for s in result["stats"].values())


def messages(result: dict[str, Any], key: str = "msg") -> list[str]:
    return [str(r.get(key, "")) for p in result["plays"] for t in p["tasks"] for r in t["hosts"].values()]


def wave(tmp: Path, floor: float | None) -> dict[str, Any]:
    variables = fake_node(tmp, ports={"mlx5_0": HEALTHY_PORT, "mlx5_1": HEALTHY_PORT})
    variables["podforge_sku"] = {**variables["podforge_sku"], "allreduce_multinode_busbw_floor_gbs": floor}
    variables["acceptance_busbw_floor_gbs"] = None  # the single-node run is the other test module's
    return variables


def test_a_wave_of_two_nodes_runs_one_all_reduce_across_both(tmp_path: Path) -> None:
    result = run_wave(tmp_path, wave(tmp_path, 150))
    assert failures(result) == 0, messages(result)
    args = (tmp_path / "mpirun.args").read_text().split()
    assert args[args.index("-np") + 1] == "16"
    assert args[args.index("-H") + 1] == "10.0.0.1:8,10.0.0.2:8"
    assert args[args.index("-g") + 1] == "1" and "--allow-run-as-root" in args
    assert any("across 2 nodes: bus bandwidth 185.2 GB/s (floor 150" in m for m in messages(result))


@pytest.mark.parametrize(("floor", "rc", "named"), [
    (190, 0, "bus bandwidth 185.2 GB/s at the largest message (floor 190"),
    (None, 1, "(exit 1)"),
])
def test_a_slow_or_broken_multinode_run_fails_the_wave(tmp_path: Path, floor: float | None, rc: int,
                                                       named: str) -> None:
    result = run_wave(tmp_path, wave(tmp_path, floor), mpirun_rc=rc)
    assert failures(result) >= 1
    assert any(named in m for m in messages(result)), messages(result)


def test_without_a_declared_floor_the_run_still_checks_the_results(tmp_path: Path) -> None:
    result = run_wave(tmp_path, wave(tmp_path, None), busbw="12.00")
    assert failures(result) == 0, messages(result)
    assert any("bus bandwidth 12.0 GB/s (floor none declared)" in m for m in messages(result))


def test_in_the_lab_the_multinode_run_is_simulated_unless_marked_failing(tmp_path: Path) -> None:
    variables = {"acceptance_simulated": True, "acceptance_simulated_failure_file": str(tmp_path / "absent"),
                 "acceptance_simulated_multinode_failure_file": str(tmp_path / "absent-too"),
                 "podforge_versions": {"nccl_tests": "2.13.6"},
                 "podforge_compute_hcas": [{"device": "mlx5_0", "rate_gbps": 200, "link_layer": "infiniband"}],
                 "podforge_sku": {"name": "dgx-a100-80g", "gpu_count": 8, "allreduce_busbw_floor_gbs": 200}}
    passed = run_wave(tmp_path, variables)
    assert failures(passed) == 0, messages(passed)
    assert any(m.startswith("simulated: ") and "-np 16 -H 10.0.0.1:8,10.0.0.2:8" in m for m in messages(passed))
    assert not (tmp_path / "mpirun.args").exists()
    marked = run_wave(tmp_path, {**variables, "acceptance_simulated_multinode_failure": "rail 3 partitioned"})
    assert failures(marked) == 1
    assert any("multi-node all_reduce_perf failed (marked failing): rail 3 partitioned" in m for m in messages(marked))


def test_the_parser_reads_the_largest_message_and_the_out_of_bounds_count() -> None:
    read = acceptance.parse_all_reduce(ALL_REDUCE.format(busbw="406.71", oob="0"))
    assert read == {"largest_bytes": 1073741824, "busbw_gbs": 406.71, "wrong": 0, "out_of_bounds": 0, "rows": 3}
    assert acceptance.parse_all_reduce(ALL_REDUCE.format(busbw="1.5", oob="7"))["out_of_bounds"] == 7


def test_the_parser_says_nothing_it_cannot_read() -> None:
    """A run that died before its table (e.g. NCCL failed to init) yields no bandwidth and no out-of-bounds count."""
    died = "# nThread 1 nGpus 1 minBytes 8\nNCCL WARN NET/IB : No device found.\n"
    assert acceptance.parse_all_reduce(died) == {"largest_bytes": None, "busbw_gbs": None, "wrong": None,
                                                 "out_of_bounds": None, "rows": 0}


def test_the_parser_finds_busbw_by_its_column_in_the_older_layout() -> None:
    """Releases before the `root` column: busbw is the 7th column, not the 8th."""
    old = ("#       size    count   type   redop    time   algbw   busbw  error     time   algbw   busbw  error\n"
           "   1073741824 268435456  float     sum   4620.1  232.40  180.50  0e+00   4615.3  232.65  181.00  0e+00\n"
           "# Out of bounds values : 0 OK\n")
    assert acceptance.parse_all_reduce(old)["busbw_gbs"] == 180.5


def test_the_wave_helpers_pick_infiniband_nodes_their_floor_and_mpirun_hosts() -> None:
    ib = {"link_layer": "infiniband"}
    hostvars = {"a": {"ansible_host": "10.0.0.1", "podforge_compute_hcas": [ib],
                      "podforge_sku": {"gpu_count": 8, "allreduce_multinode_busbw_floor_gbs": 180}},
                "b": {"podforge_compute_hcas": [ib], "podforge_sku": {"gpu_count": 8,
                                                                      "allreduce_multinode_busbw_floor_gbs": 170.5}},
                "c": {"podforge_compute_hcas": [{"link_layer": "ethernet"}], "podforge_sku": {"gpu_count": 8}},
                "d": {"podforge_sku": {"gpu_count": 1}}}
    assert acceptance.infiniband_hosts(["a", "b", "c", "d"], hostvars) == ["a", "b"]
    assert acceptance.multinode_floor(["a", "b"], hostvars) == 170.5
    assert acceptance.multinode_floor(["a", "c"], hostvars) is None  # c's SKU declares none
    assert acceptance.multinode_floor([], hostvars) is None
    assert acceptance.mpirun_hosts(["a", "b"], hostvars) == "10.0.0.1:8,b:8"
    assert acceptance.mpirun_ranks(["a", "b", "d"], hostvars) == 17
