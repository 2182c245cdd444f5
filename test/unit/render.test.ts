import { describe, expect, test } from 'bun:test'
import { builderTag } from '../../src/builder/definition'
import { loadConfig, NODE_LOST_AFTER_SECONDS } from '../../src/config'
import { META, nomadJobId } from '../../src/jobs/ids'
import { planTests, registryOf } from '../../src/jobs/plan'
import { cacheKeyOf, type RenderConfig, renderJob } from '../../src/jobs/render'
import type { JobRequest } from '../../src/jobs/request'
import { phaseScript } from '../../src/jobs/scripts'

const config: RenderConfig = { ...loadConfig({}), profile: 'raw_exec', insecureRegistries: ['127.0.0.1:5000'] }
const id = '20261125-120000-abcdef'
const request: JobRequest = {
  repo: 'https://example.com/a.git',
  ref: 'main',
  buildArgs: { VERSION: '1.2' },
  image: '127.0.0.1:5000/team/app',
  tags: ['v1', 'latest'],
  test: { commands: ['make test', ['/app', '--selftest']], entrypoint: true, env: { CI: '1' } },
}
const render = (r: JobRequest = request, c = config) => renderJob({ id, request: r, createdAt: new Date('2026-11-25T12:00:00Z') }, c)
const decode = (b: string) => b.split(' ').filter(Boolean).map((x) => (x === '-' ? '' : Buffer.from(x, 'base64').toString()))

