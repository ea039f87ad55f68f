# whatsapp-connector — developer entry points. Each target installs what it needs.
SHELL := /bin/bash
NODE_MODULES := node_modules/.package-lock.json
# The build (dist/) is what bin/whatsapp-connector.js runs; it is redone when a source changes.
BUILD := dist/cli/main.js
SOURCES := $(shell find src -name '*.ts') $(wildcard src/console/assets/*) tsconfig.json tsconfig.build.json package.json

.PHONY: all install tools check lint format typecheck test test-unit test-integration dev bench bench-long build clean

all: test

$(NODE_MODULES): package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $(NODE_MODULES)

install: $(NODE_MODULES)

## tools: livekit-server (pinned, built with go install), redis-server, chromium
tools:
	scripts/install-tools.sh all

## check: formatter, linter, type checker (sources, tests, bench) and the build
check: install
	npx prettier --check .
	npx eslint .
	npx tsc -p tsconfig.json --noEmit
	$(MAKE) --no-print-directory build

format: install
	npx prettier --write .

lint: install
	npx eslint .

typecheck: install
	npx tsc -p tsconfig.json --noEmit

## test: the whole suite (unit, integration against real livekit-server/redis, SDK compatibility)
test: install tools check
	scripts/run-tests.sh all

test-unit: install
	scripts/run-tests.sh unit

test-integration: install tools build
	scripts/run-tests.sh integration

## dev: a complete local stack on embedded defaults
dev: install tools build
	node bin/whatsapp-connector.js dev

## bench: benchmarks (table + JSON under bench/results); about 15 minutes
bench: install tools
	npx tsx bench/run.ts $(BENCH_ARGS)

## bench-long: the benchmarks plus a 30-minute soak at half capacity (= make bench BENCH_ARGS=--long)
bench-long: install tools
	npx tsx bench/run.ts --long $(BENCH_ARGS)

## build: compile src/ into dist/ (what the bin and the npm package run), with the console's assets
build: install $(BUILD)

$(BUILD): $(SOURCES)
	npm run build

clean:
	rm -rf dist .run
