# One idempotent set-up for everything: `make demo` and `make test` both go through it.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.setup-done

.PHONY: setup demo test clean

setup: $(STAMP)

$(STAMP): setup.cfg pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	# torch: keep one that is there; else the small CPU build where no GPU is visible
	if ! $(BIN)/python -c "import torch" 2>/dev/null; then \
	  if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then \
	    $(BIN)/python -m pip install -q torch; \
	  else \
	    $(BIN)/python -m pip install -q torch==2.13.0; \
	  fi; \
	fi
	$(BIN)/python -m pip install -q -e ".[train,reference,test]"
	touch $(STAMP)

demo: setup
	$(BIN)/python examples/quickstart.py

test: setup
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) *.egg-info