describe('job rendering', () => {
  test('an uploaded source: the build task gets its artifact and where the archive lands; no repository', () => {
    const source = `sha256:${'c'.repeat(64)}`
    const artifact = {
      GetterSource: `http://127.0.0.1:8080/v1/sources/${'c'.repeat(64)}/archive?build=${id}`,
      GetterOptions: { checksum: source, archive: 'false' },
      GetterHeaders: { Authorization: 'Bearer t' },
      RelativeDest: 'local/nbs-source',
    }
    const { repo: _, ref: __, ...rest } = request
    const job = renderJob({ id, request: { ...rest, source }, createdAt: new Date(), source: artifact }, config)
    const [build, ...others] = job.TaskGroups[0]!.Tasks
    expect(build?.Artifacts).toEqual([artifact])
    expect(build?.Env?.NBS_SOURCE_FILE).toBe('${NOMAD_TASK_DIR}/nbs-source/archive')
    expect(build?.Env?.NBS_B64_REPO).toBe('')
    // Only the build fetches it; the token is in no other task.
    for (const t of others) expect(JSON.stringify(t)).not.toContain('Bearer')
    // A request with source and no artifact is a bug of the caller, not a job without its source.
    expect(() => renderJob({ id, request: { ...rest, source }, createdAt: new Date() }, config)).toThrow('needs its artifact')
  })

  test("uploads of one client share a cache entry per Dockerfile; another client's, or a repo's, is another", () => {
    const { repo: _, ref: __, ...rest } = request
    const up = (owner: string, n: string) => renderJob({ id, request: { ...rest, source: `sha256:${n.repeat(64)}` }, createdAt: new Date(), owner, source: { GetterSource: 'x' } }, config)
    const key = (j: ReturnType<typeof render>) => j.TaskGroups[0]!.Tasks[0]!.Env?.NBS_CACHE_KEY
    expect(key(up('alice', 'a'))).toBe(key(up('alice', 'b')))
    expect(key(up('alice', 'a'))).not.toBe(key(up('bob', 'a')))
    expect(key(up('alice', 'a'))).not.toBe(key(render()))
  })

  test('one batch job, one group, build → tests → publish with Nomad lifecycle hooks', () => {
    const job = render()
    expect(job.ID).toBe(nomadJobId(id))
    expect(job.Type).toBe('batch')
    expect(job.TaskGroups).toHaveLength(1)
    const tasks = job.TaskGroups[0]!.Tasks
    expect(tasks.map((t) => [t.Name, t.Lifecycle?.Hook ?? 'main'])).toEqual([
      ['build', 'prestart'],
      ['test-0', 'main'],
      ['test-1', 'main'],
      ['test-2', 'main'],
      ['publish', 'poststop'],
    ])
    expect(job.TaskGroups[0]!.RestartPolicy?.Attempts).toBe(0)
    expect(job.TaskGroups[0]!.ReschedulePolicy?.Attempts).toBe(0)
    expect(job.TaskGroups[0]!.Volumes?.cache?.Source).toBe('buildah-cache')
  })

  test('without tests the build is the main task and publish still follows', () => {
    const { test: _, ...noTests } = request
    const tasks = render(noTests).TaskGroups[0]!.Tasks
    expect(tasks.map((t) => [t.Name, t.Lifecycle?.Hook ?? 'main'])).toEqual([
      ['build', 'main'],
      ['publish', 'poststop'],
    ])
    expect(tasks[1]!.Env?.NBS_TESTS).toBe('')
  })

  test('the request is kept in Meta, whole', () => {
    const meta = render().Meta!
    expect(JSON.parse(meta[META.request]!)).toEqual(request)
    expect(meta[META.id]).toBe(id)
    expect(meta[META.created]).toBe('2026-11-25T12:00:00.000Z')
    // What the next build of the same source looks for, to go to the node that has its layers.
    expect(meta[META.cacheKey]).toBe(cacheKeyOf(request, undefined))
  })

  test('user values reach tasks only base64-encoded, never in args', () => {
    const hostile: JobRequest = {
      ...request,
      ref: 'x${NOMAD_ALLOC_ID}',
      buildArgs: { A: '{{ env "HOME" }} $(id) `id` ${attr.kernel.name}' },
      test: { commands: ['echo ${HOME} {{ .x }}'], env: { X: '${node.class}' } },
    }
    const job = render(hostile)
    const text = JSON.stringify(job.TaskGroups)
    for (const needle of ['NOMAD_ALLOC_ID}', '{{ env', '$(id)', 'node.class', '{{ .x }}']) expect(text).not.toContain(needle)
    const [build, test0] = job.TaskGroups[0]!.Tasks
    expect(decode(build!.Env!.NBS_B64_REF!)).toEqual(['x${NOMAD_ALLOC_ID}'])
    expect(decode(build!.Env!.NBS_B64_BUILD_ARGS!)).toEqual(['A={{ env "HOME" }} $(id) `id` ${attr.kernel.name}'])
    expect(decode(test0!.Env!.NBS_B64_COMMAND!)).toEqual(['echo ${HOME} {{ .x }}'])
    expect(decode(test0!.Env!.NBS_B64_TEST_ENV!)).toEqual(['X=${node.class}'])
  })

  test('exec-form commands keep their argument boundaries, and their empty arguments', () => {
    const test1 = render().TaskGroups[0]!.Tasks[2]!
    expect(test1.Env?.NBS_TEST_MODE).toBe('exec')
    expect(decode(test1.Env!.NBS_B64_ARGV!)).toEqual(['/app', '--selftest'])
    const empties = render({ ...request, test: { commands: [['/app', '', 'a b', '']] } }).TaskGroups[0]!.Tasks[1]!
    expect(empties.Env?.NBS_B64_ARGV?.split(' ')).toHaveLength(4)
    expect(decode(empties.Env!.NBS_B64_ARGV!)).toEqual(['/app', '', 'a b', ''])
  })

  test('publish pushes every tag and checks every test', () => {
    const publish = render().TaskGroups[0]!.Tasks.at(-1)!
    expect(decode(publish.Env!.NBS_B64_DESTS!)).toEqual(['127.0.0.1:5000/team/app:v1', '127.0.0.1:5000/team/app:latest'])
    expect(publish.Env?.NBS_TESTS).toBe('test-0 test-1 test-2')
    expect(publish.Env?.NBS_TLS_VERIFY).toBe('false')
  })

  test('the tag defaults to the job id; TLS is verified for registries not listed as insecure', () => {
    const { tags: _, ...r } = request
    const publish = render({ ...r, image: 'registry.example.com/team/app' }).TaskGroups[0]!.Tasks.at(-1)!
    expect(decode(publish.Env!.NBS_B64_DESTS!)).toEqual([`registry.example.com/team/app:${id}`])
    expect(publish.Env?.NBS_TLS_VERIFY).toBe('true')
  })

  test('each phase carries its own time limit (Nomad has none for batch tasks)', () => {
    const tasks = render({ ...request, timeouts: { build: 77, publish: 66 }, test: { commands: ['true'], timeout: 55 } }).TaskGroups[0]!.Tasks
    expect(tasks.map((t) => [t.Name, t.Config.command, (t.Config.args as string[]).slice(0, 2)])).toEqual([
      ['build', '/usr/bin/timeout', ['--kill-after=10', '77']],
      ['test-0', '/usr/bin/timeout', ['--kill-after=10', '55']],
      ['publish', '/usr/bin/timeout', ['--kill-after=10', '66']],
    ])
  })

  test("raw_exec: the build asks the servers for its node's cache volume path (workload identity); no server-wide path", () => {
    const tasks = render().TaskGroups[0]!.Tasks
    const [build, test0, publish] = [tasks[0], tasks[1], tasks.at(-1)]
    expect(build!.Driver).toBe('raw_exec')
    expect(build!.Env).toMatchObject({ NBS_STORE_DIR: '', NBS_NODE_ID: '${node.unique.id}', NBS_CACHE_VOLUME: 'buildah-cache' })
    expect(build!.Identity).toEqual({ File: true })
    // The tests read the path the build handed on; only publish asks the servers again (the fence).
    expect(test0!.Identity).toBeUndefined()
    expect(publish!.Identity).toEqual({ File: true })
  })

  test('the docker profile runs rootless Buildah from the image, the cache volume mounted, nothing privileged', () => {
    const build = render(request, { ...config, profile: 'docker' }).TaskGroups[0]!.Tasks[0]!
    expect(build.Driver).toBe('docker')
    expect(build.Config.image).toBe(`localhost:5000/nbs/builder:${builderTag()}`)
    expect(build.Config.privileged).toBeUndefined()
    expect(build.User).toBe('build')
    expect(build.VolumeMounts?.[0]?.Volume).toBe('cache')
    expect(build.Env?.NBS_STORE_DIR).toBe(build.VolumeMounts?.[0]?.Destination)
    expect(build.Identity).toBeUndefined()
  })

  test("raw_exec: Nomad collects no phase's log (each writes its own): no log collector to start per task", () => {
    const tasks = render(request).TaskGroups[0]!.Tasks
    expect(tasks.map((t) => [t.Name, t.LogConfig?.Disabled, t.Env?.NBS_OWN_LOG])).toEqual(tasks.map((t) => [t.Name, true, '1']))
  })

  test('docker: Nomad collects each phase\'s log, as Nomad binds alloc/logs read-only into the container', () => {
    const tasks = render(request, { ...config, profile: 'docker' }).TaskGroups[0]!.Tasks
    expect(tasks.map((t) => [t.Name, t.LogConfig, t.Env?.NBS_OWN_LOG])).toEqual(tasks.map((t) => [t.Name, undefined, undefined]))
  })

  test('resources apply to every task', () => {
    const tasks = render({ ...request, resources: { cpu: 300, memory: 4096 } }).TaskGroups[0]!.Tasks
    expect(new Set(tasks.map((t) => `${t.Resources?.CPU}/${t.Resources?.MemoryMB}`))).toEqual(new Set(['300/4096']))
  })

  test('the phase scripts never use the ${...} form Nomad would interpolate', () => {
    for (const phase of ['build', 'test', 'publish'] as const) expect(phaseScript(phase)).not.toContain('${')
  })

  test('planned tests name their commands', () => {
    expect(planTests(request).map((t) => [t.task, t.mode, t.command])).toEqual([
      ['test-0', 'shell', 'make test'],
      ['test-1', 'exec', '["/app","--selftest"]'],
      ['test-2', 'entrypoint', "the image's ENTRYPOINT/CMD"],
    ])
  })

  test.each([
    ['127.0.0.1:5000/a/b', '127.0.0.1:5000'],
    ['localhost/a', 'localhost'],
    ['registry.example.com/a', 'registry.example.com'],
    ['team/app', 'docker.io'],
    ['app', 'docker.io'],
  ])('registry of %s is %s', (image, registry) => expect(registryOf(image)).toBe(registry))
})

