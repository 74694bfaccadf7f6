"""An OCI image layout writer: layers from directory trees (or tar streams), an image config, a manifest and the
layout's index, written as content-addressed blobs. No network, no container engine, standard library only.

Reproducible: the same trees and settings give the same digests. Entries are written in sorted order, with one
fixed mtime (SOURCE_DATE_EPOCH), numeric owners only (no user or group names), and gzip with mtime 0 and no
file name, so nothing of the build machine or the build time enters a blob.

source: the OCI Image Format Specification v1.1.1 (github.com/opencontainers/image-spec, tag v1.1.1):
- image-layout.md: a layout is a directory with `oci-layout` (`{"imageLayoutVersion": "1.0.0"}`), `index.json`
  (an image index) and `blobs/<alg>/<hex>`, each blob stored under the digest of its content;
- media-types.md: the media types below;
- manifest.md: `schemaVersion` 2, `mediaType`, `config` and `layers` descriptors, `annotations`;
- descriptor.md: a descriptor is `mediaType`, `digest` (`sha256:<64 hex>`) and `size` in bytes;
- config.md: `created`, `architecture`, `os`, `config` (`User`, `Env`, `Entrypoint`, `Cmd`, `WorkingDir`,
  `Labels`), `rootfs` (`type` "layers", `diff_ids`: the digests of the *uncompressed* layer tars) and `history`;
- layer.md: a layer is a tar archive of the changes relative to the layers below; the `+gzip` media type is that
  tar compressed with gzip (RFC 1952);
- annotations.md: the pre-defined keys `org.opencontainers.image.created`, `.version`, `.source`, `.revision`,
  `.title`, `.ref.name` (the tag of a manifest in an index).
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import json
import os
import shutil
import stat
import tarfile
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

LAYOUT_VERSION = "1.0.0"
MEDIA_INDEX = "application/vnd.oci.image.index.v1+json"
MEDIA_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MEDIA_CONFIG = "application/vnd.oci.image.config.v1+json"
MEDIA_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
REF_NAME = "org.opencontainers.image.ref.name"

Owner = Callable[[str, os.stat_result], tuple[int, int]]
"""(path in the layer, its lstat) → (uid, gid) written for it."""


def keep_owner(_path: str, st: os.stat_result) -> tuple[int, int]:
    """The numeric owner the tree has on disk."""
    return st.st_uid, st.st_gid


def root_owner(_path: str, _st: os.stat_result) -> tuple[int, int]:
    return 0, 0


@dataclass(frozen=True)
class Descriptor:
    media_type: str
    digest: str
    size: int
    annotations: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {"mediaType": self.media_type, "digest": self.digest, "size": self.size}
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        return out


@dataclass(frozen=True)
class Layer:
    """A layer blob (gzip) and the digest of the tar inside it (its DiffID)."""

    descriptor: Descriptor
    diff_id: str
    comment: str = ""

    def to_json(self) -> dict[str, object]:
        return {**self.descriptor.to_json(), "diff_id": self.diff_id, "comment": self.comment}

    @classmethod
    def from_json(cls, data: dict) -> Layer:
        return cls(Descriptor(data["mediaType"], data["digest"], int(data["size"])), data["diff_id"],
                   data.get("comment", ""))


@dataclass(frozen=True)
class ImageConfig:
    """What config.md calls the image's `config`, plus the fields around it this writer sets."""

    entrypoint: list[str]
    cmd: list[str] = field(default_factory=list)
    env: list[str] = field(default_factory=list)
    user: str = ""
    working_dir: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    created: int = 0
    """Seconds since the epoch (SOURCE_DATE_EPOCH), written as RFC 3339 UTC."""
    architecture: str = "amd64"
    os: str = "linux"


