"""The built-in hardware catalogue (catalogue.yaml beside this file), parsed once."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from components.spec.catalogue_models import Sku
from components.spec.yamlsource import load_yaml

CATALOGUE_FILE = Path(__file__).with_name("catalogue.yaml")


@cache
def builtin_catalogue() -> dict[str, Sku]:
    data, _ = load_yaml(CATALOGUE_FILE, "components/spec/catalogue.yaml")
    return {name: Sku(name=name, **entry) for name, entry in data.items()}
