// Renders a build request as one Nomad batch job: build (prestart) → test-N (main) → publish (poststop).
import { type Config, NODE_LOST_AFTER_SECONDS } from '../config'
import type { Affinity, Artifact, Job, RequestedDevice, Task, TaskGroup, Template } from '../nomad/types'
import { META, nomadJobId } from './ids'
import { destinations, planTests, registryOf } from './plan'
import { defaults, type JobRequest } from './request'
import { phaseScript, type PhaseScript } from './scripts'
import { SOURCE_DIR, SOURCE_FILE } from './source'
import { secretTemplates, usesVault } from './secrets'

export const GROUP = 'build'

export type RenderConfig = Pick<
  Config,
  | 'profile'
  | 'datacenters'
  | 'namespace'
  | 'cacheVolume'
  | 'buildahImage'
  | 'dockerNetwork'
  | 'storageDriver'
  | 'cacheMaxMB'
  | 'cacheMaxAgeHours'
  | 'insecureRegistries'
  | 'gpuNodePool'
  | 'vaultRole'
  | 'sshHostKeyChecking'
>

export interface RenderInput {
  id: string
  request: JobRequest
  createdAt: Date
  owner?: string
  /** For a request with `source`: the artifact that hands the uploaded archive to this build (src/service/sources.ts). */
  source?: Artifact
  /** The node that last built this cache key (the build records): preferred, never required. */
  warmNode?: string
}

const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64')
// A list is its items' base64 joined by spaces; the base64 of "" is "", which the shell's word
// splitting would drop, so an empty item is "-", a character base64 never holds (common.sh: d).
const b64List = (items: string[]) => items.map((s) => (s === '' ? '-' : b64(s))).join(' ')


// Where the cache volume appears to the task: raw_exec sees host paths, docker its mount point.
const DOCKER_CACHE_MOUNT = '/var/lib/nbs-cache'
// The builder image's task user (images/builder/customize.sh): it owns the secrets it reads.
const BUILD_USER = { name: 'build', uid: 1000 }
const SECONDS = 1_000_000_000

/**
 * One cache entry per repository, context, Dockerfile and target: the store keeps the newest
 * image of each under this name, and with it the layers the next build of the same one reuses.
 * Uploads have no repository: each client's uploads share one entry per context and Dockerfile,
 * so the next upload of the same project finds the last one's layers.
 */
export const cacheKeyOf = (r: JobRequest, owner?: string): string =>
  new Bun.CryptoHasher('sha256')
    .update(JSON.stringify([r.repo ?? `upload:${owner ?? ''}`, r.context ?? '', r.dockerfile ?? '', r.target ?? '']))
    .digest('hex')
    .slice(0, 24)

/**
 * The Vault role a job's tasks log in with: each client has its own (`<NBS_VAULT_ROLE>-<client>`,
 * infra/policies.ts), whose policy reads only below that client's prefixes, so Vault checks the
 * prefix rule again. Without authentication there is no client, and the one role applies.
 */
const vaultRoleOf = (role: string, owner: string | undefined) => (owner ? `${role}-${owner}` : role)

/** Templates render the task's secrets into its own secrets dir; Vault ones log in with the task's workload identity. */
function withSecrets(task: Task, templates: Template[], vaultRole: string): void {
  if (templates.length === 0) return
  task.Templates = templates
  if (usesVault(templates)) task.Vault = { Role: vaultRole, ChangeMode: 'noop' }
}

/**
 * Where a phase finds the node's store. Docker mounts the node's cache volume. raw_exec cannot
 * mount volumes: the build asks the servers for the path of the volume on its node (common.sh:
 * open_store), so each node builds in its own store, wherever the operator put it.
 */
function storeEnv(config: RenderConfig): Record<string, string> {
  return {
    NBS_STORE_DIR: config.profile === 'docker' ? DOCKER_CACHE_MOUNT : '',
    NBS_NODE_ID: '${node.unique.id}',
    NBS_CACHE_VOLUME: config.cacheVolume,
    NBS_STORAGE_DRIVER: config.storageDriver,
    NBS_ISOLATION: 'chroot',
  }
}

