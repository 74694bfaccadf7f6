"""The audit log: records chained by SHA-256 across rotated files, no personal values written, retention of
at least 180 days; verify_chain and `podforge audit verify` find edited, deleted and reordered records."""

from __future__ import annotations

import datetime as dt
import itertools
import json

import pytest

from components.cli import main
from components.gateway.audit import GENESIS, AuditLog, record_hash, verify_chain


class Clock:
    def __init__(self) -> None:
        self.now = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)

    def __call__(self) -> dt.datetime:
        self.now += dt.timedelta(seconds=1)
        return self.now


def _log(tmp_path, **kwargs) -> AuditLog:
    return AuditLog(tmp_path / "audit", clock=kwargs.pop("clock", Clock()), **kwargs)


def _fill(log: AuditLog, n: int) -> None:
    for i in range(n):
        log.append(identity=f"key-{i % 3}", role="api_user", endpoint="/v1/chat/completions", model="deepseek-r1",
                   categories={"mobile": {"count": 1, "action": "mask"}}, decision="allow", status=200,
                   latency_ms=12.5)


def _lines(path):
    return path.read_text(encoding="utf-8").splitlines(keepends=True)


def test_records_are_chained(tmp_path):
    log = _log(tmp_path)
    _fill(log, 5)
    [path] = log.files()
    records = [json.loads(line) for line in _lines(path)]
    assert records[0]["prev"] == GENESIS
    assert [r["seq"] for r in records] == list(range(5))
    for before, after in itertools.pairwise(records):
        assert after["prev"] == before["hash"] == record_hash(before)
    assert verify_chain(log.files()) == []


def test_rotation_keeps_the_chain_across_files(tmp_path):
    log = _log(tmp_path, max_bytes=600)
    _fill(log, 12)
    files = log.files()
    assert len(files) > 2
    first_of_second = json.loads(_lines(files[1])[0])
    last_of_first = json.loads(_lines(files[0])[-1])
    assert first_of_second["prev"] == last_of_first["hash"]
    assert verify_chain(files) == []


def test_rotation_by_age(tmp_path):
    log = _log(tmp_path, max_age=dt.timedelta(seconds=2))
    _fill(log, 6)
    assert len(log.files()) >= 2 and verify_chain(log.files()) == []


def test_a_reopened_log_continues_the_chain(tmp_path):
    _fill(_log(tmp_path), 3)
    log = _log(tmp_path)
    _fill(log, 2)
    seqs = [json.loads(line)["seq"] for f in log.files() for line in _lines(f)]
    assert seqs == [0, 1, 2, 3, 4] and verify_chain(log.files()) == []


def test_an_edited_record_is_found(tmp_path):
    log = _log(tmp_path)
    _fill(log, 4)
    [path] = log.files()
    lines = _lines(path)
    lines[2] = lines[2].replace('"status":200', '"status":403')
    path.write_text("".join(lines), encoding="utf-8")
    [problem] = verify_chain([path])
    assert problem.line == 3 and "changed" in problem.message


def test_a_deleted_record_is_found(tmp_path):
    log = _log(tmp_path)
    _fill(log, 4)
    [path] = log.files()
    lines = _lines(path)
    del lines[1]
    path.write_text("".join(lines), encoding="utf-8")
    problems = verify_chain([path])
    assert {p.line for p in problems} == {2} and any("prev" in p.message for p in problems)


def test_reordered_records_are_found(tmp_path):
    log = _log(tmp_path)
    _fill(log, 4)
    [path] = log.files()
    lines = _lines(path)
    lines[1], lines[2] = lines[2], lines[1]
    path.write_text("".join(lines), encoding="utf-8")
    assert {p.line for p in verify_chain([path])} >= {2, 3}


def test_a_file_left_out_is_found(tmp_path):
    log = _log(tmp_path, max_bytes=600)
    _fill(log, 12)
    files = log.files()
    problems = verify_chain([files[0], *files[2:]])
    assert problems and problems[0].file == str(files[2]) and problems[0].line == 1


def test_no_personal_value_is_written(tmp_path):
    log = _log(tmp_path)
    log.append(identity="zhang.wei@example.com", role="api_user", endpoint="/v1/completions",
               model="deepseek-r1", categories={"email": {"count": 1, "action": "mask"}})
    text = log.files()[0].read_text(encoding="utf-8")
    assert "zhang.wei@example.com" not in text and "[email]" in text


def test_sinks_get_every_record_and_a_failing_sink_costs_nothing(tmp_path):
    log = _log(tmp_path)
    got = []
    log.add_sink(lambda record, line: got.append(record["seq"]))
    log.add_sink(lambda record, line: 1 / 0)
    _fill(log, 3)
    assert got == [0, 1, 2] and log.sink_errors == 3 and verify_chain(log.files()) == []


def test_retention_is_at_least_180_days_and_follows_the_spec(tmp_path, lab):
    with pytest.raises(ValueError, match="180"):
        _log(tmp_path, retention_days=90)
    assert AuditLog.for_spec(lab, tmp_path / "a").retention_days == lab.retention.audit_log_days >= 180


def test_prune_deletes_only_files_older_than_the_retention(tmp_path):
    clock = Clock()
    log = _log(tmp_path, max_age=dt.timedelta(days=1), clock=clock)
    _fill(log, 2)
    clock.now += dt.timedelta(days=200)
    _fill(log, 2)
    clock.now += dt.timedelta(days=1, seconds=5)
    _fill(log, 2)
    assert len(log.files()) == 3
    removed = log.prune()
    assert len(removed) == 1 and len(log.files()) == 2
    assert verify_chain(log.files()) == []


def test_cli_verify(tmp_path, capsys):
    log = _log(tmp_path)
    _fill(log, 3)
    [path] = log.files()
    assert main(["audit", "verify", str(path)]) == 0
    lines = _lines(path)
    path.write_text(lines[0] + lines[2], encoding="utf-8")
    assert main(["audit", "verify", str(path)]) == 1
    out = capsys.readouterr().out
    assert f"{path}:2:" in out
    assert main(["audit", "verify", str(tmp_path / "missing.jsonl")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_a_file_path_names_the_files_beside_it(tmp_path):
    log = AuditLog(tmp_path / "state" / "lab.gateway-audit.jsonl", clock=Clock(), max_bytes=600)
    _fill(log, 8)
    files = log.files()
    assert len(files) > 1 and all(f.name.startswith("lab.gateway-audit-") for f in files)
    assert verify_chain(files) == []
