"""`podforge policy check`: the policy packs' own pulumi_policy objects run over the captured graph, offline.

`load_packs` imports the rules of `policies/<pack>/rules` (never the packs' `__main__`, which starts a
server); `evaluate` calls each ResourceValidationPolicy on every captured resource and each
StackValidationPolicy on the whole graph, exactly as the Pulumi analyzer would; the formats turn the result
into text, JSON, JUnit XML, SARIF 2.1.0 or an auditor's evidence report.
"""

from components.policy.config import PolicySettings, load_policy_config
from components.policy.evaluate import Evaluation, Finding, Outcome, evaluate
from components.policy.packs import PACKS, Pack, load_packs

__all__ = ["PACKS", "Evaluation", "Finding", "Outcome", "Pack", "PolicySettings", "evaluate", "load_packs",
           "load_policy_config"]
