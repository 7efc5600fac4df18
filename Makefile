# Everything bootstraps .venv on first use: `make test` and `make run` work on a fresh machine
# that has only python3, make and apt.
# The interpreter for a new venv: PYTHON if given, else the first Python 3.11-3.13 that
# devtools/find-python finds (python3, python3.1x on PATH, pyenv). VENV may name a second venv,
# e.g. `make VENV=.venv-3.13 PYTHON=python3.13 test-fast`.
PYTHON ?=
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test test-fast lint format run serve bench bench-pipeline bench-campaign bench-startup bench-turns bench-serve bench-dashboard bench-messages bench-recall bench-backends clean install demo demo-campaign smoke smoke-dial vendor-axe messages

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || { py=$$(PYTHON='$(PYTHON)' sh devtools/find-python) && \
		echo "creating $(VENV) with $$py" && $$py -m venv $(VENV); }
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: lint
	$(BIN)/pytest --durations=30

# Everything but the multi-process and browser tests: what CI runs on a second Python version.
test-fast: $(STAMP)
	$(BIN)/pytest -q -m "not slow and not browser"

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

run: $(STAMP)
	$(BIN)/python bot.py

# The long-running service (/healthz, /readyz) until Ctrl-C; deployment: docs/deploy.md.
serve: $(STAMP)
	$(BIN)/elo serve

bench: $(STAMP)
	$(BIN)/python -m bench.tools_bench

bench-messages: $(STAMP)
	$(BIN)/python -m bench.messages_bench

bench-recall: $(STAMP)
	$(BIN)/python -m bench.recall_bench

bench-backends: $(STAMP)
	$(BIN)/python -m bench.backends_bench

bench-pipeline: $(STAMP)
	$(BIN)/python -m bench.pipeline_bench

bench-campaign: $(STAMP)
	$(BIN)/python -m bench.campaign_bench

bench-startup: $(STAMP)
	$(BIN)/python -m bench.startup_check

bench-turns: $(STAMP)
	$(BIN)/python -m bench.turns

bench-serve: $(STAMP)
	$(BIN)/python -m bench.serve_bench

# The dashboard pages' queries on 1,000,000 calls (docs/benchmarks.md, "Dashboard (issue 12)").
bench-dashboard: $(STAMP)
	$(BIN)/python -m bench.dashboard_bench

clean:
	rm -rf $(VENV) .venv-* .pytest_cache .ruff_cache

demo: $(STAMP)
	$(BIN)/python -m demo.rehearsal

demo-campaign: $(STAMP)
	$(BIN)/python -m demo.campaign_rehearsal

# One short call against the real Gemini Live API (needs ELO_GOOGLE__API_KEY; skips without it).
smoke: $(STAMP)
	$(BIN)/python -m devtools.smoke

# One real phone call to a number you own: make smoke-dial +355... (or NUMBER=+355...; YES=1
# skips the question). The number after the goal is taken as an argument, not as another goal.
ifeq (smoke-dial,$(firstword $(MAKECMDGOALS)))
NUMBER ?= $(wordlist 2,$(words $(MAKECMDGOALS)),$(MAKECMDGOALS))
$(eval $(wordlist 2,$(words $(MAKECMDGOALS)),$(MAKECMDGOALS)):;@:)
endif
smoke-dial: $(STAMP)
	$(BIN)/python -m devtools.smoke dial $(NUMBER) $(if $(YES),--yes)

# Refresh the vendored axe-core the dashboard's accessibility tests inject into Chromium
# (tests/fixtures/vendor/axe-core/: axe.min.js, its licences and VERSION), from the npm registry.
AXE_VERSION ?= 4.14.1
vendor-axe:
	@tmp=$$(mktemp -d) && cd $$tmp && npm pack --silent axe-core@$(AXE_VERSION) >/dev/null && \
		tar xzf axe-core-$(AXE_VERSION).tgz && cd - >/dev/null && \
		cp $$tmp/package/axe.min.js $$tmp/package/LICENSE $$tmp/package/LICENSE-3RD-PARTY.txt \
			tests/fixtures/vendor/axe-core/ && \
		printf '%s\n' "axe-core $(AXE_VERSION) (MPL-2.0), from the npm registry: npm pack axe-core@$(AXE_VERSION)" \
			"files: axe.min.js, LICENSE, LICENSE-3RD-PARTY.txt (from the package as published)" \
			"axe.min.js sha256: $$(sha256sum tests/fixtures/vendor/axe-core/axe.min.js | cut -d' ' -f1)" \
			"refresh: make vendor-axe AXE_VERSION=$(AXE_VERSION)" > tests/fixtures/vendor/axe-core/VERSION && \
		rm -rf $$tmp

# The dashboard's message catalogues: extract every string of its templates and Python, then merge
# new ones into dashboard/locale/{sq,en}/LC_MESSAGES/messages.po (translate them there).
messages: $(STAMP)
	$(BIN)/pybabel extract --no-location --sort-output -F dashboard/babel.cfg -o dashboard/locale/messages.pot dashboard
	$(BIN)/pybabel update --no-fuzzy-matching -i dashboard/locale/messages.pot -d dashboard/locale -D messages
