"""The site and its networks (management, BMC, in-band, storage)."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network

from pydantic import Field

from components.spec.base import Name, SpecModel


class Network(SpecModel):
    cidr: IPv4Network = Field(description="Subnet in CIDR notation, e.g. 10.10.0.0/22.")
    gateway: IPv4Address | None = Field(None, description="Default gateway inside the subnet, if any.")
    vlan: int | None = Field(None, ge=1, le=4094, description="802.1Q VLAN id, if tagged.")
    interface: str | None = Field(None, description="Node interface carrying this network (e.g. enp226s0).")


class Networks(SpecModel):
    management: Network = Field(description="Management network: podforge reaches the nodes here (SSH, automation).")
    bmc: Network = Field(description="Baseboard management controllers (Redfish).")
    inband: Network = Field(description="In-band data network (Kubernetes, API traffic).")
    storage: Network = Field(description="Storage network between nodes and arrays.")


class Site(SpecModel):
    name: Name = Field(description="Short site name; prefixes resource names.")
    location: str = Field(description="Where the hall is, for people (city, building, hall).")
    timezone: str = Field("UTC", description="IANA time zone of the site.")
    ntp_servers: list[str] = Field(default_factory=list, description="Time sources the nodes use (chrony).")
    dns_servers: list[IPv4Address] = Field(default_factory=list, description="Resolvers the nodes use.")
    lab: bool = Field(False, description="True only for the local lab hall: hosts are containers, "
                                         "GPU and RDMA steps report 'simulated'.")
