# The two commands a newcomer needs: `make run` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev

.PHONY: run test lint typecheck check-content locales compile-locales bench clean

$(PY):
	python3 -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(PY)
	$(PIP) install --quiet -e .
	touch $@

$(DEV_STAMP): pyproject.toml | $(PY)
	$(PIP) install --quiet -e '.[dev,postgres,redis]'
	touch $@ $(STAMP)

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
	$(PY) -m pytest -q

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
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
