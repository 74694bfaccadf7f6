"""GPU checks: driver loaded at the pinned version, GPUs equal to the SKU, persistence, ECC, NVLink,
and the fabric manager (only on SKUs with NVSwitch). On a gpu_node the spec declares the driver: a node without
it, or without nvidia-smi, fails."""

from __future__ import annotations

import re

from components.verify.checks import Check, Outcome, bad, lab_stand_in, ok, unneeded
from components.verify.driver import parse_driver_version
from components.verify.expectations import NodeExpectation
from components.verify.nvidia_smi import NvidiaSmiParseError, SmiLog, parse_nvlink_status, parse_smi_xml
from components.verify.results import Status
from components.verify.shell import NodeShell

PROC_DRIVER_VERSION = "/proc/driver/nvidia/version"
FABRIC_MANAGER_UNIT = "nvidia-fabricmanager"


def _guard(shell: NodeShell, expect: NodeExpectation) -> Outcome | None:
    """Why a GPU check cannot give a real answer on this node, if it cannot."""
    if not expect.gpu_node:
        return unneeded(f"{expect.hostname} has no gpu_node role")
    if expect.lab:
        return lab_stand_in(shell, "nvidia-smi", f"the NVIDIA driver {expect.driver_version}",
                            "no GPU; the NVIDIA driver and nvidia-smi there are stand-in packages")
    if shell.read(PROC_DRIVER_VERSION) is None:
        return bad(f"no NVIDIA kernel module loaded ({PROC_DRIVER_VERSION} absent); the spec pins driver "
                   f"{expect.driver_version}")
    return None


def _smi_output(shell: NodeShell, command: str, label: str) -> str | Outcome:
    """What `command` (an nvidia-smi command line) prints, or why it printed nothing usable (`label: error`)."""
    if not shell.has("nvidia-smi"):
        return bad("nvidia-smi not installed (the driver's user-space tools are missing)")
    result = shell.run(command)
    if result.rc != 0:
        return bad(f"{label}: {result.first_error_line}")
    return result.stdout


def _smi_log(shell: NodeShell) -> SmiLog | Outcome:
    out = _smi_output(shell, "nvidia-smi -q -x", "nvidia-smi -q -x")
    if not isinstance(out, str):
        return out
    try:
        return parse_smi_xml(out)
    except NvidiaSmiParseError as exc:
        return bad(f"nvidia-smi -q -x: {exc}")


def _gpus(shell: NodeShell, expect: NodeExpectation) -> SmiLog | Outcome:
    guard = _guard(shell, expect)
    return guard if guard is not None else _smi_log(shell)


def driver_loaded(shell: NodeShell, expect: NodeExpectation) -> Outcome:
    guard = _guard(shell, expect)
    if guard is not None:
        return guard
    module = parse_driver_version(shell.read(PROC_DRIVER_VERSION) or "")
    if module is None:
        return bad(f"{PROC_DRIVER_VERSION} names no NVRM version")
    if module.version != expect.driver_version:
        return bad(f"kernel module {module.version} loaded; the spec pins {expect.driver_version} "
                   f"(software.driver, branch {expect.driver_branch})")
    detail = f"kernel module {module.version} ({module.flavour}, branch {module.branch}) as pinned"
    if not shell.has("nvidia-smi"):
        return bad(f"kernel module {module.version} as pinned, but nvidia-smi is not installed (the driver's "
                   "user-space tools are missing)")
    result = shell.run("nvidia-smi --query-gpu=driver_version --format=csv,noheader")
    if result.rc != 0:  # e.g. "Failed to initialize NVML: Driver/library version mismatch"
        return bad(f"kernel module {module.version}, but nvidia-smi fails: {result.first_error_line}")
    user_space = {line.strip() for line in result.stdout.splitlines() if line.strip()}
    if user_space != {module.version}:
        return bad(f"kernel module {module.version}, nvidia-smi reports {', '.join(sorted(user_space)) or 'nothing'}")
    return ok(detail + "; nvidia-smi reports the same")