def rfc3339(epoch: int) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def canonical_json(data: object) -> bytes:
    """Sorted keys, no spaces: one byte sequence, so one digest, for one content."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


class _Hashing:
    """A write-only file object that hashes and counts what passes through it to `sink`."""

    def __init__(self, sink: BinaryIO) -> None:
        self.sink, self.sha, self.size = sink, hashlib.sha256(), 0

    def write(self, data: bytes) -> int:
        self.sha.update(data)
        self.size += len(data)
        return self.sink.write(data)

    def flush(self) -> None:
        self.sink.flush()

    @property
    def digest(self) -> str:
        return f"sha256:{self.sha.hexdigest()}"


def tree_paths(root: Path, skip: Callable[[str], bool] | None = None) -> list[str]:
    """Every path under `root` (relative, `/`-separated, `root` itself left out) in sorted order; a directory
    that `skip` names is written itself but not what is inside it."""
    found: list[str] = []

    def walk(directory: Path, prefix: str) -> None:
        with os.scandir(directory) as entries:
            names = sorted(e.name for e in entries)
        for name in names:
            rel = f"{prefix}{name}"
            found.append(rel)
            path = directory / name
            if path.is_dir() and not path.is_symlink() and not (skip and skip(rel)):
                walk(path, rel + "/")

    walk(root, "")
    return found


def with_parents(paths: Iterable[str]) -> list[str]:
    """The paths and every directory above them, sorted: a layer that adds a file also carries its directories."""
    out: set[str] = set()
    for p in paths:
        parts = p.strip("/").split("/")
        for n in range(1, len(parts) + 1):
            out.add("/".join(parts[:n]))
    return sorted(out)


class ImageLayout:
    """One OCI image layout directory: blobs are added as they are made; `write_image` writes the config, the
    manifest and an index.json naming that manifest."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.blobs = root / "blobs" / "sha256"
        self.blobs.mkdir(parents=True, exist_ok=True)
        (root / "oci-layout").write_bytes(canonical_json({"imageLayoutVersion": LAYOUT_VERSION}))

    def blob_path(self, digest: str) -> Path:
        algorithm, _, hexdigest = digest.partition(":")
        if algorithm != "sha256" or len(hexdigest) != 64:
            raise ValueError(f"not a sha256 digest: {digest}")
        return self.blobs / hexdigest

    def add_blob(self, data: bytes, media_type: str) -> Descriptor:
        digest = f"sha256:{hashlib.sha256(data).hexdigest()}"
        path = self.blob_path(digest)
        if not path.exists():
            _write_atomically(path, data)
        return Descriptor(media_type, digest, len(data))

    def add_layer_tree(self, tree: Path, *, mtime: int, paths: Iterable[str] | None = None,
                       owner: Owner = keep_owner, skip: Callable[[str], bool] | None = None,
                       comment: str = "") -> Layer:
        """A layer of `tree`: every path under it (or only `paths` and their directories), with its mode, type
        (file, directory, symlink, hard link, device) and numeric owner as `owner` gives it; mtime `mtime`."""
        selected = with_parents(paths) if paths is not None else tree_paths(tree, skip)

        def fill(tar: tarfile.TarFile) -> None:
            for rel in selected:
                info = tar.gettarinfo(str(tree / rel), arcname=rel)
                if info is None:  # a socket: nothing a layer can hold
                    continue
                st = os.lstat(tree / rel)
                info.uid, info.gid = owner(rel, st)
                info.uname = info.gname = ""
                info.mtime = mtime
                info.mode = stat.S_IMODE(st.st_mode)
                if info.isreg():
                    with open(tree / rel, "rb") as f:
                        tar.addfile(info, f)
                else:
                    tar.addfile(info)

        return self._add_layer(fill, comment)

    def add_layer_tar(self, stream: BinaryIO, comment: str = "") -> Layer:
        """A layer from an uncompressed tar stream, taken as it is (its DiffID is the digest of those bytes)."""

        def copy(sink: _Hashing) -> None:
            shutil.copyfileobj(stream, sink, 1 << 20)

        return self._add_layer(copy, comment, raw=True)

    def add_layer_blob(self, blob: Path, layer: Layer) -> Layer:
        """An already compressed layer (a cached one), checked against its digest and copied in."""
        sha = hashlib.sha256()
        with open(blob, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                sha.update(chunk)
        if f"sha256:{sha.hexdigest()}" != layer.descriptor.digest or blob.stat().st_size != layer.descriptor.size:
            raise ValueError(f"{blob}: its content is not the layer {layer.descriptor.digest}")
        target = self.blob_path(layer.descriptor.digest)
        if not target.exists():
            try:
                os.link(blob, target)
            except OSError:
                shutil.copyfile(blob, target)
        return layer

    def _add_layer(self, fill: Callable, comment: str, raw: bool = False) -> Layer:
        fd, tmp = tempfile.mkstemp(dir=self.blobs, prefix=".layer-")
        try:
            with os.fdopen(fd, "wb") as out:
                blob = _Hashing(out)
                with gzip.GzipFile(filename="", mode="wb", fileobj=blob, mtime=0, compresslevel=6) as gz:
                    diff = _Hashing(gz)
                    if raw:
                        fill(diff)
                    else:
                        with tarfile.open(fileobj=diff, mode="w|", format=tarfile.PAX_FORMAT) as tar:
                            fill(tar)
            descriptor = Descriptor(MEDIA_LAYER_GZIP, blob.digest, blob.size)
            os.chmod(tmp, 0o644)
            os.replace(tmp, self.blob_path(descriptor.digest))
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return Layer(descriptor, diff.digest, comment)

    def write_image(self, layers: list[Layer], config: ImageConfig, ref: str,
                    annotations: dict[str, str] | None = None) -> Descriptor:
        """The config and manifest blobs, and index.json naming the manifest as `ref`; the manifest's descriptor."""
        created = rfc3339(config.created)
        run: dict[str, object] = {"Entrypoint": config.entrypoint, "Env": config.env}
        if config.cmd:
            run["Cmd"] = config.cmd
        if config.user:
            run["User"] = config.user
        if config.working_dir:
            run["WorkingDir"] = config.working_dir
        if config.labels:
            run["Labels"] = dict(config.labels)
        image = {"created": created, "architecture": config.architecture, "os": config.os, "config": run,
                 "rootfs": {"type": "layers", "diff_ids": [layer.diff_id for layer in layers]},
                 "history": [{"created": created, "created_by": "podforge components.oci.layout",
                              **({"comment": layer.comment} if layer.comment else {})} for layer in layers]}
        config_descriptor = self.add_blob(canonical_json(image), MEDIA_CONFIG)
        manifest: dict[str, object] = {"schemaVersion": 2, "mediaType": MEDIA_MANIFEST,
                                       "config": config_descriptor.to_json(),
                                       "layers": [layer.descriptor.to_json() for layer in layers]}
        if annotations:
            manifest["annotations"] = dict(annotations)
        descriptor = self.add_blob(canonical_json(manifest), MEDIA_MANIFEST)
        index = {"schemaVersion": 2, "mediaType": MEDIA_INDEX,
                 "manifests": [{**descriptor.to_json(), "annotations": {REF_NAME: ref},
                                "platform": {"architecture": config.architecture, "os": config.os}}]}
        _write_atomically(self.root / "index.json", canonical_json(index))
        return descriptor


@dataclass(frozen=True)
class Image:
    """An image read back from a layout: its manifest's descriptor, the manifest and the config."""

    manifest_descriptor: dict
    manifest: dict
    config: dict

    @property
    def size(self) -> int:
        """Bytes of the manifest, the config and the layer blobs: what a registry stores for it."""
        return (int(self.manifest_descriptor["size"]) + int(self.manifest["config"]["size"])
                + sum(int(layer["size"]) for layer in self.manifest["layers"]))


def read_image(root: Path, ref: str | None = None) -> Image:
    """The image `ref` names in the layout's index.json (the only one when `ref` is None)."""
    index = json.loads((root / "index.json").read_text())
    entries = [m for m in index["manifests"] if ref is None or m.get("annotations", {}).get(REF_NAME) == ref]
    if len(entries) != 1:
        raise ValueError(f"{root}/index.json: {len(entries)} manifests named {ref or '(any)'}, expected one")
    blobs = root / "blobs" / "sha256"
    manifest = json.loads((blobs / entries[0]["digest"].split(":", 1)[1]).read_text())
    config = json.loads((blobs / manifest["config"]["digest"].split(":", 1)[1]).read_text())
    return Image(entries[0], manifest, config)


def _write_atomically(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)
