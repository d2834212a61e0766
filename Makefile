# Org Portal: `make run` (the whole portal locally) and `make test` (everything CI runs).
PYTHON ?= python3
VENV   ?= .venv
PY      = $(VENV)/bin/python
STAMP   = $(VENV)/.installed

.PHONY: run test lint bench clean lock

# (Re)install when the lock or pyproject.toml changes: the exact versions of requirements-dev.lock, then the portal
# itself without resolving anything again. The editable install also provides the `orgportal` command; the
# simulators (sfsim/, oidcsim/) are not in the package and are imported from the checkout (the working directory).
$(STAMP): pyproject.toml requirements-dev.lock
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.lock
	$(PY) -m pip install --quiet --no-deps -e .
	@touch $(STAMP)

# After changing the dependencies in pyproject.toml: re-resolve both lock files (needs the package index).
lock: $(STAMP)
	$(VENV)/bin/pip-compile --quiet --strip-extras --no-emit-index-url --no-emit-find-links --allow-unsafe \
		-o requirements.lock pyproject.toml
	$(VENV)/bin/pip-compile --quiet --strip-extras --no-emit-index-url --no-emit-find-links --allow-unsafe \
		--extra dev -o requirements-dev.lock pyproject.toml

run: $(STAMP)
	$(PY) -m portal.devserver

lint: $(STAMP)
	$(VENV)/bin/ruff check .

test: $(STAMP) lint
	$(PY) -m pytest $(PYTEST_ARGS)

bench: $(STAMP)
	$(PY) -m bench

clean:
	rm -rf $(VENV) .run staticfiles build .pytest_cache
