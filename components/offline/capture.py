"""Run a project's Pulumi program for one stack under the mock runtime, in preview mode, and capture it.

The one capture `podforge plan` and `podforge policy check` share. The program is the project's own
`__main__.py` (components.paths), run as the Pulumi CLI runs it, with the stack's config from
`Pulumi.NAME.yaml` and the spec the command already loaded handed to it (components.program), so the spec is
read once. `secure:` values are never decrypted: the program sees a placeholder marked secret, so whatever it
derives from them is registered as a secret. Each capture runs in its own copy of the SDK's context
(settings, config, root stack), so captures can follow each other in one process.
"""

from __future__ import annotations

import asyncio
import contextvars
import gc
import json
import runpy
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from pulumi.runtime import config as pulumi_config
from pulumi.runtime import settings
from pulumi.runtime.stack import run_in_stack
from pulumi.runtime.sync_await import _sync_await

from components import paths
from components.offline.graph import SECRET, Graph
from components.offline.monitor import CaptureMonitor, QuietEngine
from components.program import InvalidSpecError, handed_spec
from components.spec import LoadedSpec, Problem, SpecError, Stack, load_stack_spec


def capture(stack_name: str, root: Path | None = None, *, secrets: Mapping[str, str] | None = None) -> Graph:
    """Every resource the program of the project in `root` (default: the project) declares for `stack_name`.

    Raises SpecError for an invalid stack file or spec. `secrets`: as for capture_stack.
    """
    return capture_stack(*load_stack_spec(stack_name, root), secrets=secrets)


def capture_stack(stack: Stack, loaded: LoadedSpec, *, secrets: Mapping[str, str] | None = None) -> Graph:
    """Every resource the project's program declares for `stack` with the spec `loaded`, inputs as registered.

    `secrets` gives stand-in values for `secure:` keys (tests use it to check that a known value never shows);
    otherwise they are the placeholder "[secret]". While the program runs, the project is the stack's project.
    """
    program = stack.project.program
    if not program.is_file():
        raise SpecError([Problem(stack.project.shown(program), 0, "main", str(program),
                                 "the project's Pulumi program (a __main__.py calling components.program.run())")])
    config = {key: _config_text(value) for key, value in stack.config.items()}
    for key in stack.secret_keys:
        config[key] = (secrets or {}).get(key, SECRET)

    def body() -> None:
        with paths.chosen_project(stack.root), handed_spec(loaded):
            runpy.run_path(str(program), run_name="__main__")

    return run_program(stack.name, config, set(stack.secret_keys), body, stack.project)


def run_program(stack_name: str, config: dict[str, str], secret_keys: set[str], program: Callable[[], Any],
                project: paths.Project | None = None) -> Graph:
    """Run `program` as the body of a previewed stack of `project` (default: the project) and return what it
    registered."""
    monitor = CaptureMonitor()
    project = project or paths.project()

    def run() -> None:
        settings.reset_options(project=project.name, stack=stack_name, preview=True)
        settings.configure(settings.Settings(project=project.name, stack=stack_name, monitor=monitor,
                                             engine=QuietEngine(None), dry_run=True,
                                             organization="organization", root_directory=str(project.root)))
        pulumi_config.set_all_config(dict(config), sorted(secret_keys))
        try:
            _sync_await(run_in_stack(lambda: _registrations_started(program)))
        except InvalidSpecError as exc:
            raise SpecError(exc.problems) from None

    # The SDK keeps a few objects per Output alive until the run ends; with the cyclic collector on, every
    # collection walks them all again and the run grows quadratically. A run is short: collect afterwards.
    collecting = gc.isenabled()
    gc.disable()
    try:
        contextvars.copy_context().run(run)
    finally:
        if collecting:
            gc.enable()
    return Graph(stack_name, monitor.captured)


async def _registrations_started(program: Callable[[], Any]) -> None:
    """Run the program, then yield to the event loop once, so its registration RPCs have started when the SDK's
    wait_for_rpcs looks for them. Otherwise (pulumi 3.272) that loop finds no RPC yet and waits on every pending
    Output instead, with asyncio.wait(FIRST_COMPLETED) over all of them once per step of a dependency chain
    such as the rollout waves: quadratic in the node count (a 1,024-node plan spent most of its time there)."""
    program()
    await asyncio.sleep(0)


def _config_text(value: Any) -> str:
    # The Pulumi CLI hands every config value to the program as a string; objects as JSON.
    if isinstance(value, str):
        return value
    return json.dumps(value)

