"""Rendering from the spec: the Ansible inventory, host_vars, and config files from templates/."""

from components.render.environment import TEMPLATES_DIR, environment, render
from components.render.inventory import groups, host_vars, inventory_json, inventory_yaml, known_hosts_lines

__all__ = ["TEMPLATES_DIR", "environment", "groups", "host_vars", "inventory_json", "inventory_yaml",
           "known_hosts_lines", "render"]
