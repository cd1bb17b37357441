# xsell — the two commands a fresh clone needs: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
SCALE  ?= small
# implicit's native code and numpy's BLAS fight over cores; one BLAS thread is what implicit wants.
export OPENBLAS_NUM_THREADS ?= 1
export MKL_NUM_THREADS ?= 1

.PHONY: demo test install bench clean help

help:
	@echo "make demo   - create .venv, install, generate demo data, run the retrain pipeline"
	@echo "make test   - create .venv, install, run the whole test suite"
	@echo "make bench  - run the stage benchmarks (SCALE=tiny|small|medium|large)"

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/xsell demo-data --out demo-data --scale $(SCALE) --seed 42
	$(BIN)/xsell run retrain --config configs/demo.yaml

test: $(STAMP)
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py --scale $(SCALE)

clean:
	rm -rf work demo-data outputs models/*/ mlflow.db
