"""NCCL check: /etc/nccl.conf names the node's compute HCAs in rail order (and the RoCE GID index)."""

from __future__ import annotations

from components.verify.checks import Check, Outcome, bad, ok, unneeded
from components.verify.expectations import NodeExpectation
from components.verify.nccl_conf import ib_hca_devices, parse_nccl_conf
from components.verify.shell import NodeShell

NCCL_CONF = "/etc/nccl.conf"


def nccl_conf(shell: NodeShell, expect: NodeExpectation) -> Outcome:
    if not expect.gpu_node:
        return unneeded(f"{expect.hostname} has no gpu_node role")
    text = shell.read(NCCL_CONF)
    if text is None:
        return bad(f"{NCCL_CONF} absent (the nccl role installs it on every gpu_node; not provisioned?)")
    settings = parse_nccl_conf(text)
    want = [h.device for h in expect.compute_hcas]
    problems = []
    if want:
        exclude, devices = ib_hca_devices(settings.get("NCCL_IB_HCA", ""))
        if exclude or devices != want:
            problems.append(f"NCCL_IB_HCA={settings.get('NCCL_IB_HCA', '')!r}, expected the compute HCAs in rail "
                            f"order {','.join(want)}")
    elif "NCCL_IB_HCA" in settings:
        problems.append(f"NCCL_IB_HCA={settings['NCCL_IB_HCA']!r} names HCAs, but {expect.sku.name} has none")
    if expect.roce_gid_index is not None and settings.get("NCCL_IB_GID_INDEX") != str(expect.roce_gid_index):
        problems.append(f"NCCL_IB_GID_INDEX={settings.get('NCCL_IB_GID_INDEX')!r}, expected {expect.roce_gid_index}")
    if problems:
        return bad("; ".join(problems))
    return ok(f"{NCCL_CONF}: {len(settings)} setting(s); "
              + (f"NCCL_IB_HCA in rail order ({','.join(want)})" if want else "no HCA named (the SKU has none)"))


CHECKS = (
    Check("nccl", "nccl_conf", "/etc/nccl.conf names the compute HCAs in rail order", nccl_conf),
)
