"""The gateway's OCI image, built without a registry or a container engine (docs/gateway.md, "The image").

Three layers, each a function of its inputs only, the slow two cached outside the clone:

- base: `debootstrap --variant=minbase bookworm` with python3 and ca-certificates, from the mirror the lab uses
  (components.lab.rootfs.mirror_uri); apt's caches and lists, docs, man pages and logs removed; the user and group
  `podforge` (1000, home /tmp: runtimes that take HOME from /etc/passwd agree with the image's Env) in /etc/passwd
  and /etc/group; empty mount points /etc/podforge (the project) and
  /var/lib/podforge-gateway (the state);
- wheels: a venv at /opt/podforge (`python3 -m venv --without-pip` in a chroot of the base) with the pinned wheels
  of requirements-gateway.lock, installed by pip run from its own wheel in the chroot (no pip left in the image),
  with no index: the wheels come from the wheelhouse `download` filled (make setup);
- project: podforge itself, a wheel built from the clone's files and installed with --no-deps (not editable);
  built every time, it is small.

Bytecode is compiled at install with SOURCE_DATE_EPOCH set, so the .pyc files are checked-hash ones (py_compile:
PycInvalidationMode.CHECKED_HASH when SOURCE_DATE_EPOCH is set; Python docs, py_compile) and hold no build time.

    python -m components.oci.gateway_image download --cache DIR
    python -m components.oci.gateway_image build --cache DIR --out DIR [--mirror URL]
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from components.lab import rootfs as lab_rootfs
from components.oci.layout import ImageConfig, ImageLayout, Layer, read_image, root_owner, tree_paths
from components.render.gateway_project import PROJECT_DIR, STATE_DIR, UID

REPO = Path(__file__).resolve().parents[2]
LOCK = REPO / "requirements-gateway.lock"
SUITE = "bookworm"
PACKAGES = ("ca-certificates", "python3")
"""On top of minbase: the interpreter the venv uses, and the CAs the gateway checks Vault's and an https JWKS
issuer's certificates with."""
BASE_REVISION = 2
"""Bump when prepare_base changes what the base layer holds."""
WHEELS_REVISION = 1
VENV = "/opt/podforge"
USER = "podforge"
GID = UID
LAYER_MTIME = 1704067200
"""2024-01-01T00:00:00Z: every entry of every layer has this mtime, so a layer's digest depends on its content."""
PYTHON_TAG = "3.11"
"""Debian 12's python3 (the built base's /usr/bin/python3 reports 3.11.2), the version the cp311 wheels need."""
REF = "latest"
ENV = [f"PATH={VENV}/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
       "PYTHONDONTWRITEBYTECODE=1", "PYTHONUNBUFFERED=1", "LANG=C.UTF-8", "HOME=/tmp",
       f"PODFORGE_PROJECT_DIR={PROJECT_DIR}"]
# Emptied before the base layer is made: caches, lists and logs of the build, and what a gateway never reads.
BASE_PRUNE = ("var/cache/apt", "var/lib/apt/lists", "var/log", "usr/share/doc", "usr/share/man", "usr/share/info",
              "usr/share/locale", "usr/share/lintian", "usr/share/common-licenses", "var/cache/debconf", "tmp", "run")
LAYER_SKIP = {"dev", "proc", "sys", "tmp", "run"}
"""Directories the base layer holds empty: the runtime mounts them."""


class BuildError(Exception):
    pass


def say(message: str) -> None:
    print(f"gateway-image: {message}", flush=True)


def run(cmd: list[str], step: str, *, env: dict[str, str] | None = None, cwd: Path | None = None,
        timeout: float = 1800) -> str:
    try:
        done = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise BuildError(f"{step}: {exc}") from None
    if done.returncode != 0:
        raise BuildError(f"{step}: {' '.join(cmd[:4])}... exited {done.returncode}:\n{(done.stdout + done.stderr)[-3000:]}")
    return done.stdout


