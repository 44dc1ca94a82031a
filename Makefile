# vidserve: `make run` serves with the embedded defaults; `make test` runs every check.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run test lint typecheck unit clean faces

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Stamp files record which extras are installed; they are redone when pyproject.toml changes.
$(VENV)/.server-installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[server]'
	touch $@

$(VENV)/.test-installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@ $(VENV)/.server-installed

# The face models (lipsync, avatars) come out of MediaPipe's wheel, checked by sha256; a
# no-op once they are there.
faces: $(VENV)/.server-installed
	$(BIN)/python -m vidserve.engines.faces.install

run: faces
	$(BIN)/vidserve serve

lint: $(VENV)/.test-installed
	$(BIN)/ruff check src tests

typecheck: $(VENV)/.test-installed
	$(BIN)/mypy

test: lint typecheck faces
	sh tests/browser/setup.sh
	$(BIN)/pytest

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
