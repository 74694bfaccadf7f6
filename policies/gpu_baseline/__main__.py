"""Entry point of the gpu-baseline pack: `pulumi preview --policy-pack policies/gpu_baseline` runs this file.

Building the PolicyPack starts the analyzer's gRPC server and blocks, so it is built here and nowhere else;
`podforge policy check` imports `policies.gpu_baseline.rules` and calls the same policy objects.
"""

import sys
from pathlib import Path

# The analyzer runs this file with the pack directory as its working directory. Two levels up is the directory
# holding the `policies` package (shared rule helpers) and `components`: a checkout, or site-packages.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from pulumi_policy import EnforcementLevel, PolicyPack

from policies.gpu_baseline.rules import DESCRIPTION, PACK, POLICIES

PolicyPack(name=PACK, policies=POLICIES, enforcement_level=EnforcementLevel.MANDATORY, description=DESCRIPTION)
