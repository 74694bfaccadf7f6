"""The standard ports of the protocols the spec names a port for, each with its source.

A spec may put a service on another port only with a declared `port_exception` saying why (checks.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit


@dataclass(frozen=True)
class StandardPort:
    protocol: str
    port: int
    source: str


SSH = StandardPort("SSH", 22, "RFC 4253 section 4.1")
# "the server normally listens for connections on port 22" (RFC 4253, 4.1); IANA service name `ssh`.
KMIP = StandardPort("KMIP", 5696, "IANA service name kmip, 5696/tcp")
# IANA Service Name and Transport Protocol Port Number Registry: kmip 5696/tcp (OASIS KMIP over TLS).
VAULT = StandardPort("the Vault API", 8200, "Vault's tcp listener default, 127.0.0.1:8200")
# https://developer.hashicorp.com/vault/docs/configuration/listener/tcp: `address` (default "127.0.0.1:8200").
NFS = StandardPort("NFS over TCP", 2049, "IANA service name nfs, 2049/tcp")
# The registered port RFC 3530/7530 make NFSv4's default, so clients need no rpcbind (Linux substitutes it for
# port=0: kernel commit "NFSv4: When mounting with a port=0 argument, substitute port=2049").
NFS_RDMA = StandardPort("NFS over RDMA", 20049, "RFC 8267 section 6.3")
# RFC 8267 6.3: NFSv4 clients use "the alternative well-known port number" 20049 for RPC-over-RDMA (IANA
# service name `nfsrdma`); Linux made it the default for proto=rdma for that reason.


def url_port(url: str) -> int | None:
    """The port of an `https://HOST[:PORT]/…` URL, 443 when it names none; None when the port is not a number."""
    try:
        port = urlsplit(url).port
    except ValueError:
        return None
    return 443 if port is None else port


GPU_NODE_PORTS = {5555: "nv-hostengine (DCGM)", 9100: "the node exporter", 9400: "dcgm-exporter"}
"""Ports the dcgm role's services listen on on every gpu_node (playbooks/roles/dcgm/defaults/main.yml:
dcgm_exporter_hostengine, dcgm_node_exporter_listen, dcgm_exporter_listen); a serving engine cannot take them."""
