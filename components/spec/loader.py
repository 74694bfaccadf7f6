"""Load a spec (or a stack's spec) and validate it completely before anything else happens.

Relative paths in a stack's settings are relative to the project (components.paths); so is a relative `path`
given to load_spec without a `root`.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from difflib import get_close_matches
from functools import cache
from pathlib import Path
from typing import Annotated, Any, get_args, get_origin

from pydantic import BaseModel, TypeAdapter, ValidationError

import components.paths as paths  # as a module: components.paths itself imports from components.spec
from components.spec.checks import OTHER, Clash, Finding, check
from components.spec.cluster import ClusterSpec
from components.spec.problems import MISSING, Problem, SpecError
from components.spec.yamlsource import SourceMap, load_yaml


@dataclass(frozen=True)
class LoadedSpec:
    spec: ClusterSpec
    file: str
    source: SourceMap

    def line_of(self, *path: str | int) -> int:
        return self.source.line_of(tuple(path))


@dataclass(frozen=True)
class Stack:
    """A stack's settings file `Pulumi.NAME.yaml`, whose `podforge:spec` names the spec."""

    name: str
    file: str
    """The settings file as error lines show it (relative to the project)."""
    project: paths.Project
    config: dict[str, Any] = field(default_factory=dict)
    secret_keys: tuple[str, ...] = ()

    @property
    def root(self) -> Path:
        """The project directory: relative paths in the stack and its spec are relative to it."""
        return self.project.root

    @property
    def spec_path(self) -> str:
        return str(self.config["podforge:spec"])


def load_spec(path: str | Path, root: Path | None = None, display: str | None = None) -> LoadedSpec:
    """Parse and validate a spec file (a relative path is relative to `root`, by default the project); raise
    SpecError with every problem found. `display` is the name error lines give the file (default: `path`)."""
    full = Path(path) if Path(path).is_absolute() else (root or paths.project_root()) / path
    display = display or str(path)
    data, smap = load_yaml(full, display, strict=False)
    data = {} if data is None else data  # an empty document lacks every required section, as `{}` does
    if not isinstance(data, dict):
        raise SpecError([Problem(display, smap.line_of(()), "", type(data).__name__, "a mapping of spec sections")])
    problems = list(smap.problems)
    try:
        spec = ClusterSpec.model_validate(data)
        parsed: Collection[str] = set(ClusterSpec.model_fields)
    except ValidationError as exc:
        errors = _without_follow_ons(exc.errors())
        problems += [_problem(display, smap, err) for err in errors]
        failed = {err["loc"][0] if err["loc"] else "" for err in exc.errors()}
        spec, parsed = _parsed_sections(data, failed)
    problems += [_finding(display, smap, finding) for finding in check(spec, parsed)]
    if problems:
        raise SpecError(problems)
    return LoadedSpec(spec, display, smap)


def _finding(file: str, smap: SourceMap, finding: Finding | Clash) -> Problem:
    """A cross-check's finding as a line; a clash at its side declared later, naming the earlier one's line."""
    if isinstance(finding, Clash):
        first, second = finding.first, finding.second
        if smap.line_of(first[0]) > smap.line_of(second[0]):
            first, second = second, first
        path, value, expected = second
        other = f"{'.'.join(map(str, first[0]))} on line {smap.line_of(first[0])}"
        return Problem(file, smap.line_of(path), ".".join(map(str, path)), value, expected.replace(OTHER, other))
    path, value, expected = finding
    return Problem(file, smap.line_of(path), ".".join(map(str, path)), value, expected)


def _without_follow_ons(errors: list[Any]) -> list[Any]:
    """Schema errors less those that only follow from another: a required key reported missing beside an unknown
    key that is its typo (`serail` for `serial`) is one mistake, reported once, as the typo."""
    misspelt = set()
    for err in errors:
        loc = tuple(part for part in err["loc"] if part != "[key]")
        if err["type"] == "extra_forbidden" and loc:
            close = get_close_matches(str(loc[-1]), _allowed_keys(loc[:-1]), n=1)
            misspelt.update(loc[:-1] + (name,) for name in close)
    return [err for err in errors if not (err["type"] == "missing" and tuple(err["loc"]) in misspelt)]


def _parsed_sections(data: dict[str, Any], failed: set[object]) -> tuple[ClusterSpec, set[str]]:
    """A ClusterSpec holding only the sections that passed the schema, and their names.

    Sections validate independently of each other, so the ones without errors can still be
    cross-checked; the rest stay unset and the checks that read them are skipped.
    """
    if "" in failed:
        return ClusterSpec.model_construct(), set()
    sections: dict[str, Any] = {}
    for name, info in ClusterSpec.model_fields.items():
        if name in failed:
            continue
        if name not in data:
            if info.is_required():
                continue
            sections[name] = info.get_default(call_default_factory=True)
            continue
        try:
            sections[name] = _section_adapter(name).validate_python(data[name])
        except ValidationError:  # cannot happen for a section the whole spec accepted; stay safe anyway
            continue
    return ClusterSpec.model_construct(**sections), set(sections)


@cache
def _section_adapter(name: str) -> TypeAdapter[Any]:
    info = ClusterSpec.model_fields[name]
    annotation = Annotated[info.annotation, *info.metadata] if info.metadata else info.annotation
    return TypeAdapter(annotation)


