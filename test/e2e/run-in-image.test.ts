// runInImage on real builds: the built image, the last good step of a failed build, a pruned image,
// another client's build, a command that outlives its limit, output over the bound; over REST and the CLI too.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { join } from 'node:path'
import { nomadJobId } from '../../src/jobs/ids'
import { buildStore, busyboxDockerfile, ensureStack, gitRepo, nomad, profile, service, urls } from '../support/dev-stack'
import { listenInProcess, mainTs } from '../support/surfaces'

const image = `${urls.registry}/e2e/run-in-image`
const token = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`
let okId = ''
let failedId = ''
let server: ReturnType<typeof listenInProcess> | undefined

async function ended(request: Record<string, unknown>): Promise<string> {
  const { id } = await service.submitJob({ image, ...request })
  const st = await service.waitForJob({ id, until: 'final', timeoutSeconds: 300 })
  expect(['SUCCEEDED', 'FAILED']).toContain(st.status)
  return id
}

beforeAll(async () => {
  await ensureStack()
  server = listenInProcess()
  const [ok, failing] = await Promise.all([
    gitRepo(`run-ok-${token}`, { Dockerfile: busyboxDockerfile(`RUN echo ${token} > /made`), 'app.txt': token }),
    // The COPY of step 3 is the last layer before the failing RUN.
    gitRepo(`run-fail-${token}`, {
      Dockerfile: ['FROM scratch', 'COPY busybox /bin/busybox', 'COPY three.txt /three', 'RUN ["/bin/busybox", "sh", "-c", "exit 42"]', ''].join('\n'),
      'three.txt': `three-${token}\n`,
    }),
  ])
  ;[okId, failedId] = await Promise.all([ended({ repo: ok, test: { commands: ['true'] } }), ended({ repo: failing })])
}, 300_000)

afterAll(() => server?.stop())

describe('runInImage', () => {
  test("a SUCCEEDED build: the built image; exit code, stdout and stderr apart, the node that holds it", async () => {
    const r = await service.runInImage(okId, { command: 'cat /made; echo to-stderr >&2; exit 5' })
    expect(r).toMatchObject({ exitCode: 5, timedOut: false, stdout: `${token}\n`, truncated: false, image: 'the built image' })
    // The command's stderr, apart from stdout; Buildah adds its own words (about the exit, and
    // under load a warning of its own) around it.
    expect(r.stderr).toContain('to-stderr\n')
    expect(r.stdout).not.toContain('to-stderr')
    expect(r.node.length).toBeGreaterThan(0)
    // An array runs as-is, with the env given.
    const argv = await service.runInImage(okId, { command: ['/bin/sh', '-c', 'echo "$GREETING"'], env: { GREETING: 'hi there' } })
    expect(argv).toMatchObject({ exitCode: 0, stdout: 'hi there\n' })
    // The run job is gone once it answered.
    const left = (await nomad.jobs.list('nbs-run-')).data.filter((j) => j.ID.includes(okId))
    expect(left).toEqual([])
  }, 120_000)

  test('a build that failed at its last step: the image after the step before, with that step\'s file', async () => {
    const status = await service.getStatus(failedId)
    expect(status.failure?.reason).toBe('build_failed')
    const r = await service.runInImage(failedId, { command: ['/bin/busybox', 'cat', '/three'] })
    // The step just before the failing one, built by this build (not from the cache), is the image.
    expect(r).toMatchObject({ image: 'after step 3 of 4', exitCode: 0, stdout: `three-${token}\n` })
  }, 120_000)

  test('a command that outlives its limit is stopped: timedOut, exit 124; output past 64 KiB is cut and said so', async () => {
    const slow = await service.runInImage(okId, { command: 'echo started; sleep 60', timeoutSeconds: 2 })
    expect(slow).toMatchObject({ timedOut: true, exitCode: 124, stdout: 'started\n' })
    expect(slow.durationSeconds).toBeLessThan(50)
    const loud = await service.runInImage(okId, { command: 'head -c 100000 /dev/zero | tr "\\0" x' })
    expect(loud.truncated).toBe(true)
    expect(loud.stdout.length).toBe(64 * 1024)
  }, 120_000)

  test("another client's build does not exist for a caller; a build still running is refused", async () => {
    const theirs = await service.runInImage(okId, { command: 'true' }, { owner: 'mallory' }).catch((e) => e)
    expect(theirs.code).toBe('not_found')
    expect(theirs.field).toBe('id')
    const repo = await gitRepo(`run-slow-${token}`, { Dockerfile: busyboxDockerfile('RUN sleep 30') })
    const { id } = await service.submitJob({ repo, image })
    const running = await service.runInImage(id, { command: 'true' }).catch((e) => e)
    expect(running.code).toBe('conflict')
    expect(running.message).toContain('runInImage looks inside an ended build')
    await service.killJob(id)
  }, 120_000)

  test('over REST, and `nbs run` exits with the command\'s code and prints its output', async () => {
    const res = await fetch(`${server?.url}/v1/jobs/${okId}/run`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ command: 'cat /made' }),
    })
    expect(res.status).toBe(200)
    expect(await res.json()).toMatchObject({ exitCode: 0, stdout: `${token}\n` })
    // Spawned, not spawnSync: the server it calls runs in this process.
    const cli = Bun.spawn([process.execPath, mainTs, '--server', server?.url ?? '', 'run', okId, '--', 'cat /made; exit 3'], { stdout: 'pipe', stderr: 'pipe' })
    const [out, err, code] = await Promise.all([new Response(cli.stdout).text(), new Response(cli.stderr).text(), cli.exited])
    expect(code).toBe(3)
    expect(out).toBe(`${token}\n`)
    expect(err).toContain('ran in the built image')
  }, 120_000)

  // The prune removes old images; here the test removes the failed build's step image as the prune
  // would, under the store's lock, with the build's own store settings (raw_exec: the docker
  // profile's store is the builder user's, which a Buildah of the host must not open).
  test.skipIf(profile === 'docker')('an image the prune removed: a clear error that says to resubmit', async () => {
    const { imageId } = await service.runInImage(failedId, { command: ['/bin/busybox', 'true'] })
    const env = (await nomad.jobs.info(nomadJobId(failedId))).data.TaskGroups?.[0]?.Tasks?.find((t) => t.Name === 'build')?.Env ?? {}
    const driver = (await service.getLogs({ id: failedId, phase: 'build', tail: 0 })).logs[0]?.text.match(/storage driver (\S+) /)?.[1]
    const store = await buildStore(failedId)
    const removed = Bun.spawnSync([
      'flock', '-x', join(store, 'nbs-store.lock'),
      'buildah', '--root', join(store, 'storage'), '--runroot', join(store, 'run'), '--storage-driver', driver!, 'rmi', '-f', imageId,
    ])
    expect([removed.exitCode, removed.stderr.toString()]).toEqual([0, ''])
    const gone = await service.runInImage(failedId, { command: ['/bin/busybox', 'true'] }).catch((e) => e)
    expect(gone.code).toBe('not_found')
    expect(gone.message).toContain('is no longer in node')
    expect(gone.message).toContain('resubmit the build')
  }, 120_000)
})
