// Server and client settings, read once from the environment; every default points at 127.0.0.1.
import { homedir } from 'node:os'
import { join } from 'node:path'
import { builderRef, DEFAULT_BUILDER_REGISTRY } from './builder/definition'

export type Profile = 'raw_exec' | 'docker'

/** The Buildah store driver of the phase scripts; auto: native overlay, else fuse-overlayfs, else vfs (decided on the node). */
export const storageDrivers = ['auto', 'overlay', 'fuse-overlayfs', 'vfs'] as const
export type StorageDriver = (typeof storageDrivers)[number]

export interface SourceConfig {
  /** This replica's spool directory (NBS_SOURCE_DIR). */
  dir: string
  /** The largest upload, bytes (NBS_SOURCE_MAX_MB). */
  maxBytes: number
  /** The spool's bound, bytes (NBS_SOURCE_SPOOL_MB). */
  spoolBytes: number
  /** How long an upload waits for a build (NBS_SOURCE_TTL, seconds). */
  ttlSeconds: number
  /** This replica's URL as the Nomad clients reach it (NBS_ADVERTISE_URL; default the server URL). */
  advertiseUrl: string
}

export interface Config {
  nomadAddr: string
  nomadToken?: string
  namespace: string
  datacenters: string[]
  profile: Profile
  /** Name of the Nomad host volume that holds the node's Buildah store (layer cache). */
  cacheVolume: string
  /** Image of the docker profile's tasks: the project's builder image (images/builder/). */
  buildahImage: string
  /** Docker network mode of the docker profile's tasks (`host` reaches Git and registries on the node's loopback); unset: Docker's default. */
  dockerNetwork?: string
  storageDriver: StorageDriver
  /** Registries reached over plain HTTP (or unverified TLS): dev registries only. */
  insecureRegistries: string[]
  /** Allow git:// and http:// repository URLs (the dev stack's git daemon). */
  allowInsecureGit: boolean
  /** Secret reference prefixes every caller may use when no per-client list applies (dev, or auth off). */
  secretPrefixes: string[]
  /** Vault role of the tasks that render Vault secrets (Nomad's workload identity login). */
  vaultRole: string
  /**
   * SSH clones verify the Git server's host key against the request's secrets.gitKnownHosts
   * (NBS_SSH_HOST_KEY_CHECKING=on); off: a request may leave it out and trust the key on first use.
   */
  sshHostKeyChecking: boolean
  /** Node pool of the GPU nodes: builds whose tests ask for GPUs go there. */
  gpuNodePool?: string
  /** Client tokens (hashed): see src/service/clients.ts. */
  clientsFile?: string
  /** The node's layer cache is pruned to this size (NBS_CACHE_MAX_MB) … */
  cacheMaxMB: number
  /** … and entries unused for this long go (NBS_CACHE_MAX_AGE_HOURS). */
  cacheMaxAgeHours: number
  /** Where the build records live: Nomad Variables under this path (NBS_RECORDS_PREFIX). */
  recordsPrefix: string
  /**
   * How long after Nomad marks a build's node down the build reads FAILED and is stopped
   * (NBS_NODE_LOST_GRACE, seconds): a node back within it goes on with the build.
   */
  nodeLostGraceMs: number
  /** Builds a client may have in flight when its entry sets no maxInFlight (NBS_MAX_IN_FLIGHT); none: no limit. */
  maxInFlight?: number
  /** Uploaded sources: the spool, its bounds, and the URL the nodes fetch them from (src/service/sources.ts). */
  sources: SourceConfig
  /** Serve without authentication: an explicit dev-only choice. */
  authOff: boolean
  listen: string
  serverUrl: string
}

const list = (v: string | undefined, fallback: string[]) =>
  v === undefined ? fallback : v.split(',').map((s) => s.trim()).filter(Boolean)