describe('GPU tests', () => {
  const gpuRequest: JobRequest = { ...request, test: { commands: ['nvidia-smi'], gpus: { count: 2, model: 'Tesla T4' } } }

  test('test tasks ask for the device with the model as a constraint; build and publish do not', () => {
    const tasks = render(gpuRequest).TaskGroups[0]!.Tasks
    expect(tasks.find((t) => t.Name === 'test-0')?.Resources?.Devices).toEqual([
      { Name: 'nvidia/gpu', Count: 2, Constraints: [{ LTarget: '${device.model}', RTarget: 'Tesla T4', Operand: '=' }] },
    ])
    expect(tasks.filter((t) => t.Resources?.Devices).map((t) => t.Name)).toEqual(['test-0'])
  })

  test("the job goes to the operator's GPU node pool when one is configured", () => {
    expect(render(gpuRequest).NodePool).toBeUndefined()
    expect(render(gpuRequest, { ...config, gpuNodePool: 'gpu' }).NodePool).toBe('gpu')
    expect(render(request, { ...config, gpuNodePool: 'gpu' }).NodePool).toBeUndefined()
  })
})

describe('secrets by reference', () => {
  const withSecrets: JobRequest = {
    ...request,
    secrets: { git: 'vault:kv/data/nbs/a/git', registry: 'nomad:nbs/a/registry', build: { npm: 'vault:kv/nbs/a/npm#token' } },
  }
  const tasks = () => render(withSecrets, { ...config, vaultRole: 'nbs-build' }).TaskGroups[0]!.Tasks
  const byName = (n: string) => tasks().find((t) => t.Name === n)!

  test('build renders git and build secrets; Vault items by KV version', () => {
    expect(byName('build').Templates?.map((t) => [t.DestPath, t.EmbeddedTmpl, t.Perms])).toEqual([
      ['secrets/nbs.git_username', '{{ with secret "kv/data/nbs/a/git" }}{{ .Data.data.username }}{{ end }}', '0600'],
      ['secrets/nbs.git_password', '{{ with secret "kv/data/nbs/a/git" }}{{ .Data.data.password }}{{ end }}', '0600'],
      ['secrets/nbs.build_npm', '{{ with secret "kv/nbs/a/npm" }}{{ .Data.token }}{{ end }}', '0600'],
    ])
    expect(byName('build').Vault).toEqual({ Role: 'nbs-build', ChangeMode: 'noop' })
    expect(byName('build').Env?.NBS_BUILD_SECRET_IDS).toBe('npm')
  })

  test('publish renders the registry credentials from a Nomad Variable, with no Vault login', () => {
    expect(byName('publish').Templates?.map((t) => t.EmbeddedTmpl)).toEqual([
      '{{ with nomadVar "nbs/a/registry" }}{{ .username }}{{ end }}',
      '{{ with nomadVar "nbs/a/registry" }}{{ .password }}{{ end }}',
    ])
    expect(byName('publish').Vault).toBeUndefined()
  })

  test('the build gets the registry credentials only when it pushes cache layers there (cache.registry)', () => {
    const names = (r: JobRequest) => render(r).TaskGroups[0]!.Tasks[0]!.Templates?.map((t) => t.DestPath) ?? []
    const registry = { ...request, secrets: { registry: 'nomad:nbs/a/registry' } }
    expect(names(registry)).toEqual([])
    const cached = render({ ...registry, cache: { registry: `${registryOf(request.image)}/a-cache` } }).TaskGroups[0]!.Tasks[0]!
    expect(cached.Templates?.map((t) => t.DestPath)).toEqual(['secrets/nbs.registry_username', 'secrets/nbs.registry_password'])
    expect(Buffer.from(cached.Env!.NBS_B64_CACHE_REGISTRY!, 'base64').toString()).toBe(`${registryOf(request.image)}/a-cache`)
    expect(Buffer.from(cached.Env!.NBS_B64_REGISTRY!, 'base64').toString()).toBe(registryOf(request.image))
  })

  test('an SSH clone renders its key and the host keys it trusts into the build task; the checking setting reaches the script', () => {
    const ssh: JobRequest = { ...request, secrets: { gitSsh: 'vault:kv/data/nbs/a/deploy', gitKnownHosts: 'nomad:nbs/shared/hosts#github' } }
    const build = render(ssh).TaskGroups[0]!.Tasks[0]!
    expect(build.Templates?.map((t) => [t.DestPath, t.EmbeddedTmpl])).toEqual([
      ['secrets/nbs.git_ssh_key', '{{ with secret "kv/data/nbs/a/deploy" }}{{ .Data.data.ssh_key }}{{ end }}'],
      ['secrets/nbs.git_known_hosts', '{{ with nomadVar "nbs/shared/hosts" }}{{ .github }}{{ end }}'],
    ])
    expect(build.Env?.NBS_SSH_HOST_KEY_CHECKING).toBe('on')
    expect(render(ssh, { ...config, sshHostKeyChecking: false }).TaskGroups[0]!.Tasks[0]!.Env?.NBS_SSH_HOST_KEY_CHECKING).toBe('off')
    expect([loadConfig({}).sshHostKeyChecking, loadConfig({ NBS_SSH_HOST_KEY_CHECKING: 'off' }).sshHostKeyChecking]).toEqual([true, false])
    expect(() => loadConfig({ NBS_SSH_HOST_KEY_CHECKING: 'no' })).toThrow('NBS_SSH_HOST_KEY_CHECKING: expected on or off; got "no"')
  })

  test("a client's tasks log in to Vault with that client's own role; without authentication, the one role", () => {
    const owned = renderJob({ id, request: withSecrets, createdAt: new Date(), owner: 'team-a' }, { ...config, vaultRole: 'nbs-build' })
    expect(owned.TaskGroups[0]!.Tasks.filter((t) => t.Vault).map((t) => [t.Name, t.Vault?.Role])).toEqual([['build', 'nbs-build-team-a']])
    expect(byName('build').Vault?.Role).toBe('nbs-build')
  })

  test('test tasks get no template, no Vault identity and no secret reference in their environment', () => {
    for (const t of tasks().filter((x) => x.Name.startsWith('test-'))) {
      expect(t.Templates).toBeUndefined()
      expect(t.Vault).toBeUndefined()
      expect(JSON.stringify(t.Env)).not.toContain('nbs/a/')
    }
  })
})