def digest_of(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]


def lock_text() -> str:
    return LOCK.read_text()


def pip_version() -> str:
    import pip  # the build machine's pip (the venv's), whose wheel runs the installs in the chroot

    return pip.__version__


def base_key() -> str:
    return digest_of("base", str(BASE_REVISION), SUITE, "minbase", ",".join(PACKAGES))


def wheels_key() -> str:
    return digest_of("wheels", str(WHEELS_REVISION), base_key(), lock_text(), pip_version())


def wheelhouse(cache: Path) -> Path:
    return cache / f"gateway-image-wheelhouse-{digest_of(lock_text(), pip_version())}"


@contextlib.contextmanager
def locked(cache: Path) -> Iterator[None]:
    cache.mkdir(parents=True, exist_ok=True)
    with open(cache / "gateway-image.lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        yield


def chroot_env() -> dict[str, str]:
    return {"PATH": ENV[0].removeprefix("PATH="), "HOME": "/root", "LANG": "C.UTF-8",
            "SOURCE_DATE_EPOCH": str(LAYER_MTIME), "PIP_NO_CACHE_DIR": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1",
            "PIP_CONFIG_FILE": os.devnull}


# --- download (make setup; the only step that reaches an index) --------------------------------------------------

def download(cache: Path) -> Path:
    """The lock's wheels and pip's own wheel into the wheelhouse, unless already there."""
    house = wheelhouse(cache)
    stamp = house / "complete"
    if stamp.exists():
        say(f"reusing the wheelhouse {house} ({len(list(house.glob('*.whl')))} wheels)")
        return house
    if platform.machine() != "x86_64" or f"{sys.version_info.major}.{sys.version_info.minor}" != PYTHON_TAG:
        raise BuildError(f"the wheels are fetched for CPython {PYTHON_TAG} on x86_64 (the image's); this python is "
                         f"{platform.python_version()} on {platform.machine()}")
    partial = house.with_name(house.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    say(f"downloading the {sum(1 for _ in pins())} pinned wheels of {LOCK.name} and pip {pip_version()}")
    started = time.monotonic()
    run([sys.executable, "-m", "pip", "download", "-q", "--disable-pip-version-check", "--no-deps",
         "--only-binary=:all:", "-d", str(partial), "-r", str(LOCK), f"pip=={pip_version()}"], "pip download")
    shutil.copyfile(LOCK, partial / LOCK.name)
    (partial / "complete").write_text(f"{pip_version()}\n")
    shutil.rmtree(house, ignore_errors=True)
    partial.rename(house)
    say(f"downloaded {len(list(house.glob('*.whl')))} wheels in {time.monotonic() - started:.0f} s")
    return house


def pins() -> Iterator[str]:
    for line in lock_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            yield line.strip()


# --- the three layers ----------------------------------------------------------------------------------------------

def cached_layer(stage: Path) -> Layer | None:
    record = stage / "layer.json"
    if record.exists() and (stage / "rootfs").is_dir():
        return Layer.from_json(json.loads(record.read_text()))
    return None


def store_layer(stage: Path, layer: Layer) -> None:
    (stage / "layer.json").write_text(json.dumps(layer.to_json(), indent=2) + "\n")


def cached_stage(cache: Path, name: str, key: str, build: Callable[[Path], Layer]) -> tuple[Path, Layer]:
    """The layer cached in `gateway-image-<name>-<key>`, else `build(stage)` into a fresh stage, recorded."""
    stage = cache / f"gateway-image-{name}-{key}"
    layer = cached_layer(stage)
    if layer:
        say(f"{name}: reusing {layer.descriptor.digest[:19]} from {stage}")
        return stage, layer
    started = time.monotonic()
    shutil.rmtree(stage, ignore_errors=True)
    stage.mkdir(parents=True)
    layer = build(stage)
    store_layer(stage, layer)
    say(f"{name}: {layer.descriptor.digest[:19]} ({layer.descriptor.size / 1e6:.1f} MB) in "
        f"{time.monotonic() - started:.0f} s")
    return stage, layer


def base_stage(cache: Path, mirror: str) -> tuple[Path, Layer]:
    def build(stage: Path) -> Layer:
        partial = stage / "rootfs.partial"
        say(f"base: debootstrap --variant=minbase {SUITE} with {', '.join(PACKAGES)} from {mirror}")
        run(["debootstrap", "--variant=minbase", f"--include={','.join(PACKAGES)}", SUITE, str(partial), mirror],
            "debootstrap")
        prepare_base(partial)
        partial.rename(stage / "rootfs")
        return ImageLayout(stage / "oci").add_layer_tree(stage / "rootfs", mtime=LAYER_MTIME,
                                                         skip=LAYER_SKIP.__contains__,
                                                         comment=f"debian {SUITE} minbase + {' '.join(PACKAGES)}")

    return cached_stage(cache, "base", base_key(), build)


def prepare_base(root: Path) -> None:
    """Prune the rootfs, add the user and the mount points; leave nothing of the build machine in it."""
    for rel in BASE_PRUNE:
        path = root / rel
        if path.is_dir():
            for child in path.iterdir():
                shutil.rmtree(child) if child.is_dir() and not child.is_symlink() else child.unlink()
    for rel in ("etc/resolv.conf", "etc/hostname", "var/cache/ldconfig/aux-cache"):
        (root / rel).unlink(missing_ok=True)
    for old in list((root / "var/lib/dpkg").glob("*-old")) + list((root / "etc").glob("*-")):
        old.unlink()
    (root / "etc/machine-id").write_text("")
    (root / "etc/hostname").write_text("podforge-gateway\n")
    passwd, group = root / "etc/passwd", root / "etc/group"
    if f"\n{USER}:" not in "\n" + passwd.read_text():
        with passwd.open("a") as f:
            f.write(f"{USER}:x:{UID}:{GID}:podforge gateway:/tmp:/usr/sbin/nologin\n")
    if f"\n{USER}:" not in "\n" + group.read_text():
        with group.open("a") as f:
            f.write(f"{USER}:x:{GID}:\n")
    for mount_point in (PROJECT_DIR, STATE_DIR):
        (root / mount_point.lstrip("/")).mkdir(mode=0o755, parents=True, exist_ok=True)
    if not (root / "usr/bin/python3").exists():
        raise BuildError(f"{root}: no /usr/bin/python3 after debootstrap")


def chroot_pip(rootfs: Path, pip_wheel: str, args: list[str], step: str) -> str:
    return run(["chroot", str(rootfs), f"{VENV}/bin/python", f"/tmp/{pip_wheel}/pip", *args], step, env=chroot_env())


def wheels_stage(cache: Path, base: Path, house: Path) -> tuple[Path, Layer]:
    def build(stage: Path) -> Layer:
        partial = stage / "rootfs.partial"
        say(f"wheels: a venv at {VENV} with the {sum(1 for _ in pins())} wheels of {LOCK.name}")
        run(["cp", "-a", "--reflink=auto", str(base / "rootfs"), str(partial)], "copying the base rootfs")
        run(["chroot", str(partial), "/usr/bin/python3", "-m", "venv", "--without-pip", VENV], "python3 -m venv",
            env=chroot_env())
        wheels = partial / "tmp/wheels"
        shutil.copytree(house, wheels)
        pip_wheel = next(p.name for p in wheels.glob("pip-*.whl"))
        chroot_pip(partial, f"wheels/{pip_wheel}", ["install", "-q", "--no-index", "--no-deps", "--find-links",
                                                    "/tmp/wheels", "-r", f"/tmp/wheels/{LOCK.name}"],
                   "pip install (wheels)")
        chroot_pip(partial, f"wheels/{pip_wheel}", ["check"], "pip check")
        shutil.rmtree(wheels)
        partial.rename(stage / "rootfs")
        return ImageLayout(stage / "oci").add_layer_tree(
            stage / "rootfs", mtime=LAYER_MTIME, owner=root_owner, comment=f"venv {VENV}: {LOCK.name}",
            paths=["opt/" + p for p in tree_paths(stage / "rootfs" / "opt")])

    return cached_stage(cache, "wheels", wheels_key(), build)


def project_files() -> list[str]:
    """The clone's files: tracked ones and new ones git does not ignore."""
    out = run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], "git ls-files", cwd=REPO)
    return sorted(p for p in out.split("\0") if p and (REPO / p).is_file())


