"""NVML-style readings (as nvidia-ml-py returns them) turned into the same GpuState nvidia-smi gives.

A reading the device refused is recorded as the string `ERR <reason>` (e.g. `ERR NVMLError_NotSupported:
Not Supported`); such a value becomes None, so a check treats it like nvidia-smi's N/A.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from components.verify.nvidia_smi import GpuState

MIB = 1024 * 1024


def reading(value: Any) -> Any:
    """The value, or None where NVML refused the call (`ERR …`)."""
    if isinstance(value, str) and value.startswith("ERR "):
        return None
    if isinstance(value, list) and value and all(isinstance(v, str) and v.startswith("ERR ") for v in value):
        return None
    return value


def refused(value: Any) -> str | None:
    """Why NVML refused a reading (`NVMLError_NotSupported: Not Supported`), or None if it did not."""
    first = value[0] if isinstance(value, list) and value else value
    return first[4:] if isinstance(first, str) and first.startswith("ERR ") else None


def _flag(value: Any, index: int | None = None) -> bool | None:
    value = reading(value)
    if value is None:
        return None
    if index is not None:
        value = value[index] if isinstance(value, list) and len(value) > index else None
    return None if value is None else bool(value)


@dataclass(frozen=True)
class NvmlSnapshot:
    driver_version: str
    cuda_driver_version: str | None  # 13000 → "13.0"
    gpus: tuple[GpuState, ...]


def parse_nvml_readings(data: dict[str, Any]) -> NvmlSnapshot:
    """Readings keyed as podforge records them: driver, cuda_driver, gpus[{name, uuid, pci, mem, persistence,
    ecc [current, pending], mig [current, pending], …}]."""
    cuda = reading(data.get("cuda_driver"))
    gpus = []
    for gpu in data.get("gpus", []):
        mem = reading(gpu.get("mem"))
        gpus.append(GpuState(
            pci_bus_id=str(gpu.get("pci", "")),
            product_name=str(gpu.get("name", "")),
            uuid=str(gpu.get("uuid", "")),
            serial=reading(gpu.get("serial")),
            architecture=None,  # NVML gives an architecture number (9 = Hopper), not nvidia-smi's name
            persistence_mode=_flag(gpu.get("persistence")),
            ecc_current=_flag(gpu.get("ecc"), 0),
            ecc_pending=_flag(gpu.get("ecc"), 1),
            mig_current=_flag(gpu.get("mig"), 0),
            mig_pending=_flag(gpu.get("mig"), 1),
            memory_total_mib=int(mem) // MIB if isinstance(mem, int) else None,
            memory_used_mib=None,
            fabric_state=None,
            fabric_status=None,
            volatile_uncorrectable_ecc=None,
            remapped_row_pending=None,
        ))
    return NvmlSnapshot(driver_version=str(data.get("driver", "")),
                        cuda_driver_version=f"{cuda // 1000}.{cuda % 1000 // 10}" if isinstance(cuda, int) else None,
                        gpus=tuple(gpus))
