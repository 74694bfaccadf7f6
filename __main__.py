"""The Pulumi program: stack config → validated spec → GpuCluster → exports (keep it a screenful).

`pulumi preview/up` runs it with the stack's config; `podforge plan` runs the same file under the SDK's
mock runtime. Secrets (`podforge:sshPrivateKey`) stay Pulumi secrets; podforge never decrypts them.
"""

import pulumi

from components.cluster import GpuCluster, GpuClusterArgs, InvalidSpecError
from components.spec import SpecError, load_spec

config = pulumi.Config("podforge")
try:
    spec = load_spec(config.require("spec")).spec
except SpecError as exc:
    raise InvalidSpecError(exc) from None

cluster = GpuCluster(spec.site.name, GpuClusterArgs.from_spec(
    spec, ssh_private_key=config.get_secret("sshPrivateKey"), ssh_private_key_file=config.get("sshPrivateKeyFile")))

pulumi.export("site", spec.site.name)
pulumi.export("managementAddresses", cluster.management_addresses)
pulumi.export("subnetManagers", {name: fabric.subnet_managers for name, fabric in cluster.fabrics.items()})
pulumi.export("partitions", {name: fabric.partitions for name, fabric in cluster.fabrics.items()})
pulumi.export("kmipScopes", cluster.keys.kmip_scopes)
