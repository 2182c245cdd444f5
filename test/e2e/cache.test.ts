// The node's store is the layer cache: it hits, it is shared safely, and it stays bounded.
// Every repo here is made fresh (a random word in it), so no earlier run can have warmed the cache.
import { beforeAll, describe, expect, test } from 'bun:test'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { nomadJobId } from '../../src/jobs/ids'
import { buildStore, ensureStack, busyboxDockerfile, gitRepo, nomad, profile, service, stack, urls } from '../support/dev-stack'
import { eventually } from '../support/eventually'

beforeAll(ensureStack, 180_000)

const image = `${urls.registry}/e2e/cache`
const word = () => Math.random().toString(36).slice(2, 10)
const buildLog = async (id: string) => (await service.getLogs({ id, phase: 'build', tail: 0 })).logs[0]?.text ?? ''
const steps = (log: string) => [...log.matchAll(/^STEP \d+\/\d+: (.*)$/gm)].map((m) => m[1])
/** The steps Buildah took from the cache: each such STEP line is followed by "--> Using cache". */
const cachedSteps = (log: string) => [...log.matchAll(/^STEP \d+\/\d+: (.*)\n--> Using cache /gm)].map((m) => m[1])

async function build(repo: string, extra: Record<string, unknown> = {}) {
  const sub = await service.submitJob({ repo, image, test: { commands: ['true'] }, ...extra })
  const st = await service.waitForJob({ id: sub.id, until: 'final', timeoutSeconds: 150 })
  expect(st.status).toBe('SUCCEEDED')
  return { id: sub.id, log: await buildLog(sub.id) }
}

// The store's containers as containers/storage records them, one file per driver the store was
// used with. Read, never opened with a buildah of the host: as root, it would chown the docker
// profile's rootless store's directories to root, and the builder image's user could not use
// native overlay there any more.
const store = stack.paths.cache
function storeContainers(): string[] {
  const files = ['overlay', 'vfs'].map((d) => join(store, 'storage', `${d}-containers`, 'containers.json')).filter((f) => existsSync(f))
  expect(files.length).toBeGreaterThan(0)
  return files.flatMap((f) => (JSON.parse(readFileSync(f, 'utf8')) as { id: string }[]).map((c) => c.id))
}

