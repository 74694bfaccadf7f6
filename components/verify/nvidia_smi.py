"""Parsers of nvidia-smi output: `--query-gpu … --format=csv`, `-q -x` (XML) and `nvlink -s`.

Pure functions of the text nvidia-smi prints; tested on the captures of a live H200 node
(tests/fixtures/gpu-node-h200/). Values nvidia-smi reports as N/A become None, never a guess.
"""

from __future__ import annotations

import csv
import io
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass

# nvidia-smi's spellings of "no value here".
_UNAVAILABLE = {"", "n/a", "[n/a]", "not supported", "[not supported]", "none", "unknown error", "[unknown error]"}
_UNIT_RE = re.compile(r"^(?P<name>.*?)\s*\[(?P<unit>[^\]]+)\]$")


class NvidiaSmiParseError(ValueError):
    """The text is not the output of the nvidia-smi command it was taken for."""


def parse_query_csv(text: str, fields: list[str] | None = None) -> list[dict[str, str]]:
    """Rows of `nvidia-smi --query-gpu=… --format=csv[,noheader][,nounits]`.

    Keys are the query field names (units dropped from the header: `memory.total [MiB]` → `memory.total`);
    a value's unit suffix is dropped too (`143771 MiB` → `143771`). Without a header row, `fields` names
    the columns in the order they were queried.
    """
    rows = [r for r in csv.reader(io.StringIO(text), skipinitialspace=True) if r and any(c.strip() for c in r)]
    if not rows:
        return []
    units: list[str | None]
    if fields is None:
        names, units = [], []
        for column in rows.pop(0):
            match = _UNIT_RE.match(column.strip())
            names.append(match["name"] if match else column.strip())
            units.append(match["unit"] if match else None)
    else:
        names, units = list(fields), [None] * len(fields)
    parsed = []
    for row in rows:
        if len(row) != len(names):
            raise NvidiaSmiParseError(f"a row of {len(row)} values under {len(names)} columns: {row!r}")
        values = {}
        for name, unit, raw in zip(names, units, row, strict=True):
            value = raw.strip()
            if unit and value.endswith(" " + unit):
                value = value[: -len(unit) - 1]
            values[name] = value
        parsed.append(values)
    return parsed


def enabled(value: str | None) -> bool | None:
    """`Enabled`/`Disabled` (also `On`/`Off`, `1`/`0`) → True/False; N/A and anything else → None."""
    if value is None:
        return None
    word = value.strip().lower()
    if word in ("enabled", "on", "yes", "1", "active"):
        return True
    if word in ("disabled", "off", "no", "0", "not active"):
        return False
    return None


def mib(value: str | None) -> int | None:
    """`143771 MiB` → 143771; N/A → None."""
    if value is None:
        return None
    match = re.fullmatch(r"\s*(\d+)\s*(MiB)?\s*", value)
    return int(match.group(1)) if match else None


@dataclass(frozen=True)
class GpuState:
    """One GPU as nvidia-smi (or NVML) reports it; None where the device reports no value."""

    pci_bus_id: str
    product_name: str
    uuid: str
    serial: str | None
    architecture: str | None
    persistence_mode: bool | None
    ecc_current: bool | None
    ecc_pending: bool | None
    mig_current: bool | None
    mig_pending: bool | None
    memory_total_mib: int | None
    memory_used_mib: int | None
    fabric_state: str | None
    fabric_status: str | None
    volatile_uncorrectable_ecc: int | None
    remapped_row_pending: bool | None


@dataclass(frozen=True)
class SmiLog:
    """`nvidia-smi -q -x`: the driver and every attached GPU."""

    driver_version: str
    cuda_version: str | None
    attached_gpus: int
    gpus: tuple[GpuState, ...]


def _text(element: ET.Element | None, path: str) -> str | None:
    if element is None:
        return None
    found = element.find(path)
    if found is None or found.text is None:
        return None
    value = found.text.strip()
    return None if value.lower() in _UNAVAILABLE else value


def _uncorrectable(gpu: ET.Element) -> int | None:
    volatile = gpu.find("ecc_errors/volatile")
    if volatile is None:
        return None
    counts = [int(v) for child in volatile if "uncorrectable" in child.tag
              for v in [_text(volatile, child.tag)] if v is not None and v.isdigit()]
    return sum(counts) if counts else None


def parse_smi_xml(text: str) -> SmiLog:
    """Parse `nvidia-smi -q -x`. Raises NvidiaSmiParseError on text that is not that XML."""
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise NvidiaSmiParseError(f"not nvidia-smi XML: {exc}") from None
    if root.tag != "nvidia_smi_log":
        raise NvidiaSmiParseError(f"not nvidia-smi XML: root element <{root.tag}>")
    gpus = []
    for gpu in root.findall("gpu"):
        gpus.append(GpuState(
            pci_bus_id=gpu.get("id", ""),
            product_name=_text(gpu, "product_name") or "",
            uuid=_text(gpu, "uuid") or "",
            serial=_text(gpu, "serial"),
            architecture=_text(gpu, "product_architecture"),
            persistence_mode=enabled(_text(gpu, "persistence_mode")),
            ecc_current=enabled(_text(gpu, "ecc_mode/current_ecc")),
            ecc_pending=enabled(_text(gpu, "ecc_mode/pending_ecc")),
            mig_current=enabled(_text(gpu, "mig_mode/current_mig")),
            mig_pending=enabled(_text(gpu, "mig_mode/pending_mig")),
            memory_total_mib=mib(_text(gpu, "fb_memory_usage/total")),
            memory_used_mib=mib(_text(gpu, "fb_memory_usage/used")),
            fabric_state=_text(gpu, "fabric/state"),
            fabric_status=_text(gpu, "fabric/status"),
            volatile_uncorrectable_ecc=_uncorrectable(gpu),
            remapped_row_pending=enabled(_text(gpu, "remapped_rows/remapped_row_pending")),
        ))
    attached = _text(root, "attached_gpus")
    return SmiLog(driver_version=_text(root, "driver_version") or "",
                  cuda_version=_text(root, "cuda_version"),
                  attached_gpus=int(attached) if attached and attached.isdigit() else len(gpus),
                  gpus=tuple(gpus))


@dataclass(frozen=True)
class NvLink:
    link: int
    gbps: float | None  # GB/s per direction as nvidia-smi prints it; None for an inactive link


_NVLINK_GPU_RE = re.compile(r"^GPU (\d+):")
_NVLINK_LINK_RE = re.compile(r"^\s*Link (\d+):\s*(.*?)\s*$")


def parse_nvlink_status(text: str) -> dict[int, tuple[NvLink, ...]]:
    """`nvidia-smi nvlink -s`: links per GPU index. A GPU without NVLink peers prints nothing (→ {})."""
    links: dict[int, list[NvLink]] = {}
    current: int | None = None
    for line in text.splitlines():
        gpu = _NVLINK_GPU_RE.match(line)
        if gpu:
            current = int(gpu.group(1))
            links[current] = []
            continue
        link = _NVLINK_LINK_RE.match(line)
        if link and current is not None:
            speed = re.match(r"([\d.]+)\s*GB/s", link.group(2))
            links[current].append(NvLink(int(link.group(1)), float(speed.group(1)) if speed else None))
    return {gpu: tuple(found) for gpu, found in links.items()}
