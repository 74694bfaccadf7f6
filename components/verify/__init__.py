"""Node verification: parsers of what a GPU node reports, and checks of it against the spec.

Parsers (nvidia_smi, driver, topology, nvml, infiniband, listeners, nccl_conf, mounts) are pure functions
of text. Checks (checks/) read a node through a NodeShell and return one CheckResult each: passed,
failed, simulated (the answer came from a lab stand-in) or not present (the tool, device or service is
absent, or the SKU does not need it).
"""
