# Two entry points: `make run` (set up, then the main job) and `make test`.
VENV   := .venv
PYTHON := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# The CPU wheel of this version is on disk; any other spec may download a CUDA build.
TORCH  := torch==2.13.0

# Two pytest-xdist workers: many tests wait on PostgreSQL or a served app, so two processes
# overlap those waits on two cores (tests/conftest.py gives each one torch/BLAS thread).
TEST_WORKERS ?= 2

# The dashboard's browser test drives Debian's chromium (never a downloaded browser).
CHROMIUM := /usr/bin/chromium
# tests/test_proxy.py runs the compose proxy's nginx.conf with Debian's nginx.
NGINX := /usr/sbin/nginx

.PHONY: install run test lint bench fuzz clean

$(PYTHON):
	python3 -m venv $(VENV)

$(STAMP): pyproject.toml | $(PYTHON)
	$(PYTHON) -m pip install -q --upgrade pip
	$(PYTHON) -m pip install -q $(TORCH)
	$(PYTHON) -m pip install -q -e '.[dev]' $(TORCH)
	touch $(STAMP)

install: $(STAMP)

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
