# Every target creates/uses the local virtualenv .venv, so on a fresh clone `make demo` and `make test`
# are the only set-up commands. Override TORCH_PKGS to install another torch build.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
TORCH_PKGS ?= torch==2.14.1 torchvision==0.29.1
STAMP := $(VENV)/.installed

.PHONY: venv demo test test-all test-collapse lint bench clean

venv: $(STAMP)

$(STAMP): pyproject.toml setup.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet $(TORCH_PKGS)
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/nasflat search experiment=demo

test: $(STAMP)
	$(BIN)/python -m pytest -q

test-all: $(STAMP)
	$(BIN)/python -m pytest -q -m "not collapse"

# DARTS drifts to parameter-free ops and beta-DARTS holds at CPU scale (docs/reproduce.md); needs ../shared's CIFAR-10 and NB201 table
test-collapse: $(STAMP)
	$(BIN)/python -m pytest -q -m collapse tests/reproduce/test_collapse.py

lint: $(STAMP)
	$(BIN)/ruff check src tests scripts
	$(BIN)/ruff format --check src tests scripts

bench: $(STAMP)
	$(BIN)/python scripts/bench_loader.py
	$(BIN)/python scripts/bench_supernet.py

clean:
	rm -rf $(VENV) build dist src/*.egg-info
