# One idempotent set-up for everything: `make demo` and `make test` both go through it.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.setup-done

.PHONY: setup setup-dft demo test clean

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

# GPAW (real PBE labels, `--reference gpaw-pw`): built from source against the system's libxc,
# FFTW and OpenBLAS headers, which the Debian packages below provide
setup-dft: setup
	@for h in xc.h fftw3.h cblas.h; do ls /usr/include/$$h /usr/include/*/$$h 2>/dev/null | grep -q . || { \
	  echo "GPAW needs the headers of libxc, FFTW and OpenBLAS and a C compiler:"; \
	  echo "  sudo apt-get install libxc-dev libfftw3-dev libopenblas-dev g++"; exit 1; }; done
	$(BIN)/python -c "import gpaw" 2>/dev/null || CC=g++ $(BIN)/python -m pip install -q -e ".[dft]"

demo: setup
	$(BIN)/python examples/quickstart.py

test: setup
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) *.egg-info
