# The two set-up commands of a fresh machine: `make demo` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
INTERLOCK := $(abspath $(VENV))/bin/interlock
STAMP := $(VENV)/.installed
SHOP := examples/shop


.PHONY: install chromium demo lint test test-unit test-services test-e2e clean bench

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,demo]'
	touch $(STAMP)

install: $(STAMP)

# Run the whole protocol on the demo shop, non-interactively; the run ends by
# printing the gate verdicts and where the evidence bundle is.
demo: install
	cd $(SHOP) && { test -f .interlock/keys/signoff.key || $(INTERLOCK) keygen --out .interlock/keys/signoff.key; }
	cd $(SHOP) && $(INTERLOCK) run --env integration --yes
	cd $(SHOP) && $(INTERLOCK) verify .artifacts/integration/INTEGRATION-EVIDENCE.zip

# The browser test drives Debian's Chromium (playwright cannot download browsers here).
chromium:
	test -x /usr/bin/chromium || { apt-get update && apt-get install -y chromium; }

# The static checks that keep the structure: ruff, mypy strict over src/interlock
# ([tool.mypy]) and the layer contracts of ARCHITECTURE.md ([tool.importlinter]).
lint: install
	$(VENV)/bin/ruff check src tests examples
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports --no-cache --no-logo

# worksteal: a worker that runs dry takes queued tests from the other, so the long
# end-to-end tests never leave one core idle at the end.
test: lint chromium
	$(PY) -m pytest -n 2 --dist worksteal -q tests

test-unit: install
	$(PY) -m pytest -q tests/unit

test-services: install
	$(PY) -m pytest -q tests/services

test-e2e: install
	$(PY) -m pytest -q tests/e2e

# One JSON line per benchmark (BENCH=substring runs only the matching ones);
# exits 0 even when a ratio misses its target: see each line's "met".
bench: install
	$(PY) bench/run.py

clean:
	rm -rf $(SHOP)/.artifacts $(SHOP)/.interlock $(SHOP)/.run
