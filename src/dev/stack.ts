// The embedded dev stack: Nomad agent, registry and Git server on 127.0.0.1, started and stopped idempotently.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { cacheWritableByBuilder, devBuilderRef, dockerdDaemon, dockerPing, dockerSocket, publishDevBuilder, releaseDockerMounts } from './docker'
import { nomadDaemon } from './nomad-agent'
import { devNeeds, dockerNeeds, ensurePackages } from './packages'
import { devPaths, devPorts, devProfile, type DevPaths, type DevPorts, type DevProfile } from './paths'
import { type Daemon, httpOk, runningPid, startDaemon, stopDaemon, tcpOpen, waitFor } from './process'
import { publishExamples } from './repos'

export interface DevStack {
  paths: DevPaths
  ports: DevPorts
  profile: DevProfile
  /** The docker profile's engine: DOCKER_HOST's, which the user starts and stops, or the stack's own. */
  docker?: { host: string; own: boolean }
}

export function devStack(env = process.env): DevStack {
  const paths = devPaths(env)
  const profile = devProfile(env)
  // A DOCKER_HOST naming the stack's own socket (from `eval "$(nbs dev env)"`) is still the stack's to run.
  const own = `unix://${dockerSocket(paths)}`
  const docker = profile === 'docker' ? { host: env.DOCKER_HOST || own, own: !env.DOCKER_HOST || env.DOCKER_HOST === own } : undefined
  return { paths, ports: devPorts(env), profile, docker }
}

/** The service configuration that matches the dev stack (its profile, local registry, git:// allowed). */
export function devServiceEnv(s: DevStack): Record<string, string> {
  // Docker tasks reach the dev Git server and registry on the node's 127.0.0.1 only with the host's network.
  const docker: Record<string, string> = s.docker ? { NBS_BUILDAH_IMAGE: devBuilderRef(s.ports), NBS_DOCKER_NETWORK: 'host', DOCKER_HOST: s.docker.host } : {}
  return {
    NBS_NOMAD_ADDR: `http://127.0.0.1:${s.ports.nomad}`,
    NBS_PROFILE: s.profile,
    ...docker,
    NBS_CACHE_PATH: s.paths.cache,
    NBS_INSECURE_REGISTRIES: `127.0.0.1:${s.ports.registry},localhost:${s.ports.registry}`,
    NBS_ALLOW_INSECURE_GIT: '1',
    NBS_SECRET_PREFIXES: 'nomad:nbs/',
    // The dev server is for one person on 127.0.0.1: no tokens, said loudly in its log.
    NBS_AUTH: 'off',
    NBS_LISTEN: `127.0.0.1:${s.ports.server}`,
  }
}

export const devUrls = (s: DevStack) => ({
  nomad: `http://127.0.0.1:${s.ports.nomad}`,
  registry: `127.0.0.1:${s.ports.registry}`,
  git: `git://127.0.0.1:${s.ports.git}`,
  server: `http://127.0.0.1:${s.ports.server}`,
})

interface Component {
  name: string
  daemon: (s: DevStack, log: (m: string) => void) => Promise<Daemon>
  ready: (s: DevStack) => () => Promise<boolean>
}

const nomadReady = (s: DevStack) => async () => {
  const nodes = (await (await fetch(`${devUrls(s).nomad}/v1/nodes`, { signal: AbortSignal.timeout(2000) })).json()) as { Status: string }[]
  return nodes.some((n) => n.Status === 'ready')
}

const docker: Component = {
  name: 'docker',
  daemon: async (s) => dockerdDaemon(s.paths),
  ready: (s) => dockerPing(`unix://${dockerSocket(s.paths)}`),
}

const components: Component[] = [
  {
    name: 'nomad',
    daemon: (s, log) => nomadDaemon(s.paths, s.ports, log, s.docker?.host),
    ready: nomadReady,
  },
  {
    name: 'registry',
    daemon: async (s) => {
      const config = join(s.paths.state, 'registry.yml')
      writeFileSync(
        config,
        `version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: ${join(s.paths.state, 'registry')}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:${s.ports.registry}\n`,
      )
      return { name: 'registry', command: '/usr/bin/docker-registry', args: ['serve', config] }
    },
    ready: (s) => httpOk(`http://127.0.0.1:${s.ports.registry}/v2/`),
  },
  {
    name: 'git',
    daemon: async (s) => ({
      name: 'git',
      command: 'git',
      args: ['daemon', '--reuseaddr', `--base-path=${s.paths.git}`, '--export-all', '--enable=receive-pack', '--listen=127.0.0.1', `--port=${s.ports.git}`, s.paths.git],
    }),
    ready: (s) => tcpOpen(s.ports.git),
  },
]

