# Two commands do everything on a fresh machine with Python 3.11+:
#   make demo   runs examples/prompts.xlsx through the offline sandbox into ./out/
#   make test   runs the whole test suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test lint bench clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "MidJAu needs Python 3.11 or newer; set PYTHON=python3.11 (or newer) and run make again.")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/midjau demo examples/prompts.xlsx --out out

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy bot web pipeline midjourney storage sandbox midjau bench tests

bench: $(STAMP)
	$(BIN)/python -m bench.batch_throughput

clean:
	rm -rf $(VENV) out data .pytest_cache
