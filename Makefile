# The two commands a user needs:  make run  (set up, then the main job)  and  make test.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CORES ?= all
ARGS ?=
LOCK_WAIT ?= 60
TEST_WORKERS ?= 2

.PHONY: setup run test test-slurm test-browser lint lock clean config-tables

setup: $(STAMP)

$(STAMP): requirements.lock pyproject.toml setup.py src/poolpipe/sum/_scan.c src/poolpipe/sum/_scan_line.h \
		src/poolpipe/train/_csv.c src/poolpipe/core/localslurm.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes --no-deps -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation --editable .
	# a local snakemake run does not wait for a SLURM controller (src/poolpipe/core/localslurm.py)
	$(BIN)/python -c 'from poolpipe.core.localslurm import install_hook; install_hook()'
	# bytecode now, as pip does for a regular install: commands then start without compiling
	$(BIN)/python -m compileall -q src/poolpipe
	touch $(STAMP)

# The run holds a kernel lock (flock) on .snakemake/run.lock: it ends with the processes, so a run
# killed anyhow (SIGKILL, a closed lid, the OOM killer) leaves nothing to --unlock, and Snakemake's
# own lock (files a killed run leaves behind) is off inside it; a plain snakemake takes the same
# kernel lock itself (rules/common.smk). After Ctrl-C, make returns while
# Snakemake still stops its jobs: a new run waits up to LOCK_WAIT seconds for that, and a run
# that is still working then is refused with one sentence (exit 75).
run: setup
	@mkdir -p .snakemake
	@flock --wait $(LOCK_WAIT) --conflict-exit-code 75 .snakemake/run.lock \
		env POOLPIPE_RUN_LOCK="$(CURDIR)/.snakemake/run.lock" $(BIN)/snakemake --nolock --cores $(CORES) $(ARGS) || { rc=$$?; test $$rc -ne 75 || \
		echo "make run: another run is working in this folder (it holds .snakemake/run.lock) and did not end within $(LOCK_WAIT) s" >&2; \
		exit $$rc; }

# SLURM_CONF=/dev/null: linting needs no cluster, and with the SLURM client installed the SLURM
# executor plugin otherwise asks the controller for its configuration (10 s when none runs).
lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/snakefmt --check .
	SLURM_CONF=/dev/null $(BIN)/snakemake --lint --cores 1

# config/README.md's key lists, made from config/schema.yaml (a test fails when they are stale).
config-tables: setup
	$(BIN)/python -m poolpipe.core.schemadoc

# The suite runs in TEST_WORKERS processes (pytest-xdist), a test file's tests in one of them,
# so that a file's shared fixtures (a workflow run, a server) are made once; the slowest twenty
# are listed at the end.
test: lint
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile --durations 20
	$(MAKE) test-browser
	$(MAKE) test-slurm

# The default run's report in headless Chromium at 1400 px (apt-get installs it when missing).
test-browser: setup
	SLURM_CONF=/dev/null $(BIN)/pytest -m browser tests/report/test_browser.py

# The workflow on a real three-node SLURM cluster (cluster/) that the test brings up and stops (root).
test-slurm: setup
	$(BIN)/pytest -m slurm tests/slurm

lock:
	$(PYTHON) -m venv /tmp/poolpipe-lock
	/tmp/poolpipe-lock/bin/pip install --quiet pip-tools
	/tmp/poolpipe-lock/bin/pip-compile --quiet --generate-hashes --allow-unsafe --strip-extras \
		--no-header -o requirements.lock pyproject.toml requirements.in

clean:
	rm -rf results logs .snakemake data