/** One phase script as a task of the profile: raw_exec runs the host's Buildah, docker the builder image. */
export function phaseTask(
  config: RenderConfig,
  t: { name: string; script: PhaseScript; timeout: number; env: Record<string, string>; cpu: number; memory: number; asksServers?: boolean },
): Task {
  const args = ['--kill-after=10', String(t.timeout), '/bin/sh', '-c', phaseScript(t.script), `nbs-${t.script}`]
  const base: Task = {
    Name: t.name,
    Driver: config.profile,
    Config: {},
    Env: { ...storeEnv(config), ...t.env },
    Resources: { CPU: t.cpu, MemoryMB: t.memory },
    KillTimeout: 5 * SECONDS,
    KillSignal: 'SIGTERM',
  }
  // The Task API (secrets/api.sock) takes the task's workload identity, which Nomad writes to secrets/nomad_token.
  if (t.asksServers) base.Identity = { File: true }
  if (config.profile === 'raw_exec') {
    base.Config = { command: '/usr/bin/timeout', args }
    base.Env = { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', HOME: '${NOMAD_TASK_DIR}', NBS_OWN_LOG: '1', ...base.Env }
    // Nomad's log collector (logmon) is a plugin process a task start waits for: about 150 ms of
    // each phase on a 2-core Nomad 2.0.5 node. The phase writes its log where the collector would
    // (common.sh: nbs_init), and the logs API reads it. Not in Docker: Nomad binds alloc/logs
    // read-only into the container.
    base.LogConfig = { Disabled: true }
  } else {
    // Rootless Buildah in the container: no privileged mode, chroot isolation; unconfined so that
    // it can make its user namespace and mounts. /dev/fuse only where fuse-overlayfs may be used:
    // Docker refuses to start a task asking for a device the node lacks.
    base.Config = {
      image: config.buildahImage,
      command: '/usr/bin/timeout',
      args,
      security_opt: ['seccomp=unconfined', 'apparmor=unconfined'],
    }
    if (config.storageDriver === 'auto' || config.storageDriver === 'fuse-overlayfs')
      base.Config.devices = [{ host_path: '/dev/fuse', container_path: '/dev/fuse' }]
    if (config.dockerNetwork) base.Config.network_mode = config.dockerNetwork
    base.User = BUILD_USER.name
    base.VolumeMounts = [{ Volume: 'cache', Destination: DOCKER_CACHE_MOUNT, ReadOnly: false }]
  }
  return base
}

/** The group settings every job of the service shares: one attempt, no replacement, the node's store. */
export function groupOf(config: RenderConfig, tasks: Task[], affinities?: Affinity[]): TaskGroup {
  return {
    Name: GROUP,
    Count: 1,
    // A build is one attempt: a retry would rebuild and re-run tests the caller did not ask for.
    RestartPolicy: { Attempts: 0, Mode: 'fail', Interval: 86400 * SECONDS, Delay: SECONDS },
    ReschedulePolicy: { Attempts: 0, Unlimited: false, Interval: 86400 * SECONDS },
    // Nomad replaces a lost allocation whatever the reschedule policy says, and `replace = false`
    // alone is ignored (an empty lost_after is no disconnect block: recordings lost-node). With
    // lost_after the allocation of a node that stops heartbeating turns unknown and is never
    // replaced; the server fails the build after NBS_NODE_LOST_GRACE, well within it.
    Disconnect: { LostAfter: NODE_LOST_AFTER_SECONDS * SECONDS, Replace: false },
    EphemeralDisk: { SizeMB: 300 },
    Volumes: { cache: { Name: 'cache', Type: 'host', Source: config.cacheVolume, ReadOnly: false } },
    Tasks: tasks,
    ...(affinities ? { Affinities: affinities } : {}),
  }
}

// Nomad averages a node's fit with its affinity score only on the nodes the affinity matched: at
// full weight the warm node ranks above any node that fits as well, a weaker one can rank it
// below. Never a constraint: a busy or gone warm node leaves the build to any other.
const WARM_NODE_WEIGHT = 100

/**
 * What a build's image depends on besides its source tree: the upload, context, Dockerfile,
 * target, build arguments and the ids of the build secrets. A node that built the same tree with
 * the same settings already has the image Buildah would make again, every step from its cache,
 * and names it instead (build.sh: reuse). Empty, so never reused, for a build asked to run every
 * step (noCache) or to pull and push layers through a cache.registry.
 */
export function settingsKeyOf(r: JobRequest, buildSecretIds: string[]): string {
  if (r.noCache || r.cache?.registry) return ''
  const args = Object.entries(r.buildArgs ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
  const settings = [r.source ?? '', r.context ?? '', r.dockerfile ?? '', r.target ?? '', args, [...buildSecretIds].sort()]
  return new Bun.CryptoHasher('sha256').update(JSON.stringify(settings)).digest('hex').slice(0, 24)
}

/** The key of a build's own image name, the one its tests, publish and runInImage start from: the cache prune ages it out like an entry. */
export const runKeyOf = (id: string) => `run-${id}`

export function renderJob(input: RenderInput, config: RenderConfig): Job {
  const { id, request } = input
  const tests = planTests(request)
  const cacheKey = cacheKeyOf(request, input.owner)
  const registry = registryOf(request.image)
  const tlsVerify = config.insecureRegistries.includes(registry) ? 'false' : 'true'
  const common: Record<string, string> = {
    NBS_LOCAL_IMAGE: `localhost/nbs-cache/${runKeyOf(id)}:latest`,
    NBS_CACHE_KEY: cacheKey,
    NBS_CACHE_IMAGE: `localhost/nbs-cache/${cacheKey}:latest`,
    NBS_CACHE_MAX_MB: String(config.cacheMaxMB),
    NBS_CACHE_MAX_AGE_HOURS: String(config.cacheMaxAgeHours),
    NBS_TLS_VERIFY: tlsVerify,
    NBS_B64_REGISTRY: b64(registry),
    // The build makes each test's container, and publish removes them (build.sh, publish.sh).
    NBS_TESTS: tests.map((t) => t.task).join(' '),
  }
  const cpu = request.resources?.cpu ?? defaults.cpu
  const memory = request.resources?.memory ?? defaults.memory

  const task = (name: string, script: PhaseScript, timeout: number, env: Record<string, string>, asksServers = false): Task =>
    phaseTask(config, { name, script, timeout, env: { ...common, ...env }, cpu, memory, asksServers })

  const secrets = secretTemplates(request.secrets, config.profile === 'docker' ? BUILD_USER.uid : undefined, !!request.cache?.registry)
  const build = task('build', 'build', request.timeouts?.build ?? defaults.buildTimeout, {
    NBS_B64_REPO: b64(request.repo ?? ''),
    NBS_SOURCE_FILE: input.source ? `\${NOMAD_TASK_DIR}/${SOURCE_DIR}/${SOURCE_FILE}` : '',
    NBS_B64_REF: b64(request.ref ?? ''),
    NBS_B64_CONTEXT: b64(request.context ?? ''),
    NBS_B64_DOCKERFILE: b64(request.dockerfile ?? ''),
    NBS_B64_TARGET: b64(request.target ?? ''),
    NBS_NO_CACHE: request.noCache ? '1' : '0',
    NBS_B64_CACHE_REGISTRY: b64(request.cache?.registry ?? ''),
    NBS_B64_BUILD_ARGS: b64List(Object.entries(request.buildArgs ?? {}).map(([k, v]) => `${k}=${v}`)),
    NBS_BUILD_SECRET_IDS: secrets.buildIds.join(' '),
    NBS_SSH_HOST_KEY_CHECKING: config.sshHostKeyChecking ? 'on' : 'off',
    NBS_RUN_KEY: runKeyOf(id),
    NBS_SETTINGS_KEY: settingsKeyOf(request, secrets.buildIds),
  }, config.profile === 'raw_exec')
  withSecrets(build, secrets.build, vaultRoleOf(config.vaultRole, input.owner))
  if (request.source && !input.source) throw new Error(`build ${id}: a request with source needs its artifact`)
  if (input.source) build.Artifacts = [input.source]
  // Without tests the build is the group's main task: Nomad needs one, and publish follows it.
  if (tests.length > 0) build.Lifecycle = { Hook: 'prestart', Sidecar: false }

  const testEnv = b64List(Object.entries(request.test?.env ?? {}).map(([k, v]) => `${k}=${v}`))
  const commands = request.test?.commands ?? []
  const testTasks = tests.map((t, i) => {
    const c = commands[i]
    return task(t.task, 'test', request.test?.timeout ?? defaults.testTimeout, {
      NBS_TEST_MODE: t.mode,
      NBS_B64_COMMAND: typeof c === 'string' ? b64(c) : '',
      NBS_B64_ARGV: Array.isArray(c) ? b64List(c) : '',
      NBS_B64_TEST_ENV: testEnv,
    })
  })

  const gpus = request.test?.gpus
  if (gpus) {
    const device: RequestedDevice = { Name: `${gpus.vendor ?? 'nvidia'}/gpu`, Count: gpus.count }
    if (gpus.model) device.Constraints = [{ LTarget: '${device.model}', RTarget: gpus.model, Operand: '=' }]
    for (const t of testTasks) t.Resources = { ...t.Resources, Devices: [device] }
  }

  const publish = task('publish', 'publish', request.timeouts?.publish ?? defaults.publishTimeout, {
    NBS_B64_DESTS: b64List(destinations(id, request)),
  }, true)
  publish.Lifecycle = { Hook: 'poststop', Sidecar: false }
  withSecrets(publish, secrets.publish, vaultRoleOf(config.vaultRole, input.owner))

  const meta: Record<string, string> = {
    [META.id]: id,
    [META.request]: JSON.stringify(request),
    [META.created]: input.createdAt.toISOString(),
    [META.cacheKey]: cacheKeyOf(request, input.owner),
  }
  if (input.owner) meta[META.owner] = input.owner

  const nomadId = nomadJobId(id)
  return {
    ID: nomadId,
    Name: nomadId,
    Type: 'batch',
    Namespace: config.namespace,
    Datacenters: config.datacenters,
    ...(gpus && config.gpuNodePool ? { NodePool: config.gpuNodePool } : {}),
    Meta: meta,
    TaskGroups: [
      groupOf(
        config,
        [build, ...testTasks, publish],
        input.warmNode ? [{ LTarget: '${node.unique.id}', RTarget: input.warmNode, Operand: '=', Weight: WARM_NODE_WEIGHT }] : undefined,
      ),
    ],
  }
}
