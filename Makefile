# Two commands on a fresh machine: `make run` and `make test`. Both create .venv
# with a supported Python (3.10-3.12): scripts/find-python takes $(PYTHON) when
# set, else the first of python3.11, python3.12, python3.10, python3 (and pyenv's
# versions), or stops naming the version to install.
PYTHON ?=
VENV := .venv
PY := $(VENV)/bin/python
SUPPORTED_PY := import sys; sys.exit(0 if (3, 10) <= sys.version_info[:2] <= (3, 12) else 1)
# Two install levels: the app's own requirements (enough for run/serve), and the
# dev tools on top (tests, linters, checkov), so `make run` on a fresh clone does
# not wait for the test tool chain.
RUN_STAMP := $(VENV)/.installed-run
STAMP := $(VENV)/.installed
# The sweep rehearsal's own requirements (optuna, scipy, matplotlib, mlflow-skinny, ...): on
# demand for `make rehearse`; `make test` gets them through requirements-dev.txt.
REHEARSAL_STAMP := $(VENV)/.installed-rehearsal
# Mutation testing's tool (mutmut), on demand for `make mutate` only.
MUTATION_STAMP := $(VENV)/.installed-mutation
# mutmut workers; each runs the tests of one mutant at a time.
MUTATE_JOBS ?= 2

.PHONY: run test test-other-python lint lint-infra soak bench mutate mutation-report serve rehearse rehearsal-deps clean

# A first install takes a while: say so before it starts, then let pip show what it fetches
# (one line per package, its download bar when one is big), not its "already satisfied" chatter.
# (POSIX sh has no pipefail: pip's exit status goes through a file so a failed install fails make.)
PIP_STATUS := $(VENV)/.pip-status
define pip_install
{ PYTHONUNBUFFERED=1 $(PY) -m pip install --disable-pip-version-check --progress-bar on -r $(1); echo $$? > $(PIP_STATUS); } \
	| { grep --line-buffered -v -e '^Requirement already satisfied' -e '^Using cached' || true; }; exit $$(cat $(PIP_STATUS))
endef

$(RUN_STAMP): requirements.txt
	@test -x $(PY) || { interpreter=$$(PYTHON="$(PYTHON)" sh scripts/find-python) && echo "creating $(VENV) with $$interpreter (first time: this and the installs below take ~1 min)" && "$$interpreter" -m venv $(VENV); }
	@$(PY) -c '$(SUPPORTED_PY)' || { echo "$(VENV) was made with an unsupported Python (need 3.10-3.12): run make clean" >&2; exit 1; }
	@echo "installing the app's dependencies into $(VENV) (first time ~1 min; once)"
	@$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	@$(call pip_install,requirements.txt)
	@touch $(RUN_STAMP)

$(STAMP): $(RUN_STAMP) requirements-dev.txt requirements-rehearsal.txt
	@echo "installing the test tools into $(VENV) (first time ~2 min; once)"
	@$(call pip_install,requirements-dev.txt)
	@touch $(STAMP)

$(MUTATION_STAMP): $(STAMP) requirements-mutation.txt
	@echo "installing the mutation-testing tool into $(VENV) (first time ~10 s; once)"
	@$(call pip_install,requirements-mutation.txt)
	@touch $(MUTATION_STAMP)

$(REHEARSAL_STAMP): $(RUN_STAMP) requirements-rehearsal.txt
	@echo "installing the rehearsal's requirements into $(VENV) (first time ~1 min; once)"
	@$(call pip_install,requirements-rehearsal.txt)
	@touch $(REHEARSAL_STAMP)

run: $(RUN_STAMP)
	$(PY) -m devhost run examples/sample-request.json

# Rehearse the example sweep: its trials run for real on this machine (docs/rehearsal.md).
rehearse: $(REHEARSAL_STAMP)
	$(PY) -m devhost run examples/rehearsal/request.json --code examples/rehearsal/src

rehearsal-deps: $(REHEARSAL_STAMP)

# The API on http://127.0.0.1:7071/api, keys enforced (SERVE_ARGS="--virtual --key dev-key", ...).
SERVE_ARGS ?=
serve: $(RUN_STAMP)
	$(PY) -m devhost serve $(SERVE_ARGS)

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

# Bicep lint, offline: failed checks fail; skips are inline in infra/ with a reason.
lint-infra: $(STAMP)
	$(VENV)/bin/checkov --framework bicep --skip-download --quiet --compact -d infra

test: $(STAMP) lint lint-infra
	$(PY) -m pytest -q

# The suite again on a second supported Python, if one is installed (CI runs it
# after `make test`): its own venv, .venv-other, no lint (same sources).
OTHER_VENV := .venv-other
test-other-python: $(STAMP)
	@current=$$($(PY) -c 'import sys; print("%d.%d" % sys.version_info[:2])'); \
	other=$$(sh scripts/find-python --exclude $$current) || { echo "only Python $$current is installed: the suite ran on it alone"; exit 0; }; \
	echo "the suite again on $$other"; \
	{ test -x $(OTHER_VENV)/bin/python && $(OTHER_VENV)/bin/python -c 'import sys; sys.exit(0 if "%d.%d" % sys.version_info[:2] != "'$$current'" else 1)'; } || { rm -rf $(OTHER_VENV) && "$$other" -m venv $(OTHER_VENV); }; \
	$(OTHER_VENV)/bin/python -m pip install --quiet --upgrade pip && \
	$(OTHER_VENV)/bin/python -m pip install --quiet -r requirements-dev.txt && \
	$(OTHER_VENV)/bin/python -m pytest -q

soak: $(STAMP)
	$(PY) -m bench.soak --runs 200
	$(PY) -m bench.soak --outage 503
	$(PY) -m bench.soak --outage 429

bench: $(STAMP)
	$(PY) -m bench.run --write bench/RESULTS.md

# Mutation testing of the core modules ([tool.mutmut] in pyproject.toml), from scratch
# (no results reused from an earlier run), then tests/MUTATION.md from the results: the
# score per module and every survivor with the reason it is equivalent
# (tests/mutation-equivalents.toml). Fails when a module is under 90% or a survivor is
# unexplained. Not part of `make test` (~15 min on 2 cores). `make mutation-report` writes
# MUTATION.md again from the same results (after editing the reasons).
mutate: $(MUTATION_STAMP)
	rm -rf mutants
	@start=$$(date +%s); \
	$(VENV)/bin/mutmut run --max-children $(MUTATE_JOBS) > mutants.log 2>&1 || { tail -c 2000 mutants.log; exit 1; }; \
	echo "$$(( $$(date +%s) - start )) $(MUTATE_JOBS)" > mutants/run-time
	$(PY) scripts/mutation_report.py

mutation-report: $(MUTATION_STAMP)
	$(PY) scripts/mutation_report.py

clean:
	rm -rf $(VENV) $(OTHER_VENV) .pytest_cache .ruff_cache .hypothesis mutants mutants.log
