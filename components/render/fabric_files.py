"""Fabric config files rendered from the spec: opensm.conf and partitions.conf per InfiniBand fabric, each node's
/etc/nccl.conf, /etc/ucx/ucx.conf and IPoIB files (components/render/netplan.py). Pure functions of the spec; the
opensm, nccl and doca_ofed roles install what these return.
"""

from __future__ import annotations

from components.render.environment import render
from components.render.netplan import ipoib_files
from components.spec.cluster import ClusterSpec
from components.spec.fabric import Fabric, Partition
from components.spec.nodes import Node

OPENSM_DIR = "/etc/opensm"
NCCL_CONF = "/etc/nccl.conf"
# UCX reads `{prefix}/etc/ucx/ucx.conf`, environment variables taking precedence (openucx/ucx docs/source/faq.md,
# "UCX configuration file"; the file holds `UCX_NAME=value` lines as `ucx_info -Cf` prints them). UCX comes with
# DOCA-OFED ("UCX runtime libraries are installed as part of the DOCA installation", NVIDIA DOCA documentation,
# "DOCA UCX"); distribution packages built for prefix /usr ship the file as /etc/ucx/ucx.conf (the Arch Linux
# ucx package's file list) — quality: secondary for DOCA's own package layout, which podforge could not read.
UCX_CONF = "/etc/ucx/ucx.conf"
DEFAULT_PKEY = 0x7FFF
NCCL_PKEY_INDEX = 0
"""NCCL_IB_PKEY, the P_Key *index* of NCCL's queue pairs (NVIDIA/nccl src/transport/net_ib.cc: `NCCL_PARAM(IbPkey,
"IB_PKEY", 0)`, `qpAttr.pkey_index = ncclParamIbPkey()`): index 0, where OpenSM puts the default partition and
the IPoIB driver takes its parent interface's P_Key from (Linux ipoib.rst). The spec check keeps the nodes full
members of it. Another partition's index in a port's P_Key table is OpenSM's choice at run time
(/sys/class/infiniband/<dev>/ports/1/pkeys/<n> shows it), so podforge cannot name one offline and NCCL stays on
the default partition."""

# IB MTU codes (IBTA MTU enum) that OpenSM's partitions.conf takes as `mtu=`; without it the IPoIB broadcast
# group is created at 2048 and the spec's 4096 would not take effect.
IB_MTU_CODES = {256: 1, 512: 2, 1024: 3, 2048: 4, 4096: 5}


def opensm_conf_path(fabric: Fabric) -> str:
    """Where the opensm role installs a fabric's opensm.conf (one OpenSM instance, one directory per fabric)."""
    return f"{OPENSM_DIR}/{fabric.name}/opensm.conf"


def partitions_conf_path(fabric: Fabric) -> str:
    return f"{OPENSM_DIR}/{fabric.name}/partitions.conf"


def _infiniband(fabric: Fabric) -> None:
    if fabric.transport != "infiniband":
        raise ValueError(f"fabric {fabric.name} is {fabric.transport}: OpenSM runs only on InfiniBand fabrics")


def sm_port_device(spec: ClusterSpec, fabric: Fabric, host: str) -> str:
    """The HCA an OpenSM instance of `host` binds to: the host's first HCA cabled into `fabric`, in spec order."""
    devices = list(fabric.cables_by_node.get(host, {}))  # in spec order
    if not devices:
        raise ValueError(f"{host} has no HCA cabled into fabric {fabric.name} (fabrics[].node_links): "
                         f"a subnet manager needs a port on its fabric")
    return devices[0]


def render_opensm_conf(spec: ClusterSpec, fabric: Fabric, host: str) -> str:
    """opensm.conf of `host`'s OpenSM instance on `fabric`, with the host's sm_priority from the spec."""
    _infiniband(fabric)
    manager = next((sm for sm in fabric.subnet_managers if sm.host == host), None)
    if manager is None:
        hosts = ", ".join(sm.host for sm in fabric.subnet_managers) or "none"
        raise ValueError(f"{host} is not a subnet manager of fabric {fabric.name} (subnet managers: {hosts})")
    return render("opensm.conf.j2", fabric_name=fabric.name, purpose=fabric.purpose.value,
                  rate_gbps=fabric.rate_gbps, host=host, port_device=sm_port_device(spec, fabric, host),
                  sm_priority=manager.priority, routing_engine=fabric.routing_engine, lmc=fabric.lmc,
                  sminfo_polling_timeout=fabric.sminfo_polling_timeout_ms,
                  polling_retry_number=fabric.polling_retry_number,
                  partition_config_file=partitions_conf_path(fabric), log_file=f"/var/log/opensm-{fabric.name}.log")


