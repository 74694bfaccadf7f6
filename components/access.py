"""SSH access to the nodes, in one place: pinned host keys, Ansible's connection variables, the refusal to connect
without a pin, the automation private key, and a paramiko client that accepts only the pinned key.

Host keys are always pinned: a node's spec `ssh.host_key`, or the lines of its `ssh.known_hosts` file (relative
to the project) that name its management address. ssh checks them strictly and reads no global or personal
known_hosts file. The automation key is `--ssh-key FILE`, else $PODFORGE_SSH_PRIVATE_KEY_FILE, else the stack's
`podforge:sshPrivateKeyFile` (relative to the project), else the ssh-agent.
"""

from __future__ import annotations

import base64
import os
import shlex
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from components.host import HostView
from components.spec.loader import LoadedSpec
from components.spec.problems import Problem

KEY_ENV = "PODFORGE_SSH_PRIVATE_KEY_FILE"
KEY_CONFIG = "podforge:sshPrivateKeyFile"
UNPINNED = "no pinned host key (spec ssh.host_key or a known_hosts line for its management address); refusing to connect"

# ssh offers a host key type only if it knows a key of it; an RSA key is signed with SHA-2 (ssh-rsa is SHA-1).
_ALGORITHMS = {"ssh-rsa": ("rsa-sha2-512", "rsa-sha2-256")}


class AccessError(Exception):
    """podforge will not connect (no pinned host key, no usable private key); one line naming the hosts or file."""


def host_pattern(address: str, port: int) -> str:
    """How known_hosts names a host: the bare address on port 22, `[address]:port` otherwise."""
    return address if port == 22 else f"[{address}]:{port}"


def known_hosts_lines(path: Path, pattern: str) -> list[str]:
    """The lines of a known_hosts file naming `pattern`, as `PATTERN TYPE KEY`, sorted; none for a missing file."""
    return sorted(_read_known_hosts(path).get(pattern, []))


def host_keys(views: Iterable[HostView], known_hosts: Path | None = None) -> dict[str, tuple[str, ...]]:
    """Hostname → its pinned known_hosts lines: the spec's `host_key`, or the lines of its known_hosts file (or of
    `known_hosts`, which replaces every pin of the spec) naming its management address. Each file is read once;
    a host whose file or line is missing has none."""
    files: dict[Path, dict[str, list[str]]] = {}
    out: dict[str, tuple[str, ...]] = {}
    for view in views:
        login = view.login
        pattern = host_pattern(login.address, login.port)
        path = known_hosts or login.known_hosts_file
        if known_hosts is None and login.host_key is not None:
            out[view.hostname] = (f"{pattern} {login.host_key}",)
            continue
        if path is None:
            out[view.hostname] = ()
            continue
        if path not in files:
            files[path] = _read_known_hosts(path)
        out[view.hostname] = tuple(sorted(files[path].get(pattern, [])))
    return out


def known_hosts_file(view: HostView, known_hosts: Path | None = None) -> Path | None:
    """The file ssh reads the host's pin from: `known_hosts` when given, else the spec's (None: a key in the spec)."""
    if known_hosts is not None:
        return known_hosts
    return view.login.known_hosts_file if view.login.host_key is None else None


def _read_known_hosts(path: Path) -> dict[str, list[str]]:
    if not path.is_file():
        return {}
    found: dict[str, list[str]] = {}
    for line in path.read_text().splitlines():
        fields = line.split()
        if len(fields) < 3 or line.startswith("#"):
            continue
        for pattern in fields[0].split(","):
            found.setdefault(pattern, []).append(f"{pattern} {fields[1]} {fields[2]}")
    return found


def connection_vars(address: str, port: int, user: str, host_keys: Sequence[str], known_hosts_file: str | None,
                    key_file: str | None = None) -> dict[str, Any]:
    """Ansible's connection variables: host key checking ON against the pin only (no global or personal
    known_hosts). The pin is the known_hosts file when there is one, else the pinned lines themselves, handed to
    ssh by a KnownHostsCommand (nothing written to disk). `key_file`: the automation key (None: the ssh-agent)."""
    options = ["-o StrictHostKeyChecking=yes", "-o GlobalKnownHostsFile=/dev/null"]
    if known_hosts_file is not None:
        options.append(f"-o UserKnownHostsFile={shlex.quote(known_hosts_file)}")
    else:
        options.append("-o UserKnownHostsFile=/dev/null")
        if host_keys:
            types = dict.fromkeys(a for line in host_keys for a in _ALGORITHMS.get(line.split()[1], (line.split()[1],)))
            options.append(f"-o HostKeyAlgorithms={','.join(types)}")
            # ssh splits the command itself and expands %-tokens in its arguments: `%%s` reaches printf as `%s`.
            printf = "/usr/bin/printf %%s\\n " + " ".join(shlex.quote(line) for line in host_keys)
            options.append(shlex.quote(f"-oKnownHostsCommand={printf}"))
    out: dict[str, Any] = {"ansible_host": address, "ansible_port": port, "ansible_user": user,
                           "ansible_ssh_common_args": " ".join(options)}
    if key_file is not None:
        out["ansible_ssh_private_key_file"] = key_file
    return out


