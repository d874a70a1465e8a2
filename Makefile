# Osiris state plane. `make help` lists the targets.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
TOOLS := $(CURDIR)/.tools
export PATH := $(TOOLS):$(PATH)
# Every module of the workspace (the directories named in go.work).
MODULES := $(shell sed -n 's/^[[:space:]]*\(\.[^[:space:]]*\)$$/\1/p' go.work)

.PHONY: help tools gen gen-check lint build test test-go conformance test-short bench bench-external run clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-15s %s\n", $$1, $$2}'

# The pinned tools (tools/go.mod and tools/buf/go.mod), built from source into .tools/.
$(TOOLS)/.built: tools/go.mod tools/buf/go.mod
	cd tools && GOWORK=off GOBIN=$(TOOLS) go install tool
	cd tools/buf && GOWORK=off GOBIN=$(TOOLS) go install tool
	touch $@

# The differential test's Node packages (e2e/mcpdiff/package-lock.json: the TypeScript MCP
# SDK and server-everything), installed again only when the lock file changes.
MCPDIFF := e2e/mcpdiff
$(MCPDIFF)/node_modules/.installed: $(MCPDIFF)/package.json $(MCPDIFF)/package-lock.json
	cd $(MCPDIFF) && npm ci --no-audit --no-fund --loglevel=error >/dev/null
	touch $@

tools: $(TOOLS)/.built $(MCPDIFF)/node_modules/.installed ## build the pinned tools (buf, protoc plugins, gotestsum) into .tools/; npm ci the differential test's packages

gen: tools ## regenerate Go, gateway and OpenAPI code from proto/
	buf lint
	buf generate

gen-check: gen ## fail if regenerating changes any committed file
	@if [ -n "$$(git status --porcelain -- api)" ]; then \
		echo "generated code is stale; run 'make gen' and commit:"; git status --porcelain -- api; exit 1; fi

lint: tools ## buf lint, gofmt, go vet over every module
	buf lint
	@out=$$(gofmt -l $(MODULES) | grep -v -E '\.pb(\.gw)?\.go$$' || true); \
		if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	go vet $(addsuffix /...,$(MODULES))

build: ## build every binary into ./bin
	@mkdir -p bin
	go build -o bin/ $(addprefix ./,$(wildcard cmd/* services/*/cmd/* gateway/cmd/*))
	@ls bin

test: test-go conformance ## every test: Go tests of every module (race detector), then MCP conformance

test-go: tools ## the Go tests of every module, with the race detector
	gotestsum --format pkgname-and-test-fails -- -race -count=1 -timeout 30m $(addsuffix /...,$(MODULES))

conformance: tools ## the official MCP conformance suite through the gateway (needs npx)
	scripts/conformance.sh

test-short: ## the same without the race detector (faster, for a quick check)
	go test -count=1 $(addsuffix /...,$(MODULES))

bench: tools ## every benchmark (ratios against a baseline of the same run) into bench/RESULTS.md
	scripts/bench-report.sh

bench-external: tools ## the gateway measured from outside, every process apart (PROFILE=1: a CPU profile too)
	scripts/bench-external.sh

run: build tools ## the whole stack in one process, data under ./data, fronting the SDK's everything-server
	./bin/osiris up --data-dir ./data --upstream-stdio "everything=$(TOOLS)/everything-server"

clean: ## remove build output (not ./data)
	rm -rf bin
