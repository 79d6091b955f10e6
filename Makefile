# The two commands of the README. Both set everything up first (idempotent).
.PHONY: setup demo test lint serve bench

setup:
	@bash scripts/setup.sh

demo: setup
	.venv/bin/jdfd generate examples/sketches -o outputs/demo --shadow outputs/demo/shadows

test: setup
	.venv/bin/python -m pytest -q --durations=12 tests

lint: setup
	.venv/bin/ruff check jdfd tests examples scripts

serve: setup
	.venv/bin/jdfd serve

bench: setup
	.venv/bin/pip install -q -e '.[bench]'
	.venv/bin/jdfd bench
