#!/usr/bin/env bash
# Puts Prometheus's rule checker, promtool, into the project's venv.
#
#   tools/build-promtool.sh VENV_BIN [PROMTOOL]
#
# PROMTOOL is `build` (default): build github.com/prometheus/prometheus/cmd/promtool at the version that
# tools/promtool/go.mod pins, into a cache outside the clone keyed by the Prometheus release
# (${XDG_CACHE_HOME:-~/.cache}/podforge/promtool-<release>/bin), reused when already built; `skip`: change nothing
# (tests that need promtool then skip, saying so); or the path of an installed `promtool`: link it.
# The binary is linked into VENV_BIN as `promtool`, so an activated venv has it on PATH.
#
# Prometheus 3.x publishes its Go module as v0.3MM.P for release 3.MM.P (3.16.0 is v0.316.0): the release is
# derived from the pinned module version and checked against the module's own VERSION file when building.
set -euo pipefail

venv_bin=${1:?usage: tools/build-promtool.sh VENV_BIN [build|skip|/path/to/promtool]}
choice=${2:-build}
here=$(cd "$(dirname "$0")" && pwd)
module=$here/promtool
prometheus=github.com/prometheus/prometheus

fail() { echo "promtool: $*" >&2; exit 1; }

link_promtool() {  # link the promtool binary $1 into the venv
  ln -sfn "$1" "$venv_bin/promtool"
  echo "promtool: linked $1 into $venv_bin"
  local said
  said=$("$venv_bin/promtool" --version 2>&1)
  echo "promtool: ${said%%$'\n'*}"
}

case $choice in
  skip)
    echo "promtool: skipped (PROMTOOL=skip): no promtool in $venv_bin; the promtool tests will skip"
    exit 0 ;;
  build) ;;
  *)
    [ -x "$choice" ] || fail "PROMTOOL=$choice is not an executable promtool"
    said=$("$choice" --version 2>&1 || true)
    [[ $said == "promtool, version "* ]] \
      || fail "PROMTOOL=$choice: \`$choice --version\` does not say \"promtool, version ...\": is it promtool?"
    link_promtool "$(readlink -f "$choice")"
    exit 0 ;;
esac

command -v go >/dev/null || fail "go not found: install Go (tools/promtool/go.mod names the version) or set PROMTOOL"
module_version=$(awk -v m=$prometheus '$1 == m { print $2 }' "$module/go.mod")
[ -n "$module_version" ] || fail "tools/promtool/go.mod requires no $prometheus"
if [[ $module_version =~ ^v0\.([0-9]+)\.([0-9]+)$ ]] && (( BASH_REMATCH[1] >= 300 )); then
  release=$((BASH_REMATCH[1] / 100)).$((BASH_REMATCH[1] % 100)).${BASH_REMATCH[2]}
else
  fail "$prometheus $module_version is not of the form v0.3MM.P (a Prometheus 3.x release)"
fi
cache=${XDG_CACHE_HOME:-$HOME/.cache}/podforge/promtool-$release
# The stamp holds the hash of the wrapper module, so a changed go.mod or go.sum rebuilds the same release.
key=$(cat "$module/go.mod" "$module/go.sum" | sha256sum | cut -d' ' -f1)

if [ "$(cat "$cache/built" 2>/dev/null)" = "$key" ] && [ -x "$cache/bin/promtool" ]; then
  echo "promtool: reusing promtool $release from $cache"
else
  source_dir=$(cd "$module" && go list -m -f '{{.Dir}}' $prometheus) \
    || fail "cannot download $prometheus $module_version (go list -m in tools/promtool; its output is above)"
  [ "$(cat "$source_dir/VERSION")" = "$release" ] \
    || fail "$prometheus $module_version carries VERSION $(cat "$source_dir/VERSION"), not $release"
  rm -rf "$cache"
  mkdir -p "$cache/bin"
  echo "promtool: building promtool $release ($prometheus $module_version)"
  start=$SECONDS
  # Tags and version flags as Prometheus's own .promu.yml builds it (netgo; common/version ldflags).
  (cd "$module" && CGO_ENABLED=0 nice -n 10 go build -p 2 -trimpath -tags netgo \
    -ldflags "-X github.com/prometheus/common/version.Version=$release
              -X github.com/prometheus/common/version.Revision=$module_version
              -X github.com/prometheus/common/version.Branch=module" \
    -o "$cache/bin/" $prometheus/cmd/promtool) \
    || fail "building promtool $release failed: go build $prometheus/cmd/promtool (in tools/promtool; its output is above)"
  echo "promtool: built in $((SECONDS - start)) s"
  echo "$key" > "$cache/built"
  echo "promtool: promtool $release in $cache ($(du -sh "$cache" | cut -f1))"
fi
link_promtool "$cache/bin/promtool"
