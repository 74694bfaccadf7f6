"""Exit codes of every `podforge` command (docs/conventions.md, "Exit codes")."""

OK = 0
"""Done, nothing wrong."""
FOUND = 1
"""It ran and found something wrong: a policy violation, a failed check, a failed host, a plan that does not fit."""
INVALID = 2
"""Invalid input or usage: nothing was done (or written)."""
CHANGES = 3
"""Only with `--detailed-exitcode`: it ran and found changes (plan `--against`)."""
INTERRUPTED = 130
"""Stopped by Ctrl-C (128 + SIGINT), as shells report it."""
