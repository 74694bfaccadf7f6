"""Pulumi dynamic providers: the only code that touches the world (SSH, a BMC, an array), one per file."""
