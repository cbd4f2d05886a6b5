# The two commands a user needs:  make run  (set up, then the main job)  and  make test.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CORES ?= all

.PHONY: setup run test test-slurm test-browser lint lock clean

setup: $(STAMP)

$(STAMP): requirements.lock pyproject.toml setup.py src/poolpipe/sum/_scan.c src/poolpipe/sum/_scan_line.h \
		src/poolpipe/train/_csv.c
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes --no-deps -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation --editable .
	# bytecode now, as pip does for a regular install: commands then start without compiling
	$(BIN)/python -m compileall -q src/poolpipe
	touch $(STAMP)

run: setup
	$(BIN)/snakemake --cores $(CORES)

# SLURM_CONF=/dev/null: linting needs no cluster, and with the SLURM client installed the SLURM
# executor plugin otherwise asks the controller for its configuration (10 s when none runs).
lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/snakefmt --check .
	SLURM_CONF=/dev/null $(BIN)/snakemake --lint --cores 1

test: lint
	$(BIN)/pytest
	$(MAKE) test-browser
	$(MAKE) test-slurm

# The default run's report in headless Chromium at 1400 px (apt-get installs it when missing).
test-browser: setup
	SLURM_CONF=/dev/null $(BIN)/pytest -m browser tests/report/test_browser.py

# The workflow on a real single-node SLURM cluster that the test brings up and stops (root).
test-slurm: setup
	$(BIN)/pytest -m slurm tests/slurm

lock:
	$(PYTHON) -m venv /tmp/poolpipe-lock
	/tmp/poolpipe-lock/bin/pip install --quiet pip-tools
	/tmp/poolpipe-lock/bin/pip-compile --quiet --generate-hashes --allow-unsafe --strip-extras \
		--no-header -o requirements.lock pyproject.toml requirements.in

clean:
	rm -rf results logs .snakemake data