def inventory(shell: NodeShell, expect: NodeExpectation) -> Outcome:
    log = _gpus(shell, expect)
    if not isinstance(log, SmiLog):
        return log
    want = expect.sku.gpu
    floor_mib = want.memory_gib * 1024
    problems = []
    if len(log.gpus) != want.count:
        problems.append(f"{len(log.gpus)} GPU(s) found, SKU {expect.sku.name} has {want.count}")
    for gpu in log.gpus:
        if gpu.product_name != want.model:
            problems.append(f"{gpu.pci_bus_id} is {gpu.product_name!r}, not {want.model!r}")
        if gpu.memory_total_mib is None or gpu.memory_total_mib < floor_mib:
            problems.append(f"{gpu.pci_bus_id} has {gpu.memory_total_mib} MiB, below {want.memory_gib} GiB")
    if problems:
        return bad("; ".join(problems))
    sizes = sorted({g.memory_total_mib for g in log.gpus if g.memory_total_mib is not None})
    return ok(f"{len(log.gpus)} × {want.model}, {'/'.join(map(str, sizes))} MiB each "
              f"(SKU {expect.sku.name}: {want.count} × {want.model}, ≥ {want.memory_gib} GiB)")


def persistence_mode(shell: NodeShell, expect: NodeExpectation) -> Outcome:
    log = _gpus(shell, expect)
    if not isinstance(log, SmiLog):
        return log
    off = [f"{g.pci_bus_id} ({'N/A' if g.persistence_mode is None else 'Disabled'})"
           for g in log.gpus if g.persistence_mode is not True]
    if not log.gpus:
        return bad("nvidia-smi lists no GPU")
    if off:
        return bad("persistence mode off on " + ", ".join(off) + " (nvidia-persistenced not running?)")
    return ok(f"persistence mode enabled on all {len(log.gpus)} GPU(s)")


def ecc(shell: NodeShell, expect: NodeExpectation) -> Outcome:
    log = _gpus(shell, expect)
    if not isinstance(log, SmiLog):
        return log
    if not log.gpus:
        return bad("nvidia-smi lists no GPU")
    problems = []
    for gpu in log.gpus:
        if gpu.ecc_current is not True:
            problems.append(f"{gpu.pci_bus_id} ECC {'N/A' if gpu.ecc_current is None else 'Disabled'}")
        elif gpu.ecc_pending is False:
            problems.append(f"{gpu.pci_bus_id} ECC is on but pending Disabled (off after the next reboot)")
        if gpu.volatile_uncorrectable_ecc:
            problems.append(f"{gpu.pci_bus_id} has {gpu.volatile_uncorrectable_ecc} volatile uncorrectable ECC errors")
        if gpu.remapped_row_pending:
            problems.append(f"{gpu.pci_bus_id} has a row remapping pending (reset the GPU)")
    if problems:
        return bad("; ".join(problems))
    return ok(f"ECC enabled (current and pending) on all {len(log.gpus)} GPU(s), no uncorrectable errors")


def nvlink(shell: NodeShell, expect: NodeExpectation) -> Outcome:
    if not expect.sku.gpu.nvlink:
        return unneeded(f"the GPUs of {expect.sku.name} have no NVLink")
    guard = _guard(shell, expect)
    if guard is not None:
        return guard
    out = _smi_output(shell, "nvidia-smi nvlink -s", "nvidia-smi nvlink -s")
    if not isinstance(out, str):
        return out
    links = parse_nvlink_status(out)
    problems = []
    for index in range(expect.sku.gpu.count):
        found = links.get(index, ())
        if not found:
            problems.append(f"GPU {index} reports no NVLink")
        inactive = [str(link.link) for link in found if link.gbps is None]
        if inactive:
            problems.append(f"GPU {index} links {','.join(inactive)} inactive")
    if problems:
        return bad("; ".join(problems))
    total = sum(len(v) for v in links.values())
    return ok(f"{total} NVLinks active over {len(links)} GPU(s)")


