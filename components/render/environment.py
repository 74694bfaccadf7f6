"""The one jinja2 environment over templates/: config files podforge renders from the spec."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import jinja2

from components.paths import TEMPLATES_DIR


@cache
def environment(directory: Path = TEMPLATES_DIR) -> jinja2.Environment:
    # StrictUndefined: a template naming a field the spec lacks is a bug, never an empty line in a config file.
    return jinja2.Environment(loader=jinja2.FileSystemLoader(str(directory)), undefined=jinja2.StrictUndefined,
                              keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True,
                              autoescape=False)  # config files, not HTML


def render(name: str, **context: Any) -> str:
    return environment().get_template(name).render(**context)
