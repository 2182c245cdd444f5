// Reading a build once per request, over a fake Nomad that counts what it is asked: which snapshot
// each kind of build gives, and that no answer reads more of Nomad than it needs.
import { describe, expect, test } from 'bun:test'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { loadConfig } from '../../src/config'
import { deriveStatus } from '../../src/jobs/status'
import type { NomadClient } from '../../src/nomad/client'
import { NomadError } from '../../src/nomad/error'
import type { Allocation, Job, JobListStub } from '../../src/nomad/types'
import { logsOf } from '../../src/service/build-logs'
import { BuildReader } from '../../src/service/build-read'
import { BuildService } from '../../src/service/build-service'
import { type BuildRecord, BuildRecords } from '../../src/service/records'
import { fixture } from '../support/fixtures'

const PREFIX = 'nbs-records'

/** A build as the fake Nomad holds it: its job, its allocation, the files in alloc/nbs (null: collected), its logs. */
interface Held {
  job: Job
  alloc?: Allocation
  files?: Record<string, string> | null
  logs?: Record<string, string>
}

function build(scenario: string, id: string, alloc: string | undefined, job: Partial<Job> = {}, owner?: string): Held {
  const recorded = fixture<Job>(scenario, 'job-final.json')
  const meta = { ...recorded.Meta, 'nbs.id': id, 'nbs.created': '2026-12-01T12:00:00.000Z', ...(owner ? { 'nbs.owner': owner } : {}) }
  const full: Job = { ...recorded, ID: `nbs-${id}`, Name: `nbs-${id}`, Meta: meta, ...job }
  return { job: full, alloc: alloc ? { ...fixture<Allocation>(scenario, alloc), ID: `alloc-${id}`, JobID: full.ID } : undefined }
}

/** A fake NomadClient: the builds and records it is given, and every call it answered, by name. */
function fakeNomad(held: Held[], records: Record<string, BuildRecord> = {}) {
  const calls: string[] = []
  const notFound = (path: string) => new NomadError('GET', path, 404, 'not found')
  const byJob = (id: string) => held.find((h) => h.job.ID === id)
  const byAlloc = (id: string) => held.find((h) => h.alloc?.ID === id)
  const read = <T>(name: string, data: T) => {
    calls.push(name)
    return Promise.resolve({ data, meta: { lastIndex: 1 } })
  }
  const nomad = {
    jobs: {
      list: () => read<JobListStub[]>('jobs.list', held.map(({ job }) => ({ ID: job.ID, Name: job.Name, Status: job.Status ?? 'pending', Stop: !!job.Stop, Meta: job.Meta, ModifyIndex: 1 }))),
      info: async (id: string) => {
        const h = byJob(id)
        if (!h) throw notFound(`/v1/job/${id}`)
        return read(`jobs.info ${id}`, h.job)
      },
      allocations: (id: string) => read(`jobs.allocations ${id}`, byJob(id)?.alloc ? [{ ID: byJob(id)?.alloc?.ID, ModifyIndex: 1 }] : []),
      evaluations: (id: string) => read(`jobs.evaluations ${id}`, []),
    },
    allocations: { info: (id: string) => read(`allocations.info ${id}`, byAlloc(id)?.alloc) },
    nodes: { list: () => read('nodes.list', []) },
    fs: {
      ls: async (alloc: string) => {
        calls.push('fs.ls')
        const files = byAlloc(alloc)?.files
        return files === null ? null : Object.keys(files ?? {}).map((Name) => ({ Name, IsDir: false, Size: 1, FileMode: '', ModTime: '' }))
      },
      cat: async (alloc: string, path: string) => {
        calls.push(`fs.cat ${path}`)
        return byAlloc(alloc)?.files?.[path.replace('alloc/nbs/', '')] ?? ''
      },
      logs: async (alloc: string, task: string, type: string, o: { tailBytes?: number }) => {
        calls.push(`fs.logs ${task} ${type} ${o.tailBytes ?? 'all'}`)
        return type === 'stderr' ? (byAlloc(alloc)?.logs?.[task] ?? '') : ''
      },
    },
    variables: {
      get: async (path: string) => {
        calls.push(`variables.get ${path}`)
        const record = records[path.slice(PREFIX.length + 1)]
        return record ? { Path: path, Items: { record: JSON.stringify(record) } } : null
      },
      list: () => read('variables.list', Object.keys(records).map((id) => ({ Path: `${PREFIX}/${id}` }))),
      create: async (path: string, items: { record: string }) => {
        calls.push(`variables.create ${path}`)
        records[path.slice(PREFIX.length + 1)] = JSON.parse(items.record)
        return true
      },
      put: async (path: string, items: Record<string, string>) => {
        calls.push(`variables.put ${path} ${JSON.stringify(items)}`)
      },
    },
  }
  return { nomad: nomad as unknown as NomadClient, calls }
}

