"""Which automation SSH key a command uses when it connects to nodes itself (rollout, verify).

Order: the command's option, $PODFORGE_SSH_PRIVATE_KEY_FILE, the stack's `podforge:sshPrivateKeyFile` (the lab's
.lab/id_ed25519), else None (the ssh-agent). A `secure:` stack value is for the Pulumi path and is not read here.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from components.spec.loader import PROJECT_ROOT

KEY_ENV = "PODFORGE_SSH_PRIVATE_KEY_FILE"


def automation_key_file(explicit: str | Path | None, config: dict[str, Any]) -> Path | None:
    chosen = explicit or os.environ.get(KEY_ENV) or config.get("podforge:sshPrivateKeyFile")
    if not chosen or isinstance(chosen, dict):
        return None
    path = Path(chosen)
    return path if path.is_absolute() else PROJECT_ROOT / path
