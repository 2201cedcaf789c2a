# Two commands on a fresh machine: `make run` and `make test`. Both create .venv.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# Two install levels: the app's own requirements (enough for run/serve), and the
# dev tools on top (tests, linters, checkov), so `make run` on a fresh clone does
# not wait for the test tool chain.
RUN_STAMP := $(VENV)/.installed-run
STAMP := $(VENV)/.installed

.PHONY: run test lint lint-infra soak bench serve clean

$(RUN_STAMP): requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $(RUN_STAMP)

$(STAMP): $(RUN_STAMP) requirements-dev.txt requirements-rehearsal.txt
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

run: $(RUN_STAMP)
	$(PY) -m devhost run examples/sample-request.json

serve: $(RUN_STAMP)
	$(PY) -m devhost serve

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

# Bicep lint, offline: failed checks fail; skips are inline in infra/ with a reason.
lint-infra: $(STAMP)
	$(VENV)/bin/checkov --framework bicep --skip-download --quiet --compact -d infra

test: $(STAMP) lint lint-infra
	$(PY) -m pytest -q

soak: $(STAMP)
	$(PY) -m bench.soak --runs 200

bench: $(STAMP)
	$(PY) -m bench.run --write bench/RESULTS.md

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
