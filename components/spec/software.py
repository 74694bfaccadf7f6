"""The one versions set every node gets, each package with its source."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from components.spec.base import Name, SpecModel


class PackageSource(SpecModel):
    name: Name
    kind: Literal["vendor", "mirror"] = Field(description="Vendor repository or the site's offline mirror.")
    url: str = Field(pattern=r"^(https?|file)://\S+$")
    suite: str | None = Field(None, description="APT suite, e.g. `./` for flat repositories.")


class Pinned(SpecModel):
    version: str = Field(min_length=1)
    source: Name = Field(description="Name of an entry in software.sources.")


class Driver(Pinned):
    branch: str = Field(pattern=r"^\d{3}$", description="Driver branch, e.g. 535.")


class Software(SpecModel):
    os: Literal["ubuntu-22.04", "ubuntu-24.04", "dgx-os-6", "dgx-os-7", "debian-12"] = "ubuntu-22.04"
    sources: list[PackageSource] = Field(min_length=1)
    driver: Driver
    fabric_manager: Pinned
    doca_ofed: Pinned
    nccl: Pinned
    nccl_tests: Pinned
    container_toolkit: Pinned
    dcgm: Pinned
