"""A short human summary of a valid spec (what `make demo` prints)."""

from __future__ import annotations

from collections import Counter

from components.spec.cluster import ClusterSpec


def summary(spec: ClusterSpec) -> str:
    skus = Counter(n.sku for n in spec.nodes)
    gpus = sum(spec.sku_of(n).gpu.count for n in spec.nodes)
    roles = Counter(r.value for n in spec.nodes for r in n.roles)
    lines = [
        f"site {spec.site.name} — {spec.site.location}{' (lab)' if spec.site.lab else ''}",
        f"  nodes     {len(spec.nodes)} ({', '.join(f'{c}× {s}' for s, c in sorted(skus.items()))}), {gpus} GPUs",
        f"  roles     {', '.join(f'{r} {c}' for r, c in sorted(roles.items()))}",
    ]
    for fabric in spec.fabrics:
        lines.append(
            f"  fabric    {fabric.name} ({fabric.purpose.value}, {fabric.transport}, {fabric.rate_gbps} Gb/s): "
            f"{len(fabric.leaves())} leaf, {len(fabric.spines())} spine, {len(fabric.node_links)} node cables, "
            f"{len(fabric.switch_links)} uplinks, SM {', '.join(f'{s.host}@{s.priority}' for s in fabric.subnet_managers)}, "
            f"PKeys {', '.join(hex(p.pkey) for p in fabric.partitions)}")
    for array in spec.storage.arrays:
        lines.append(f"  storage   {array.name} ({array.vendor.value} {array.model}, {array.rated_iops:,} IOPS): "
                     f"{', '.join(f'{e.name} [{e.protocol.value}]' for e in array.exports)}"
                     f"{', KMIP' if array.encryption.external_kmip else ''}")
    vault = spec.keys.vault
    lines.append(f"  keys      Vault {vault.address}: KMIP {len(vault.kmip.scopes)} scope(s), transit "
                 f"{', '.join(f'{k.name}/{k.rotation_period}' for k in vault.transit.keys)}, PKI {vault.pki.cert_ttl}")
    sw = spec.software
    lines.append(f"  software  driver {sw.driver.version} = fabric manager {sw.fabric_manager.version}, "
                 f"DOCA-OFED {sw.doca_ofed.version}, NCCL {sw.nccl.version}, DCGM {sw.dcgm.version}"
                 + (f" + exporter {sw.dcgm_exporter.version}" if sw.dcgm_exporter else ""))
    lines.append(f"  access    {len(spec.access.roles)} roles, {len(spec.access.administrators)} administrators")
    waves = spec.waves()
    lines.append(f"  rollout   {len(waves)} waves of ≤ {len(waves[0])} node(s)"
                 + (f"; DR {spec.dr_site.name} at {spec.dr_site.latency_ms:g} ms" if spec.dr_site else ""))
    if spec.serving:
        s = spec.serving
        lines.append(f"  serving   {s.engine} {s.model.name} TP {s.tensor_parallel_size}, max_model_len {s.max_model_len}")
    return "\n".join(lines)
