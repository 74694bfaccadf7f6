"""The spec's Kafka audit topic: validate refuses a topic without brokers; `gateway serve` would have nothing to
produce to."""

from __future__ import annotations

import yaml

from components.cli import main
from tests.unit.plan_roots import example_spec, stack_root


def _lab_with_gateway(tmp_path, gateway: dict):
    spec = yaml.safe_load(example_spec("lab"))
    spec.setdefault("gateway", {}).update(gateway)
    return stack_root(tmp_path, "lab", spec_text=yaml.safe_dump(spec, sort_keys=False))


def test_a_topic_without_brokers_is_one_line(tmp_path, capsys) -> None:
    root = _lab_with_gateway(tmp_path, {"audit_topic": "podforge-audit"})
    assert main(["--project-dir", str(root), "validate", "--stack", "lab"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1
    assert "gateway.audit_bootstrap_servers" in lines[0] and "when gateway.audit_topic is set" in lines[0]


def test_a_topic_with_brokers_validates(tmp_path) -> None:
    root = _lab_with_gateway(tmp_path, {"audit_topic": "podforge-audit",
                                        "audit_bootstrap_servers": ["127.0.0.1:9092"]})
    assert main(["--project-dir", str(root), "validate", "--stack", "lab"]) == 0
