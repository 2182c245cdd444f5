// Cleanup: removing finished builds, one by id or all those older than an age, with their records;
// a record whose job Nomad has collected already goes by the same rule.
import { ServiceError } from '../errors'
import { buildIdOf, META } from '../jobs/ids'
import type { JobListStub } from '../nomad/types'
import type { BuildReader } from './build-read'
import type { Caller } from './caller'
import { nomadCall } from './nomad-call'
import type { BuildRecord } from './records'
import type { CleanupQuery, CleanupResult } from './schemas'

/** What cleanup decides on: a full job and a list's stub of one alike. */
type Candidate = Pick<JobListStub, 'ID' | 'Meta'> & { Status?: string }

export async function cleanup(reader: BuildReader, q: CleanupQuery, caller: Caller): Promise<CleanupResult> {
  if (!q.id && q.olderThanSeconds === undefined && !q.all)
    throw new ServiceError('invalid_request', 'cleanup needs id (one job), olderThanSeconds (the finished jobs older than that) or all: true (every finished job)', 'all')
  const { nomad, records } = reader
  const result: CleanupResult = { removed: [], kept: [] }
  const found = q.id ? await reader.locate(q.id, caller) : undefined
  const candidates: Candidate[] = found ? (found.kind === 'live' ? [found.build.job] : []) : await reader.ownJobs(caller)
  const recorded = await nomadCall(() => records.ids())
  const cutoff = Date.now() - (q.olderThanSeconds ?? 0) * 1000
  for (const job of candidates) {
    const id = buildIdOf(job.ID) ?? job.ID
    const created = Date.parse(job.Meta?.[META.created] ?? '')
    if (!q.id && created > cutoff) continue
    if (job.Status !== 'dead') {
      result.kept.push({ id, reason: `still ${job.Status}: kill it first` })
      continue
    }
    await nomadCall(() => nomad.jobs.deregister(job.ID, { purge: true }))
    if (recorded.has(id)) await nomadCall(() => records.remove(id))
    result.removed.push(id)
  }
  const live = new Set(candidates.map((j) => buildIdOf(j.ID)))
  const orphans = found ? (found.kind === 'recorded' ? [found.record] : []) : await orphanRecords(reader, recorded, live, caller)
  for (const record of orphans) {
    if (!q.id && Date.parse(record.status.createdAt) > cutoff) continue
    await nomadCall(() => records.remove(record.status.id))
    result.removed.push(record.status.id)
  }
  if (q.id && result.kept.length > 0) throw new ServiceError('conflict', `id: job ${q.id} is ${result.kept[0]?.reason}`, 'id')
  return result
}

/** The records of this caller whose Nomad job is gone, newest first. */
async function orphanRecords(reader: BuildReader, recorded: Set<string>, live: Set<string | undefined>, caller: Caller): Promise<BuildRecord[]> {
  const ids = [...recorded].filter((id) => !live.has(id)).sort().reverse()
  const records = await Promise.all(ids.map((id) => reader.callersRecord(id, caller)))
  return records.filter((r): r is BuildRecord => !!r)
}
