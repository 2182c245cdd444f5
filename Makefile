# Nomad Build Service. `make demo` and `make test` work on a fresh Debian machine with Go and Node.
BUN        := node_modules/.bin/bun
NBS        := $(BUN) src/cli/main.ts
CACHE_DIR  ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/nbs
NOMADLITE  := $(CACHE_DIR)/nomadlite
export NBS_NOMADLITE_BIN ?= $(NOMADLITE)

.PHONY: help deps nomadlite build builder-image demo test test-go test-bun test-docker typecheck dev-up dev-down bench clean

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

dev-up: deps nomadlite ## start the dev stack (Nomad or nomadlite, registry, Git server, service) in NBS_DEV_PROFILE's profile
	$(NBS) dev up --switch

dev-down: deps ## stop the dev stack
	$(NBS) dev down

demo: dev-up ## build examples/hello-world through build → test → publish
	eval "$$($(NBS) dev env)" && $(NBS) submit -f examples/hello-world/nbs.yaml --wait

typecheck: deps
	$(BUN) x tsc --noEmit -p .

test-go: ## nomadlite's own tests
	cd tools/nomadlite && go vet ./... && go test ./...

# The end-to-end files whose outcome depends on where the tasks run, the host's Buildah
# (raw_exec) or the builder image under Nomad's docker driver (docker): the builds themselves,
# failures, kills, secrets and private Git, SSH clones, log follows, records, the layer cache,
# path safety, builds FROM the dev registry's base images (pulled from inside the task), the
# agent loop, and what Docker is left with (docker only). Run in raw_exec
# only: unit, infra, http, dev and the surface tests (the server, CLI, MCP and binary over the
# same service, whatever runs its tasks); profiles.test.ts (it renders and validates both
# profiles' jobs itself, and its node without Docker is the raw_exec stack's); gc.test.ts
# (Nomad's GC of allocations and jobs; the records it falls back on are records.test.ts's);
# queue.test.ts (the queue is the scheduler's, decided from the job's resources before any
# driver runs; the docker pass already runs 5 to 7 builds at once in three files), whose 40
# builds would take minutes more; cluster.test.ts (its own two-node nomadlite, whose lost
# nodes and fences are the scheduler's and the Task API's, runs raw_exec tasks).
DOCKER_E2E := pipeline follow-and-waits secrets ssh-host-keys path-safety records cache base-images source-cli run-in-image docker-leftovers
DOCKER_TESTS := $(DOCKER_E2E:%=./test/e2e/%.test.ts) ./test/mcp/agent-loop.test.ts

# A running stack keeps its profile: each pass asks for its own and stops one of the other
# (`dev up --switch`). Up front, so that installing Debian packages, or building the builder
# and base images, on a fresh machine is not charged to one test's time limit.
test-bun: export NBS_DEV_PROFILE = raw_exec
test-bun: deps nomadlite ## unit, integration and end-to-end tests on the dev stack, raw_exec profile
	$(NBS) dev up --switch
	$(BUN) test --timeout 180000

test-docker: export NBS_DEV_PROFILE = docker
test-docker: deps nomadlite ## the profile-dependent end-to-end tests again, docker profile (builder image, dockerd)
	$(NBS) dev up --switch
	$(BUN) test --timeout 180000 $(DOCKER_TESTS)

test: typecheck test-go test-bun test-docker ## the whole suite, both profiles

bench: dev-up nomadlite ## benchmarks: the service beside bare Buildah; what a phase as its own task costs; the layer cache (cold, same commit, one file changed); 40 submits at once; a 50 MB upload beside a clone, upload throughput and the server's RSS; the builder image and vfs against overlay (root); nomadlite's memory under 20 jobs
	$(BUN) bench/e2e.ts
	$(BUN) bench/task-shapes.ts
	$(BUN) bench/cache.ts
	$(BUN) bench/load.ts
	$(BUN) bench/source.ts
	$(BUN) bench/builder.ts
	bench/nomadlite-memory.sh

clean:
	rm -rf dist infra/cdktf.out
