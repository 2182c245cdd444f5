// Where the dev stack keeps its state (outside the repo) and finds the project's own files.
import { existsSync } from 'node:fs'
import { homedir } from 'node:os'
import { join, resolve } from 'node:path'

export interface DevPorts {
  nomad: number
  registry: number
  git: number
  server: number
}

/** Where the dev stack's builds run: raw_exec (host Buildah as root, no Docker needed) or docker (the production profile). */
export type DevProfile = 'raw_exec' | 'docker'

export function devProfile(env = process.env): DevProfile {
  const v = env.NBS_DEV_PROFILE || 'raw_exec'
  if (v !== 'raw_exec' && v !== 'docker') throw new Error(`NBS_DEV_PROFILE: expected raw_exec or docker; got "${v}"`)
  return v
}

export interface DevPaths {
  state: string
  project: string
  cache: string
  logs: string
  git: string
}

/** The variable that moves each port, for the messages that ask to move one. */
export const devPortVariables: Record<keyof DevPorts, string> = {
  nomad: 'NBS_DEV_NOMAD_PORT',
  registry: 'NBS_DEV_REGISTRY_PORT',
  git: 'NBS_DEV_GIT_PORT',
  server: 'NBS_DEV_SERVER_PORT',
}

const defaultPorts: DevPorts = { nomad: 4646, registry: 5000, git: 9418, server: 8080 }

export function devPorts(env = process.env): DevPorts {
  const ports = { ...defaultPorts }
  for (const key of Object.keys(ports) as (keyof DevPorts)[]) {
    const name = devPortVariables[key]
    const v = env[name]
    if (!v) continue
    const n = Number(v)
    if (!Number.isInteger(n) || n < 1 || n > 65535) throw new Error(`${name}: expected a port number from 1 to 65535; got "${v}"`)
    ports[key] = n
  }
  return ports
}

/**
 * The dev stack's Git server and registry as `nbs dev env` exports them, and as a request file
 * names them (`${NBS_DEV_GIT}/hello-world`): the one spelling that follows the stack's ports.
 */
export const devAddresses = (ports: DevPorts) => ({
  NBS_DEV_GIT: `git://127.0.0.1:${ports.git}`,
  NBS_DEV_REGISTRY: `127.0.0.1:${ports.registry}`,
})

/** The checkout the dev stack serves examples from: NBS_PROJECT_DIR, the sources' own tree, or the working directory. */
function projectDir(env = process.env): string {
  const candidates = [env.NBS_PROJECT_DIR, resolve(import.meta.dir, '../..'), process.cwd()]
  return candidates.find((d): d is string => !!d && existsSync(join(d, 'examples'))) ?? process.cwd()
}

export function devPaths(env = process.env): DevPaths {
  const state = env.NBS_STATE_DIR ?? join(env.XDG_STATE_HOME ?? join(homedir(), '.local/state'), 'nbs-dev')
  return {
    state,
    project: projectDir(env),
    // The docker profile's store is rootless (files of uid 1000 and its subordinate ids): kept
    // apart from raw_exec's root-owned one, so switching profiles never mixes the two.
    cache: join(state, devProfile(env) === 'docker' ? 'buildah-cache-rootless' : 'buildah-cache'),
    logs: join(state, 'logs'),
    git: join(state, 'git'),
  }
}

export const toolCacheDir = (env = process.env) => join(env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'nbs')