const reader = (nomad: NomadClient) => new BuildReader(nomad, new BuildRecords(nomad, PREFIX), { nodeLostGraceMs: 0 })

const resultsOf = (f: Held['files']) => f && { digest: f.digest, published: f.published, exits: { 'test-0': f['test-0.exit'] } }

/** A record as the reconciler writes it: the status derived from the finished build. */
function recordOf(h: Held, owner?: string): BuildRecord {
  const { job, alloc } = h
  const request = JSON.parse(job.Meta?.['nbs.request'] ?? '{}')
  const status = deriveStatus({ id: job.Meta?.['nbs.id'] as string, request, createdAt: '2026-12-01T12:00:00.000Z', job, alloc, evaluations: [], files: resultsOf(h.files) })
  return { status, logs: status.tasks.map((t) => ({ task: t.task, phase: t.phase, state: t.state, text: `${t.task} said so\n`, truncated: false })), ...(owner ? { owner } : {}) }
}

const success = 'buildah-pipeline-success'
const fails = 'buildah-pipeline-build-fails'
const buildLog = readFileSync(join(import.meta.dir, '../fixtures/nomad-2.0.5', fails, 'logs-build-stderr.txt'), 'utf8')
const succeededFiles = { digest: fixture<string>(success, 'cat-digest.json'), published: '127.0.0.1:5000/fixtures/hello:success\n', 'test-0.exit': '0\n' }

