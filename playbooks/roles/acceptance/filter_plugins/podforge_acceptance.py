"""Filters of the acceptance role: the all_reduce_perf reading shared by the single-node and the multi-node run, and
the wave's multi-node run (who takes part, mpirun's host list, the floor). Pure functions of their arguments."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

# nccl-tests prints a header line naming the columns ("#  size  count  type  redop  root  time  algbw  busbw  #wrong
# time  algbw  busbw  #wrong", out-of-place then in-place; older releases have no `root`), one data row per message
# size, and "# Out of bounds values : N OK|FAILED" (NVIDIA/nccl-tests src/common.cu; doc/PERFORMANCE.md explains
# busbw). The out-of-place bus bandwidth of the last row, the largest message, is the one held to a floor.
_OOB = re.compile(r"Out of bounds values\s*:\s*(\d+)")
_ROW = re.compile(r"^\s*\d+\s+\d+\s+\S+")


def parse_all_reduce(text: str) -> dict[str, Any]:
    """{largest_bytes, busbw_gbs, wrong, out_of_bounds, rows}: None where the output does not say (a run that died
    before its table, a header without `busbw`)."""
    columns: list[str] = []
    rows: list[list[str]] = []
    for line in text.splitlines():
        if line.lstrip().startswith("#"):
            names = line.lstrip()[1:].split()
            if "busbw" in names and "size" in names:
                columns = names
            continue
        if _ROW.match(line):
            rows.append(line.split())
    found = _OOB.search(text)
    out: dict[str, Any] = {"largest_bytes": None, "busbw_gbs": None, "wrong": None,
                           "out_of_bounds": int(found.group(1)) if found else None, "rows": len(rows)}
    if rows and columns:
        last = rows[-1]
        busbw, wrong = columns.index("busbw"), columns.index("#wrong") if "#wrong" in columns else None
        try:
            out["largest_bytes"] = int(last[columns.index("size")])
            out["busbw_gbs"] = float(last[busbw])
        except (IndexError, ValueError):
            pass
        if wrong is not None and wrong < len(last):
            out["wrong"] = int(last[wrong]) if last[wrong].isdigit() else None
    return out


def _var(hostvars: Mapping[str, Any], host: str, name: str, default: Any = None) -> Any:
    try:
        return hostvars[host][name]
    except (KeyError, TypeError):
        return default
    except Exception:  # Ansible raises its own undefined-variable errors for an unset host var
        return default


def infiniband_hosts(hosts: Iterable[str], hostvars: Mapping[str, Any]) -> list[str]:
    """The hosts, in order, with at least one compute HCA on InfiniBand: the ones a multi-node run can span."""
    return [h for h in hosts
            if any(dict(hca).get("link_layer") == "infiniband" for hca in _var(hostvars, h, "podforge_compute_hcas") or [])]


def multinode_floor(hosts: Iterable[str], hostvars: Mapping[str, Any]) -> float | None:
    """The lowest multi-node floor of the hosts' SKUs; None when there is no host or one SKU declares none."""
    floors = [dict(_var(hostvars, h, "podforge_sku") or {}).get("allreduce_multinode_busbw_floor_gbs") for h in hosts]
    if not floors or any(f is None or f == "" for f in floors):
        return None
    return min(float(f) for f in floors)


def mpirun_hosts(hosts: Iterable[str], hostvars: Mapping[str, Any]) -> str:
    """mpirun's -H list: `address:slots,…`, the inventory address (ansible_host, else the name) and one slot per
    GPU of the host's SKU."""
    parts = []
    for h in hosts:
        address = _var(hostvars, h, "ansible_host") or h
        gpus = dict(_var(hostvars, h, "podforge_sku") or {}).get("gpu_count", 1)
        parts.append(f"{address}:{int(gpus)}")
    return ",".join(parts)


def mpirun_ranks(hosts: Iterable[str], hostvars: Mapping[str, Any]) -> int:
    """mpirun's -np: one rank per GPU of every host."""
    return sum(int(dict(_var(hostvars, h, "podforge_sku") or {}).get("gpu_count", 1)) for h in hosts)


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"podforge_all_reduce": parse_all_reduce, "podforge_infiniband_hosts": infiniband_hosts,
                "podforge_multinode_floor": multinode_floor, "podforge_mpirun_hosts": mpirun_hosts,
                "podforge_mpirun_ranks": mpirun_ranks}
