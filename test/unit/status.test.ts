// Status derivation from the JSON a real Nomad 2.0.5 agent answered for real build jobs.
import { describe, expect, test } from 'bun:test'
import type { JobRequest } from '../../src/jobs/request'
import { type AllocFiles, deriveStatus, type StatusInput, waitsForever } from '../../src/jobs/status'
import type { Allocation, Evaluation, Job, NodeListStub } from '../../src/nomad/types'
import { peakAsk } from '../../src/jobs/placement'
import { fixture } from '../support/fixtures'

const request: JobRequest = { repo: 'git://127.0.0.1:9418/hello', image: '127.0.0.1:5000/fixtures/hello', test: { commands: ['cat /hello'] } }

function input(scenario: string, alloc: string, files?: AllocFiles, job?: Partial<Job>): StatusInput {
  return {
    id: 'x',
    request,
    createdAt: '2026-11-25T12:00:00.000Z',
    job: { ...(fixture<Job>(scenario, 'job-final.json') ?? {}), ...job },
    alloc: fixture<Allocation>(scenario, alloc),
    evaluations: [],
    files,
  }
}

const digest = (s: string) => fixture<string>(s, 'cat-digest.json')
const exit0 = (s: string) => fixture<string>(s, 'cat-test-0.exit.json')

describe('status from recorded Buildah pipelines', () => {
  test('success: SUCCEEDED with the digest and the pushed reference; phases timed in UTC ISO 8601', () => {
    const s = 'buildah-pipeline-success'
    const st = deriveStatus(
      input(s, 'alloc-final.json', { digest: digest(s), published: '127.0.0.1:5000/fixtures/hello:success\n', exits: { 'test-0': exit0(s) } }),
    )
    expect(st.status).toBe('SUCCEEDED')
    expect(st.result?.digest).toMatch(/^sha256:[0-9a-f]{64}$/)
    expect(st.result?.images).toEqual(['127.0.0.1:5000/fixtures/hello:success'])
    expect(st.tasks.map((t) => [t.task, t.state, t.exitCode])).toEqual([
      ['build', 'succeeded', 0],
      ['test-0', 'succeeded', 0],
      ['publish', 'succeeded', 0],
    ])
    for (const t of st.tasks) {
      expect(t.startedAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/)
      expect(Date.parse(t.finishedAt!)).toBeGreaterThanOrEqual(Date.parse(t.startedAt!))
    }
    expect(st.finishedAt).toBe(st.tasks.at(-1)?.finishedAt)
  })

  test('during the build: BUILDING', () => {
    expect(deriveStatus(input('buildah-pipeline-success', 'alloc-during-build.json')).status).toBe('BUILDING')
  })

  test('a failing test: FAILED test_failed with the command and its exit code', () => {
    const s = 'buildah-pipeline-test-fails'
    const st = deriveStatus(input(s, 'alloc-final.json', { skipped: 'test-0 exited with 1', exits: { 'test-0': exit0(s) } }))
    expect(st.status).toBe('FAILED')
    expect(st.failure?.reason).toBe('test_failed')
    expect(st.failure?.phase).toBe('test')
    expect(st.failure?.message).toBe('test-0 (cat /hello) exited with 1')
    expect(st.result).toBeUndefined()
  })

  test('a broken build: FAILED build_failed; the tests never started', () => {
    const st = deriveStatus(input('buildah-pipeline-build-fails', 'alloc-final.json', { exits: {} }))
    expect(st.status).toBe('FAILED')
    expect(st.failure?.reason).toBe('build_failed')
    expect(st.tasks.find((t) => t.task === 'test-0')?.state).toBe('skipped')
  })

  test('a failure is reported as soon as it is known, before publish has declined', () => {
    const a = fixture<Allocation>('buildah-pipeline-test-fails', 'alloc-final.json')
    const publish = a.TaskStates!.publish!
    const running = { ...a, TaskStates: { ...a.TaskStates, publish: { ...publish, State: 'running' as const, FinishedAt: null } } }
    const st = deriveStatus({ ...input('buildah-pipeline-test-fails', 'alloc-final.json'), alloc: running })
    expect(st.status).toBe('FAILED')
    expect(st.finishedAt).toBeUndefined()
  })

  test('a stopped job: FAILED killed during build; Nomad marks nothing Failed', () => {
    const alloc = fixture<Allocation>('kill-during-build', 'alloc-final.json')
    const st = deriveStatus({ id: 'x', request, createdAt: '', job: { Stop: true } as Job, alloc, evaluations: [], files: { exits: {} } })
    expect(st.status).toBe('FAILED')
    expect(st.failure).toMatchObject({ reason: 'killed', phase: 'build' })
    expect(st.tasks.map((t) => [t.task, t.state])).toEqual([
      ['build', 'killed'],
      ['test-0', 'skipped'],
      ['publish', 'succeeded'],
    ])
  })

  test.each([
    ['alloc-badsum.json', 'Checksums did not match'],
    ['alloc-missing.json', 'bad response code: 404'],
  ])("an uploaded source the node could not fetch (%s): FAILED infrastructure naming it, Nomad's words, and what to do", (file, words) => {
    const source = `sha256:${'ab'.repeat(32)}`
    const alloc = fixture<Allocation>('artifact', file)
    const st = deriveStatus({ id: 'x', request: { source, image: '127.0.0.1:5000/fixtures/hello' }, createdAt: '', job: {} as Job, alloc, evaluations: [] })
    expect(st.status).toBe('FAILED')
    expect(st.failure).toMatchObject({ reason: 'infrastructure', phase: 'build' })
    expect(st.failure?.cause).toBe('source_unavailable')
    expect(st.failure?.message).toContain("could not download the build's source")
    expect(st.failure?.message).toContain(words)
    expect(st.failure?.message).toContain('upload the directory again and resubmit')
    expect(st.tasks.find((t) => t.task === 'build')?.state).toBe('failed')
  })

  test('a binary that cannot start: FAILED infrastructure naming it', () => {
    const alloc = fixture<Allocation>('driver-failure', 'alloc-final.json')
    const st = deriveStatus({ id: 'x', request, createdAt: '', job: {} as Job, alloc, evaluations: [], files: { exits: {} } })
    expect(st.failure?.reason).toBe('infrastructure')
    expect(st.failure?.message).toContain('/no/such/binary')
  })

  test('a build that ran out of time: FAILED timeout', () => {
    const a = fixture<Allocation>('buildah-pipeline-build-fails', 'alloc-final.json')
    const build = a.TaskStates!.build!
    const events = build.Events!.map((e) => (e.Type === 'Terminated' ? { ...e, ExitCode: 124 } : e))
    const st = deriveStatus({ ...input('buildah-pipeline-build-fails', 'alloc-final.json'), alloc: { ...a, TaskStates: { ...a.TaskStates, build: { ...build, Events: events } } } })
    expect(st.failure?.reason).toBe('timeout')
  })
})

