# Nomad Build Service. `make demo` and `make test` work on a fresh Debian machine with Go and Node.
BUN        := node_modules/.bin/bun
NBS        := $(BUN) src/cli/main.ts
CACHE_DIR  ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/nbs
NOMADLITE  := $(CACHE_DIR)/nomadlite
export NBS_NOMADLITE_BIN ?= $(NOMADLITE)

.PHONY: help deps nomadlite build builder-image demo test test-go test-bun typecheck dev-up dev-down bench clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

$(BUN): package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

deps: $(BUN) ## install the npm dependencies (Bun comes from the npm registry)

nomadlite: ## build the dev Nomad agent into the cache
	cd tools/nomadlite && go build -o $(NOMADLITE) .

build: deps ## the standalone executable dist/nbs
	$(BUN) build --compile --outfile dist/nbs src/cli/main.ts

builder-image: deps ## build the builder image (as root) and push it: make builder-image REGISTRY=host[:port] [INSECURE=1]
	$(if $(REGISTRY),,$(error set REGISTRY=host[:port], the registry the Nomad nodes pull from))
	$(NBS) builder build --push $(REGISTRY) $(if $(INSECURE),--insecure)

dev-up: deps nomadlite ## start the dev stack (Nomad or nomadlite, registry, Git server, service)
	$(NBS) dev up

dev-down: deps ## stop the dev stack
	$(NBS) dev down

demo: dev-up ## build examples/hello-world through build → test → publish
	eval "$$($(NBS) dev env)" && $(NBS) submit -f examples/hello-world/nbs.yaml --wait

typecheck: deps
	$(BUN) x tsc --noEmit -p .

test-go: ## nomadlite's own tests
	cd tools/nomadlite && go vet ./... && go test ./...

test-bun: deps nomadlite ## unit, integration and end-to-end tests on the dev stack
	@# Up front, so that installing Debian packages on a fresh machine is not charged to one test's time limit.
	$(NBS) dev up
	$(BUN) test --timeout 180000

test: typecheck test-go test-bun ## the whole suite

bench: dev-up nomadlite ## benchmarks: the service beside bare Buildah; the layer cache (cold, same commit, one file changed); 40 submits at once; the builder image and vfs against overlay (root); nomadlite's memory under 20 jobs
	$(BUN) bench/e2e.ts
	$(BUN) bench/cache.ts
	$(BUN) bench/load.ts
	$(BUN) bench/builder.ts
	bench/nomadlite-memory.sh

clean:
	rm -rf dist infra/cdktf.out
