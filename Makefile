# Two entry points: `make run` (set up, then the main job) and `make test`.
VENV   := .venv
PYTHON := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# The CPU wheel of this version is on disk; any other spec may download a CUDA build.
TORCH  := torch==2.13.0

# The dashboard's browser test drives Debian's chromium (never a downloaded browser).
CHROMIUM := /usr/bin/chromium

.PHONY: install run test lint bench clean

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

test: lint $(CHROMIUM)
	$(VENV)/bin/pytest

bench: install
	$(PYTHON) bench/speed.py --quick
	$(PYTHON) bench/gradients.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
