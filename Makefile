# xsell — the two commands a fresh clone needs: `make demo` and `make test` (CI: `make lint` first;
# `make test-fast` while developing).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
SPARK_STAMP := $(VENV)/.installed-spark
# Spark 4 runs on Java 17 or 21; `make test` installs one with apt-get where it can (root, Debian/Ubuntu)
JAVA_PACKAGES ?= openjdk-17-jre-headless openjdk-21-jre-headless default-jre-headless
SCALE  ?= small
# implicit's native code and numpy's BLAS fight over cores; one BLAS thread is what implicit wants.
export OPENBLAS_NUM_THREADS ?= 1
export MKL_NUM_THREADS ?= 1

.PHONY: demo test test-fast lint install java browser bench clean help

help:
	@echo "make demo      - create .venv, install, generate demo data, run the retrain pipeline"
	@echo "make test      - create .venv, install (with the spark extra and, as root, a Java runtime and Chromium), run the whole test suite"
	@echo "make test-fast - the suite without the tests marked slow (subprocess / end-to-end runs)"
	@echo "make lint      - ruff check (src, tests, benchmarks) and mypy (src/xsell)"
	@echo "make bench     - run the stage benchmarks (SCALE=tiny|small|medium|large)"

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,lint]'
	touch $(STAMP)

install: $(STAMP)

# the spark extra (pyspark) for the Spark backend's tests; a failed install only skips them
$(SPARK_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[test,spark]' && touch $(SPARK_STAMP) \
		|| echo "make: pyspark could not be installed; the Spark backend's tests will be skipped"

# a Java runtime for Spark: apt-get as root when none is on PATH; never fails the build
java:
	@if command -v java >/dev/null 2>&1 || { [ -n "$$JAVA_HOME" ] && [ -x "$$JAVA_HOME/bin/java" ]; }; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "make: installing a Java runtime for the Spark tests (apt-get)"; \
		(apt-get update -qq >/dev/null 2>&1 || true); \
		for pkg in $(JAVA_PACKAGES); do \
			DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$pkg >/dev/null 2>&1 && break; \
		done; \
		command -v java >/dev/null 2>&1 || echo "make: no Java runtime could be installed; the Spark backend's tests will be skipped"; \
	else echo "make: no Java runtime (apt-get install openjdk-17-jre-headless as root); the Spark backend's tests will be skipped"; fi

demo: $(STAMP)
	$(BIN)/xsell demo-data --out demo-data --scale $(SCALE) --seed 42
	$(BIN)/xsell run retrain --config configs/demo.yaml

test: $(STAMP) $(SPARK_STAMP) java browser
	$(BIN)/python -m pytest -q

# The tests not marked slow (pyproject: the subprocess and end-to-end runs), for the edit-test loop.
test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow"

# Settings in pyproject.toml ([tool.ruff], [tool.mypy]: files = src/xsell).
lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy

# The site's browser test drives the system's Chromium (Debian package `chromium`) through
# Playwright; browsers are never downloaded. Installed here when missing and running as root
# with apt-get; otherwise (or when apt fails) the test is skipped and says why. Never fails.
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
	{ if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing chromium for the browser test (apt-get)"; \
	    (apt-get install -y -q chromium >/dev/null 2>&1 || \
	     (apt-get update -q >/dev/null 2>&1 && apt-get install -y -q chromium >/dev/null 2>&1)) || \
	    echo "could not install chromium: the browser test will be skipped"; \
	  else echo "no chromium (apt-get install chromium as root): the browser test will be skipped"; fi; }

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py --scale $(SCALE)

clean:
	rm -rf work demo-data outputs models/*/ mlflow.db
