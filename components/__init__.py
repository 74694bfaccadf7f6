"""podforge: one typed description of a bare-metal GPU cluster, rendered into Pulumi resources,
Ansible runs and policy checks.

Import the components from their modules (`from components.cluster import GpuCluster`); this package
stays light so that `podforge validate` never loads the Pulumi SDK.
"""
