// The embedded dev stack: Nomad agent, registry and Git server on 127.0.0.1, started and stopped idempotently.
import { mkdirSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { nomadDaemon } from './nomad-agent'
import { ensurePackages } from './packages'
import { devPaths, devPorts, type DevPaths, type DevPorts } from './paths'
import { type Daemon, httpOk, runningPid, startDaemon, stopDaemon, tcpOpen, waitFor } from './process'
import { publishExamples } from './repos'

export interface DevStack {
  paths: DevPaths
  ports: DevPorts
}

export const devStack = (env = process.env): DevStack => ({ paths: devPaths(env), ports: devPorts(env) })

/** The service configuration that matches the dev stack (raw_exec, local registry, git:// allowed). */
export function devServiceEnv(s: DevStack): Record<string, string> {
  return {
    NBS_NOMAD_ADDR: `http://127.0.0.1:${s.ports.nomad}`,
    NBS_PROFILE: 'raw_exec',
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

const components: Component[] = [
  {
    name: 'nomad',
    daemon: (s, log) => nomadDaemon(s.paths, s.ports, log),
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

export async function devUp(s: DevStack, log: (m: string) => void, extra: Component[] = []): Promise<void> {
  await ensurePackages(log)
  for (const dir of [s.paths.state, s.paths.cache, s.paths.git, s.paths.logs]) mkdirSync(dir, { recursive: true })
  const names = await publishExamples(s.paths.git, join(s.paths.project, 'examples'))
  log(`git repos: ${names.map((n) => `${devUrls(s).git}/${n}`).join(' ')}`)
  for (const c of [...components, ...extra]) {
    const pid = runningPid(s.paths.state, c.name)
    if (pid && (await c.ready(s)().catch(() => false))) {
      log(`${c.name}: already running (pid ${pid})`)
      continue
    }
    if (pid) await stopDaemon(s.paths.state, c.name)
    const d = await c.daemon(s, log)
    const started = startDaemon(s.paths.state, s.paths.logs, d)
    await waitFor(c.name, c.ready(s), 60_000, join(s.paths.logs, `${c.name}.log`))
    log(`${c.name}: started (pid ${started}, ${d.command})`)
  }
}

export async function devDown(s: DevStack, log: (m: string) => void, extra: Component[] = []): Promise<void> {
  for (const c of [...extra, ...components].reverse()) {
    if (await stopDaemon(s.paths.state, c.name)) log(`${c.name}: stopped`)
  }
}

export async function devStatus(s: DevStack, extra: Component[] = []): Promise<{ name: string; pid?: number; ready: boolean }[]> {
  return Promise.all(
    [...components, ...extra].map(async (c) => ({
      name: c.name,
      pid: runningPid(s.paths.state, c.name),
      ready: await c.ready(s)().catch(() => false),
    })),
  )
}

export type { Component }
