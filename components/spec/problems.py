"""One problem in a user's input, and the error that carries all of them at once."""

from __future__ import annotations

from dataclasses import dataclass


class _Missing:
    def __repr__(self) -> str:
        return "(missing)"

    __str__ = __repr__


MISSING = _Missing()
"""The value shown for a required field that is absent."""


def _show(value: object) -> str:
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= 80 else text[:77] + "..."


@dataclass(frozen=True)
class Problem:
    """`FILE:LINE: field.path: value — expected ...` (docs/conventions.md)."""

    file: str
    line: int
    path: str
    value: object
    expected: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        field_path = self.path or "(document)"
        return f"{where}: {field_path}: {_show(self.value)} — expected {self.expected}"


PRINTED_PROBLEMS = 50
"""Problems printed of a spec with more: the first ones in file order, then one line counting the rest."""


class SpecError(Exception):
    """Raised with every problem found; the CLI prints one line each (at most PRINTED_PROBLEMS) and exits 2."""

    def __init__(self, problems: list[Problem]):
        unique = {str(p): p for p in problems}
        self.problems = sorted(unique.values(), key=lambda p: (p.file, p.line, p.path, p.expected))
        super().__init__("\n".join(self.lines()))

    def lines(self, limit: int = PRINTED_PROBLEMS) -> list[str]:
        """The lines to print: the first `limit` problems, then `... and N more problems` if there are more."""
        shown = [str(p) for p in self.problems[:limit]]
        rest = len(self.problems) - limit
        if rest > 0:
            shown.append(f"... and {rest} more problem{'s' if rest != 1 else ''} ({len(self.problems)} in all)")
        return shown
