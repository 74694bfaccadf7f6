"""YAML loading that remembers where every value came from (file and line), for exact error messages."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import yaml

from components.spec.problems import Problem, SpecError

Path_ = tuple[str | int, ...]


@dataclass
class SourceMap:
    """Maps a field path (as pydantic reports it) to the line that declared it.

    A mapping entry is recorded at its key's line (so a missing field points at the line of the mapping
    that lacks it), a list item at the item's line.
    """

    file: str
    lines: dict[Path_, int] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    def line_of(self, path: Path_) -> int:
        """The line of the longest declared prefix of `path` (1 when nothing matches)."""
        probe = tuple(path)
        while probe:
            if probe in self.lines:
                return self.lines[probe]
            probe = probe[:-1]
        return self.lines.get((), 1)


_YAML11_SURPRISES = {"tag:yaml.org,2002:bool", "tag:yaml.org,2002:int", "tag:yaml.org,2002:float",
                     "tag:yaml.org,2002:timestamp"}


# libyaml's parser when PyYAML was built with it (the PyPI wheels are): 4× faster on a 1,000-node spec, with
# the same nodes and the same line marks.
_BaseLoader = yaml.CSafeLoader if getattr(yaml, "__with_libyaml__", False) else yaml.SafeLoader


class _Loader(_BaseLoader):  # type: ignore[valid-type,misc]
    """SafeLoader with YAML 1.2 scalars: `yes`/`no`/`on`/`off`, `22:30`, `0123` and dates stay strings.

    YAML 1.1 would silently turn them into booleans, base-60 numbers, octal numbers and dates; a spec
    then validates with a value nobody wrote. Hex integers (`pkey: 0x7fff`) stay integers.
    """

    yaml_implicit_resolvers: ClassVar[dict[str, list[tuple[str, re.Pattern[str]]]]] = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag not in _YAML11_SURPRISES]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }


_Loader.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
                              list("tTfF"))
_Loader.add_implicit_resolver("tag:yaml.org,2002:int", re.compile(r"^(?:[-+]?(?:0|[1-9][0-9_]*)|0x[0-9a-fA-F_]+)$"),
                              list("-+0123456789"))
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^(?:[-+]?(?:[0-9][0-9_]*)?\.[0-9_]+(?:[eE][-+]?[0-9]+)?|[-+]?[0-9][0-9_]*\.[0-9_]*(?:[eE][-+]?[0-9]+)?"
               r"|[-+]?[0-9][0-9_]*[eE][-+]?[0-9]+|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"),
    list("-+0123456789."))


ALIAS_NODES = 10_000
"""Values YAML aliases may repeat beyond those the document writes out (as many as it writes, if more): enough
for anchors shared by a thousand nodes, far too few for an alias bomb, which is refused before it expands."""


class _RecursiveAlias(Exception):
    """An anchor whose own value uses its alias: it would expand for ever."""

    def __init__(self, node: yaml.Node) -> None:
        super().__init__()
        self.node = node


def _alias_overflow(root: yaml.Node) -> tuple[int, int, yaml.Node] | None:
    """(the bound, values in all, the node whose repeats add the most) when aliases repeat more values than the
    bound allows; None when they do not. Linear in the document as written; _RecursiveAlias for a cycle."""
    sizes: dict[int, int] = {}
    uses: dict[int, int] = {}
    nodes: dict[int, yaml.Node] = {}
    active: set[int] = set()

    def size(node: yaml.Node) -> int:
        key = id(node)
        uses[key] = uses.get(key, 0) + 1
        if key in sizes:
            return sizes[key]
        if key in active:
            raise _RecursiveAlias(node)
        active.add(key)
        nodes[key] = node
        if isinstance(node, yaml.MappingNode):
            children = [part for pair in node.value for part in pair]
        elif isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        else:
            children = []
        sizes[key] = 1 + sum(size(child) for child in children)
        active.discard(key)
        return sizes[key]

    total = size(root)
    written = len(sizes)
    bound = max(ALIAS_NODES, written)
    if total - written <= bound:
        return None
    worst = max((k for k in uses if uses[k] > 1), key=lambda k: (uses[k] - 1) * sizes[k])
    return bound, total, nodes[worst]


def _to_python(node: yaml.Node, path: Path_, line: int, smap: SourceMap, loader: _Loader,
               problems: list[Problem]) -> Any:
    smap.lines[path] = line
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)
        out: dict[str, Any] = {}
        key_lines: dict[str, int] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if not isinstance(key, str):
                key = str(key)
            key_line = key_node.start_mark.line + 1
            if key in out:
                problems.append(Problem(smap.file, key_line, ".".join(map(str, path + (key,))), key,
                                        f"each key once per mapping (already declared on line {key_lines[key]})"))
            key_lines.setdefault(key, key_line)
            out[key] = _to_python(value_node, path + (key,), key_line, smap, loader, problems)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_to_python(item, path + (i,), item.start_mark.line + 1, smap, loader, problems)
                for i, item in enumerate(node.value)]
    return loader.construct_object(node, deep=True)


def load_yaml(path: Path, display_name: str | None = None, *, strict: bool = True) -> tuple[Any, SourceMap]:
    """Parse one YAML document; raise SpecError (never a traceback) when it is not readable YAML.

    A key declared twice in one mapping is a problem too: with `strict` it is raised at once, otherwise
    it is left in `SourceMap.problems` so the caller can report it together with everything else.
    """
    data, smap, problems = _parse(path, display_name or str(path))
    if problems and strict:
        raise SpecError(problems)
    smap.problems = problems
    return data, smap


def _parse(path: Path, name: str) -> tuple[Any, SourceMap, list[Problem]]:
    smap = SourceMap(name)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SpecError([Problem(name, 0, "", str(path), f"a readable file ({exc.strerror})")]) from None
    except UnicodeDecodeError as exc:
        raise SpecError([Problem(name, 0, "", f"byte {exc.start}", "a UTF-8 text file (YAML)")]) from None
    loader = _Loader(text)
    problems: list[Problem] = []
    try:
        node = loader.get_single_node()
        overflow = _alias_overflow(node) if node is not None else None
        if overflow is not None:
            bound, total, worst = overflow
            raise SpecError([Problem(name, worst.start_mark.line + 1, "", _source_line(text, worst),
                                     f"YAML aliases that repeat at most {bound} values (these expand the document "
                                     f"to {total} values)")])
        data: Any = {} if node is None else _to_python(node, (), 1, smap, loader, problems)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 0
        reason = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        source = text.splitlines()[line - 1].strip() if 0 < line <= len(text.splitlines()) else ""
        raise SpecError([Problem(name, line, "", source, f"valid YAML ({reason})")]) from None
    except _RecursiveAlias as exc:
        raise SpecError([Problem(name, exc.node.start_mark.line + 1, "", _source_line(text, exc.node),
                                 "valid YAML without recursive aliases (this anchor's value uses its own alias)")]) from None
    except RecursionError:
        raise SpecError([Problem(name, 0, "", "", "valid YAML nested less deeply")]) from None
    finally:
        loader.dispose()
    return data, smap, problems


def _source_line(text: str, node: yaml.Node) -> str:
    lines = text.splitlines()
    line = node.start_mark.line + 1
    return lines[line - 1].strip() if 0 < line <= len(lines) else ""