def require_pinned(hosts: Iterable[Any]) -> None:
    """Refuse, before any connection, when a host (anything with `hostname` and `host_keys`) has no pinned key."""
    unpinned = [h.hostname for h in hosts if not h.host_keys]
    if unpinned:
        raise AccessError(f"{', '.join(unpinned)}: {UNPINNED}")


def missing_known_hosts(loaded: LoadedSpec, views: Mapping[str, HostView], hostnames: Iterable[str]) -> list[Problem]:
    """One problem per known_hosts file that the spec names for one of `hostnames` and that does not exist
    (at the first node naming it): a command that connects stops there, before anything is sent."""
    wanted = set(hostnames)
    problems: dict[Path, Problem] = {}
    for index, view in enumerate(views.values()):
        path = view.login.known_hosts_file
        if view.hostname not in wanted or view.login.host_key is not None or path is None or path.is_file():
            continue
        hint = "; `podforge lab up` writes it" if loaded.spec.site.lab else ""
        problems.setdefault(path, Problem(
            loaded.file, loaded.line_of("nodes", index, "ssh", "known_hosts"), f"nodes.{index}.ssh.known_hosts",
            view.login.known_hosts, f"a known_hosts file holding the nodes' host keys (there is no {path}{hint})"))
    return list(problems.values())


def automation_key_file(flag: str | Path | None, config: Mapping[str, Any], root: Path) -> Path | None:
    """The automation key's file: `flag`, else $PODFORGE_SSH_PRIVATE_KEY_FILE (both relative to the current
    directory), else the stack's `podforge:sshPrivateKeyFile` (relative to the project `root`); None: the
    ssh-agent. A `secure:` stack value is for the Pulumi program and is not read here."""
    given = flag or os.environ.get(KEY_ENV)
    if given:
        return Path(given).expanduser().absolute()
    configured = config.get(KEY_CONFIG)
    if not configured or not isinstance(configured, str):
        return None
    path = Path(configured)
    return path if path.is_absolute() else root / path


def usable_key_file(flag: str | Path | None, config: Mapping[str, Any], root: Path, *, lab: bool = False) -> Path | None:
    """automation_key_file, refused (AccessError) when that file does not exist, or when there is none and no
    ssh-agent either."""
    key = automation_key_file(flag, config, root)
    if key is not None and not key.is_file():
        raise AccessError(f"private key {key}: no such file{' (run `podforge lab up` first)' if lab else ''}")
    if key is None and not os.environ.get("SSH_AUTH_SOCK"):
        raise AccessError(f"no automation key: give --ssh-key FILE, set {KEY_ENV}, or start an ssh-agent")
    return key


def pinned_client(host_keys: Sequence[str], names: Iterable[str] = ()) -> Any:
    """A paramiko SSHClient that accepts only the pinned keys (known_hosts lines), under their own pattern and under
    each of `names` (the name a connection uses), and refuses any other key; AccessError when there is none."""
    import paramiko

    if not host_keys:
        raise AccessError(UNPINNED)
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    known = client.get_host_keys()
    for line in host_keys:
        pattern, key_type, blob = line.split()[:3]
        key = paramiko.PKey.from_type_string(key_type, base64.b64decode(blob))
        for entry in {pattern, *names}:
            known.add(entry, key_type, key)
    return client


def connect(client: Any, address: str, port: int, user: str, key_file: str | Path | None, timeout: float = 10) -> Any:
    """Log `client` in with the automation key (only that key), or without one through the ssh-agent."""
    if key_file is not None:
        client.connect(address, port=port, username=user, key_filename=str(key_file), timeout=timeout,
                       banner_timeout=timeout, auth_timeout=timeout, look_for_keys=False, allow_agent=False)
    else:
        client.connect(address, port=port, username=user, timeout=timeout, banner_timeout=timeout,
                       auth_timeout=timeout)
    return client
