"""Parser of /etc/nccl.conf (`NCCL_KEY=value` lines) and of NCCL_IB_HCA's device list."""

from __future__ import annotations


def parse_nccl_conf(text: str) -> dict[str, str]:
    settings: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = line.split("=", 1)
        settings[key.strip()] = value.strip()
    return settings


def ib_hca_devices(value: str) -> tuple[bool, list[str]]:
    """NCCL_IB_HCA → (exclude, devices): `=mlx5_0:1,mlx5_1` → (False, [mlx5_0, mlx5_1]); `^mlx5_4` → (True, [mlx5_4]).

    A leading `=` asks for exact names, `^` excludes; a `:PORT` suffix names the port.
    """
    exclude = value.startswith("^")
    names = value.lstrip("^=")
    return exclude, [d.strip().split(":", 1)[0] for d in names.split(",") if d.strip()]
