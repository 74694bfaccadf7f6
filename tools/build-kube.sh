#!/usr/bin/env bash
# Puts a real Kubernetes API server into the project's venv for the tests that apply podforge's objects to it
# (docs/kubernetes-tests.md): kube-apiserver and etcd built from their Go modules, and the CRD modules in the
# Go module cache.
#
#   tools/build-kube.sh VENV_BIN [KUBE]
#
# KUBE is `build` (default): build kube-apiserver from the Go module tools/kube-apiserver/go.mod pins and etcd
# from the one tools/etcd/go.mod pins, each into a cache outside the clone keyed by version
# (${XDG_CACHE_HOME:-~/.cache}/podforge/kube-apiserver-<version>/bin, .../etcd-<version>/bin), reused when
# already built; `skip`: change nothing (the API server tests then skip); or the path of a directory holding an
# installed `kube-apiserver` and `etcd`: link those. Either way the binaries are linked into VENV_BIN, where the
# tests look for them, and `go mod download` puts the CRD modules tools/crds/go.mod pins into the module cache.
set -euo pipefail

venv_bin=${1:?usage: tools/build-kube.sh VENV_BIN [build|skip|/path/to/dir-with-kube-apiserver-and-etcd]}
kube=${2:-build}
here=$(cd "$(dirname "$0")" && pwd)

fail() { echo "kube: $*" >&2; exit 1; }

link() {  # link binary $1 into the venv and print its version line
  ln -sfn "$1" "$venv_bin/$(basename "$1")"
  echo "kube: linked $1 into $venv_bin ($("$1" --version 2>&1 | head -1))"
}

crds() {  # the CRD modules: into the module cache, nothing into the clone
  local mods
  mods=$(awk '/^require \($/ { inside = 1; next } inside && /^\)/ { inside = 0 } inside { print $1 }' "$here/crds/go.mod")
  [ -n "$mods" ] || fail "tools/crds/go.mod requires no module"
  # shellcheck disable=SC2086  # one word per module
  (cd "$here/crds" && go mod download $mods) || fail "go mod download in tools/crds failed (its output is above)"
  # shellcheck disable=SC2086
  echo "kube: CRD modules in the Go module cache:" \
    $(cd "$here/crds" && go list -m -f '{{.Path}}@{{.Version}}' $mods)
}

version_of() {  # version that go.mod $1 requires of module $2
  awk -v m="$2" '$1 == m || ($1 == "require" && $2 == m) { v = ($1 == m) ? $2 : $3 } END { print v }' "$1"
}

build() {  # build: NAME MODULE_DIR REQUIRED_MODULE LDFLAGS -> prints the binary's path on fd 3
  local name=$1 dir=$here/$2 required=$3 ldflags=$4 version cache key start
  version=$(version_of "$dir/go.mod" "$required")
  [ -n "$version" ] || fail "tools/$2/go.mod requires no $required"
  cache=${XDG_CACHE_HOME:-$HOME/.cache}/podforge/$name-${version#v}
  # The stamp holds the hash of the wrapper module, so a changed go.mod or go.sum rebuilds the same version.
  key=$(cat "$dir/go.mod" "$dir/go.sum" | sha256sum | cut -d' ' -f1)
  if [ "$(cat "$cache/built" 2>/dev/null)" = "$key" ] && [ -x "$cache/bin/$name" ]; then
    echo "kube: reusing $name $version from $cache"
  else
    rm -rf "$cache"
    mkdir -p "$cache/bin"
    echo "kube: building $name $version ($(cd "$dir" && go list tool))"
    start=$SECONDS
    (cd "$dir" && CGO_ENABLED=0 nice -n 10 go build -p 2 -trimpath -ldflags "-s -w $ldflags" \
      -o "$cache/bin/$name" "$(go list tool)") \
      || fail "building $name $version failed: go build -o $cache/bin/$name tool (in tools/$2; its output is above)"
    echo "kube: built $name in $((SECONDS - start)) s"
    echo "$key" > "$cache/built"
  fi
  echo "$cache/bin/$name" >&3
}

case $kube in
  skip)
    echo "kube: skipped (KUBE=skip): no kube-apiserver in $venv_bin, the API server tests skip"
    exit 0 ;;
  build) ;;
  *)
    dir=$(readlink -f "$kube")
    for name in kube-apiserver etcd; do
      [ -x "$dir/$name" ] || fail "KUBE=$kube: no executable $name in that directory"
    done
    command -v go >/dev/null || fail "go not found: the CRD modules (tools/crds/go.mod) need it"
    link "$dir/kube-apiserver"
    link "$dir/etcd"
    crds
    exit 0 ;;
esac

command -v go >/dev/null || fail "go not found: install Go (tools/kube-apiserver/go.mod names the version) or set KUBE"
k8s=$(version_of "$here/kube-apiserver/go.mod" k8s.io/kubernetes)
k8s_ldflags="-X k8s.io/component-base/version.gitVersion=$k8s -X k8s.io/component-base/version.gitTreeState=clean"
k8s_ldflags+=" -X k8s.io/client-go/pkg/version.gitVersion=$k8s"
exec 4>&1
apiserver=$(build kube-apiserver kube-apiserver k8s.io/kubernetes "$k8s_ldflags" 3>&1 >&4)
etcd=$(build etcd etcd go.etcd.io/etcd/server/v3 "" 3>&1 >&4)
link "$apiserver"
link "$etcd"
crds
