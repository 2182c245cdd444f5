// The embedded dev stack: Nomad agent, registry and Git server on 127.0.0.1, started and stopped idempotently.
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readSync, statSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { publishBaseImages } from './base-images'
import { cacheWritableByBuilder, devBuilderRef, dockerdDaemon, dockerPing, dockerSocket, publishDevBuilder, releaseDockerMounts } from './docker'
import { nomadDaemon, realNomad } from './nomad-agent'
import { devNeeds, dockerNeeds, ensurePackages } from './packages'
import { devAddresses, devPaths, devPorts, devPortVariables, devProfile, type DevPaths, type DevPorts, type DevProfile } from './paths'
import {
  bindable,
  type Daemon,
  describePid,
  httpOk,
  isAlive,
  listeners,
  ofDaemon,
  type PidRecord,
  pidRecord,
  runningPid,
  startDaemon,
  stopDaemon,
  tcpOpen,
  waitFor,
} from './process'
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
  registry: devAddresses(s.ports).NBS_DEV_REGISTRY,
  git: devAddresses(s.ports).NBS_DEV_GIT,
  server: `http://127.0.0.1:${s.ports.server}`,
})

/** What `nbs dev env` exports: the server's settings, where the CLI finds the server, and the addresses a request file names. */
export const devShellEnv = (s: DevStack): Record<string, string> => ({
  ...devServiceEnv(s),
  NBS_SERVER: devUrls(s).server,
  ...devAddresses(s.ports),
})

/** A TCP port a component listens on (on 127.0.0.1), with the setting that moves it. */
interface DevPort {
  port: number
  setting: string
}

interface Component {
  name: string
  /** Its TCP ports; it is ready only while its own process listens on the first. */
  ports: (s: DevStack) => DevPort[]
  daemon: (s: DevStack, log: (m: string) => void) => Promise<Daemon>
  /** Whether the service on its port answers as it should. */
  answers: (s: DevStack) => () => Promise<boolean>
}

const devPort = (s: DevStack, key: keyof DevPorts): DevPort => ({ port: s.ports[key], setting: devPortVariables[key] })

const nomadReady = (s: DevStack) => async () => {
  const nodes = (await (await fetch(`${devUrls(s).nomad}/v1/nodes`, { signal: AbortSignal.timeout(2000) })).json()) as { Status: string }[]
  return nodes.some((n) => n.Status === 'ready')
}

// Its socket is a file in the state dir: no port to share with anyone.
const docker: Component = {
  name: 'docker',
  ports: () => [],
  daemon: async (s) => dockerdDaemon(s.paths),
  answers: (s) => dockerPing(`unix://${dockerSocket(s.paths)}`),
}

const components: Component[] = [
  {
    name: 'nomad',
    // A real Nomad's rpc and serf ports sit above its http port (nomad-agent.ts).
    ports: (s) => {
      const http = devPort(s, 'nomad')
      if (!realNomad()) return [http]
      return [http, { port: http.port + 1, setting: `${http.setting} + 1, Nomad's rpc port` }, { port: http.port + 2, setting: `${http.setting} + 2, Nomad's serf port` }]
    },
    daemon: (s, log) => nomadDaemon(s.paths, s.ports, log, s.docker?.host),
    answers: nomadReady,
  },
  {
    name: 'registry',
    ports: (s) => [devPort(s, 'registry')],
    daemon: async (s) => {
      const config = join(s.paths.state, 'registry.yml')
      writeFileSync(
        config,
        `version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: ${join(s.paths.state, 'registry')}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:${s.ports.registry}\n`,
      )
      return { name: 'registry', command: '/usr/bin/docker-registry', args: ['serve', config] }
    },
    answers: (s) => httpOk(`http://127.0.0.1:${s.ports.registry}/v2/`),
  },
  {
    name: 'git',
    ports: (s) => [devPort(s, 'git')],
    daemon: async (s) => ({
      name: 'git',
      command: 'git',
      args: ['daemon', '--reuseaddr', `--base-path=${s.paths.git}`, '--export-all', '--enable=receive-pack', '--listen=127.0.0.1', `--port=${s.ports.git}`, s.paths.git],
    }),
    answers: (s) => tcpOpen(s.ports.git),
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
    ports: (s) => [devPort(s, 'server')],
    daemon: async (s) => ({
      name: 'server',
      command: process.execPath,
      args: compiled ? ['serve'] : [resolve(import.meta.dir, '../cli/main.ts'), 'serve'],
      env: devServiceEnv(s),
      cwd: s.paths.project,
    }),
    answers: (s) => httpOk(`${devUrls(s).server}/readyz`),
  }
}

