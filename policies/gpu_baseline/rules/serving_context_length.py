"""The served context length does not exceed the model's max_position_embeddings."""

from __future__ import annotations

from collections.abc import Iterable

from pulumi_policy import EnforcementLevel, ResourceValidationArgs, Severity

from policies.common import types
from policies.common.props import UNKNOWN, get
from policies.common.rule import GPU_BASELINE, Control, ResourceRule


def check(args: ResourceValidationArgs) -> Iterable[str]:
    length, limit = get(args.props, "maxModelLen"), get(args.props, "model", "maxPositionEmbeddings")
    if UNKNOWN in (length, limit) or not isinstance(length, int) or not isinstance(limit, int):
        return
    if length > limit:
        yield f"max_model_len {length} exceeds the model's max_position_embeddings {limit}"


POLICY = ResourceRule(
    name="serving-context-length",
    description="The engine's max_model_len is at most the model's max_position_embeddings (config.json). Source: vLLM "
                "engine arguments (a longer max_model_len is refused or, when forced, gives wrong outputs past the "
                "trained positions).",
    control=Control(GPU_BASELINE, "vLLM engine arguments: max_model_len", ("NIST SP 800-53 CM-6",)),
    severity=Severity.MEDIUM,
    enforcement_level=EnforcementLevel.MANDATORY,
    remediation="lower serving.max_model_len to the model's max_position_embeddings or less",
    resource_types=(types.SERVING,),
    check=check,
    spec_field=("serving", "max_model_len"),
)
