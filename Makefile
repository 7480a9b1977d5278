# Two commands matter: `make run` and `make test`. Both create .venv and install what they need:
# `make run` only what `serve` needs (pip install -e .), `make test` the test extras too.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
RUN_STAMP := $(VENV)/.installed-run
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck unit bench soak mutate clean control-plane lock image

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(RUN_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $(RUN_STAMP)

# the test extras (mypy, ruff, hypothesis, kubernetes-validate, ...) include what `serve` needs
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP) $(RUN_STAMP)

run: $(RUN_STAMP)
	$(BIN)/placement-webhook serve --host 127.0.0.1

# the e2e tests (tests/e2e) share one control plane: loadgroup keeps them on one worker
test: $(STAMP) lint typecheck docs
	$(BIN)/pytest -n 2 --dist loadgroup -q

# the docs site (mkdocs.yml, pages in docs/) into site/: a broken link or anchor, a missing page or
# a page left out of the nav fails the build (not --quiet: it hides the warnings --strict counts)
.PHONY: docs
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

# etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubectl and helm for the e2e tests,
# built once from the pinned modules in e2e/controlplane into ~/.cache/placement-webhook (needs Go),
# and promtool (e2e/promtool) for the alert tests
control-plane:
	e2e/controlplane/build.sh
	e2e/promtool/build.sh

# the server image from the Dockerfile, built daemonless with buildah on a stand-in base made of
# Debian packages by mmdebstrap (cached in ~/.cache/placement-webhook/containers); the e2e suite
# runs the webhook from it. Needs root and `apt-get install buildah mmdebstrap`; see docs/image.md
image:
	@command -v buildah >/dev/null && command -v mmdebstrap >/dev/null || { SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get install -y -q buildah mmdebstrap || { $$SUDO apt-get update -q && $$SUDO apt-get install -y -q buildah mmdebstrap; }; }
	$(PYTHON) -m tests.e2e.image build

unit: $(STAMP)
	$(BIN)/pytest -q -x

lint: $(STAMP)
	$(BIN)/ruff check webhook tests bench soak
	$(BIN)/ruff format --check webhook tests bench soak
	$(BIN)/lint-imports

# steady load on two servers while policies, certificates and processes change (see soak/run.py)
SOAK_MINUTES ?= 5
soak: $(STAMP)
	$(BIN)/python -m soak.run --minutes $(SOAK_MINUTES)

typecheck: $(STAMP)
	$(BIN)/mypy

# The benchmark needs wrk (Debian package) and two CPUs; see bench/RESULTS.md. About 6 minutes, and
# 2 more for Pod creates through the real API server (bench/cluster.py: needs make control-plane image).
bench: $(STAMP)
	@command -v wrk >/dev/null || { SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get install -y -q wrk || { $$SUDO apt-get update -q && $$SUDO apt-get install -y -q wrk; }; }
	$(BIN)/pip install --quiet -e '.[test,bench]'
	$(BIN)/python bench/run.py
	$(BIN)/python bench/scale.py
	@if [ -x "$$(e2e/controlplane/build.sh --dir)/kube-apiserver" ]; then $(BIN)/python bench/caches.py; \
	  else echo "bench/caches.py skipped: run make control-plane first"; fi
	@if [ -n "$$(python3 -m tests.e2e.image buildah images -q localhost/placement-webhook:e2e 2>/dev/null)" ]; then \
	  $(BIN)/python bench/cluster.py; else echo "bench/cluster.py skipped: run make control-plane image first"; fi

# Mutation testing of the pure core with its fast unit tests; not part of `make test` (see docs/mutation.md).
# Two workers by default; `make mutate MUTANTS='webhook.kube.tolerations*'` runs a subset.
MUTATE_CHILDREN ?= 2
MUTANTS ?=
mutate: $(STAMP)
	$(BIN)/pip install --quiet -e '.[test,mutate]'
	$(BIN)/mutmut run --max-children $(MUTATE_CHILDREN) $(MUTANTS)
	$(BIN)/mutmut results

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis

# The image's lock file: every dependency and the build backend pinned with hashes
# (Dockerfile: pip install --require-hashes); tests/deploy/test_dockerfile.py checks it against
# pyproject.toml. Rerun after changing dependencies (needs PyPI, about 3 minutes).
lock: $(STAMP)
	$(BIN)/pip install --quiet "pip-tools>=7.4"
	$(BIN)/pip-compile --quiet --generate-hashes --strip-extras --allow-unsafe --build-deps-for wheel \
	  --no-emit-index-url --no-emit-find-links --output-file requirements.lock pyproject.toml