describe('status without an allocation', () => {
  const job = fixture<Job>('lifecycle-success', 'job-final.json')
  test('no evaluation failed yet: PENDING', () => {
    expect(deriveStatus({ id: 'x', request, createdAt: '', job, evaluations: [] }).status).toBe('PENDING')
  })

  test.each([
    ['memory', 'not enough memory'],
    ['driver', 'no node has the'],
    ['gpu', 'no node has a free'],
    ['volume', 'no node has the host volume'],
  ])('placement failure (%s) from the recorded evaluations: FAILED infrastructure, said in words', (kind, words) => {
    const evaluations = fixture<Evaluation[]>('placement-failure', `evaluations-${kind}.json`)
    const st = deriveStatus({ id: 'x', request, createdAt: '', job, evaluations })
    expect(st.status).toBe('FAILED')
    expect(st.failure?.reason).toBe('infrastructure')
    expect(st.failure?.message).toContain(words)
  })
})

describe('a secret that does not exist (recorded: Nomad blocks the task for ever)', () => {
  const alloc = fixture<Allocation>('missing-variable', 'alloc-waiting.json')
  // The recorded job's only task is test-0; as a build's publish task it waits the same way.
  const waiting = { ...alloc, TaskStates: { publish: alloc.TaskStates!['test-0']! } }
  const job = { Status: 'running' } as Job

  test('FAILED infrastructure naming the reference, while Nomad still shows the task pending', () => {
    const st = deriveStatus({ id: 'x', request: { ...request, test: undefined }, createdAt: '', job, alloc: waiting, evaluations: [] })
    expect(waiting.TaskStates.publish.State).toBe('pending')
    expect(st.status).toBe('FAILED')
    expect(st.failure).toMatchObject({ reason: 'infrastructure', phase: 'publish' })
    expect(st.failure?.message).toContain('the secret nomad:nomad/jobs/conformance-absent does not exist')
  })

  test('the job waits for ever until stopped, and after the stop it still reads as the missing secret, not a kill', () => {
    const base = { id: 'x', request: { ...request, test: undefined }, createdAt: '', alloc: waiting, evaluations: [] }
    expect(waitsForever({ ...base, job })).toBe(true)
    expect(waitsForever({ ...base, job: { ...job, Stop: true } })).toBe(false)
    const stopped = deriveStatus({ ...base, job: { ...job, Stop: true } })
    expect(stopped.failure?.reason).toBe('infrastructure')
    expect(stopped.failure?.message).toContain('does not exist')
  })

  test('a running pipeline and a finished one do not wait for ever', () => {
    const s = 'buildah-pipeline-success'
    expect(waitsForever(input(s, 'alloc-during-build.json'))).toBe(false)
    expect(waitsForever(input(s, 'alloc-final.json'))).toBe(false)
  })
})

