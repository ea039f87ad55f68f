# whatsapp-connector — developer entry points. Each target installs what it needs.
SHELL := /bin/bash
NODE_MODULES := node_modules/.package-lock.json

.PHONY: all install tools check lint format typecheck test test-unit test-integration dev bench build clean

all: test

$(NODE_MODULES): package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $(NODE_MODULES)

install: $(NODE_MODULES)

## tools: livekit-server (pinned, built with go install), redis-server, chromium
tools:
	scripts/install-tools.sh all

## check: formatter, linter and type checker
check: install
	npx prettier --check .
	npx eslint .
	npx tsc -p tsconfig.json --noEmit

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

test-integration: install tools
	scripts/run-tests.sh integration

## dev: a complete local stack on embedded defaults
dev: install tools
	node bin/whatsapp-connector.js dev

## bench: benchmarks (table + JSON under bench/results)
bench: install tools
	npx tsx bench/run.ts $(BENCH_ARGS)

build: install
	npx tsc -p tsconfig.build.json

clean:
	rm -rf dist .run
