# Two entry points: `make run` (set up, then the main job) and `make test`.
VENV   := .venv
PYTHON := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# The lock files, written by `make lock` (pip-tools) from pyproject.toml: every package at one
# exact version, the versions the tests ran with. requirements.txt is what the service runs on
# (the Dockerfile installs it); requirements-dev.txt adds the test, lint and lock tools at the
# same versions (`make install`, hence `make run`, `make test` and CI).
LOCK     := requirements.txt
DEV_LOCK := requirements-dev.txt
# The torch `make lock` pins: the CPU wheel of this version is on disk; any other spec may
# resolve to PyPI's CUDA build.
TORCH  := torch==2.13.0

# Two pytest-xdist workers: many tests wait on PostgreSQL or a served app, so two processes
# overlap those waits on two cores (tests/conftest.py gives each one torch/BLAS thread).
TEST_WORKERS ?= 2

# The dashboard's browser test drives Debian's chromium (never a downloaded browser).
CHROMIUM := /usr/bin/chromium
# tests/test_proxy.py runs the compose proxy's nginx.conf with Debian's nginx.
NGINX := /usr/sbin/nginx

.PHONY: install lock run test lint bench fuzz clean

$(PYTHON):
	python3 -m venv $(VENV)

# Exactly the lock, then linecast itself with no dependency of its own to resolve: built with
# the setuptools the lock pins (no build environment to download), and `pip check` proves the
# lock holds everything pyproject.toml asks for (a dependency added without `make lock` fails).
$(STAMP): pyproject.toml $(DEV_LOCK) | $(PYTHON)
	$(PYTHON) -m pip install -q -r $(DEV_LOCK)
	$(PYTHON) -m pip install -q --no-deps --no-build-isolation -e .
	$(PYTHON) -m pip check
	touch $(STAMP)

install: $(STAMP)

# Rewrites both lock files from pyproject.toml, keeping every pin that still fits; `make lock
# UPGRADE=1` moves each package to its newest release instead. pip-compile resolves with pip's
# own settings, which find the CPU wheel of torch on disk here; where it would take PyPI's CUDA
# build, the check below stops. The runtime lock is constrained by the full one, so the image
# runs the versions the tests ran.
PIP_COMPILE := CUSTOM_COMPILE_COMMAND='make lock' $(VENV)/bin/pip-compile -q --strip-extras \
	--no-emit-index-url --no-emit-find-links --build-deps-for editable --unsafe-package pip \
	--upgrade-package '$(TORCH)' $(if $(UPGRADE),--upgrade)
lock: | $(PYTHON)
	$(PYTHON) -m pip install -q -c $(DEV_LOCK) pip-tools
	$(PIP_COMPILE) --extra dev --output-file $(DEV_LOCK) pyproject.toml
	$(PIP_COMPILE) --constraint $(DEV_LOCK) --output-file $(LOCK) pyproject.toml
	@grep -q '^torch==.*+cpu$$' $(LOCK) || \
	  { echo "make lock: torch is not the CPU build in $(LOCK)"; exit 1; }

run: install
	$(VENV)/bin/linecast quickstart

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

$(CHROMIUM):
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium || \
	  (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium)

$(NGINX):
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q nginx-light || \
	  (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q nginx-light)

test: lint $(CHROMIUM) $(NGINX)
	$(VENV)/bin/pytest -n $(TEST_WORKERS)

# The OpenAPI contract test at length: every phase and check of schemathesis with both keys,
# FUZZ_EXAMPLES cases per operation, against the served app on a throwaway PostgreSQL database.
FUZZ_EXAMPLES ?= 100
FUZZ_SEED     ?= 20260105
fuzz: install
	CONTRACT_MAX_EXAMPLES=$(FUZZ_EXAMPLES) CONTRACT_SEED=$(FUZZ_SEED) \
	  CONTRACT_PHASES=examples,coverage,fuzzing,stateful \
	  $(VENV)/bin/pytest tests/api/test_contract.py -q -s -p no:logging \
	  -k "not admin-generated"  # with every phase, admin-coverage is the whole admin run

bench: install
	$(PYTHON) bench/speed.py --quick
	$(PYTHON) bench/gradients.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
