// The dev Nomad agent: the real `nomad` where one is installed, nomadlite otherwise.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Daemon } from './process'
import { type DevPaths, type DevPorts, toolCacheDir } from './paths'

export function realNomad(env = process.env): string | undefined {
  if (env.NBS_NOMAD_BIN) return env.NBS_NOMAD_BIN
  return Bun.which('nomad') ?? undefined
}

/** The nomadlite binary: NBS_NOMADLITE_BIN, or built from tools/nomadlite into the tool cache. */
export async function nomadliteBinary(paths: DevPaths, log: (s: string) => void, env = process.env): Promise<string> {
  if (env.NBS_NOMADLITE_BIN) return env.NBS_NOMADLITE_BIN
  const bin = join(toolCacheDir(env), 'nomadlite')
  const src = join(paths.project, 'tools/nomadlite')
  if (existsSync(src)) {
    log('building nomadlite (go build)')
    const p = Bun.spawn(['go', 'build', '-o', bin, '.'], { cwd: src, stdout: 'inherit', stderr: 'inherit' })
    if ((await p.exited) !== 0) throw new Error('go build of tools/nomadlite failed')
  }
  if (!existsSync(bin)) throw new Error(`no Nomad agent: install nomad, set NBS_NOMAD_BIN, or build nomadlite into ${bin}`)
  return bin
}

/**
 * The docker plugin's block for the docker profile: the dev stack's engine, and volumes enabled
 * as the conformance recordings had it. No allow_caps: the tasks add no capability (newuidmap's
 * file capabilities draw on Docker's default bounding set, which has setuid and setgid).
 */
const dockerPlugin = (endpoint: string) => `plugin "docker" {
  config {
    endpoint = "${endpoint}"
    volumes { enabled = true }
  }
}
`

/** The dev config the conformance recordings were made with: raw_exec, the cache volume, nothing reaching out. */
function realNomadConfig(paths: DevPaths, ports: DevPorts, dockerEndpoint?: string, gcMaxAllocs?: number): string {
  // rpc and serf next to http, so that a second agent (a test's) can run beside the stack's.
  return `disable_update_check = true
ports {
  http = ${ports.nomad}
  rpc  = ${ports.nomad + 1}
  serf = ${ports.nomad + 2}
}
client {
  enabled = true${gcMaxAllocs === undefined ? '' : `
  gc_max_allocs = ${gcMaxAllocs}`}
  options = { "fingerprint.denylist" = "env_aws,env_gce,env_azure,env_digitalocean,consul,vault" }
  host_volume "buildah-cache" {
    path      = "${paths.cache}"
    read_only = false
  }
}
plugin "raw_exec" {
  config { enabled = true }
}
${dockerEndpoint ? dockerPlugin(dockerEndpoint) : ''}`
}

/** The dev agent; with `dockerEndpoint` (unix://… or tcp://…) its docker driver uses that engine. */
/**
 * nomadlite's data dir, short and outside the state dir: each task's Task API socket lies under
 * it (alloc/<id>/<task>/secrets/api.sock, 70 bytes more), a Unix socket's path has at most 107
 * bytes, and under a home directory it would not fit. Publish needs that socket (its fence).
 */
export const nomadliteDataDir = (paths: DevPaths) => join('/tmp', `nbs-${new Bun.CryptoHasher('sha256').update(paths.state).digest('hex').slice(0, 10)}`)

export async function nomadDaemon(
  paths: DevPaths,
  ports: DevPorts,
  log: (s: string) => void,
  dockerEndpoint?: string,
  env = process.env,
  /** Nomad's client gc_max_allocs: how many finished allocations keep their directories. */
  gcMaxAllocs?: number,
): Promise<Daemon & { kind: string }> {
  mkdirSync(paths.cache, { recursive: true })
  const real = realNomad(env)
  if (real) {
    const config = join(paths.state, 'nomad-dev.hcl')
    writeFileSync(config, realNomadConfig(paths, ports, dockerEndpoint, gcMaxAllocs))
    return { kind: 'nomad', name: 'nomad', command: real, args: ['agent', '-dev', '-bind', '127.0.0.1', '-config', config] }
  }
  const bin = await nomadliteBinary(paths, log, env)
  return {
    kind: 'nomadlite',
    name: 'nomad',
    command: bin,
    args: [
      ...['agent', '-bind', '127.0.0.1', '-port', String(ports.nomad), '-data-dir', nomadliteDataDir(paths), '-host-volume', `buildah-cache=${paths.cache}`],
      ...(dockerEndpoint ? ['-docker-endpoint', dockerEndpoint] : []),
      ...(gcMaxAllocs === undefined ? [] : ['-gc-max-allocs', String(gcMaxAllocs)]),
    ],
  }
}
