"""The OCI image layout writer (components/oci/layout.py) on a tiny directory tree: blobs named by their digest,
DiffIDs of the uncompressed tars, the same manifest digest from two builds, modes, owners, symlinks and hard links
kept; skopeo as an independent reader. And the gateway image's wheel pins (requirements-gateway.lock)."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from components.oci.layout import (
    MEDIA_CONFIG,
    MEDIA_LAYER_GZIP,
    MEDIA_MANIFEST,
    ImageConfig,
    ImageLayout,
    keep_owner,
    read_image,
)

REPO = Path(__file__).resolve().parents[2]
EPOCH = 1700000000


def make_tree(root: Path) -> Path:
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "app.conf").write_text("key = value\n")
    os.chmod(root / "etc" / "app.conf", 0o640)
    (root / "bin").mkdir()
    (root / "bin" / "tool").write_text("#!/bin/sh\necho hi\n")
    os.chmod(root / "bin" / "tool", 0o755)
    os.symlink("tool", root / "bin" / "tool-link")
    os.link(root / "bin" / "tool", root / "bin" / "tool-hard")
    (root / "var" / "state").mkdir(parents=True)
    os.chmod(root / "var" / "state", 0o700)
    (root / "var" / "state" / "owned").write_text("belongs to 1000\n")
    (root / "dev").mkdir()
    (root / "dev" / "junk").write_text("left out\n")
    return root


def owners(path: str, st: os.stat_result) -> tuple[int, int]:
    return (1000, 1000) if path.startswith("var/state") else (0, 0)


def build(tree: Path, out: Path, *, labels: dict[str, str] | None = None) -> tuple[ImageLayout, str]:
    layout = ImageLayout(out)
    layer = layout.add_layer_tree(tree, mtime=EPOCH, owner=owners, skip={"dev"}.__contains__, comment="tiny")
    config = ImageConfig(entrypoint=["podforge"], cmd=["--help"], env=["PATH=/bin", "A=1"], user="1000:1000",
                         working_dir="/tmp", labels=labels or {"org.opencontainers.image.version": "0.1.0"},
                         created=EPOCH)
    manifest = layout.write_image([layer], config, "latest", annotations={"org.opencontainers.image.version": "0.1.0"})
    return layout, manifest.digest


def blob(layout_dir: Path, digest: str) -> bytes:
    return (layout_dir / "blobs" / "sha256" / digest.split(":", 1)[1]).read_bytes()


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    return make_tree(tmp_path / "tree")


def test_the_layout_has_its_marker_an_index_and_blobs_named_by_their_digest(tree: Path, tmp_path: Path) -> None:
    out = tmp_path / "image"
    _, digest = build(tree, out)
    assert json.loads((out / "oci-layout").read_text()) == {"imageLayoutVersion": "1.0.0"}
    index = json.loads((out / "index.json").read_text())
    assert index["schemaVersion"] == 2 and index["mediaType"] == "application/vnd.oci.image.index.v1+json"
    assert [m["digest"] for m in index["manifests"]] == [digest]
    assert index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"] == "latest"
    for path in (out / "blobs" / "sha256").iterdir():
        assert hashlib.sha256(path.read_bytes()).hexdigest() == path.name
    image = read_image(out)
    assert image.manifest["mediaType"] == MEDIA_MANIFEST and image.manifest["schemaVersion"] == 2
    assert image.manifest["config"]["mediaType"] == MEDIA_CONFIG
    for descriptor in [image.manifest["config"], *image.manifest["layers"]]:
        assert len(blob(out, descriptor["digest"])) == descriptor["size"]
    assert [layer["mediaType"] for layer in image.manifest["layers"]] == [MEDIA_LAYER_GZIP]


def test_diff_ids_are_the_digests_of_the_uncompressed_tars(tree: Path, tmp_path: Path) -> None:
    out = tmp_path / "image"
    build(tree, out)
    image = read_image(out)
    compressed = blob(out, image.manifest["layers"][0]["digest"])
    assert compressed[4:8] == b"\0\0\0\0", "gzip header mtime is 0"
    assert image.config["rootfs"] == {"type": "layers",
                                      "diff_ids": [f"sha256:{hashlib.sha256(gzip.decompress(compressed)).hexdigest()}"]}


def test_the_config_carries_the_run_settings(tree: Path, tmp_path: Path) -> None:
    out = tmp_path / "image"
    build(tree, out, labels={"org.opencontainers.image.version": "0.1.0", "org.opencontainers.image.revision": "abc"})
    config = read_image(out).config
    assert config["config"] == {"Entrypoint": ["podforge"], "Cmd": ["--help"], "Env": ["PATH=/bin", "A=1"],
                                "User": "1000:1000", "WorkingDir": "/tmp",
                                "Labels": {"org.opencontainers.image.version": "0.1.0",
                                           "org.opencontainers.image.revision": "abc"}}
    assert config["created"] == "2023-11-14T22:13:20Z"
    assert (config["architecture"], config["os"]) == ("amd64", "linux")
    assert [h.get("comment") for h in config["history"]] == ["tiny"]


def test_two_builds_give_the_same_digests_whatever_the_trees_times(tree: Path, tmp_path: Path) -> None:
    _, first = build(tree, tmp_path / "one")
    for path in [tree, *tree.rglob("*")]:
        os.utime(path, (EPOCH + 12345, EPOCH + 12345), follow_symlinks=False)
    copy = tmp_path / "copy"
    shutil.copytree(tree, copy, symlinks=True)  # other inodes, other times; the hard link becomes a second file
    os.unlink(copy / "bin" / "tool-hard")
    os.link(copy / "bin" / "tool", copy / "bin" / "tool-hard")
    _, second = build(tree, tmp_path / "two")
    _, third = build(copy, tmp_path / "three")
    assert first == second == third
    (copy / "etc" / "app.conf").write_text("key = other\n")
    _, changed = build(copy, tmp_path / "four")
    assert changed != first


def test_modes_owners_links_are_kept_and_skipped_directories_are_empty(tree: Path, tmp_path: Path) -> None:
    out = tmp_path / "image"
    build(tree, out)
    layer = gzip.decompress(blob(out, read_image(out).manifest["layers"][0]["digest"]))
    with tarfile.open(fileobj=io.BytesIO(layer)) as tar:
        members = {m.name: m for m in tar.getmembers()}
    assert list(members) == sorted(members), "entries in sorted order"
    assert set(members) == {"bin", "bin/tool", "bin/tool-hard", "bin/tool-link", "dev", "etc", "etc/app.conf", "var",
                            "var/state", "var/state/owned"}
    assert members["etc/app.conf"].mode == 0o640 and members["bin/tool"].mode == 0o755
    assert members["var/state"].isdir() and members["var/state"].mode == 0o700
    assert (members["var/state/owned"].uid, members["var/state/owned"].gid) == (1000, 1000)
    assert (members["etc/app.conf"].uid, members["etc/app.conf"].gid) == (0, 0)
    assert members["bin/tool-link"].issym() and members["bin/tool-link"].linkname == "tool"
    assert members["bin/tool-hard"].islnk() and members["bin/tool-hard"].linkname == "bin/tool"
    assert {m.mtime for m in members.values()} == {EPOCH}
    assert {(m.uname, m.gname) for m in members.values()} == {("", "")}


def test_a_layer_from_only_some_paths_carries_their_directories(tree: Path, tmp_path: Path) -> None:
    layout = ImageLayout(tmp_path / "image")
    layer = layout.add_layer_tree(tree, mtime=EPOCH, owner=keep_owner, paths=["var/state/owned"])
    data = gzip.decompress((tmp_path / "image/blobs/sha256" / layer.descriptor.digest.split(":")[1]).read_bytes())
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        assert tar.getnames() == ["var", "var/state", "var/state/owned"]


def test_a_tar_stream_is_taken_as_it_is(tmp_path: Path) -> None:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        info = tarfile.TarInfo("hello.txt")
        info.size = 5
        tar.addfile(info, io.BytesIO(b"hello"))
    layer = ImageLayout(tmp_path / "image").add_layer_tar(io.BytesIO(raw.getvalue()))
    assert layer.diff_id == f"sha256:{hashlib.sha256(raw.getvalue()).hexdigest()}"
    stored = (tmp_path / "image/blobs/sha256" / layer.descriptor.digest.split(":")[1]).read_bytes()
    assert gzip.decompress(stored) == raw.getvalue()


def test_a_cached_blob_that_is_not_its_layer_is_refused(tree: Path, tmp_path: Path) -> None:
    source = ImageLayout(tmp_path / "cache")
    layer = source.add_layer_tree(tree, mtime=EPOCH)
    path = source.blob_path(layer.descriptor.digest)
    target = ImageLayout(tmp_path / "image")
    assert target.add_layer_blob(path, layer) == layer
    assert target.blob_path(layer.descriptor.digest).read_bytes() == path.read_bytes()
    bad = tmp_path / "bad"
    bad.write_bytes(path.read_bytes()[:-1] + b"x")
    with pytest.raises(ValueError, match="is not the layer"):
        ImageLayout(tmp_path / "other").add_layer_blob(bad, layer)


@pytest.mark.skipif(shutil.which("skopeo") is None, reason="skopeo is not installed (make setup installs it as root)")
def test_skopeo_reads_the_layout(tree: Path, tmp_path: Path) -> None:
    out = tmp_path / "image"
    _, digest = build(tree, out)
    done = subprocess.run(["skopeo", "inspect", f"oci:{out}:latest"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    assert seen["Digest"] == digest
    assert seen["Layers"] == [layer["digest"] for layer in read_image(out).manifest["layers"]]
    assert seen["Labels"] == {"org.opencontainers.image.version": "0.1.0"}
    assert (seen["Architecture"], seen["Os"]) == ("amd64", "linux")
    config = subprocess.run(["skopeo", "inspect", "--config", f"oci:{out}:latest"], capture_output=True, text=True,
                            timeout=60)
    assert json.loads(config.stdout)["config"]["User"] == "1000:1000"


# --- requirements-gateway.lock ------------------------------------------------------------------------------------

def pins(path: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, version = line.strip().partition("==")
            out[canonicalize_name(name)] = version
    return out


def test_every_gateway_pin_is_the_pin_of_requirements_lock() -> None:
    gateway, full = pins(REPO / "requirements-gateway.lock"), pins(REPO / "requirements.lock")
    assert gateway, "requirements-gateway.lock pins something"
    assert {name: (version, full.get(name)) for name, version in gateway.items() if full.get(name) != version} == {}


def test_the_gateway_pins_hold_what_they_require() -> None:
    """Every requirement of a pinned distribution (as installed in this venv, markers evaluated) is pinned too, so
    `pip install --no-deps` of the lock gives a consistent set; and the gateway's own imports are there."""
    from importlib import metadata

    gateway = pins(REPO / "requirements-gateway.lock")
    missing = []
    for name in gateway:
        for text in metadata.requires(name) or []:
            req = Requirement(text)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                if canonicalize_name(req.name) not in gateway:
                    missing.append(f"{name} requires {req.name}")
    assert missing == []
    assert {"fastapi", "uvicorn", "httpx", "pyjwt", "pydantic", "pyyaml", "hvac", "kafka-python"} <= set(gateway)
    assert "ansible-core" not in gateway and "ansible" not in gateway