describe('readBuild: one snapshot per request', () => {
  test('a running build is live, derived from its job and allocation alone: no alloc dir read, no record', async () => {
    const running = build(success, '20261201-120000-aaaaaa', 'alloc-during-build.json', { Status: 'running' })
    const { nomad, calls } = fakeNomad([running])
    const s = await reader(nomad).read('20261201-120000-aaaaaa', {})
    expect(s.kind).toBe('live')
    expect(s.kind === 'live' && s.status.status).toBe('BUILDING')
    expect(calls.filter((c) => c.startsWith('fs.') || c.startsWith('variables.'))).toEqual([])
  })

  test('a failed build reads its results once and the failing task’s tail once; the cause comes from the tail', async () => {
    const failed = { ...build(fails, '20261201-120000-bbbbbb', 'alloc-final.json', { Status: 'dead' }), files: {}, logs: { build: buildLog } }
    const { nomad, calls } = fakeNomad([failed])
    const s = await reader(nomad).read('20261201-120000-bbbbbb', {})
    expect(s.kind === 'live' && s.status.failure?.reason).toBe('build_failed')
    expect(s.kind === 'live' && s.status.failure?.logTail).toContain('exit status 2')
    expect(calls.filter((c) => c === 'fs.ls')).toHaveLength(1)
    expect(calls.filter((c) => c.startsWith('fs.logs'))).toEqual(['fs.logs build stdout 65536', 'fs.logs build stderr 65536'])
  })

  test("a stopped job's record is its verdict: read before anything in the alloc dir", async () => {
    const stopped = { ...build(success, '20261201-120000-cccccc', 'alloc-final.json', { Status: 'dead', Stop: true }), files: succeededFiles }
    const record = recordOf(stopped)
    const { nomad, calls } = fakeNomad([stopped], { '20261201-120000-cccccc': record })
    const s = await reader(nomad).read('20261201-120000-cccccc', {})
    expect(s.kind).toBe('recorded')
    expect(s.kind === 'recorded' && s.build?.job.ID).toBe('nbs-20261201-120000-cccccc')
    expect(calls.filter((c) => c.startsWith('fs.'))).toEqual([])
  })

  test('a build whose alloc dir is collected falls back to its record', async () => {
    const finished = { ...build(success, '20261201-120000-dddddd', 'alloc-final.json', { Status: 'dead' }), files: succeededFiles }
    const record = recordOf(finished)
    const { nomad } = fakeNomad([{ ...finished, files: null }], { '20261201-120000-dddddd': record })
    const s = await reader(nomad).read('20261201-120000-dddddd', {})
    expect(s.kind === 'recorded' && s.record.status.status).toBe('SUCCEEDED')
    expect(s.kind === 'recorded' && !!s.build).toBe(true)
  })

  test('a job Nomad has collected is its record, without a job; for another owner it does not exist', async () => {
    const gone = { ...build(success, '20261201-120000-eeeeee', 'alloc-final.json', { Status: 'dead' }), files: succeededFiles }
    const { nomad } = fakeNomad([], { '20261201-120000-eeeeee': recordOf(gone, 'alice') })
    const s = await reader(nomad).read('20261201-120000-eeeeee', { owner: 'alice' })
    expect(s.kind).toBe('recorded')
    expect(s.kind === 'recorded' && s.build).toBeUndefined()
    await expect(reader(nomad).read('20261201-120000-eeeeee', { owner: 'bob' })).rejects.toMatchObject({ code: 'not_found' })
  })

  test("another owner's live job does not exist for the caller, even with no record", async () => {
    const { nomad } = fakeNomad([build(success, '20261201-120000-ffffff', 'alloc-during-build.json', { Status: 'running' }, 'alice')])
    await expect(reader(nomad).read('20261201-120000-ffffff', { owner: 'bob' })).rejects.toMatchObject({ code: 'not_found', message: 'id: no job 20261201-120000-ffffff' })
  })

  test('a request in Meta that no client could have submitted is an error, not a status', async () => {
    const tampered = build(success, '20261201-120000-abcabc', 'alloc-during-build.json', { Status: 'running' })
    tampered.job.Meta = { ...tampered.job.Meta, 'nbs.request': '{"repo":"file:///etc","image":"x","extra":1}' }
    const { nomad } = fakeNomad([tampered])
    await expect(reader(nomad).read('20261201-120000-abcabc', {})).rejects.toMatchObject({ code: 'nomad_error' })
  })

  test('a list stub is fetched in full once it is read; a full job is not fetched again', async () => {
    const running = build(success, '20261201-120000-aaaaaa', 'alloc-during-build.json', { Status: 'running' })
    const { nomad, calls } = fakeNomad([running])
    const r = reader(nomad)
    const [stub] = await r.ownJobs({})
    expect(stub && 'TaskGroups' in stub).toBe(false)
    expect((await r.liveJob(stub as JobListStub, {}))?.job.TaskGroups).toEqual(running.job.TaskGroups)
    expect(calls.filter((c) => c.startsWith('jobs.info'))).toHaveLength(1)
    await r.liveJob(running.job, {})
    expect(calls.filter((c) => c.startsWith('jobs.info'))).toHaveLength(1)
  })
})