def fabric_manager(shell: NodeShell, expect: NodeExpectation) -> Outcome:
    if not expect.sku.has_nvswitch:
        return unneeded(f"{expect.sku.name} has no NVSwitch")
    guard = _guard(shell, expect)
    if guard is not None and guard[0] is Status.simulated:  # a lab host, the driver's stand-in installed
        return lab_stand_in(shell, "nv-fabricmanager", f"the fabric manager {expect.fabric_manager_version}",
                            "no NVSwitch; the fabric manager there is a stand-in package")
    if guard is not None:
        return guard
    if not shell.has("nv-fabricmanager"):
        return bad(f"nv-fabricmanager not installed; {expect.sku.name} has NVSwitches and the spec pins the fabric "
                   f"manager {expect.fabric_manager_version}")
    module = parse_driver_version(shell.read(PROC_DRIVER_VERSION) or "")
    reported = shell.run("nv-fabricmanager --version")
    version = _first_version(reported.stdout + reported.stderr)
    problems = []
    if version is None:
        problems.append(f"nv-fabricmanager --version names no version ({reported.first_error_line})")
    else:
        if version != expect.fabric_manager_version:
            problems.append(f"fabric manager {version}, the spec pins {expect.fabric_manager_version}")
        if module is not None and version != module.version:
            problems.append(f"fabric manager {version} differs from the loaded driver {module.version} "
                            "(it refuses to start on a mismatch)")
    if shell.has("systemctl"):
        state = shell.run(f"systemctl is-active {FABRIC_MANAGER_UNIT}").stdout.strip() or "unknown"
        if state != "active":
            problems.append(f"{FABRIC_MANAGER_UNIT} is {state}")
    log = _smi_log(shell)
    if isinstance(log, SmiLog):
        # Hopper-generation GPUs report the fabric's state; A100 prints N/A (None) here.
        waiting = [f"{g.pci_bus_id} fabric {g.fabric_state}/{g.fabric_status}" for g in log.gpus
                   if g.fabric_state is not None and (g.fabric_state != "Completed" or g.fabric_status != "Success")]
        problems.extend(waiting)
    if problems:
        return bad("; ".join(problems))
    return ok(f"{FABRIC_MANAGER_UNIT} active at {version}, the driver's version")


def vbios(shell: NodeShell, expect: NodeExpectation) -> Outcome:
    """Every GPU's VBIOS (`nvidia-smi --query-gpu=vbios_version`, a field of `nvidia-smi --help-query-gpu`) equals
    the version software.firmware declares for the SKU."""
    declared = expect.firmware.gpu_vbios
    if declared is None:
        return unneeded(f"software.firmware declares no GPU VBIOS for {expect.sku.name}")
    guard = _guard(shell, expect)
    if guard is not None:
        return guard
    out = _smi_output(shell, "nvidia-smi --query-gpu=vbios_version --format=csv,noheader",
                      "nvidia-smi --query-gpu=vbios_version")
    if not isinstance(out, str):
        return out
    found = [line.strip() for line in out.splitlines() if line.strip()]
    problems = []
    if len(found) != expect.sku.gpu.count:
        problems.append(f"{len(found)} GPU(s) report a VBIOS, SKU {expect.sku.name} has {expect.sku.gpu.count}")
    other = sorted({v for v in found if v != declared})
    if other:
        problems.append(f"{sum(v != declared for v in found)} GPU(s) run VBIOS {', '.join(other)}; the spec declares "
                        f"{declared}")
    if problems:
        return bad("; ".join(problems))
    return ok(f"VBIOS {declared} on all {len(found)} GPU(s), as declared")


def _first_version(text: str) -> str | None:
    match = re.search(r"\b(\d+\.\d+(?:\.\d+)?)\b", text)
    return match.group(1) if match else None


CHECKS = (
    Check("gpu", "driver_loaded", "NVIDIA kernel module loaded at software.driver.version; nvidia-smi agrees",
          driver_loaded),
    Check("gpu", "inventory", "GPU count, model and memory equal the SKU's catalogue entry", inventory),
    Check("gpu", "persistence_mode", "persistence mode on for every GPU", persistence_mode),
    Check("gpu", "ecc", "ECC on (current and pending), no uncorrectable errors", ecc),
    Check("gpu", "nvlink", "every GPU's NVLinks active (SKUs with NVLink)", nvlink),
    Check("gpu", "fabric_manager", "nvidia-fabricmanager active at the driver's version (SKUs with NVSwitch)",
          fabric_manager),
    Check("gpu", "vbios", "every GPU's VBIOS equals software.firmware.<sku>.gpu_vbios (where declared)", vbios),
)