def project_layer(layout: ImageLayout, wheels: Path, house: Path) -> Layer:
    """podforge's wheel, built from a copy of the clone, installed into the cached wheels rootfs long enough to
    take the files its RECORD lists, then uninstalled."""
    rootfs = wheels / "rootfs"
    with tempfile.TemporaryDirectory(prefix="podforge-image-") as tmp:
        src = Path(tmp) / "src"
        for rel in project_files():
            (src / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / rel, src / rel)
        env = {**os.environ, "SOURCE_DATE_EPOCH": str(LAYER_MTIME)}
        run([sys.executable, "-m", "pip", "wheel", "-q", "--disable-pip-version-check", "--no-deps",
             "--no-build-isolation", "--no-index", "-w", str(Path(tmp) / "dist"), str(src)], "building podforge's wheel",
            env=env)
        wheel = next((Path(tmp) / "dist").glob("podforge-*.whl"))
        shutil.copyfile(wheel, rootfs / "tmp" / wheel.name)
    pip_wheel = next(p.name for p in house.glob("pip-*.whl"))
    shutil.copyfile(house / pip_wheel, rootfs / "tmp" / pip_wheel)
    try:
        chroot_pip(rootfs, pip_wheel, ["install", "-q", "--no-index", "--no-deps", "--force-reinstall",
                                       f"/tmp/{wheel.name}"], "pip install (podforge)")
        site = f"opt/podforge/lib/python{PYTHON_TAG}/site-packages"
        records = list((rootfs / site).glob("podforge-*.dist-info/RECORD"))
        if len(records) != 1:
            raise BuildError(f"{rootfs / site}: {len(records)} podforge RECORD files after the install")
        paths = [os.path.normpath(f"{site}/{line.split(',')[0]}") for line in records[0].read_text().splitlines()
                 if line.strip()]
        layer = layout.add_layer_tree(rootfs, mtime=LAYER_MTIME, owner=root_owner, paths=paths,
                                      comment=f"podforge ({wheel.name})")
    finally:
        with contextlib.suppress(BuildError):
            chroot_pip(rootfs, pip_wheel, ["uninstall", "-q", "-y", "podforge"], "pip uninstall (podforge)")
        (rootfs / "tmp" / wheel.name).unlink(missing_ok=True)
        (rootfs / "tmp" / pip_wheel).unlink(missing_ok=True)
    return layer


