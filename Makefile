# podforge — two commands from a fresh clone, as root: `make demo` and `make test` (README.md).
SHELL := /bin/bash
.ONESHELL:
.SHELLFLAGS := -eu -o pipefail -c

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.podforge-installed
PODFORGE := $(BIN)/podforge
# Debian packages the lab and the tests use (installed only when missing, only as root).
APT_PACKAGES := debootstrap systemd-container iproute2 openssh-client openssh-server openssl rsync \
  ibsim-utils opensm infiniband-diags openjdk-17-jre-headless maven skopeo umoci runc
# The Pulumi engine in the venv: `build` (from tools/pulumi, cached outside the clone), `skip`, or an installed pulumi.
ENGINE ?= build
# promtool (Prometheus's rule checker) in the venv: `build` (from tools/promtool, cached outside the clone), `skip`,
# or an installed promtool.
PROMTOOL ?= build
# kube-apiserver and etcd for tests/integration/test_kube_apiserver.py, and the CRD modules it loads: `build`
# (tools/build-kube.sh, cached outside the clone), `skip` (those tests then skip), or a directory holding both.
KUBE ?= build
# The Kafka broker's jars for tests/integration/test_kafka_audit.py: `fetch` (tools/fetch-kafka.sh, from Maven
# Central, cached outside the clone), `skip` (those tests then skip), or a directory holding kafka_2.13-*.jar.
KAFKA ?= fetch
# The gateway's OCI image for tests/integration/test_gateway_image.py and for a site registry (docs/gateway.md "The
# image"): `build` (tools/build-gateway-image.sh: its wheels and Debian base cached outside the clone, written to
# build/gateway-image; needs root), or `skip` (that test then skips).
GATEWAY_IMAGE ?= build

.PHONY: setup engine promtool kube kafka gateway-image demo test bench lint lab-down clean

setup: $(STAMP) engine promtool kube kafka gateway-image

$(STAMP): pyproject.toml requirements.lock
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
	  missing=$$(for p in $(APT_PACKAGES); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || echo $$p; done)
	  if [ -n "$$missing" ]; then
	    echo "installing Debian packages:" $$missing
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null
	  fi
	fi
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check -r requirements.lock
	$(BIN)/python -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $(STAMP)

engine: $(STAMP)
	@tools/build-engine.sh $(BIN) $(ENGINE)

promtool: $(STAMP)
	@tools/build-promtool.sh $(BIN) $(PROMTOOL)

kube: $(STAMP)
	@tools/build-kube.sh $(BIN) $(KUBE)

kafka: $(STAMP)
	@tools/fetch-kafka.sh $(BIN) $(KAFKA)

gateway-image: $(STAMP)
	@tools/build-gateway-image.sh $(BIN) $(GATEWAY_IMAGE)

demo: setup
	@root=$$([ "$$(id -u)" = 0 ] && echo yes || echo no)
	step() { echo; echo "== $$* =="; }
	step "validate the example stacks"
	$(PODFORGE) validate --stack lab --summary
	$(PODFORGE) validate --stack superpod --summary
	step "plan of the lab stack (offline preview, no Pulumi CLI needed)"
	$(PODFORGE) plan --stack lab
	step "policy check: mlps-level3 and gpu-baseline"
	$(PODFORGE) policy check --stack lab
	$(PODFORGE) policy check --stack superpod
	step "capacity: the layouts of the serving sections (planner)"
	$(PODFORGE) capacity --stack lab
	$(PODFORGE) capacity --stack superpod
	step "plan of the serving layer: the inference stack's Kubernetes objects"
	$(PODFORGE) plan --stack lab-serving
	$(PODFORGE) plan --stack superpod-serving
	if [ "$$root" = no ]; then
	  echo; echo "The lab hall needs root (network namespaces, systemd-nspawn): run 'make demo' as root for the rollout."
	  exit 0
	fi
	step "lab up: the hosts the lab spec declares"
	$(PODFORGE) lab up
	step "rollout (every host converges)"
	$(PODFORGE) rollout --stack lab
	step "rollout again (nothing changed: every host skipped, no connection)"
	$(PODFORGE) rollout --stack lab
	step "rollout --force (runs every host: changed=0 everywhere)"
	$(PODFORGE) rollout --stack lab --force
	step "verify every node over SSH (GPU, HCA and DCGM results are simulated in the lab)"
	$(PODFORGE) verify --stack lab
	step "lab status"
	$(PODFORGE) lab status
	echo; echo "The lab is still running. Stop it with: make lab-down"

test: setup
	$(BIN)/python -m pytest tests/unit tests/integration -q --durations=25

# Benchmark-only packages (Presidio and spaCy for the side-by-side desensitization table, ~100 MB of wheels):
# installed by `make bench` only, never by setup or test.
BENCH_STAMP := $(VENV)/.podforge-bench-installed

$(BENCH_STAMP): $(STAMP) requirements-bench.lock
	$(BIN)/python -m pip install -q --disable-pip-version-check --no-deps -r requirements-bench.lock
	$(BIN)/python -m pip check
	touch $(BENCH_STAMP)

bench: setup $(BENCH_STAMP)
	$(BIN)/python -m tests.benchmarks

lint: setup
	$(BIN)/ruff check components tests policies scripts tools __main__.py setup.py
	$(BIN)/ansible-lint --offline -q playbooks

lab-down:
	@if [ -x $(PODFORGE) ]; then $(PODFORGE) lab down; else echo "nothing to stop (no .venv)"; fi

clean: lab-down
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis *.egg-info
