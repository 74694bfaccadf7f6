"""Shared building blocks of the spec: strict models, names, durations."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import BaseModel, ConfigDict, StringConstraints

DURATION_RE = re.compile(r"^(\d+)(s|m|h|d)$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class SpecModel(BaseModel):
    """Every spec section refuses unknown keys, so a typo is an error, not a silent default."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


Name = Annotated[str, StringConstraints(pattern=r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")]
"""A DNS label: lower-case letters, digits and '-', as hostnames and Pulumi names want."""

Duration = Annotated[str, StringConstraints(pattern=DURATION_RE.pattern)]
"""A duration such as `72h`, `30d`, `15m` or `3600s`."""


def seconds(duration: str) -> int:
    """`72h` → 259200."""
    match = DURATION_RE.match(duration)
    if not match:
        raise ValueError(f"not a duration: {duration!r}")
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2)]
