"""Nodes: the machines of the site, each naming its SKU from the catalogue."""

from __future__ import annotations

from enum import StrEnum
from ipaddress import IPv4Address

from pydantic import Field, model_validator

from components.spec.base import Name, SpecModel


class NodeRole(StrEnum):
    gpu_node = "gpu_node"
    subnet_manager = "subnet_manager"
    kube_control_plane = "kube_control_plane"
    kube_node = "kube_node"
    etcd = "etcd"
    inference_local = "inference_local"


class SshPin(SpecModel):
    """How the node's SSH host key is pinned: the key itself, or a known_hosts file that holds it."""

    user: str = Field("root", description="Automation user podforge logs in as.")
    port: int = Field(22, ge=1, le=65535, description="SSH port (22; another needs port_exception).")
    port_exception: str | None = Field(None, description="Why sshd listens on a port other than 22 (required then).")
    host_key: str | None = Field(None, pattern=r"^(ssh-ed25519|ecdsa-sha2-nistp\d+|ssh-rsa) [A-Za-z0-9+/=]+$",
                                 description="Public host key, `TYPE BASE64`.")
    known_hosts: str | None = Field(None, description="known_hosts file (relative to the project root) "
                                                      "holding the node's key under its management address.")

    @model_validator(mode="after")
    def _one_pin(self) -> SshPin:
        if (self.host_key is None) == (self.known_hosts is None):
            raise ValueError("exactly one of host_key or known_hosts (host keys are pinned, never ignored)")
        return self


class Node(SpecModel):
    hostname: Name = Field(description="Host name (a DNS label); names the node's resources.")
    sku: Name = Field(description="Catalogue entry (e.g. dgx-a100-80g).")
    serial: str = Field(min_length=1, description="Chassis serial number.")
    roles: list[NodeRole] = Field(min_length=1, description="What the node does: gpu_node, subnet_manager, "
                                  "kube_control_plane, kube_node, etcd, inference_local.")
    management_address: IPv4Address = Field(description="Address on the management network; SSH goes here.")
    bmc: str = Field(pattern=r"^redfish://[^/\s]+(/\S*)?$",
                     description="Redfish endpoint of the BMC, `redfish://HOST[:PORT]/redfish/v1/Systems/ID`.")
    inband_address: IPv4Address | None = Field(None, description="Address on the in-band network.")
    storage_address: IPv4Address | None = Field(None, description="Address on the storage network.")
    ssh: SshPin = Field(description="How podforge logs in and how the host key is pinned.")
    rack: str | None = Field(None, description="Rack and unit, for people (e.g. B07-U12).")

    @property
    def bmc_host(self) -> str:
        return self.bmc.removeprefix("redfish://").split("/", 1)[0].rsplit(":", 1)[0]