/**
 * The server itself, started from the same program that runs `nbs dev up`: `bun src/cli/main.ts serve`
 * from sources, or the compiled binary's own `serve` (a compiled program's Bun.main lives under /$bunfs/).
 */
export function serverComponent(): Component {
  const compiled = Bun.main.startsWith('/$bunfs/')
  return {
    name: 'server',
    daemon: async (s) => ({
      name: 'server',
      command: process.execPath,
      args: compiled ? ['serve'] : [resolve(import.meta.dir, '../cli/main.ts'), 'serve'],
      env: devServiceEnv(s),
      cwd: s.paths.project,
    }),
    ready: (s) => httpOk(`${devUrls(s).server}/readyz`),
  }
}

const componentsOf = (s: DevStack): Component[] => (s.docker?.own ? [docker, ...components] : components)

/** The profile the running stack was started with: one stack runs one profile at a time. */
function checkProfile(s: DevStack, extra: Component[]): void {
  const file = join(s.paths.state, 'profile')
  const running = existsSync(file) ? readFileSync(file, 'utf8').trim() : undefined
  const up = [docker, ...components, ...extra].some((c) => runningPid(s.paths.state, c.name))
  if (up && running && running !== s.profile)
    throw new Error(`the dev stack in ${s.paths.state} runs the ${running} profile: run \`nbs dev down\` first, or set NBS_DEV_PROFILE=${running}`)
  writeFileSync(file, s.profile)
}

async function startComponent(s: DevStack, c: Component, log: (m: string) => void): Promise<void> {
  const pid = runningPid(s.paths.state, c.name)
  if (pid && (await c.ready(s)().catch(() => false))) return log(`${c.name}: already running (pid ${pid})`)
  if (pid) await stopDaemon(s.paths.state, c.name)
  const d = await c.daemon(s, log)
  const started = startDaemon(s.paths.state, s.paths.logs, d)
  await waitFor(c.name, c.ready(s), 60_000, join(s.paths.logs, `${c.name}.log`))
  log(`${c.name}: started (pid ${started}, ${d.command})`)
}

export async function devUp(s: DevStack, log: (m: string) => void, extra: Component[] = []): Promise<void> {
  for (const dir of [s.paths.state, s.paths.cache, s.paths.git, s.paths.logs]) mkdirSync(dir, { recursive: true })
  checkProfile(s, extra)
  await ensurePackages(log, s.docker?.own ? [...devNeeds, ...dockerNeeds] : devNeeds)
  if (s.docker) {
    cacheWritableByBuilder(s.paths)
    if (!s.docker.own && !(await dockerPing(s.docker.host)().catch(() => false)))
      throw new Error(`DOCKER_HOST=${s.docker.host} does not answer: start that engine, or unset DOCKER_HOST so that nbs dev up starts its own`)
  }
  const names = await publishExamples(s.paths.git, join(s.paths.project, 'examples'))
  log(`git repos: ${names.map((n) => `${devUrls(s).git}/${n}`).join(' ')}`)
  for (const c of componentsOf(s)) await startComponent(s, c, log)
  // The server's tasks pull the builder image from the dev registry, so it is there before the server.
  if (s.docker) await publishDevBuilder(s.ports, log)
  for (const c of extra) await startComponent(s, c, log)
}

/** Stops every component that has a pid file, whichever profile started it. */
export async function devDown(s: DevStack, log: (m: string) => void, extra: Component[] = []): Promise<void> {
  for (const c of [docker, ...components, ...extra].reverse()) {
    if (await stopDaemon(s.paths.state, c.name)) log(`${c.name}: stopped`)
  }
  releaseDockerMounts(s.paths)
}

export async function devStatus(s: DevStack, extra: Component[] = []): Promise<{ name: string; pid?: number; ready: boolean }[]> {
  return Promise.all(
    [...componentsOf(s), ...extra].map(async (c) => ({
      name: c.name,
      pid: runningPid(s.paths.state, c.name),
      ready: await c.ready(s)().catch(() => false),
    })),
  )
}

export type { Component }
