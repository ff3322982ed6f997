# cte: make test is what CI runs (.ci/run) and what README.md tells a new user to run.
GO       ?= go
PKGS     ?= ./...
# A count, not a duration: Go 1.26's fuzz coordinator can fail a clean run with
# "context deadline exceeded" when a duration runs out (golang/go#75804, fixed in 1.27).
FUZZTIME ?= 100000x
BENCH    ?= .
# The browser tests write their screenshots here (kept after the run; git ignores it).
export CTE_ARTIFACTS ?= $(CURDIR)/artifacts

.PHONY: build test race race-pg lint bench bench-pg bench-job bench-job-pg fuzz cover demo

## build: the cte command as ./bin/cte
build:
	$(GO) build -o bin/cte ./cmd/cte

## test: lint, then every test with the race detector, the PostgreSQL ones included
test: lint race-pg

race:
	$(GO) test -race -count=1 $(PKGS)

# with-pg runs its argument with CTE_TEST_POSTGRES naming a PostgreSQL cluster:
# the one already named, or a throwaway one from scripts/testpg.sh, stopped and
# deleted afterwards even when the tests fail. The PostgreSQL tests fail rather
# than skip without one (CTE_REQUIRE_POSTGRES).
define with-pg
@if [ -n "$$CTE_TEST_POSTGRES" ]; then CTE_REQUIRE_POSTGRES=1 $(1); exit $$?; fi; \
dir=$$(mktemp -d "$${TMPDIR:-/tmp}/cte-pg.XXXXXX") || exit 1; \
trap 'scripts/testpg.sh stop "$$dir"' EXIT; \
dsn=$$(scripts/testpg.sh start "$$dir") || exit 1; \
CTE_TEST_POSTGRES="$$dsn" CTE_REQUIRE_POSTGRES=1 $(1)
endef

## race-pg: race against a throwaway PostgreSQL cluster (scripts/testpg.sh)
race-pg:
	$(call with-pg,$(GO) test -race -count=1 $(PKGS))

## lint: gofmt check and go vet
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)

## bench: every benchmark with allocation counts
bench:
	$(GO) test -run '^$$' -bench '$(BENCH)' -benchmem $(PKGS)

## bench-pg: the PostgreSQL store's benchmarks (ingest) against a throwaway cluster
bench-pg:
	$(call with-pg,$(GO) test -run '^$$' -bench . -benchmem ./sharing/store/pgstore/)

## bench-job: the whole-job benchmark (both products' fakes, the default store, real fsync);
## e.g. make bench-job JOBFLAGS='-events 200000 -count 5'
JOBFLAGS ?= -events 200000,1000000 -count 3
bench-job:
	$(GO) build -o bin/benchjob ./internal/benchjob
	./bin/benchjob $(JOBFLAGS)

## bench-job-pg: the whole-job benchmark with the PostgreSQL store, in a throwaway cluster
bench-job-pg:
	$(GO) build -o bin/benchjob ./internal/benchjob
	$(call with-pg,./bin/benchjob -store postgres $(JOBFLAGS))

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
