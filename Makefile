# The two commands a newcomer needs: `make dev` and `make test`. Everything else is optional.
# Only Python 3.11+ is assumed; uv is bootstrapped from pip into .local/ when it is not installed.

PYTHON ?= python3
UV := $(shell command -v uv 2>/dev/null)
ifeq ($(UV),)
UV := .local/uv/bin/uv
endif

.PHONY: dev test check lint types unit bench env clean

$(UV):
	$(PYTHON) -m venv .local/uv
	.local/uv/bin/python -m pip install --quiet --disable-pip-version-check uv

env: $(UV)
	$(UV) sync --frozen

dev: env ## start the whole stack locally in the foreground
	$(UV) run --frozen python -m commerce_platform.devstack

test: env check ## lint, types, then the whole test suite (starts its own stack)
	$(UV) run --frozen pytest

check: env ## ruff on everything, mypy --strict on libs/
	$(UV) run --frozen ruff check .
	$(UV) run --frozen mypy libs/commerce_platform

bench: env ## benchmarks (see bench/README.md); prints figures
	$(UV) run --frozen python -m bench

clean:
	rm -rf .local .venv .pytest_cache .mypy_cache .ruff_cache
