// The reconciler's passes over every build job (its loop is reconciler.ts). Each is idempotent, so
// every replica may run them: stopping a stopped job changes nothing, and a record is written once.
import { buildIdOf, META } from '../jobs/ids'
import { cacheKeyOf } from '../jobs/render'
import { deriveStatus, waitsForever } from '../jobs/status'
import { isFinal, type JobStatus } from '../jobs/status-schema'
import type { JobListStub } from '../nomad/types'
import { logsOf } from './build-logs'
import type { BuildReader, LiveJob } from './build-read'
import { nomadCall } from './nomad-call'
import type { TaskLog } from './schemas'
import { settled } from './wait'

/** What a reconciler pass did: the builds it acted on, and the jobs it could not handle this time. */
export interface PassResult {
  done: string[]
  failed: { job: string; message: string }[]
}

/**
 * Stops the jobs Nomad would keep waiting for ever, and the builds whose node stopped answering for
 * longer than NBS_NODE_LOST_GRACE. A lost build is recorded first: once stopped, a node that comes
 * back would make it read killed.
 */
export function stopStuckJobs(reader: BuildReader): Promise<PassResult> {
  return eachOwnJob(reader, async (job) => {
    if (job.Stop || job.Status === 'dead') return undefined
    const build = await reader.liveJob(job, {})
    if (!build) return undefined
    const input = await reader.statusInput(build)
    const lost = deriveStatus(input)
    if (lost.failure?.cause === 'node_lost') {
      // The node that holds the logs does not answer: the record keeps what could be read.
      const logs = await logsOf(reader.nomad, { kind: 'live', build, status: lost }, { id: build.id, tail: 200 }).catch(() => undefined)
      await record(reader, build, lost, logs?.logs ?? [])
    } else if (!waitsForever(input)) return undefined
    await nomadCall(() => reader.nomad.jobs.deregister(job.ID))
    return build.id
  })
}

/**
 * A record for every finished build that has none, read while Nomad still has the allocation.
 * Written once (check-and-set), so replicas cannot clash.
 */
export async function recordFinishedJobs(reader: BuildReader): Promise<PassResult> {
  const recorded = await nomadCall(() => reader.records.ids())
  return eachOwnJob(reader, async (job) => {
    const id = buildIdOf(job.ID)
    if (!id || job.Status !== 'dead' || recorded.has(id)) return undefined
    const build = await reader.liveJob(job, {})
    if (!build) return undefined
    const snapshot = await reader.snapshot(build)
    // A record that is the verdict already exists.
    if (snapshot.kind === 'recorded' || !isFinal(snapshot.status.status) || !settled(snapshot.status)) return undefined
    const { logs } = await logsOf(reader.nomad, snapshot, { id, tail: 200 })
    return (await record(reader, build, snapshot.status, logs)) ? id : undefined
  })
}

/** Writes the build's record unless one exists; notes the node that now holds its layers. */
async function record(reader: BuildReader, build: LiveJob, status: JobStatus, logs: TaskLog[]): Promise<boolean> {
  const owner = build.job.Meta?.[META.owner]
  const written = await nomadCall(() => reader.records.write(build.id, { status, logs, ...(owner ? { owner } : {}) }))
  const node = build.alloc?.NodeID
  if (written && node && status.tasks[0]?.state === 'succeeded')
    await nomadCall(() => reader.records.noteWarmNode(cacheKeyOf(build.request, owner), node))
  return written
}

/**
 * `act` on each build job, one at a time; a job it fails on is reported and the pass goes on, so
 * that one job this replica cannot read (another version's, say, during a rolling update) holds up no other.
 */
async function eachOwnJob(reader: BuildReader, act: (job: JobListStub) => Promise<string | undefined>): Promise<PassResult> {
  const result: PassResult = { done: [], failed: [] }
  for (const job of await reader.ownJobs({})) {
    try {
      const id = await act(job)
      if (id) result.done.push(id)
    } catch (e) {
      result.failed.push({ job: job.ID, message: e instanceof Error ? e.message : String(e) })
    }
  }
  return result
}