describe("an allocation whose directory Nomad's client has collected", () => {
  test('a finished pipeline says its results cannot be read, naming the allocation; never SUCCEEDED without a digest', () => {
    const s = 'buildah-pipeline-success'
    const st = deriveStatus({ ...input(s, 'alloc-final.json'), files: null })
    expect(st.status).toBe('FAILED')
    expect(st.result).toBeUndefined()
    expect(st.failure?.message).toContain(`allocation ${fixture<Allocation>(s, 'alloc-final.json').ID}`)
    expect(st.failure?.message).toContain('can no longer be read')
  })

  test('a failure known from the task states keeps its verdict', () => {
    const st = deriveStatus({ ...input('buildah-pipeline-test-fails', 'alloc-final.json'), files: null })
    expect(st.failure?.reason).toBe('test_failed')
  })
})

describe('a busy node queues (recorded: busy-node)', () => {
  const nodes = fixture<NodeListStub[]>('busy-node', 'nodes-resources.json')
  const job = (memoryMB: number): Job => ({
    ...fixture<Job>('lifecycle-success', 'job-final.json'),
    // A job without an allocation is pending in Nomad (conformance: placement-failure).
    Status: 'pending',
    TaskGroups: [
      {
        Name: 'build',
        Count: 1,
        Tasks: [
          { Name: 'build', Driver: 'raw_exec', Config: {}, Resources: { CPU: 200, MemoryMB: memoryMB }, Lifecycle: { Hook: 'prestart', Sidecar: false } },
          { Name: 'test-0', Driver: 'raw_exec', Config: {}, Resources: { CPU: 200, MemoryMB: memoryMB } },
          { Name: 'publish', Driver: 'raw_exec', Config: {}, Resources: { CPU: 200, MemoryMB: memoryMB }, Lifecycle: { Hook: 'poststop', Sidecar: false } },
        ],
      },
    ],
  })
  const createdAt = '2026-12-01T21:00:00.000Z'

  test('a build the node could hold once others finish: PENDING with what it waits for, where, and since when', () => {
    const evaluations = fixture<Evaluation[]>('busy-node', 'evaluations-waiting.json')
    const st = deriveStatus({ id: 'x', request, createdAt, job: job(14463), evaluations, nodes })
    expect(st.status).toBe('PENDING')
    expect(st.failure).toBeUndefined()
    expect(st.queue).toMatchObject({ nodePool: 'default', since: createdAt })
    expect(st.queue?.waitingFor).toContain('memory (14463 MB at once)')
    expect(waitsForever({ id: 'x', request, createdAt, job: job(14463), evaluations, nodes })).toBe(false)
  })

  test('more than any node of the pool has: FAILED infrastructure, and the job waits for ever until stopped', () => {
    const evaluations = fixture<Evaluation[]>('placement-failure', 'evaluations-memory.json')
    const input = { id: 'x', request, createdAt, job: job(10_000_000), evaluations, nodes }
    expect(deriveStatus(input).failure?.message).toContain('not enough memory: asked 10000000 MB')
    expect(deriveStatus(input).failure?.message).toContain('the largest node of pool "default" has 24105 MB of memory and 5192 MHz of CPU')
    expect(waitsForever(input)).toBe(true)
  })

  test("phases that never run at once are not added up: the node's 24105 MB holds three phases of 14463 MB", () => {
    expect(peakAsk(job(14463).TaskGroups[0]!)).toEqual({ memoryMB: 14463, cpu: 200 })
    const twoTests = job(1000).TaskGroups[0]!
    twoTests.Tasks.push({ ...twoTests.Tasks[1]!, Name: 'test-1' })
    expect(peakAsk(twoTests)).toEqual({ memoryMB: 2000, cpu: 400 })
  })

  test('a node of another pool does not count', () => {
    const evaluations = fixture<Evaluation[]>('busy-node', 'evaluations-waiting.json')
    const elsewhere = nodes.map((n) => ({ ...n, NodePool: 'gpu' }))
    expect(deriveStatus({ id: 'x', request, createdAt, job: job(14463), evaluations, nodes: elsewhere }).status).toBe('FAILED')
  })
})

