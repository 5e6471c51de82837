# Two entry points (README's quick start): `make demo` and `make test`. Both set up .venv first.
VENV ?= .venv
PY := $(VENV)/bin/python
# A CPU build on this project's machines; GPU users: make TORCH="torch>=2.10" (or install theirs first).
TORCH ?= torch==2.13.0

.PHONY: setup demo test lint bench clean

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "$(TORCH)"
	$(PY) -m pip install -q -e ".[dev]"
	touch $@

setup: $(VENV)/.installed

# Train the tiny preset on the built-in corpus, recording every head, then summarise the run.
demo: setup
	$(PY) -m seedling.train --preset tiny --data synthetic:induction --out runs/demo --record every=log:25

test: setup
	$(PY) -m ruff check .
	$(PY) -m pytest -q

bench: setup
	$(PY) -m benchmarks

clean:
	rm -rf runs .pytest_cache
