# Gatehouse — the two commands: `make run` and `make test`. Both install what they need.
SHELL := /bin/bash
export PATH := $(HOME)/.cargo/bin:$(CURDIR)/node_modules/.bin:$(PATH)
# One target directory outside the clone per checkout path, reused by every build of that
# checkout. Never share one between two checkouts: cargo would take one checkout's build
# as fresh for the other (same unit hashes, fingerprints pointing at the other's files).
export CARGO_TARGET_DIR ?= $(HOME)/.cache/gatehouse/target-$(shell printf %s "$(CURDIR)" | sha256sum | cut -c1-12)

.PHONY: run test setup-run setup-test build build-release check lint fmt bench

run: setup-run build-release
	$(CARGO_TARGET_DIR)/release/gatehouse serve

setup-run:
	@scripts/setup.sh run

setup-test:
	@scripts/setup.sh test

build:
	cargo leptos build

build-release:
	@scripts/build-release.sh

check:
	cargo check -p server
	cargo check -p frontend --target wasm32-unknown-unknown

fmt:
	leptosfmt -q -c leptosfmt.toml app/src frontend/src
	cargo fmt --all

lint:
	cargo fmt --all --check
	leptosfmt --check -q -c leptosfmt.toml app/src frontend/src
	python3 scripts/module-cycles.py
	cargo clippy -p server -p app -p migrations --features app/ssr --all-targets -- -D warnings
	cargo clippy -p server -p app -p migrations --features app/ssr -- -D warnings
	! grep -rn "pub(crate)" app/src/server --include=*.rs
	cargo clippy -p frontend --target wasm32-unknown-unknown --all-targets -- -D warnings

test: setup-test
	@scripts/test.sh

bench: setup-test
	@scripts/bench.sh
