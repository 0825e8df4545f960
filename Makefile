# streamkpi — the two commands a newcomer needs: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench clean prometheus

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

.venv: $(STAMP)

PORT ?= 8000
SPEED ?= 1

# make demo [PORT=8001] [SPEED=60]: SPEED=60 runs the simulated business an hour a minute
demo: $(STAMP)
	@echo "Starting the embedded broker, a worker and the live simulator."
	@echo "Metrics: http://127.0.0.1:$(PORT)/metrics   (Ctrl-C stops everything)"
	$(BIN)/streamkpi run --simulate --speed $(SPEED) --metrics-port $(PORT) --table-every 2

prometheus:
	@command -v promtool >/dev/null 2>&1 && command -v amtool >/dev/null 2>&1 || { \
	  echo "installing Debian's prometheus (server + promtool) and prometheus-alertmanager (+ amtool)"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus prometheus-alertmanager >/dev/null) || \
	  (sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus prometheus-alertmanager >/dev/null); }
	@# the packages start system servers on :9090 and :9093; the tests start their own on free ports
	@-systemctl stop prometheus prometheus-node-exporter prometheus-alertmanager >/dev/null 2>&1 || true
	amtool check-config prometheus/alertmanager.yml

lint: $(STAMP)
	$(BIN)/ruff check events tables engine tests bench
	$(BIN)/mypy events tables

test: $(STAMP) prometheus lint
	$(BIN)/pytest -q -p no:cacheprovider

bench: $(STAMP)
	@# the Quix Streams peer (bench/peer.py) is a bench-only extra
	@$(BIN)/python -c "import quixstreams" 2>/dev/null || $(BIN)/pip install --quiet -e '.[test,bench]'
	$(BIN)/python -m bench.run

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
