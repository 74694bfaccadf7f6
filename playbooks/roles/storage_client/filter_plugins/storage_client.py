"""The storage_client role's plan: from the host's mounts (podforge_mounts) to systemd mount units, the NVMe-oF
discovery lines and `nvme connect` argument lists. Pure functions, so tests call them without Ansible.

Facts used (each with its source):
- NFS over RDMA: mount option `proto=rdma`, port 20049 (nfs(5) `proto`/`port`; RFC 8267 section 6.3; Linux
  fs/nfs: NFS_RDMA_PORT 20049 is the default port for proto=rdma).
- NVMe-oF: `nvme connect --transport --traddr --trsvcid --nqn [--nr-io-queues …]`, I/O port 4420, discovery port
  8009 (tcp) / 4420 (rdma), and /etc/nvme/discovery.conf lines of `nvme discover` options read by
  `nvme connect-all` (nvme-cli v1.16 fabrics.c: fabrics_connect, discover_from_conf_file, discovery_trsvcid).
- The mount unit's name: systemd-escape --path --suffix=mount (systemd.unit(5) "String Escaping for Inclusion in
  Unit Names"): "/" becomes "-", other characters outside [A-Za-z0-9:_.] become \\xNN.
"""

from __future__ import annotations

import re
from typing import Any

NFS_RDMA_PORT = 20049
NVME_IO_PORT = 4420
NVME_DISCOVERY_PORTS = {"tcp": 8009, "rdma": 4420}
NVME_AUTOCONNECT_UNIT = "nvmf-autoconnect.service"
"""nvme-cli's unit that runs `nvme connect-all` from /etc/nvme/discovery.conf at boot (packages.ubuntu.com jammy
nvme-cli file list: /lib/systemd/system/nvmf-autoconnect.service; upstream v1.16 nvmf-autoconnect/systemd)."""


def mount_unit_name(mount_point: str) -> str:
    """systemd-escape --path --suffix=mount: /raid/scratch → raid-scratch.mount, /mnt/a-b → mnt-a\\x2db.mount."""
    path = mount_point.strip("/")
    if not path:
        return "-.mount"
    path = re.sub(r"/+", "/", path)
    escaped = re.sub(r"[^A-Za-z0-9:_./]", lambda m: "".join(f"\\x{b:02x}" for b in m.group().encode()), path)
    if escaped.startswith("."):
        escaped = "\\x2e" + escaped[1:]
    return escaped.replace("/", "-") + ".mount"


def _option_names(options: list[str]) -> set[str]:
    return {o.partition("=")[0].strip() for o in options}


def mount_options(mount: dict[str, Any], base: list[str]) -> list[str]:
    """The spec's options, then what the protocol needs and the spec left out, then the base options; once each."""
    options = list(mount.get("options") or [])
    if mount["protocol"] == "nfs-rdma":
        names = _option_names(options)
        if "proto" not in names and "rdma" not in names:
            options.append("proto=rdma")
        if "port" not in names:
            options.append(f"port={NFS_RDMA_PORT}")
    return list(dict.fromkeys(options + list(base)))


def nvme_connect_args(mount: dict[str, Any], server: str) -> list[str]:
    """`nvme connect` for one portal of an NVMe-oF mount (the spec's nvme_options as --NAME=N)."""
    nvme = mount["nvme"]
    args = ["nvme", "connect", f"--transport={nvme['transport']}", f"--traddr={server}",
            f"--trsvcid={NVME_IO_PORT}", f"--nqn={nvme['nqn']}"]
    return args + [f"--{o}" for o in nvme.get("options") or []]


def discovery_lines(mounts: list[dict[str, Any]]) -> list[str]:
    """/etc/nvme/discovery.conf: one line per NVMe-oF portal (every data address of every NVMe-oF mount), so that
    `nvme connect-all` at boot reaches each subsystem over every portal (native NVMe multipath)."""
    lines: list[str] = []
    for mount in mounts:
        if mount["protocol"] != "nvme-of":
            continue
        nvme = mount["nvme"]
        extra = "".join(f" --{o}" for o in nvme.get("options") or [])
        for server in mount["servers"]:
            line = (f"--transport={nvme['transport']} --traddr={server} "
                    f"--trsvcid={NVME_DISCOVERY_PORTS[nvme['transport']]}{extra}")
            if line not in lines:
                lines.append(line)
    return lines


def storage_client_plan(mounts: list[dict[str, Any]], base_options: list[str], packages: dict[str, list[str]],
                        rdma_packages: list[str]) -> dict[str, Any]:
    """Everything the role does, decided once: packages, units, connect commands, discovery lines."""
    units, connects, wanted = [], [], []
    for mount in mounts:
        protocol = mount["protocol"]
        wanted.extend(packages[protocol])
        nvme = mount.get("nvme")
        if protocol == "nfs-rdma" or (nvme and nvme["transport"] == "rdma"):
            wanted.extend(rdma_packages)
        if protocol == "nvme-of":
            what, fstype, after = f"/dev/disk/by-label/{nvme['label']}", nvme["filesystem"], [NVME_AUTOCONNECT_UNIT]
            connects.extend({"export": mount["export"], "server": s, "nqn": nvme["nqn"],
                             "args": nvme_connect_args(mount, s)} for s in mount["servers"])
        else:
            what, fstype, after = f"{mount['servers'][0]}:{mount['path']}", "nfs", []
        units.append({"export": mount["export"], "protocol": protocol, "unit": mount_unit_name(mount["mount_point"]),
                      "what": what, "where": mount["mount_point"], "type": fstype, "after": after,
                      "options": mount_options(mount, base_options),
                      "label": nvme["label"] if nvme else None,
                      "lab_mountable": protocol == "nfs"})
    return {"packages": list(dict.fromkeys(wanted)), "units": units, "connects": connects,
            "discovery": discovery_lines(mounts), "nvme": any(m["protocol"] == "nvme-of" for m in mounts)}


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"storage_client_plan": storage_client_plan}