describe('the docker profile', () => {
  const docker: RenderConfig = { ...config, profile: 'docker' }
  const tasksOf = (c: Partial<RenderConfig>, r: JobRequest = request) => render(r, { ...docker, ...c }).TaskGroups[0]!.Tasks

  test('NBS_DOCKER_NETWORK becomes every task\'s network_mode; unset leaves Docker\'s default', () => {
    expect(tasksOf({ dockerNetwork: 'host' }).map((t) => t.Config.network_mode)).toEqual(['host', 'host', 'host', 'host', 'host'])
    expect(tasksOf({}).every((t) => !('network_mode' in t.Config))).toBe(true)
    expect(tasksOf({ dockerNetwork: 'host' }, request)[0]!.Config.network_mode).toBe(loadConfig({ NBS_DOCKER_NETWORK: 'host' }).dockerNetwork)
  })

  test('secret templates are owned by the build user, readable by it alone; raw_exec leaves them to the agent user', () => {
    const r: JobRequest = { ...request, secrets: { git: 'nomad:nbs/a/git', registry: 'nomad:nbs/a/registry' } }
    const templates = (c: Partial<RenderConfig>) => tasksOf(c, r).flatMap((t) => t.Templates ?? []) as { Uid?: number; Gid?: number; Perms?: string }[]
    expect(templates({}).map((t) => [t.Uid, t.Gid, t.Perms])).toEqual(Array(4).fill([1000, 1000, '0600']))
    expect(templates({ profile: 'raw_exec' }).every((t) => t.Uid === undefined && t.Gid === undefined)).toBe(true)
  })

  test('/dev/fuse is asked for only where fuse-overlayfs may be used', () => {
    const fuse = [{ host_path: '/dev/fuse', container_path: '/dev/fuse' }]
    expect(tasksOf({ storageDriver: 'auto' })[0]!.Config.devices).toEqual(fuse)
    expect(tasksOf({ storageDriver: 'fuse-overlayfs' })[0]!.Config.devices).toEqual(fuse)
    expect(tasksOf({ storageDriver: 'overlay' })[0]!.Config.devices).toBeUndefined()
    expect(tasksOf({ storageDriver: 'vfs' })[0]!.Config.devices).toBeUndefined()
  })

  test('the store driver setting and the cache volume name reach the scripts', () => {
    const [build] = tasksOf({ storageDriver: 'vfs', cacheVolume: 'fast-cache' })
    expect(build!.Env?.NBS_STORAGE_DRIVER).toBe('vfs')
    expect(build!.Env?.NBS_CACHE_VOLUME).toBe('fast-cache')
    expect(loadConfig({}).storageDriver).toBe('auto')
    expect(() => loadConfig({ NBS_STORAGE_DRIVER: 'btrfs' })).toThrow('NBS_STORAGE_DRIVER')
  })

  test('nothing is mounted but the cache volume: no Docker volume of the task outlives it', () => {
    for (const t of tasksOf({ dockerNetwork: 'host' })) {
      expect(Object.keys(t.Config).sort()).toEqual(['args', 'command', 'devices', 'image', 'network_mode', 'security_opt'])
      expect(t.VolumeMounts).toEqual([{ Volume: 'cache', Destination: '/var/lib/nbs-cache', ReadOnly: false }])
    }
  })
})

