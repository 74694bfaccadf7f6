"""The intended cabling of a fabric and its comparison with a discovered one. Pure (floor 1), except `live`.

- `intent`: the spec's cables as port pairs (every node HCA to its leaf port, every leaf uplink to its spine
  port) and the link speed the spec implies.
- `netlist`: that cabling as an ibsim netlist (the ibnetdiscover-compatible format the OFA fabric simulator
  loads), node descriptions `HOST DEVICE` for HCAs and the switch name for switches.
- `discovered`: `ibnetdiscover` output parsed into nodes and links.
- `compare`: intent against discovery, one line a technician can act on per problem.
- `node`: one node's view of the comparison (does each HCA reach the leaf port the spec names).
- `live` (floor 2): runs `ibnetdiscover` on this machine.
"""
