#!/usr/bin/env bash
# Verify the GPU machine this runs on against the one-node `h200` stack, and keep the evidence.
#
#   OUT=/path/to/folder scripts/gpu-node-check.sh        (from anywhere; it works in the repo root)
#
# Writes to $OUT: report.txt and report.json (`podforge verify --stack h200 --hosts local://`),
# pytest.txt (`pytest tests/verify --hosts=local://`, the same checks under testinfra), the node's raw
# nvidia-smi-q.xml and nvidia-smi-query.csv, raw.txt (nvidia-smi, -L, topo -m, nvlink -s,
# /proc/driver/nvidia/version, which tools exist) and run.log. At most 7 files, all small.
# Python packages missing on the machine are installed from wheels in $WHEELS (default .whl) into
# /tmp/site; nothing is downloaded. Exit status: 0 when no check failed, 1 when one failed, 2 on a
# broken run (packages missing, pytest error).
set -uo pipefail

cd "$(dirname "$0")/.." || exit 2
: "${OUT:?set OUT to the folder the report goes to}"
mkdir -p "$OUT" || exit 2
PY=${PYTHON:-python3}
WHEELS=${WHEELS:-.whl}
STACK=${PODFORGE_STACK:-h200}
LOG="$OUT/run.log"
export PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1

say() { echo "$*" | tee -a "$LOG"; }

say "== $(date -u +%FT%TZ) gpu-node-check: stack $STACK, $($PY --version 2>&1), host $(uname -n)"

# --- Python packages: use what is there; install carried wheels only if something is missing ---
NEEDED='import pydantic, yaml, pytest, testinfra'
if ! $PY -c "$NEEDED" 2>>"$LOG"; then
  if compgen -G "$WHEELS/*.whl" >/dev/null; then
    say "installing $(ls "$WHEELS"/*.whl | wc -l) wheel(s) from $WHEELS into /tmp/site"
    $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
      "$WHEELS"/*.whl >>"$LOG" 2>&1 || { say "pip install failed (see run.log)"; exit 2; }
    export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
  fi
fi
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
if ! $PY -c "$NEEDED" >>"$LOG" 2>&1; then
  say "missing Python packages (pydantic, pyyaml, pytest, pytest-testinfra): carry them as wheels in $WHEELS"
  exit 2
fi
$PY -c 'import importlib.metadata as m; print("packages:", ", ".join(f"{p} {m.version(p)}" for p in
  ("pydantic", "pydantic-core", "typing-extensions", "pyyaml", "pytest", "pluggy", "pytest-testinfra")))' \
  | tee -a "$LOG"

# --- raw outputs, each bounded in time (a wedged driver makes nvidia-smi hang) ---
RAW="$OUT/raw.txt"
: >"$RAW"
capture() {  # capture TITLE COMMAND...: append the command's output to raw.txt under a heading
  local title=$1; shift
  { echo "### $title"; echo "\$ $*"; timeout 60 "$@" 2>&1; echo "[exit $?]"; echo; } >>"$RAW"
}
capture "kernel module" cat /proc/driver/nvidia/version
for tool in nvidia-smi nv-fabricmanager nvidia-persistenced dcgmi nv-hostengine dcgm-exporter ibstat ibv_devinfo \
            lspci containerd podman docker nvidia-ctk all_reduce_perf; do
  printf '%-20s %s\n' "$tool" "$(command -v "$tool" || echo 'not present')" >>"$RAW"
done
echo >>"$RAW"
if command -v nvidia-smi >/dev/null; then
  capture "nvidia-smi" nvidia-smi
  capture "nvidia-smi -L" nvidia-smi -L
  capture "nvidia-smi topo -m" nvidia-smi topo -m
  capture "nvidia-smi nvlink -s" nvidia-smi nvlink -s
  timeout 60 nvidia-smi -q -x >"$OUT/nvidia-smi-q.xml" 2>>"$LOG"
  timeout 60 nvidia-smi --query-gpu=index,name,uuid,serial,pci.bus_id,driver_version,vbios_version,memory.total,memory.used,persistence_mode,ecc.mode.current,mig.mode.current,power.limit,clocks.max.sm,temperature.gpu,utilization.gpu,compute_cap \
    --format=csv >"$OUT/nvidia-smi-query.csv" 2>>"$LOG"
else
  say "nvidia-smi: not present (no GPU driver on this machine)"
fi
capture "ls /sys/class/infiniband" ls -l /sys/class/infiniband

# --- the parsers on this node's own outputs (the unit tests use an earlier capture) ---
say "== parsed from this node"
$PY - "$OUT" >>"$LOG" 2>&1 <<'PARSE' || say "parsing this node's outputs failed (see run.log)"
import sys
from pathlib import Path
from components.verify.driver import parse_driver_version
from components.verify.nvidia_smi import parse_query_csv, parse_smi_xml
out = Path(sys.argv[1])
proc = Path("/proc/driver/nvidia/version")
print("kernel module:", parse_driver_version(proc.read_text()) if proc.exists() else "not present")
for name, parse in (("nvidia-smi-q.xml", parse_smi_xml), ("nvidia-smi-query.csv", parse_query_csv)):
    path = out / name
    print(f"{name}:", parse(path.read_text()) if path.exists() and path.stat().st_size else "not present")
PARSE

# --- the checks: podforge verify, then the same checks under pytest + testinfra ---
say "== podforge verify --stack $STACK --hosts local://"
$PY -m components.commands.verify --stack "$STACK" --hosts local:// --json "$OUT/report.json" 2>&1 | tee "$OUT/report.txt"
verify_rc=${PIPESTATUS[0]}
say "podforge verify exit $verify_rc"

say "== pytest tests/verify --hosts=local:// --podforge-stack $STACK"
# Plugins of the machine's own Python (benchmark, xdist, …) stay out: only testinfra is loaded.
PYTEST_DISABLE_PLUGIN_AUTOLOAD=1 COLUMNS=200 $PY -m pytest -p testinfra.plugin -p no:cacheprovider tests/verify \
  --hosts=local:// --podforge-stack "$STACK" -vv -rfE 2>&1 | tee "$OUT/pytest.txt"
pytest_rc=${PIPESTATUS[0]}
say "pytest exit $pytest_rc"

if [ "$verify_rc" -gt 1 ] || [ "$pytest_rc" -gt 1 ]; then exit 2; fi
if [ "$verify_rc" -eq 1 ] || [ "$pytest_rc" -eq 1 ]; then exit 1; fi
exit 0