def prune(cache: Path, keep: set[Path]) -> None:
    """Remove the stages of earlier keys (an edited lock, a bumped revision): only the current ones are reused."""
    for stale in sorted(cache.glob("gateway-image-*")):
        if stale.is_dir() and stale not in keep:
            say(f"removing the stale {stale.name}")
            shutil.rmtree(stale)


# --- the image ------------------------------------------------------------------------------------------------------

def project_version() -> str:
    import tomllib

    return tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]


def git(*args: str) -> str:
    try:
        return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, timeout=30).stdout.strip()
    except OSError:
        return ""


def labels() -> dict[str, str]:
    """The pre-defined annotation keys (image-spec annotations.md) podforge knows: version, revision, source."""
    out = {"org.opencontainers.image.title": "podforge-gateway",
           "org.opencontainers.image.description": "podforge's inference gateway (docs/gateway.md)",
           "org.opencontainers.image.version": project_version(),
           "org.opencontainers.image.licenses": "Apache-2.0"}
    revision, source = git("rev-parse", "HEAD"), git("remote", "get-url", "origin")
    if revision:
        out["org.opencontainers.image.revision"] = revision
    if source:
        out["org.opencontainers.image.source"] = source
    return out


def created_epoch() -> int:
    """SOURCE_DATE_EPOCH, else the time of the commit the clone is at, else the layers' fixed time."""
    if os.environ.get("SOURCE_DATE_EPOCH", "").isdigit():
        return int(os.environ["SOURCE_DATE_EPOCH"])
    commit_time = git("log", "-1", "--format=%ct")
    return int(commit_time) if commit_time.isdigit() else LAYER_MTIME


