SHELL := /bin/bash
export PATH := $(HOME)/.cargo/bin:$(CURDIR)/end2end/node_modules/.bin:$(PATH)

.PHONY: test bench sim

## test: install what tests need, then run every suite and print "N passed, M failed"
test:
	scripts/test.sh

## bench: print the benchmark figures
bench:
	cargo run --release -p bench

## sim: run the Concur simulator on ports 9100-9102 and print demo credentials
sim:
	cargo run --release -p concur-sim
