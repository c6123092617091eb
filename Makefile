# skelnb: two commands for a fresh machine (see README.md).
#   make book   builds the rendered book (every chapter executed, quick profile)
#   make test   ruff, unit tests + every chapter under nbval + the headless-browser check of the book
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
BUILD  := _build/html
export SKELNB_PROFILE ?= quick
export PYTHONHASHSEED := 0
export MPLBACKEND := Agg

.PHONY: book test venv clean

venv: $(STAMP)

# Re-installs only when requirements.txt or pyproject.toml change.
$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -r requirements.txt
	$(PY) -m pip install -q --no-deps -e .
	$(PY) -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $@

# Chapters are executed at build time; jupyter-cache keeps a chapter's outputs until its code
# changes, so a second `make book` re-executes nothing. The cache only sees notebook code, so it
# is dropped whenever the skelnb package (or the profile) changes, together with Sphinx's saved
# environment (else Sphinx would not re-read, hence not re-execute, the unchanged chapters).
PKG_HASH = $(shell { find skelnb -name '*.py' | LC_ALL=C sort | xargs cat; echo $(SKELNB_PROFILE); } | sha1sum | cut -c1-16)

book: $(STAMP)
	@mkdir -p _build
	@if [ "$$(cat _build/.skelnb-hash 2>/dev/null)" != "$(PKG_HASH)" ]; then \
	  echo "skelnb changed since the last build: re-executing every chapter"; \
	  rm -rf _build/.jupyter_cache _build/.doctrees _build/.skelnb-hash; fi
	$(PY) -m skelnb.viz --install-static _static
	SKELNB_PLOTLY=book $(VENV)/bin/jupyter-book build . --path-output . -W --keep-going
	@echo $(PKG_HASH) > _build/.skelnb-hash
	@echo "Book built: $(abspath $(BUILD))/index.html"

test: book
	$(VENV)/bin/ruff check .
	$(PY) -m pytest --durations=25

clean:
	rm -rf _build _static/plotly.min.js
