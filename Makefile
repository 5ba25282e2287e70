# Sportello del Cittadino. `make run` for a new user, `make test` for everyone.
SHELL := /bin/bash
GO ?= go
BIN := bin/sportello
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)
export SPORTELLO_TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable

.PHONY: all run build assets test test-go lint e2e bench bench-ab fuzz clean

all: build

## assets: install the pinned npm packages and copy Bootstrap Italia into static/vendor
assets: static/vendor/bootstrap-italia/css/bootstrap-italia.min.css

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

static/vendor/bootstrap-italia/css/bootstrap-italia.min.css: node_modules/.package-lock.json
	rm -rf static/vendor/bootstrap-italia
	mkdir -p static/vendor/bootstrap-italia
	cp -r node_modules/bootstrap-italia/dist/css node_modules/bootstrap-italia/dist/js \
	      node_modules/bootstrap-italia/dist/svg node_modules/bootstrap-italia/dist/fonts \
	      static/vendor/bootstrap-italia/
	rm -f static/vendor/bootstrap-italia/css/*.map
	@touch $@

## build: the single binary, with templates and static files embedded
build: assets
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/sportello

## run: start the portal on http://127.0.0.1:8080 with the embedded database and the demo union of two
## comuni (config/demo.yaml: Valdoria also at valdoria.localhost:8080, Borgomonte at borgomonte.localhost:8080)
run: build
	$(BIN) demo --config config/demo.yaml
	$(BIN) serve --config config/demo.yaml

## lint: gofmt and go vet
lint:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './node_modules/*')); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...

## test: lint, then every Go test with the race detector on SQLite and PostgreSQL, then the browser journeys
test: assets lint
	$(GO) test -race -count=1 -timeout 20m ./...
	$(MAKE) e2e

## e2e: browser journeys in headless Chromium with axe-core accessibility checks
e2e: build
	SPORTELLO_E2E=1 SPORTELLO_BIN=$(CURDIR)/$(BIN) $(GO) test -count=1 -timeout 25m ./e2e/

## bench: benchmarks (catalogue throughput, memory, and the packages' own benchmarks)
bench: build
	$(GO) test -run '^$$' -bench . -benchmem -benchtime 2s ./...
	./scripts/bench-http.sh $(BIN)
	./scripts/bench-import.sh

## bench-ab: one benchmark at two revisions, run in alternation on this machine, e.g.
##   make bench-ab BASE=e52d447 PKG=./services/certificates BENCH='BenchmarkIssueCertificate$$/sqlite'
BASE ?= HEAD
PKG ?= ./services/certificates
BENCH ?= BenchmarkIssueCertificate$$/sqlite
PAIRS ?= 10
bench-ab:
	./scripts/bench-ab.sh '$(BASE)' '$(PKG)' '$(BENCH)' '$(PAIRS)' 2s

## fuzz: run the fuzzers for a while each
fuzz:
	$(GO) test -run '^$$' -fuzz FuzzDecodeVerify -fuzztime 60s ./app/stamp/
	$(GO) test -run '^$$' -fuzz FuzzImport -fuzztime 60s ./app/anagrafe/

clean:
	rm -rf bin static/vendor/bootstrap-italia
