# Gatehouse — the two commands: `make run` and `make test`. Both install what they need.
SHELL := /bin/bash
export PATH := $(HOME)/.cargo/bin:$(CURDIR)/node_modules/.bin:$(PATH)
# One target directory outside the clone, shared by every build and by CI on this machine.
export CARGO_TARGET_DIR ?= $(HOME)/.cache/gatehouse/target

.PHONY: run test setup-run setup-test build build-release check bench clean-testdbs

run: setup-run build-release
	$(CARGO_TARGET_DIR)/release/gatehouse serve

setup-run:
	@scripts/setup.sh run

setup-test:
	@scripts/setup.sh test

build:
	cargo leptos build

build-release:
	cargo leptos build --release

check:
	cargo check -p server
	cargo check -p frontend --target wasm32-unknown-unknown

test: setup-test
	@scripts/test.sh

bench: setup-test
	@scripts/bench.sh