def _partition_entry(fabric: Fabric, partition: Partition) -> dict[str, str]:
    if partition.members != "ALL" and partition.members != fabric.purpose.value:
        # Members are written as ALL (port GUIDs are unknown offline); on a fabric of the other purpose that
        # would put the wrong HCAs in the partition.
        raise ValueError(f"fabric {fabric.name} ({fabric.purpose.value}): partition {partition.name} has members "
                         f"{partition.members}, which this fabric has no ports of")
    flags = []
    if partition.ipoib:
        flags.append("ipoib")
        if fabric.mtu in IB_MTU_CODES:
            flags.append(f"mtu={IB_MTU_CODES[fabric.mtu]}")
    flags.append(f"defmember={partition.membership}")
    members = ["ALL"]
    if partition.pkey == DEFAULT_PKEY:
        members.append("ALL_SWITCHES=full")
    members.append("SELF=full")
    return {"name": partition.name, "pkey": f"0x{partition.pkey:04x}", "flags": ", ".join(flags),
            "members": ", ".join(members)}


def render_partitions_conf(spec: ClusterSpec, fabric: Fabric) -> str:
    """partitions.conf of `fabric`; the same on every subnet manager of that fabric."""
    _infiniband(fabric)
    return render("partitions.conf.j2", fabric_name=fabric.name, purpose=fabric.purpose.value,
                  partitions=[_partition_entry(fabric, p) for p in fabric.partitions])


def nccl_ib_hca(spec: ClusterSpec, node: Node) -> str:
    """NCCL_IB_HCA's value: the node's compute HCAs in rail order, port 1 each, exact names (`=` prefix)."""
    hcas = sorted(spec.sku_of(node).compute_hcas, key=lambda h: (h.rail is None, h.rail or 0))
    return ",".join(f"{h.device}:1" for h in hcas)


def nccl_socket_ifname(spec: ClusterSpec) -> str | None:
    """The interface NCCL bootstraps over: the in-band data network's, else the management network's.

    NCCL's socket traffic (bootstrap, and the fallback transport) is data-plane traffic between nodes, which the
    in-band network carries; the management network is for automation and is used only where no in-band
    interface is named (the lab has one network).
    """
    return spec.networks.inband.interface or spec.networks.management.interface


def render_nccl_conf(spec: ClusterSpec, node: Node) -> str:
    fabric = spec.compute_fabric()
    gid_index = fabric.roce_gid_index if fabric is not None and fabric.transport == "roce" else None
    ib_hca = nccl_ib_hca(spec, node)
    pkey_index = NCCL_PKEY_INDEX if ib_hca and fabric is not None and fabric.transport == "infiniband" else None
    return render("nccl.conf.j2", hostname=node.hostname, sku_model=spec.sku_of(node).model,
                  ib_hca=ib_hca, gid_index=gid_index, pkey_index=pkey_index, socket_ifname=nccl_socket_ifname(spec))


def ucx_net_devices(spec: ClusterSpec, node: Node) -> str:
    """UCX_NET_DEVICES's value: the node's compute HCAs in rail order, port 1 each (`mlx5_0:1,...`), as NCCL's."""
    return nccl_ib_hca(spec, node)


def render_ucx_conf(spec: ClusterSpec, node: Node) -> str | None:
    """The node's /etc/ucx/ucx.conf, or None for a node without compute HCAs (nothing to restrict UCX to).

    UCX_NET_DEVICES keeps UCX (UCX-based transfer engines, MPI over UCX) on the compute rails, not on the storage
    ports or the management Ethernet (UCX "tries to use all available devices on the machine" by default, FAQ
    "Which network devices does UCX use?"). UCX_TLS is left to UCX: which transports suit depends on the
    application (CUDA ones for GPU buffers), and UCX picks the best reachable ones itself."""
    devices = ucx_net_devices(spec, node)
    if not devices:
        return None
    return (f"# /etc/ucx/ucx.conf for {node.hostname} ({spec.sku_of(node).model}): rendered by podforge from the "
            f"spec; edits are overwritten.\n# The compute HCAs in rail order, port 1 each (the devices NCCL_IB_HCA "
            f"names); an environment variable still wins.\nUCX_NET_DEVICES={devices}\n")


def fabric_files(spec: ClusterSpec, host: str) -> dict[str, str]:
    """Every fabric file `host` gets, keyed by the path the roles install it at."""
    node = spec.node(host)
    files = {NCCL_CONF: render_nccl_conf(spec, node)}
    ucx = render_ucx_conf(spec, node)
    if ucx is not None:
        files[UCX_CONF] = ucx
    files.update(ipoib_files(spec, node))
    for fabric in spec.fabrics:
        if fabric.transport == "infiniband" and any(sm.host == host for sm in fabric.subnet_managers):
            files[opensm_conf_path(fabric)] = render_opensm_conf(spec, fabric, host)
            files[partitions_conf_path(fabric)] = render_partitions_conf(spec, fabric)
    return files


__all__ = ["NCCL_CONF", "NCCL_PKEY_INDEX", "OPENSM_DIR", "UCX_CONF", "fabric_files", "nccl_ib_hca",
           "nccl_socket_ifname", "opensm_conf_path", "partitions_conf_path", "render_nccl_conf", "render_opensm_conf",
           "render_partitions_conf", "render_ucx_conf", "sm_port_device", "ucx_net_devices"]