const componentsOf = (s: DevStack): Component[] => (s.docker?.own ? [docker, ...components] : components)

const profileFile = (s: DevStack) => join(s.paths.state, 'profile')

/** The profile the stack in the state dir was last brought up in, whatever NBS_DEV_PROFILE says now. */
export function stackProfile(s: DevStack): string | undefined {
  const file = profileFile(s)
  return existsSync(file) ? readFileSync(file, 'utf8').trim() : undefined
}

/**
 * One stack runs one profile at a time: a stack running the other one is refused, since others
 * may be using it, or with `switchProfile` (the caller's explicit choice) stopped first.
 */
export async function claimProfile(s: DevStack, log: (m: string) => void, extra: Component[], switchProfile = false): Promise<void> {
  const running = stackProfile(s)
  const up = [docker, ...components, ...extra].some((c) => runningPid(s.paths.state, c.name))
  if (up && running && running !== s.profile) {
    if (!switchProfile)
      throw new Error(
        `the dev stack in ${s.paths.state} runs the ${running} profile: run \`nbs dev down\` first (or \`nbs dev up --switch\`), or set NBS_DEV_PROFILE=${running}`,
      )
    log(`the stack runs the ${running} profile: stopping it for ${s.profile}`)
    const stopped = [docker, ...components, ...extra].filter((c) => runningPid(s.paths.state, c.name))
    await devDown(s, log, extra)
    // A daemon that has just exited can still show its listening socket for a moment, with no
    // process behind it: the new stack's port check would take it for a stranger's. Only the
    // stopped daemons' ports are waited for, and only that ghost state: a port some live process
    // holds is checkPorts' to explain, so the wait ends without an error either way.
    const ports = stopped.flatMap((c) => c.ports(s))
    await waitFor('the stopped stack\'s ports to close', async () => ports.every((p) => !listeners(p.port).unseen), 15_000).catch(() => {})
  }
  writeFileSync(profileFile(s), s.profile)
}

const where = (p: DevPort) => `127.0.0.1:${p.port} (${p.setting})`

/**
 * Why the port is not the component's to use, or undefined when it is free or its own process
 * `own` holds it. `probe` also tries a bind, for a holder /proc does not show: only before
 * starting anything, since a bind probe could collide with a daemon's own bind.
 */
async function portTaken(p: DevPort, own: PidRecord | undefined, probe: boolean): Promise<string | undefined> {
  const l = listeners(p.port)
  const others = l.pids.filter((pid) => !own || !ofDaemon(own, pid))
  if (others.length) return `${where(p)} is taken by ${others.map(describePid).join(', ')}`
  if (l.unseen) return `${where(p)} is taken by a process of another user`
  if (!probe || l.pids.length || (own && isAlive(own))) return undefined
  const refused = await bindable(p.port)
  return refused && `${where(p)} cannot be bound: ${refused}`
}

/** Fails at once, naming every port and the setting that moves it, when the stack could not have its ports. */
async function checkPorts(s: DevStack, all: Component[]): Promise<void> {
  const problems: string[] = []
  for (const c of all) {
    const own = pidRecord(s.paths.state, c.name)
    for (const p of c.ports(s)) {
      const why = await portTaken(p, own, true)
      if (why) problems.push(why)
    }
  }
  if (problems.length)
    throw new Error(
      [`the dev stack (state ${s.paths.state}) cannot listen on its ports:`, ...problems.map((p) => `  ${p}`), 'stop what holds them, or move the stack: set each variable named above to a free port'].join('\n'),
    )
}

/** Ready: the stack's own process (or its group) listens on the component's port, and the service there answers. */
async function ready(s: DevStack, c: Component, own: PidRecord): Promise<boolean> {
  if (!isAlive(own)) return false
  const [p] = c.ports(s)
  if (p && !listeners(p.port).pids.some((pid) => ofDaemon(own, pid))) return false
  return c.answers(s)().catch(() => false)
}

