"""The intended cabling of a fabric as an ibsim netlist.

The format is the one ibsim reads (linux-rdma/ibsim, net-examples/net and ibsim/sim_net.c `parse_netconf`;
the Debian package ibsim-utils ships the examples): a record per node, `Switch PORTS "ID" # "DESCRIPTION"` or
`Hca PORTS "ID" # "DESCRIPTION"`, then one line per cabled port, `[PORT] "REMOTE-ID"[REMOTE-PORT]`, records
separated by a blank line. It is the format `ibnetdiscover` prints, so a real fabric's snapshot loads too.

Here every switch of the fabric is a record with the spec's port count; every HCA a node cables into the fabric
is a one-port `Hca` record whose description is `HOST DEVICE`, what rdma-ndd sets on a real node, so the
topology ibnetdiscover reports back maps to the spec by description. Each port line ends with
`# "REMOTE-DESCRIPTION" lid 0 4xHDR` (HCA lines `# lid 0 lmc 0 "REMOTE-DESCRIPTION" lid 0 4xHDR`), the
connection data ibsim reads to set the port's width and speed (sim_net.c `parse_port_connection_data`): the
simulated links come up at the speed the spec's rate implies. Without a known speed that data is left out and
ibsim uses its default (4X SDR).
"""

from __future__ import annotations

from components.cabling.intent import NODE_DESC_MAX, End, expected_speed, hca_end, switch_end
from components.spec.cluster import ClusterSpec
from components.spec.fabric import Fabric

# ibsim keeps a node ID in a 65-byte field (ibsim/sim.h NODEIDLEN), 64 characters at most.
NODE_ID_MAX = 64


def node_id(end: End) -> str:
    """The netlist's ID of the node an end is on: `S-SWITCH`, `H-HOST-DEVICE`."""
    if end.kind == "switch":
        return f"S-{end.name}"
    return "H-" + end.name.replace(" ", "-")


def _description(end: End) -> str:
    return end.name


def _check_lengths(fabric: Fabric) -> None:
    for link in fabric.node_links:
        desc = f"{link.node} {link.hca}"
        if len(desc) > NODE_DESC_MAX or len(node_id(hca_end(link.node, link.hca))) > NODE_ID_MAX:
            raise ValueError(f"fabric {fabric.name}: node description {desc!r} is longer than {NODE_DESC_MAX} "
                             f"characters, which an InfiniBand node description cannot hold")


def render_netlist(spec: ClusterSpec, fabric: Fabric, source: str | None = None) -> str:
    """The ibsim netlist of `fabric`'s intended cabling: switches (spec order), then HCAs (node order).
    `source`: the spec file, named in the header comment."""
    _check_lengths(fabric)
    speed = expected_speed(fabric)
    ports: dict[str, dict[int, End]] = {s.name: {} for s in fabric.switches}
    hcas: dict[str, End] = {}  # HCA name → the switch port its cable reaches
    for link in fabric.node_links:
        hca, port = hca_end(link.node, link.hca), switch_end(link.switch, link.port)
        ports.setdefault(link.switch, {})[link.port] = hca
        hcas[hca.name] = port
    for uplink in fabric.switch_links:
        ports.setdefault(uplink.leaf, {})[uplink.leaf_port] = switch_end(uplink.spine, uplink.spine_port)
        ports.setdefault(uplink.spine, {})[uplink.spine_port] = switch_end(uplink.leaf, uplink.leaf_port)

    def data(remote: End, hca_side: bool) -> str:
        if speed is None:
            return ""
        lid = "lid 0 lmc 0 " if hca_side else ""
        return f"\t\t# {lid}\"{_description(remote)}\" lid 0 {speed}"

    where = f" from {source}" if source else ""
    lines = [f"# ibsim netlist of fabric {fabric.name} ({fabric.purpose.value}, {fabric.rate_gbps} Gb/s){where}, "
             "rendered by podforge from the spec's cabling.",
             "# Load it with `ibsim -s FILE`; HCA node descriptions are `HOST DEVICE`.", ""]
    for switch in fabric.switches:
        lines.append(f'Switch\t{switch.ports} "S-{switch.name}"\t\t# "{switch.name}"')
        for number, remote in sorted(ports.get(switch.name, {}).items()):
            lines.append(f'[{number}]\t"{node_id(remote)}"[{remote.port}]{data(remote, False)}')
        lines.append("")
    for name, port in hcas.items():
        hca = End("hca", name, 1)
        lines.append(f'Hca\t1 "{node_id(hca)}"\t\t# "{name}"')
        lines.append(f'[1]\t"{node_id(port)}"[{port.port}]{data(port, True)}')
        lines.append("")
    del spec
    return "\n".join(lines)