def load_stack(name: str, root: Path | None = None) -> Stack:
    """Read the project's `Pulumi.NAME.yaml` (`root`: the project directory, by default the one found as the Pulumi
    CLI finds it); refuse a missing file or a missing `podforge:spec`."""
    project = paths.project(root)
    path = project.stack_file(name)
    file = project.shown(path)
    if not path.is_file():
        known = project.stacks()
        there = f"stacks there: {', '.join(known)}" if known else "no stacks there"
        raise SpecError([Problem(file, 0, "--stack", name, f"a stack of the project: no {path.name} in "
                                                            f"{project.stacks_dir} ({there})")])
    data, smap = load_yaml(path, file)
    config = (data or {}).get("config") if isinstance(data, dict) else None
    if not isinstance(config, dict):
        raise SpecError([Problem(file, smap.line_of(()), "config", config, "a mapping of stack settings")])
    plain: dict[str, Any] = {}
    secret: list[str] = []
    for key, value in config.items():
        if isinstance(value, dict) and set(value) == {"secure"}:
            secret.append(key)  # podforge never decrypts `secure:` values itself
        plain[key] = value
    spec_path = plain.get("podforge:spec")
    if not isinstance(spec_path, str) or not spec_path:
        raise SpecError([Problem(file, smap.line_of(("config",)), "config.podforge:spec", spec_path,
                                 "the path of the stack's spec, relative to the project root (e.g. specs/lab.yaml)")])
    return Stack(name, file, project, plain, tuple(secret))


def load_stack_spec(name: str, root: Path | None = None) -> tuple[Stack, LoadedSpec]:
    """The stack and its spec, each read once: hand both on (components.offline.capture_stack) rather than
    reading them again."""
    stack = load_stack(name, root)
    return stack, load_spec(stack.spec_path, stack.root)


def _problem(file: str, smap: SourceMap, err: Any) -> Problem:
    loc = tuple(part for part in err["loc"] if part != "[key]")
    path = ".".join(map(str, loc))
    kind = err["type"]
    if kind == "extra_forbidden":
        allowed = _allowed_keys(loc[:-1])
        key = str(loc[-1]) if loc else ""
        close = get_close_matches(key, allowed, n=1)
        guess = f" (did you mean {close[0]!r}?)" if close else ""
        expected = f"a key allowed here{guess}: {', '.join(allowed)}" if allowed else "no key here"
        return Problem(file, smap.line_of(loc), path, key, expected)
    if kind == "missing":
        return Problem(file, smap.line_of(loc), path, MISSING, "a value: this field is required"
                       + _described(loc))
    return Problem(file, smap.line_of(loc), path, err.get("input"), _expectation(err) + _described(loc))


def _expectation(err: Any) -> str:
    """pydantic's message, worded as what is expected (the line already says what was found)."""
    kind, ctx = err["type"], err.get("ctx") or {}
    if kind in ("literal_error", "enum"):
        return f"one of {ctx['expected']}"
    if kind == "string_too_short":
        return "a non-empty string" if ctx.get("min_length") == 1 else f"at least {ctx['min_length']} characters"
    if kind == "too_short":
        return f"at least {ctx['min_length']} item{'s' if ctx['min_length'] != 1 else ''}"
    if kind == "string_pattern_mismatch" and str(ctx.get("pattern", "")).startswith("^https://"):
        return "an https:// URL (TLS is required here)"
    if kind == "string_pattern_mismatch":
        return f"a string matching {ctx['pattern']!r}"
    fixed = {
        "ip_v4_address": "an IPv4 address",
        "ip_v4_network": "an IPv4 network in CIDR notation, without host bits",
        "model_type": "a mapping", "model_attributes_type": "a mapping", "dict_type": "a mapping",
        "list_type": "a list", "bool_parsing": "true or false", "bool_type": "true or false",
        "int_from_float": "a whole number", "int_parsing": "a whole number", "int_type": "a whole number",
        "float_parsing": "a number", "float_type": "a number", "string_type": "a string",
    }
    if kind in fixed:
        return fixed[kind]
    message = err["msg"]
    for prefix in ("Input should be ", "Value error, "):
        message = message.removeprefix(prefix)
    return message


def _walk(loc: tuple[str | int, ...]) -> tuple[Any, Any]:
    """Follow ClusterSpec's fields along `loc`: (the model at the end or None, the last FieldInfo)."""
    model: Any = ClusterSpec
    info = None
    dict_key_next = False
    for part in loc:
        if isinstance(part, int) or dict_key_next:
            dict_key_next = False
            continue
        if model is None:
            return None, None
        info = model.model_fields.get(str(part))
        if info is None:
            return None, None
        dict_key_next = get_origin(info.annotation) is dict
        model = _inner_model(info.annotation)
    return model, info


def _inner_model(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        inner = _inner_model(arg)
        if inner is not None:
            return inner
    return None


def _allowed_keys(loc: tuple[str | int, ...]) -> list[str]:
    model, _ = _walk(loc)
    return sorted(model.model_fields) if model is not None else []


def _described(loc: tuple[str | int, ...]) -> str:
    _, info = _walk(loc)
    description = getattr(info, "description", None)
    return f" ({description.rstrip('.')})" if description else ""