/** The lines a daemon has written to its log since `from`, the last `n` of them. */
function logTail(file: string, from: number, n = 10): string {
  if (!existsSync(file)) return ''
  const size = statSync(file).size
  const buf = Buffer.alloc(Math.max(0, Math.min(size - from, 16_384)))
  const fd = openSync(file, 'r')
  readSync(fd, buf, 0, buf.length, size - buf.length)
  closeSync(fd)
  return buf.toString('utf8').trimEnd().split('\n').slice(-n).map((l) => `  ${l}`).join('\n')
}

async function untilReady(s: DevStack, c: Component, own: PidRecord, logFile: string, logFrom: number, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  const [p] = c.ports(s)
  for (;;) {
    if (await ready(s, c, own)) return
    const taken = p && (await portTaken(p, own, false))
    if (taken) {
      await stopDaemon(s.paths.state, c.name)
      throw new Error(`${c.name} cannot listen: ${taken}; stop it, or set ${p.setting} to a free port`)
    }
    if (!isAlive(own)) {
      const tail = logTail(logFile, logFrom)
      throw new Error(`${c.name} (pid ${own.pid}) exited before it was ready${p ? ` on ${where(p)}` : ''}; the end of ${logFile}:\n${tail}`)
    }
    if (Date.now() > deadline)
      throw new Error(`${c.name} (pid ${own.pid}) did not answer${p ? ` on ${where(p)}` : ''} within ${timeoutMs / 1000} s; see ${logFile}`)
    await Bun.sleep(200)
  }
}

/** Starts `c` unless its own process is ready already; resolves once it is ready, fails as soon as it cannot be. */
export async function startComponent(s: DevStack, c: Component, log: (m: string) => void): Promise<void> {
  const running = pidRecord(s.paths.state, c.name)
  if (running && (await ready(s, c, running))) return log(`${c.name}: already running (pid ${running.pid})`)
  await stopDaemon(s.paths.state, c.name)
  const d = await c.daemon(s, log)
  const logFile = join(s.paths.logs, `${c.name}.log`)
  const logFrom = existsSync(logFile) ? statSync(logFile).size : 0
  const started = startDaemon(s.paths.state, s.paths.logs, d)
  await untilReady(s, c, started, logFile, logFrom)
  log(`${c.name}: started (pid ${started.pid}, ${d.command})`)
}

export async function devUp(s: DevStack, log: (m: string) => void, extra: Component[] = [], switchProfile = false): Promise<void> {
  for (const dir of [s.paths.state, s.paths.cache, s.paths.git, s.paths.logs]) mkdirSync(dir, { recursive: true })
  await claimProfile(s, log, extra, switchProfile)
  await checkPorts(s, [...componentsOf(s), ...extra])
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
  // Last: the first build of the Debian image takes a minute or two, and nothing above needs it.
  await publishBaseImages(devUrls(s).registry, log)
}

/** Stops every component that has a pid file, whichever profile started it. */
export async function devDown(s: DevStack, log: (m: string) => void, extra: Component[] = []): Promise<void> {
  for (const c of [docker, ...components, ...extra].reverse()) {
    const named = pidRecord(s.paths.state, c.name)
    if (await stopDaemon(s.paths.state, c.name)) log(`${c.name}: stopped`)
    else if (named) log(`${c.name}: not running; left pid ${named.pid} alone, it is not the process the stack started (stale ${c.name}.pid removed)`)
  }
  releaseDockerMounts(s.paths)
}

/** Each component: the stack's own pid, whether it is ready, and who else holds its ports. */
export async function devStatus(s: DevStack, extra: Component[] = []): Promise<{ name: string; pid?: number; ready: boolean; problem?: string }[]> {
  return Promise.all(
    [...componentsOf(s), ...extra].map(async (c) => {
      const own = pidRecord(s.paths.state, c.name)
      const taken = (await Promise.all(c.ports(s).map((p) => portTaken(p, own, false)))).filter((t): t is string => !!t)
      return {
        name: c.name,
        pid: runningPid(s.paths.state, c.name),
        ready: !!own && (await ready(s, c, own)),
        ...(taken.length ? { problem: taken.join('; ') } : {}),
      }
    }),
  )
}

export type { Component, DevPort }