describe('the layer cache', () => {
  test('an unchanged commit reuses its image without Buildah; a new commit takes every step from the cache; noCache runs them again', async () => {
    const token = word()
    const name = `cache-${token}`
    const files = (notes: string) => ({
      Dockerfile: busyboxDockerfile(`RUN sleep 2; echo ${token} > /a`, `RUN sleep 2; echo ${token} > /b`, 'COPY app.txt /app.txt'),
      'app.txt': token,
      'NOTES.md': notes,
    })
    const repo = await gitRepo(name, files('one'))
    const cold = await build(repo)
    expect(cachedSteps(cold.log)).not.toContain(`RUN sleep 2; echo ${token} > /a`)
    const imageId = /^([0-9a-f]{64})$/m.exec(cold.log)?.[1]
    expect(imageId).toBeString()
    const same = await build(repo)
    expect(steps(same.log)).toEqual([])
    // The refs alone say the commit is the same: nothing is fetched.
    expect(same.log).toContain(`reusing image ${imageId}: this node built it from the same commit (`)
    // A file no step reads: a new tree, so Buildah runs, and finds every step in its cache.
    await gitRepo(name, files('two'))
    const warm = await build(repo)
    // FROM scratch is never "cached"; every other step is.
    expect(steps(warm.log).length).toBe(6)
    expect(cachedSteps(warm.log)).toEqual(steps(warm.log).slice(1))
    const fresh = await build(repo, { noCache: true })
    expect(fresh.log).toContain('noCache: every step runs again')
    expect(cachedSteps(fresh.log)).toEqual([])
  }, 300_000)

  test('changing only the last COPY reuses every earlier step', async () => {
    const token = word()
    const name = `cache-copy-${token}`
    const files = (app: string) => ({ Dockerfile: busyboxDockerfile(`RUN sleep 1; echo ${token} > /a`, 'COPY app.txt /app.txt'), 'app.txt': app })
    const repo = await gitRepo(name, files('one'))
    await build(repo)
    await gitRepo(name, files('two'))
    const next = await build(repo)
    const all = steps(next.log)
    expect(all.at(-1)).toBe('COPY app.txt /app.txt')
    expect(cachedSteps(next.log)).toEqual(all.slice(1, -1))
  }, 300_000)

  test('six builds at once share the store without breaking each other', async () => {
    const token = word()
    // Three repos, each built twice at once: same layers written side by side, and different ones.
    const repos: string[] = []
    for (const i of [0, 1, 2]) repos.push(await gitRepo(`cache-six-${token}-${i}`, { Dockerfile: busyboxDockerfile(`RUN echo ${token}-${i} > /a`, 'RUN sleep 1') }))
    repos.push(...repos)
    const subs = await Promise.all(repos.map((repo) => service.submitJob({ repo, image, test: { commands: ['test -s /a'] } })))
    const final = await Promise.all(subs.map((s) => service.waitForJob({ id: s.id, until: 'final', timeoutSeconds: 240 })))
    expect(final.map((s) => [s.status, s.failure?.message])).toEqual(final.map(() => ['SUCCEEDED', undefined]))
  }, 300_000)

  test('killed and timed-out builds leave no container in the store once the last build has pruned it', async () => {
    // Containers other builds left (Buildah 1.28 cannot remove one it was creating when it was
    // killed, a FROM scratch one) are not this test's: it looks at those its own builds make.
    const before = new Set(storeContainers())
    const made = () => storeContainers().filter((c) => !before.has(c))
    const token = word()
    const step = `RUN echo ${token}; sleep 60`
    const repo = await gitRepo(`cache-kill-${token}`, { Dockerfile: busyboxDockerfile(step) })
    const killed = await Promise.all([1, 2].map(() => service.submitJob({ repo, image, test: { commands: ['true'] } })))
    // Its limit falls inside the long step, as the kills below do: there is the working container.
    const late = await service.submitJob({ repo, image, timeouts: { build: 20 } })
    const sleeping = async (id: string) => (await buildLog(id)).includes(`STEP 4/4: ${step}`)
    await eventually('both builds in their long step', async () => (await Promise.all(killed.map((k) => sleeping(k.id)))).every(Boolean), 60_000, 250)
    expect((await Promise.all(killed.map((k) => service.getStatus(k.id)))).map((st) => st.status)).toEqual(['BUILDING', 'BUILDING'])
    // What must be gone at the end is in the store now.
    expect(made().length).toBeGreaterThanOrEqual(killed.length)
    for (const k of killed) await service.killJob(k.id)
    const timedOut = await service.waitForJob({ id: late.id, until: 'final', timeoutSeconds: 120 })
    expect(timedOut.failure?.reason).toBe('timeout')
    expect(await buildLog(late.id)).toContain(`STEP 4/4: ${step}`)
    for (const k of killed) await service.waitForJob({ id: k.id, until: 'final', timeoutSeconds: 60 })
    // The last build to finish prunes (the killed ones' publish tasks too), and its publish log
    // says what went. Another build on the same node (a developer's, beside the suite) defers the
    // prune to a later one: a few tries.
    const publishLog = async (id: string) => (await service.getLogs({ id, phase: 'publish' })).logs[0]?.text ?? ''
    const logs = await Promise.all([...killed, late].map((b) => publishLog(b.id)))
    for (let i = 0; i < 3 && made().length > 0; i++) logs.push(await publishLog((await build(`${urls.git}/hello-world`)).id))
    expect(logs.join('')).toMatch(/cache: pruned [1-9]\d* leftover container\(s\)/)
    expect(made()).toEqual([])
  }, 300_000)

  // One repo for both cache.registry tests. Its step prints what its text does not hold: its output in a log means that it ran.
  const remoteToken = word()
  const remoteStep = `RUN echo ran-$((6 * 7))-${remoteToken}; echo ${remoteToken} > /a`
  const cacheRepo = `e2e/cache-layers-${remoteToken}`
  const cache = { registry: `${urls.registry}/${cacheRepo}` }
  let remoteRepo = ''
  let first: Awaited<ReturnType<typeof build>>

  test('cache.registry: each layer goes to the registry as it is built, with the build user and network of the profile', async () => {
    remoteRepo = await gitRepo(`cache-remote-${remoteToken}`, { Dockerfile: busyboxDockerfile(remoteStep, 'COPY app.txt /app.txt'), 'app.txt': remoteToken })
    first = await build(remoteRepo, { cache })
    expect(first.log).toContain(`ran-42-${remoteToken}`)
    expect(first.log).toContain(`--> Pushing cache ${cache.registry}:`)
    const tags = (await (await fetch(`http://${urls.registry}/v2/${cacheRepo}/tags/list`)).json()) as { tags?: string[] }
    expect(tags.tags?.length).toBeGreaterThanOrEqual(2)
  }, 300_000)

  // Another node is this one without the build's layers: the test removes them as the prune would,
  // under the store's lock held alone, with the build's own store settings. In the docker profile the
  // store is the builder user's, which a Buildah of the host must not open (see storeContainers).
  test.skipIf(profile === 'docker')('cache.registry: a node without the layers pulls them instead of running the steps; the prune unnames them', async () => {
    expect(first?.id).toBeString()
    const env = (await nomad.jobs.info(nomadJobId(first.id))).data.TaskGroups?.[0]?.Tasks?.find((t) => t.Name === 'build')?.Env ?? {}
    const driver = /storage driver (\S+) /.exec(first.log)?.[1]
    expect(driver).toBeOneOf(['overlay', 'vfs'])
    // The build's image has two names the prune takes: its cache entry and its run image (runInImage).
    const firstStore = await buildStore(first.id)
    const removed = Bun.spawnSync([
      'flock', '-x', join(firstStore, 'nbs-store.lock'),
      'buildah', '--root', join(firstStore, 'storage'), '--runroot', join(firstStore, 'run'), '--storage-driver', driver!, 'rmi', env.NBS_CACHE_IMAGE!,
      `localhost/nbs-cache/${env.NBS_RUN_KEY}:latest`,
    ])
    expect([removed.exitCode, removed.stderr.toString()]).toEqual([0, ''])

    const second = await build(remoteRepo, { cache })
    expect(second.log).toContain(`--> Cache pulled from remote ${cache.registry}:`)
    expect(second.log).not.toContain('ran-42')
    const withoutRegistry = await build(remoteRepo, { noCache: true })
    expect(withoutRegistry.log).toContain(`ran-42-${remoteToken}`)
    // The pulled layers came named after the registry; the prune takes the names, so the entries
    // built on them bound them (a developer's build beside the suite may defer the prune).
    const published = (await service.getLogs({ id: withoutRegistry.id, phase: 'publish' })).logs[0]?.text ?? ''
    expect(published).toMatch(/cache: pruned/)
    const images = JSON.parse(readFileSync(join(await buildStore(withoutRegistry.id), 'storage', `${driver}-images`, 'images.json'), 'utf8')) as { names?: string[] }[]
    expect(images.flatMap((i) => i.names ?? []).filter((n) => n.startsWith(`${cache.registry}:`))).toEqual([])
  }, 300_000)
})
