# The two commands a newcomer needs: `make run` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev
# Every dependency (runtime, dev, postgres, redis) pinned with its hashes; `make lock` rewrites it.
LOCK := requirements/lock.txt
# pip-tools and pip-audit live apart, so they never mix into the project's own dependencies.
TOOLS := .venv-tools

# Tests run on every core (pytest-xdist; `make test PYTEST_ARGS=` runs them in one process).
# worksteal: the few process tests are long, so an idle worker takes queued tests from a busy one.
PYTEST_ARGS ?= -n auto --dist worksteal

.PHONY: run test lint typecheck check-content locales compile-locales bench clean lock audit

$(PY):
	python3 -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip setuptools

# Exactly the locked versions, each checked against its hash; then the project itself.
$(DEV_STAMP): pyproject.toml $(LOCK) | $(PY)
	$(PIP) install --quiet --upgrade pip setuptools
	$(PIP) install --quiet --require-hashes -r $(LOCK)
	$(PIP) install --quiet --no-deps --no-build-isolation -e .
	touch $@

$(STAMP): $(DEV_STAMP)
	touch $@

$(TOOLS)/bin/pip-compile:
	python3 -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --upgrade pip setuptools
	$(TOOLS)/bin/pip install --quiet 'pip-tools ~= 7.4' 'pip-audit ~= 2.7'

# Re-run after changing dependencies in pyproject.toml (a test fails until you do).
lock: $(TOOLS)/bin/pip-compile
	$(TOOLS)/bin/pip-compile --quiet --generate-hashes --allow-unsafe --strip-extras \
		--no-emit-index-url --no-emit-find-links --extra dev --extra postgres --extra redis \
		--output-file $(LOCK) pyproject.toml

# Known vulnerabilities in the locked versions, from PyPI's advisory data. Offline, it says so
# in one line and exits 0: an audit that could not run is not a pass, and not a failure either.
audit: $(TOOLS)/bin/pip-compile
	@$(TOOLS)/bin/python scripts/audit.py $(TOOLS)/bin/pip-audit $(LOCK)

compile-locales: $(STAMP)
	@# One statistics line per translated catalog (en is the source language).
	@$(VENV)/bin/pybabel compile --domain messages --directory locales --statistics 2>&1 \
		| grep ' translated in ' | grep -v '/en/' || true

run: $(STAMP) compile-locales
	@if [ -n "$$BOT_TOKEN" ] || grep -qs '^BOT_TOKEN=.' .env; then \
		$(PY) -m bot run; \
	else \
		echo "BOT_TOKEN is not set: opening the terminal chat instead (Ctrl-D quits)."; \
		$(PY) -m bot chat; \
	fi

lint: $(DEV_STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(DEV_STAMP)
	$(VENV)/bin/mypy bot storage

test: $(DEV_STAMP) compile-locales lint typecheck
	$(PY) -m bot guides check
	$(PY) -m pytest -q $(PYTEST_ARGS)

# Extract UI strings from the code, merge them into every catalog, compile.
locales: $(DEV_STAMP)
	$(VENV)/bin/pybabel extract --keywords=lazy_gettext \
		--add-comments=NOTE --no-location --sort-output \
		--project="Community Guide Bot" --msgid-bugs-address="" \
		--output-file=locales/messages.pot bot
	$(VENV)/bin/pybabel update --domain messages --input-file=locales/messages.pot \
		--output-dir=locales --no-fuzzy-matching --ignore-obsolete
	$(MAKE) compile-locales

bench: $(DEV_STAMP) compile-locales
	$(PY) -m bot bench

clean:
	rm -rf $(VENV) $(TOOLS) .mypy_cache .ruff_cache .pytest_cache
