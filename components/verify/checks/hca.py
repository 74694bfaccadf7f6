"""HCA checks: every InfiniBand/RoCE port the SKU lists is ACTIVE at its rate (read from sysfs, no ibstat).

The SKU declares its HCAs: a node without RDMA devices, or without one of them, fails. A lab host has no RDMA
device at all; there the DOCA-OFED stand-in (its `ofed_info`) answers, simulated."""

from __future__ import annotations

from components.verify.checks import Check, Outcome, bad, lab_stand_in, ok, unneeded
from components.verify.expectations import NodeExpectation
from components.verify.infiniband import parse_port_rate, parse_port_state
from components.verify.shell import NodeShell

SYS_INFINIBAND = "/sys/class/infiniband"


def ports_active(shell: NodeShell, expect: NodeExpectation) -> Outcome:
    hcas = expect.compute_hcas + expect.storage_hcas
    if not hcas:
        return unneeded(f"{expect.sku.name} has no InfiniBand or RoCE HCA")
    if expect.lab:
        return lab_stand_in(shell, "ofed_info", f"DOCA-OFED for {len(hcas)} HCA(s)",
                            "no RDMA devices; HCA ports cannot come up in a container")
    listing = shell.run(f"ls -1 {SYS_INFINIBAND}")
    present = set(listing.stdout.split()) if listing.rc == 0 else set()
    if not present:
        return bad(f"no RDMA device ({SYS_INFINIBAND} absent or empty: mlx5_ib/DOCA-OFED not loaded); "
                   f"{expect.sku.name} has {len(hcas)} HCA(s): {', '.join(h.device for h in hcas)}")
    problems = []
    for hca in hcas:
        if hca.device not in present:
            problems.append(f"{hca.device} missing")
            continue
        port = f"{SYS_INFINIBAND}/{hca.device}/ports/1"
        state = parse_port_state(shell.read(f"{port}/state") or "")
        rate = parse_port_rate(shell.read(f"{port}/rate") or "")
        if state != "ACTIVE":
            problems.append(f"{hca.device} port 1 is {state or 'unreadable'}")
        if rate != hca.rate_gbps:
            problems.append(f"{hca.device} port 1 at {rate if rate is not None else '?'} Gb/s, expected {hca.rate_gbps}")
    if problems:
        return bad("; ".join(problems))
    return ok(f"{len(hcas)} HCA port(s) ACTIVE at the SKU's rates ({', '.join(h.device for h in hcas)})")


def firmware(shell: NodeShell, expect: NodeExpectation) -> Outcome:
    """Each HCA's firmware (/sys/class/infiniband/<device>/fw_ver, kernel ABI sysfs-class-infiniband: "Display
    firmware version") equals the version software.firmware declares for its kind on the SKU."""
    declared = [(hca, version) for hcas, version in ((expect.compute_hcas, expect.firmware.compute_hca),
                                                     (expect.storage_hcas, expect.firmware.storage_hca))
                if version is not None for hca in hcas]
    if not declared:
        return unneeded(f"software.firmware declares no HCA firmware for {expect.sku.name}"
                        + ("" if expect.compute_hcas or expect.storage_hcas else " (it has no HCA)"))
    if expect.lab:
        return lab_stand_in(shell, "ofed_info", f"HCA firmware for {len(declared)} HCA(s)",
                            "no RDMA devices; HCA firmware cannot be read in a container")
    problems = []
    for hca, version in declared:
        found = shell.read(f"{SYS_INFINIBAND}/{hca.device}/fw_ver")
        if found is None:
            problems.append(f"{hca.device}: no {SYS_INFINIBAND}/{hca.device}/fw_ver (device missing?)")
        elif found.strip() != version:
            problems.append(f"{hca.device} runs firmware {found.strip()}, the spec declares {version}")
    if problems:
        return bad("; ".join(problems))
    return ok(f"{len(declared)} HCA(s) on their declared firmware "
              f"({', '.join(sorted({v for _, v in declared}))})")


CHECKS = (
    Check("hca", "ports_active", "each HCA of the SKU: port ACTIVE at its rate", ports_active),
    Check("hca", "firmware", "each HCA's fw_ver equals software.firmware.<sku>.compute_hca / storage_hca (where "
                             "declared)", firmware),
)
