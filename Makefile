# Everything a fresh clone needs: Python 3.11 and make.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
BIN := $(VENV)/bin

SOURCE ?=
TICKERS ?=

.PHONY: up install install-dev browser test lint format bench bench-stream bench-api bench-backtest bench-drift bench-intervals bench-reliability bench-commands schemas clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Two stamps: `up`, the benchmarks and `schemas` need the runtime dependencies only; `test`,
# `lint` and `format` add the dev extras on top. torch goes in first on both paths (the dev
# stamp builds on the runtime one): installing the project with no torch present would pull
# the CUDA build.
$(VENV)/.runtime: pyproject.toml | $(BIN)/python
	$(BIN)/pip install "$(TORCH_SPEC)"
	$(BIN)/pip install -e .
	touch $@

$(VENV)/.dev: $(VENV)/.runtime
	$(BIN)/pip install -e ".[dev]"
	touch $@

install: $(VENV)/.runtime

install-dev: $(VENV)/.dev

# The main job: embedded broker (unless KAFKA_BOOTSTRAP_SERVERS), champion, worker, producer.
up: install
	$(BIN)/tickcast up $(if $(SOURCE),--source $(SOURCE)) $(if $(TICKERS),--tickers $(TICKERS))

# Debian's Chromium for the dashboard test; where apt-get cannot run, that test skips and says so.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	      || echo "could not install chromium: the dashboard browser test will skip"; \
	  else echo "chromium not installed (needs root and apt-get): the dashboard browser test will skip"; fi; }

# Three workers (pytest-xdist): most tests wait on a broker, a subprocess or a training, so
# two left the cores idle about a third of the time (on a CPU shared with other machines,
# where the suite is bound by CPU, a third bought nothing). TEST_WORKERS=0 runs it in one
# process. The API tests run their training jobs un-niced: a niced one, beside three busy
# test processes, got too little CPU to finish in 120 s.
TEST_WORKERS ?= 3

test: install-dev browser
	$(BIN)/pytest -n $(TEST_WORKERS)

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

format: install-dev
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: install
	$(BIN)/python benchmarks/model_core.py

bench-stream: install
	$(BIN)/python benchmarks/stream.py

bench-api: install
	$(BIN)/python benchmarks/api.py

bench-backtest: install
	$(BIN)/python benchmarks/backtests.py

bench-drift: install
	$(BIN)/python benchmarks/drift.py

bench-intervals: install
	$(BIN)/python benchmarks/intervals.py

bench-reliability: install
	$(BIN)/python benchmarks/reliability.py

# Wall time of whole commands (--help, evaluate, both backtest engines) beside commit d5c4046
bench-commands: install
	$(BIN)/python benchmarks/commands.py

# 10 and 100 synthetic tickers; 1,000 (several minutes): $(BIN)/python benchmarks/scaling.py --tickers 1000
.PHONY: bench-scaling
bench-scaling: install
	$(BIN)/python benchmarks/scaling.py

# A new user's first `make up`, timed in fresh copies (with a fresh venv: minutes). Quicker:
# $(BIN)/python benchmarks/first_run.py --skip-install
.PHONY: bench-first-run
bench-first-run: install
	$(BIN)/python benchmarks/first_run.py

schemas: install
	$(BIN)/tickcast schemas

clean:
	rm -rf $(VENV) .tickcast .pytest_cache