describe('the layer cache', () => {
  const env = (r: JobRequest, task = 'build', c = config) => render(r, c).TaskGroups[0]!.Tasks.find((t) => t.Name === task)!.Env!

  test('one cache name per repository, context, Dockerfile and target: the same for a rebuild, another for another target', () => {
    expect(env(request).NBS_CACHE_IMAGE).toBe(`localhost/nbs-cache/${env(request).NBS_CACHE_KEY}:latest`)
    expect(env({ ...request, tags: ['other'] }).NBS_CACHE_KEY).toBe(env(request).NBS_CACHE_KEY)
    expect(env({ ...request, target: 'runtime' }).NBS_CACHE_KEY).not.toBe(env(request).NBS_CACHE_KEY)
    expect(env({ ...request, repo: `${request.repo}-fork` }).NBS_CACHE_KEY).not.toBe(env(request).NBS_CACHE_KEY)
    expect(env(request).NBS_CACHE_KEY).toMatch(/^[0-9a-f]{24}$/)
  })

  test('the reuse key covers every setting that can change the image, and is empty where the image must be built', () => {
    const key = (r: JobRequest) => env(r).NBS_SETTINGS_KEY
    expect(key(request)).toMatch(/^[0-9a-f]{24}$/)
    // Tags, tests and the image's destination do not change what Buildah builds.
    expect(key({ ...request, tags: ['other'], image: 'registry.example.com/other', test: { commands: ['true'] } })).toBe(key(request))
    expect(key({ ...request, buildArgs: { B: '2', A: '1' } })).toBe(key({ ...request, buildArgs: { A: '1', B: '2' } }))
    const others: JobRequest[] = [
      { ...request, context: 'app' },
      { ...request, dockerfile: 'Other.Dockerfile' },
      { ...request, target: 'runtime' },
      { ...request, buildArgs: { A: '2', B: '2' } },
      { ...request, secrets: { build: { token: 'nomad:nbs/t#v' } } },
    ]
    expect(new Set([key(request), ...others.map(key)]).size).toBe(others.length + 1)
    expect(key({ ...request, noCache: true })).toBe('')
    expect(key({ ...request, cache: { registry: 'registry.example.com/cache' } })).toBe('')
  })

  test('noCache reaches the build only; the prune bounds come from the config', () => {
    expect(env(request).NBS_NO_CACHE).toBe('0')
    expect(env({ ...request, noCache: true }).NBS_NO_CACHE).toBe('1')
    const publish = env(request, 'publish', { ...config, cacheMaxMB: 512, cacheMaxAgeHours: 2 })
    expect([publish.NBS_CACHE_MAX_MB, publish.NBS_CACHE_MAX_AGE_HOURS]).toEqual(['512', '2'])
  })

  test('the build names its image twice, its own (a cache entry, for runInImage) and the cache name; publish removes neither', () => {
    const job = renderJob({ id: '20261125-120000-abcdef', request: { repo: 'https://example.com/a.git', image: 'registry.example.com/a' }, createdAt: new Date() }, loadConfig({}))
    const env = job.TaskGroups[0]!.Tasks.find((t) => t.Name === 'publish')!.Env!
    expect(env.NBS_LOCAL_IMAGE).toBe('localhost/nbs-cache/run-20261125-120000-abcdef:latest')
    expect(phaseScript('build')).toContain('names tag "$1" "$NBS_LOCAL_IMAGE" "$NBS_CACHE_IMAGE"')
    expect(phaseScript('publish')).not.toMatch(/rmi[^\n]*(NBS_CACHE_IMAGE|NBS_LOCAL_IMAGE)/)
  })
})

describe('a lost node', () => {
  test('the group is never replaced on another node: Nomad would otherwise run a second copy of the build', () => {
    const group = render().TaskGroups[0]!
    // Without lost_after Nomad ignores replace = false (recordings: lost-node): the allocation
    // would turn lost and be replaced. With it, it stays unknown; the server fails it long before.
    expect(group.Disconnect).toEqual({ LostAfter: NODE_LOST_AFTER_SECONDS * 1e9, Replace: false })
    expect(loadConfig({}).nodeLostGraceMs).toBe(60_000)
    expect(() => loadConfig({ NBS_NODE_LOST_GRACE: String(NODE_LOST_AFTER_SECONDS) })).toThrow(/NBS_NODE_LOST_GRACE: must be shorter/)
    expect(group.ReschedulePolicy?.Attempts).toBe(0)
  })
})
