# Staybook: the commands people type. `make help` lists them.
SHELL := /bin/bash
GO    ?= go
BIN   := $(CURDIR)/bin
SERVICES := $(notdir $(wildcard services/*))
# Every module of the workspace (go.work); tools/ is outside it on purpose.
MODULES  := shared $(addprefix services/,$(SERVICES)) system loadtest

.PHONY: help env build tools browser test test-short lint fmt dev reset reset-compose clean fuzz mutation loadtest loadtest-compose demo-spike demo-async demo-dlq chaos

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

env: ## write .env for docker compose from .env.example, each change-me value a fresh secret (keeps an existing .env)
	@if [ -e .env ]; then echo "keeping the existing .env (remove it for fresh secrets)"; exit 0; fi; \
	command -v openssl >/dev/null || { echo "make env needs openssl"; exit 1; }; \
	umask 077; while IFS= read -r line || [ -n "$$line" ]; do \
		case "$$line" in \
			[A-Z]*=change-me*) echo "$${line%%=*}=$$(openssl rand -hex 32)" ;; \
			*) printf '%s\n' "$$line" ;; \
		esac; \
	done < .env.example > .env; \
	echo "wrote .env: every change-me value is a fresh random secret"

build: ## build every service into bin/
	$(GO) build -o $(BIN)/ $(addprefix ./services/,$(SERVICES)) ./services/deadletters/cmd/dlq

tools: ## build Jaeger and Mailpit from the tools module into bin/ (minutes the first time)
	cd tools && GOWORK=off $(GO) build -o $(BIN)/ tool

browser: ## check that Chromium is installed (the browser tests need it; make test does not skip them)
	@[ -n "$$CHROMIUM" ] || command -v chromium chromium-browser google-chrome >/dev/null || { \
		echo "make test runs the browser tests, which need Chromium: apt-get install chromium (or set CHROMIUM to a Chrome binary)"; exit 1; }

test: tools browser ## run every test of every module, with the race detector (needs RabbitMQ, PostgreSQL and Chromium)
	CI=true $(GO) test -race -count=1 -timeout 20m work
	@# The pipeline and direct-mode end-to-end tests again, on services built
	@# with the race detector: a data race in a real binary fails them.
	STAYBOOK_RACE=1 $(GO) test -race -count=1 -timeout 10m -run 'TestOneBooking_TasksRunInWorkers|TestDirectMode_' ./system/e2e
	@# Tests that drop a broker connection skip themselves under -race (a race
	@# inside watermill-amqp v3.0.2's reconnect); run them again without it.
	$(GO) test -count=1 -timeout 10m -run 'ConnectionLost' work
	@# Container, compose and Kubernetes files, validated outside the workspace
	@# (their parsers' dependencies would move the services' versions).
	cd deploytest && GOWORK=off $(GO) test -count=1 -timeout 10m ./...

test-short: ## the tests without the race detector, quicker while working
	$(GO) test -count=1 -timeout 20m work

# The linters come from the Go module proxy at pinned versions (no install
# step; the first run downloads and builds them).
STATICCHECK ?= $(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2
GOIMPORTS   ?= $(GO) run golang.org/x/tools/cmd/goimports@v0.52.0
lint: ## gofmt, goimports, go vet, staticcheck and the layer rule on every module; go.mod files tidy
	@out=$$(gofmt -l $(MODULES)); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	@out=$$($(GOIMPORTS) -local github.com/staybook/staybook -l $(MODULES) deploytest); \
		if [ -n "$$out" ]; then echo "goimports -local github.com/staybook/staybook -w needed:"; echo "$$out"; exit 1; fi
	$(GO) vet work
	cd deploytest && GOWORK=off $(GO) vet ./... && test -z "$$(gofmt -l .)"
	$(STATICCHECK) work
	cd deploytest && GOWORK=off $(STATICCHECK) ./...
	@# The dependency rule of the services' layers (system/layers).
	$(GO) test -count=1 ./system/layers
	@# Each module must also build on its own (container builds and go mod
	@# tidy see no go.work): the versions its go.mod names must be enough.
	@for m in $(MODULES); do (cd $$m && GOWORK=off $(GO) vet ./...) || { echo "$$m does not build without go.work"; exit 1; }; done
	@for m in $(MODULES) tools deploytest; do (cd $$m && GOWORK=off GOFLAGS=-mod=mod $(GO) mod tidy -diff >/dev/null) || { echo "go.mod not tidy in $$m"; exit 1; }; done

FUZZTIME ?= 30s
fuzz: ## run every fuzz target for FUZZTIME each (make test runs their seed corpora only)
	@grep -rl --include='*_test.go' -E '^func Fuzz' $(MODULES) | while read -r file; do \
		for target in $$(grep -oE '^func Fuzz[A-Za-z0-9_]+' "$$file" | cut -d' ' -f2); do \
			echo "fuzz $$target in $$(dirname $$file)"; \
			$(GO) test -run '^$$' -fuzz "^$$target$$" -fuzztime $(FUZZTIME) ./$$(dirname $$file) || exit 1; \
		done; \
	done

# Mutation testing with gremlins (github.com/go-gremlins/gremlins) over the
# code whose mistakes cost customers money; docs/testing.md has the figures.
# Each module runs outside go.work (gremlins copies it; go.work.sum stays as
# it is), without the test cache (gremlins times each mutant's run against
# the first, covering run: a cached one made every mutant "time out").
# Slow (minutes, most in shared/messaging, whose tests use RabbitMQ): not
# part of make test.
# The efficacy threshold (85 %) is in .gremlins.yaml.
GREMLINS          ?= $(GO) run github.com/go-gremlins/gremlins/cmd/gremlins@v0.6.0
MUTATION_WORKERS  ?= 0
mutation: ## mutation testing of booking, contracts, retry policy and router, voucher and email domains (minutes)
	@failed=""; run() { dir=$$1; shift; echo "== mutation: $$dir $$*"; \
		(cd $$dir && GOWORK=off GOFLAGS=-count=1 $(GREMLINS) unleash --config $(CURDIR)/.gremlins.yaml \
			--workers $(MUTATION_WORKERS) --timeout-coefficient 5 "$$@") || failed="$$failed $$dir:$${@: -1}"; }; \
	run services/booking ./internal/domain; \
	run services/booking -E '^apptest/' ./internal/app; \
	run shared ./contracts; \
	run shared -E '^(connection|errors|marshaler|metrics|publisher|subscriber|topology)\.go$$' ./messaging; \
	run services/voucher ./internal/domain; \
	run services/email ./internal/domain; \
	if [ -n "$$failed" ]; then echo "mutation: under the efficacy threshold of .gremlins.yaml (or failed):$$failed"; exit 1; fi

fmt: ## format the code
	gofmt -w $(MODULES)

dev: ## run the whole system as local processes (Ctrl-C stops it)
	$(GO) run ./system/cmd/dev

reset: ## restore the seed inventory: no bookings, every room free
	$(GO) run ./services/booking reset

loadtest: ## load the running system (make dev); ARGS="-scenario mixed -rate 50 -duration 30s"
	cd loadtest && $(GO) run . $(ARGS)

# Under docker compose: no Go needed on the host. The load test runs in a
# container of the compose network (profile loadtest, built from the one
# Dockerfile), with the broker's and the database's credentials from .env,
# and writes its report into loadtest/out as you.
reset-compose: ## restore the seed inventory of the compose stack (docker compose up)
	docker compose run --rm booking reset

loadtest-compose: ## load the compose stack from inside its network; ARGS="-scenario mixed -rate 50 -duration 30s"
	mkdir -p loadtest/out
	LOADTEST_UID=$$(id -u) LOADTEST_GID=$$(id -g) docker compose --profile loadtest run --rm --build loadtest $(ARGS)

demo-spike: ## the same booking spike with and without the queue, on stacks of their own
	cd loadtest && $(GO) run . demo-spike

demo-async: ## the four tasks in the request versus in workers, measured
	cd loadtest && $(GO) run . demo-async

demo-dlq: ## a failing email: retries with growing delays, dead letter, fix, replay, one email
	cd loadtest && $(GO) run . demo-dlq

chaos: ## the full chaos suite on a private RabbitMQ node and PostgreSQL cluster (as root; minutes)
	$(GO) run ./system/chaos/cmd/chaos $(ARGS)

clean: ## remove built binaries
	rm -rf $(BIN)
