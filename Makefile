SHELL := /bin/bash
export PATH := $(HOME)/.cargo/bin:$(CURDIR)/end2end/node_modules/.bin:$(PATH)

SITE_ROOT := target/site
CONSOLE := target/release/concur-console

.PHONY: run test demo bench sim screenshots tools test-tools build lint image

## run: install what is missing, build, serve http://127.0.0.1:3000 on SQLite in ./data/
run: build
	$(CONSOLE) serve

## test: install what tests need, run every suite, end with "N passed, M failed"
test:
	scripts/test.sh

## demo: the console beside a built-in Concur simulator with demo data
demo: build
	$(CONSOLE) demo

## bench: print the benchmark figures (client overhead, simulator, dashboard, wasm size, memory)
bench: build
	cargo build --release -p concur-sim -p bench
	scripts/bench.sh

## image: localhost/concur-console:latest, the Dockerfile's final stage around this build (podman or docker)
image: build
	scripts/image.sh

## screenshots: the demo's dashboard in Chromium, saved as docs/dashboard.png for the README
screenshots: build test-tools
	scripts/screenshots.sh

## sim: the Concur simulator alone on ports 9100-9102, printing demo credentials
sim:
	cargo run --release -p concur-sim

## lint: formatting and clippy
lint:
	scripts/lint.sh

build: tools
	scripts/build.sh

tools:
	scripts/install-tools.sh

test-tools:
	scripts/install-test-tools.sh
