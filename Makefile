# Two entry points do all set-up on a fresh machine: `make up` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
ARGS ?=

.PHONY: up test lint typecheck imports venv bench clean proto system

venv: $(STAMP)

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { apt-get update && apt-get install -y python3 python3-venv; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || { apt-get update && apt-get install -y python3-venv && $(PYTHON) -m venv $(VENV); }
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	# An independent copy of Apache Storm's storm.thrift, for the IDL cross-check test only.
	# Its own dependencies (fabric, jinja2, …) are not needed for that, so none are installed.
	$(BIN)/python -m pip install --quiet --no-deps 'streamparse==5.0.1'
	@touch $(STAMP)

# The control plane's gRPC code is generated from its .proto, never committed.
PROTO_DIR := src/pilothouse/controlplane/proto
PROTO_OUT := $(PROTO_DIR)/controlplane_pb2.py

proto: $(PROTO_OUT)

$(PROTO_OUT): $(PROTO_DIR)/controlplane.proto $(PROTO_DIR)/generate.py $(STAMP)
	$(BIN)/python -m pilothouse.controlplane.proto.generate

# Debian packages for the browser and PostgreSQL tests (checked every time, installed once).
system:
	@scripts/system-packages.sh

up: $(STAMP) $(PROTO_OUT)
	$(BIN)/pilothouse up $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(STAMP) $(PROTO_OUT)
	$(BIN)/mypy

imports: $(STAMP) $(PROTO_OUT)
	$(BIN)/lint-imports

test: lint typecheck imports system $(PROTO_OUT)
	$(BIN)/pytest -q $(ARGS)

bench: $(STAMP) $(PROTO_OUT)
	$(BIN)/python -m bench $(ARGS)

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache $(PROTO_DIR)/*_pb2*.py $(PROTO_DIR)/*_pb2.pyi
