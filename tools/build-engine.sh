#!/usr/bin/env bash
# Puts the Pulumi engine into the project's venv: the CLI, the Python language host and the scripts the CLI
# distribution ships beside them for Python.
#
#   tools/build-engine.sh VENV_BIN [ENGINE]
#
# ENGINE is `build` (default): build from the Go modules that tools/pulumi/go.mod pins, into a cache outside the
# clone keyed by version (${XDG_CACHE_HOME:-~/.cache}/podforge/pulumi-<version>/bin), reused when already built;
# `skip`: change nothing; or the path of an installed `pulumi`: link it and the engine files beside it.
# `pulumi` and every `pulumi-*` file beside it (language hosts, their scripts, plugins) are linked into VENV_BIN,
# so an activated venv has the engine on PATH.
set -euo pipefail

venv_bin=${1:?usage: tools/build-engine.sh VENV_BIN [build|skip|/path/to/pulumi]}
engine=${2:-build}
here=$(cd "$(dirname "$0")" && pwd)
module=$here/pulumi
language_host=pulumi-language-python
python_scripts=(pulumi-language-python-exec pulumi-resource-pulumi-python)

fail() { echo "engine: $*" >&2; exit 1; }

link_engine() {  # link the engine files of directory $1 into the venv
  local dir=$1 f
  for f in "$dir"/pulumi "$dir"/pulumi-*; do ln -sfn "$f" "$venv_bin/$(basename "$f")"; done
  echo "engine: linked $(cd "$dir" && echo pulumi pulumi-*) into $venv_bin"
  "$venv_bin/pulumi" version | sed 's/^/engine: pulumi /'
}

case $engine in
  skip)
    echo "engine: skipped (ENGINE=skip): no pulumi in $venv_bin"
    exit 0 ;;
  build) ;;
  *)
    [ -x "$engine" ] || fail "ENGINE=$engine is not an executable pulumi"
    dir=$(dirname "$(readlink -f "$engine")")
    for name in $language_host "${python_scripts[@]}"; do
      [ -x "$dir/$name" ] || fail "ENGINE=$engine: no $name beside it in $dir"
    done
    link_engine "$dir"
    exit 0 ;;
esac

command -v go >/dev/null || fail "go not found: install Go (tools/pulumi/go.mod names the version) or set ENGINE"
version=$(awk '$1 == "github.com/pulumi/pulumi/pkg/v3" { print $2 }' "$module/go.mod")
[ -n "$version" ] || fail "tools/pulumi/go.mod requires no github.com/pulumi/pulumi/pkg/v3"
cache=${XDG_CACHE_HOME:-$HOME/.cache}/podforge/pulumi-${version#v}
# The stamp holds the hash of the wrapper module, so a changed go.mod or go.sum rebuilds the same version.
key=$(cat "$module/go.mod" "$module/go.sum" | sha256sum | cut -d' ' -f1)

if [ "$(cat "$cache/built" 2>/dev/null)" = "$key" ]; then
  echo "engine: reusing pulumi $version from $cache"
else
  tools=$(cd "$module" && go list tool)
  rm -rf "$cache"
  mkdir -p "$cache/bin"
  echo "engine: building pulumi $version:" $tools
  start=$SECONDS
  (cd "$module" && CGO_ENABLED=0 nice -n 10 go build -p 2 -trimpath -tags osusergo,grpcnotrace \
    -ldflags "-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$version" -o "$cache/bin/" tool) \
    || fail "building pulumi $version failed: go build -o $cache/bin/ tool (in tools/pulumi; its output is above)"
  echo "engine: built in $((SECONDS - start)) s"
  sdk=$(cd "$module" && go list -m -f '{{.Dir}}' github.com/pulumi/pulumi/sdk/v3)
  install -m 0755 "$sdk/python/cmd/pulumi-language-python-exec" "$sdk/python/dist/pulumi-resource-pulumi-python" \
    "$cache/bin/"
  echo "$key" > "$cache/built"
  echo "engine: pulumi $version in $cache ($(du -sh "$cache" | cut -f1))"
fi
link_engine "$cache/bin"
# The Python language host is its own Go module, with no release tags; the module proxy these machines reach
# refuses every version of it (README, "The Pulumi engine"). Without it the CLI runs Python programs only
# through the Automation API (an inline program served by the calling process), not as `pulumi up` in a project.
[ -x "$cache/bin/$language_host" ] \
  || echo "engine: no $language_host built (tools/pulumi/go.mod cannot pin it): \`pulumi preview/up\` of a Python project need it; the Automation API's inline programs run without it"