describe('a node that cannot run the build (the phase scripts exit 78)', () => {
  test('FAILED infrastructure with the reason the build left, not build_failed', () => {
    const s = 'buildah-pipeline-build-fails'
    const a = fixture<Allocation>(s, 'alloc-final.json')
    const build = a.TaskStates!.build!
    const events = build.Events!.map((e) => (e.Type === 'Terminated' ? { ...e, ExitCode: 78 } : e))
    const alloc = { ...a, TaskStates: { ...a.TaskStates, build: { ...build, Events: events } } }
    const why = 'the cache volume buildah-cache (at /var/lib/nbs-cache) is not writable by uid 1000: …'
    const st = deriveStatus({ ...input(s, 'alloc-final.json', { exits: {}, infrastructure: `${why}\n` }), alloc })
    expect(st.failure).toMatchObject({ reason: 'infrastructure', phase: 'build', message: why })
    expect(deriveStatus({ ...input(s, 'alloc-final.json'), alloc }).failure?.reason).toBe('infrastructure')
  })
})

describe('what the registry holds decides', () => {
  test('a kill that came too late to stop the push reads SUCCEEDED with what was pushed', () => {
    const s = 'buildah-pipeline-success'
    const files = { digest: digest(s), published: '127.0.0.1:5000/fixtures/hello:success\n', exits: { 'test-0': exit0(s) } }
    const st = deriveStatus(input(s, 'alloc-final.json', files, { Stop: true }))
    expect(st.status).toBe('SUCCEEDED')
    expect(st.result?.images).toEqual(['127.0.0.1:5000/fixtures/hello:success'])
  })

  test('a stopped job whose publish pushed nothing is killed', () => {
    const s = 'buildah-pipeline-success'
    const st = deriveStatus(input(s, 'alloc-final.json', { skipped: 'test-0 did not finish', exits: {} }, { Stop: true }))
    expect(st.failure?.reason).toBe('killed')
  })
})

