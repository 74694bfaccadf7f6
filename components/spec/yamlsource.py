"""YAML loading that remembers where every value came from (file and line), for exact error messages."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from components.spec.problems import Problem, SpecError

Path_ = tuple[str | int, ...]


@dataclass
class SourceMap:
    """Maps a field path (as pydantic reports it) to the line that declared it."""

    file: str
    lines: dict[Path_, int] = field(default_factory=dict)

    def line_of(self, path: Path_) -> int:
        """The line of the longest declared prefix of `path` (1 when nothing matches)."""
        probe = tuple(path)
        while probe:
            if probe in self.lines:
                return self.lines[probe]
            probe = probe[:-1]
        return self.lines.get((), 1)


class _Loader(yaml.SafeLoader):
    """SafeLoader without the YAML 1.1 sexagesimal and boolean surprises on keys like `on`/`no`."""


def _to_python(node: yaml.Node, path: Path_, smap: SourceMap, loader: _Loader, problems: list[Problem]) -> Any:
    smap.lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if not isinstance(key, str):
                key = str(key)
            if key in out:
                problems.append(
                    Problem(smap.file, key_node.start_mark.line + 1, ".".join(map(str, path + (key,))),
                            key, "each key once per mapping (this one is declared twice)")
                )
            out[key] = _to_python(value_node, path + (key,), smap, loader, problems)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_to_python(item, path + (i,), smap, loader, problems) for i, item in enumerate(node.value)]
    return loader.construct_object(node, deep=True)


def load_yaml(path: Path, display_name: str | None = None) -> tuple[Any, SourceMap]:
    """Parse one YAML document; raise SpecError (never a traceback) when it is not readable YAML."""
    name = display_name or str(path)
    smap = SourceMap(name)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SpecError([Problem(name, 0, "", str(path), f"a readable file ({exc.strerror})")]) from None
    loader = _Loader(text)
    problems: list[Problem] = []
    try:
        node = loader.get_single_node()
        if node is None:
            data: Any = {}
        else:
            data = _to_python(node, (), smap, loader, problems)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 0
        reason = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise SpecError([Problem(name, line, "", "", f"valid YAML ({reason})")]) from None
    finally:
        loader.dispose()
    if problems:
        raise SpecError(problems)
    return data, smap
