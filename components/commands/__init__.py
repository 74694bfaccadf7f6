"""One module per `podforge` subcommand (see components/cli.py)."""

import argparse


def example(text: str) -> dict[str, object]:
    """Keyword arguments that give a subcommand's --help an example section."""
    return {"epilog": f"example:\n  {text}", "formatter_class": argparse.RawDescriptionHelpFormatter}
