"""Fixtures shared by the unit tests: the example stacks' validated specs."""

import pytest

from components.spec import load_stack_spec


@pytest.fixture(scope="session")
def lab():
    """The lab stack's spec (specs/lab.yaml)."""
    return load_stack_spec("lab")[1].spec


@pytest.fixture(scope="session")
def superpod():
    """The superpod stack's spec (specs/superpod.yaml)."""
    return load_stack_spec("superpod")[1].spec