function positiveOf(name: string, v: string | undefined, unit: string): number | undefined {
  if (v === undefined || v === '') return undefined
  const n = Number(v)
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name}: expected a whole number of ${unit}, 1 or more; got "${v}"`)
  return n
}
const MB = 1024 * 1024
export const DEFAULT_SOURCE_MB = 200

function storageDriver(v: string | undefined): StorageDriver {
  if (v === undefined || v === '') return 'auto'
  if ((storageDrivers as readonly string[]).includes(v)) return v as StorageDriver
  throw new Error(`NBS_STORAGE_DRIVER: expected one of ${storageDrivers.join(', ')}; got "${v}"`)
}

function onOff(name: string, v: string | undefined, fallback: boolean): boolean {
  if (v === undefined || v === '') return fallback
  if (v === 'on' || v === 'off') return v === 'on'
  throw new Error(`${name}: expected on or off; got "${v}"`)
}

/**
 * A build's allocation stays `unknown`, never lost and replaced, this long after its node stops
 * heartbeating (the group's disconnect.lost_after): the grace must end well before it.
 */
export const NODE_LOST_AFTER_SECONDS = 3600

// raw_exec tasks find the volume's path in their node's JSON by this name (common.sh: open_store).
function volumeName(v: string | undefined): string {
  if (v === undefined || v === '') return 'buildah-cache'
  if (/^[A-Za-z0-9_-]+$/.test(v)) return v
  throw new Error(`NBS_CACHE_VOLUME: a host volume name of letters, digits, - and _; got "${v}"`)
}

function nodeLostGrace(v: string | undefined): number {
  const grace = positiveOf('NBS_NODE_LOST_GRACE', v, 'seconds') ?? 60
  if (grace >= NODE_LOST_AFTER_SECONDS)
    throw new Error(`NBS_NODE_LOST_GRACE: must be shorter than the builds' disconnect.lost_after (${NODE_LOST_AFTER_SECONDS} s); got ${grace}`)
  return grace
}

const flag = (v: string | undefined) => v === '1' || v === 'true' || v === 'yes'

export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const listen = env.NBS_LISTEN ?? '127.0.0.1:8080'
  return {
    nomadAddr: env.NBS_NOMAD_ADDR ?? env.NOMAD_ADDR ?? 'http://127.0.0.1:4646',
    nomadToken: env.NOMAD_TOKEN || undefined,
    namespace: env.NBS_NOMAD_NAMESPACE ?? 'default',
    datacenters: list(env.NBS_DATACENTERS, ['*']),
    profile: env.NBS_PROFILE === 'raw_exec' ? 'raw_exec' : 'docker',
    cacheVolume: volumeName(env.NBS_CACHE_VOLUME),
    buildahImage: env.NBS_BUILDAH_IMAGE || builderRef(DEFAULT_BUILDER_REGISTRY),
    dockerNetwork: env.NBS_DOCKER_NETWORK || undefined,
    storageDriver: storageDriver(env.NBS_STORAGE_DRIVER),
    insecureRegistries: list(env.NBS_INSECURE_REGISTRIES, []),
    allowInsecureGit: flag(env.NBS_ALLOW_INSECURE_GIT),
    gpuNodePool: env.NBS_GPU_NODE_POOL || undefined,
    secretPrefixes: list(env.NBS_SECRET_PREFIXES, []),
    vaultRole: env.NBS_VAULT_ROLE ?? 'nbs-build',
    sshHostKeyChecking: onOff('NBS_SSH_HOST_KEY_CHECKING', env.NBS_SSH_HOST_KEY_CHECKING, true),
    clientsFile: env.NBS_CLIENTS_FILE || undefined,
    authOff: env.NBS_AUTH === 'off',
    recordsPrefix: env.NBS_RECORDS_PREFIX ?? 'nbs-records',
    cacheMaxMB: positiveOf('NBS_CACHE_MAX_MB', env.NBS_CACHE_MAX_MB, 'megabytes') ?? 10240,
    cacheMaxAgeHours: positiveOf('NBS_CACHE_MAX_AGE_HOURS', env.NBS_CACHE_MAX_AGE_HOURS, 'hours') ?? 168,
    nodeLostGraceMs: nodeLostGrace(env.NBS_NODE_LOST_GRACE) * 1000,
    maxInFlight: positiveOf('NBS_MAX_IN_FLIGHT', env.NBS_MAX_IN_FLIGHT, 'builds'),
    sources: {
      dir: env.NBS_SOURCE_DIR || join(env.XDG_STATE_HOME || join(homedir(), '.local', 'state'), 'nbs', 'sources'),
      maxBytes: (positiveOf('NBS_SOURCE_MAX_MB', env.NBS_SOURCE_MAX_MB, 'megabytes') ?? DEFAULT_SOURCE_MB) * MB,
      spoolBytes: (positiveOf('NBS_SOURCE_SPOOL_MB', env.NBS_SOURCE_SPOOL_MB, 'megabytes') ?? 2048) * MB,
      ttlSeconds: positiveOf('NBS_SOURCE_TTL', env.NBS_SOURCE_TTL, 'seconds') ?? 3600,
      advertiseUrl: (env.NBS_ADVERTISE_URL || env.NBS_SERVER || `http://${listen}`).replace(/\/+$/, ''),
    },
    listen,
    serverUrl: env.NBS_SERVER ?? `http://${listen}`,
  }
}
