#!/usr/bin/env bash
# Builds the gateway's OCI image without a registry or a container engine (docs/gateway.md, "The image";
# components/oci/gateway_image.py): three gzip layers written as an OCI image layout directory.
#
#   tools/build-gateway-image.sh VENV_BIN [GATEWAY_IMAGE] [OUT]
#
# VENV_BIN       the venv's bin directory (its python runs the builder and downloads the wheels).
# GATEWAY_IMAGE  `build` (default): fetch the wheels of requirements-gateway.lock (pip download, once per lock)
#                and build; `skip`: change nothing (tests/integration/test_gateway_image.py then skips).
# OUT            the OCI layout directory written (replaced), default build/gateway-image in the clone (ignored
#                by git); the image is `oci:OUT:latest` for skopeo and umoci.
#
# The slow parts are cached outside the clone, each keyed by its inputs, in ${XDG_CACHE_HOME:-~/.cache}/podforge:
# gateway-image-wheelhouse-KEY (the wheels and pip's wheel; key: the lock and pip's version), gateway-image-base-KEY
# (debootstrap of bookworm minbase with python3 and ca-certificates, from the lab's mirror setting
# PODFORGE_LAB_MIRROR, else the machine's own Debian mirror; key: the package list) and gateway-image-wheels-KEY
# (the venv; key: the base, the lock, pip's version). The podforge layer is built from the clone every time.
# Building needs root (debootstrap, chroot); as another user the build is skipped with that reason.
set -euo pipefail

venv_bin=${1:?usage: tools/build-gateway-image.sh VENV_BIN [build|skip] [OUT]}
mode=${2:-build}
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
out=${3:-$repo/build/gateway-image}
cache=${XDG_CACHE_HOME:-$HOME/.cache}/podforge
python=$(cd "$venv_bin" && pwd)/python

case $mode in
  skip)
    echo "gateway-image: skipped (GATEWAY_IMAGE=skip): no image built, tests/integration/test_gateway_image.py skips"
    exit 0 ;;
  build) ;;
  *) echo "gateway-image: GATEWAY_IMAGE=$mode: expected build or skip" >&2; exit 2 ;;
esac

if [ "$(id -u)" != 0 ]; then
  echo "gateway-image: not root: skipped (debootstrap and chroot need root); the image test skips"
  exit 0
fi
command -v debootstrap >/dev/null || { echo "gateway-image: debootstrap not found (apt-get install debootstrap)" >&2; exit 1; }

cd "$repo"
"$python" -m components.oci.gateway_image download --cache "$cache"
"$python" -m components.oci.gateway_image build --cache "$cache" --out "$out"