describe('the service answers from the snapshot', () => {
  const service = (nomad: NomadClient) => new BuildService(nomad, loadConfig({}))

  test('getLogs derives the status once: one ls of the results, the tail once, each task log once', async () => {
    const failed = { ...build(fails, '20261201-120000-bbbbbb', 'alloc-final.json', { Status: 'dead' }), files: {}, logs: { build: buildLog } }
    const { nomad, calls } = fakeNomad([failed])
    const logs = await service(nomad).getLogs({ id: '20261201-120000-bbbbbb', task: 'build' })
    expect(logs.status).toBe('FAILED')
    expect(logs.logs.map((l) => l.task)).toEqual(['build'])
    expect(logs.logs[0]?.text).toContain('exit status 2')
    expect(calls.filter((c) => c === 'fs.ls')).toHaveLength(1)
    expect(calls.filter((c) => c.startsWith('jobs.info'))).toHaveLength(1)
    expect(calls.filter((c) => c.startsWith('fs.logs build stderr'))).toEqual(['fs.logs build stderr 65536', `fs.logs build stderr ${1 << 20}`])
  })

  test('listJobs reads a finished build with a record from the record, and derives a running one', async () => {
    const finished = { ...build(success, '20261201-120000-dddddd', 'alloc-final.json', { Status: 'dead' }), files: succeededFiles }
    const running = build(success, '20261201-130000-aaaaaa', 'alloc-during-build.json', { Status: 'running' })
    const { nomad, calls } = fakeNomad([finished, running], { '20261201-120000-dddddd': recordOf(finished) })
    const { jobs } = await service(nomad).listJobs()
    expect(jobs.map((j) => [j.id, j.status])).toEqual([
      ['20261201-130000-aaaaaa', 'BUILDING'],
      ['20261201-120000-dddddd', 'SUCCEEDED'],
    ])
    expect(calls.filter((c) => c.includes('120000-dddddd') && !c.startsWith('variables.get'))).toEqual([])
  })

  test('killJob refuses a build whose record is its verdict, without stopping anything', async () => {
    const stopped = { ...build(success, '20261201-120000-cccccc', 'alloc-final.json', { Status: 'dead', Stop: true }), files: succeededFiles }
    const { nomad } = fakeNomad([stopped], { '20261201-120000-cccccc': recordOf(stopped) })
    await expect(service(nomad).killJob('20261201-120000-cccccc')).rejects.toMatchObject({ code: 'conflict' })
  })
})

describe('the reconciler records from the snapshot', () => {
  test('a finished build without a record: its results read once, its record written with its logs, its node noted warm', async () => {
    const finished = { ...build(success, '20261201-120000-dddddd', 'alloc-final.json', { Status: 'dead' }), files: succeededFiles }
    const records: Record<string, BuildRecord> = {}
    const { nomad, calls } = fakeNomad([finished], records)
    expect(await new BuildService(nomad, loadConfig({ NBS_RECORDS_PREFIX: PREFIX })).recordFinishedJobs()).toEqual({ done: ['20261201-120000-dddddd'], failed: [] })
    expect(records['20261201-120000-dddddd']?.status.status).toBe('SUCCEEDED')
    expect(records['20261201-120000-dddddd']?.logs.map((l) => l.task)).toEqual(['build', 'test-0', 'publish'])
    expect(calls.filter((c) => c === 'fs.ls')).toHaveLength(1)
    expect(calls.filter((c) => c.startsWith('variables.put'))).toEqual([
      expect.stringContaining(`"node":"${finished.alloc?.NodeID}"`),
    ])
  })
})

describe('logs of a recorded build', () => {
  test("a lost node's record kept no text: once Nomad has the task's log again, it is read; a record with text is served as kept", async () => {
    const stopped = { ...build(success, '20261201-120000-ffffff', 'alloc-final.json', { Status: 'dead', Stop: true }), files: succeededFiles, logs: { publish: 'not publishing: the job was stopped before the push\n' } }
    const record = recordOf(stopped)
    const empty = { ...record, logs: record.logs.map((l) => ({ ...l, text: '' })) }
    const { nomad, calls } = fakeNomad([stopped], { '20261201-120000-ffffff': empty })
    const r = reader(nomad)
    const q = { id: '20261201-120000-ffffff', phase: 'publish' as const }
    const logs = await logsOf(nomad, await r.read(q.id, {}), q)
    expect(logs.logs.map((l) => l.text)).toEqual(['not publishing: the job was stopped before the push\n'])
    expect(calls.filter((c) => c.startsWith('fs.logs'))).toEqual(['fs.logs publish stdout 1048576', 'fs.logs publish stderr 1048576'])
    const kept = fakeNomad([stopped], { '20261201-120000-ffffff': record })
    const fromRecord = await logsOf(kept.nomad, await reader(kept.nomad).read(q.id, {}), q)
    expect(fromRecord.logs.map((l) => l.text)).toEqual(['publish said so\n'])
    expect(kept.calls.filter((c) => c.startsWith('fs.logs'))).toEqual([])
  })
})
