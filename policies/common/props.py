"""Reading resource properties the same way under the Pulumi CLI and offline, tolerating unknown values.

Under `pulumi preview --policy-pack` the analyzer hands rules read-only proxies that raise
UnknownValueError on a value not known until deployment; `podforge policy check` hands the same proxies
(built from the captured graph, whose unknowns are "[unknown]"). Rules read through `get`/`items` and
skip what is unknown: a rule never fails a preview for a value nobody can know yet.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from pulumi_policy.proxy import (
    UNKNOWN_ARRAY_VALUE,
    UNKNOWN_BOOLEAN_VALUE,
    UNKNOWN_NUMBER_VALUE,
    UNKNOWN_OBJECT_VALUE,
    UNKNOWN_STRING_VALUE,
    UnknownValueError,
)

OFFLINE_UNKNOWN = "[unknown]"
OFFLINE_SECRET = "[secret]"
_SENTINELS = {UNKNOWN_BOOLEAN_VALUE, UNKNOWN_NUMBER_VALUE, UNKNOWN_STRING_VALUE, UNKNOWN_ARRAY_VALUE,
              UNKNOWN_OBJECT_VALUE, OFFLINE_UNKNOWN}


class _Unknown:
    """The one marker rules compare against: a value not known during preview."""

    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN: Any = _Unknown()
_ABSENT = object()


def is_unknown(value: Any) -> bool:
    return value is UNKNOWN or (isinstance(value, str) and value in _SENTINELS)


def get(props: Any, *path: str | int, default: Any = None) -> Any:
    """`props[p0][p1]…`; UNKNOWN when the value or a container on the way is unknown; `default` when absent."""
    value = props
    try:
        for key in path:
            if is_unknown(value):
                return UNKNOWN
            if isinstance(key, int):
                if isinstance(value, str) or not isinstance(value, Sequence) or not -len(value) <= key < len(value):
                    return default
            elif not isinstance(value, Mapping) or key not in value:
                return default
            value = value[key]
    except UnknownValueError:
        return UNKNOWN
    return UNKNOWN if is_unknown(value) else value


def items(value: Any) -> list[Any]:
    """The elements of a list property (UNKNOWN for an element not known); [] for absent or unknown lists."""
    if value is None or is_unknown(value) or isinstance(value, str) or not isinstance(value, Sequence):
        return []
    out = []
    for i in range(len(value)):
        out.append(get(value, i))
    return out


def entries(value: Any) -> list[tuple[str, Any]]:
    """The (key, value) pairs of a map property, unknown values as UNKNOWN; [] for absent or unknown maps."""
    if value is None or is_unknown(value) or not isinstance(value, Mapping):
        return []
    return [(key, get(value, key)) for key in value]


_DURATION = re.compile(r"^(\d+)([smhd]?)$")
_UNIT = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def seconds(value: Any) -> int | None:
    """A TTL or period as Vault takes it (`259200`, "259200", "72h") in seconds; None if not a duration."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return int(value)
    if isinstance(value, str):
        match = _DURATION.match(value.strip())
        if match:
            return int(match.group(1)) * _UNIT[match.group(2)]
    return None


def hours(value: int) -> str:
    return f"{value / 3600:g} h"
