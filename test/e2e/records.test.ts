// Build records on the dev stack: once a build has ended, the dev server's reconciler records it,
// and the status and log tails outlive the job itself.
import { beforeAll, describe, expect, test } from 'bun:test'
import { ServiceError } from '../../src/errors'
import { META, newBuildId, nomadJobId } from '../../src/jobs/ids'
import type { Job } from '../../src/nomad/types'
import { ensureStack, nomad, registryDigest, service, urls } from '../support/dev-stack'
import { eventually } from '../support/eventually'

beforeAll(ensureStack, 180_000)

const image = `${urls.registry}/e2e/records`

const recorded = (id: string) => eventually(`the record of ${id}`, async () => (await nomad.variables.list(`nbs-records/${id}`)).data.length > 0, 30_000, 250)

describe('build records', () => {
  test('after Nomad has purged the job, status, logs and the list still answer from the record; cleanup removes it', async () => {
    const tag = `rec-${Date.now()}`
    const sub = await service.submitJob({ repo: `${urls.git}/hello-world`, image, tags: [tag], test: { commands: ['echo checked-by-$((1+1))'] } })
    const live = await service.waitForJob({ id: sub.id, until: 'final', timeoutSeconds: 120 })
    expect(live.status).toBe('SUCCEEDED')
    expect(await recorded(sub.id)).toBe(true)

    // What Nomad's job GC does to a finished job.
    await nomad.jobs.deregister(nomadJobId(sub.id), { purge: true })
    expect(((await nomad.jobs.info(nomadJobId(sub.id)).catch((e: unknown) => e)) as Error).message).toContain('404')

    const after = await service.getStatus(sub.id)
    expect(after).toEqual(live)
    expect(after.result?.digest).toBe((await registryDigest(image, tag))!)
    const logs = await service.getLogs({ id: sub.id, task: 'test-0' })
    expect(logs.logs[0]?.text).toContain('checked-by-2')
    // Newest first, whether Nomad still has the job or only its record does: among the newest few,
    // whatever number of older jobs Nomad still has (builds of other suites may start meanwhile).
    expect((await service.listJobs({ limit: 5 })).jobs.find((j) => j.id === sub.id)?.status).toBe('SUCCEEDED')
    expect(((await service.killJob(sub.id).catch((e: unknown) => e)) as ServiceError).code).toBe('conflict')

    expect((await service.cleanup({ id: sub.id })).removed).toEqual([sub.id])
    expect(((await service.getStatus(sub.id).catch((e: unknown) => e)) as ServiceError).code).toBe('not_found')
  }, 180_000)
})

describe('cleanup of one job', () => {
  test('removes that job and its record only, never the records of other builds', async () => {
    const a = await service.submitJob({ repo: `${urls.git}/hello-world`, image })
    const b = await service.submitJob({ repo: `${urls.git}/hello-world`, image })
    for (const s of [a, b]) {
      expect((await service.waitForJob({ id: s.id, until: 'final', timeoutSeconds: 120 })).status).toBe('SUCCEEDED')
      expect(await recorded(s.id)).toBe(true)
    }
    // b's job is gone, its record stays: the orphan a cleanup of a must not touch.
    await nomad.jobs.deregister(nomadJobId(b.id), { purge: true })
    expect((await service.cleanup({ id: a.id })).removed).toEqual([a.id])
    expect((await service.getStatus(b.id)).status).toBe('SUCCEEDED')
    expect((await service.cleanup({ id: b.id })).removed).toEqual([b.id])
  }, 180_000)
})

describe('a build job this server cannot read', () => {
  test('holds up no other build: the reconciler goes on, records the others, and leaves that job alone', async () => {
    // Another version's build during a rolling update, or a job whose Meta someone rewrote: a
    // build job id whose request this server refuses. It waits (no node meets its constraint).
    const foreign = nomadJobId(newBuildId())
    await nomad.jobs.register({
      ID: foreign,
      Name: foreign,
      Type: 'batch',
      Datacenters: ['*'],
      Meta: { [META.request]: JSON.stringify({ repo: `${urls.git}/hello-world`, image, fromANewerServer: true }) },
      Constraints: [{ LTarget: '${attr.kernel.name}', RTarget: 'nowhere', Operand: '=' }],
      TaskGroups: [{ Name: 'g', Count: 1, Tasks: [{ Name: 't', Driver: 'raw_exec', Config: { command: '/bin/true' } }] }],
    } as Job)
    try {
      const sub = await service.submitJob({ repo: `${urls.git}/hello-world`, image })
      expect((await service.waitForJob({ id: sub.id, until: 'final', timeoutSeconds: 120 })).status).toBe('SUCCEEDED')
      expect(await recorded(sub.id)).toBe(true)
      expect((await nomad.jobs.info(foreign)).data.Stop).toBeFalsy()
    } finally {
      await nomad.jobs.deregister(foreign, { purge: true })
    }
  }, 180_000)
})