def build(cache: Path, out: Path, mirror: str) -> int:
    if os.geteuid() != 0:
        raise BuildError("debootstrap and chroot need root")
    started = time.monotonic()
    house = wheelhouse(cache)
    if not (house / "complete").exists():
        raise BuildError(f"no wheelhouse {house}: run `download` first (make setup does)")
    with locked(cache):
        base, base_layer = base_stage(cache, mirror)
        wheels, wheels_layer = wheels_stage(cache, base, house)
        partial = out.with_name(out.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        partial.parent.mkdir(parents=True, exist_ok=True)
        layout = ImageLayout(partial)
        layout.add_layer_blob(base / "oci/blobs/sha256" / base_layer.descriptor.digest.split(":")[1], base_layer)
        layout.add_layer_blob(wheels / "oci/blobs/sha256" / wheels_layer.descriptor.digest.split(":")[1], wheels_layer)
        say("project: podforge's wheel from the clone")
        project = project_layer(layout, wheels, house)
        prune(cache, keep={house, base, wheels})
    found = labels()
    config = ImageConfig(entrypoint=["podforge"], cmd=["--help"], env=ENV, user=f"{UID}:{GID}", working_dir="/tmp",
                         labels=found, created=created_epoch())
    manifest = layout.write_image([base_layer, wheels_layer, project], config, REF, annotations=found)
    shutil.rmtree(out, ignore_errors=True)
    partial.rename(out)
    image = read_image(out)
    say(f"project: {project.descriptor.digest[:19]} ({project.descriptor.size / 1e6:.1f} MB)")
    say(f"wrote {out} (oci:{out}:{REF}) in {time.monotonic() - started:.0f} s")
    say(f"image digest {manifest.digest}, size {image.size / 1e6:.1f} MB compressed "
        f"(layers {', '.join(f'{x.descriptor.size / 1e6:.1f}' for x in (base_layer, wheels_layer, project))} MB)")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m components.oci.gateway_image",
                                     description="Build the gateway's OCI image (docs/gateway.md, \"The image\").")
    sub = parser.add_subparsers(dest="step", required=True)
    dl = sub.add_parser("download", help="fetch the pinned wheels of requirements-gateway.lock into the cache")
    dl.add_argument("--cache", type=Path, required=True, help="the cache directory (outside the clone)")
    bd = sub.add_parser("build", help="build the image from the cache and the clone (as root)")
    bd.add_argument("--cache", type=Path, required=True, help="the cache directory (outside the clone)")
    bd.add_argument("--out", type=Path, required=True, help="the OCI image layout directory to write (replaced)")
    bd.add_argument("--mirror", help="the Debian mirror (default: the lab's: $PODFORGE_LAB_MIRROR, else the "
                                     "machine's own bookworm mirror, else deb.debian.org)")
    args = parser.parse_args(argv)
    try:
        if args.step == "download":
            download(args.cache)
            return 0
        return build(args.cache, args.out, args.mirror or lab_rootfs.mirror_uri())
    except BuildError as exc:
        print(f"gateway-image: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