describe('a node lost under the build', () => {
  const a = fixture<Allocation>('buildah-pipeline-success', 'alloc-during-build.json')
  test.each(['lost', 'unknown'] as const)('client status %s: FAILED infrastructure, also once the job was stopped, never killed', (clientStatus) => {
    const alloc = { ...a, ClientStatus: clientStatus, DesiredStatus: 'stop' as const }
    for (const job of [{}, { Stop: true }]) {
      const st = deriveStatus({ ...input('buildah-pipeline-success', 'alloc-during-build.json', undefined, job), alloc })
      expect(st.status).toBe('FAILED')
      expect(st.failure).toMatchObject({ reason: 'infrastructure', phase: 'build' })
      expect(st.failure?.message).toContain(`node ${a.NodeName || a.NodeID} stopped answering`)
    }
  })

  // Nomad records when it marked the allocation unknown (AllocStates, its field the number 0, as a
  // real Nomad 2.0.5 answered GET /v1/allocation after its node was killed); the grace counts from there.
  const since = '2026-11-25T12:00:30.000Z'
  const unknown = { ...a, ClientStatus: 'unknown' as const, AllocStates: [{ Field: 0, Value: 'unknown', Time: since }] }
  const at = (seconds: number) => ({ now: Date.parse(since) + seconds * 1000, ms: 60_000 })

  test('unknown within NBS_NODE_LOST_GRACE: the build goes on as its node last said (BUILDING); past it: FAILED node_lost naming node and time', () => {
    const during = deriveStatus({ ...input('buildah-pipeline-success', 'alloc-during-build.json'), alloc: unknown, nodeLostGrace: at(59) })
    expect(during.status).toBe('BUILDING')
    expect(during.failure).toBeUndefined()
    const after = deriveStatus({ ...input('buildah-pipeline-success', 'alloc-during-build.json'), alloc: unknown, nodeLostGrace: at(60) })
    expect(after.status).toBe('FAILED')
    expect(after.failure).toMatchObject({ reason: 'infrastructure', cause: 'node_lost', phase: 'build' })
    expect(after.failure?.message).toBe(`node ${a.NodeName} stopped answering at ${since} during build; the build is not run again, and it pushes nothing`)
    // Nomad still says "running" for the build task: the status says lost, not running, once FAILED.
    expect([during.tasks[0]?.state, after.tasks[0]?.state]).toEqual(['running', 'lost'])
    // It ended, as far as anyone knows, when Nomad marked the node: not at an earlier task's end.
    expect([during.finishedAt, after.finishedAt]).toEqual([undefined, since])
  })

  test('Nomad 2.0.5\'s own words (its time to the hundredth of a second): within the grace, BUILDING; past it, FAILED at that time', () => {
    const real = { ...a, ClientStatus: 'unknown' as const, AllocStates: [{ Field: 0, Value: 'unknown', Time: '2026-12-06T03:50:31.04Z' }] }
    const grace = (seconds: number) => ({ now: Date.parse('2026-12-06T03:50:31.04Z') + seconds * 1000, ms: 10_000 })
    expect(deriveStatus({ ...input('buildah-pipeline-success', 'alloc-during-build.json'), alloc: real, nodeLostGrace: grace(5) }).status).toBe('BUILDING')
    const after = deriveStatus({ ...input('buildah-pipeline-success', 'alloc-during-build.json'), alloc: real, nodeLostGrace: grace(10) })
    expect(after.failure?.message).toContain('stopped answering at 2026-12-06T03:50:31.040Z during build')
  })

  test('a node back within the grace: its allocation runs again and the status follows it', () => {
    const back = { ...a, ClientStatus: 'running' as const, AllocStates: [...unknown.AllocStates, { Field: 0, Value: 'running', Time: '2026-11-25T12:00:50.000Z' }] }
    expect(deriveStatus({ ...input('buildah-pipeline-success', 'alloc-during-build.json'), alloc: back, nodeLostGrace: at(120) }).status).toBe('BUILDING')
  })

  test('lost (a job without lost_after, as recorded on Nomad 2.0.5): FAILED at once, whatever the grace', () => {
    const recorded = fixture<Allocation[]>('lost-node', 'allocations-after-node-lost.json').find((x) => x.ClientStatus === 'lost')!
    const st = deriveStatus({ ...input('buildah-pipeline-success', 'alloc-during-build.json'), alloc: { ...a, ClientStatus: 'lost', AllocStates: recorded.AllocStates }, nodeLostGrace: at(0) })
    expect(st.failure).toMatchObject({ reason: 'infrastructure', cause: 'node_lost' })
  })
})

describe('tasks as a person reads them', () => {
  test('a publish that declined reads skipped, not succeeded (exit 0)', () => {
    const st = deriveStatus(input('buildah-pipeline-test-fails', 'alloc-final.json', { skipped: 'test-0 exited with 1', exits: {} }))
    expect(st.tasks.at(-1)).toMatchObject({ task: 'publish', state: 'skipped' })
  })

  test('a placement that can never happen: every task skipped, in status and wait alike', () => {
    const job = { ...fixture<Job>('lifecycle-success', 'job-final.json'), Status: 'pending' as const, Stop: false }
    const st = deriveStatus({ id: 'x', request, createdAt: '', job, evaluations: fixture<Evaluation[]>('placement-failure', 'evaluations-memory.json') })
    expect(st.status).toBe('FAILED')
    expect(st.tasks.map((t) => t.state)).toEqual(['skipped', 'skipped', 'skipped'])
  })
})

describe('a builder image the node cannot pull (recorded: docker-driver)', () => {
  test('FAILED infrastructure quoting Docker, naming the setting to change', () => {
    const alloc = fixture<Allocation>('docker-driver', 'alloc-no-image.json')
    const tasks = Object.keys(alloc.TaskStates ?? {})
    const st = deriveStatus({ id: 'x', request: { ...request, test: undefined }, createdAt: '', job: {} as Job, alloc: { ...alloc, TaskStates: { build: alloc.TaskStates![tasks[0]!]! } }, evaluations: [], files: { exits: {} } })
    expect(st.failure?.reason).toBe('infrastructure')
    expect(st.failure?.message).toContain('Failed to pull')
    expect(st.failure?.message).toContain('NBS_BUILDAH_IMAGE')
  })
})
