"""Rendering from the spec: config files from templates/, and the Ansible inventory as text."""

from components.render.environment import TEMPLATES_DIR, environment, render
from components.render.inventory import inventory_json, inventory_yaml

__all__ = ["TEMPLATES_DIR", "environment", "inventory_json", "inventory_yaml", "render"]
