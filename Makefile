# cte: make test is what CI runs (.ci/run) and what README.md tells a new user to run.
GO       ?= go
PKGS     ?= ./...
# A count, not a duration: Go 1.26's fuzz coordinator can fail a clean run with
# "context deadline exceeded" when a duration runs out (golang/go#75804, fixed in 1.27).
FUZZTIME ?= 100000x
BENCH    ?= .

.PHONY: build test race lint bench bench-job fuzz cover demo

## build: the cte command as ./bin/cte
build:
	$(GO) build -o bin/cte ./cmd/cte

## test: lint, then every test with the race detector
test: lint race

race:
	$(GO) test -race -count=1 $(PKGS)

## lint: gofmt check and go vet
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)

## bench: every benchmark with allocation counts
bench:
	$(GO) test -run '^$$' -bench '$(BENCH)' -benchmem $(PKGS)

## bench-job: the whole-job benchmark (both products' fakes, the default store, real fsync);
## e.g. make bench-job JOBFLAGS='-events 200000 -count 5'
JOBFLAGS ?= -events 200000,1000000 -count 3
bench-job:
	$(GO) build -o bin/benchjob ./internal/benchjob
	./bin/benchjob $(JOBFLAGS)

## fuzz: each fuzz target for FUZZTIME (default 100000x executions; e.g. make fuzz FUZZTIME=60s)
fuzz:
	@set -e; for pkg in $$($(GO) list $(PKGS)); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 5s $$pkg; \
	  done; \
	done

## cover: coverage profile and per-function summary
cover:
	$(GO) test -coverprofile=cover.out $(PKGS)
	$(GO) tool cover -func=cover.out | tail -n 1

demo:
	$(GO) run ./cmd/cte demo
