# Two entry points (README's quick start): `make demo` and `make test`. Both set up .venv first.
VENV ?= .venv
PY := $(VENV)/bin/python
# A CPU build on this project's machines; GPU users: make TORCH="torch>=2.10" (or install theirs first).
TORCH ?= torch==2.13.0

.PHONY: setup demo dashboard test bench clean

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "$(TORCH)"
	$(PY) -m pip install -q -e ".[dev]"
	touch $@

setup: $(VENV)/.installed

# The main job on the built-in default: the tiny preset on the built-in corpus, recording every
# head (dense early, then every 25 steps), then a plain-text summary of what was recorded.
demo: setup
	$(PY) -m seedling.train --preset tiny --out runs/demo --record every=log:25
	$(PY) -m workbench summary runs/demo

# The dashboard over ./runs (http://127.0.0.1:8501); it only reads, so it can watch a run in progress.
dashboard: setup
	$(PY) -m dashboards --runs runs

test: setup
	$(PY) -m ruff check .
	$(PY) -m pytest -q

bench: setup
	$(PY) -m benchmarks

clean:
	rm -rf runs .pytest_cache
