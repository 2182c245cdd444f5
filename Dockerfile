# syntax=docker/dockerfile:1
# Nomad Build Service server image: one Bun standalone executable on a minimal base.
#   docker build -t nbs:latest .      (or: buildah bud -t nbs:latest .)

ARG BUN_VERSION=1.4.5

# --- Stage 1: compile. The toolchain and node_modules stay in this stage.
FROM oven/bun:${BUN_VERSION} AS build
WORKDIR /src
# Manifests first so the dependency layer is reused when only sources change.
COPY package.json package-lock.json* bun.lock* ./
RUN bun install --production --ignore-scripts
COPY tsconfig.json ./
COPY src ./src
# Task scripts and the builder image's definition are embedded into the binary
# (import ... with { type: "text" }): the server names the image its scripts were written for.
COPY jobspecs ./jobspecs
COPY images ./images
# bun build --compile embeds the runtime: the result needs only glibc.
RUN bun build --compile --minify --sourcemap --outfile dist/nbs src/cli/main.ts \
 && ./dist/nbs --help >/dev/null

# --- Stage 2: run. distroless/cc has glibc and CA certificates, no shell, no package manager.
FROM gcr.io/distroless/cc-debian12:nonroot AS runtime
LABEL org.opencontainers.image.title="nomad-build-service" \
      org.opencontainers.image.description="Build, test and publish container images on HashiCorp Nomad"
COPY --from=build /src/dist/nbs /usr/local/bin/nbs
# 65532 is distroless' "nonroot" user; said explicitly so the image never runs as root.
USER 65532:65532
# In a container the server must listen on all interfaces; the profile defaults to docker.
ENV NBS_LISTEN=0.0.0.0:8080 \
    NBS_PROFILE=docker
EXPOSE 8080
# No curl/wget in the base: the binary checks itself (GET http://127.0.0.1:8080/healthz, exit 0/1).
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["/usr/local/bin/nbs", "health"]
ENTRYPOINT ["/usr/local/bin/nbs"]
CMD ["serve"]
